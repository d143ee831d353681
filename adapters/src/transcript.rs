//! The transcript hook: every line sent and received, in order, for `-v` output and logs.
//!
//! Every runtime feeds the bytes it writes and reads to one wiretap, which cuts them into
//! lines and hands [`TranscriptEvent`]s to the caller's [`Transcript`]. Doing it here, on the
//! bytes actually written and read, rather than in each runtime's pump, keeps the
//! transcripts of every runtime identical, and shows exactly what went over the wire:
//! pipelined commands appear one line each, in the order written.
//!
//! What each byte written is, the session says
//! ([`mxsend_core::session::Session::pending_transmit_spans`]); the wiretap parses no SMTP:
//! - **Secrets are redacted** before any event is made: a span the session labels secret
//!   (the initial response on an `AUTH` line, every SASL response: LOGIN's user name and
//!   password, an XOAUTH2 token, SCRAM's messages) is shown as [`REDACTED`]
//!   (`AUTH PLAIN [redacted]`). The secret never reaches the caller's hook, so a transcript
//!   can be logged as is.
//! - **Message content is flagged**: the bytes labelled content (a DATA body up to, not
//!   including, the final `.`; a BDAT chunk's octets) are [`TranscriptEvent::SentBody`],
//!   split at line ends (a BDAT chunk boundary may split one line into two events). The CLI
//!   abbreviates long messages with them; [`Printer`] shows the first lines only.
//! - Lines are given without their CRLF; a bare LF also ends a line (so a server that
//!   sends bare LFs still gets one event per line).

use std::io;
use std::net::SocketAddr;

use mxsend_core::session::{TransmitLabel, TransmitSpan};

mod printer;
pub use printer::{Printer, DATA_HEAD_LINES};

