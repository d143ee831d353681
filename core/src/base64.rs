//! Base64 (RFC 4648 §4), one-shot and streaming with MIME line wrapping (RFC 2045 §6.8).
//!
//! The core carries its own base64 because it has no dependencies: SASL (RFC 4954) and
//! MIME attachments both need it. Encoding works on whole 3-octet groups with a 64-entry
//! table; the streaming encoder holds at most two octets between calls, so any split of the
//! input gives the same output. Decoding is strict: padding required, no whitespace, no
//! non-zero bits in the padding position (RFC 4648 §3.5), since every use here decodes
//! one server line, never a wrapped MIME body.

use alloc::vec::Vec;
use core::fmt;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Longest MIME base64 line, without its CRLF (RFC 2045 §6.8).
pub const MIME_LINE_LEN: usize = 76;

const INVALID: u8 = 0xff;

const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// The encoded length of `n` octets, padded, without line breaks.
pub const fn encoded_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[inline]
fn encode_group(group: [u8; 3]) -> [u8; 4] {
    let n = (u32::from(group[0]) << 16) | (u32::from(group[1]) << 8) | u32::from(group[2]);
    [
        ALPHABET[(n >> 18) as usize & 63],
        ALPHABET[(n >> 12) as usize & 63],
        ALPHABET[(n >> 6) as usize & 63],
        ALPHABET[n as usize & 63],
    ]
}

/// Encode `src` (a multiple of 3 octets) into `dst` (exactly 4/3 as long).
///
/// 24 octets make 32 characters per step: four overlapping big-endian 8-octet loads each
/// give 48 bits (eight characters), and the table lookups are independent of each other.
/// Fixed-size blocks (`as_chunks`) keep bounds checks out of the loop. This is what made
/// the encoder as fast as the `base64` crate (core/benches/base64_encode.rs).
fn encode_into(src: &[u8], dst: &mut [u8]) {
    let (src_blocks, src_rest) = src.as_chunks::<24>();
    let (dst_blocks, dst_rest) = dst.as_chunks_mut::<32>();
    for (s, d) in src_blocks.iter().zip(dst_blocks.iter_mut()) {
        // The last load starts at 16 so it stays inside the block; shifting drops the two
        // octets the third load already covered.
        let words = [load(s, 0), load(s, 6), load(s, 12), load(s, 16) << 16];
        let (quads, _) = d.as_chunks_mut::<8>();
        for (n, out) in words.into_iter().zip(quads.iter_mut()) {
            for (i, c) in out.iter_mut().enumerate() {
                *c = ALPHABET[(n >> (58 - 6 * i)) as usize & 63];
            }
        }
    }
    for (s, d) in src_rest.chunks_exact(3).zip(dst_rest.chunks_exact_mut(4)) {
        d.copy_from_slice(&encode_group([s[0], s[1], s[2]]));
    }
}

/// Input octets on one MIME line: 76 characters of 4 per 3 octets (RFC 2045 §6.8).
const MIME_LINE_OCTETS: usize = MIME_LINE_LEN / 4 * 3;

/// Encode one whole MIME line, CRLF included: nine overlapping loads of 48 bits (54
/// octets, 72 characters) and one last group, the common case of `StreamEncoder::mime`.
fn encode_mime_line(src: &[u8; MIME_LINE_OCTETS], dst: &mut [u8; MIME_LINE_LEN + 2]) {
    let (eights, rest) = dst.as_chunks_mut::<8>();
    for (k, out) in eights.iter_mut().enumerate() {
        let n = load(src, 6 * k);
        for (i, c) in out.iter_mut().enumerate() {
            *c = ALPHABET[(n >> (58 - 6 * i)) as usize & 63];
        }
    }
    let last = encode_group([src[54], src[55], src[56]]);
    let tail = [last[0], last[1], last[2], last[3], b'\r', b'\n'];
    rest.copy_from_slice(&tail);
}

/// Eight octets of `block` from `at`, big-endian. The offsets used are constants inside the
/// block, so the zero fallback never happens and compiles away.
#[inline(always)]
fn load<const N: usize>(block: &[u8; N], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(octets) = block.get(at..at + 8) {
        word.copy_from_slice(octets);
    }
    u64::from_be_bytes(word)
}

/// Encode whole 3-octet groups of `input` into `out`; returns how many input octets were used.
fn encode_groups(input: &[u8], out: &mut Vec<u8>) -> usize {
    let whole = input.len() / 3 * 3;
    let start = out.len();
    out.resize(start + whole / 3 * 4, 0);
    encode_into(&input[..whole], &mut out[start..]);
    whole
}

