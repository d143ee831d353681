//! What happened to each recipient: human lines, or one JSON document (`--json`).
//!
//! The JSON shape (stable; new keys may be added, none removed or retyped):
//!
//! ```json
//! {
//!   "exit_code": 67,
//!   "exit_status": "EX_NOUSER",
//!   "message_id": "<0123456789abcdef.65f0c0de@example.com>",
//!   "recipients": [
//!     {
//!       "recipient": "bob@example.net",
//!       "outcome": "delivered",
//!       "reply": { "code": 250, "enhanced": "2.0.0", "text": "Ok: queued as 4Tq2" },
//!       "host": "mx.example.net",
//!       "address": "192.0.2.25:25",
//!       "error": null
//!     },
//!     {
//!       "recipient": "nobody@example.org",
//!       "outcome": "rejected",
//!       "reply": { "code": 550, "enhanced": "5.1.1", "text": "unknown user" },
//!       "host": "mx.example.org",
//!       "address": "198.51.100.7:25",
//!       "error": null
//!     }
//!   ]
//! }
//! ```
//!
//! `outcome` is `delivered`, `rejected`, `deferred` or `ambiguous`; `reply` is the server's
//! reply that decided it (multi-line text joined with `\n`, the enhanced code taken out of the
//! text), or `null` when none did (no route, no connection), and then `error` says what
//! happened instead. `host` and `address` are the server that answered, `null` when none did.
//! `policy`, present only when the recipient's domain has a TLS policy (MTA-STS), says which
//! applied and how (`MTA-STS enforce (id ..., max_age ..., mx ...), fetched from ...`).

use std::io::{self, Write};
use std::net::SocketAddr;

use mxsend_core::reply::Reply;
use serde::Serialize;

use crate::exit::{self, Cause, Exit, Status};

/// One recipient's outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientOutcome {
    /// The address, as in RCPT TO.
    pub recipient: String,
    /// Where it ended.
    pub status: Status,
    /// Why.
    pub cause: Cause,
    /// The server that answered (relay host or MX exchange name).
    pub host: Option<String>,
    /// Its address.
    pub address: Option<SocketAddr>,
    /// The TLS policy that governed its domain (MTA-STS), when the domain has one.
    pub policy: Option<String>,
}

impl RecipientOutcome {
    /// The exit status this outcome calls for.
    pub fn exit(&self) -> Exit {
        exit::for_recipient(self.status, &self.cause)
    }

    /// The reply that decided the outcome, when a server gave one.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.cause {
            Cause::Reply(reply) => Some(reply),
            Cause::Session(e) => e.reply(),
            _ => None,
        }
    }

    /// What happened, when it was not simply a reply.
    pub fn error(&self) -> Option<String> {
        match &self.cause {
            Cause::Reply(_) => None,
            Cause::NoRoute(reason) => Some(reason.to_string()),
            Cause::Session(e) => Some(e.to_string()),
            Cause::Connect(why) | Cause::Unsendable(why) => Some(why.clone()),
            Cause::Tls { explained, .. } => Some(format!("TLS handshake failed: {explained}")),
        }
    }
}

/// The outcome of a whole run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The Message-ID of the message sent, when known.
    pub message_id: Option<String>,
    /// One per envelope recipient, in envelope order.
    pub recipients: Vec<RecipientOutcome>,
}

impl Report {
    /// The exit status of the run (the rule in [`crate::exit`]).
    pub fn exit(&self) -> Exit {
        exit::worst(self.recipients.iter().map(RecipientOutcome::exit))
    }

