//! Proof that `mxsend-core` is `no_std`: this crate is `#![no_std]` with `alloc` only, and
//! drives a whole SMTP [`Session`] through a scripted exchange, reading the server's side with
//! the core's [`ReplyParser`]. It does the same through `mxsend-embedded` (the session over
//! embedded-io-async), so that crate is held to no_std too.
//!
//! CI (`.ci/run`) builds it three ways, each of which fails if std creeps into the core:
//! - as a **staticlib with `-C panic=abort`** on the host, feature `bare`: the crate brings
//!   its own `#[panic_handler]` and global allocator, and a panic handler is a lang item std
//!   defines too, so if anything in the graph links std the build stops with "duplicate
//!   lang item `panic_impl`" (built on its own, so no other member's features are unified
//!   in);
//! - for every installed bare-metal target (`*-none-*`), where std does not exist at all;
//! - `cargo tree -p mxsend-core -e normal` must list the core alone (no dependencies).
//!
//! The unit tests (built with std, as any test harness is) run the same exchange and check
//! its outcome, so the function is not only compiled but shown to work.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

#[cfg(test)]
extern crate std;

use alloc::vec::Vec;

use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::reply::{ReplyParser, StatusRef};
use mxsend_core::session::{
    DsnOptions, Envelope, Event, Outcome, OutcomeRef, Session, SessionConfig, TlsPolicy,
};
use mxsend_core::time::{Duration, Instant};

/// What the scripted server says, in the order it says it: greeting, EHLO (with
/// PIPELINING, so MAIL, RCPT and DATA leave together), their three replies, the reply to
/// the end of data, and QUIT's.
pub const SERVER_SCRIPT: &[&[u8]] = &[
    b"220 mx.example.test ESMTP\r\n",
    b"250-mx.example.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
    b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 No such user\r\n",
    b"354 Go ahead\r\n",
    b"250 2.0.0 Ok: queued\r\n221 2.0.0 Bye\r\n",
];

/// What happened in the scripted exchange.
#[derive(Debug, PartialEq, Eq)]
pub struct ExchangeSummary {
    /// Recipients delivered.
    pub delivered: usize,
    /// Recipients rejected.
    pub rejected: usize,
    /// Replies the [`ReplyParser`] found in the script, counted independently of the
    /// session.
    pub replies_parsed: usize,
    /// Octets the client wrote.
    pub bytes_written: usize,
    /// The session ended with a clean QUIT.
    pub closed_cleanly: bool,
}

/// Why the exchange could not run.
#[derive(Debug, PartialEq, Eq)]
pub enum ExchangeError {
    /// An address in the envelope did not parse.
    Address,
    /// The session refused the envelope or the body.
    Usage,
    /// The script is not valid SMTP.
    Script,
}

/// The message both exchanges send.
const BODY: &[u8] = b"Subject: no_std\n\nsent without std\n";

/// A session without TLS (the scripts offer none).
fn plaintext_config() -> Result<SessionConfig, ExchangeError> {
    let client = Domain::parse("client.example").map_err(|_| ExchangeError::Address)?;
    let mut config = SessionConfig::new(client);
    config.tls = TlsPolicy::Disabled;
    Ok(config)
}

/// One sender, two recipients: the scripts accept the first and refuse the second.
fn script_envelope() -> Result<Envelope, ExchangeError> {
    let mailbox = |text| Mailbox::parse(text).map_err(|_| ExchangeError::Address);
    Ok(Envelope {
        from: ReversePath::Mailbox(mailbox("alice@example.org")?),
        recipients: alloc::vec![
            mailbox("bob@example.test")?,
            mailbox("nobody@example.test")?
        ],
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    })
}

