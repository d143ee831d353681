//! [`Printer`]: a transcript rendered as swaks shows it, for `-v` and logs.
//!
//! ```text
//! *** Connecting to mx.example.com [192.0.2.1]:25
//! <- 220 mx.example.com ESMTP
//! -> EHLO laptop.example.com
//! <- 250-mx.example.com
//! <- 250 STARTTLS
//! -> STARTTLS
//! <- 220 2.0.0 Ready to start TLS
//! *** TLS started (TLSv1.3, TLS13_AES_256_GCM_SHA384), certificate verified
//! -> AUTH PLAIN [redacted]
//! <- 235 2.7.0 Authentication successful
//! -> DATA
//! <- 354 End data with <CR><LF>.<CR><LF>
//! -> From: ...                      (the first lines of the message)
//! -> [... 1250 lines, 96000 octets ...]
//! -> .
//! ```
//!
//! Arrows for each side, `***` marks for connections and TLS (saying whether the certificate
//! was verified), long message content abbreviated to its first [`DATA_HEAD_LINES`] lines and
//! a count. It parses no SMTP: what is a command and what is message content, the events say
//! ([`TranscriptEvent::Sent`], [`TranscriptEvent::SentBody`]), and secrets never reach it (the
//! wiretap redacts what the session labels secret before any event is made). It escapes
//! control characters from either side, so a hostile server cannot drive the terminal with
//! escape sequences.

use std::io::{self, Write};

use super::{Transcript, TranscriptEvent};

/// Message lines shown before the rest is summarised.
pub const DATA_HEAD_LINES: usize = 10;

/// Lines beyond [`DATA_HEAD_LINES`] still shown in full rather than summarised (a summary of
/// two lines helps nobody).
const DATA_SLACK_LINES: usize = 5;

/// Renders events as transcript lines on `out`.
#[derive(Debug)]
pub struct Printer<W: Write> {
    out: W,
    /// Message lines seen in this message.
    data_lines: usize,
    /// Lines held back after the head, in case the message ends soon.
    data_held: Vec<Vec<u8>>,
    /// Lines and octets summarised (not shown).
    elided_lines: u64,
    elided_octets: u64,
}

impl<W: Write> Printer<W> {
    /// A renderer writing to `out` (standard error in the command).
    pub fn new(out: W) -> Printer<W> {
        Printer {
            out,
            data_lines: 0,
            data_held: Vec::new(),
            elided_lines: 0,
            elided_octets: 0,
        }
    }

    /// The writer, back.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Render one event. Write errors are ignored: a transcript that cannot be shown must not
    /// stop a delivery.
    fn render(&mut self, event: TranscriptEvent<'_>) {
        if !matches!(event, TranscriptEvent::SentBody(_)) {
            self.end_data();
        }
        match event {
            TranscriptEvent::Connecting {
                host,
                addr: address,
            } => {
                self.mark(&format!(
                    "Connecting to {host} [{}]:{}",
                    address.ip(),
                    address.port()
                ));
            }
            TranscriptEvent::Connected { local, .. } => {
                self.mark(&format!("Connected from {local}"))
            }
            TranscriptEvent::ConnectFailed { addr, error } => {
                self.mark(&format!(
                    "Connection to {addr} failed: {}",
                    os_reason(error)
                ));
            }
            TranscriptEvent::ConnectingUnix { path } => {
                self.mark(&format!("Connecting to unix:{}", path.display()));
            }
            TranscriptEvent::ConnectUnixFailed { path, error } => {
                self.mark(&format!(
                    "Connection to unix:{} failed: {}",
                    path.display(),
                    os_reason(error)
                ));
            }
            TranscriptEvent::Received(line) => self.line("<-", line),
            TranscriptEvent::Sent(line) => self.line("->", line),
            TranscriptEvent::SentBody(line) => self.data_line(line),
            TranscriptEvent::TlsStarted {
                protocol,
                cipher,
                verified,
            } => {
                let trust = if verified {
                    "certificate verified"
                } else {
                    "certificate NOT verified (opportunistic TLS)"
                };
                self.mark(&format!("TLS started ({protocol}, {cipher}), {trust}"));
            }
            TranscriptEvent::TlsFailed { error } => {
                self.mark(&format!("TLS handshake failed: {error}"))
            }
            TranscriptEvent::Closed => self.mark("Connection closed"),
            TranscriptEvent::Policy { domain, policy } => self.mark(&format!(
                "TLS policy for {domain}: {} ({policy})",
                policy.summary()
            )),
        }
    }

    fn mark(&mut self, text: &str) {
        let _ = writeln!(self.out, "*** {}", printable(text.as_bytes()));
    }

