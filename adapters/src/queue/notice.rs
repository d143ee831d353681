//! Delivery status notifications (RFC 3464) for the sender of a queued message: a failure
//! notice when recipients are given up, a delay warning when the message has waited long.
//!
//! The notice is a `multipart/report; report-type=delivery-status` (RFC 6522) of three parts:
//! a human-readable explanation, the `message/delivery-status` fields (RFC 3464 §2.2
//! per-message: `Reporting-MTA`, `Arrival-Date`; §2.3 per-recipient: `Final-Recipient`,
//! `Action`, `Status`, `Remote-MTA`, `Diagnostic-Code`, `Last-Attempt-Date`,
//! `Will-Retry-Until`), and the original message's header block as `text/rfc822-headers`
//! (RFC 6522 §3). It goes from the null sender `<>` (RFC 5321 §4.5.5), so a notice that
//! cannot be delivered is never itself bounced, with `Auto-Submitted: auto-replied`
//! (RFC 3834 §5).
//!
//! The server texts copied in come from outside: control characters are dropped and lines
//! are bounded, so a hostile reply cannot add header fields or break the MIME structure.

use mxsend_core::message::DateTime;

use super::record::{EntryRecord, RecipientRecord};

/// Most octets of the original header block copied into a notice.
pub const MAX_ORIGINAL_HEADER: usize = 64 * 1024;

/// Most characters of one server text copied into a field (RFC 5322 §2.1.1's 998, less the
/// field name).
const MAX_FIELD_TEXT: usize = 900;

/// Which notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoticeKind {
    /// Recipients failed for good (`Action: failed`).
    Failure,
    /// The message is still being retried (`Action: delayed`).
    Delay,
}

/// What a notice needs besides the entry.
#[derive(Clone, Debug)]
pub struct NoticeContext<'a> {
    /// This host's name (`Reporting-MTA`, the `From` address's domain).
    pub reporting_mta: &'a str,
    /// Now, for `Date` and `Last-Attempt-Date`.
    pub now: DateTime,
    /// When retries end, for `Will-Retry-Until` (delay warnings).
    pub retry_until: Option<DateTime>,
    /// A random number for the boundary and Message-ID.
    pub random: u64,
}

