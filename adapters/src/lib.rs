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
//! with its [`Outcome`] (delivered, rejected, deferred, ambiguous, with the [`Reply`] or the
//! [`Failure`]; each prints itself, `Display`) and the host and address that answered. An [`Error`] is kept
//! for what stops everything (a bad message, an unreadable CA file or body).
//!
//! | module | what |
//! |---|---|
//! | [`blocking`] | std::net: `send`, `send_all`, `deliver` (feature `blocking`, on by default) |
//! | `smol` | the same functions, async, on smol (feature `smol`) |
//! | `async_std` | the same functions, async, on async-std (feature `async-std`, legacy) |
//! | `tokio` | the same functions, async, on tokio's sockets, timer and TLS (feature `tokio`) |
//! | `aio` | the async driver all three share, generic over the public `Runtime` trait (feature `aio`: plug in any runtime) |
//! | [`advanced`] | building blocks for a driver of one's own: the delivery state machine (grouping, fallback, reports), the DNS lookup machine |
//! | [`tls`] | TLS modes, trust anchors, pinned certificates and fingerprints, client certificates, the opportunistic verifier, typed TLS errors |
//! | [`transcript`] | the line-by-line transcript hook, secrets redacted |
//! | [`transport`] | the [`Transport`] trait (relay, MX delivery, queue routes), [`StubTransport`] and [`RecordingTransport`] for tests |
//! | [`dns`] | the stub resolver |
//! | [`mta_sts`] | MTA-STS (RFC 8461): the `_mta-sts` record, the policy fetched over HTTPS, its disk cache |
//! | [`requiretls`] | RFC 8689's `TLS-Required: No` header, found in a message's header block |
//! | [`dane`] | DANE (RFC 7672): secure TLSA records per MX host, the AD bit of a trusted resolver |
//! | [`security`] | the per-domain TLS policy of an MX delivery (MTA-STS) and how it is reported |
//! | [`dkim`] | DKIM signing of each message as it streams: [`DkimKey`], [`DkimSigner`] |
//! | [`message`] | [`Message`], [`BodySource`] and its async flavour `AsyncBodySource` |
//! | [`queue`] | the durable queue: spool directory, retries on a schedule, delivery status notifications |
//! | [`compose`] | [`MessageBuilder`] → `Message<`[`ComposedBody`]`>`; [`RawMessageBody`] for ready messages |
//!
//! The message content is streamed from its source in 64 KiB chunks, only while the session
//! wants more: memory does not grow with the message size.
//!
//! # Runtimes
//!
//! One API in four runtimes: `send`, `send_all` and `deliver` take the same [`Relay`],
//! [`MxDelivery`] and [`Message`] and give the same [`Report`] and [`Error`], and one suite of
//! end-to-end scenarios runs unchanged on all four, so their behaviour cannot drift apart.
//! Everything but the loop that moves bytes is shared; the async runtimes share that loop
//! too (`aio`), and differ only in their `aio::Runtime`: how they connect sockets, run a TLS
//! handshake and sleep. Any other runtime plugs in the same way (feature `aio`).
//!
//! - **blocking** (default): std::net, one connection at a time, MX domains one after the
//!   other.
//! - **smol**: async over futures-io; MX delivery works on several recipient domains at once
//!   ([`MxDelivery::concurrency`]), all inside the caller's task.
//! - **tokio**: as smol, on tokio's own sockets, timer and TLS (tokio-rustls), inside the
//!   caller's tokio runtime.
//! - **async-std** (legacy): as smol. async-std announced its discontinuation in 2025 in
//!   favour of smol; the feature is kept for existing users and is a thin layer over the
//!   shared driver. Prefer smol in new code: switching is a change of module path.
//!
//! With the blocking adapter, compose a message, send it, and print what happened to each
//! recipient (every name here is at the crate root):
//!
//! ```no_run
//! # #[cfg(feature = "blocking")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mxsend::{MessageBuilder, MxDelivery, Relay};
//!
//! let message = MessageBuilder::new()
//!     .from("alice@example.org")
//!     .to("bob@example.com")
//!     .to("carol@example.net")
//!     .subject("hello")
//!     .text("Hi both.")
//!     .build()?;
//!
//! // Through a submission server (STARTTLS required on 587, AUTH)...
//! let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
//! let report = mxsend::blocking::send(&relay, &message)?;
//! for recipient in &report {
//!     // "bob@example.com: delivered: 250 2.0.0 Ok (smtp.example.org [192.0.2.1]:587)"
//!     println!("{recipient}");
//! }
//! // ...or straight to each recipient domain's MX hosts.
//! let report = mxsend::blocking::deliver(&MxDelivery::new(), &message)?;
//! for recipient in report.failed() {
//!     let permanent = recipient.is_permanent();
//!     println!("{}: {} (permanent: {permanent})", recipient.mailbox, recipient.outcome);
//! }
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "blocking"))]
//! # fn main() {}
//! ```
//!
//! A message made elsewhere goes with its envelope ([`Envelope::new`]):
//!
//! ```
//! use mxsend::{Envelope, Mailbox, Message, ReversePath};
//!
//! let content = b"Subject: hello\r\n\r\nHi Bob.\r\n".to_vec();
//! let envelope = Envelope::new(
//!     ReversePath::parse("alice@example.org")?,
//!     [Mailbox::parse("bob@example.com")?],
//! )
//! .with_size_of(&content);
//! let message = Message::new(envelope, content);
//! # Ok::<(), mxsend::AddressError>(())
//! ```
//!
//! With smol (feature `smol`), the same calls awaited:
//!
//! ```no_run
//! # #[cfg(feature = "smol")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mxsend::{Envelope, Mailbox, Message, MxDelivery, Relay, ReversePath};
//! # let envelope = Envelope::new(
//! #     ReversePath::parse("alice@example.org")?,
//! #     [Mailbox::parse("bob@example.com")?],
//! # );
//!
//! let message = Message::new(envelope, b"Subject: hello\r\n\r\nHi Bob.\r\n".to_vec());
//! smol::block_on(async {
//!     let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
//!     let report = mxsend::smol::send(&relay, &message).await?;
//!     // Up to 8 recipient domains at once.
//!     let mx = MxDelivery::new().concurrency(8);
//!     let report = mxsend::smol::deliver(&mx, &message).await?;
//!     Ok::<_, mxsend::Error>(())
//! })?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "smol"))]
//! # fn main() {}
//! ```
//!
//! With async-std (feature `async-std`, legacy):
//!
//! ```no_run
//! # #[cfg(feature = "async-std")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mxsend::{Envelope, Mailbox, Message, Relay, ReversePath};
//! # let envelope = Envelope::new(
//! #     ReversePath::parse("alice@example.org")?,
//! #     [Mailbox::parse("bob@example.com")?],
//! # );
//!
//! let messages = vec![Message::new(envelope, b"Subject: hello\r\n\r\nHi Bob.\r\n".to_vec())];
//! let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
//! // Many messages over one connection, pipelined.
//! let reports = async_std::task::block_on(mxsend::async_std::send_all(&relay, &messages))?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "async-std"))]
//! # fn main() {}
//! ```
//!
//! Message content for the async adapters implements `AsyncBodySource` (bytes, strings and
//! files do): in-memory content is read in place, files on the blocking thread pool both
//! runtimes share, 64 KiB at a time.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The protocol core ([`mxsend_core`]): sessions, replies, addresses, MIME writing, the MX
/// policy. Named `protocol`, not `core`, so that it never shadows Rust's own `core`.
pub use mxsend_core as protocol;

