//! DATA transparency: CRLF normalisation and dot-stuffing, streaming (RFC 5321 §4.5.2,
//! §2.3.8), and the canonical form BDAT chunks carry (RFC 3030 §2).
//!
//! A message body goes to the server as lines ended by CRLF. Two things must hold on the
//! wire, or the server sees a different message than the caller wrote (and, worse, an
//! attacker who controls part of the body can end the message early and smuggle a second
//! one: "SMTP smuggling", CVE-2023-51764 and friends):
//!
//! * **Every line end is CRLF** (§2.3.8). A bare CR and a bare LF each become CRLF; a CRLF
//!   stays one. So `\r\r\n` is a bare CR (one line end) followed by a CRLF (a second):
//!   two line ends, never one. Some servers treat a bare LF as a line end and others do
//!   not; normalising leaves nothing for them to disagree about.
//! * **With DATA, a line that starts with `.` gets one more** (§4.5.2), so the only
//!   `CRLF . CRLF` on the wire is the end-of-data that [`DataEncoder::finish`] writes.
//!
//! [`Framing::Bdat`] does the first and not the second: BDAT counts octets, so nothing in
//! the content can end it, but RFC 3030 §2 still asks for canonical CRLF line ends.
//!
//! The encoder streams: any split of the body into chunks gives the same bytes out. It
//! carries two bits of state between chunks, whether a CR is held back (the next chunk
//! decides whether it was CRLF or a bare CR) and whether the output is at the start of a
//! line, so memory stays constant whatever the body size. The body is scanned eight octets
//! at a time for CR and LF, and the runs between the places that need a change, already
//! canonical CRLF included, are copied with one `extend_from_slice` each.
//!
//! The encoder never changes the content beyond line ends and stuffing: folding or
//! re-encoding a long line is the message writer's job. [`ContentScan`] is the check the
//! session runs before a chunk is encoded (no NUL, no line over 998 octets, RFC 5322 §2.3,
//! §2.1.1) and the counter behind SIZE= (the length after CRLF normalisation, RFC 1870).
//!
//! [`decode_data`] is the receiver's side (§4.5.2: strip one leading dot, stop at the
//! lone dot), strict about line ends, for tests and fuzz targets that check the round trip.

use alloc::vec::Vec;
use core::fmt;

const CRLF: &[u8] = b"\r\n";

/// The end-of-data line that closes a DATA body (RFC 5321 §4.1.1.4), after a CRLF.
pub(crate) const END_OF_DATA: &[u8] = b".\r\n";

/// Whether the encoder dot-stuffs (DATA) or only normalises line ends (BDAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// DATA: dot-stuff, end with `CRLF . CRLF`.
    Data,
    /// BDAT: normalise line ends only; the caller frames chunks with `BDAT n`.
    Bdat,
}

/// Streaming encoder of a message body: chunks in, wire bytes out.
///
/// ```
/// use mxsend_core::transparency::{DataEncoder, Framing};
///
/// let mut encoder = DataEncoder::new(Framing::Data);
/// let mut wire = Vec::new();
/// encoder.encode(b"Subject: hi\n\n.hidden\r", &mut wire);
/// encoder.encode(b"\nend", &mut wire);
/// encoder.finish(&mut wire);
/// assert_eq!(wire, b"Subject: hi\r\n\r\n..hidden\r\nend\r\n.\r\n");
/// ```
#[derive(Clone, Debug)]
pub struct DataEncoder {
    framing: Framing,
    /// The previous chunk ended in CR; whether it was CRLF depends on the next octet.
    pending_cr: bool,
    /// The output is at the start of a line (true before the first octet of a message).
    at_line_start: bool,
}

impl DataEncoder {
    /// A fresh encoder at the start of a message.
    pub fn new(framing: Framing) -> DataEncoder {
        DataEncoder {
            framing,
            pending_cr: false,
            at_line_start: true,
        }
    }

