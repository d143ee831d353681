//! The transcript hook: every line sent and received, in order, for `-v` output and logs.
//!
//! Every runtime feeds the raw bytes it writes and reads to one wiretap, which cuts them
//! into lines and hands [`TranscriptEvent`]s to the caller's [`Transcript`]. Doing it here,
//! on the bytes actually written and read, rather than in each runtime's pump, keeps the
//! transcripts of the blocking, smol and async-std adapters identical, and shows exactly
//! what went over the wire: pipelined commands appear one line each, in the order written.
//!
//! What the wiretap knows about SMTP, and nothing more:
//! - **Secrets are redacted** before any event is made: the initial response on an `AUTH`
//!   line (`AUTH PLAIN [redacted]`), and every client line that answers a `334` challenge
//!   (LOGIN's user name and password, a deferred initial response, an XOAUTH2 token). The
//!   secret never reaches the caller's hook, so a transcript can be logged as is.
//! - **Message content is flagged**: after `354` (DATA), each content line is
//!   [`TranscriptEvent::SentBody`] up to the final `.`; after `BDAT n`, the next `n` octets
//!   are, split at line ends (a chunk boundary may split one line into two events). The
//!   CLI abbreviates long messages with them; [`Printer`] shows the first lines only.
//! - Lines are given without their CRLF; a bare LF also ends a line (so a server that
//!   sends bare LFs still gets one event per line).

use std::io;
use std::net::SocketAddr;

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

/// What the bytes the client sends next are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientMode {
    /// Command lines.
    Commands,
    /// DATA content up to the line `.`.
    Data,
    /// BDAT chunk content: this many octets remain.
    Bdat(u64),
}

/// Cuts the bytes of one connection into transcript lines, redacting secrets and flagging
/// message content (see the module documentation). One per connection.
pub(crate) struct Wiretap<'t> {
    /// `Send`, so that an async connection holding its wiretap can move between threads.
    sink: &'t mut (dyn Transcript + Send),
    /// A server line not yet ended.
    received: Vec<u8>,
    /// A client line not yet ended.
    sent: Vec<u8>,
    mode: ClientMode,
    /// DATA went out and its 354 has not come yet.
    data_pending: bool,
    /// The server's last reply was 334: the next client line is a SASL response.
    redact_next: bool,
    /// False when nobody listens: the bytes are then not even cut into lines.
    enabled: bool,
}