    fn line(&mut self, arrow: &str, bytes: &[u8]) {
        let _ = writeln!(self.out, "{arrow} {}", printable(bytes));
    }

    fn data_line(&mut self, line: &[u8]) {
        self.data_lines += 1;
        if self.data_lines <= DATA_HEAD_LINES {
            self.line("->", line);
        } else if self.elided_lines == 0 && self.data_held.len() < DATA_SLACK_LINES {
            self.data_held.push(line.to_vec());
        } else {
            for held in std::mem::take(&mut self.data_held) {
                self.elided_lines += 1;
                self.elided_octets += held.len() as u64 + 2;
            }
            self.elided_lines += 1;
            self.elided_octets += line.len() as u64 + 2;
        }
    }

    /// The end of message content: show what was held back, or the summary.
    fn end_data(&mut self) {
        for held in std::mem::take(&mut self.data_held) {
            self.line("->", &held);
        }
        if self.elided_lines > 0 {
            let summary = format!(
                "[... {} lines, {} octets ...]",
                self.elided_lines, self.elided_octets
            );
            self.line("->", summary.as_bytes());
        }
        self.data_lines = 0;
        self.elided_lines = 0;
        self.elided_octets = 0;
    }
}

/// The line as text, control characters escaped (`\x1b`), invalid UTF-8 replaced.
impl<W: Write> Transcript for Printer<W> {
    fn event(&mut self, event: TranscriptEvent<'_>) {
        self.render(event);
    }
}