/// Encode whole lines of `per_line` input octets (a multiple of 3), each followed by CRLF;
/// returns how many input octets were used.
fn encode_lines(input: &[u8], per_line: usize, out: &mut Vec<u8>) -> usize {
    let lines = input.len() / per_line;
    let line_len = per_line / 3 * 4;
    let start = out.len();
    out.resize(start + lines * (line_len + 2), 0);
    if per_line == MIME_LINE_OCTETS {
        let (src, _) = input.as_chunks::<MIME_LINE_OCTETS>();
        let (dst, _) = out[start..].as_chunks_mut::<{ MIME_LINE_LEN + 2 }>();
        for (s, d) in src.iter().zip(dst.iter_mut()) {
            encode_mime_line(s, d);
        }
        return lines * per_line;
    }
    let src = input[..lines * per_line].chunks_exact(per_line);
    let dst = out[start..].chunks_exact_mut(line_len + 2);
    for (s, d) in src.zip(dst) {
        let (text, crlf) = d.split_at_mut(line_len);
        encode_into(s, text);
        crlf.copy_from_slice(b"\r\n");
    }
    lines * per_line
}

/// The final 1 or 2 octets with padding (nothing for an empty tail).
fn tail_quad(tail: &[u8]) -> Option<[u8; 4]> {
    match *tail {
        [a] => {
            let q = encode_group([a, 0, 0]);
            Some([q[0], q[1], b'=', b'='])
        }
        [a, b] => {
            let q = encode_group([a, b, 0]);
            Some([q[0], q[1], q[2], b'='])
        }
        _ => None,
    }
}

/// Encode the final 1 or 2 octets with padding.
fn encode_tail(tail: &[u8], out: &mut Vec<u8>) {
    if let Some(quad) = tail_quad(tail) {
        out.extend_from_slice(&quad);
    }
}

/// Append the base64 encoding of `input` to `out`, padded, no line breaks.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    out.reserve(encoded_len(input.len()));
    let used = encode_groups(input, out);
    encode_tail(&input[used..], out);
}

/// Why input is not base64.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Base64Error {
    /// The length is not a multiple of four.
    BadLength(usize),
    /// The octet at this offset is not in the alphabet (or is `=` away from the end).
    InvalidByte {
        /// Offset in the input.
        offset: usize,
        /// The octet.
        byte: u8,
    },
    /// The last group's unused bits are not zero (a non-canonical encoding).
    NonCanonical,
}

impl fmt::Display for Base64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Base64Error::BadLength(n) => write!(f, "base64 length {n} is not a multiple of 4"),
            Base64Error::InvalidByte { offset, byte } => {
                write!(f, "invalid base64 octet 0x{byte:02x} at offset {offset}")
            }
            Base64Error::NonCanonical => f.write_str("base64 padding bits are not zero"),
        }
    }
}

