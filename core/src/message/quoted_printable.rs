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
        let literal =
            ((33..=126).contains(&b) && b != b'=') || ((b == b' ' || b == b'\t') && !last);
        let width = if literal { 1 } else { 3 };
        // Leave room for a soft break's `=` unless this is the line's last character.
        let limit = if last { MAX_LINE_LEN } else { MAX_LINE_LEN - 1 };
        if column + width > limit {
            out.extend_from_slice(b"=\r\n");
            column = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', hex_upper(b >> 4), hex_upper(b)]);
        }
        column += width;
        i += 1;
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

    proptest! {
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
