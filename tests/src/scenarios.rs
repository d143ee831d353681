//! The end-to-end scenarios, written once and run against every adapter (blocking, smol,
//! async-std), so behaviour cannot drift between runtimes.
//!
//! Each scenario is a function taking `&dyn Adapter`. A test file instantiates a whole group
//! for its adapter with one macro call, e.g. `mxsend_tests::sink_scenarios!(Blocking);`, so a
//! scenario added here runs on every adapter without touching their files. The async
//! adapters block on their runtime's executor in each call: the scenarios stay synchronous
//! and identical.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxsend::dns::{Resolver, ResolverConfig};
use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope, Failure, Outcome, Phase, SessionError};
use mxsend::tls::TlsError;
use mxsend::transcript::TranscriptEvent;
use mxsend::{Error, Message, MxDelivery, Relay, Report, TlsMode, Unreached};

use crate::dnsmasq::Dnsmasq;
use crate::net::free_port;
use crate::smtp_sink::SmtpSink;

mod dovecot;
mod real;
pub use dovecot::*;
pub use real::*;

/// One runtime's way of running a delivery.
pub trait Adapter {
    /// Its name, for failure messages.
    fn name(&self) -> &'static str;
    /// `send` through a relay.
    fn send(&self, relay: &Relay, message: &Message<Vec<u8>>) -> Result<Report, Error>;
    /// `send_all` through a relay, over one connection.
    fn send_all(&self, relay: &Relay, messages: &[Message<Vec<u8>>]) -> Result<Vec<Report>, Error>;
    /// `deliver` to the recipients' MX hosts.
    fn deliver(&self, mx: &MxDelivery, message: &Message<Vec<u8>>) -> Result<Report, Error>;
}

/// The blocking adapter.
pub struct Blocking;

impl Adapter for Blocking {
    fn name(&self) -> &'static str {
        "blocking"
    }
    fn send(&self, relay: &Relay, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        mxsend::blocking::send(relay, message)
    }
    fn send_all(&self, relay: &Relay, messages: &[Message<Vec<u8>>]) -> Result<Vec<Report>, Error> {
        mxsend::blocking::send_all(relay, messages)
    }
    fn deliver(&self, mx: &MxDelivery, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        mxsend::blocking::deliver(mx, message)
    }
}

/// The smol adapter, each call run to completion with `smol::block_on`.
pub struct Smol;

impl Adapter for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn send(&self, relay: &Relay, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        smol::block_on(mxsend::smol::send(relay, message))
    }
    fn send_all(&self, relay: &Relay, messages: &[Message<Vec<u8>>]) -> Result<Vec<Report>, Error> {
        smol::block_on(mxsend::smol::send_all(relay, messages))
    }
    fn deliver(&self, mx: &MxDelivery, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        smol::block_on(mxsend::smol::deliver(mx, message))
    }
}

/// The async-std adapter (legacy), each call run with `async_std::task::block_on`.
pub struct AsyncStd;

impl Adapter for AsyncStd {
    fn name(&self) -> &'static str {
        "async-std"
    }
    fn send(&self, relay: &Relay, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        async_std::task::block_on(mxsend::async_std::send(relay, message))
    }
    fn send_all(&self, relay: &Relay, messages: &[Message<Vec<u8>>]) -> Result<Vec<Report>, Error> {
        async_std::task::block_on(mxsend::async_std::send_all(relay, messages))
    }
    fn deliver(&self, mx: &MxDelivery, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        async_std::task::block_on(mxsend::async_std::deliver(mx, message))
    }
}

/// The tokio adapter, each call run to completion on a current-thread tokio runtime (I/O and
/// time enabled; no other reactor).
pub struct Tokio;

impl Tokio {
    pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(future)
    }
}

impl Adapter for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn send(&self, relay: &Relay, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        Tokio::block_on(mxsend::tokio::send(relay, message))
    }
    fn send_all(&self, relay: &Relay, messages: &[Message<Vec<u8>>]) -> Result<Vec<Report>, Error> {
        Tokio::block_on(mxsend::tokio::send_all(relay, messages))
    }
    fn deliver(&self, mx: &MxDelivery, message: &Message<Vec<u8>>) -> Result<Report, Error> {
        Tokio::block_on(mxsend::tokio::deliver(mx, message))
    }
}

