//! Heap allocations per steady-state transaction of a `session::Session`
//! (BENCHMARKS.md, "Micro"; target: zero), and per `address::Mailbox` clone.
//!
//! A counting global allocator wraps the system one. One session is opened (greeting,
//! EHLO) and then runs many transactions against canned server replies, in the two ways
//! the session sends a message: `data` (EHLO with PIPELINING, no CHUNKING: MAIL, RCPT and
//! DATA in one write, the body after the 354) and `bdat` (PIPELINING and CHUNKING: the
//! default window streams MAIL, RCPT and `BDAT n LAST` with the content in one write), and
//! `lmtp` (as `data` over LMTP: one 250 per recipient after the end of data).
//! After a warm-up, the counter is read between every call into the session, so each
//! allocation is charged to the call (the phase) that made it, with no backtraces. Each
//! transaction ends with the caller reading every recipient's borrowed outcome
//! (`Session::outcomes`). Envelopes are built before counting starts: they are the
//! caller's allocations, not the session's.
//!
//! Output: one `alloc <name> <phase> <allocations per transaction>` line per phase and a
//! `total`, one `clone mailbox <allocations per clone>` line, for scripts/bench-micro,
//! then a readable table.

use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::session::{
    DsnOptions, Envelope, Event, Protocol, Session, SessionConfig, TlsPolicy,
};
use mxsend_core::time::Instant;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// The system allocator, counting every allocation (a `realloc` counts as one: it may move).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract; the
// counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WARM_UP: usize = 200;
const MEASURED: usize = 2_000;

const GREETING: &[u8] = b"220 mx.example.test ESMTP Postfix\r\n";
/// Postfix's EHLO reply without CHUNKING: DATA, pipelined.
const EHLO_DATA: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
250-DSN\r\n250 SMTPUTF8\r\n";
/// With CHUNKING too: streamed BDAT, the session's default against such a server.
const EHLO_BDAT: &[u8] = b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n\
250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n";
const MAIL_OK: &[u8] = b"250 2.1.0 Ok\r\n";
const RCPT_OK: &[u8] = b"250 2.1.5 Ok\r\n";
const DATA_GO: &[u8] = b"354 End data with <CR><LF>.<CR><LF>\r\n";
const QUEUED: &[u8] = b"250 2.0.0 Ok: queued as 4F2B81C0A3E\r\n";
const BODY: &[u8] = b"From: alice@example.org\r\nTo: bob@example.test\r\nSubject: hi\r\n\r\n\
A short message, with a\n.leading dot on its second line.\n";

/// How the message goes: DATA after its 354, streamed BDAT, or LMTP (DATA, then one 250
/// per recipient, each its own outcome).
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Data,
    Bdat,
    Lmtp,
}

/// The calls of one transaction, in order; allocations are charged to each. BDAT has no
/// 354 (its phase stays 0).
const PHASES: [&str; 8] = [
    "send_mail",
    "send_body",
    "finish_body",
    "reply MAIL 250",
    "reply RCPT 250 (all)",
    "reply DATA 354",
    "reply end-of-data 250",
    "poll_event + outcomes",
];

fn envelope(recipients: usize) -> Envelope {
    let mailbox = |s: &str| Mailbox::parse(s).expect("benchmark address");
    Envelope {
        from: ReversePath::Mailbox(mailbox("alice@example.org")),
        recipients: (0..recipients)
            .map(|i| mailbox(&format!("user{i}@example.test")))
            .collect(),
        size: Some(BODY.len() as u64),
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    }
}

fn drain_transmit(session: &mut Session) {
    let n = session.pending_transmit().len();
    session.advance_transmit(n);
}

/// Run one transaction, adding each phase's allocations to `counts`.
fn transaction(
    session: &mut Session,
    mode: Mode,
    envelope: Envelope,
    recipients: usize,
    counts: &mut [u64; 8],
) {
    let now = Instant::ZERO;
    let mut last = ALLOCATIONS.load(Ordering::Relaxed);
    let mut charge = |phase: usize| {
        let current = ALLOCATIONS.load(Ordering::Relaxed);
        counts[phase] += current - last;
        last = current;
    };
    let body = |session: &mut Session, charge: &mut dyn FnMut(usize)| {
        assert!(session.wants_body(), "session should want the body");
        session.send_body(BODY, now).expect("body wanted");
        charge(1);
        session.finish_body(now).expect("body wanted");
        drain_transmit(session);
        charge(2);
    };
    session.send_mail(envelope, now).expect("valid envelope");
    drain_transmit(session);
    charge(0);
    if mode == Mode::Bdat {
        // Streamed: the content follows MAIL and RCPT at once.
        body(session, &mut charge);
    }
    session.handle_input(MAIL_OK, now);
    charge(3);
    for _ in 0..recipients {
        session.handle_input(RCPT_OK, now);
    }
    charge(4);
    if mode != Mode::Bdat {
        session.handle_input(DATA_GO, now);
        charge(5);
        body(session, &mut charge);
    }
    let replies = if mode == Mode::Lmtp { recipients } else { 1 };
    for _ in 0..replies {
        session.handle_input(QUEUED, now);
    }
    charge(6);
    match session.poll_event() {
        Some(Event::TransactionDone(id)) => {
            // Borrowed: each recipient's index, mailbox and outcome, the reply's text in
            // the session's reused buffer.
            let outcomes = session
                .outcomes(id)
                .expect("outcomes of a finished transaction");
            assert_eq!(outcomes.len(), recipients);
            for (position, done) in outcomes.enumerate() {
                assert_eq!(done.index, position);
                assert!(done.outcome.is_delivered());
                assert_eq!(done.outcome.reply().map(|r| r.code().get()), Some(250));
                std::hint::black_box(done.recipient);
            }
        }
        other => panic!("expected a finished transaction, got {other:?}"),
    }
    assert!(session.poll_event().is_none());
    charge(7);
}