/// One thing that happened on a connection, in order.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum TranscriptEvent<'a> {
    /// About to connect to `addr`, which serves `host`.
    Connecting {
        /// The host name (relay host or MX exchange) the address belongs to.
        host: &'a str,
        /// The address.
        addr: SocketAddr,
    },
    /// The TCP connection is up.
    Connected {
        /// Our end.
        local: SocketAddr,
        /// The server's end.
        peer: SocketAddr,
    },
    /// The TCP connection could not be made.
    ConnectFailed {
        /// The address.
        addr: SocketAddr,
        /// The operating system's error.
        error: &'a io::Error,
    },
    /// About to connect to a Unix domain socket (a relay `unix:/path`).
    ConnectingUnix {
        /// The socket's path.
        path: &'a std::path::Path,
    },
    /// The Unix domain socket could not be connected to.
    ConnectUnixFailed {
        /// The socket's path.
        path: &'a std::path::Path,
        /// The operating system's error.
        error: &'a io::Error,
    },
    /// One line from the server, without CRLF.
    Received(&'a [u8]),
    /// One command line to the server, without CRLF, secrets already redacted.
    Sent(&'a [u8]),
    /// One line (or, for BDAT, part of a line) of message content, as sent (dot-stuffed
    /// for DATA), without CRLF.
    SentBody(&'a [u8]),
    /// The TLS handshake finished (implicit TLS or after STARTTLS).
    TlsStarted {
        /// The protocol version, such as `TLSv1_3`.
        protocol: &'a str,
        /// The cipher suite, such as `TLS13_AES_256_GCM_SHA384`.
        cipher: &'a str,
        /// True when the certificate was verified for the host (`required`, `implicit`);
        /// false under `opportunistic`, which accepts any certificate.
        verified: bool,
    },
    /// The TLS handshake failed.
    TlsFailed {
        /// Why, in rustls' words.
        error: &'a str,
    },
    /// The connection was closed by us.
    Closed,
    /// The TLS policy decided for a recipient domain before any connection to it (MX
    /// delivery consulting MTA-STS or DANE).
    Policy {
        /// The recipient domain.
        domain: &'a str,
        /// What applies to its exchanges.
        policy: &'a crate::security::DeliveryPolicy,
    },
}

/// Receives the transcript of every connection a delivery makes.
///
/// Any `FnMut(TranscriptEvent<'_>)` is one; so is [`Printer`]; `()` discards everything.
///
/// ```
/// use mxsend::transcript::{Transcript, TranscriptEvent};
///
/// let mut lines = Vec::new();
/// let mut hook = |event: TranscriptEvent<'_>| {
///     if let TranscriptEvent::Sent(line) = event {
///         lines.push(String::from_utf8_lossy(line).into_owned());
///     }
/// };
/// hook.event(TranscriptEvent::Sent(b"EHLO client.example"));
/// assert_eq!(lines, ["EHLO client.example"]);
/// ```
pub trait Transcript {
    /// Called for each event, in order.
    fn event(&mut self, event: TranscriptEvent<'_>);
}

impl<F: FnMut(TranscriptEvent<'_>)> Transcript for F {
    fn event(&mut self, event: TranscriptEvent<'_>) {
        self(event)
    }
}

impl Transcript for () {
    fn event(&mut self, _event: TranscriptEvent<'_>) {}
}

/// What the client line being cut is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineKind {
    /// A command line (secrets in it already redacted).
    Command,
    /// A line of message content.
    Content,
}

/// Cuts the bytes of one connection into transcript lines, redacting what the session
/// labels secret and flagging what it labels content (see the module documentation). One
/// per connection.
pub(crate) struct Wiretap<'t> {
    /// `Send`, so that an async connection holding its wiretap can move between threads.
    sink: &'t mut (dyn Transcript + Send),
    /// A server line not yet ended.
    received: Vec<u8>,
    /// A client line not yet ended (secrets already replaced), and what it is.
    sent: Vec<u8>,
    kind: LineKind,
    /// The last bytes added to `sent` were a secret's (so a secret split across writes is
    /// redacted once).
    in_secret: bool,
    /// False when nobody listens: the bytes are then not even cut into lines.
    enabled: bool,
}

impl std::fmt::Debug for Wiretap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiretap")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Shown instead of a secret.
pub const REDACTED: &[u8] = b"[redacted]";

impl<'t> Wiretap<'t> {
    /// A wiretap feeding `sink`.
    pub fn new(sink: &'t mut (dyn Transcript + Send)) -> Wiretap<'t> {
        Wiretap {
            sink,
            received: Vec::new(),
            sent: Vec::new(),
            kind: LineKind::Command,
            in_secret: false,
            enabled: true,
        }
    }

    /// A wiretap that does nothing, for a connection with no transcript hook: cutting every
    /// byte into lines costs a pipelined session a few per cent for nothing.
    pub fn disabled(sink: &'t mut (dyn Transcript + Send)) -> Wiretap<'t> {
        Wiretap {
            enabled: false,
            ..Wiretap::new(sink)
        }
    }

    /// An event that is not a line (connecting, TLS, closing): passed on as is.
    pub fn event(&mut self, event: TranscriptEvent<'_>) {
        if self.enabled {
            self.sink.event(event);
        }
    }

    /// Bytes read from the server, in any split.
    pub fn received(&mut self, mut bytes: &[u8]) {
        if !self.enabled {
            return;
        }
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = bytes.split_at(end + 1);
            bytes = rest;
            self.received.extend_from_slice(head);
            let line = std::mem::take(&mut self.received);
            self.sink
                .event(TranscriptEvent::Received(trim_line_end(&line)));
            self.received = line;
            self.received.clear();
        }
        self.received.extend_from_slice(bytes);
    }

    /// Bytes written to the server, in any split, with the session's labels for them
    /// ([`mxsend_core::session::Session::pending_transmit_spans`] of the bytes they begin):
    /// the spans may run past `bytes`, which ends where the write did.
    pub fn sent(&mut self, mut bytes: &[u8], spans: impl IntoIterator<Item = TransmitSpan>) {
        if !self.enabled {
            return;
        }
        for span in spans {
            if bytes.is_empty() {
                return;
            }
            let (part, rest) = bytes.split_at(span.len.min(bytes.len()));
            bytes = rest;
            self.span(span.label, part);
        }
        // Past the labels (never, from a session): commands.
        if !bytes.is_empty() {
            self.span(TransmitLabel::Command, bytes);
        }
    }

    /// One labelled run of bytes.
    fn span(&mut self, label: TransmitLabel, mut bytes: &[u8]) {
        let kind = match label {
            TransmitLabel::Content => LineKind::Content,
            _ => LineKind::Command,
        };
        // A line that changes kind is ended there (a BDAT chunk's last, unfinished line).
        if kind != self.kind {
            if !self.sent.is_empty() {
                self.end_line();
            }
            self.kind = kind;
        }
        if label == TransmitLabel::Secret {
            if !std::mem::replace(&mut self.in_secret, true) {
                self.sent.extend_from_slice(REDACTED);
            }
            return;
        }
        self.in_secret = false;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = bytes.split_at(end + 1);
            bytes = rest;
            self.sent.extend_from_slice(head);
            self.end_line();
        }
        self.sent.extend_from_slice(bytes);
    }

    /// The client line is complete (or cut short by a change of kind): its event.
    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.sent);
        let trimmed = trim_line_end(&line);
        self.sink.event(match self.kind {
            LineKind::Command => TranscriptEvent::Sent(trimmed),
            LineKind::Content => TranscriptEvent::SentBody(trimmed),
        });
        self.sent = line;
        self.sent.clear();
    }
}