/// Instantiate the named scenarios as `#[test]`s for an adapter.
#[macro_export]
macro_rules! scenarios {
    ($adapter:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::scenarios::$name(&$adapter)
            }
        )*
    };
}

/// The smtp-sink scenarios (plaintext relay, faults, many messages, TLS/AUTH refusals).
#[macro_export]
macro_rules! sink_scenarios {
    ($adapter:expr) => {
        $crate::scenarios!($adapter;
            relay_plaintext_delivers_every_recipient,
            send_all_delivers_many_messages_over_one_connection,
            rcpt_4xx_defers_the_recipient,
            rcpt_5xx_rejects_the_recipient,
            mail_5xx_rejects_every_recipient,
            data_4xx_defers_every_recipient,
            disconnect_after_end_of_data_is_ambiguous,
            disconnect_after_mail_defers,
            service_closing_at_rcpt_defers_with_421,
            refused_greeting_rejects,
            plaintext_auth_is_refused_without_the_allow_flag,
            required_tls_without_starttls_sends_no_mail,
            refused_connection_defers_with_the_address,
            large_message_is_streamed,
            silent_server_times_out_at_the_greeting,
            silent_server_times_out_in_the_implicit_tls_handshake,
        );
    };
}

/// The MX scenarios (dnsmasq serving MX records, smtp-sinks at their addresses).
#[macro_export]
macro_rules! mx_scenarios {
    ($adapter:expr) => {
        $crate::scenarios!($adapter;
            mx_first_exchange_down_next_one_delivers,
            mx_all_exchanges_down_defers,
            null_mx_rejects_without_connecting,
            nxdomain_rejects_without_connecting,
            mx_reports_each_domain_separately,
            idn_domain_is_resolved_in_a_labels,
        );
    };
}

/// The scenarios against real servers (`scenarios/real.rs`): a private Postfix
/// (plaintext, STARTTLS verified and refused, implicit TLS, SIZE, SMTPUTF8, CHUNKING, DSN, messages
/// compared byte for byte from its Maildirs), aiosmtpd (AUTH PLAIN and LOGIN, per-recipient
/// refusals, the envelope log) and MX delivery through dnsmasq to a Postfix.
#[macro_export]
macro_rules! real_scenarios {
    ($adapter:expr) => {
        $crate::scenarios!($adapter;
            postfix_plaintext_delivers_crlf_message_intact,
            postfix_plaintext_delivers_lf_message_intact,
            postfix_leading_dots_survive_data,
            postfix_read_boundaries_are_seamless_crlf_data,
            postfix_read_boundaries_are_seamless_lf_data,
            postfix_read_boundaries_are_seamless_crlf_bdat,
            postfix_read_boundaries_are_seamless_lf_bdat,
            postfix_unterminated_last_line_is_ended_with_data,
            postfix_unterminated_last_line_is_ended_with_bdat,
            postfix_unknown_recipient_is_rejected_and_the_others_delivered,
            postfix_send_all_delivers_each_message_with_data,
            postfix_send_all_delivers_each_message_with_bdat,
            postfix_send_all_recovers_after_a_message_without_valid_recipients,
            postfix_required_starttls_verified_by_the_test_ca_delivers,
            postfix_required_starttls_without_the_ca_sends_no_mail,
            postfix_required_starttls_refuses_a_self_signed_certificate,
            postfix_required_starttls_refuses_a_wrong_host_certificate,
            postfix_required_starttls_refuses_an_expired_certificate,
            postfix_required_starttls_refuses_an_unknown_ca_certificate,
            postfix_required_starttls_verifies_the_host_name,
            postfix_implicit_tls_verified_delivers,
            postfix_implicit_tls_refuses_an_expired_certificate,
            postfix_opportunistic_starttls_accepts_a_self_signed_certificate,
            postfix_opportunistic_handshake_failure_falls_back_to_plaintext,
            postfix_size_is_declared_in_mail,
            postfix_message_over_size_limit_is_refused_before_sending,
            postfix_smtputf8_recipient_is_delivered_to_his_maildir,
            postfix_chunking_sends_bdat_and_the_message_arrives_intact,
            postfix_dsn_parameters_are_sent_and_honoured,
            aiosmtpd_auth_plain_after_starttls,
            aiosmtpd_auth_login_after_starttls,
            aiosmtpd_auth_over_implicit_tls,
            aiosmtpd_send_all_authenticates_once,
            aiosmtpd_mail_without_auth_is_refused_with_530,
            aiosmtpd_wrong_password_fails_with_535_quickly,
            aiosmtpd_plaintext_auth_is_refused_without_the_allow_flag,
            aiosmtpd_plaintext_auth_with_the_allow_flag_authenticates,
            aiosmtpd_per_recipient_results_in_one_message,
            aiosmtpd_data_554_rejects_every_recipient,
            aiosmtpd_envelope_shows_size_and_body_parameters,
            mx_delivers_to_postfix_at_the_exchange,
            mx_delivers_to_an_idn_domain_with_smtputf8,
            dovecot_lmtp_over_a_unix_socket_settles_each_recipient,
            dovecot_lmtp_over_tcp_settles_each_recipient,
            dovecot_lmtp_with_bdat_settles_each_recipient,
            dovecot_lmtp_send_all_matches_replies_across_pipelined_messages,
            postfix_dovecot_scram_sha256_is_preferred_and_delivers,
            postfix_dovecot_scram_sha256_wrong_password_fails_auth,
            unix_socket_that_does_not_exist_defers_naming_the_path,
        );
    };
}