fn run(mode: Mode, recipients: usize) -> ([u64; 8], u64) {
    let mut config = SessionConfig::new(Domain::parse("client.example").expect("a domain"));
    config.tls = TlsPolicy::Disabled;
    if mode == Mode::Lmtp {
        config.protocol = Protocol::Lmtp;
    }
    let now = Instant::ZERO;
    let mut session = Session::new(config, now);
    session.handle_input(GREETING, now);
    drain_transmit(&mut session);
    session.handle_input(
        match mode {
            Mode::Data | Mode::Lmtp => EHLO_DATA,
            Mode::Bdat => EHLO_BDAT,
        },
        now,
    );
    assert!(matches!(session.poll_event(), Some(Event::Established)));

    let mut envelopes: Vec<Envelope> = (0..WARM_UP + MEASURED)
        .map(|_| envelope(recipients))
        .collect();
    let mut ignored = [0; 8];
    for _ in 0..WARM_UP {
        let e = envelopes.pop().expect("enough envelopes");
        transaction(&mut session, mode, e, recipients, &mut ignored);
    }
    let mut counts = [0; 8];
    let bytes_before = BYTES.load(Ordering::Relaxed);
    for _ in 0..MEASURED {
        let e = envelopes.pop().expect("enough envelopes");
        transaction(&mut session, mode, e, recipients, &mut counts);
    }
    let bytes = BYTES.load(Ordering::Relaxed) - bytes_before;
    (counts, bytes)
}

/// Allocations per `Mailbox` clone (a local part and a domain name; an address literal
/// has no text to share but the local part).
fn mailbox_clones() -> f64 {
    let mailboxes = [
        Mailbox::parse("user0@example.test").expect("an address"),
        Mailbox::parse("\"john smith\"@mail.example.org").expect("an address"),
        Mailbox::parse("bob@[192.0.2.1]").expect("an address"),
    ];
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..MEASURED {
        for mailbox in &mailboxes {
            let clone = std::hint::black_box(mailbox.clone());
            assert_eq!(&clone, mailbox);
        }
    }
    let count = ALLOCATIONS.load(Ordering::Relaxed) - before;
    count as f64 / (MEASURED * mailboxes.len()) as f64
}

fn main() {
    // `cargo bench` passes `--bench` (and perhaps a filter); nothing here takes arguments.
    let per_tx = |n: u64| n as f64 / MEASURED as f64;
    let mut table = String::new();
    for (mode, label) in [
        (Mode::Data, "data"),
        (Mode::Bdat, "bdat"),
        (Mode::Lmtp, "lmtp"),
    ] {
        for recipients in [1, 3] {
            let name = format!("{label}-{recipients}rcpt");
            let (counts, bytes) = run(mode, recipients);
            let total: u64 = counts.iter().sum();
            for (phase, count) in PHASES.iter().zip(counts) {
                println!(
                    "alloc {name} {} {:.2}",
                    phase.replace(' ', "_"),
                    per_tx(count)
                );
                table.push_str(&format!("{name:>11}  {phase:<30} {:>6.2}\n", per_tx(count)));
            }
            println!("alloc {name} total {:.2}", per_tx(total));
            println!("alloc {name} bytes {:.0}", per_tx(bytes));
            table.push_str(&format!(
                "{name:>11}  {:<30} {:>6.2}  ({:.0} bytes)\n",
                "TOTAL per transaction",
                per_tx(total),
                per_tx(bytes)
            ));
        }
    }
    let clones = mailbox_clones();
    println!("clone mailbox {clones:.2}");
    println!(
        "\nHeap allocations per steady-state transaction ({MEASURED} after {WARM_UP} warm-up):"
    );
    print!("{table}");
    println!("\nHeap allocations per Mailbox clone: {clones:.2}");
}
