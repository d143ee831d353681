//! Header fields for signing: splitting a header block into fields, their canonical form
//! (RFC 6376 §3.4.1 simple, §3.4.2 relaxed), which fields to sign (§5.4.1), and which
//! instance of a field each `h=` entry stands for (§5.4.2).
//!
//! A field is its first line and the continuation lines that follow (lines starting with
//! SP or HTAB, RFC 5322 §2.2.3), each ended by CRLF. Its name is what precedes the colon,
//! compared without regard to case and to white space before the colon (RFC 5322 §4.5.3).

use alloc::string::String;
use alloc::vec::Vec;

use super::Canonicalization;

/// One header field, as it appears in the header block (its CRLF included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderField<'a> {
    raw: &'a [u8],
}

impl<'a> HeaderField<'a> {
    /// The field as written, folding and final CRLF included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The field name (before the colon, white space before the colon removed); the whole
    /// first line for a line without a colon, which no `h=` entry then matches.
    pub fn name(&self) -> &'a [u8] {
        match self.raw.iter().position(|&b| b == b':') {
            Some(colon) => self.raw.get(..colon).unwrap_or_default().trim_ascii_end(),
            None => self.raw,
        }
    }

    /// The value: everything after the colon, CRLF and folding included.
    pub fn value(&self) -> &'a [u8] {
        match self.raw.iter().position(|&b| b == b':') {
            Some(colon) => self.raw.get(colon + 1..).unwrap_or_default(),
            None => &[],
        }
    }

    /// Whether this field is called `name` (case-insensitively).
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }
}

/// The fields of a header block, in order.
pub fn fields(block: &[u8]) -> Vec<HeaderField<'_>> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < block.len() {
        let line_end = block
            .get(at..)
            .and_then(|rest| rest.windows(2).position(|w| w == b"\r\n"))
            .map_or(block.len(), |p| at + p + 2);
        let next_is_continuation = block
            .get(line_end)
            .is_some_and(|&b| b == b' ' || b == b'\t');
        if !next_is_continuation {
            fields.push(HeaderField {
                raw: block.get(start..line_end).unwrap_or_default(),
            });
            start = line_end;
        }
        at = line_end;
    }
    fields
}

/// Append the canonical form of `field` to `out`, with its CRLF.
pub fn canonicalize(
    field: &HeaderField<'_>,
    canonicalization: Canonicalization,
    out: &mut Vec<u8>,
) {
    match canonicalization {
        Canonicalization::Simple => out.extend_from_slice(field.raw),
        Canonicalization::Relaxed => {
            out.extend(field.name().iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            relaxed_value(field.value(), out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// A value unfolded, its white space runs made one SP, none at either end (§3.4.2).
pub(crate) fn relaxed_value(value: &[u8], out: &mut Vec<u8>) {
    let mut space = false;
    let mut started = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && started {
                    out.push(b' ');
                }
                space = false;
                started = true;
                out.push(b);
            }
        }
    }
}

/// The `h=` list for a header block: each of `wanted` present in `block`, as many times as
/// it occurs there, and each of `oversigned` once more (present or not), so that a field of
/// that name added later breaks the signature (RFC 6376 §8.15). Names in lower case, in the
/// order of `wanted`.
pub fn signed_header_names(block: &[u8], wanted: &[&str], oversigned: &[&str]) -> Vec<String> {
    let fields = fields(block);
    let mut names = Vec::new();
    for name in wanted {
        let count = fields.iter().filter(|f| f.is(name)).count();
        let extra = usize::from(oversigned.iter().any(|o| o.eq_ignore_ascii_case(name)));
        for _ in 0..count + extra {
            names.push(name.to_ascii_lowercase());
        }
    }
    names
}

/// The canonical octets of the fields `names` stands for (§5.4.2): for each name, the last
/// instance not yet used, from the bottom of the block up; a name with no instance left
/// stands for nothing.
pub fn canonical_signed_fields(
    block: &[u8],
    names: &[String],
    canonicalization: Canonicalization,
) -> Vec<u8> {
    let fields = fields(block);
    let mut used = alloc::vec![false; fields.len()];
    let mut out = Vec::new();
    for name in names {
        let found = fields
            .iter()
            .enumerate()
            .rev()
            .find(|(i, f)| f.is(name) && !used.get(*i).copied().unwrap_or(true));
        if let Some((i, field)) = found {
            if let Some(flag) = used.get_mut(i) {
                *flag = true;
            }
            canonicalize(field, canonicalization, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn folded_fields_are_one_field() {
        let block = b"Subject: a\r\n  b\r\nTo: x\r\n";
        let f = fields(block);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].raw(), b"Subject: a\r\n  b\r\n");
        assert_eq!(f[1].name(), b"To");
    }

    #[test]
    fn relaxed_header_is_unfolded_lowercased_and_trimmed() {
        // RFC 6376 §3.4.5's example.
        let block = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
        let mut out = Vec::new();
        for field in fields(block) {
            canonicalize(&field, Canonicalization::Relaxed, &mut out);
        }
        assert_eq!(out, b"a:X\r\nb:Y Z\r\n");
        let mut simple = Vec::new();
        for field in fields(block) {
            canonicalize(&field, Canonicalization::Simple, &mut simple);
        }
        assert_eq!(simple, block);
    }

    #[test]
    fn odd_case_names_match() {
        let block = b"fROM: a@example.test\r\nsUbJeCt: hi\r\n";
        let names = signed_header_names(block, &["from", "subject", "to"], &["from"]);
        assert_eq!(names, ["from", "from", "subject"].map(ToString::to_string));
        let out = canonical_signed_fields(block, &names, Canonicalization::Relaxed);
        assert_eq!(out, b"from:a@example.test\r\nsubject:hi\r\n");
    }

    #[test]
    fn repeated_fields_are_taken_from_the_bottom_up() {
        let block = b"To: 1\r\nTo: 2\r\n";
        let names = signed_header_names(block, &["to"], &[]);
        assert_eq!(names.len(), 2);
        let out = canonical_signed_fields(block, &names, Canonicalization::Relaxed);
        assert_eq!(out, b"to:2\r\nto:1\r\n");
    }
}
