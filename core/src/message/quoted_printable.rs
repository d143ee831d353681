//! Quoted-printable content transfer encoding (RFC 2045 §6.7).
//!
//! Input is text in canonical form (lines separated by CRLF, RFC 2045 §6.7 rule 4): each CRLF
//! is a hard line break, written as CRLF. Octets other than printable ASCII (33–126 except `=`)
//! are written `=XX` with upper-case hex (rule 1, 2); a space or tab is literal except at the
//! end of a line, where it would be lost (rule 3). Lines are at most 76 characters, split with
//! soft line breaks (`=` CRLF, rule 5) that never cut an `=XX` triplet. A CR or LF not part of
//! a CRLF is data, encoded (`=0D`, `=0A`) so it cannot become a line break.
//!
//! The output never holds the sequence `=_` (an `=` is always followed by a hex digit or
//! CRLF), which the MIME boundaries rely on (see [`super::mime`]).
//!
//! Two entry points: [`encode`] for canonical text held in memory, and [`StreamEncoder`] for
//! text of any size pushed in chunks. The stream encoder takes text *as stored* (line ends
//! CRLF, LF or CR) and puts it in canonical form as it goes (every line end a hard break);
//! any other octet, NUL and invalid UTF-8 included, is carried exactly (binary-safe), so
//! decoding gives back the input with its line ends made CRLF.

use alloc::vec::Vec;

/// Longest encoded line, CRLF excluded, soft-break `=` included (RFC 2045 §6.7 rule 5).
pub const MAX_LINE_LEN: usize = 76;

fn hex_upper(nibble: u8) -> u8 {
    b"0123456789ABCDEF"[usize::from(nibble & 15)]
}

/// Encode canonical text, appending to `out`. A final line without CRLF is encoded without
/// one (the CRLF that follows a MIME body belongs to the boundary delimiter).
pub fn encode(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len() + text.len() / 8);
    let mut column = 0;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        let rest = &text[i..];
        if rest.starts_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
            column = 0;
            i += 2;
            continue;
        }
        // Last character of its line: followed by a hard break or the end.
        let last = rest.len() == 1 || rest[1..].starts_with(b"\r\n");
        push_octet(b, last, &mut column, out);
        i += 1;
    }
}

/// Append one octet, breaking the line first when it would not fit. `last`: the octet ends
/// its line (a hard break or the end of the text follows), so it may use the 76th column and
/// a space or tab must be encoded (rule 3).
fn push_octet(b: u8, last: bool, column: &mut usize, out: &mut Vec<u8>) {
    let literal = ((33..=126).contains(&b) && b != b'=') || ((b == b' ' || b == b'\t') && !last);
    let width = if literal { 1 } else { 3 };
    // Leave room for a soft break's `=` unless this is the line's last character.
    let limit = if last { MAX_LINE_LEN } else { MAX_LINE_LEN - 1 };
    if *column + width > limit {
        out.extend_from_slice(b"=\r\n");
        *column = 0;
    }
    if literal {
        out.push(b);
    } else {
        out.extend_from_slice(&[b'=', hex_upper(b >> 4), hex_upper(b)]);
    }
    *column += width;
}

/// Streaming quoted-printable encoder for text as stored: see the module documentation.
/// Any split of the input gives the same output, the output of [`encode`] on the text in
/// canonical form.
///
/// ```
/// use mxsend_core::message::quoted_printable::StreamEncoder;
///
/// let mut encoder = StreamEncoder::new();
/// let mut out = Vec::new();
/// encoder.push("caf".as_bytes(), &mut out);
/// encoder.push("é \nbye".as_bytes(), &mut out);
/// encoder.finish(&mut out);
/// assert_eq!(out, b"caf=C3=A9=20\r\nbye");
/// ```
#[derive(Clone, Debug, Default)]
pub struct StreamEncoder {
    /// Characters on the current output line.
    column: usize,
    /// The last octet seen, not yet written: how it is written depends on whether a line
    /// end follows.
    held: Option<u8>,
    /// The previous octet was a CR (written as a hard break): an LF right after it belongs
    /// to the same line end.
    after_cr: bool,
}

impl StreamEncoder {
    /// An encoder at the start of a text.
    pub fn new() -> StreamEncoder {
        StreamEncoder::default()
    }

