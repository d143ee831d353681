//! `ReplyParser` on arbitrary bytes in arbitrary chunks.
//!
//! Input: one byte choosing the limits (bit 7 set: small limits from the next three bytes,
//! so they are reachable with short inputs; clear: the defaults), then a [`Chunked`] payload.
//!
//! Checked:
//! - split invariance: the replies, the offset in the stream where each one ends, the error
//!   and whether the parser ends idle are the same as for a one-shot parse of the payload;
//! - an error is sticky: the next call returns it again;
//! - `Complete(_, used)` consumes at least one octet and no more than it was given;
//! - every reply keeps the limits (line count), has a code 200..=599, an enhanced code only
//!   of the reply's class, no LF in any line, and its `Display` has no raw control
//!   character but the line separator;
//! - memory: what the parser holds on the heap after every call stays within a bound set
//!   by the limits alone, whatever the input length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxsend_core::reply::{Reply, ReplyError, ReplyLimits, ReplyParser, Status};
use mxsend_fuzz::{show, Chunked, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// One thing the parser produced: a reply ending at this stream offset, or an error.
type Outcome = Result<(Reply, usize), ReplyError>;

fn limits(data: &[u8]) -> (ReplyLimits, &[u8]) {
    match data {
        [selector, line, lines, reply, rest @ ..] if selector & 0x80 != 0 => (
            ReplyLimits {
                max_line_len: usize::from(*line) + 1,
                max_lines: usize::from(lines % 16) + 1,
                max_reply_len: usize::from(*reply) * 4 + 1,
            },
            rest,
        ),
        [_, rest @ ..] => (ReplyLimits::default(), rest),
        [] => (ReplyLimits::default(), &[]),
    }
}

/// Heap the parser may hold: the partial line (a `Vec` at most doubles), the reply's lines
/// (lossy UTF-8 can triple an octet, and a `String` at most doubles), the `Vec<String>` of
/// them, and an error's short excerpt.
fn memory_bound(limits: &ReplyLimits) -> usize {
    2 * limits.max_line_len
        + 6 * limits.max_reply_len
        + 2 * (limits.max_lines + 1) * std::mem::size_of::<String>()
        + 512
}

fn check_reply(reply: &Reply, limits: &ReplyLimits) {
    let code = reply.code().get();
    assert!((200..=599).contains(&code), "code {code}");
    assert!(reply.line_count() >= 1);
    assert!(reply.line_count() <= limits.max_lines);
    assert_eq!(reply.lines().count(), reply.line_count());
    if let Some(enhanced) = reply.enhanced() {
        assert_eq!(u16::from(enhanced.class), code / 100);
    }
    let shown = reply.to_string();
    assert!(
        !shown
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t'),
        "Display leaks a control character: {shown:?}"
    );
}

/// Feed `chunks` in order; call `each` with every outcome as it comes (stopping at the
/// first error) and `after` after every call. Returns whether the parser ends idle.
fn run<'a>(
    parser: &mut ReplyParser,
    chunks: impl Iterator<Item = &'a [u8]>,
    mut each: impl FnMut(Outcome),
    mut after: impl FnMut(&ReplyParser),
) -> bool {
    let mut offset = 0;
    for chunk in chunks {
        let mut rest = chunk;
        loop {
            let result = parser.parse(rest);
            match result {
                Ok(Status::Complete(reply, used)) => {
                    assert!(
                        used > 0 && used <= rest.len(),
                        "used {used} of {}",
                        rest.len()
                    );
                    offset += used;
                    rest = &rest[used..];
                    each(Ok((reply, offset)));
                    after(parser);
                }
                Ok(Status::Partial) => {
                    offset += rest.len();
                    after(parser);
                    break;
                }
                Err(error) => {
                    assert_eq!(parser.parse(b"250 ok\r\n"), Err(error.clone()), "sticky");
                    assert!(!parser.is_idle());
                    each(Err(error));
                    after(parser);
                    return false;
                }
            }
        }
    }
    parser.is_idle()
}

fuzz_target!(|data: &[u8]| {
    let (limits, rest) = limits(data);
    let chunked = Chunked::new(rest);

    let mut expected: Vec<Outcome> = Vec::new();
    let one_shot_idle = run(
        &mut ReplyParser::with_limits(limits),
        std::iter::once(chunked.payload),
        |outcome| expected.push(outcome),
        |_| {},
    );
    for (reply, _) in expected.iter().flatten() {
        check_reply(reply, &limits);
    }

    let bound = memory_bound(&limits);
    let mut parser = ReplyParser::with_limits(limits);
    // Nothing else allocates from here on except what the parser keeps and the outcome
    // under comparison, which is dropped before `after` measures.
    let base = CountingAllocator::live();
    let mut index = 0;
    let idle = run(
        &mut parser,
        chunked.chunks(),
        |outcome| {
            let want = expected.get(index);
            assert!(
                want == Some(&outcome),
                "split changed outcome {index}: one-shot {want:?}, chunked {outcome:?}, input {}",
                show(chunked.payload)
            );
            index += 1;
        },
        |_| {
            let held = CountingAllocator::live().saturating_sub(base);
            assert!(
                held <= bound,
                "parser holds {held} octets, bound {bound} for {limits:?}"
            );
        },
    );
    assert_eq!(
        index,
        expected.len(),
        "chunked parse produced fewer outcomes"
    );
    assert_eq!(
        idle, one_shot_idle,
        "idle differs between one-shot and chunked"
    );
});
