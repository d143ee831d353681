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
//! | [`sasl`] | client side of PLAIN, LOGIN, XOAUTH2 | 4954, 4616 |
//! | [`session`] | the client session state machine | 5321, 2920, 3207, 3030 |
//! | [`mx`] | where to send: MX selection policy | 5321 §5.1, 7505 |
//! | [`message`] | streaming RFC 5322 / MIME message writer | 5322, 2045–2047, 2231 |
//! | [`time`] | the caller-supplied monotonic clock type | |
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod address;
pub mod base64;
pub mod capabilities;
pub mod command;
pub mod message;
pub mod mx;
pub mod reply;
pub mod sasl;
pub mod session;
pub mod time;
pub mod transparency;