    /// The framing this encoder writes.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Encode `input`, appending to `out`. A trailing CR is held back until the next chunk
    /// shows whether an LF follows.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        if input.is_empty() {
            return;
        }
        // Text grows by a few stuffed dots at most; only bare-LF text nears twice the size,
        // and `extend_from_slice` grows the buffer for that case.
        out.reserve(input.len() + CRLF.len());

        let stuff = self.framing == Framing::Data;
        let mut line_start = self.at_line_start;
        // `scan`: where the search for the next CR or LF resumes; `run`: the first octet
        // not yet copied. Canonical CRLFs leave `run` alone so they copy in bulk.
        let mut scan = 0;
        if self.pending_cr {
            self.pending_cr = false;
            out.extend_from_slice(CRLF);
            line_start = true;
            if input.first() == Some(&b'\n') {
                scan = 1;
            }
        }
        let mut run = scan;

        loop {
            if line_start && stuff && input.get(scan) == Some(&b'.') {
                out.extend_from_slice(input.get(run..scan).unwrap_or_default());
                out.push(b'.');
                run = scan;
            }
            let Some(found) = input.get(scan..).and_then(find_cr_or_lf) else {
                break;
            };
            let at = scan + found;
            match (input.get(at), input.get(at + 1)) {
                (Some(b'\r'), Some(b'\n')) => scan = at + 2,
                (Some(b'\r'), None) => {
                    out.extend_from_slice(input.get(run..at).unwrap_or_default());
                    self.pending_cr = true;
                    self.at_line_start = false;
                    return;
                }
                // A bare CR, or a bare LF: either one is a line end of its own.
                _ => {
                    out.extend_from_slice(input.get(run..at).unwrap_or_default());
                    out.extend_from_slice(CRLF);
                    scan = at + 1;
                    run = scan;
                }
            }
            line_start = true;
        }
        out.extend_from_slice(input.get(run..).unwrap_or_default());
        if scan < input.len() {
            line_start = false;
        }
        self.at_line_start = line_start;
    }

    /// End the message: flush what is held back, make sure it ends with CRLF, and for
    /// [`Framing::Data`] append `.` CRLF.
    ///
    /// An empty body stays empty: DATA then sends only `.` CRLF (a valid, empty message
    /// body, RFC 5321 §4.1.1.4), and BDAT nothing. Afterwards the encoder is at the start
    /// of a new message.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.pending_cr || !self.at_line_start {
            out.extend_from_slice(CRLF);
        }
        if self.framing == Framing::Data {
            out.extend_from_slice(END_OF_DATA);
        }
        self.pending_cr = false;
        self.at_line_start = true;
    }

    /// Forget everything: a fresh encoder with the same framing. Whatever was held back is
    /// dropped, not written.
    pub fn reset(&mut self) {
        *self = DataEncoder::new(self.framing);
    }
}

const LOW_BITS: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Marks, in the high bit of each lane, the octets of `word` equal to `byte`. The lowest
/// mark is exact; marks above a true one may be false (borrow), so use only the lowest.
#[inline(always)]
fn mark_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (LOW_BITS * u64::from(byte));
    x.wrapping_sub(LOW_BITS) & !x & HIGH_BITS
}

/// Offset of the first CR or LF in `haystack`: sixteen octets per step, as two words
/// tested together (a portable stand-in for memchr2, since the core has no dependencies).
/// Lines of text are ~70 octets, so most steps find nothing and one branch covers both.
#[inline]
fn find_cr_or_lf(haystack: &[u8]) -> Option<usize> {
    let (blocks, rest) = haystack.as_chunks::<16>();
    let mut offset = 0;
    for block in blocks {
        let (words, _) = block.as_chunks::<8>();
        let (Some(low), Some(high)) = (words.first(), words.get(1)) else {
            break;
        };
        // Little-endian, so the lowest mark is the first octet in memory.
        let low = u64::from_le_bytes(*low);
        let high = u64::from_le_bytes(*high);
        let low_marks = mark_equal(low, b'\r') | mark_equal(low, b'\n');
        let high_marks = mark_equal(high, b'\r') | mark_equal(high, b'\n');
        if low_marks | high_marks != 0 {
            return Some(if low_marks != 0 {
                offset + (low_marks.trailing_zeros() / 8) as usize
            } else {
                offset + 8 + (high_marks.trailing_zeros() / 8) as usize
            });
        }
        offset += 16;
    }
    rest.iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .map(|i| offset + i)
}