/// The line without its LF and an optional CR before it.
fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::address::{Domain, Mailbox, ReversePath};
    use mxsend_core::command::BodyType;
    use mxsend_core::sasl::{Credentials, Secret};
    use mxsend_core::session::{
        DsnOptions, Envelope, Session, SessionConfig, TlsPolicy, TransactionWindow,
    };
    use mxsend_core::time::Instant;
    use TransmitLabel::{Command, Content};

    #[derive(Debug, PartialEq, Eq)]
    enum Line {
        Rx(String),
        Tx(String),
        Body(String),
    }

    /// The events as lines.
    #[derive(Default)]
    struct Lines(Vec<Line>);

    impl Transcript for Lines {
        fn event(&mut self, event: TranscriptEvent<'_>) {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            match event {
                TranscriptEvent::Received(l) => self.0.push(Line::Rx(s(l))),
                TranscriptEvent::Sent(l) => self.0.push(Line::Tx(s(l))),
                TranscriptEvent::SentBody(l) => self.0.push(Line::Body(s(l))),
                _ => {}
            }
        }
    }

    /// What each side does, in order.
    enum Step<'a> {
        /// Bytes from the server.
        Rx(&'a [u8]),
        /// One write of labelled bytes.
        Tx(&'a [(TransmitLabel, &'a [u8])]),
    }

    fn tap(script: &[Step<'_>]) -> Vec<Line> {
        let mut lines = Lines::default();
        let mut wiretap = Wiretap::new(&mut lines);
        for step in script {
            match step {
                Step::Rx(bytes) => wiretap.received(bytes),
                Step::Tx(spans) => {
                    let bytes: Vec<u8> =
                        spans.iter().flat_map(|(_, b)| b.iter().copied()).collect();
                    let labels = spans.iter().map(|(label, b)| TransmitSpan {
                        label: *label,
                        len: b.len(),
                    });
                    wiretap.sent(&bytes, labels);
                }
            }
        }
        drop(wiretap);
        lines.0
    }

    /// A real session's transcript: `server` fed in turn (`None`: the next message's body),
    /// whatever the session has to send written after each, in writes of at most `write`
    /// octets, each with the session's labels.
    fn session_transcript(
        config: SessionConfig,
        server: &[Option<&str>],
        write: usize,
    ) -> Vec<Line> {
        let mut session = Session::new(config, Instant::ZERO);
        let envelope = Envelope {
            from: ReversePath::Mailbox(Mailbox::parse("alice@example.org").unwrap()),
            recipients: vec![Mailbox::parse("bob@example.test").unwrap()],
            size: None,
            body: BodyType::SevenBit,
            utf8_headers: false,
            dsn: DsnOptions::default(),
        };
        session.send_mail(envelope, Instant::ZERO).unwrap();
        session.quit(Instant::ZERO);
        let mut lines = Lines::default();
        let mut wiretap = Wiretap::new(&mut lines);
        for step in server {
            match step {
                Some(bytes) => {
                    wiretap.received(bytes.as_bytes());
                    session.handle_input(bytes.as_bytes(), Instant::ZERO);
                }
                None => {
                    assert!(session.wants_body());
                    session
                        .send_body(b"Subject: x\r\n\r\n.dot\r\nsecond", Instant::ZERO)
                        .unwrap();
                    session.finish_body(Instant::ZERO).unwrap();
                }
            }
            while !session.pending_transmit().is_empty() {
                let pending = session.pending_transmit();
                let n = pending.len().min(write);
                wiretap.sent(&pending[..n], session.pending_transmit_spans());
                session.advance_transmit(n);
            }
        }
        drop(wiretap);
        lines.0
    }

    fn auth_config(secret: Secret) -> SessionConfig {
        let mut config = SessionConfig::new(Domain::parse("client.example").unwrap());
        config.tls = TlsPolicy::Disabled;
        config.allow_plaintext_auth = true;
        config.window = TransactionWindow::OFF;
        config.credentials = Some(Credentials {
            username: "alice".into(),
            secret,
        });
        config
    }

    fn tx(s: &str) -> Line {
        Line::Tx(s.into())
    }
    fn rx(s: &str) -> Line {
        Line::Rx(s.into())
    }
    fn body(s: &str) -> Line {
        Line::Body(s.into())
    }

    #[test]
    fn pipelined_commands_are_one_event_per_line() {
        let lines = tap(&[Step::Tx(&[(
            Command,
            b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n",
        )])]);
        assert_eq!(
            lines,
            [tx("MAIL FROM:<a@b>"), tx("RCPT TO:<c@d>"), tx("DATA")]
        );
    }

    #[test]
    fn server_lines_split_across_reads_are_joined() {
        let lines = tap(&[Step::Rx(b"250-mx.exa"), Step::Rx(b"mple\r\n250 SIZE\r\n")]);
        assert_eq!(lines, [rx("250-mx.example"), rx("250 SIZE")]);
    }

    #[test]
    fn redacts_the_initial_response_of_auth_plain() {
        let config = auth_config(Secret::Password("hunter2".into()));
        let lines = session_transcript(
            config,
            &[
                Some("220 mx ESMTP\r\n"),
                Some("250-mx\r\n250 AUTH PLAIN\r\n"),
                Some("235 ok\r\n"),
            ],
            usize::MAX,
        );
        assert_eq!(lines[4], tx("AUTH PLAIN [redacted]"), "{lines:?}");
        let text = format!("{lines:?}");
        assert!(!text.contains("YWxpY2UAaHVudGVyMg"), "{text}");
        assert_eq!(lines[6], tx("MAIL FROM:<alice@example.org>"), "{lines:?}");
    }

    #[test]
    fn redacts_every_line_that_answers_a_334() {
        // Written three octets at a time: a secret split across writes is redacted once.
        let config = auth_config(Secret::Password("hunter2".into()));
        let lines = session_transcript(
            config,
            &[
                Some("220 mx ESMTP\r\n"),
                Some("250-mx\r\n250 AUTH LOGIN\r\n"),
                Some("334 VXNlcm5hbWU6\r\n"),
                Some("334 UGFzc3dvcmQ6\r\n"),
                Some("235 2.7.0 ok\r\n"),
            ],
            3,
        );
        assert_eq!(
            lines[4..],
            [
                tx("AUTH LOGIN"),
                rx("334 VXNlcm5hbWU6"),
                tx("[redacted]"),
                rx("334 UGFzc3dvcmQ6"),
                tx("[redacted]"),
                rx("235 2.7.0 ok"),
                tx("MAIL FROM:<alice@example.org>"),
            ]
        );
    }

    #[test]
    fn redacts_an_xoauth2_token() {
        let config = auth_config(Secret::OAuthToken("ya29.token".into()));
        let lines = session_transcript(
            config,
            &[
                Some("220 mx ESMTP\r\n"),
                Some("250-mx\r\n250 AUTH XOAUTH2\r\n"),
            ],
            usize::MAX,
        );
        assert_eq!(lines[4], tx("AUTH XOAUTH2 [redacted]"), "{lines:?}");
    }

    #[test]
    fn flags_data_content_up_to_the_final_dot() {
        let mut config = SessionConfig::new(Domain::parse("client.example").unwrap());
        config.tls = TlsPolicy::Disabled;
        config.window = TransactionWindow::OFF;
        let lines = session_transcript(
            config,
            &[
                Some("220 mx ESMTP\r\n"),
                Some("250-mx\r\n250 PIPELINING\r\n"),
                Some("250 ok\r\n250 ok\r\n354 go ahead\r\n"),
                None,
            ],
            7,
        );
        assert_eq!(
            lines[4..],
            [
                tx("MAIL FROM:<alice@example.org>"),
                tx("RCPT TO:<bob@example.test>"),
                tx("DATA"),
                rx("250 ok"),
                rx("250 ok"),
                rx("354 go ahead"),
                body("Subject: x"),
                body(""),
                body("..dot"),
                body("second"),
                tx("."),
                tx("QUIT"),
            ]
        );
    }

    #[test]
    fn data_refused_leaves_the_next_lines_as_commands() {
        let lines = tap(&[
            Step::Tx(&[(Command, b"DATA\r\n")]),
            Step::Rx(b"554 no valid recipients\r\n"),
            Step::Tx(&[(Command, b"RSET\r\n")]),
        ]);
        assert_eq!(
            lines,
            [tx("DATA"), rx("554 no valid recipients"), tx("RSET")]
        );
    }

    #[test]
    fn flags_bdat_chunk_content_by_its_label() {
        let lines = tap(&[Step::Tx(&[
            (Command, b"BDAT 9 LAST\r\n"),
            (Content, b"A: b\r\n\r\nx"),
            (Command, b"QUIT\r\n"),
        ])]);
        assert_eq!(
            lines,
            [
                tx("BDAT 9 LAST"),
                body("A: b"),
                body(""),
                body("x"),
                tx("QUIT")
            ]
        );
    }

    #[test]
    fn a_bdat_chunk_may_span_writes() {
        // A line is cut where its chunk ends, not where a write does.
        let lines = tap(&[
            Step::Tx(&[(Command, b"BDAT 6\r\n"), (Content, b"ab")]),
            Step::Tx(&[(Content, b"cd\r\n"), (Command, b"RSET\r\n")]),
        ]);
        assert_eq!(lines, [tx("BDAT 6"), body("abcd"), tx("RSET")]);
    }

    #[test]
    fn a_disabled_wiretap_makes_no_event() {
        let mut lines = Lines::default();
        let mut wiretap = Wiretap::disabled(&mut lines);
        wiretap.received(b"220 mx\r\n");
        wiretap.sent(
            b"EHLO x\r\n",
            [TransmitSpan {
                label: Command,
                len: 8,
            }],
        );
        drop(wiretap);
        assert!(lines.0.is_empty());
    }
}