    /// The `--json` document.
    pub fn to_json(&self) -> JsonReport<'_> {
        let exit = self.exit();
        JsonReport {
            exit_code: exit.code(),
            exit_status: exit.name(),
            message_id: self.message_id.as_deref(),
            recipients: self
                .recipients
                .iter()
                .map(|r| JsonRecipient {
                    recipient: &r.recipient,
                    outcome: status_name(r.status),
                    reply: r.reply().map(JsonReply::from),
                    host: r.host.as_deref(),
                    address: r.address.map(|a| a.to_string()),
                    error: r.error(),
                    policy: r.policy.as_deref(),
                })
                .collect(),
        }
    }

    /// Write the JSON document and a newline.
    pub fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *out, &self.to_json())?;
        writeln!(out)
    }

    /// One line per recipient, e.g. `bob@example.net: delivered by mx.example.net
    /// [192.0.2.25]:25: 250 2.0.0 Ok: queued as 4Tq2`, the delivered ones included, and when
    /// only some were delivered a last line saying so ([`Report::partial_summary`]). With
    /// `silent_on_success`, nothing at all when every recipient was delivered (sendmail mode:
    /// cron mails whatever a job prints).
    pub fn write_human(&self, out: &mut dyn Write, silent_on_success: bool) -> io::Result<()> {
        if silent_on_success && self.all_delivered() {
            return Ok(());
        }
        for r in &self.recipients {
            write!(out, "{}: {}", r.recipient, status_name(r.status))?;
            match (&r.host, r.address) {
                // A relay given by its address: the name adds nothing.
                (Some(host), Some(address)) if *host == address.ip().to_string() => {
                    write!(out, " by [{}]:{}", address.ip(), address.port())?
                }
                (Some(host), Some(address)) => {
                    write!(out, " by {host} [{}]:{}", address.ip(), address.port())?
                }
                (Some(host), None) => write!(out, " by {host}")?,
                (None, Some(address)) => write!(out, " by {address}")?,
                (None, None) => {}
            }
            if let Some(reply) = r.reply() {
                write!(out, ": {}", one_line(reply))?;
            }
            match &r.cause {
                Cause::Reply(_) => {}
                _ => {
                    if let Some(error) = r.error() {
                        write!(out, " ({error})")?;
                    }
                }
            }
            if let Some(policy) = &r.policy {
                write!(out, " [{policy}]")?;
            }
            writeln!(out)?;
        }
        if let Some(summary) = self.partial_summary() {
            writeln!(out, "{summary}")?;
        }
        Ok(())
    }

    /// True when every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| r.status == Status::Delivered)
    }

    /// When some recipients were delivered and others not: one line saying how many, which
    /// were not, and that a resend must go to those only (the delivered ones have the
    /// message; sending it again to everyone makes duplicates).
    pub fn partial_summary(&self) -> Option<String> {
        let delivered = self
            .recipients
            .iter()
            .filter(|r| r.status == Status::Delivered)
            .count();
        if delivered == 0 || delivered == self.recipients.len() {
            return None;
        }
        let missing: Vec<String> = self
            .recipients
            .iter()
            .filter(|r| r.status != Status::Delivered)
            .map(|r| format!("{} ({})", r.recipient, status_name(r.status)))
            .collect();
        Some(format!(
            "partial delivery: {delivered} of {} recipients delivered; not delivered: {}; \
             resend only to those, the others already have the message",
            self.recipients.len(),
            missing.join(", ")
        ))
    }
}

/// `code [enhanced] text`, the lines of a multi-line reply joined with ` / `.
pub fn one_line(reply: &Reply) -> String {
    let text = reply.text().replace('\n', " / ");
    match reply.enhanced() {
        Some(e) => format!("{} {e} {text}", reply.code()),
        None => format!("{} {text}", reply.code()),
    }
}

/// The outcome's name in output.
pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Delivered => "delivered",
        Status::Rejected => "rejected",
        Status::Deferred => "deferred",
        Status::Ambiguous => "ambiguous",
    }
}

/// The `--json` document.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// The process's exit status.
    pub exit_code: u8,
    /// Its sysexits.h name.
    pub exit_status: &'static str,
    /// The Message-ID.
    pub message_id: Option<&'a str>,
    /// Each recipient.
    pub recipients: Vec<JsonRecipient<'a>>,
}

/// One recipient in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonRecipient<'a> {
    /// The address.
    pub recipient: &'a str,
    /// delivered / rejected / deferred / ambiguous.
    pub outcome: &'static str,
    /// The reply that decided it.
    pub reply: Option<JsonReply>,
    /// The server that answered.
    pub host: Option<&'a str>,
    /// Its address, `ip:port`.
    pub address: Option<String>,
    /// What happened when no reply decided it.
    pub error: Option<String>,
    /// The TLS policy that applied (MTA-STS mode, id, max_age, mx patterns, fetched or
    /// cached); absent when the domain has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<&'a str>,
}