impl std::fmt::Debug for Wiretap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiretap")
            .field("mode", &self.mode)
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
            mode: ClientMode::Commands,
            data_pending: false,
            redact_next: false,
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
            self.server_line(trim_line_end(&line));
        }
        self.received.extend_from_slice(bytes);
    }

    /// Bytes written to the server, in any split.
    pub fn sent(&mut self, mut bytes: &[u8]) {
        if !self.enabled {
            return;
        }
        while !bytes.is_empty() {
            if let ClientMode::Bdat(remaining) = self.mode {
                let take = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                let (chunk, rest) = bytes.split_at(take);
                bytes = rest;
                self.bdat_content(chunk);
                let left = remaining - take as u64;
                self.mode = if left == 0 {
                    ClientMode::Commands
                } else {
                    ClientMode::Bdat(left)
                };
                continue;
            }
            let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
                self.sent.extend_from_slice(bytes);
                return;
            };
            let (head, rest) = bytes.split_at(end + 1);
            bytes = rest;
            self.sent.extend_from_slice(head);
            let line = std::mem::take(&mut self.sent);
            self.client_line(trim_line_end(&line));
        }
    }

    fn server_line(&mut self, line: &[u8]) {
        self.sink.event(TranscriptEvent::Received(line));
        // The last line of a reply: `NNN` alone or `NNN ` and text (RFC 5321 §4.2).
        let last = line.len() == 3 || line.get(3) == Some(&b' ');
        match line.get(..3) {
            Some(b"334") if last => self.redact_next = true,
            Some(b"354") if last && self.data_pending => {
                self.data_pending = false;
                self.mode = ClientMode::Data;
            }
            _ => {}
        }
    }

    fn client_line(&mut self, line: &[u8]) {
        match self.mode {
            ClientMode::Data if line == b"." => {
                self.mode = ClientMode::Commands;
                self.sink.event(TranscriptEvent::Sent(line));
            }
            ClientMode::Data => self.sink.event(TranscriptEvent::SentBody(line)),
            ClientMode::Commands | ClientMode::Bdat(_) => self.command_line(line),
        }
    }

    fn command_line(&mut self, line: &[u8]) {
        if std::mem::take(&mut self.redact_next) {
            self.sink.event(TranscriptEvent::Sent(REDACTED));
            return;
        }
        let mut words = line.split(|&b| b == b' ').filter(|w| !w.is_empty());
        let verb = words.next().unwrap_or_default();
        if verb.eq_ignore_ascii_case(b"AUTH") {
            let mechanism = words.next().unwrap_or_default();
            let mut shown = b"AUTH ".to_vec();
            shown.extend_from_slice(mechanism);
            if words.next().is_some() {
                shown.push(b' ');
                shown.extend_from_slice(REDACTED);
            }
            self.sink.event(TranscriptEvent::Sent(&shown));
            return;
        }
        if verb.eq_ignore_ascii_case(b"DATA") {
            self.data_pending = true;
        } else if verb.eq_ignore_ascii_case(b"BDAT") {
            let size = words
                .next()
                .and_then(|w| std::str::from_utf8(w).ok())
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(0);
            if size > 0 {
                self.mode = ClientMode::Bdat(size);
            }
        }
        self.sink.event(TranscriptEvent::Sent(line));
    }

    /// BDAT content: one event per line end, the rest of the chunk as a partial line.
    fn bdat_content(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, after) = rest.split_at(end + 1);
            rest = after;
            self.sink
                .event(TranscriptEvent::SentBody(trim_line_end(line)));
        }
        if !rest.is_empty() {
            self.sink.event(TranscriptEvent::SentBody(rest));
        }
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

    #[derive(Debug, PartialEq, Eq)]
    enum Line {
        Rx(String),
        Tx(String),
        Body(String),
    }

    fn tap(script: &[(bool, &[u8])]) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut hook = |event: TranscriptEvent<'_>| {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            match event {
                TranscriptEvent::Received(l) => lines.push(Line::Rx(s(l))),
                TranscriptEvent::Sent(l) => lines.push(Line::Tx(s(l))),
                TranscriptEvent::SentBody(l) => lines.push(Line::Body(s(l))),
                _ => {}
            }
        };
        let mut wiretap = Wiretap::new(&mut hook);
        for (from_server, bytes) in script {
            if *from_server {
                wiretap.received(bytes);
            } else {
                wiretap.sent(bytes);
            }
        }
        drop(wiretap);
        lines
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
        let lines = tap(&[(false, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")]);
        assert_eq!(
            lines,
            [tx("MAIL FROM:<a@b>"), tx("RCPT TO:<c@d>"), tx("DATA")]
        );
    }

    #[test]
    fn server_lines_split_across_reads_are_joined() {
        let lines = tap(&[(true, b"250-mx.exa"), (true, b"mple\r\n250 SIZE\r\n")]);
        assert_eq!(lines, [rx("250-mx.example"), rx("250 SIZE")]);
    }

    #[test]
    fn redacts_the_initial_response_of_auth_plain() {
        let lines = tap(&[(false, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")]);
        assert_eq!(lines, [tx("AUTH PLAIN [redacted]")]);
    }

    #[test]
    fn redacts_every_line_that_answers_a_334() {
        let lines = tap(&[
            (false, b"AUTH LOGIN\r\n"),
            (true, b"334 VXNlcm5hbWU6\r\n"),
            (false, b"YWxpY2U=\r\n"),
            (true, b"334 UGFzc3dvcmQ6\r\n"),
            (false, b"c2VjcmV0\r\n"),
            (true, b"235 2.7.0 ok\r\n"),
            (false, b"MAIL FROM:<a@b>\r\n"),
        ]);
        assert_eq!(
            lines,
            [
                tx("AUTH LOGIN"),
                rx("334 VXNlcm5hbWU6"),
                tx("[redacted]"),
                rx("334 UGFzc3dvcmQ6"),
                tx("[redacted]"),
                rx("235 2.7.0 ok"),
                tx("MAIL FROM:<a@b>"),
            ]
        );
    }

    #[test]
    fn flags_data_content_up_to_the_final_dot() {
        let lines = tap(&[
            (false, b"DATA\r\n"),
            (true, b"354 go ahead\r\n"),
            (false, b"Subject: x\r\n\r\n..dot\r\n"),
            (false, b".\r\nQUIT\r\n"),
        ]);
        assert_eq!(
            lines,
            [
                tx("DATA"),
                rx("354 go ahead"),
                body("Subject: x"),
                body(""),
                body("..dot"),
                tx("."),
                tx("QUIT"),
            ]
        );
    }

    #[test]
    fn data_refused_leaves_the_next_lines_as_commands() {
        let lines = tap(&[
            (false, b"DATA\r\n"),
            (true, b"554 no valid recipients\r\n"),
            (false, b"RSET\r\n"),
        ]);
        assert_eq!(
            lines,
            [tx("DATA"), rx("554 no valid recipients"), tx("RSET")]
        );
    }

    #[test]
    fn flags_bdat_chunk_content_by_its_size() {
        let lines = tap(&[(false, b"BDAT 9 LAST\r\nA: b\r\n\r\nxQUIT\r\n")]);
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
        let lines = tap(&[(false, b"BDAT 6\r\nab"), (false, b"cd\r\nRSET\r\n")]);
        assert_eq!(lines, [tx("BDAT 6"), body("ab"), body("cd"), tx("RSET")]);
    }
}