/// The async adapters' concurrency across MX domains (the blocking adapter delivers one domain
/// after another, by design).
#[macro_export]
macro_rules! concurrent_mx_scenarios {
    ($adapter:expr) => {
        $crate::scenarios!($adapter;
            mx_domains_are_worked_on_concurrently_up_to_the_limit,
        );
    };
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A message from alice@example.org to `rcpts`, with a short body.
pub fn message(rcpts: &[&str]) -> Message<Vec<u8>> {
    message_with_body(
        rcpts,
        b"From: alice@example.org\r\nSubject: test\r\n\r\nHello.\r\n.leading dot\r\n".to_vec(),
    )
}

/// A message with this body.
pub fn message_with_body(rcpts: &[&str], body: Vec<u8>) -> Message<Vec<u8>> {
    let envelope = Envelope {
        from: ReversePath::parse("alice@example.org").expect("sender"),
        recipients: rcpts
            .iter()
            .map(|r| Mailbox::parse(r).expect("recipient"))
            .collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    Message::new(envelope, body)
}

/// A transcript kept as text lines: `-> cmd`, `<- reply`, `connect HOST ADDR`, `tls ...`.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    /// A hook that records into this capture.
    pub fn hook(&self) -> impl FnMut(TranscriptEvent<'_>) + Send + 'static {
        let lines = self.0.clone();
        move |event| {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let line = match event {
                TranscriptEvent::Connecting { host, addr } => format!("connect {host} {addr}"),
                TranscriptEvent::ConnectFailed { addr, .. } => format!("failed {addr}"),
                TranscriptEvent::Received(l) => format!("<- {}", s(l)),
                TranscriptEvent::Sent(l) => format!("-> {}", s(l)),
                TranscriptEvent::SentBody(l) => format!("body {}", s(l)),
                TranscriptEvent::TlsStarted { verified, .. } => format!("tls verified={verified}"),
                TranscriptEvent::TlsFailed { error } => format!("tls failed {error}"),
                _ => return,
            };
            if let Ok(mut lines) = lines.lock() {
                lines.push(line);
            }
        }
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The lines starting with `prefix`.
    pub fn starting_with(&self, prefix: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }
}

/// A plaintext relay to `addr`, recording its transcript.
pub fn plain_relay(addr: SocketAddr, captured: &Captured) -> Relay {
    let mut relay = Relay::new(addr.ip().to_string(), addr.port())
        .tls(TlsMode::None)
        .transcript(captured.hook());
    relay = relay.connect_timeout(Duration::from_secs(5));
    relay
}

fn code(outcome: &Outcome) -> Option<u16> {
    match outcome {
        Outcome::Delivered(r) => Some(r.code().get()),
        Outcome::Rejected(Failure::Reply(r))
        | Outcome::Deferred(Failure::Reply(r))
        | Outcome::Ambiguous(Failure::Reply(r)) => Some(r.code().get()),
        _ => None,
    }
}

fn assert_all(report: &Report, what: &str, ok: impl Fn(&Outcome) -> bool) {
    for r in &report.recipients {
        assert!(
            ok(&r.outcome),
            "{}: expected {what}, got {:?}",
            r.mailbox,
            r.outcome
        );
    }
}

fn one_sink_send(adapter: &dyn Adapter, flags: &[&str], rcpts: &[&str]) -> (Report, Captured) {
    let sink = SmtpSink::start(flags, None);
    let captured = Captured::default();
    let report = adapter
        .send(&plain_relay(sink.addr, &captured), &message(rcpts))
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    assert_eq!(report.recipients.len(), rcpts.len());
    (report, captured)
}

// ---------------------------------------------------------------------------------------------
// smtp-sink scenarios

/// Plaintext relay: every recipient delivered, with the host and address that answered.
pub fn relay_plaintext_delivers_every_recipient(adapter: &dyn Adapter) {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let report = adapter
        .send(
            &plain_relay(sink.addr, &captured),
            &message(&["bob@example.com", "carol@example.net"]),
        )
        .expect("send");
    assert!(report.all_delivered(), "{report:?}");
    for r in &report.recipients {
        assert_eq!(r.addr, Some(sink.addr));
        assert_eq!(r.host.as_deref(), Some("127.0.0.1"));
    }
    // Dot-stuffed on the wire, and pipelined: MAIL, both RCPTs and DATA before any reply.
    let lines = captured.lines();
    assert!(
        lines.contains(&"body ..leading dot".to_string()),
        "{lines:#?}"
    );
    let mail = lines
        .iter()
        .position(|l| l.starts_with("-> MAIL"))
        .expect("MAIL");
    assert_eq!(lines[mail + 3], "-> DATA", "{lines:#?}");
}

/// Many messages over one connection, each with its own outcomes.
pub fn send_all_delivers_many_messages_over_one_connection(adapter: &dyn Adapter) {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let messages: Vec<_> = (0..5)
        .map(|i| message(&[&format!("user{i}@example.com")]))
        .collect();
    let reports = adapter
        .send_all(&plain_relay(sink.addr, &captured), &messages)
        .expect("send_all");
    assert_eq!(reports.len(), 5);
    for (i, report) in reports.iter().enumerate() {
        assert!(report.all_delivered(), "message {i}: {report:?}");
        assert_eq!(
            report.recipients[0].mailbox.to_string(),
            format!("user{i}@example.com")
        );
    }
    assert_eq!(captured.starting_with("connect").len(), 1);
    assert_eq!(captured.starting_with("-> MAIL").len(), 5);
    assert_eq!(captured.starting_with("-> QUIT").len(), 1);
}

/// `-r RCPT`: each RCPT gets 4xx, so each recipient is deferred with that reply.
pub fn rcpt_4xx_defers_the_recipient(adapter: &dyn Adapter) {
    let (report, _) = one_sink_send(
        adapter,
        &["-r", "RCPT"],
        &["a@example.com", "b@example.com"],
    );
    assert_all(
        &report,
        "4xx deferral",
        |o| matches!(o, Outcome::Deferred(Failure::Reply(r)) if r.code().is_transient()),
    );
}

/// `-f RCPT`: 5xx, rejected.
pub fn rcpt_5xx_rejects_the_recipient(adapter: &dyn Adapter) {
    let (report, captured) = one_sink_send(adapter, &["-f", "RCPT"], &["a@example.com"]);
    assert_all(
        &report,
        "5xx rejection",
        |o| matches!(o, Outcome::Rejected(Failure::Reply(r)) if r.code().is_permanent()),
    );
    // No recipient accepted: no message content goes out.
    assert!(captured.starting_with("body").is_empty());
}

/// `-f MAIL`: every recipient rejected with MAIL's reply.
pub fn mail_5xx_rejects_every_recipient(adapter: &dyn Adapter) {
    let (report, _) = one_sink_send(
        adapter,
        &["-f", "MAIL"],
        &["a@example.com", "b@example.com"],
    );
    assert_all(&report, "5xx rejection", |o| {
        matches!(o, Outcome::Rejected(_))
    });
}

/// `-r DATA`: every recipient deferred.
pub fn data_4xx_defers_every_recipient(adapter: &dyn Adapter) {
    let (report, _) = one_sink_send(
        adapter,
        &["-r", "DATA"],
        &["a@example.com", "b@example.com"],
    );
    assert_all(
        &report,
        "deferral",
        |o| matches!(o, Outcome::Deferred(Failure::Reply(r)) if r.code().is_transient()),
    );
}

/// `-q .`: the server hangs up after the end of data without replying: ambiguous.
pub fn disconnect_after_end_of_data_is_ambiguous(adapter: &dyn Adapter) {
    let (report, _) = one_sink_send(adapter, &["-q", "."], &["a@example.com"]);
    assert_all(&report, "ambiguous", |o| matches!(o, Outcome::Ambiguous(_)));
}

/// `-q MAIL`: the server hangs up at MAIL: deferred, no reply of its own.
pub fn disconnect_after_mail_defers(adapter: &dyn Adapter) {
    let (report, _) = one_sink_send(adapter, &["-q", "MAIL"], &["a@example.com"]);
    assert_all(&report, "deferral by a closed connection", |o| {
        matches!(
            o,
            Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(_)))
        )
    });
}

/// `-Q RCPT`: 421 and hang up: deferred with the 421.
pub fn service_closing_at_rcpt_defers_with_421(adapter: &dyn Adapter) {
    let (report, _) = one_sink_send(adapter, &["-Q", "RCPT"], &["a@example.com"]);
    let first = &report.recipients[0];
    assert!(matches!(first.outcome, Outcome::Deferred(_)), "{first:?}");
    assert_eq!(code(&first.outcome), Some(421), "{first:?}");
}

/// `-f CONNECT`: a 5xx greeting, a refusal for good (`SessionError::is_permanent`):
/// rejected, no MAIL sent.
pub fn refused_greeting_rejects(adapter: &dyn Adapter) {
    let (report, captured) = one_sink_send(adapter, &["-f", "CONNECT"], &["a@example.com"]);
    assert_all(&report, "rejection by the greeting", |o| {
        matches!(
            o,
            Outcome::Rejected(Failure::Session(SessionError::GreetingRefused(_)))
        )
    });
    assert!(captured.starting_with("-> MAIL").is_empty());
}

/// Credentials over plaintext without the allow flag: nothing sent but QUIT, no AUTH line.
pub fn plaintext_auth_is_refused_without_the_allow_flag(adapter: &dyn Adapter) {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let relay = plain_relay(sink.addr, &captured).credentials("alice", "s3cret");
    let report = adapter
        .send(&relay, &message(&["a@example.com"]))
        .expect("send");
    assert_all(&report, "rejection for AUTH without TLS", |o| {
        matches!(
            o,
            Outcome::Rejected(Failure::Session(SessionError::AuthRequiresTls))
        )
    });
    let lines = captured.lines();
    assert!(captured.starting_with("-> AUTH").is_empty(), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("s3cret")), "{lines:#?}");
    assert!(captured.starting_with("-> MAIL").is_empty(), "{lines:#?}");
}