/// Longest text line, line end excluded (RFC 5322 §2.1.1: 998 octets; RFC 5321 §4.5.3.1.6:
/// 1000 with CRLF).
pub const MAX_TEXT_LINE: usize = 998;

/// Why message content cannot go on the wire as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentError {
    /// A NUL octet at this offset (from 0): RFC 5322 §2.3 text excludes it, and a receiver
    /// that drops NULs would read `\0.` as the end of data.
    Nul {
        /// Offset in the content.
        offset: u64,
    },
    /// Line number `line` (from 1) is longer than [`MAX_TEXT_LINE`] octets.
    LineTooLong {
        /// The line's number.
        line: u64,
    },
}

impl fmt::Display for ContentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentError::Nul { offset } => {
                write!(f, "the message holds a NUL octet at offset {offset}")
            }
            ContentError::LineTooLong { line } => write!(
                f,
                "line {line} of the message is longer than {MAX_TEXT_LINE} octets (RFC 5322 \u{a7}2.1.1)"
            ),
        }
    }
}

impl core::error::Error for ContentError {}

/// A streaming check of message content before it goes out as text: no NUL, no line over
/// [`MAX_TEXT_LINE`] octets, and its length once line ends are CRLF (what RFC 1870 SIZE=
/// counts, and what BDAT carries). Line ends are counted as [`DataEncoder`] makes them: a
/// bare CR and a bare LF are each one, CRLF is one; any split of the content gives the
/// same answers. The first problem found is kept; counting goes on past it.
#[derive(Clone, Debug, Default)]
pub struct ContentScan {
    offset: u64,
    canonical: u64,
    line: u64,
    line_len: usize,
    pending_cr: bool,
    error: Option<ContentError>,
}

impl ContentScan {
    /// A scan at the start of a message.
    pub fn new() -> ContentScan {
        ContentScan::default()
    }

    /// The next piece of content; the first problem in the content so far, if any.
    pub fn push(&mut self, input: &[u8]) -> Result<(), ContentError> {
        for &b in input {
            match b {
                b'\n' if self.pending_cr => self.pending_cr = false,
                b'\r' | b'\n' => {
                    self.end_line();
                    self.pending_cr = b == b'\r';
                }
                _ => {
                    self.pending_cr = false;
                    if b == 0 && self.error.is_none() {
                        self.error = Some(ContentError::Nul {
                            offset: self.offset,
                        });
                    }
                    self.line_len += 1;
                    self.canonical += 1;
                    if self.line_len > MAX_TEXT_LINE && self.error.is_none() {
                        self.error = Some(ContentError::LineTooLong {
                            line: self.line + 1,
                        });
                    }
                }
            }
            self.offset += 1;
        }
        match self.error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// A line ends here (a CR is counted when seen; an LF right after it adds nothing).
    fn end_line(&mut self) {
        self.canonical += 2;
        self.line += 1;
        self.line_len = 0;
    }

    /// The content's length with CRLF line ends and the final line end the encoder adds.
    pub fn canonical_len(&self) -> u64 {
        self.canonical + if self.line_len > 0 { 2 } else { 0 }
    }

    /// The first problem found so far.
    pub fn error(&self) -> Option<ContentError> {
        self.error
    }

    /// [`ContentScan::canonical_len`] of the whole of `content`.
    pub fn canonical_len_of(content: &[u8]) -> u64 {
        let mut scan = ContentScan::new();
        let _ = scan.push(content);
        scan.canonical_len()
    }
}

/// Why wire bytes are not a well-formed DATA body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DataDecodeError {
    /// A CR not followed by LF, at this offset.
    BareCarriageReturn {
        /// Offset in the wire bytes.
        offset: usize,
    },
    /// An LF not preceded by CR, at this offset.
    BareLineFeed {
        /// Offset in the wire bytes.
        offset: usize,
    },
    /// The end-of-data line `.` CRLF starts at this offset but more bytes follow it.
    EndOfDataBeforeTheEnd {
        /// Offset of the `.` in the wire bytes.
        offset: usize,
    },
    /// The bytes end without the `.` CRLF line.
    MissingEndOfData,
}

