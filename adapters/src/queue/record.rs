//! The state record of a queued message: who it is from and to, where each recipient stands,
//! the attempts so far, when the next is due, and the route it takes.
//!
//! Stored as one JSON document (serde_json), versioned ([`RECORD_VERSION`]) and checked on
//! every read ([`EntryRecord::decode`]): a record from a newer mxsend, a record that does not
//! parse, or one whose addresses, id or size do not hold up is *damaged*, never guessed at.

use std::collections::BTreeMap;
use std::fmt;

use mxsend_core::address::{Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::session::{DsnOptions, Envelope};
use serde::{Deserialize, Serialize};

/// The record format this mxsend writes and reads.
pub const RECORD_VERSION: u32 = 1;

/// The most attempt lines a record keeps (the oldest are dropped first).
pub const MAX_HISTORY: usize = 20;

/// The longest entry id: ids are file names.
pub const MAX_ID_LEN: usize = 64;

/// Where a queued message goes: the same two routes as [`crate::Relay`] and
/// [`crate::MxDelivery`]. What else the caller needs to rebuild the connection (an account
/// name, a TLS mode) is kept as [`QueuedRoute::settings`], opaque to the queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRoute {
    /// Relay or MX.
    pub kind: RouteKind,
    /// The caller's settings (e.g. `account`, `tls`), kept as given.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// Relay or MX delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RouteKind {
    /// Submission to one server.
    Relay {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Each recipient domain's MX hosts.
    Mx {
        /// The port on every exchange.
        port: u16,
    },
}

impl fmt::Display for QueuedRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            RouteKind::Relay { host, port } => write!(f, "relay {host}:{port}")?,
            RouteKind::Mx { port } => write!(f, "MX delivery (port {port})")?,
        }
        if let Some(account) = self.settings.get("account") {
            write!(f, ", account {account}")?;
        }
        Ok(())
    }
}

/// Where one recipient stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientState {
    /// Not delivered yet; tried again when due.
    Pending,
    /// The server took responsibility: never sent to again.
    Delivered,
    /// Refused for good, or given up at the end of the lifetime: never retried.
    Failed,
}

/// One recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientRecord {
    /// The address (RCPT TO).
    pub address: String,
    /// Where it stands.
    pub state: RecipientState,
    /// The last reply or reason, as shown to people (`451 4.7.1 greylisted`).
    #[serde(default)]
    pub last_reply: Option<String>,
    /// The host that gave it, when one answered.
    #[serde(default)]
    pub last_host: Option<String>,
    /// Whether the last attempt ended ambiguously (the end of data went out, no reply came):
    /// the next attempt may deliver a duplicate (RFC 1047).
    #[serde(default)]
    pub ambiguous: bool,
    /// Whether the sender was sent a failure notice for it.
    #[serde(default)]
    pub bounced: bool,
}

/// What kind of message an entry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A message a user or program submitted.
    #[default]
    Message,
    /// A delivery status notification the queue made: never itself bounced or warned about.
    Notification,
}

/// The state record of one entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRecord {
    /// [`RECORD_VERSION`].
    pub version: u32,
    /// The entry's id (also its name in the store).
    pub id: String,
    /// The envelope sender, `""` for the null sender `<>`.
    pub sender: String,
    /// Every recipient.
    pub recipients: Vec<RecipientRecord>,
    /// Where it goes.
    pub route: QueuedRoute,
    /// Unix time (seconds) it was queued.
    pub queued_at: u64,
    /// Unix time of the next attempt.
    pub next_attempt: u64,
    /// Attempts made so far (the one before queueing included).
    pub attempts: u32,
    /// The message's length in octets, as stored: a shorter file is a truncated entry.
    pub message_size: u64,
    /// Whether the message has 8-bit content (BODY=8BITMIME).
    #[serde(default)]
    pub eight_bit: bool,
    /// Whether the message goes as BODY=BINARYMIME (RFC 3030): declared so, or content that
    /// cannot go as text (a NUL, a line over 998 octets). Wins over `eight_bit`.
    #[serde(default)]
    pub binary: bool,
    /// Whether a header needs SMTPUTF8.
    #[serde(default)]
    pub utf8_headers: bool,
    /// A submitted message or a notification the queue made.
    #[serde(default)]
    pub kind: EntryKind,
    /// Whether the sender was warned that the message is delayed.
    #[serde(default)]
    pub warned: bool,
    /// The last attempts, one line each, oldest first (at most [`MAX_HISTORY`]).
    #[serde(default)]
    pub history: Vec<String>,
}

