//! Postfix's `smtp-sink`: a fast SMTP sink and fault injector, for failure paths and throughput.
//!
//! Its EHLO offers PIPELINING, 8BITMIME, AUTH PLAIN LOGIN, XCLIENT, XFORWARD, ENHANCEDSTATUSCODES, DSN
//! and ends with a `250 ` line with empty text; no SIZE, STARTTLS, SMTPUTF8 or CHUNKING. Faults are
//! chosen with its flags (see `man smtp-sink`), passed through as given:
//! `-r cmd,...` 4xx, `-f cmd,...` 5xx (both imply `-p`), `-q cmd,...` disconnect without reply,
//! `-Q cmd,...` 421 and disconnect, `-A delay` 550 abort after DATA, `-w delay` wait before the DATA
//! reply, `-W cmd:delay[:odds]` delay a command, `-e` `-p` `-N` `-E` no ESMTP / PIPELINING / DSN /
//! ENHANCEDSTATUSCODES, `-8` no 8BITMIME, `-a` no AUTH.
//!
//! The harness always adds `-d` so that each received message is dumped to a file in
//! [`SmtpSink::dump_dir`], read back with [`SmtpSink::dumps`].

use std::fs::{self, File};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::maildir;
use crate::net::{free_port, is_listening_under};
use crate::process::{kill_and_reap, peer_tempdir, read_log, require_program};

/// How long smtp-sink gets to open its listener.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a start is retried with a fresh port when the chosen one was taken in the meantime.
const START_ATTEMPTS: usize = 5;
/// The unprivileged user smtp-sink switches to (it refuses to run as root without `-u`).
const SINK_USER: &str = "nobody";
/// `nobody`'s uid and gid on Debian, who must be able to write the dump directory.
const NOBODY_ID: u32 = 65534;
/// smtp-sink's listen backlog argument.
const BACKLOG: &str = "64";

/// A running smtp-sink. Killed and reaped on drop.
#[derive(Debug)]
pub struct SmtpSink {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it dumps each received message, one file per transaction.
    pub dump_dir: PathBuf,
    child: Child,
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

/// One mail transaction as smtp-sink dumped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkDump {
    /// The argument of the last HELO/EHLO, if any.
    pub helo_args: Option<String>,
    /// The MAIL command's arguments, e.g. `<a@example.test> BODY=8BITMIME`.
    pub mail_args: String,
    /// Each RCPT command's arguments, in order, e.g. `<b@example.test> NOTIFY=NEVER`.
    pub rcpt_args: Vec<String>,
    /// The message as received after dot-unstuffing, with smtp-sink's line ends (LF, not CRLF).
    pub message: Vec<u8>,
}

impl SmtpSink {
    /// Starts `smtp-sink FLAGS... ADDR` with `-u nobody -d DUMP_DIR/...` added, on `addr` or, if `None`,
    /// on `127.0.0.1` and a free port. Panics (with smtp-sink's stderr) if it cannot start.
    pub fn start(flags: &[&str], addr: Option<SocketAddr>) -> SmtpSink {
        let program = require_program("smtp-sink");
        let dir = peer_tempdir("mxsend-smtp-sink-");
        let dump_dir = dir.path().join("dumps");
        fs::create_dir(&dump_dir)
            .and_then(|()| chown(&dump_dir, Some(NOBODY_ID), Some(NOBODY_ID)))
            .unwrap_or_else(|e| panic!("cannot prepare {}: {e}", dump_dir.display()));
        let stderr_path = dir.path().join("stderr.log");
        let ip = addr.map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip());