/// A reply in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonReply {
    /// The three-digit code.
    pub code: u16,
    /// The enhanced status code (RFC 3463), when given.
    pub enhanced: Option<String>,
    /// The text, lines joined with `\n`, enhanced codes removed.
    pub text: String,
}

impl From<&Reply> for JsonReply {
    fn from(reply: &Reply) -> JsonReply {
        JsonReply {
            code: reply.code().get(),
            enhanced: reply.enhanced().map(|e| e.to_string()),
            text: reply.text(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use mxsend_core::mx::NoRoute;
    use mxsend_core::reply::ReplyCode;

    pub(crate) fn reply(code: u16, text: &str) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), vec![text.to_string()])
    }

    /// Two recipients: one delivered by an MX host, one refused by a null MX.
    pub(crate) fn report() -> Report {
        Report {
            message_id: Some("<1.2@example.com>".into()),
            recipients: vec![
                RecipientOutcome {
                    recipient: "bob@example.net".into(),
                    status: Status::Delivered,
                    cause: Cause::Reply(reply(250, "2.0.0 Ok: queued as 4Tq2")),
                    host: Some("mx.example.net".into()),
                    address: Some("127.0.0.2:25".parse().unwrap()),
                    policy: None,
                },
                RecipientOutcome {
                    recipient: "x@null.example".into(),
                    status: Status::Rejected,
                    cause: Cause::NoRoute(NoRoute::NullMx),
                    host: None,
                    address: None,
                    policy: None,
                },
            ],
        }
    }

    #[test]
    fn json_has_the_documented_shape() {
        let value = serde_json::to_value(report().to_json()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "exit_code": 68,
                "exit_status": "EX_NOHOST",
                "message_id": "<1.2@example.com>",
                "recipients": [
                    {
                        "recipient": "bob@example.net",
                        "outcome": "delivered",
                        "reply": {"code": 250, "enhanced": "2.0.0", "text": "Ok: queued as 4Tq2"},
                        "host": "mx.example.net",
                        "address": "127.0.0.2:25",
                        "error": null
                    },
                    {
                        "recipient": "x@null.example",
                        "outcome": "rejected",
                        "reply": null,
                        "host": null,
                        "address": null,
                        "error": "the domain accepts no mail (null MX, RFC 7505)"
                    }
                ]
            })
        );
    }

    #[test]
    fn human_lines_name_recipient_outcome_server_and_reply() {
        let mut out = Vec::new();
        report().write_human(&mut out, false).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "bob@example.net: delivered by mx.example.net [127.0.0.2]:25: 250 2.0.0 Ok: queued as 4Tq2\n\
             x@null.example: rejected (the domain accepts no mail (null MX, RFC 7505))\n\
             partial delivery: 1 of 2 recipients delivered; not delivered: x@null.example (rejected); \
             resend only to those, the others already have the message\n"
        );
    }

    #[test]
    fn relay_named_by_address_is_shown_once() {
        let mut r = report();
        r.recipients.truncate(1);
        r.recipients[0].host = Some("127.0.0.2".into());
        let mut out = Vec::new();
        r.write_human(&mut out, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("bob@example.net: delivered by [127.0.0.2]:25: 250"),
            "{text}"
        );
    }

    #[test]
    fn a_partial_delivery_names_every_recipient_even_when_silent_on_success() {
        let mut out = Vec::new();
        report().write_human(&mut out, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("bob@example.net: delivered"), "{text}");
        assert!(text.contains("x@null.example: rejected"), "{text}");
        assert!(
            text.ends_with(
                "partial delivery: 1 of 2 recipients delivered; not delivered: \
                 x@null.example (rejected); resend only to those, the others already have the message\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn silent_on_success_prints_nothing_when_all_were_delivered() {
        let mut r = report();
        r.recipients.truncate(1);
        let mut out = Vec::new();
        r.write_human(&mut out, true).unwrap();
        assert!(out.is_empty());
        assert_eq!(r.partial_summary(), None);
    }

    #[test]
    fn run_exit_follows_the_precedence() {
        assert_eq!(report().exit(), Exit::NoHost);
    }
}