/// The notice for `recipients` of `record`, whose original message starts with `original`
/// (its header block is copied). `None` for the null sender: nobody to tell.
pub fn build(
    record: &EntryRecord,
    recipients: &[&RecipientRecord],
    kind: NoticeKind,
    original: &[u8],
    context: &NoticeContext<'_>,
) -> Option<Vec<u8>> {
    if record.sender.is_empty() {
        return None;
    }
    let mta = clean(context.reporting_mta);
    let date = context.now.format().unwrap_or_default();
    let arrival = DateTime {
        unix_seconds: i64::try_from(record.queued_at).unwrap_or(i64::MAX),
        utc_offset_minutes: 0,
    }
    .format()
    .unwrap_or_default();
    let boundary = format!("=_mxsend_report_{:016x}", context.random);
    let subject = match kind {
        NoticeKind::Failure => "Undelivered Mail Returned to Sender",
        NoticeKind::Delay => "Delayed Mail (still being retried)",
    };
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push_str("\r\n");
    };
    line(&format!("From: Mail Delivery System <MAILER-DAEMON@{mta}>"));
    line(&format!("To: <{}>", clean(&record.sender)));
    line(&format!("Subject: {subject}"));
    line(&format!("Date: {date}"));
    line(&format!(
        "Message-ID: <{:016x}.{}@{mta}>",
        context.random, record.id
    ));
    line("Auto-Submitted: auto-replied");
    line("MIME-Version: 1.0");
    line(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\""
    ));
    line("");
    line("This is a MIME-encapsulated delivery status notification.");
    line("");
    // The human-readable part.
    line(&format!("--{boundary}"));
    line("Content-Type: text/plain; charset=utf-8");
    line("Content-Transfer-Encoding: 8bit");
    line("");
    line(&format!("This is the mail system at host {mta}."));
    line("");
    match kind {
        NoticeKind::Failure => {
            line("I'm sorry to have to inform you that your message could not be");
            line("delivered to one or more recipients. It's attached below.");
        }
        NoticeKind::Delay => {
            line("Your message could not be delivered yet to one or more recipients.");
            line("It is still in the queue, and delivery will be retried");
            if let Some(until) = context.retry_until.and_then(|d| d.format().ok()) {
                line(&format!("until {until}. You do not need to resend it."));
            } else {
                line("for a while. You do not need to resend it.");
            }
        }
    }
    line("");
    for r in recipients {
        let reason = r.last_reply.as_deref().map_or("(no reply)".into(), clean);
        match &r.last_host {
            Some(host) => line(&format!(
                "<{}>: host {} said: {reason}",
                clean(&r.address),
                clean(host)
            )),
            None => line(&format!("<{}>: {reason}", clean(&r.address))),
        }
    }
    line("");
    // The machine-readable part (RFC 3464 §2).
    line(&format!("--{boundary}"));
    line("Content-Type: message/delivery-status");
    line("");
    line(&format!("Reporting-MTA: dns; {mta}"));
    line(&format!("X-Mxsend-Queue-ID: {}", record.id));
    line(&format!("Arrival-Date: {arrival}"));
    for r in recipients {
        line("");
        line(&format!("Final-Recipient: rfc822; {}", clean(&r.address)));
        line(match kind {
            NoticeKind::Failure => "Action: failed",
            NoticeKind::Delay => "Action: delayed",
        });
        line(&format!(
            "Status: {}",
            status(r.last_reply.as_deref(), kind)
        ));
        if let Some(host) = &r.last_host {
            line(&format!("Remote-MTA: dns; {}", clean(host)));
        }
        if let Some(reply) = &r.last_reply {
            let kind = if reply.chars().take(3).all(|c| c.is_ascii_digit()) {
                "smtp"
            } else {
                "x-mxsend"
            };
            line(&format!("Diagnostic-Code: {kind}; {}", clean(reply)));
        }
        line(&format!("Last-Attempt-Date: {date}"));
        if kind == NoticeKind::Delay {
            if let Some(until) = context.retry_until.and_then(|d| d.format().ok()) {
                line(&format!("Will-Retry-Until: {until}"));
            }
        }
    }
    line("");
    // The original header block (RFC 6522 §3: text/rfc822-headers).
    line(&format!("--{boundary}"));
    line("Content-Type: text/rfc822-headers");
    line("");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&header_block(original));
    let tail = format!("\r\n--{boundary}--\r\n");
    bytes.extend_from_slice(tail.as_bytes());
    Some(bytes)
}

/// The header block at the start of `message` (up to, not including, the empty line), with
/// CRLF line ends, and without any line that looks like our boundary.
fn header_block(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with(b"--") {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The RFC 3463 status for a recipient: the reply's enhanced code, or one from its class.
fn status(reply: Option<&str>, kind: NoticeKind) -> String {
    let words: Vec<&str> = reply.unwrap_or("").split_whitespace().take(2).collect();
    let class = match kind {
        NoticeKind::Failure => '5',
        NoticeKind::Delay => '4',
    };
    if let Some(code) = words.get(1) {
        let parts: Vec<&str> = code.split('.').collect();
        let numeric = parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        if numeric {
            // A failure of a temporary reply (given up) keeps the detail, in class 5.
            return format!("{class}.{}.{}", parts[1], parts[2]);
        }
    }
    match kind {
        // X.4.7: delivery time expired (RFC 3463 §3.5), unless the reply said otherwise.
        NoticeKind::Failure if words.first().is_some_and(|c| c.starts_with('4')) => "5.4.7".into(),
        NoticeKind::Failure if words.first().is_none_or(|c| !c.starts_with('5')) => "5.4.7".into(),
        NoticeKind::Failure => "5.0.0".into(),
        NoticeKind::Delay => "4.0.0".into(),
    }
}

/// `text` without control characters, bounded.
fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_FIELD_TEXT)
        .collect()
}