/// Why a record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not JSON, or not a record.
    Syntax(String),
    /// Written by a newer mxsend.
    Version(u32),
    /// The id in the record is not the entry's.
    IdMismatch {
        /// The entry's name.
        entry: String,
        /// The id the record holds.
        record: String,
    },
    /// The id cannot be a file name.
    BadId(String),
    /// An address does not parse.
    Address {
        /// The address.
        address: String,
        /// Why.
        why: String,
    },
    /// No recipients.
    NoRecipients,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Syntax(why) => write!(f, "the state record does not parse ({why})"),
            RecordError::Version(v) => write!(
                f,
                "the state record has version {v}; this mxsend reads version {RECORD_VERSION}"
            ),
            RecordError::IdMismatch { entry, record } => {
                write!(f, "the state record names entry {record:?}, not {entry:?}")
            }
            RecordError::BadId(id) => write!(f, "{id:?} is not a queue entry id"),
            RecordError::Address { address, why } => {
                write!(
                    f,
                    "the state record holds a bad address {address:?} ({why})"
                )
            }
            RecordError::NoRecipients => write!(f, "the state record has no recipients"),
        }
    }
}

impl std::error::Error for RecordError {}

/// Whether `id` can name an entry: 1 to [`MAX_ID_LEN`] ASCII letters, digits, `-` or `_`
/// (so it is a plain file name, never a path).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl EntryRecord {
    /// A new record for `envelope`'s recipients, all pending and due at `now`.
    pub fn new(
        id: String,
        envelope: &Envelope,
        route: QueuedRoute,
        now: u64,
        message_size: u64,
    ) -> EntryRecord {
        EntryRecord {
            version: RECORD_VERSION,
            id,
            sender: envelope.from.to_string(),
            recipients: envelope
                .recipients
                .iter()
                .map(|m| RecipientRecord {
                    address: m.to_string(),
                    state: RecipientState::Pending,
                    last_reply: None,
                    last_host: None,
                    ambiguous: false,
                    bounced: false,
                })
                .collect(),
            route,
            queued_at: now,
            next_attempt: now,
            attempts: 0,
            message_size,
            eight_bit: envelope.body == BodyType::EightBitMime,
            binary: envelope.body == BodyType::BinaryMime,
            utf8_headers: envelope.utf8_headers,
            kind: EntryKind::Message,
            warned: false,
            history: Vec::new(),
        }
    }

    /// The JSON text.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain strings, numbers and enums cannot fail.
        let mut text = serde_json::to_vec_pretty(self).unwrap_or_default();
        text.push(b'\n');
        text
    }

    /// Parse and check a record read from the entry named `entry`.
    pub fn decode(entry: &str, bytes: &[u8]) -> Result<EntryRecord, RecordError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        // One parse in the common case; the version is looked at alone only to explain a
        // record that does not parse as this version's.
        let record: EntryRecord = match serde_json::from_slice(bytes) {
            Ok(record) => record,
            Err(e) => {
                return Err(match serde_json::from_slice::<Version>(bytes) {
                    Ok(v) if v.version != RECORD_VERSION => RecordError::Version(v.version),
                    _ => RecordError::Syntax(e.to_string()),
                })
            }
        };
        if record.version != RECORD_VERSION {
            return Err(RecordError::Version(record.version));
        }
        if !valid_id(&record.id) {
            return Err(RecordError::BadId(record.id));
        }
        if record.id != entry {
            return Err(RecordError::IdMismatch {
                entry: entry.to_string(),
                record: record.id,
            });
        }
        record.reverse_path()?;
        if record.recipients.is_empty() {
            return Err(RecordError::NoRecipients);
        }
        for r in &record.recipients {
            parse_mailbox(&r.address)?;
        }
        Ok(record)
    }

    /// The envelope sender.
    pub fn reverse_path(&self) -> Result<ReversePath, RecordError> {
        if self.sender.is_empty() {
            return Ok(ReversePath::Null);
        }
        parse_mailbox(&self.sender).map(ReversePath::Mailbox)
    }

    /// The envelope of the next attempt: the pending recipients only.
    pub fn pending_envelope(&self) -> Result<Envelope, RecordError> {
        let recipients = self
            .recipients
            .iter()
            .filter(|r| r.state == RecipientState::Pending)
            .map(|r| parse_mailbox(&r.address))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Envelope {
            from: self.reverse_path()?,
            recipients,
            size: Some(self.message_size),
            body: if self.binary {
                BodyType::BinaryMime
            } else if self.eight_bit {
                BodyType::EightBitMime
            } else {
                BodyType::SevenBit
            },
            utf8_headers: self.utf8_headers,
            dsn: DsnOptions::default(),
        })
    }

    /// Whether any recipient is still pending.
    pub fn has_pending(&self) -> bool {
        self.recipients
            .iter()
            .any(|r| r.state == RecipientState::Pending)
    }

    /// Add one line to the history, dropping the oldest beyond [`MAX_HISTORY`].
    pub fn log(&mut self, line: String) {
        self.history.push(line);
        let excess = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..excess);
    }
}

