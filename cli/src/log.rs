//! The delivery log: one line per recipient per delivery attempt, so that later someone can
//! tell what became of cron's mail (msmtp's `logfile`/`syslog`, Postfix's maillog).
//!
//! Each line holds the time, the Message-ID, the recipient, the outcome, the server's reply
//! (or what happened instead) and the host that answered:
//!
//! ```text
//! 2026-12-01T14:20:05Z msgid=<a1b2.65f0@example.com> to=<bob@example.net> outcome=delivered via=mx host=mx.example.net[192.0.2.25]:25 reply="250 2.0.0 Ok: queued as 4Tq2"
//! ```
//!
//! Where the lines go ([`Destination`], from the configuration's `log` key):
//! - `log = "syslog"` (the default): the local syslog socket (`/dev/log`, or `syslog_socket`),
//!   facility mail, as RFC 3164 datagrams (`<22>Dec  1 14:20:05 mxsend[42]: msgid=...`); the
//!   syslog record carries the time. When the default socket does not exist (no syslog
//!   daemon, a container), nothing is logged and nothing is said.
//! - `log = "/path/to/file"`: appended to that file (created with mode 0600), the time first
//!   in RFC 3339 UTC. All the lines of one attempt go in one `write` on a file opened with
//!   `O_APPEND`, so concurrent runs (cron jobs) do not interleave within a line.
//! - `log = "none"`: no log.
//!
//! The server's reply text is the server's: control characters are replaced and quotes
//! escaped, so a hostile reply cannot forge a log line.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use mxsend::queue::{AttemptOutcome, AttemptReport};

use crate::deliver::Route;
use crate::exit::Status;
use crate::report::{one_line, status_name, RecipientOutcome, Report};

/// The syslog socket on Linux and most BSDs.
pub const DEFAULT_SYSLOG_SOCKET: &str = "/dev/log";

/// Where the delivery log goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// The local syslog daemon's datagram socket. `required`: the socket was named in the
    /// configuration, so its absence is worth a warning.
    Syslog {
        /// The socket's path.
        socket: PathBuf,
        /// Whether a missing socket is an error (named) or means "no syslog here" (default).
        required: bool,
    },
    /// Appended to this file.
    File(PathBuf),
    /// Nowhere.
    Off,
}

impl Destination {
    /// The destination for the configuration's `log` and `syslog_socket` values.
    pub fn from_config(log: Option<&str>, syslog_socket: Option<&Path>) -> Destination {
        let syslog = || Destination::Syslog {
            socket: syslog_socket
                .map_or_else(|| PathBuf::from(DEFAULT_SYSLOG_SOCKET), Path::to_path_buf),
            required: syslog_socket.is_some(),
        };
        match log.map(str::trim) {
            None | Some("syslog") => syslog(),
            Some("none") | Some("") => Destination::Off,
            Some(path) => Destination::File(PathBuf::from(path)),
        }
    }
}

/// Why a log line could not be written (the delivery itself is not affected).
#[derive(Debug)]
pub enum LogError {
    /// The log file cannot be opened or written.
    File {
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        error: io::Error,
    },
    /// The syslog socket refused the record.
    Syslog {
        /// The socket.
        socket: PathBuf,
        /// The reason.
        why: String,
    },
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::File { path, error } => write!(
                f,
                "cannot write the delivery log {}: {}; fix its permissions or the `log` setting",
                path.display(),
                crate::error::os_reason(error)
            ),
            LogError::Syslog { socket, why } => write!(
                f,
                "cannot log to syslog at {}: {why}; set `syslog_socket` or `log = \"PATH\"`",
                socket.display()
            ),
        }
    }
}

impl std::error::Error for LogError {}

/// The delivery log of this run.
#[derive(Clone, Debug)]
pub struct DeliveryLog {
    destination: Destination,
}

impl DeliveryLog {
    /// A log writing to `destination`.
    pub fn new(destination: Destination) -> DeliveryLog {
        DeliveryLog { destination }
    }

    /// The log the configuration's `log` and `syslog_socket` keys ask for.
    pub fn for_config(config: &crate::config::Config) -> DeliveryLog {
        DeliveryLog::new(Destination::from_config(
            config.log.as_deref(),
            config.syslog_socket.as_deref(),
        ))
    }

