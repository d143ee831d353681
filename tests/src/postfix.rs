//! A private Postfix instance on loopback (`tests/peers/postfix.sh run`): the real MTA to deliver to.
//!
//! Each instance has its own config, queue, log and Maildirs in a temporary directory, its own ports and
//! its own `syslog_name`, so tests running in parallel threads each get one without colliding. The
//! master process is the harness's own child, stopped and reaped on drop.
//!
//! It offers, on the plain listener: PIPELINING, SIZE 10240000, STARTTLS, ENHANCEDSTATUSCODES, 8BITMIME,
//! DSN, SMTPUTF8, CHUNKING (and VRFY, ETRN); the implicit-TLS listener (RFC 8314) has the same without
//! STARTTLS. Mail for the configured virtual mailboxes lands in Maildirs; unknown recipients get
//! `550 5.1.1 ... User unknown in virtual mailbox table`; nothing can leave the machine (every other
//! transport is `error:outbound disabled`). No AUTH: Postfix needs Dovecot or Cyrus for SASL; AUTH tests
//! use [`crate::aiosmtpd`].

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::maildir;
use crate::net::{free_port, is_listening, is_listening_under};
use crate::pki::{CertPair, TestPki};
use crate::process::{
    peer_tempdir, peers_dir, read_log, require_program, wait_or_kill, STOP_TIMEOUT,
};

/// How long Postfix gets to open its listeners (`postfix check` alone can take seconds on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is retried with fresh ports when one was taken in the meantime.
const START_ATTEMPTS: usize = 5;

/// The mailboxes an instance has unless [`PostfixOptions::mailboxes`] says otherwise.
pub const DEFAULT_MAILBOXES: [&str; 3] = [
    "alice@example.test",
    "bob@example.test",
    "jörg@example.test",
];

/// How to start a [`Postfix`]. `PostfixOptions::default()` gives the usual test server.
#[derive(Clone, Debug)]
pub struct PostfixOptions {
    /// Address of the plain listener (STARTTLS offered). `None`: `127.0.0.1` and a free port. For MX
    /// tests give e.g. `127.0.0.3:25` (needs root; every 127.0.0.0/8 address works).
    pub smtp: Option<SocketAddr>,
    /// Also open an implicit-TLS listener, on the same IP as `smtp` and a free port. Default: true.
    pub implicit_tls: bool,
    /// The virtual mailboxes (full addresses, UTF-8 allowed). Default: [`DEFAULT_MAILBOXES`].
    pub mailboxes: Vec<String>,
    /// Extra `main.cf` settings, applied last, e.g. `("message_size_limit", "1000")` or
    /// `("smtpd_discard_ehlo_keywords", "chunking")`.
    pub main_cf: Vec<(String, String)>,
    /// The PKI to use; `None`: generate one (see [`Postfix::pki`]).
    pub pki: Option<TestPki>,
    /// The certificate to serve; `None`: the PKI's `server` pair. Hostile tests pass e.g. `pki.expired`.
    pub served_cert: Option<CertPair>,
}

impl Default for PostfixOptions {
    fn default() -> Self {
        PostfixOptions {
            smtp: None,
            implicit_tls: true,
            mailboxes: DEFAULT_MAILBOXES.iter().map(|m| m.to_string()).collect(),
            main_cf: Vec::new(),
            pki: None,
            served_cert: None,
        }
    }
}

/// A running private Postfix. Stopped (and its processes reaped) on drop.
#[derive(Debug)]
pub struct Postfix {
    master: Child,
    smtp: SocketAddr,
    smtps: Option<SocketAddr>,
    pki: TestPki,
    syslog_name: String,
    // Last: removed only after the drop handler has stopped the processes using it.
    dir: tempfile::TempDir,
}

impl Postfix {
    /// Starts an instance and waits until its listeners are open. Panics, with Postfix's log, if it
    /// cannot start; panics with a hint to run `scripts/install-peers` if Postfix is not installed.
    pub fn start(opts: PostfixOptions) -> Postfix {
        require_program("postfix");
        let pki = opts.pki.clone().unwrap_or_else(TestPki::generate);
        let served = opts
            .served_cert
            .clone()
            .unwrap_or_else(|| pki.server.clone());
        let dir = peer_tempdir("mxsend-postfix-");
        let ip = opts
            .smtp
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());
        static INSTANCES: AtomicUsize = AtomicUsize::new(0);
        let syslog_name = format!(
            "mxsend-postfix-{}-{}",
            std::process::id(),
            INSTANCES.fetch_add(1, Ordering::Relaxed)
        );