fn parse_mailbox(address: &str) -> Result<Mailbox, RecordError> {
    Mailbox::parse(address).map_err(|e| RecordError::Address {
        address: address.to_string(),
        why: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EntryRecord {
        let envelope = Envelope {
            from: ReversePath::parse("ann@example.test").unwrap(),
            recipients: vec![
                Mailbox::parse("bob@example.test").unwrap(),
                Mailbox::parse("carol@example.test").unwrap(),
            ],
            size: None,
            body: BodyType::EightBitMime,
            utf8_headers: false,
            dsn: DsnOptions::default(),
        };
        let route = QueuedRoute {
            kind: RouteKind::Relay {
                host: "127.0.0.1".into(),
                port: 2525,
            },
            settings: BTreeMap::from([("account".to_string(), "work".to_string())]),
        };
        EntryRecord::new("E1".into(), &envelope, route, 1000, 42)
    }

    #[test]
    fn a_record_survives_encode_and_decode() {
        let r = record();
        assert_eq!(EntryRecord::decode("E1", &r.encode()), Ok(r));
    }

    #[test]
    fn a_binary_message_goes_as_binarymime_at_every_attempt_and_old_records_are_text() {
        let mut r = record();
        r.binary = true;
        let decoded = EntryRecord::decode("E1", &r.encode()).unwrap();
        assert_eq!(
            decoded.pending_envelope().unwrap().body,
            BodyType::BinaryMime
        );
        // A record written before the field existed reads as not binary.
        let mut old: serde_json::Value = serde_json::from_slice(&record().encode()).unwrap();
        old.as_object_mut().unwrap().remove("binary");
        let old = EntryRecord::decode("E1", old.to_string().as_bytes()).unwrap();
        assert!(!old.binary);
        assert_eq!(old.pending_envelope().unwrap().body, BodyType::EightBitMime);
    }

    #[test]
    fn pending_envelope_holds_only_pending_recipients() {
        let mut r = record();
        r.recipients[0].state = RecipientState::Delivered;
        let e = r.pending_envelope().unwrap();
        assert_eq!(
            e.recipients,
            [Mailbox::parse("carol@example.test").unwrap()]
        );
        assert_eq!(e.body, BodyType::EightBitMime);
        assert_eq!(e.size, Some(42));
    }

    #[test]
    fn garbage_is_a_syntax_error() {
        assert!(matches!(
            EntryRecord::decode("E1", b"\x00\x01garbage"),
            Err(RecordError::Syntax(_))
        ));
        // Truncated JSON too.
        let text = record().encode();
        assert!(matches!(
            EntryRecord::decode("E1", &text[..text.len() / 2]),
            Err(RecordError::Syntax(_))
        ));
    }

    #[test]
    fn a_newer_version_is_refused_not_guessed() {
        let text = String::from_utf8(record().encode())
            .unwrap()
            .replace("\"version\": 1", "\"version\": 2");
        assert_eq!(
            EntryRecord::decode("E1", text.as_bytes()),
            Err(RecordError::Version(2))
        );
    }

    #[test]
    fn a_record_moved_under_another_name_is_refused() {
        assert!(matches!(
            EntryRecord::decode("E2", &record().encode()),
            Err(RecordError::IdMismatch { .. })
        ));
    }

    #[test]
    fn a_bad_address_is_refused() {
        let mut r = record();
        r.recipients[1].address = "not an address".into();
        assert!(matches!(
            EntryRecord::decode("E1", &r.encode()),
            Err(RecordError::Address { .. })
        ));
    }

    #[test]
    fn ids_are_plain_file_names() {
        assert!(valid_id("0001F3A2-9b_c"));
        for bad in ["", "../x", "a/b", ".", "a b", &"x".repeat(65)] {
            assert!(!valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn history_keeps_the_latest_lines() {
        let mut r = record();
        for i in 0..30 {
            r.log(format!("attempt {i}"));
        }
        assert_eq!(r.history.len(), MAX_HISTORY);
        assert_eq!(r.history.last().map(String::as_str), Some("attempt 29"));
    }
}
