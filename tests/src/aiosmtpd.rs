//! aiosmtpd (`tests/peers/aiosmtpd_server.py`): the real peer for AUTH, for STARTTLS policy, and for
//! chosen per-recipient failures, with a log of every envelope so tests can check MAIL/RCPT parameters.
//!
//! Default EHLO: 8BITMIME and HELP only (no PIPELINING, SIZE, DSN or CHUNKING); the options add SIZE,
//! SMTPUTF8, DSN, STARTTLS and AUTH PLAIN LOGIN. aiosmtpd upper-cases MAIL/RCPT parameters before they
//! reach the log, and without [`AiosmtpdOptions::dsn`] refuses every RCPT parameter with 555. Recipients by local part: `reject*` get
//! `550 5.1.1 no such user`, `defer*` get `451 4.3.0 try later`, `datareject*` are accepted but make
//! the DATA reply `554 5.6.0 message refused`; any other is accepted and the message stored in
//! [`Aiosmtpd::maildir`].

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::maildir;
use crate::pki::{CertPair, TestPki};
use crate::process::{kill_and_reap, peer_tempdir, peers_dir, python, read_log, INSTALL_HINT};

/// How long the server gets to print its READY line (Python start-up on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The user name [`AiosmtpdOptions::with_auth`] accepts.
pub const AUTH_USER: &str = "mxsend-user";
/// The password [`AiosmtpdOptions::with_auth`] accepts.
pub const AUTH_PASSWORD: &str = "correct horse battery staple";

/// How to start an [`Aiosmtpd`]. `AiosmtpdOptions::default()` is plain SMTP on `127.0.0.1`, a free port.
#[derive(Clone, Debug)]
pub struct AiosmtpdOptions {
    /// Where to listen; `None`: `127.0.0.1` and a port the kernel picks.
    pub addr: Option<SocketAddr>,
    /// Offer STARTTLS (with [`AiosmtpdOptions::served_cert`]).
    pub starttls: bool,
    /// Refuse everything but EHLO, NOOP, QUIT and STARTTLS before TLS (implies `starttls`).
    pub require_starttls: bool,
    /// TLS from the first byte (RFC 8314) instead of STARTTLS.
    pub implicit_tls: bool,
    /// Offer AUTH PLAIN LOGIN and accept exactly this user name and password.
    pub auth: Option<(String, String)>,
    /// Offer AUTH only after TLS (aiosmtpd's default: true).
    pub auth_require_tls: bool,
    /// Refuse MAIL until the client has authenticated.
    pub auth_required: bool,
    /// AUTH mechanisms not to offer, e.g. `["PLAIN"]` to offer LOGIN only (aiosmtpd's
    /// `auth_exclude_mechanism`).
    pub auth_exclude: Vec<String>,
    /// Announce `SIZE n` and refuse larger messages; `None`: no SIZE extension.
    pub size: Option<u64>,
    /// Announce SMTPUTF8.
    pub smtputf8: bool,
    /// Announce DSN and accept NOTIFY/ORCPT on RCPT and RET/ENVID on MAIL, so the envelope log shows
    /// them (aiosmtpd upper-cases parameters). Without it aiosmtpd answers any RCPT parameter with 555.
    pub dsn: bool,
    /// Announce REQUIRETLS after STARTTLS and accept it on MAIL (RFC 8689), so the envelope log
    /// shows it.
    pub requiretls: bool,
    /// The PKI to use; `None`: generate one if TLS is wanted (see [`Aiosmtpd::pki`]).
    pub pki: Option<TestPki>,
    /// The certificate to serve; `None`: the PKI's `server` pair.
    pub served_cert: Option<CertPair>,
    /// Greylisting: `451 4.7.1` to RCPT for a (sender, recipient, client address) triple first
    /// seen less than this many seconds ago.
    pub greylist: Option<f64>,
}

impl Default for AiosmtpdOptions {
    fn default() -> Self {
        AiosmtpdOptions {
            addr: None,
            starttls: false,
            require_starttls: false,
            implicit_tls: false,
            auth: None,
            auth_require_tls: true,
            auth_required: false,
            auth_exclude: Vec::new(),
            size: None,
            smtputf8: false,
            dsn: false,
            requiretls: false,
            pki: None,
            served_cert: None,
            greylist: None,
        }
    }
}