/// `required` against a server without STARTTLS: no MAIL, deferred with the reason.
pub fn required_tls_without_starttls_sends_no_mail(adapter: &dyn Adapter) {
    let sink = SmtpSink::start(&[], None);
    let captured = Captured::default();
    let relay = plain_relay(sink.addr, &captured).tls(TlsMode::Required);
    let report = adapter
        .send(&relay, &message(&["a@example.com"]))
        .expect("send");
    assert_all(&report, "deferral for missing STARTTLS", |o| {
        matches!(
            o,
            Outcome::Deferred(Failure::Session(SessionError::StartTlsUnavailable))
        )
    });
    assert!(captured.starting_with("-> MAIL").is_empty());
}

/// Nothing listening: deferred, with the address tried and the connect error.
pub fn refused_connection_defers_with_the_address(adapter: &dyn Adapter) {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let addr = SocketAddr::new(ip, free_port(ip));
    let captured = Captured::default();
    let report = adapter
        .send(&plain_relay(addr, &captured), &message(&["a@example.com"]))
        .expect("send");
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Deferred(_)), "{r:?}");
    assert_eq!(r.addr, Some(addr));
    assert!(matches!(r.unreached, Some(Unreached::Connect(_))), "{r:?}");
}

/// A 20 MB message goes through (streamed in chunks; the transcript shows every line).
pub fn large_message_is_streamed(adapter: &dyn Adapter) {
    let sink = SmtpSink::start(&[], None);
    let body: Vec<u8> = (0..400_000u32)
        .flat_map(|i| format!("line {i:08} of a large message, fifty octets long\n").into_bytes())
        .collect();
    assert!(body.len() > 20_000_000);
    let captured = Captured::default();
    let report = adapter
        .send(
            &plain_relay(sink.addr, &captured),
            &message_with_body(&["a@example.com"], body),
        )
        .expect("send");
    assert!(report.all_delivered(), "{report:?}");
    assert_eq!(captured.starting_with("body").len(), 400_000);
}

