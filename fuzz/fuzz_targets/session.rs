//! A whole client `Session` against arbitrary server bytes.
//!
//! Input layout:
//! - byte 0, the configuration: bits 0-1 the TLS policy (Disabled, Opportunistic, Required,
//!   Implicit); bit 2 PIPELINING; bit 3 CHUNKING; bit 4 credentials; bit 5
//!   allow_plaintext_auth; bit 6 an OAuth token instead of a password; bit 7 the second
//!   envelope asks for more (8BITMIME, SIZE, DSN, a UTF-8 recipient).
//! - byte 1: bits 0-5 the size of the pieces server bytes are fed in (0: each segment
//!   whole, else `b % 64 + 1`); bit 6 queues the second transaction and QUIT only once the
//!   session is established (instead of before the greeting); bit 7 hands the body over one
//!   octet per `send_body` call.
//! - byte 2, the protocol: bit 0 LMTP (RFC 2033) instead of SMTP; bit 1 SCRAM-SHA-256 set
//!   up (a fixed nonce, and a cheap stand-in for the hash functions: this target checks the
//!   session, not the cryptography, so the server's `v=` only ever matches by accident);
//!   bit 2 the transaction window off (no streaming); bit 3 the first envelope's size
//!   known (so it may stream too).
//! - the rest, the script: server bytes, with `0xFF` escapes for what else happens:
//!   `0xFF c n` advances the clock `4n` seconds, `0xFF d` jumps to the session's deadline,
//!   `0xFF e` is end of stream, `0xFF t` reports TLS up, `0xFF w n` lets each write of the
//!   transport take only `n` octets (0: all); any other escape only ends a segment.
//!
//! The client queues two transactions (2 and 3 recipients) and QUIT, and sends a fixed body (bare CR, bare LF, a leading dot, a lone-dot line, no final line
//! end) whenever the session wants one. At the end of the script the server hangs up.
//!
//! Checked, besides no panic and no usage error on what the session itself asked for:
//! - at most one `Closed`; nothing is generated for the wire after it;
//! - every transaction ends once, with one outcome per recipient; at the end (after the
//!   hang-up) the session is closed and every transaction has ended;
//! - the whole byte stream to the server has no bare CR or LF;
//! - under LMTP, LHLO and never EHLO or HELO; under SMTP, never LHLO;
//! - what goes out before TLS is up: under `Required`, only EHLO (LHLO), STARTTLS and QUIT lines;
//!   under any policy, no AUTH unless allow_plaintext_auth;
//! - after `DataAfterStartTls`, the stream ends with the STARTTLS line: nothing was
//!   generated after the server's 220;
//! - output is bounded: the bytes generated never exceed a fixed allowance (handshake and
//!   two transactions) plus a constant per input octet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::command::{BodyType, Notify, Ret};
use mxsend_core::sasl::{Credentials, ScramSetup, Secret};
use mxsend_core::scram::{ScramCrypto, DIGEST_LEN};
use mxsend_core::session::{
    DsnOptions, Envelope, Event, Protocol, Session, SessionConfig, SessionError, TlsPolicy,
    TransactionId, TransactionWindow, UsageError,
};
use mxsend_core::time::{Duration, Instant};
use mxsend_fuzz::{first_bare_cr_or_lf, show};
use std::collections::BTreeMap;

/// The message body, in two pieces cut right after a CR so the CRLF decision spans calls.
const BODY: [&[u8]; 2] = [
    b"Subject: fuzz\n\n.leading dot\r\n.\r\nbare CR\r",
    b"bare LF\nand\r\r\nlast line without a line end",
];

/// Allowance for everything but replies: greeting to QUIT, twice over, and both messages.
const FIXED_OUTPUT: usize = 16 * 1024;
/// Most octets one input octet can make the client send (a 4-octet reply may answer with a
/// command line of up to 512 octets, RFC 5321 §4.5.3.1.4).
const OUTPUT_PER_INPUT_OCTET: usize = 160;

/// `MXSEND_FUZZ_TRACE=1` prints events and the client's bytes (to read a seed or a finding).
fn trace() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("MXSEND_FUZZ_TRACE").is_some())
}

fn mailbox(s: &str) -> Mailbox {
    Mailbox::parse(s).expect("fixed test address")
}