impl AiosmtpdOptions {
    /// These options with AUTH for [`AUTH_USER`] / [`AUTH_PASSWORD`].
    pub fn with_auth(mut self) -> Self {
        self.auth = Some((AUTH_USER.to_string(), AUTH_PASSWORD.to_string()));
        self
    }

    fn wants_tls(&self) -> bool {
        self.starttls || self.require_starttls || self.implicit_tls
    }
}

/// One RCPT command as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcptAttempt {
    /// The address, without angle brackets.
    pub address: String,
    /// Its ESMTP parameters, e.g. `NOTIFY=SUCCESS,FAILURE`.
    pub options: Vec<String>,
    /// The reply the server gave, e.g. `250 2.1.5 OK`.
    pub reply: String,
}

/// One transaction that reached the end of DATA, from the server's JSON log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path, without angle brackets (empty for the null sender).
    pub mail_from: String,
    /// MAIL parameters, e.g. `SIZE=1234`, `BODY=8BITMIME`, `SMTPUTF8`.
    pub mail_options: Vec<String>,
    /// The accepted recipients.
    pub rcpt_tos: Vec<String>,
    /// The parameters of the accepted recipients, concatenated (aiosmtpd's own view).
    pub rcpt_options: Vec<String>,
    /// Every RCPT attempt, accepted or not, in order.
    pub rcpts: Vec<RcptAttempt>,
    /// Whether MAIL carried SMTPUTF8.
    pub smtputf8: bool,
    /// The message size in octets as received (after dot-unstuffing).
    pub size: u64,
    /// Whether the session was encrypted.
    pub tls: bool,
    /// The authenticated user, if any.
    pub auth_user: Option<String>,
    /// The reply to the end of DATA.
    pub data_reply: String,
}

/// A running aiosmtpd server. Killed and reaped on drop.
#[derive(Debug)]
pub struct Aiosmtpd {
    addr: SocketAddr,
    child: Child,
    pki: Option<TestPki>,
    dir: tempfile::TempDir,
}