// Everything that sends needs a driver; say so instead of failing on the parts that need one.
#[cfg(not(any(feature = "blocking", feature = "aio")))]
compile_error!(
    "mxsend needs a runtime feature: `blocking` (the default), `smol`, `async-std`, `tokio`, \
     or `aio` for a runtime of your own (the sans-IO protocol alone is the `mxsend-core` crate)"
);

#[cfg(feature = "aio")]
pub mod aio;
#[cfg(feature = "async-std")]
pub mod async_std;
#[cfg(any(feature = "blocking", feature = "aio"))]
mod attempt;
#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(any(feature = "blocking", feature = "aio"))]
pub mod client;
pub mod compose;
pub mod config;
pub mod dane;
mod delivery;
pub mod dkim;
pub mod dns;
mod error;
#[cfg(any(feature = "blocking", feature = "aio"))]
mod job;
pub mod message;
pub mod mta_sts;
pub mod queue;
pub mod requiretls;
pub mod scram;
pub mod security;
#[cfg(feature = "smol")]
pub mod smol;
pub mod spool;
pub mod tls;
#[cfg(feature = "tokio")]
pub mod tokio;
mod trace;
pub mod transcript;
pub mod transport;

pub use client::ClientStats;
pub use compose::{Attachment, ComposeError, ComposedBody, MessageBuilder, RawMessageBody};
pub use config::{EhloName, MxDelivery, Relay, TransactionEnd, TransactionHook, TranscriptHook};
pub use delivery::{RecipientReport, Report, Unreached};
pub use dkim::{DkimKey, DkimSigner};
pub use error::{Error, HostLookupError};
#[cfg(feature = "aio")]
pub use message::AsyncBodySource;
pub use message::{BodySource, Message, ReaderBody};
pub use mxsend_core::session::TransactionWindow;
pub use tls::TlsMode;
pub use transcript::{Transcript, TranscriptEvent};
pub use transport::{RecordingTransport, SentMessage, StubTransport, Transport};

// The core's types every caller meets, here so that no caller needs a submodule path for
// them: the envelope and its addresses, the outcomes and the replies inside them.
pub use mxsend_core::address::{AddressError, Mailbox, ReversePath};
pub use mxsend_core::reply::{EnhancedCode, Reply, ReplyCode};
pub use mxsend_core::session::{
    encoded_size, BodyError, DsnOptions, Envelope, Failure, Outcome, SessionError, Timeouts,
};

/// Building blocks for people who write their own driver (another runtime, a simulator),
/// not needed to send mail: the sans-IO delivery state machine ([`advanced::Delivery`]:
/// recipients grouped by domain; MX exchanges and addresses tried in order, moving on when a
/// connection, TLS or the session fails before a transaction ran, or MAIL got a 4xx, never
/// after a recipient's own answer; opportunistic TLS retried once in plaintext; every
/// recipient settled exactly once) and the DNS lookup machine under [`dns::Resolver`]
/// ([`advanced::Lookup`]). Their names say which machine they belong to, so none collides
/// with the crate root's.
pub mod advanced {
    pub use crate::delivery::{
        candidates, route_without_candidates, Action as DeliveryAction, Attempt as DeliveryAttempt,
        AttemptResult, Candidate, Delivery, GroupId, Task as DeliveryTask, TransactionOutcomes,
    };
    pub use crate::dns::lookup::{
        Action as LookupAction, Input as LookupInput, Lookup, Transmit as LookupTransmit,
        Transport as LookupTransport,
    };
}

/// The rustls this crate is built with, for callers who hand in their own
/// `ClientConfig` ([`Relay::tls_config`], [`MxDelivery::tls_config`]) or match its errors.
pub use rustls;