/// Decode padded base64. Whitespace and missing padding are errors.
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
    if !input.len().is_multiple_of(4) {
        return Err(Base64Error::BadLength(input.len()));
    }
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let groups = input.len() / 4;
    for (g, quad) in input.chunks_exact(4).enumerate() {
        let last = g + 1 == groups;
        let pad = if last {
            quad.iter().rev().take_while(|&&b| b == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return Err(Base64Error::InvalidByte {
                offset: g * 4 + 1,
                byte: b'=',
            });
        }
        let mut n: u32 = 0;
        for (i, &byte) in quad.iter().enumerate() {
            let value = if i >= 4 - pad {
                0
            } else {
                match DECODE[usize::from(byte)] {
                    INVALID => {
                        return Err(Base64Error::InvalidByte {
                            offset: g * 4 + i,
                            byte,
                        })
                    }
                    v => v,
                }
            };
            n = (n << 6) | u32::from(value);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        match pad {
            0 => out.extend_from_slice(&bytes),
            1 => {
                if bytes[2] != 0 {
                    return Err(Base64Error::NonCanonical);
                }
                out.extend_from_slice(&bytes[..2]);
            }
            _ => {
                if bytes[1] != 0 || bytes[2] != 0 {
                    return Err(Base64Error::NonCanonical);
                }
                out.push(bytes[0]);
            }
        }
    }
    Ok(out)
}

/// Streaming encoder: any split of the input gives the same output. With a line length,
/// a CRLF is written after every `line_len` output characters (76 for MIME).
#[derive(Clone, Debug)]
pub struct StreamEncoder {
    line_len: Option<usize>,
    held: [u8; 2],
    held_len: usize,
    column: usize,
}

impl StreamEncoder {
    /// An encoder that wraps lines at `line_len` characters (`None`: no wrapping). A line
    /// length is rounded down to a multiple of 4 (at least 4), so lines hold whole groups.
    pub fn new(line_len: Option<usize>) -> StreamEncoder {
        StreamEncoder {
            line_len: line_len.map(|n| (n / 4 * 4).max(4)),
            held: [0; 2],
            held_len: 0,
            column: 0,
        }
    }

    /// A MIME body encoder: 76-character lines (RFC 2045 §6.8).
    pub fn mime() -> StreamEncoder {
        StreamEncoder::new(Some(MIME_LINE_LEN))
    }

    /// Encode `input`, holding back up to two octets for the next call.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        // Complete a held partial group first.
        if self.held_len > 0 {
            let need = 3 - self.held_len;
            if input.len() < need {
                self.held[self.held_len..self.held_len + input.len()].copy_from_slice(input);
                self.held_len += input.len();
                return;
            }
            let mut group = [0u8; 3];
            group[..self.held_len].copy_from_slice(&self.held[..self.held_len]);
            group[self.held_len..].copy_from_slice(&input[..need]);
            input = &input[need..];
            self.held_len = 0;
            self.emit(&encode_group(group), out);
        }
        match self.line_len {
            None => {
                let used = encode_groups(input, out);
                input = &input[used..];
            }
            Some(line_len) => {
                let per_line = line_len / 4 * 3;
                // Finish the current line group by group, then whole lines at a time.
                while input.len() >= 3 && self.column != 0 {
                    self.emit(&encode_group([input[0], input[1], input[2]]), out);
                    input = &input[3..];
                }
                out.reserve(input.len() / 3 * 4 + input.len() / per_line * 2 + 2);
                let used = encode_lines(input, per_line, out);
                input = &input[used..];
                while input.len() >= 3 {
                    self.emit(&encode_group([input[0], input[1], input[2]]), out);
                    input = &input[3..];
                }
            }
        }
        self.held[..input.len()].copy_from_slice(input);
        self.held_len = input.len();
    }

    fn emit(&mut self, quad: &[u8; 4], out: &mut Vec<u8>) {
        out.extend_from_slice(quad);
        if let Some(line_len) = self.line_len {
            self.column += 4;
            if self.column >= line_len {
                out.extend_from_slice(b"\r\n");
                self.column = 0;
            }
        }
    }

    /// Flush the held-back octets with padding and end the last line with CRLF (when wrapping
    /// and the last line is not empty). The encoder is ready for a new stream afterwards.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.held_len > 0 {
            if let Some(quad) = tail_quad(&self.held[..self.held_len]) {
                out.extend_from_slice(&quad);
            }
            self.column += 4;
            self.held_len = 0;
        }
        if self.line_len.is_some() && self.column > 0 {
            out.extend_from_slice(b"\r\n");
        }
        self.column = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn enc(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(input, &mut out);
        out
    }

    #[test]
    fn encodes_rfc4648_test_vectors() {
        let vectors: [(&[u8], &[u8]); 7] = [
            (b"", b""),
            (b"f", b"Zg=="),
            (b"fo", b"Zm8="),
            (b"foo", b"Zm9v"),
            (b"foob", b"Zm9vYg=="),
            (b"fooba", b"Zm9vYmE="),
            (b"foobar", b"Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(enc(plain), coded);
            assert_eq!(decode(coded).unwrap(), plain);
        }
    }

    #[test]
    fn rejects_missing_padding() {
        assert_eq!(decode(b"Zg"), Err(Base64Error::BadLength(2)));
    }

    #[test]
    fn rejects_bytes_outside_the_alphabet() {
        assert_eq!(
            decode(b"Zm9 "),
            Err(Base64Error::InvalidByte {
                offset: 3,
                byte: b' '
            })
        );
        assert!(decode(b"Z===").is_err());
        assert!(decode(b"Zg==Zg==").is_err());
    }

    #[test]
    fn rejects_non_canonical_padding_bits() {
        assert_eq!(decode(b"Zh=="), Err(Base64Error::NonCanonical));
    }

    #[test]
    fn mime_lines_are_76_characters_and_end_in_crlf() {
        let data = vec![0xabu8; 1000];
        let mut enc = StreamEncoder::mime();
        let mut out = Vec::new();
        enc.push(&data, &mut out);
        enc.finish(&mut out);
        let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
        assert_eq!(lines.last(), Some(&&b""[..]));
        for line in &lines[..lines.len() - 1] {
            assert!(line.ends_with(b"\r"));
            assert!(line.len() - 1 <= 76);
        }
        assert_eq!(lines[0].len(), 77);
    }

    #[test]
    fn empty_stream_encodes_to_nothing() {
        let mut enc = StreamEncoder::mime();
        let mut out = Vec::new();
        enc.push(b"", &mut out);
        enc.finish(&mut out);
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn base64_round_trips(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(decode(&enc(&data)).unwrap(), data);
        }

        #[test]
        fn streaming_output_is_the_same_for_any_split(
            data in proptest::collection::vec(any::<u8>(), 0..700),
            cuts in proptest::collection::vec(0usize..700, 0..8),
            wrap in proptest::option::of(1usize..100),
        ) {
            let mut whole = Vec::new();
            let mut one = StreamEncoder::new(wrap);
            one.push(&data, &mut whole);
            one.finish(&mut whole);

            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut split = Vec::new();
            let mut many = StreamEncoder::new(wrap);
            let mut start = 0;
            for cut in cuts {
                many.push(&data[start..cut], &mut split);
                start = cut;
            }
            many.push(&data[start..], &mut split);
            many.finish(&mut split);
            prop_assert_eq!(&split, &whole);

            let unwrapped: Vec<u8> = whole.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
            prop_assert_eq!(decode(&unwrapped).unwrap(), data);
        }
    }
}
