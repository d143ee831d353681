//! A private Dovecot instance on loopback (`tests/peers/dovecot.sh run`): the real LMTP server
//! (RFC 2033) to deliver to, and a real SASL server with SCRAM-SHA-256 for a private Postfix.
//!
//! Each instance has its own config, base_dir, state, log and Maildirs in a temporary directory,
//! and its own LMTP port; the master (`dovecot -F`) is the harness's child, stopped and reaped on
//! drop. LMTP listens on a Unix socket ([`Dovecot::lmtp_socket`]) and on 127.0.0.1
//! ([`Dovecot::lmtp_addr`]); it offers PIPELINING, CHUNKING, 8BITMIME and ENHANCEDSTATUSCODES.
//! Users come from a passwd-file ([`DEFAULT_USERS`]); an unknown recipient gets
//! `550 5.1.1 <...> User doesn't exist` at RCPT, and a user given a quota that the message does
//! not fit gets `552 5.2.2 <...> Quota exceeded` at the end of data, for that recipient alone.
//! The auth service (PLAIN, SCRAM-SHA-256) listens on [`Dovecot::auth_socket`] for Postfix's
//! `smtpd_sasl_type = dovecot`.

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::maildir;
use crate::net::{free_port, is_listening_under};
use crate::process::{
    peer_tempdir, peers_dir, read_log, require_program, wait_or_kill, STOP_TIMEOUT,
};

/// How long Dovecot gets to open its listeners.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is retried with a fresh port when the one picked was taken meanwhile.
const START_ATTEMPTS: usize = 5;

/// The users (address, password) an instance has unless [`DovecotOptions::users`] says otherwise.
pub const DEFAULT_USERS: [(&str, &str); 3] = [
    ("alice@example.test", "alice-password"),
    ("bob@example.test", "bob-password"),
    ("full@example.test", "full-password"),
];

/// How to start a [`Dovecot`]. `DovecotOptions::default()` has [`DEFAULT_USERS`], with
/// `full@example.test` given a 10-octet quota (every message is over it).
#[derive(Clone, Debug)]
pub struct DovecotOptions {
    /// Users and their passwords.
    pub users: Vec<(String, String)>,
    /// Storage quotas in octets, per user.
    pub quotas: Vec<(String, u64)>,
}

impl Default for DovecotOptions {
    fn default() -> Self {
        DovecotOptions {
            users: DEFAULT_USERS
                .iter()
                .map(|(u, p)| (u.to_string(), p.to_string()))
                .collect(),
            quotas: vec![("full@example.test".to_string(), 10)],
        }
    }
}

/// A running private Dovecot. Stopped (and reaped) on drop.
#[derive(Debug)]
pub struct Dovecot {
    master: Child,
    lmtp: SocketAddr,
    // Last: removed only after the drop handler has stopped the processes using it.
    dir: tempfile::TempDir,
}

impl Dovecot {
    /// Starts an instance and waits until LMTP listens on its socket and port. Panics, with
    /// Dovecot's log, if it cannot start; with a hint to run `scripts/install-peers` if Dovecot
    /// is not installed.
    pub fn start(opts: DovecotOptions) -> Dovecot {
        require_program("dovecot");
        let dir = peer_tempdir("mxsend-dovecot-");
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "mxsend-dovecot-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        for attempt in 1..=START_ATTEMPTS {
            let lmtp = SocketAddr::new(ip, free_port(ip));
            let run_log = dir.path().join("run.log");
            let log_file = File::create(&run_log)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", run_log.display()));
            let stderr = log_file
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot duplicate a file handle: {e}"));
            let mut cmd = Command::new("bash");
            cmd.arg(peers_dir().join("dovecot.sh"))
                .arg("run")
                .arg(dir.path())
                .arg("--lmtp-port")
                .arg(lmtp.port().to_string())
                .arg("--name")
                .arg(&name);
            for (user, password) in &opts.users {
                cmd.arg("--user").arg(format!("{user}:{password}"));
            }
            for (user, bytes) in &opts.quotas {
                cmd.arg("--quota").arg(format!("{user}:{bytes}"));
            }
            let _ = fs::remove_file(dir.path().join("log").join("dovecot.log"));
            let mut master = cmd
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run tests/peers/dovecot.sh: {e}"));
            match wait_until_listening(&mut master, dir.path(), lmtp) {
                Ok(()) => return Dovecot { master, lmtp, dir },
                Err(why) => {
                    let report = report(dir.path());
                    stop(&mut master);
                    if !(report.contains("Address already in use") && attempt < START_ATTEMPTS) {
                        panic!("Dovecot did not start: {why}\n{report}");
                    }
                }
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// LMTP over TCP on loopback.
    pub fn lmtp_addr(&self) -> SocketAddr {
        self.lmtp
    }

    /// LMTP on a Unix domain socket.
    pub fn lmtp_socket(&self) -> PathBuf {
        self.dir.path().join("run").join("lmtp")
    }

    /// The auth service's socket for Postfix (`smtpd_sasl_type = dovecot`, `smtpd_sasl_path`).
    pub fn auth_socket(&self) -> PathBuf {
        self.dir.path().join("run").join("auth-postfix")
    }

    /// The instance's directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The Maildir of `user` (a full address).
    pub fn maildir(&self, user: &str) -> PathBuf {
        let (local, domain) = user.split_once('@').unwrap_or((user, "example.test"));
        self.dir.path().join("mail").join(domain).join(local)
    }

    /// The messages delivered to `user` so far, oldest first.
    pub fn messages(&self, user: &str) -> Vec<Vec<u8>> {
        maildir::messages(&self.maildir(user))
    }

    /// Waits until `user` has at least `count` messages and returns them all. Panics with the
    /// log on timeout.
    pub fn wait_for_messages(&self, user: &str, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        maildir::wait_for_messages(&self.maildir(user), count, timeout).unwrap_or_else(|| {
            panic!(
                "{user} did not get {count} message(s) within {timeout:?}\n{}",
                self.report()
            )
        })
    }

    /// Dovecot's log so far.
    pub fn log(&self) -> String {
        read_log(&self.dir.path().join("log").join("dovecot.log"))
    }

    /// The start script's output and Dovecot's log.
    pub fn report(&self) -> String {
        report(self.dir.path())
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        stop(&mut self.master);
    }
}

fn report(dir: &Path) -> String {
    format!(
        "--- run.log\n{}\n--- dovecot.log\n{}",
        read_log(&dir.join("run.log")),
        read_log(&dir.join("log").join("dovecot.log"))
    )
}

/// Waits until LMTP listens on `lmtp` and on its Unix socket.
fn wait_until_listening(master: &mut Child, dir: &Path, lmtp: SocketAddr) -> Result<(), String> {
    let socket = dir.join("run").join("lmtp");
    let auth = dir.join("run").join("auth-postfix");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = master.try_wait() {
            return Err(format!("dovecot exited ({status})"));
        }
        if is_listening_under(master.id(), lmtp) && socket.exists() && auth.exists() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no LMTP listener on {lmtp} after {START_TIMEOUT:?}"
            ));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM to the master (it stops its processes), then reap it; SIGKILL if it lingers.
fn stop(master: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(master.id().to_string())
        .status();
    wait_or_kill(master, STOP_TIMEOUT);
}
