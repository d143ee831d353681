//! Harness for mxsend's end-to-end tests: starts real SMTP peers on loopback and hands them to tests.
//!
//! Every peer runs as a child of the test process, in its own temporary directory, on its own ports, so
//! tests may run in parallel threads; it is stopped and reaped when its handle is dropped (also when the
//! test panics). If a program is missing, starting the peer panics with "run scripts/install-peers".
//! The scripts behind the peers live in `tests/peers/` and can be run by hand.
//!
//! | peer | module | for |
//! |------|--------|-----|
//! | private Postfix (`postfix.sh`) | [`postfix`] | the real MTA: STARTTLS, implicit TLS, SIZE, DSN, SMTPUTF8, CHUNKING, Maildirs, port 25 on 127.0.0.x |
//! | `smtp-sink` | [`smtp_sink`] | speed, and faults on chosen commands (4xx, 5xx, 421, disconnects, delays) |
//! | aiosmtpd (`aiosmtpd_server.py`) | [`aiosmtpd`] | AUTH PLAIN/LOGIN, STARTTLS policy, per-recipient refusals, envelope log |
//! | test PKI (`pki.sh`) | [`pki`] | the CA to trust, and self-signed / unknown-CA / wrong-host / expired certificates |
//! | dnsmasq | [`dnsmasq`] | a real DNS server for MX scenarios (`peers/dnsmasq.conf`) |
//! | private Dovecot (`dovecot.sh`) | [`dovecot`] | LMTP on a Unix socket and TCP, per-recipient outcomes (unknown user, quota), SASL with SCRAM-SHA-256 for Postfix |
//! | dkimpy, OpenDKIM | [`dkim`] | two independent DKIM verifiers, keys from the test dnsmasq |
//!
//! [`mod@scenarios`] holds the end-to-end scenarios, written once and instantiated per adapter.
//!
//! ```no_run
//! use std::time::Duration;
//! use mxsend_tests::postfix::{Postfix, PostfixOptions};
//! use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
//! use mxsend_tests::smtp_sink::SmtpSink;
//!
//! // Postfix on 127.0.0.1: two free ports (plain+STARTTLS, implicit TLS), mailboxes alice, bob, jörg.
//! let postfix = Postfix::start(PostfixOptions::default());
//! let (addr, ca) = (postfix.smtp_addr(), &postfix.pki().ca_cert);
//! // ... send to bob@example.test through `addr`, trusting only `ca` ...
//! let message: Vec<u8> = postfix.wait_for_message("bob@example.test", Duration::from_secs(10));
//!
//! // An MX on port 25 of its own loopback address, serving an expired certificate.
//! let pki = mxsend_tests::pki::TestPki::generate();
//! let mx = Postfix::start(PostfixOptions {
//!     smtp: Some("127.0.0.3:25".parse().unwrap()),
//!     served_cert: Some(pki.expired.clone()),
//!     pki: Some(pki),
//!     ..PostfixOptions::default()
//! });
//!
//! // AUTH after STARTTLS, with the fixed credentials aiosmtpd::AUTH_USER / AUTH_PASSWORD.
//! let server = Aiosmtpd::start(AiosmtpdOptions { starttls: true, ..AiosmtpdOptions::default() }.with_auth());
//! // ... send to ok@x.test, reject1@x.test (550), defer1@x.test (451) ...
//! let envelopes = server.wait_for_envelopes(1, Duration::from_secs(10));
//! assert_eq!(envelopes[0].auth_user.as_deref(), Some(mxsend_tests::aiosmtpd::AUTH_USER));
//!
//! // A sink that answers every RCPT with 4xx.
//! let sink = SmtpSink::start(&["-r", "RCPT"], None);
//! # let _ = (message, mx, sink);
//! ```
//!
//! Timeouts are generous (start-up up to 30 s) because the test machines are small and shared.
//! Peers are children of the test process: if that process is killed (not panicking, killed), they
//! linger; `tests/peers/postfix.sh stop DIR` or `kill` cleans up.

pub mod aiosmtpd;
pub mod commands;
pub mod dkim;
pub mod dnsmasq;
pub mod dnssec;
pub mod dovecot;
pub mod hostile;
pub mod maildir;
pub mod mta_sts;
pub mod net;
pub mod outcomes;
pub mod pki;
pub mod postfix;
pub mod process;
pub mod raw;
pub mod scenarios;
pub mod smtp_sink;
pub mod streaming;

pub use net::{free_loopback_addr, free_port, wait_for_port};