fn config(byte: u8) -> SessionConfig {
    let mut config = SessionConfig::new(Domain::parse("client.example").expect("fixed"));
    config.tls = match byte & 3 {
        0 => TlsPolicy::Disabled,
        1 => TlsPolicy::Opportunistic,
        2 => TlsPolicy::Required,
        _ => TlsPolicy::Implicit,
    };
    config.pipelining = byte & 4 != 0;
    config.chunking = byte & 8 != 0;
    if byte & 16 != 0 {
        config.credentials = Some(Credentials {
            username: "user@example.org".into(),
            secret: if byte & 64 != 0 {
                Secret::OAuthToken("ya29.token".into())
            } else {
                Secret::Password("secret".into())
            },
        });
    }
    config.allow_plaintext_auth = byte & 32 != 0;
    config
}

/// Not SHA-256: a cheap, deterministic mix with the same shape, so the fuzzer spends its
/// time on the session rather than on hashing (see the input layout).
struct StandInHashes;

impl StandInHashes {
    fn mix(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
        let mut out = [0u8; DIGEST_LEN];
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (i, byte) in parts.iter().flat_map(|p| p.iter()).enumerate() {
            h = (h ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
            out[i % DIGEST_LEN] ^= h as u8;
        }
        out
    }
}

impl ScramCrypto for StandInHashes {
    fn sha256(&self, data: &[u8]) -> [u8; DIGEST_LEN] {
        Self::mix(&[data])
    }
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
        Self::mix(&[key, b"|", data])
    }
    fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> [u8; DIGEST_LEN] {
        Self::mix(&[password, salt, &iterations.to_be_bytes()])
    }
}

fn protocol(config: &mut SessionConfig, byte: u8) {
    if byte & 1 != 0 {
        config.protocol = Protocol::Lmtp;
    }
    if byte & 4 != 0 {
        config.window = TransactionWindow::OFF;
    }
    if byte & 2 != 0 {
        config.scram = Some(ScramSetup {
            crypto: std::sync::Arc::new(StandInHashes),
            nonce: "fyko+d2lbbFgONRv9qkxdawL".into(),
        });
    }
}