/// An I/O error as its reason only: "Connection refused", not "... (os error 111)".
fn os_reason(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            out.push_str(&format!("\\x{:02x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::session::{TransmitLabel, TransmitSpan};

    fn render(events: &[TranscriptEvent<'_>]) -> String {
        let mut t = Printer::new(Vec::new());
        for e in events {
            t.event(*e);
        }
        String::from_utf8(t.into_inner()).unwrap()
    }

    #[test]
    fn server_and_client_lines_get_arrows() {
        let text = render(&[
            TranscriptEvent::Received(b"220 mx.test ESMTP"),
            TranscriptEvent::Sent(b"EHLO me.test"),
            TranscriptEvent::Received(b"250-mx.test"),
            TranscriptEvent::Received(b"250 PIPELINING"),
        ]);
        assert_eq!(
            text,
            "<- 220 mx.test ESMTP\n-> EHLO me.test\n<- 250-mx.test\n<- 250 PIPELINING\n"
        );
    }

    /// Bytes with their labels, span by span.
    type Labelled<'a> = &'a [(TransmitLabel, &'a [u8])];

    /// What a printer shows of a connection whose client bytes carry these labels, fed
    /// through the wiretap as a runtime feeds it.
    fn render_wire(script: &[(bool, Labelled<'_>)]) -> String {
        let mut printer = Printer::new(Vec::new());
        let mut wiretap = super::super::Wiretap::new(&mut printer);
        for (from_server, spans) in script {
            let bytes: Vec<u8> = spans.iter().flat_map(|(_, b)| b.iter().copied()).collect();
            if *from_server {
                wiretap.received(&bytes);
            } else {
                let labels = spans.iter().map(|(label, b)| TransmitSpan {
                    label: *label,
                    len: b.len(),
                });
                wiretap.sent(&bytes, labels);
            }
        }
        drop(wiretap);
        String::from_utf8(printer.into_inner()).unwrap()
    }

    #[test]
    fn auth_initial_response_is_redacted() {
        let text = render_wire(&[(
            false,
            &[
                (TransmitLabel::Command, b"AUTH PLAIN "),
                (TransmitLabel::Secret, b"AGFsaWNlAGh1bnRlcjI="),
                (TransmitLabel::Command, b"\r\n"),
            ],
        )]);
        assert_eq!(text, "-> AUTH PLAIN [redacted]\n");
    }

    #[test]
    fn already_redacted_auth_line_is_shown_once_redacted() {
        let text = render(&[TranscriptEvent::Sent(b"AUTH PLAIN [redacted]")]);
        assert_eq!(text, "-> AUTH PLAIN [redacted]\n");
    }

    #[test]
    fn auth_without_initial_response_shows_the_mechanism() {
        assert_eq!(
            render(&[TranscriptEvent::Sent(b"AUTH LOGIN")]),
            "-> AUTH LOGIN\n"
        );
    }

    #[test]
    fn responses_to_challenges_are_redacted() {
        let command = TransmitLabel::Command;
        let secret = TransmitLabel::Secret;
        let text = render_wire(&[
            (false, &[(command, b"AUTH LOGIN\r\n")]),
            (true, &[(command, b"334 VXNlcm5hbWU6\r\n")]),
            (false, &[(secret, b"YWxpY2U="), (command, b"\r\n")]),
            (true, &[(command, b"334 UGFzc3dvcmQ6\r\n")]),
            (false, &[(secret, b"aHVudGVyMg=="), (command, b"\r\n")]),
            (true, &[(command, b"235 ok\r\n")]),
            (false, &[(command, b"MAIL FROM:<a@x.y>\r\n")]),
        ]);
        assert!(!text.contains("YWxpY2U="), "{text}");
        assert!(!text.contains("aHVudGVyMg=="), "{text}");
        assert_eq!(text.matches("[redacted]").count(), 2, "{text}");
        assert!(text.ends_with("-> MAIL FROM:<a@x.y>\n"), "{text}");
    }

    #[test]
    fn short_message_is_shown_in_full() {
        let text = render(&[
            TranscriptEvent::Sent(b"DATA"),
            TranscriptEvent::Received(b"354 go ahead"),
            TranscriptEvent::SentBody(b"Subject: hi"),
            TranscriptEvent::SentBody(b""),
            TranscriptEvent::SentBody(b"body"),
            TranscriptEvent::Sent(b"."),
        ]);
        assert_eq!(
            text,
            "-> DATA\n<- 354 go ahead\n-> Subject: hi\n-> \n-> body\n-> .\n"
        );
    }

    #[test]
    fn long_message_is_abbreviated_after_the_first_lines() {
        let lines: Vec<String> = (0..100).map(|i| format!("line {i:02}")).collect();
        let mut events = vec![TranscriptEvent::Sent(b"DATA")];
        events.extend(
            lines
                .iter()
                .map(|l| TranscriptEvent::SentBody(l.as_bytes())),
        );
        events.push(TranscriptEvent::Sent(b"."));
        events.push(TranscriptEvent::Sent(b"QUIT"));
        let text = render(&events);
        assert!(text.contains("-> line 09\n"), "{text}");
        assert!(!text.contains("line 10"), "{text}");
        // 90 lines of "line NN" (7 octets) plus CRLF each.
        assert!(
            text.ends_with("-> line 09\n-> [... 90 lines, 810 octets ...]\n-> .\n-> QUIT\n"),
            "{text}"
        );
    }

    #[test]
    fn a_few_lines_past_the_head_are_still_shown() {
        let lines: Vec<String> = (0..DATA_HEAD_LINES + 3).map(|i| format!("l{i}")).collect();
        let mut events: Vec<TranscriptEvent<'_>> = lines
            .iter()
            .map(|l| TranscriptEvent::SentBody(l.as_bytes()))
            .collect();
        events.push(TranscriptEvent::Sent(b"."));
        let text = render(&events);
        assert!(!text.contains("[..."), "{text}");
        assert!(text.contains("-> l12\n-> .\n"), "{text}");
    }

    #[test]
    fn tls_start_is_marked_with_its_trust() {
        let text = render(&[TranscriptEvent::TlsStarted {
            protocol: "TLSv1_3",
            cipher: "TLS13_AES_256_GCM_SHA384",
            verified: false,
        }]);
        assert_eq!(
            text,
            "*** TLS started (TLSv1_3, TLS13_AES_256_GCM_SHA384), certificate NOT verified (opportunistic TLS)\n"
        );
    }

    #[test]
    fn escape_sequences_from_the_server_are_neutralised() {
        let text = render(&[TranscriptEvent::Received(b"220 \x1b[2Jgotcha")]);
        assert_eq!(text, "<- 220 \\x1b[2Jgotcha\n");
    }

    #[test]
    fn connection_marks_name_host_and_address() {
        let text = render(&[TranscriptEvent::Connecting {
            host: "mx.test",
            addr: "127.0.0.2:25".parse().unwrap(),
        }]);
        assert_eq!(text, "*** Connecting to mx.test [127.0.0.2]:25\n");
    }

    #[test]
    fn a_unix_socket_connection_is_shown_by_its_path() {
        let error = std::io::Error::from(std::io::ErrorKind::NotFound);
        let text = render(&[
            TranscriptEvent::ConnectingUnix {
                path: std::path::Path::new("/run/dovecot/lmtp"),
            },
            TranscriptEvent::ConnectUnixFailed {
                path: std::path::Path::new("/run/dovecot/lmtp"),
                error: &error,
            },
        ]);
        assert!(text.starts_with("*** Connecting to unix:/run/dovecot/lmtp\n*** Connection to unix:/run/dovecot/lmtp failed: "), "{text}");
    }
}