/// A server that accepts the connection and never says a word (the kernel completes the
/// handshake; nobody reads). Dropping it closes the port.
fn silent_server() -> (std::net::TcpListener, SocketAddr) {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("local address");
    (listener, addr)
}

/// The greeting deadline, not the peer, ends a session with a silent server: deferred as a
/// greeting timeout, and on time.
pub fn silent_server_times_out_at_the_greeting(adapter: &dyn Adapter) {
    let (_listener, addr) = silent_server();
    let captured = Captured::default();
    let mut relay = plain_relay(addr, &captured);
    relay = relay.clone().timeouts(mxsend::Timeouts {
        greeting: Duration::from_millis(300),
        ..relay.phase_timeouts()
    });
    let started = std::time::Instant::now();
    let report = adapter
        .send(&relay, &message(&["a@example.com"]))
        .expect("send");
    let elapsed = started.elapsed();
    assert_all(&report, "deferral by the greeting timeout", |o| {
        matches!(
            o,
            Outcome::Deferred(Failure::Session(SessionError::Timeout(Phase::Greeting)))
        )
    });
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

/// Implicit TLS against a silent server: the handshake is bounded by the greeting deadline
/// and fails as a TLS failure, naming the timeout.
pub fn silent_server_times_out_in_the_implicit_tls_handshake(adapter: &dyn Adapter) {
    let (_listener, addr) = silent_server();
    let captured = Captured::default();
    let mut relay = plain_relay(addr, &captured).tls(TlsMode::Implicit);
    relay = relay.clone().timeouts(mxsend::Timeouts {
        greeting: Duration::from_millis(300),
        ..relay.phase_timeouts()
    });
    let started = std::time::Instant::now();
    let report = adapter
        .send(&relay, &message(&["a@example.com"]))
        .expect("send");
    let elapsed = started.elapsed();
    let r = &report.recipients[0];
    assert!(
        matches!(&r.unreached, Some(Unreached::Tls(TlsError::TimedOut))),
        "{r:?}"
    );
    assert_eq!(r.outcome, Outcome::Deferred(Failure::Unreached), "{r:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

// ---------------------------------------------------------------------------------------------
// MX scenarios: dnsmasq serves tests/peers/dnsmasq.conf; sinks listen where the records point.

pub fn mx_delivery(dns: &Dnsmasq, port: u16, captured: &Captured) -> MxDelivery {
    let resolver = Resolver::new(ResolverConfig {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..ResolverConfig::with_servers(vec![dns.addr()])
    });
    let mut mx = MxDelivery::new()
        .resolver(resolver)
        .port(port)
        .transcript(captured.hook());
    mx = mx.connect_timeout(Duration::from_secs(5));
    mx
}

pub fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A port free on every address given.
pub fn common_free_port(ips: &[IpAddr]) -> u16 {
    loop {
        let port = free_port(ips[0]);
        if ips
            .iter()
            .all(|ip| std::net::TcpListener::bind(SocketAddr::new(*ip, port)).is_ok())
        {
            return port;
        }
    }
}

/// example.test: mx1 (preference 10, nothing listening) is tried first; one of mx2a/b/c
/// (preference 20, sinks listening) delivers, and the report names it.
pub fn mx_first_exchange_down_next_one_delivers(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let ips = [v4(11), v4(21), v4(22), v4(23)];
    let port = common_free_port(&ips);
    let _sinks: Vec<SmtpSink> = ips[1..]
        .iter()
        .map(|ip| SmtpSink::start(&[], Some(SocketAddr::new(*ip, port))))
        .collect();
    let captured = Captured::default();
    let report = adapter
        .deliver(
            &mx_delivery(&dns, port, &captured),
            &message(&["alice@example.test"]),
        )
        .expect("deliver");
    let r = &report.recipients[0];
    assert!(
        matches!(r.outcome, Outcome::Delivered(_)),
        "{r:?}\n{:#?}",
        captured.lines()
    );
    let host = r.host.clone().unwrap_or_default();
    assert!(
        [
            "mx2a.example.test",
            "mx2b.example.test",
            "mx2c.example.test"
        ]
        .contains(&host.as_str()),
        "{host}"
    );
    assert_eq!(r.addr.map(|a| a.port()), Some(port));
    let connects = captured.starting_with("connect");
    assert!(
        connects[0].starts_with("connect mx1.example.test"),
        "{connects:#?}"
    );
}

/// nomx.test: the implicit MX, nothing listening at its address: deferred with that address.
pub fn mx_all_exchanges_down_defers(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let port = common_free_port(&[v4(51)]);
    let captured = Captured::default();
    let report = adapter
        .deliver(
            &mx_delivery(&dns, port, &captured),
            &message(&["bob@nomx.test"]),
        )
        .expect("deliver");
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Deferred(_)), "{r:?}");
    assert_eq!(r.host.as_deref(), Some("nomx.test"));
    assert_eq!(r.addr, Some(SocketAddr::new(v4(51), port)));
    assert!(matches!(r.unreached, Some(Unreached::Connect(_))));
}

/// nullmx.test publishes `0 .`: rejected (556 5.1.10) with no connection at all, although the
/// domain has an address record.
pub fn null_mx_rejects_without_connecting(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let port = common_free_port(&[v4(41)]);
    let _trap = SmtpSink::start(&[], Some(SocketAddr::new(v4(41), port)));
    let captured = Captured::default();
    let report = adapter
        .deliver(
            &mx_delivery(&dns, port, &captured),
            &message(&["bob@nullmx.test"]),
        )
        .expect("deliver");
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Rejected(_)), "{r:?}");
    assert_eq!(r.outcome, Outcome::Rejected(Failure::Unreached), "{r:?}");
    assert_eq!(r.host, None);
    assert!(
        captured.starting_with("connect").is_empty(),
        "{:#?}",
        captured.lines()
    );
}