/// Run one transaction (two recipients, one of them refused by the server) against
/// [`SERVER_SCRIPT`], one script step per read, and report what happened.
pub fn scripted_exchange() -> Result<ExchangeSummary, ExchangeError> {
    let mut now = Instant::ZERO;
    let mut session = Session::new(plaintext_config()?, now);
    let envelope = script_envelope()?;
    session
        .send_mail(envelope, now)
        .map_err(|_| ExchangeError::Usage)?;
    session.quit(now);

    let mut summary = ExchangeSummary {
        delivered: 0,
        rejected: 0,
        replies_parsed: 0,
        bytes_written: 0,
        closed_cleanly: false,
    };
    let mut parser = ReplyParser::new();
    for step in SERVER_SCRIPT {
        summary.replies_parsed += count_replies(&mut parser, step)?;
        now = now.saturating_add(Duration::from_millis(10));
        session.handle_input(step, now);
        if session.wants_body() {
            session
                .send_body(BODY, now)
                .map_err(|_| ExchangeError::Usage)?;
            session.finish_body(now).map_err(|_| ExchangeError::Usage)?;
        }
        // The "socket" takes everything at once.
        let pending = session.pending_transmit().len();
        summary.bytes_written += pending;
        session.advance_transmit(pending);
        while let Some(event) = session.poll_event() {
            match event {
                Event::TransactionDone(id) => {
                    if let Some(outcomes) = session.outcomes(id) {
                        tally(&mut summary, outcomes.map(|done| done.outcome));
                    }
                }
                Event::Closed(error) => summary.closed_cleanly = error.is_none(),
                Event::StartTls | Event::Established => {}
                _ => {}
            }
        }
    }
    Ok(summary)
}

fn tally<'a>(summary: &mut ExchangeSummary, outcomes: impl IntoIterator<Item = OutcomeRef<'a>>) {
    for outcome in outcomes {
        match outcome {
            OutcomeRef::Delivered(_) => summary.delivered += 1,
            OutcomeRef::Rejected(_) => summary.rejected += 1,
            OutcomeRef::Deferred(_) | OutcomeRef::Ambiguous(_) => {}
        }
    }
}

/// The complete replies in `input`, fed one octet at a time (the parser must accept any
/// split).
fn count_replies(parser: &mut ReplyParser, input: &[u8]) -> Result<usize, ExchangeError> {
    let mut codes: Vec<u16> = Vec::new();
    for octet in input.chunks(1) {
        match parser.parse_ref(octet) {
            Ok(StatusRef::Complete(reply, _)) => codes.push(reply.code().get()),
            Ok(StatusRef::Partial) => {}
            Err(_) => return Err(ExchangeError::Script),
        }
    }
    Ok(codes.len())
}

/// A transport whose server answers each read with the next reply of a script, and takes
/// every write whole.
struct ScriptedTransport {
    replies: &'static [&'static [u8]],
    written: usize,
}

impl embedded_io_async::ErrorType for ScriptedTransport {
    type Error = core::convert::Infallible;
}

impl embedded_io_async::Read for ScriptedTransport {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
        let Some((reply, rest)) = self.replies.split_first() else {
            return Ok(0);
        };
        self.replies = rest;
        let n = reply.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), reply.get(..n)) {
            to.copy_from_slice(from);
        }
        Ok(n)
    }
}

impl embedded_io_async::Write for ScriptedTransport {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.written += buf.len();
        Ok(buf.len())
    }

    async fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A clock that never moves, and a timer that never fires: the script always answers.
struct StillClock;

impl mxsend_embedded::Clock for StillClock {
    fn now(&self) -> Instant {
        Instant::ZERO
    }

    async fn sleep_until(&self, _: Instant) {
        core::future::pending::<()>().await;
    }
}

/// [`SERVER_SCRIPT`]'s exchange again, through `mxsend_embedded::send` over an
/// embedded-io-async transport (lock-step: the script's EHLO offers no PIPELINING here).
pub fn scripted_embedded_exchange() -> Result<ExchangeSummary, ExchangeError> {
    let config = plaintext_config()?;
    let mut messages = [mxsend_embedded::Message {
        envelope: script_envelope()?,
        body: BODY,
    }];
    let mut transport = ScriptedTransport {
        replies: &[
            b"220 mx.example.test ESMTP\r\n",
            b"250 mx.example.test\r\n",
            b"250 2.1.0 Ok\r\n",
            b"250 2.1.5 Ok\r\n",
            b"550 5.1.1 No such user\r\n",
            b"354 Go ahead\r\n",
            b"250 2.0.0 Ok: queued\r\n",
            b"221 2.0.0 Bye\r\n",
        ],
        written: 0,
    };
    let sending = mxsend_embedded::send(&mut transport, config, &mut messages, &StillClock);
    let report = embassy_futures::block_on(sending).map_err(|_| ExchangeError::Usage)?;
    let mut summary = ExchangeSummary {
        delivered: 0,
        rejected: 0,
        replies_parsed: 8 - transport.replies.len(),
        bytes_written: transport.written,
        closed_cleanly: report.closed.is_none(),
    };
    for outcomes in &report.outcomes {
        tally(&mut summary, outcomes.iter().map(Outcome::as_outcome_ref));
    }
    Ok(summary)
}