fn envelopes(byte: u8, protocol_byte: u8) -> [Envelope; 2] {
    let first = Envelope {
        from: ReversePath::Mailbox(mailbox("alice@example.org")),
        recipients: vec![mailbox("bob@example.test"), mailbox("carol@example.test")],
        size: (protocol_byte & 8 != 0).then(|| BODY.iter().map(|p| p.len() as u64).sum()),
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let second = if byte & 128 != 0 {
        Envelope {
            from: ReversePath::Mailbox(mailbox("alice@example.org")),
            recipients: vec![
                mailbox("dave@example.test"),
                mailbox("用户@example.test"),
                mailbox("frank@example.test"),
            ],
            size: Some(BODY.iter().map(|p| p.len() as u64).sum::<u64>() + 16),
            body: BodyType::EightBitMime,
            utf8_headers: true,
            dsn: DsnOptions {
                ret: Some(Ret::Headers),
                envid: Some("fuzz+id=1".into()),
                notify: Some(Notify::On {
                    success: false,
                    failure: true,
                    delay: true,
                }),
            },
        }
    } else {
        Envelope {
            from: ReversePath::Null,
            recipients: vec![
                mailbox("dave@example.test"),
                mailbox("erin@example.test"),
                mailbox("frank@example.test"),
            ],
            ..first.clone()
        }
    };
    [first, second]
}

/// The caller's side: the session, the clock, the transport, and what was seen.
struct Harness {
    session: Session,
    policy: TlsPolicy,
    allow_plaintext_auth: bool,
    lmtp: bool,
    now: Instant,
    /// Most octets one transport write takes (0: all).
    write_cap: usize,
    /// Every octet the transport took, in order.
    wire: Vec<u8>,
    /// Offset in the generated stream where TLS protection starts, once it does.
    secure_from: Option<usize>,
    /// Recipients per transaction, and how many outcomes each got (None: not ended).
    transactions: BTreeMap<TransactionId, (usize, Option<usize>)>,
    closed: Option<Option<SessionError>>,
    /// Octets generated when `Closed` was seen.
    generated_at_close: usize,
    /// The second envelope, held back until the session is established.
    deferred: Option<Envelope>,
    /// Hand the body over one octet per call.
    bytewise_body: bool,
    bound: usize,
}

impl Harness {
    fn generated(&self) -> usize {
        self.wire.len() + self.session.pending_transmit().len()
    }

    /// Everything the session generated, written or not.
    fn stream(&self) -> Vec<u8> {
        [&self.wire[..], self.session.pending_transmit()].concat()
    }

    /// Settle what the last call caused: events, bodies asked for, writes.
    fn pump(&mut self) {
        loop {
            while let Some(event) = self.session.poll_event() {
                self.on_event(event);
            }
            let mut progressed = false;
            if self.deferred.is_some() && (self.session.is_established() || self.closed.is_some()) {
                if let Some(envelope) = self.deferred.take() {
                    self.send_mail(envelope);
                }
                self.session.quit(self.now);
                progressed = true;
            }
            if self.session.wants_body() {
                for piece in BODY {
                    let pieces: Vec<&[u8]> = match self.bytewise_body {
                        true => piece.chunks(1).collect(),
                        false => vec![piece],
                    };
                    for piece in pieces {
                        self.session
                            .send_body(piece, self.now)
                            .unwrap_or_else(|e| panic!("send_body while wanted: {e}"));
                    }
                }
                self.session
                    .finish_body(self.now)
                    .unwrap_or_else(|e| panic!("finish_body while wanted: {e}"));
                progressed = true;
            }
            let pending = self.session.pending_transmit();
            let n = match self.write_cap {
                0 => pending.len(),
                cap => cap.min(pending.len()),
            };
            self.wire.extend_from_slice(&pending[..n]);
            self.session.advance_transmit(n);
            self.check_step();
            if !progressed {
                return;
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        if trace() {
            eprintln!("event: {event:?}");
        }
        assert!(self.closed.is_none(), "event after Closed: {event:?}");
        match event {
            Event::TransactionDone(id) => {
                let outcomes = self
                    .session
                    .outcomes(id)
                    .unwrap_or_else(|| panic!("{id:?}: no outcomes lent for its event"));
                // Each outcome names its recipient: its index, in envelope order.
                let count = outcomes.len();
                let envelope = outcomes.envelope();
                for (position, done) in outcomes.enumerate() {
                    assert_eq!(done.index, position, "{id:?}: outcomes in envelope order");
                    assert_eq!(Some(done.recipient), envelope.recipients.get(position));
                }
                let entry = self
                    .transactions
                    .get_mut(&id)
                    .unwrap_or_else(|| panic!("unknown transaction {id:?}"));
                assert!(entry.1.is_none(), "{id:?} ended twice");
                assert_eq!(count, entry.0, "{id:?}: one outcome per recipient");
                entry.1 = Some(count);
            }
            Event::Closed(error) => {
                if error == Some(SessionError::DataAfterStartTls) {
                    let stream = self.stream();
                    assert!(
                        stream.ends_with(b"STARTTLS\r\n"),
                        "generated after the STARTTLS 220: {}",
                        show(&stream)
                    );
                }
                self.generated_at_close = self.generated();
                self.closed = Some(error);
            }
            Event::StartTls | Event::Established => {}
            // Event is non_exhaustive: nothing else is produced today.
            other => panic!("unknown event {other:?}"),
        }
    }

    fn send_mail(&mut self, envelope: Envelope) {
        let recipients = envelope.recipients.len();
        match self.session.send_mail(envelope, self.now) {
            Ok(id) => {
                assert!(self.closed.is_none(), "send_mail accepted after Closed");
                self.transactions.insert(id, (recipients, None));
            }
            Err(UsageError::Closed) if self.closed.is_some() => {}
            Err(e) => panic!("fixed envelope refused: {e}"),
        }
    }

    fn check_step(&self) {
        let generated = self.generated();
        assert!(
            generated <= self.bound,
            "generated {generated} octets, bound {}",
            self.bound
        );
        if self.closed.is_some() {
            assert_eq!(generated, self.generated_at_close, "generated after Closed");
        }
    }

    fn tls_established(&mut self) {
        let before = self.generated();
        self.session.tls_established(self.now);
        if self.session.is_secure() && self.secure_from.is_none() {
            self.secure_from = Some(before);
        }
    }

    fn finish(mut self) {
        self.session.handle_eof(self.now);
        self.pump();
        assert!(
            self.session.is_closed(),
            "not closed after the server hung up"
        );
        assert!(self.closed.is_some(), "closed without a Closed event");
        for (id, (_, outcomes)) in &self.transactions {
            assert!(outcomes.is_some(), "{id:?} never ended");
        }

        let stream = self.stream();
        if trace() {
            eprintln!("client sent:\n{}", String::from_utf8_lossy(&stream));
        }
        if let Some(at) = first_bare_cr_or_lf(&stream) {
            panic!(
                "bare CR or LF at {at} in the stream to the server: {}",
                show(&stream)
            );
        }
        for line in stream.split(|&b| b == b'\n') {
            let hello = line.starts_with(b"EHLO ") || line.starts_with(b"HELO ");
            if self.lmtp {
                assert!(!hello, "EHLO or HELO under LMTP: {}", show(line));
            } else {
                assert!(
                    !line.starts_with(b"LHLO "),
                    "LHLO under SMTP: {}",
                    show(line)
                );
            }
        }
        let plaintext = &stream[..self.secure_from.unwrap_or(stream.len()).min(stream.len())];
        for line in plaintext.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if self.policy == TlsPolicy::Required {
                assert!(
                    line.starts_with(b"EHLO ")
                        || line.starts_with(b"LHLO ")
                        || line == b"STARTTLS"
                        || line == b"QUIT"
                        || line.is_empty(),
                    "sent before TLS under Required: {}",
                    show(line)
                );
            }
            if !self.allow_plaintext_auth {
                assert!(
                    !line.starts_with(b"AUTH "),
                    "AUTH before TLS: {}",
                    show(line)
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [config_byte, piece_byte, protocol_byte, script @ ..] = data else {
        return;
    };
    let mut config = config(*config_byte);
    protocol(&mut config, *protocol_byte);
    let piece = match piece_byte % 64 {
        0 => usize::MAX,
        b => usize::from(b) + 1,
    };
    let mut harness = Harness {
        policy: config.tls,
        allow_plaintext_auth: config.allow_plaintext_auth,
        lmtp: config.protocol == Protocol::Lmtp,
        session: Session::new(config, Instant::ZERO),
        now: Instant::ZERO,
        write_cap: 0,
        wire: Vec::new(),
        secure_from: None,
        transactions: BTreeMap::new(),
        closed: None,
        generated_at_close: 0,
        deferred: None,
        bytewise_body: piece_byte & 128 != 0,
        bound: FIXED_OUTPUT + OUTPUT_PER_INPUT_OCTET * data.len(),
    };
    if harness.session.is_secure() {
        harness.secure_from = Some(0);
    }
    let [first, second] = envelopes(*config_byte, *protocol_byte);
    harness.send_mail(first);
    if piece_byte & 64 != 0 {
        harness.deferred = Some(second);
    } else {
        harness.send_mail(second);
        harness.session.quit(harness.now);
    }
    harness.pump();

    let mut rest = script;
    while !rest.is_empty() {
        let end = rest.iter().position(|&b| b == 0xFF).unwrap_or(rest.len());
        let (segment, after) = rest.split_at(end);
        for chunk in segment.chunks(piece.min(segment.len()).max(1)) {
            harness.session.handle_input(chunk, harness.now);
            harness.pump();
        }
        rest = after;
        // An escape: 0xFF, its letter, maybe an argument.
        let Some((_, escape)) = rest.split_first() else {
            break;
        };
        let (op, arg, after) = match escape {
            [op @ (b'c' | b'w'), arg, after @ ..] => (*op, *arg, after),
            [op, after @ ..] => (*op, 0, after),
            [] => (0, 0, escape),
        };
        rest = after;
        match op {
            b'c' => {
                harness.now = harness
                    .now
                    .saturating_add(Duration::from_secs(4 * u64::from(arg)));
                harness.session.handle_timeout(harness.now);
            }
            b'd' => {
                if let Some(at) = harness.session.poll_timeout() {
                    harness.now = harness.now.max(at);
                }
                harness.session.handle_timeout(harness.now);
            }
            b'e' => harness.session.handle_eof(harness.now),
            b't' => harness.tls_established(),
            b'w' => harness.write_cap = usize::from(arg),
            _ => {}
        }
        harness.pump();
    }
    harness.finish();
});