/// A Unix time as an RFC 5322 date, for logs and records.
pub fn format_time(unix_seconds: u64) -> String {
    DateTime {
        unix_seconds: i64::try_from(unix_seconds).unwrap_or(i64::MAX),
        utc_offset_minutes: 0,
    }
    .format()
    .unwrap_or_else(|_| unix_seconds.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::record::{QueuedRoute, RecipientState, RouteKind};
    use mxsend_core::address::{Mailbox, ReversePath};
    use mxsend_core::command::BodyType;
    use mxsend_core::session::{DsnOptions, Envelope};

    fn record(sender: &str) -> EntryRecord {
        let envelope = Envelope {
            from: ReversePath::parse(sender).unwrap(),
            recipients: vec![Mailbox::parse("bob@example.test").unwrap()],
            size: None,
            body: BodyType::SevenBit,
            utf8_headers: false,
            dsn: DsnOptions::default(),
        };
        let route = QueuedRoute {
            kind: RouteKind::Mx { port: 25 },
            settings: Default::default(),
        };
        let mut r = EntryRecord::new("E1".into(), &envelope, route, 0, 10);
        r.recipients[0].state = RecipientState::Failed;
        r.recipients[0].last_reply = Some("550 5.1.1 no such user\r\nBcc: injected".into());
        r.recipients[0].last_host = Some("mx.example.test".into());
        r
    }

    fn context() -> NoticeContext<'static> {
        NoticeContext {
            reporting_mta: "client.example.test",
            now: DateTime {
                unix_seconds: 1_700_000_000,
                utc_offset_minutes: 0,
            },
            retry_until: None,
            random: 7,
        }
    }

    fn text(kind: NoticeKind) -> String {
        let r = record("ann@example.test");
        let recipients: Vec<&RecipientRecord> = r.recipients.iter().collect();
        let original = b"From: ann@example.test\r\nSubject: hi\r\n\r\nbody\r\n";
        String::from_utf8(build(&r, &recipients, kind, original, &context()).unwrap()).unwrap()
    }

    #[test]
    fn failure_notice_is_a_delivery_status_report() {
        let t = text(NoticeKind::Failure);
        assert!(t.contains("Content-Type: multipart/report; report-type=delivery-status"));
        assert!(t.contains(
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; client.example.test"
        ));
        assert!(t.contains("Final-Recipient: rfc822; bob@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.test\r\n"));
        assert!(t.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user  Bcc: injected\r\n"));
        assert!(t.contains("Content-Type: text/rfc822-headers\r\n\r\nFrom: ann@example.test\r\nSubject: hi\r\n\r\n--"));
        assert!(!t.contains("\r\nbody\r\n"), "only the header is copied");
        assert!(t.starts_with("From: Mail Delivery System <MAILER-DAEMON@client.example.test>\r\nTo: <ann@example.test>\r\n"));
    }

    #[test]
    fn a_server_text_cannot_add_a_field() {
        assert!(!text(NoticeKind::Failure).contains("\r\nBcc: injected"));
    }

    #[test]
    fn delay_warning_says_delayed_with_a_4xx_status() {
        let t = text(NoticeKind::Delay);
        assert!(t.contains("Action: delayed\r\nStatus: 4.1.1\r\n"), "{t}");
    }

    #[test]
    fn the_null_sender_gets_no_notice() {
        let r = record("ann@example.test");
        let mut null = r.clone();
        null.sender = String::new();
        let recipients: Vec<&RecipientRecord> = null.recipients.iter().collect();
        assert!(build(&null, &recipients, NoticeKind::Failure, b"", &context()).is_none());
    }

    #[test]
    fn status_from_the_reply_or_its_class() {
        assert_eq!(
            status(Some("550 5.7.1 denied"), NoticeKind::Failure),
            "5.7.1"
        );
        assert_eq!(
            status(Some("451 4.7.1 greylisted"), NoticeKind::Failure),
            "5.7.1"
        );
        assert_eq!(status(Some("451 try later"), NoticeKind::Failure), "5.4.7");
        assert_eq!(status(Some("550 denied"), NoticeKind::Failure), "5.0.0");
        assert_eq!(
            status(Some("connection refused"), NoticeKind::Failure),
            "5.4.7"
        );
        assert_eq!(status(None, NoticeKind::Delay), "4.0.0");
    }
}