/// The C entry point of the staticlib: 0 when the exchange went as scripted. Exported so the
/// whole exchange is kept in the archive rather than dropped as dead code.
#[no_mangle]
#[allow(unsafe_code)] // `no_mangle` is an unsafe attribute in edition 2024; nothing else here is.
pub extern "C" fn mxsend_no_std_check() -> i32 {
    let as_scripted = |s: Result<ExchangeSummary, ExchangeError>| matches!(s, Ok(s) if s.delivered == 1 && s.rejected == 1 && s.closed_cleanly);
    if as_scripted(scripted_exchange()) && as_scripted(scripted_embedded_exchange()) {
        0
    } else {
        1
    }
}

/// No std, so no unwinding: a panic stops here. Only for the staticlib (feature `bare`), never
/// in tests: the test harness links std, which has its own.
#[cfg(all(feature = "bare", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[cfg(all(feature = "bare", not(test)))]
mod heap {
    //! A global allocator for the staticlib (std would supply the system's): a bump
    //! allocator over a static arena that never frees. Enough for one scripted exchange,
    //! and the only unsafe code in the workspace, kept out of the core.
    #![allow(unsafe_code)]

    use core::alloc::{GlobalAlloc, Layout};
    use core::cell::UnsafeCell;
    use core::sync::atomic::{AtomicUsize, Ordering};

    const ARENA: usize = 256 * 1024;

    struct Bump {
        arena: UnsafeCell<[u8; ARENA]>,
        next: AtomicUsize,
    }

    // SAFETY: `next` hands out each range of the arena once (an atomic bump), so no two
    // allocations alias, whatever the thread.
    unsafe impl Sync for Bump {}

    // SAFETY: every pointer returned lies inside the arena, is aligned as `layout` asks,
    // and is never returned twice; exhaustion returns null as the trait requires.
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let base = self.arena.get() as usize;
            let mut current = self.next.load(Ordering::Relaxed);
            loop {
                let start = (base + current).next_multiple_of(layout.align()) - base;
                let Some(end) = start.checked_add(layout.size()).filter(|&e| e <= ARENA) else {
                    return core::ptr::null_mut();
                };
                match self.next.compare_exchange_weak(
                    current,
                    end,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return self.arena.get().cast::<u8>().wrapping_add(start),
                    Err(seen) => current = seen,
                }
            }
        }

        unsafe fn dealloc(&self, _: *mut u8, _: Layout) {}
    }

    #[global_allocator]
    static HEAP: Bump = Bump {
        arena: UnsafeCell::new([0; ARENA]),
        next: AtomicUsize::new(0),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_exchange_delivers_one_recipient_and_rejects_the_other() {
        let summary = scripted_exchange().unwrap();
        assert_eq!(summary.delivered, 1);
        assert_eq!(summary.rejected, 1);
        assert!(summary.closed_cleanly);
    }

    #[test]
    fn reply_parser_finds_every_reply_of_the_script_fed_octet_by_octet() {
        // Greeting, EHLO, MAIL, RCPT, RCPT, 354, end of data, QUIT.
        assert_eq!(scripted_exchange().unwrap().replies_parsed, 8);
    }

    #[test]
    fn embedded_exchange_delivers_one_recipient_and_rejects_the_other() {
        let summary = scripted_embedded_exchange().unwrap();
        assert_eq!(summary.delivered, 1);
        assert_eq!(summary.rejected, 1);
        assert!(summary.closed_cleanly);
        assert_eq!(summary.replies_parsed, 8, "every scripted reply read");
    }

    #[test]
    fn the_c_entry_point_reports_success() {
        assert_eq!(mxsend_no_std_check(), 0);
    }
}