    /// Record one delivery attempt: a line per recipient of `report`, sent by `route`.
    pub fn log_attempt(&self, report: &Report, route: &Route) -> Result<(), LogError> {
        let lines = report
            .recipients
            .iter()
            .map(|r| {
                let text = line(report.message_id.as_deref(), r, route);
                (r.status == Status::Delivered, text)
            })
            .collect();
        self.write(lines)
    }

    /// Record one attempt of a queued message for one recipient (`queue run`, the daemon).
    pub fn log_queued_attempt(&self, attempt: &AttemptReport) -> Result<(), LogError> {
        let delivered = matches!(attempt.outcome, AttemptOutcome::Delivered);
        self.write(vec![(delivered, queued_line(attempt))])
    }

    /// Write `lines` (each with whether it records a delivery, for the syslog severity).
    fn write(&self, lines: Vec<(bool, String)>) -> Result<(), LogError> {
        let now = OffsetDateTime::now_utc();
        match &self.destination {
            Destination::Off => Ok(()),
            Destination::File(path) => {
                let mut text = String::new();
                for (_, line) in &lines {
                    text.push_str(&timestamp(now));
                    text.push(' ');
                    text.push_str(line);
                    text.push('\n');
                }
                append(path, text.as_bytes()).map_err(|error| LogError::File {
                    path: path.clone(),
                    error,
                })
            }
            Destination::Syslog { socket, required } => {
                if !required && !socket.exists() {
                    return Ok(());
                }
                let syslog_error = |why: String| LogError::Syslog {
                    socket: socket.clone(),
                    why,
                };
                let formatter = syslog::Formatter3164 {
                    facility: syslog::Facility::LOG_MAIL,
                    hostname: None,
                    process: "mxsend".into(),
                    pid: std::process::id(),
                };
                let mut logger = syslog::unix_custom(formatter, socket)
                    .map_err(|e| syslog_error(e.to_string()))?;
                for (delivered, text) in lines {
                    let sent = if delivered {
                        logger.info(text)
                    } else {
                        logger.warning(text)
                    };
                    sent.map_err(|e| syslog_error(e.to_string()))?;
                }
                Ok(())
            }
        }
    }
}

fn append(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

/// RFC 3339, UTC, whole seconds.
fn timestamp(now: OffsetDateTime) -> String {
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// One recipient's line, without the time.
pub fn line(message_id: Option<&str>, r: &RecipientOutcome, route: &Route) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "msgid={} to=<{}> outcome={} via={} host=",
        clean(message_id.unwrap_or("none")),
        clean(&r.recipient),
        status_name(r.status),
        match route {
            Route::Relay { .. } => "relay",
            Route::Mx { .. } => "mx",
        }
    );
    match (&r.host, r.address) {
        (Some(host), Some(address)) => {
            let _ = write!(out, "{}[{}]:{}", clean(host), address.ip(), address.port());
        }
        (Some(host), None) => out.push_str(&clean(host)),
        (None, Some(address)) => {
            let _ = write!(out, "[{}]:{}", address.ip(), address.port());
        }
        (None, None) => out.push_str("none"),
    }
    if let Some(reply) = r.reply() {
        let _ = write!(out, " reply=\"{}\"", quoted(&one_line(reply)));
    }
    if !matches!(r.cause, crate::exit::Cause::Reply(_)) {
        if let Some(error) = r.error() {
            let _ = write!(out, " error=\"{}\"", quoted(&error));
        }
    }
    out
}

/// One queued attempt's line, without the time: the queue entry and attempt number in place
/// of the Message-ID (the entry holds it), then the same fields as [`line`].
pub fn queued_line(a: &AttemptReport) -> String {
    let outcome = match a.outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Failed => "rejected",
        AttemptOutcome::Deferred => "deferred",
        AttemptOutcome::Ambiguous => "ambiguous",
        AttemptOutcome::Expired => "expired",
    };
    let mut out = format!(
        "queue={} attempt={} from=<{}> to=<{}> outcome={outcome} via=queue host={}",
        clean(&a.id),
        a.attempt,
        clean(&a.sender),
        clean(&a.recipient),
        a.host.as_deref().map_or_else(|| "none".to_string(), clean),
    );
    if let Some(reply) = &a.reply {
        let _ = write!(out, " reply=\"{}\"", quoted(reply));
    }
    out
}