/// nx.test does not exist: rejected (no server replied: `Failure::Unreached`), no connection.
pub fn nxdomain_rejects_without_connecting(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let captured = Captured::default();
    let report = adapter
        .deliver(
            &mx_delivery(&dns, 25, &captured),
            &message(&["bob@nx.test"]),
        )
        .expect("deliver");
    let r = &report.recipients[0];
    assert!(matches!(r.outcome, Outcome::Rejected(_)), "{r:?}");
    assert_eq!(r.outcome, Outcome::Rejected(Failure::Unreached), "{r:?}");
    assert!(matches!(r.unreached, Some(Unreached::Route(_))));
    assert!(captured.starting_with("connect").is_empty());
}

/// One delivery, three domains: each recipient's own outcome and host, in envelope order.
pub fn mx_reports_each_domain_separately(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let port = common_free_port(&[v4(61), v4(51)]);
    let _sink = SmtpSink::start(&[], Some(SocketAddr::new(v4(61), port)));
    let captured = Captured::default();
    let report = adapter
        .deliver(
            &mx_delivery(&dns, port, &captured),
            &message(&["a@cname.test", "b@nullmx.test", "c@CNAME.test"]),
        )
        .expect("deliver");
    let hosts: Vec<Option<&str>> = report
        .recipients
        .iter()
        .map(|r| r.host.as_deref())
        .collect();
    assert_eq!(
        hosts,
        [Some("alias.cname.test"), None, Some("alias.cname.test")]
    );
    assert!(matches!(
        report.recipients[0].outcome,
        Outcome::Delivered(_)
    ));
    assert!(matches!(report.recipients[1].outcome, Outcome::Rejected(_)));
    assert!(matches!(
        report.recipients[2].outcome,
        Outcome::Delivered(_)
    ));
    // One session for the two cname.test recipients.
    assert_eq!(captured.starting_with("connect").len(), 1);
}