impl Aiosmtpd {
    /// Starts the server and waits for its READY line. Panics with its stderr if it does not come up
    /// (with a hint to run `scripts/install-peers` if aiosmtpd is missing).
    pub fn start(opts: AiosmtpdOptions) -> Aiosmtpd {
        let dir = peer_tempdir("mxsend-aiosmtpd-");
        let pki = if opts.wants_tls() {
            Some(opts.pki.clone().unwrap_or_else(TestPki::generate))
        } else {
            opts.pki.clone()
        };
        let addr = opts
            .addr
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
        let stderr_path = dir.path().join("stderr.log");
        let stderr = File::create(&stderr_path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
        let script = peers_dir().join("aiosmtpd_server.py");
        let mut cmd = Command::new(python());
        cmd.arg("-u")
            .arg(&script)
            .arg("--host")
            .arg(addr.ip().to_string())
            .arg("--port")
            .arg(addr.port().to_string())
            .arg("--maildir")
            .arg(dir.path().join("Maildir"))
            .arg("--log")
            .arg(dir.path().join("envelopes.jsonl"));
        if let Some(pki) = pki.as_ref().filter(|_| opts.wants_tls()) {
            let served = opts
                .served_cert
                .clone()
                .unwrap_or_else(|| pki.server.clone());
            cmd.arg("--cert")
                .arg(&served.cert)
                .arg("--key")
                .arg(&served.key);
        }
        if opts.require_starttls {
            cmd.arg("--require-starttls");
        }
        if opts.implicit_tls {
            cmd.arg("--implicit-tls");
        }
        if let Some((user, password)) = &opts.auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        if !opts.auth_require_tls {
            cmd.arg("--no-auth-require-tls");
        }
        if opts.auth_required {
            cmd.arg("--auth-required");
        }
        for mechanism in &opts.auth_exclude {
            cmd.arg("--auth-exclude").arg(mechanism);
        }
        if let Some(size) = opts.size {
            cmd.arg("--size").arg(size.to_string());
        }
        if opts.smtputf8 {
            cmd.arg("--smtputf8");
        }
        if opts.requiretls {
            cmd.arg("--requiretls");
        }
        if opts.dsn {
            cmd.arg("--dsn");
        }
        if let Some(secs) = opts.greylist {
            cmd.arg("--greylist").arg(secs.to_string());
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}: {INSTALL_HINT}", python().display()));

        match wait_for_ready(&mut child) {
            Ok(addr) => Aiosmtpd {
                addr,
                child,
                pki,
                dir,
            },
            Err(why) => {
                kill_and_reap(&mut child);
                let stderr = read_log(&stderr_path);
                let hint = if stderr.contains("No module named 'aiosmtpd'") {
                    INSTALL_HINT
                } else {
                    ""
                };
                panic!("aiosmtpd did not start: {why} {hint}\n--- stderr\n{stderr}");
            }
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The PKI whose CA signed the served certificate; `None` if TLS was not enabled and no PKI given.
    pub fn pki(&self) -> Option<&TestPki> {
        self.pki.as_ref()
    }

    /// The Maildir accepted messages are written to.
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("Maildir")
    }

    /// The stored messages, oldest first, byte for byte as received after dot-unstuffing.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        maildir::messages(&self.maildir())
    }

    /// Waits for the first stored message and returns it. Panics (with stderr) on timeout.
    pub fn wait_for_message(&self, timeout: Duration) -> Vec<u8> {
        self.wait_for_messages(1, timeout)
            .into_iter()
            .next()
            .unwrap_or_default()
    }

    /// Waits until at least `count` messages are stored and returns them all. Panics on timeout.
    pub fn wait_for_messages(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        maildir::wait_for_messages(&self.maildir(), count, timeout).unwrap_or_else(|| {
            panic!(
                "aiosmtpd on {} stored fewer than {count} message(s) within {timeout:?}\n{}",
                self.addr,
                self.stderr()
            )
        })
    }

    /// The transactions that reached the end of DATA so far, in order.
    pub fn envelopes(&self) -> Vec<Envelope> {
        read_envelopes(&self.dir.path().join("envelopes.jsonl"))
    }

    /// Waits until at least `count` transactions are logged and returns them all. Panics on timeout.
    pub fn wait_for_envelopes(&self, count: usize, timeout: Duration) -> Vec<Envelope> {
        let deadline = Instant::now() + timeout;
        loop {
            let envelopes = self.envelopes();
            if envelopes.len() >= count {
                return envelopes;
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd on {} logged {} of {count} transaction(s) within {timeout:?}\n{}",
                self.addr,
                envelopes.len(),
                self.stderr()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's stderr so far (Python tracebacks, aiosmtpd warnings).
    pub fn stderr(&self) -> String {
        read_log(&self.dir.path().join("stderr.log"))
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Reads the child's stdout until `READY <host> <port>`, within [`START_TIMEOUT`].
fn wait_for_ready(child: &mut Child) -> Result<SocketAddr, String> {
    let stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let (tx, rx) = mpsc::channel();
    // A thread, because a pipe read cannot time out; it ends when the child's stdout closes.
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix("READY ") {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let line = rx
        .recv_timeout(START_TIMEOUT)
        .map_err(|_| format!("no READY line within {START_TIMEOUT:?}"))?;
    let (host, port) = line
        .split_once(' ')
        .ok_or_else(|| format!("malformed READY line: {line}"))?;
    let ip: IpAddr = host
        .parse()
        .map_err(|e| format!("READY host {host}: {e}"))?;
    let port: u16 = port
        .parse()
        .map_err(|e| format!("READY port {port}: {e}"))?;
    Ok(SocketAddr::new(ip, port))
}

/// Parses the JSON-lines envelope log; a missing file is an empty log.
fn read_envelopes(path: &Path) -> Vec<Envelope> {
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    // The server appends whole lines; a line still being written would not parse yet, so stop there.
    text.lines()
        .map_while(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|v| envelope_from_json(&v))
        .collect()
}

fn envelope_from_json(v: &serde_json::Value) -> Envelope {
    let string = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(string).collect())
            .unwrap_or_default()
    };
    Envelope {
        mail_from: string(&v["mail_from"]),
        mail_options: strings(&v["mail_options"]),
        rcpt_tos: strings(&v["rcpt_tos"]),
        rcpt_options: strings(&v["rcpt_options"]),
        rcpts: v["rcpts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| RcptAttempt {
                        address: string(&r["address"]),
                        options: strings(&r["options"]),
                        reply: string(&r["reply"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        smtputf8: v["smtputf8"].as_bool().unwrap_or(false),
        size: v["size"].as_u64().unwrap_or(0),
        tls: v["tls"].as_bool().unwrap_or(false),
        auth_user: v["auth_user"].as_str().map(str::to_string),
        data_reply: string(&v["data_reply"]),
    }
}
