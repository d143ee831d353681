//! # mxsend: send email the way mail servers do
//!
//! The runtime adapters over [`mxsend_core`], the sans-IO SMTP core: sockets, TLS (rustls),
//! DNS (a stub resolver over hickory-proto), and the delivery logic every runtime shares.
//!
//! Two ways to send, as a mail client or as a mail server would:
//! - [`Relay`]: submit to one server (host, port, TLS mode, credentials), one message or many
//!   over one connection;
//! - [`MxDelivery`]: deliver directly, each recipient domain to its MX hosts, trying exchanges
//!   and addresses in order until one accepts the session.
//!
//! Either way the result is a [`Report`] per message: one [`RecipientReport`] per recipient,
//! with its [`Outcome`](mxsend_core::session::Outcome) (delivered, rejected, deferred,
//! ambiguous, with the reply) and the host and address that answered. An [`Error`] is kept
//! for what stops everything (a bad message, an unreadable CA file or body).
//!
//! | module | what |
//! |---|---|
//! | [`blocking`] | std::net: `send`, `send_all`, `deliver` (feature `blocking`, on by default) |
//! | [`delivery`] | the runtime-agnostic delivery state machine: grouping, fallback, reports |
//! | [`tls`] | TLS modes, trust anchors, the opportunistic verifier |
//! | [`transcript`] | the line-by-line transcript hook, secrets redacted |
//! | [`dns`] | the stub resolver |
//! | [`message`] | [`Message`] and [`BodySource`] |
//! | [`compose`] | [`MessageBuilder`] → `Message<`[`ComposedBody`]`>`; [`RawMessageBody`] for ready messages |
//!
//! The message content is streamed from its source in 64 KiB chunks, only while the session
//! wants more: memory does not grow with the message size.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use mxsend_core as core;

mod attempt;
#[cfg(feature = "blocking")]
pub mod blocking;
pub mod compose;
pub mod config;
pub mod delivery;
pub mod dns;
mod error;
pub mod message;
pub mod tls;
pub mod transcript;

pub use compose::{Attachment, ComposeError, ComposedBody, MessageBuilder, RawMessageBody};
pub use config::{EhloName, MxDelivery, Relay, TranscriptHook};
pub use delivery::{RecipientReport, Report, Unreached};
pub use error::Error;
pub use message::{BodySource, Message};
pub use tls::TlsMode;