impl fmt::Display for DataDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataDecodeError::BareCarriageReturn { offset } => {
                write!(f, "bare CR at offset {offset} in DATA")
            }
            DataDecodeError::BareLineFeed { offset } => {
                write!(f, "bare LF at offset {offset} in DATA")
            }
            DataDecodeError::EndOfDataBeforeTheEnd { offset } => {
                write!(
                    f,
                    "end-of-data line at offset {offset} is followed by more bytes"
                )
            }
            DataDecodeError::MissingEndOfData => f.write_str("DATA does not end with CRLF . CRLF"),
        }
    }
}

/// Decode a dot-stuffed DATA body as a server does (RFC 5321 §4.5.2): split into CRLF
/// lines, drop one leading `.` from each line, stop at the line that is only `.`.
///
/// Returns the content, each line ended by CRLF, which for anything [`DataEncoder`]
/// wrote is its input with line ends normalised. Stricter than a server: a bare CR or LF,
/// a missing end-of-data line, or bytes after it are errors, since the encoder never
/// writes any of them. For tests and fuzz targets; one allocation, no streaming.
pub fn decode_data(wire: &[u8]) -> Result<Vec<u8>, DataDecodeError> {
    let mut content = Vec::with_capacity(wire.len());
    let mut start = 0;
    while start < wire.len() {
        let rest = wire.get(start..).unwrap_or_default();
        let Some(found) = find_cr_or_lf(rest) else {
            return Err(DataDecodeError::MissingEndOfData);
        };
        let end = start + found;
        match (wire.get(end), wire.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => {}
            (Some(b'\r'), _) => return Err(DataDecodeError::BareCarriageReturn { offset: end }),
            _ => return Err(DataDecodeError::BareLineFeed { offset: end }),
        }
        let line = wire.get(start..end).unwrap_or_default();
        let next = end + CRLF.len();
        if line == b"." {
            if next != wire.len() {
                return Err(DataDecodeError::EndOfDataBeforeTheEnd { offset: start });
            }
            return Ok(content);
        }
        content.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        content.extend_from_slice(CRLF);
        start = next;
    }
    Err(DataDecodeError::MissingEndOfData)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn encode_all(framing: Framing, chunks: &[&[u8]]) -> Vec<u8> {
        let mut encoder = DataEncoder::new(framing);
        let mut out = Vec::new();
        for chunk in chunks {
            encoder.encode(chunk, &mut out);
        }
        encoder.finish(&mut out);
        out
    }

    fn data(body: &[u8]) -> Vec<u8> {
        encode_all(Framing::Data, &[body])
    }

    /// A byte-at-a-time model of §2.3.8 normalisation: the oracle the fast encoder is
    /// checked against. Content that is not empty ends with CRLF.
    fn normalise(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < input.len() {
            match input[i] {
                b'\r' => {
                    out.extend_from_slice(b"\r\n");
                    if input.get(i + 1) == Some(&b'\n') {
                        i += 1;
                    }
                }
                b'\n' => out.extend_from_slice(b"\r\n"),
                b => out.push(b),
            }
            i += 1;
        }
        if !out.is_empty() && !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Offsets of CR not followed by LF and LF not preceded by CR.
    fn bare_line_ends(wire: &[u8]) -> Vec<usize> {
        (0..wire.len())
            .filter(|&i| match wire[i] {
                b'\r' => wire.get(i + 1) != Some(&b'\n'),
                b'\n' => i == 0 || wire[i - 1] != b'\r',
                _ => false,
            })
            .collect()
    }

    /// Offsets where `CRLF . CRLF` starts, plus 0 when the wire starts with `. CRLF`
    /// (an end-of-data line for a server that has just sent 354).
    fn end_of_data_marks(wire: &[u8]) -> Vec<usize> {
        let mut marks: Vec<usize> = wire
            .windows(5)
            .enumerate()
            .filter(|(_, w)| *w == b"\r\n.\r\n")
            .map(|(i, _)| i)
            .collect();
        if wire.starts_with(b".\r\n") {
            marks.insert(0, 0);
        }
        marks
    }

    /// Bodies rich in the octets that matter here.
    fn body() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                4 => Just(b'\r'),
                4 => Just(b'\n'),
                4 => Just(b'.'),
                1 => Just(0xe9u8),
                6 => any::<u8>(),
            ],
            0..300,
        )
    }

    #[test]
    fn empty_body_is_only_the_end_of_data_line() {
        assert_eq!(data(b""), b".\r\n");
    }

    #[test]
    fn empty_body_with_bdat_is_empty() {
        assert_eq!(encode_all(Framing::Bdat, &[b""]), b"");
    }

    #[test]
    fn body_without_final_line_end_gets_crlf_before_the_dot() {
        assert_eq!(data(b"last line"), b"last line\r\n.\r\n");
    }

    #[test]
    fn body_ending_in_crlf_gets_no_extra_line() {
        assert_eq!(data(b"line\r\n"), b"line\r\n.\r\n");
    }

    #[test]
    fn body_starting_with_a_dot_is_stuffed() {
        assert_eq!(data(b".hidden\r\n"), b"..hidden\r\n.\r\n");
    }

    #[test]
    fn body_that_is_a_lone_dot_is_stuffed() {
        assert_eq!(data(b".\r\n"), b"..\r\n.\r\n");
    }

    #[test]
    fn dots_inside_a_line_are_left_alone() {
        assert_eq!(data(b"a.b\r\n"), b"a.b\r\n.\r\n");
    }

    #[test]
    fn bare_lf_becomes_crlf() {
        assert_eq!(data(b"a\nb\n"), b"a\r\nb\r\n.\r\n");
    }

    #[test]
    fn bare_cr_becomes_crlf() {
        assert_eq!(data(b"a\rb\r"), b"a\r\nb\r\n.\r\n");
    }

    #[test]
    fn cr_cr_lf_is_two_line_ends() {
        assert_eq!(data(b"a\r\r\nb"), b"a\r\n\r\nb\r\n.\r\n");
    }

    #[test]
    fn chunk_boundary_between_cr_and_lf_gives_one_line_end() {
        assert_eq!(
            encode_all(Framing::Data, &[b"a\r", b"\nb"]),
            b"a\r\nb\r\n.\r\n"
        );
    }

    #[test]
    fn held_cr_followed_by_other_octet_is_a_bare_cr() {
        assert_eq!(
            encode_all(Framing::Data, &[b"a\r", b"b"]),
            b"a\r\nb\r\n.\r\n"
        );
    }

    #[test]
    fn held_cr_survives_empty_chunks() {
        assert_eq!(
            encode_all(Framing::Data, &[b"a\r", b"", b"\n.x"]),
            b"a\r\n..x\r\n.\r\n"
        );
    }

    #[test]
    fn held_cr_at_the_end_is_one_line_end() {
        assert_eq!(encode_all(Framing::Data, &[b"a\r"]), b"a\r\n.\r\n");
    }

    #[test]
    fn dot_after_a_chunk_boundary_at_line_start_is_stuffed() {
        assert_eq!(
            encode_all(Framing::Data, &[b"a\r\n", b".b"]),
            b"a\r\n..b\r\n.\r\n"
        );
    }

    #[test]
    fn bdat_normalises_line_ends_without_stuffing_or_end_marker() {
        assert_eq!(
            encode_all(Framing::Bdat, &[b".a\n.\rb"]),
            b".a\r\n.\r\nb\r\n"
        );
    }

    #[test]
    fn smuggling_vectors_cannot_end_data_early() {
        let vectors: [(&str, &[u8]); 7] = [
            ("LF . LF", b"\n.\n"),
            ("LF . CRLF", b"\n.\r\n"),
            ("CRLF . LF", b"\r\n.\n"),
            ("CR . CR", b"\r.\r"),
            ("CR . CRLF", b"\r.\r\n"),
            ("CRLF . CR", b"\r\n.\r"),
            ("CR CR LF", b"\r\r\n"),
        ];
        for (name, vector) in vectors {
            let mut body = b"MAIL FROM:<a@b>\r\nfirst".to_vec();
            body.extend_from_slice(vector);
            body.extend_from_slice(b"RCPT TO:<victim@example.test>\r\nDATA\r\nforged\r\n");
            let wire = data(&body);
            assert_eq!(
                end_of_data_marks(&wire),
                [wire.len() - 5],
                "vector {name}: wire {wire:?}"
            );
            assert_eq!(bare_line_ends(&wire), [], "vector {name}: wire {wire:?}");
            assert_eq!(
                decode_data(&wire),
                Ok(normalise(&body)),
                "vector {name} did not round-trip"
            );
        }
    }

    #[test]
    fn content_scan_counts_octets_after_crlf_normalisation() {
        let mut scan = ContentScan::new();
        scan.push(b"a\nb\r").unwrap();
        scan.push(b"\nc\rd").unwrap();
        // a CRLF b CRLF c CRLF d CRLF: what BDAT carries and what SIZE= must declare.
        assert_eq!(scan.canonical_len(), 12);
        assert_eq!(ContentScan::canonical_len_of(b"x\r\n"), 3);
        assert_eq!(ContentScan::canonical_len_of(b""), 0);
    }

    #[test]
    fn content_scan_refuses_nul_with_its_offset() {
        let mut scan = ContentScan::new();
        scan.push(b"Subject: x\n\n").unwrap();
        assert_eq!(scan.push(b"ab\0c"), Err(ContentError::Nul { offset: 14 }));
    }

    #[test]
    fn content_scan_refuses_a_line_over_998_octets_naming_it() {
        let mut scan = ContentScan::new();
        scan.push(b"one\r\ntwo\n").unwrap();
        scan.push(&[b'x'; 998]).unwrap();
        scan.push(b"\r\n").unwrap();
        scan.push(&[b'y'; 500]).unwrap();
        assert_eq!(
            scan.push(&[b'y'; 499]),
            Err(ContentError::LineTooLong { line: 4 })
        );
    }

    #[test]
    fn finish_starts_the_next_message_at_line_start() {
        let mut encoder = DataEncoder::new(Framing::Data);
        let mut first = Vec::new();
        encoder.encode(b"one\r", &mut first);
        encoder.finish(&mut first);
        let mut second = Vec::new();
        encoder.encode(b".two", &mut second);
        encoder.finish(&mut second);
        assert_eq!(first, b"one\r\n.\r\n");
        assert_eq!(second, b"..two\r\n.\r\n");
    }

    #[test]
    fn finds_line_ends_in_every_lane() {
        for len in 0..20 {
            for at in 0..len {
                for end in [b'\r', b'\n'] {
                    let mut hay = vec![b'x'; len];
                    hay[at] = end;
                    assert_eq!(find_cr_or_lf(&hay), Some(at), "len {len} at {at}");
                }
            }
            assert_eq!(find_cr_or_lf(&vec![0x8d; len]), None);
        }
    }

    #[test]
    fn decode_rejects_bare_lf() {
        assert_eq!(
            decode_data(b"a\n.\r\n"),
            Err(DataDecodeError::BareLineFeed { offset: 1 })
        );
    }

    #[test]
    fn decode_rejects_bare_cr() {
        assert_eq!(
            decode_data(b"a\rb\r\n.\r\n"),
            Err(DataDecodeError::BareCarriageReturn { offset: 1 })
        );
    }

    #[test]
    fn decode_rejects_missing_end_of_data() {
        assert_eq!(
            decode_data(b"a\r\n"),
            Err(DataDecodeError::MissingEndOfData)
        );
        assert_eq!(
            decode_data(b"a\r\n."),
            Err(DataDecodeError::MissingEndOfData)
        );
        assert_eq!(decode_data(b""), Err(DataDecodeError::MissingEndOfData));
    }

    #[test]
    fn decode_rejects_bytes_after_end_of_data() {
        assert_eq!(
            decode_data(b"a\r\n.\r\nMAIL FROM:<>\r\n"),
            Err(DataDecodeError::EndOfDataBeforeTheEnd { offset: 3 })
        );
    }

    #[test]
    fn decode_strips_one_leading_dot() {
        assert_eq!(
            decode_data(b"..a\r\n...\r\n.\r\n"),
            Ok(b".a\r\n..\r\n".to_vec())
        );
    }

    proptest! {
        #[test]
        fn encoded_data_has_no_bare_cr_or_lf(body in body()) {
            let wire = data(&body);
            prop_assert_eq!(bare_line_ends(&wire), vec![]);
        }

        #[test]
        fn encoded_bdat_has_no_bare_cr_or_lf(body in body()) {
            let wire = encode_all(Framing::Bdat, &[&body]);
            prop_assert_eq!(bare_line_ends(&wire), vec![]);
        }

        #[test]
        fn encoded_data_has_exactly_one_end_of_data_at_the_end(body in body()) {
            let wire = data(&body);
            // An empty body is the end-of-data line alone; any other ends CRLF . CRLF.
            let end = if body.is_empty() { 0 } else { wire.len() - 5 };
            prop_assert_eq!(end_of_data_marks(&wire), vec![end]);
        }

        #[test]
        fn unstuffing_gives_back_the_crlf_normalised_input(body in body()) {
            prop_assert_eq!(decode_data(&data(&body)), Ok(normalise(&body)));
        }

        #[test]
        fn bdat_output_is_the_crlf_normalised_input(body in body()) {
            prop_assert_eq!(encode_all(Framing::Bdat, &[&body]), normalise(&body));
        }

        #[test]
        fn output_is_the_same_for_any_split_of_the_input(
            body in body(),
            cuts in proptest::collection::vec(0usize..300, 0..8),
            bdat in any::<bool>(),
        ) {
            let framing = if bdat { Framing::Bdat } else { Framing::Data };
            let whole = encode_all(framing, &[&body]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut start = 0;
            for cut in cuts {
                chunks.push(&body[start..cut]);
                start = cut;
            }
            chunks.push(&body[start..]);
            prop_assert_eq!(encode_all(framing, &chunks), whole);
        }

        #[test]
        fn canonical_len_is_the_bdat_encoding_length(body in body(), cut in 0usize..64) {
            let mut wire = Vec::new();
            let mut encoder = DataEncoder::new(Framing::Bdat);
            encoder.encode(&body, &mut wire);
            encoder.finish(&mut wire);
            let mut scan = ContentScan::new();
            let cut = cut.min(body.len());
            let _ = scan.push(&body[..cut]);
            let _ = scan.push(&body[cut..]);
            prop_assert_eq!(scan.canonical_len(), wire.len() as u64);
        }
    }
}