    /// Encode the next chunk of the text, holding back its last octet for the next call.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 8);
        for &b in input {
            if core::mem::take(&mut self.after_cr) && b == b'\n' {
                continue;
            }
            let line_end = b == b'\r' || b == b'\n';
            if let Some(held) = self.held.take() {
                push_octet(held, line_end, &mut self.column, out);
            }
            if line_end {
                out.extend_from_slice(b"\r\n");
                self.column = 0;
                self.after_cr = b == b'\r';
            } else {
                self.held = Some(b);
            }
        }
    }

    /// The text has ended: write the octet held back. Like [`encode`], a final line without
    /// a line end gets none.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if let Some(held) = self.held.take() {
            push_octet(held, true, &mut self.column, out);
        }
        *self = StreamEncoder::new();
    }

    /// The text has ended, and must end with a line end: like [`finish`](Self::finish), then
    /// a CRLF when the last line had none (an empty text stays empty).
    pub fn finish_lines(&mut self, out: &mut Vec<u8>) {
        let mid_line = self.held.is_some();
        self.finish(out);
        if mid_line {
            out.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use proptest::prelude::*;

    fn qp(text: &[u8]) -> String {
        let mut out = Vec::new();
        encode(text, &mut out);
        String::from_utf8(out).unwrap()
    }

    /// An independent decoder: soft breaks removed, `=XX` decoded.
    fn decode(encoded: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < encoded.len() {
            if encoded[i] == b'=' {
                if encoded[i + 1..].starts_with(b"\r\n") {
                    i += 3;
                    continue;
                }
                let hex = core::str::from_utf8(&encoded[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(encoded[i]);
                i += 1;
            }
        }
        out
    }

    #[test]
    fn leaves_printable_ascii_alone() {
        assert_eq!(qp(b"Hello, world!\r\n"), "Hello, world!\r\n");
    }

    #[test]
    fn encodes_equals_sign_and_non_ascii() {
        assert_eq!(qp("a=b é".as_bytes()), "a=3Db =C3=A9");
    }

    #[test]
    fn encodes_trailing_white_space_before_a_line_break() {
        assert_eq!(qp(b"end \r\nx\t"), "end=20\r\nx=09");
    }

    #[test]
    fn inserts_soft_line_breaks_at_76_characters() {
        let text = [b'a'; 200];
        let out = qp(&text);
        let lines: Vec<&str> = out.split("\r\n").collect();
        assert_eq!(lines[0].len(), 76);
        assert!(lines[0].ends_with('='));
        assert!(lines.iter().all(|l| l.len() <= MAX_LINE_LEN));
        assert_eq!(decode(out.as_bytes()), text);
    }

    #[test]
    fn never_splits_an_escape_triplet() {
        let text = "é".repeat(60);
        let out = qp(text.as_bytes());
        for line in out.split("\r\n") {
            let body = line.strip_suffix('=').unwrap_or(line);
            assert_eq!(body.len() % 3, 0, "{line}");
        }
    }

    #[test]
    fn encodes_bare_cr_and_lf_as_data() {
        assert_eq!(qp(b"a\rb\nc"), "a=0Db=0Ac");
    }

    /// Run the stream encoder over `text` cut into `chunk`-sized pieces.
    fn stream(text: &[u8], chunk: usize) -> Vec<u8> {
        let mut encoder = StreamEncoder::new();
        let mut out = Vec::new();
        for piece in text.chunks(chunk.max(1)) {
            encoder.push(piece, &mut out);
        }
        encoder.finish(&mut out);
        out
    }

    /// Every line end (CRLF, LF, CR) made CRLF, other octets unchanged.
    fn canonical(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&b) = text.get(i) {
            if b == b'\r' || b == b'\n' {
                out.extend_from_slice(b"\r\n");
                if b == b'\r' && text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            } else {
                out.push(b);
            }
            i += 1;
        }
        out
    }

    #[test]
    fn stream_encoder_makes_every_line_end_a_hard_break() {
        assert_eq!(stream(b"a\nb\rc\r\nd", 1), b"a\r\nb\r\nc\r\nd");
    }

    #[test]
    fn stream_encoder_keeps_a_crlf_split_across_chunks_as_one_line_end() {
        let mut encoder = StreamEncoder::new();
        let mut out = Vec::new();
        encoder.push(b"a\r", &mut out);
        encoder.push(b"\nb", &mut out);
        encoder.finish(&mut out);
        assert_eq!(out, b"a\r\nb");
    }

    #[test]
    fn stream_encoder_encodes_trailing_space_held_across_chunks() {
        let mut encoder = StreamEncoder::new();
        let mut out = Vec::new();
        encoder.push(b"end ", &mut out);
        assert_eq!(out, b"end");
        encoder.push(b"\n", &mut out);
        encoder.finish(&mut out);
        assert_eq!(out, b"end=20\r\n");
    }

    #[test]
    fn finish_lines_ends_the_last_line_only_when_it_has_no_line_end() {
        for (text, expected) in [(&b"a"[..], &b"a\r\n"[..]), (b"a\n", b"a\r\n"), (b"", b"")] {
            let mut encoder = StreamEncoder::new();
            let mut out = Vec::new();
            encoder.push(text, &mut out);
            encoder.finish_lines(&mut out);
            assert_eq!(out, expected);
        }
    }

    #[test]
    fn stream_encoder_carries_nul_and_invalid_utf8() {
        assert_eq!(stream(&[0, 0xff, b'x'], 2), b"=00=FFx");
    }

    proptest! {
        #[test]
        fn stream_encoder_output_is_encode_of_the_canonical_text_for_any_chunking(
            text in proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'='), Just(b'a'), any::<u8>()
            ], 0..400),
            chunk in 1usize..50,
        ) {
            let mut expected = Vec::new();
            encode(&canonical(&text), &mut expected);
            prop_assert_eq!(stream(&text, chunk), expected);
        }

        #[test]
        fn quoted_printable_round_trips_within_76_character_lines(
            text in proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b' '), Just(b'='), any::<u8>()
            ], 0..400),
        ) {
            let mut out = Vec::new();
            encode(&text, &mut out);
            prop_assert!(!out.windows(2).any(|w| w == b"=_"));
            let s = core::str::from_utf8(&out).unwrap();
            for line in s.split("\r\n") {
                prop_assert!(line.len() <= MAX_LINE_LEN);
                prop_assert!(!line.contains(['\r', '\n']));
                prop_assert!(!line.ends_with(' ') && !line.ends_with('\t'));
            }
            prop_assert_eq!(decode(&out), text);
        }
    }
}