/// bücher.test is looked up as xn--bcher-kva.test; its exchange answers. The local part is
/// ASCII, so the address goes as `leser@xn--bcher-kva.test` and smtp-sink (no SMTPUTF8)
/// takes it: proof the U-label domain was resolved, reached, and sent as A-labels.
pub fn idn_domain_is_resolved_in_a_labels(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let port = common_free_port(&[v4(71)]);
    let _sink = SmtpSink::start(&[], Some(SocketAddr::new(v4(71), port)));
    let captured = Captured::default();
    let report = adapter
        .deliver(
            &mx_delivery(&dns, port, &captured),
            &message(&["leser@bücher.test"]),
        )
        .expect("deliver");
    let r = &report.recipients[0];
    assert_eq!(r.host.as_deref(), Some("mx.xn--bcher-kva.test"), "{r:?}");
    assert!(matches!(r.outcome, Outcome::Delivered(_)), "{r:?}");
    assert_eq!(
        captured.starting_with("-> RCPT"),
        ["-> RCPT TO:<leser@xn--bcher-kva.test>"],
        "{:#?}",
        captured.lines()
    );
}

/// Two domains whose exchanges accept and never greet (nomx.test at .51, cname.test at .61),
/// a 1 s greeting deadline: with the default concurrency both wait at once (about 1 s in
/// all); with `concurrency(1)` one after the other (2 s at least). Outcomes are the same.
pub fn mx_domains_are_worked_on_concurrently_up_to_the_limit(adapter: &dyn Adapter) {
    let dns = Dnsmasq::start();
    let port = common_free_port(&[v4(51), v4(61)]);
    let _silent: Vec<std::net::TcpListener> = [v4(51), v4(61)]
        .iter()
        .map(|ip| std::net::TcpListener::bind(SocketAddr::new(*ip, port)).expect("bind"))
        .collect();
    let greeting = Duration::from_secs(1);
    let run = |concurrency: usize| {
        let captured = Captured::default();
        let mut mx = mx_delivery(&dns, port, &captured).concurrency(concurrency);
        mx = mx.clone().timeouts(mxsend::Timeouts {
            greeting,
            ..mx.phase_timeouts()
        });
        let started = std::time::Instant::now();
        let report = adapter
            .deliver(&mx, &message(&["a@nomx.test", "b@cname.test"]))
            .expect("deliver");
        assert_all(&report, "deferral by the greeting timeout", |o| {
            matches!(
                o,
                Outcome::Deferred(Failure::Session(SessionError::Timeout(Phase::Greeting)))
            )
        });
        started.elapsed()
    };
    let together = run(4);
    assert!(
        together < greeting * 2 - Duration::from_millis(200),
        "{together:?}"
    );
    let one_by_one = run(1);
    assert!(one_by_one >= greeting * 2, "{one_by_one:?}");
}
