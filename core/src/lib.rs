//! # mxsend-core: SMTP as pure functions over bytes
//!
//! The protocol half of [mxsend](https://example.invalid/mxsend): everything an SMTP client
//! decides, with nothing it does. No sockets, no clock, no randomness, no dependencies:
//! `#![no_std]` with `alloc`, and `#![forbid(unsafe_code)]`. Bytes from the server go in,
//! bytes for the server and events come out; the current time and random numbers are
//! arguments. That makes every layer deterministic, so it can be fuzzed, property-tested
//! and embedded in any runtime.
//!
//! One module, one concept:
//!
//! | module | what | RFC |
//! |---|---|---|
//! | [`reply`] | incremental, bounded reply parser | 5321 §4.2, 3463, 2034 |
//! | [`command`] | command encoder (EHLO … QUIT, ESMTP parameters) | 5321 §4.1, 1870, 6152, 6531, 3461, 3030, 4954 |
//! | [`address`] | mailboxes, domains, address literals, paths | 5321 §4.1.2, 6531 |
//! | [`capabilities`] | EHLO keywords to typed capabilities | 5321 §4.1.1.1 and the extension RFCs |
//! | [`transparency`] | DATA dot-stuffing and CRLF normalisation, streaming | 5321 §4.5.2, §2.3.8 |
//! | [`base64`] | base64, one-shot and streaming with line wrapping | 4648, 2045 §6.8 |
//! | [`sasl`] | client side of PLAIN, LOGIN, XOAUTH2, SCRAM-SHA-256; mechanism choice | 4954, 4616 |
//! | [`scram`] | the SCRAM-SHA-256 exchange, hash functions supplied by the caller | 5802, 7677 |
//! | [`session`] | the client session state machine | 5321, 2920, 3207, 3030 |
//! | [`mx`] | where to send: MX selection policy | 5321 §5.1, 7505 |
//! | [`message`] | streaming RFC 5322 / MIME message writer | 5322, 2045–2047, 2231 |
//! | [`dkim`] | DKIM canonicalization and the DKIM-Signature text, streamed (hash and key from the caller) | 6376, 8463, 8058 |
//! | [`time`] | the caller-supplied monotonic clock type | |
//!
//! What it deliberately is not: a socket, a TLS stack, a DNS resolver or a timer. Those
//! live in the `mxsend` crate (blocking std::net, smol, async-std), which wires this core
//! to them, and in anything else you write around it.
//!
//! ## Driving a session by hand
//!
//! The server's side is played here by canned replies; an adapter would read them from a
//! socket and write [`session::Session::pending_transmit`] to it.
//!
//! ```
//! use mxsend_core::address::{Domain, Mailbox, ReversePath};
//! use mxsend_core::command::BodyType;
//! use mxsend_core::session::{DsnOptions, Envelope, Event, OutcomeRef, Session, SessionConfig, TlsPolicy};
//! use mxsend_core::time::Instant;
//!
//! let mut config = SessionConfig::new(Domain::parse("client.example").unwrap());
//! config.tls = TlsPolicy::Disabled;
//! let now = Instant::ZERO; // the caller's clock; a real adapter passes the time of each call
//! let mut session = Session::new(config, now);
//!
//! // Queue a message before the server has even greeted us.
//! let envelope = Envelope {
//!     from: ReversePath::Mailbox(Mailbox::parse("alice@example.org").unwrap()),
//!     recipients: vec![Mailbox::parse("bob@example.test").unwrap()],
//!     size: None,
//!     body: BodyType::SevenBit,
//!     utf8_headers: false,
//!     dsn: DsnOptions::default(),
//! };
//! session.send_mail(envelope, now).unwrap();
//! session.quit(now);
//!
//! // Take what the session wants written, as one write.
//! let mut take = |s: &mut Session| {
//!     let out = String::from_utf8(s.pending_transmit().to_vec()).unwrap();
//!     s.advance_transmit(out.len());
//!     out
//! };
//!
//! session.handle_input(b"220 mx.example.test ESMTP\r\n", now);
//! assert_eq!(take(&mut session), "EHLO client.example\r\n");
//!
//! session.handle_input(b"250-mx.example.test\r\n250 PIPELINING\r\n", now);
//! // PIPELINING: MAIL, RCPT and DATA leave in one write.
//! assert_eq!(
//!     take(&mut session),
//!     "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
//! );
//!
//! session.handle_input(b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 Go ahead\r\n", now);
//! assert!(session.wants_body());
//! session.send_body(b"Subject: hello\n\n.a line with a leading dot\n", now).unwrap();
//! session.finish_body(now).unwrap();
//! // Line ends normalised, the dot stuffed, the end of data and QUIT in one write.
//! assert_eq!(
//!     take(&mut session),
//!     "Subject: hello\r\n\r\n..a line with a leading dot\r\n.\r\nQUIT\r\n"
//! );
//!
//! session.handle_input(b"250 2.0.0 Ok: queued as 4F2A\r\n221 2.0.0 Bye\r\n", now);
//! let mut delivered = 0;
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         // The outcomes are lent until the next poll_event, one per recipient with its
//!         // index in the envelope (`to_vec` keeps owned ones).
//!         Event::TransactionDone(id) => {
//!             for done in session.outcomes(id).into_iter().flatten() {
//!                 assert_eq!((done.index, done.recipient.to_string()), (0, "bob@example.test".into()));
//!                 if let OutcomeRef::Delivered(reply) = done.outcome {
//!                     assert_eq!(reply.code().get(), 250);
//!                     delivered += 1;
//!                 }
//!             }
//!         }
//!         Event::Closed(error) => assert!(error.is_none()),
//!         _ => {}
//!     }
//! }
//! assert_eq!(delivered, 1);
//! assert!(session.is_closed());
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod address;
pub mod base64;
pub mod capabilities;
pub mod command;
pub mod dkim;
pub mod message;
pub mod mx;
pub mod reply;
pub mod retry;
pub mod sasl;
pub mod scram;
pub mod session;
pub mod time;
pub mod transparency;