        for attempt in 1..=START_ATTEMPTS {
            let smtp = opts
                .smtp
                .unwrap_or_else(|| SocketAddr::new(ip, free_port(ip)));
            let smtps = opts
                .implicit_tls
                .then(|| SocketAddr::new(ip, free_port(ip)));
            let run_log = dir.path().join("run.log");
            let log_file = File::create(&run_log)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", run_log.display()));
            let mut cmd = Command::new("bash");
            cmd.arg(peers_dir().join("postfix.sh"))
                .arg("run")
                .arg(dir.path())
                .arg("--smtp")
                .arg(smtp.to_string())
                .arg("--cert")
                .arg(&served.cert)
                .arg("--key")
                .arg(&served.key)
                .arg("--name")
                .arg(&syslog_name);
            if let Some(smtps) = smtps {
                cmd.arg("--smtps").arg(smtps.to_string());
            }
            for mailbox in &opts.mailboxes {
                cmd.arg("--mailbox").arg(mailbox);
            }
            for (name, value) in &opts.main_cf {
                cmd.arg("--set").arg(format!("{name}={value}"));
            }
            let stderr = log_file
                .try_clone()
                .unwrap_or_else(|e| panic!("cannot duplicate a file handle: {e}"));
            // A failed attempt's log would otherwise be read as this attempt's.
            let _ = fs::remove_file(dir.path().join("log").join("postfix.log"));
            let mut master = cmd
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run tests/peers/postfix.sh: {e}"));
            match wait_until_listening(&mut master, dir.path(), smtp, smtps) {
                Ok(()) => {
                    return Postfix {
                        master,
                        smtp,
                        smtps,
                        pki,
                        syslog_name,
                        dir,
                    }
                }
                Err(why) => {
                    let report = report(dir.path());
                    stop(dir.path(), &mut master);
                    // Retry with fresh ports, unless the port the caller insisted on is the one taken.
                    let port_taken = report.contains("Address already in use");
                    let fixed_port_taken = opts.smtp.is_some_and(is_listening);
                    if !(port_taken && !fixed_port_taken && attempt < START_ATTEMPTS) {
                        panic!("Postfix did not start: {why}\n{report}");
                    }
                }
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// The plain (STARTTLS-offering) listener.
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp
    }

    /// The implicit-TLS listener. Panics if [`PostfixOptions::implicit_tls`] was false.
    pub fn smtps_addr(&self) -> SocketAddr {
        self.smtps
            .unwrap_or_else(|| panic!("this Postfix was started without an implicit-TLS listener"))
    }

    /// The PKI whose CA signed the served certificate (unless another one was chosen to be served).
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// The instance's directory: `conf/`, `queue/`, `log/`, `mail/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `syslog_name` that prefixes this instance's log lines.
    pub fn syslog_name(&self) -> &str {
        &self.syslog_name
    }

    /// The Maildir of a mailbox: `user` is a full address (`bob@example.test`) or a local part, taken to
    /// be at `example.test`. Panics if the instance has no such mailbox.
    pub fn maildir(&self, user: &str) -> PathBuf {
        let address = if user.contains('@') {
            user.to_string()
        } else {
            format!("{user}@example.test")
        };
        let table = read_log(&self.dir().join("mailboxes"));
        table
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .find(|(a, _)| *a == address)
            .map(|(_, path)| PathBuf::from(path))
            .unwrap_or_else(|| panic!("this Postfix has no mailbox {address}; it has:\n{table}"))
    }

    /// The messages delivered to `user` so far, oldest first, as stored (Postfix adds `Return-Path`,
    /// `Delivered-To` and `Received` headers on top of what the client sent).
    pub fn messages(&self, user: &str) -> Vec<Vec<u8>> {
        maildir::messages(&self.maildir(user))
    }

    /// Waits for the first message delivered to `user` and returns it. Panics with the log on timeout.
    pub fn wait_for_message(&self, user: &str, timeout: Duration) -> Vec<u8> {
        self.wait_for_messages(user, 1, timeout)
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// Waits until `user` has at least `count` messages and returns them all, oldest first. Panics with
    /// the log on timeout.
    pub fn wait_for_messages(&self, user: &str, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let maildir = self.maildir(user);
        maildir::wait_for_messages(&maildir, count, timeout).unwrap_or_else(|| {
            panic!(
                "{user} did not get {count} message(s) within {timeout:?} in {}\n{}",
                maildir.display(),
                self.report()
            )
        })
    }

    /// Postfix's log file (`maillog_file`).
    pub fn log_path(&self) -> PathBuf {
        self.dir().join("log").join("postfix.log")
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path())
    }

    /// Everything that helps when something failed: the start script's output and Postfix's log.
    pub fn report(&self) -> String {
        report(self.dir())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        stop(self.dir.path(), &mut self.master);
    }
}

/// Waits until the master listens on `smtp` (and `smtps`) and has logged that it started.
fn wait_until_listening(
    master: &mut Child,
    dir: &Path,
    smtp: SocketAddr,
    smtps: Option<SocketAddr>,
) -> Result<(), String> {
    let log = dir.join("log").join("postfix.log");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = master.try_wait() {
            return Err(format!("the master exited ({status})"));
        }
        // The master opens its listeners, then logs "daemon started" once it can spawn daemons.
        let ours = |addr| is_listening_under(master.id(), addr);
        if ours(smtp) && smtps.is_none_or(ours) && read_log(&log).contains("daemon started") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("no listener on {smtp} after {START_TIMEOUT:?}"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// `postfix.sh stop` (SIGTERM to the master, which stops its daemons), then reaps the master.
fn stop(dir: &Path, master: &mut Child) {
    let _ = Command::new("bash")
        .arg(peers_dir().join("postfix.sh"))
        .arg("stop")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    wait_or_kill(master, STOP_TIMEOUT);
}

/// The start script's output and Postfix's log, for failure messages.
fn report(dir: &Path) -> String {
    let run_log = dir.join("run.log");
    let log = dir.join("log").join("postfix.log");
    format!(
        "--- {} (postfix.sh)\n{}\n--- {}\n{}",
        run_log.display(),
        read_log(&run_log),
        log.display(),
        read_log(&log)
    )
}