        for attempt in 1..=START_ATTEMPTS {
            let listen = addr.unwrap_or_else(|| SocketAddr::new(ip, free_port(ip)));
            let stderr = File::create(&stderr_path)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", stderr_path.display()));
            let mut cmd = Command::new(&program);
            if running_as_root() {
                cmd.args(["-u", SINK_USER]);
            }
            // strftime template plus a random suffix per message: one file per transaction.
            cmd.arg("-d").arg(dump_dir.join("%Y%m%d%H%M%S."));
            let mut child = cmd
                .args(flags)
                .arg(listen.to_string())
                .arg(BACKLOG)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
            let deadline = Instant::now() + START_TIMEOUT;
            let failure = loop {
                if let Ok(Some(status)) = child.try_wait() {
                    break format!("smtp-sink exited ({status})");
                }
                if is_listening_under(child.id(), listen) {
                    return SmtpSink {
                        addr: listen,
                        dump_dir,
                        child,
                        stderr: stderr_path,
                        _dir: dir,
                    };
                }
                if Instant::now() >= deadline {
                    kill_and_reap(&mut child);
                    break format!("no listener on {listen} after {START_TIMEOUT:?}");
                }
                thread::sleep(Duration::from_millis(10));
            };
            let stderr = read_log(&stderr_path);
            if !(stderr.contains("Address already in use")
                && addr.is_none()
                && attempt < START_ATTEMPTS)
            {
                panic!("smtp-sink {flags:?} did not start on {listen}: {failure}\n{stderr}");
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// The transactions dumped so far, oldest first.
    pub fn dumps(&self) -> Vec<SinkDump> {
        maildir::files(&self.dump_dir)
            .into_iter()
            .filter_map(|path| fs::read(path).ok())
            .map(|raw| parse_dump(&raw))
            .collect()
    }

    /// Waits until at least `count` transactions were dumped and returns them all. Panics on timeout.
    pub fn wait_for_dumps(&self, count: usize, timeout: Duration) -> Vec<SinkDump> {
        let deadline = Instant::now() + timeout;
        loop {
            let dumps = self.dumps();
            if dumps.len() >= count {
                return dumps;
            }
            assert!(
                Instant::now() < deadline,
                "smtp-sink on {} dumped {} of {count} message(s) within {timeout:?}; stderr:\n{}",
                self.addr,
                dumps.len(),
                read_log(&self.stderr)
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// smtp-sink's stderr so far (fatal errors; `-v` conversations).
    pub fn stderr(&self) -> String {
        read_log(&self.stderr)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        kill_and_reap(&mut self.child);
    }
}

/// Splits a dump into smtp-sink's `X-*` records, its three-line `Received:` header, and the message
/// followed by the one empty line smtp-sink appends.
fn parse_dump(raw: &[u8]) -> SinkDump {
    let mut dump = SinkDump {
        helo_args: None,
        mail_args: String::new(),
        rcpt_args: Vec::new(),
        message: Vec::new(),
    };
    let mut rest = raw;
    let mut in_received = false;
    while let Some(end) = rest.iter().position(|&b| b == b'\n') {
        let (line, after) = (&rest[..end], &rest[end + 1..]);
        let text = String::from_utf8_lossy(line);
        if in_received {
            if !line.starts_with(b"\t") {
                break;
            }
        } else if let Some(v) = text.strip_prefix("X-Helo-Args: ") {
            dump.helo_args = Some(v.to_string());
        } else if let Some(v) = text.strip_prefix("X-Mail-Args: ") {
            dump.mail_args = v.to_string();
        } else if let Some(v) = text.strip_prefix("X-Rcpt-Args: ") {
            dump.rcpt_args.push(v.to_string());
        } else if text.starts_with("Received: ") {
            in_received = true;
        }
        rest = after;
    }
    dump.message = rest.strip_suffix(b"\n").unwrap_or(rest).to_vec();
    dump
}

/// Whether this process runs as root (smtp-sink then needs `-u`), from `/proc/self/status`.
fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_dump_into_envelope_and_message() {
        let raw = b"X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: me\n\
X-Mail-Args: <a@b> BODY=8BITMIME\nX-Rcpt-Args: <c@d> NOTIFY=NEVER\nX-Rcpt-Args: <e@f>\n\
Received: from me ([127.0.0.1])\n\tby smtp-sink (smtp-sink) with ESMTP id 2026eded;\n\
\tSun, 29 Nov 2026 04:12:57 +0000 (UTC)\nSubject: x\n\nhello\n.dot\n\n";
        let dump = parse_dump(raw);
        assert_eq!(dump.helo_args.as_deref(), Some("me"));
        assert_eq!(dump.mail_args, "<a@b> BODY=8BITMIME");
        assert_eq!(dump.rcpt_args, ["<c@d> NOTIFY=NEVER", "<e@f>"]);
        assert_eq!(dump.message, b"Subject: x\n\nhello\n.dot\n");
    }
}