/// Control characters and white space become `_`: a value outside quotes is one token.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// A value inside double quotes: `"` and `\` escaped, control characters replaced by `?`.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Cause;
    use std::os::unix::net::UnixDatagram;

    fn relay() -> Route {
        Route::Relay {
            host: "127.0.0.1".into(),
            port: 2525,
        }
    }

    /// The report module's sample, the first recipient's reply text replaced.
    fn report(reply_text: &str) -> Report {
        let mut report = crate::report::tests::report();
        report.recipients[0].cause = Cause::Reply(crate::report::tests::reply(250, reply_text));
        report
    }

    #[test]
    fn a_line_names_message_recipient_outcome_host_and_reply() {
        let r = report("2.0.0 Ok: queued");
        assert_eq!(
            line(r.message_id.as_deref(), &r.recipients[0], &relay()),
            "msgid=<1.2@example.com> to=<bob@example.net> outcome=delivered via=relay \
             host=mx.example.net[127.0.0.2]:25 reply=\"250 2.0.0 Ok: queued\""
        );
    }

    #[test]
    fn a_line_without_a_reply_says_what_happened() {
        let r = report("x");
        let text = line(None, &r.recipients[1], &relay());
        assert_eq!(
            text,
            "msgid=none to=<x@null.example> outcome=rejected via=relay host=none \
             error=\"the domain accepts no mail (null MX, RFC 7505)\""
        );
    }

    #[test]
    fn a_hostile_reply_cannot_forge_a_line() {
        let r = report("Ok\r\n2026-01-01T00:00:00Z msgid=<forged> \"x\"");
        let text = line(None, &r.recipients[0], &relay());
        assert!(!text.contains(['\r', '\n']), "{text}");
        assert!(text.contains("\\\"x\\\""), "{text}");
    }

    #[test]
    fn the_file_gets_one_timestamped_line_per_recipient() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mxsend.log");
        let log = DeliveryLog::new(Destination::File(path.clone()));
        log.log_attempt(&report("Ok"), &relay()).unwrap();
        log.log_attempt(&report("Ok"), &relay()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        // 2026-12-01T14:20:05Z msgid=...
        let stamp = lines[0].split(' ').next().unwrap();
        assert_eq!(stamp.len(), 20, "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "{stamp}"
        );
        assert!(lines[1].contains("to=<x@null.example> outcome=rejected"));
    }

    #[test]
    fn syslog_gets_rfc3164_records_on_the_mail_facility() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("log");
        let receiver = UnixDatagram::bind(&socket).unwrap();
        let log = DeliveryLog::new(Destination::from_config(None, Some(&socket)));
        log.log_attempt(&report("Ok"), &relay()).unwrap();
        let mut buf = [0u8; 2048];
        let n = receiver.recv(&mut buf).unwrap();
        let first = String::from_utf8_lossy(&buf[..n]).into_owned();
        // mail.info: facility 2 * 8 + severity 6.
        assert!(first.starts_with("<22>"), "{first}");
        assert!(
            first.contains(&format!(
                "mxsend[{}]: msgid=<1.2@example.com>",
                std::process::id()
            )),
            "{first}"
        );
        let n = receiver.recv(&mut buf).unwrap();
        let second = String::from_utf8_lossy(&buf[..n]).into_owned();
        // mail.warning: 16 + 4.
        assert!(second.starts_with("<20>"), "{second}");
        assert!(second.contains("outcome=rejected"), "{second}");
    }

    #[test]
    fn a_missing_default_syslog_socket_is_silent_but_a_named_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-socket");
        let quiet = DeliveryLog::new(Destination::Syslog {
            socket: missing.clone(),
            required: false,
        });
        assert!(quiet.log_attempt(&report("Ok"), &relay()).is_ok());
        let named = DeliveryLog::new(Destination::from_config(Some("syslog"), Some(&missing)));
        let err = named.log_attempt(&report("Ok"), &relay()).unwrap_err();
        assert!(err.to_string().contains("no-such-socket"), "{err}");
    }

    #[test]
    fn log_setting_forms() {
        assert_eq!(
            Destination::from_config(Some("none"), None),
            Destination::Off
        );
        assert_eq!(
            Destination::from_config(Some("/var/log/mxsend.log"), None),
            Destination::File("/var/log/mxsend.log".into())
        );
        assert_eq!(
            Destination::from_config(None, None),
            Destination::Syslog {
                socket: DEFAULT_SYSLOG_SOCKET.into(),
                required: false
            }
        );
    }
}
