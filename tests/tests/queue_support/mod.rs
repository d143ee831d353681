//! Shared by the `queue_*` end-to-end tests: a user with a configuration whose default
//! account relays to a loopback server, a queue directory, the `sendmail` link, and ways to
//! look into the queue and the server's Maildir.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::cli_support;

/// A user of mxsend with a queue.
pub struct Spool {
    /// HOME (deleted on drop).
    pub home: tempfile::TempDir,
    /// The queue directory.
    pub queue: PathBuf,
    /// The relay the default account uses.
    pub relay: SocketAddr,
}

impl Spool {
    /// A user whose default account relays to `relay` without TLS, with `queue_table` as the
    /// configuration's `[queue]` table (e.g. `min_backoff = "1s"`).
    pub fn new(relay: SocketAddr, queue_table: &str) -> Spool {
        let home = cli_support::scratch();
        let queue = home.path().join("queue");
        Spool::with_queue_dir(home, queue, relay, queue_table)
    }

    /// The same with the queue at `queue`.
    pub fn with_queue_dir(
        home: tempfile::TempDir,
        queue: PathBuf,
        relay: SocketAddr,
        queue_table: &str,
    ) -> Spool {
        let dir = home.path().join(".config/mxsend");
        std::fs::create_dir_all(&dir).expect("config directory");
        let config = format!(
            "default = \"test\"\n[accounts.test]\nserver = \"{relay}\"\ntls = \"none\"\nehlo = \"client.example.test\"\n[queue]\n{queue_table}\n"
        );
        std::fs::write(dir.join("config.toml"), config).expect("write the configuration");
        let bin = home.path().join("bin");
        std::fs::create_dir_all(&bin).expect("bin directory");
        std::os::unix::fs::symlink(cli_support::binary(), bin.join("sendmail"))
            .expect("sendmail link");
        std::os::unix::fs::symlink(cli_support::binary(), bin.join("mailq")).expect("mailq link");
        Spool { home, queue, relay }
    }

    /// Put `line` (a top-level key, such as `log = "..."`) first in the configuration.
    pub fn prepend_config(&self, line: &str) {
        let path = self.home.path().join(".config/mxsend/config.toml");
        let config = std::fs::read_to_string(&path).expect("read the configuration");
        std::fs::write(&path, format!("{line}\n{config}")).expect("write the configuration");
    }

    /// `mxsend` for this user and queue.
    pub fn mxsend(&self) -> assert_cmd::Command {
        let mut command = cli_support::mxsend(self.home.path());
        command.env("MXSEND_QUEUE_DIR", &self.queue);
        command
    }

    /// A `std::process::Command` for `mxsend` (to run in the background or kill).
    pub fn command(&self) -> Command {
        let mut command = Command::new(cli_support::binary());
        self.environment(&mut command);
        command
    }

    /// The environment every program this user runs gets (mutt, mailx, git).
    pub fn environment(&self, command: &mut Command) {
        command
            .env_remove("MXSEND_CONFIG")
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("MXSEND_QUEUE_DIR", &self.queue);
    }

    /// The `sendmail` link.
    pub fn sendmail(&self) -> PathBuf {
        self.home.path().join("bin/sendmail")
    }

    /// `sendmail ARGS` with `message` on standard input.
    pub fn submit(&self, args: &[&str], message: &str) -> Output {
        let mut command = assert_cmd::Command::new(self.sendmail());
        command
            .env_remove("MXSEND_CONFIG")
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("MXSEND_QUEUE_DIR", &self.queue)
            .timeout(Duration::from_secs(60))
            .args(args)
            .write_stdin(message.to_string());
        command.output().expect("run sendmail")
    }

    /// `mxsend queue ARGS`.
    pub fn queue(&self, args: &[&str]) -> Output {
        self.mxsend()
            .arg("queue")
            .args(args)
            .output()
            .expect("run mxsend queue")
    }

    /// `mxsend queue list --json`.
    pub fn list(&self) -> Vec<serde_json::Value> {
        let out = self.queue(&["list", "--json"]);
        assert!(out.status.success(), "queue list: {}", text(&out.stderr));
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).expect("queue list JSON")
    }

    /// Run the queue until it is empty (or `timeout` passes); returns the runs' stderr.
    pub fn run_until_empty(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut log = String::new();
        loop {
            let out = self.queue(&["run"]);
            log.push_str(&text(&out.stderr));
            assert!(out.status.success(), "queue run: {log}");
            if self.list().is_empty() {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "the queue is not empty after {timeout:?}: {:#?}\n{log}",
                self.list()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Entries moved aside.
    pub fn corrupt(&self) -> Vec<PathBuf> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(self.queue.join("corrupt"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        entries
    }
}

/// Lossy UTF-8.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A small message with a marker to count it by.
pub fn message(from: &str, to: &str, marker: &str) -> String {
    format!("From: {from}\nTo: {to}\nSubject: queued {marker}\nX-Marker: {marker}\n\nbody of {marker}\n")
}

/// How many of `messages` carry `X-Marker: marker`.
pub fn count_marker(messages: &[Vec<u8>], marker: &str) -> usize {
    let needle = format!("X-Marker: {marker}\r\n");
    let needle_lf = format!("X-Marker: {marker}\n");
    messages
        .iter()
        .filter(|m| {
            let t = String::from_utf8_lossy(m);
            t.contains(&needle) || t.contains(&needle_lf)
        })
        .count()
}

/// Waits until `path` exists.
pub fn wait_for_path(path: &Path, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    path.exists()
}

/// The queue, opened by the library (as a program embedding mxsend would).
pub fn library_queue(dir: &Path) -> mxsend::queue::Queue {
    mxsend::queue::Queue::open_dir(dir, mxsend::queue::QueueOptions::default())
        .expect("open the queue")
}

/// Queue a message to `relay` through the library, with the route settings the command line
/// rebuilds its connection from.
pub fn library_enqueue(
    queue: &mxsend::queue::Queue,
    relay: SocketAddr,
    marker: &str,
) -> mxsend::queue::EntryRecord {
    use mxsend_core::address::{Mailbox, ReversePath};
    use mxsend_core::command::BodyType;
    use mxsend_core::session::{DsnOptions, Envelope};
    let envelope = Envelope {
        from: ReversePath::parse("ann@example.test").unwrap(),
        recipients: vec![Mailbox::parse("bob@example.test").unwrap()],
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let settings = [
        ("server", relay.to_string()),
        ("tls", "none".to_string()),
        ("ehlo", "client.example.test".to_string()),
        ("no_account", "true".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let route = mxsend::queue::QueuedRoute {
        kind: mxsend::queue::RouteKind::Relay {
            host: relay.ip().to_string(),
            port: relay.port(),
        },
        settings,
    };
    let body = message("ann@example.test", "bob@example.test", marker).replace('\n', "\r\n");
    let body = body.as_bytes();
    queue
        .enqueue(&mxsend::Message::new(envelope, body), route)
        .expect("enqueue")
}

/// How many messages carry each `X-Marker`.
pub fn marker_counts(messages: &[Vec<u8>]) -> std::collections::HashMap<String, usize> {
    let mut counts = std::collections::HashMap::new();
    for m in messages {
        let t = String::from_utf8_lossy(m);
        if let Some(line) = t.lines().find_map(|l| l.strip_prefix("X-Marker: ")) {
            *counts.entry(line.trim().to_string()).or_insert(0) += 1;
        }
    }
    counts
}
