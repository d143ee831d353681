//! MIME pieces: transfer-encoding choice for text, boundaries, content types and file-name
//! parameters (RFC 2045, RFC 2046 §5.1, RFC 2183, RFC 2231).
//!
//! **Transfer encoding of text** (RFC 2045 §2.7, §2.8, §6): the text is first put in canonical
//! form (every line end CRLF). A NUL makes it binary: base64. A line over 998 octets cannot go
//! as 7bit or 8bit (RFC 5322 §2.1.1): quoted-printable. Non-ASCII goes as `8bit` when the
//! server announced 8BITMIME (RFC 6152) and as quoted-printable otherwise. Everything else is
//! `7bit`.
//!
//! **Boundaries** (RFC 2046 §5.1.1) are `=_` + 16 hex digits of caller randomness + `.N.` +
//! `mixed` or `alt`. Why they cannot collide with the content, i.e. no body line starts with
//! `--` + boundary:
//! - base64 output lines hold only `A–Z a–z 0–9 + / =`, with `=` only as final padding: never
//!   `=_`;
//! - quoted-printable output has `=` only before two hex digits or CRLF: never `=_`;
//! - part header lines the writer produces start with a field name or white space, never `--`;
//! - 7bit and 8bit text is in memory, and is checked: while it contains the stem `=_hex.N.`,
//!   `N` is incremented (it terminates: a finite text holds finitely many stems);
//! - the two boundaries of one message share the stem and end in `mixed` and `alt`, so neither
//!   is a prefix of the other, and an inner delimiter is never read as an outer one.
//!
//! **File names** (RFC 2183 §2.3, RFC 2231 §3, §4): a short printable-ASCII name is a
//! quoted-string `filename="..."`; anything else is `filename*=utf-8''%XX…`, split into
//! `filename*0*=…; filename*1*=…` continuations when long. Content-Type also gets a `name`
//! parameter for clients that predate RFC 2231 (RFC 2046 §4.5.1 deprecates it, but
//! Outlook-era readers still use it): the quoted name, or for non-ASCII names base64
//! encoded-words inside the quotes. That last form is not allowed by RFC 2047 §5 but is what
//! those readers understand; parsers that follow RFC 2231 read `filename*` first.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::header::Folder;
use super::{check_injection, MessageError};

/// Longest line of 7bit or 8bit data, CRLF excluded (RFC 5322 §2.1.1, RFC 2045 §2.7).
pub const MAX_DATA_LINE_LEN: usize = 998;
/// Longest boundary (RFC 2046 §5.1.1).
pub const MAX_BOUNDARY_LEN: usize = 70;
/// Longest `type/subtype; params` accepted from the caller, so the header line stays short.
pub const MAX_CONTENT_TYPE_LEN: usize = 200;
/// Longest file name kept as a plain quoted-string (beyond it: RFC 2231 continuations).
const MAX_QUOTED_FILENAME: usize = 60;
/// Percent-encoded characters per RFC 2231 continuation segment.
const FILENAME_SEGMENT: usize = 50;
/// Octets of file name per base64 encoded-word in the `name` fallback (45 octets = 60
/// characters, a 72-character encoded-word: under RFC 2047 §2's 75).
const NAME_WORD_OCTETS: usize = 45;

/// A Content-Transfer-Encoding (RFC 2045 §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferEncoding {
    /// `7bit`: ASCII lines of at most 998 octets.
    SevenBit,
    /// `8bit`: like 7bit with octets over 127; needs 8BITMIME.
    EightBit,
    /// `quoted-printable`.
    QuotedPrintable,
    /// `base64`.
    Base64,
}

impl TransferEncoding {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferEncoding::SevenBit => "7bit",
            TransferEncoding::EightBit => "8bit",
            TransferEncoding::QuotedPrintable => "quoted-printable",
            TransferEncoding::Base64 => "base64",
        }
    }
}

/// The text with every line end (CRLF, bare LF, bare CR) made CRLF (RFC 2045 §6.8 canonical
/// form).
pub fn canonical_text(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            _ => out.push(b),
        }
        i += 1;
    }
    out
}

/// The transfer encoding for canonical text (see the module doc).
pub fn choose_text_encoding(canonical: &[u8], allow_eight_bit: bool) -> TransferEncoding {
    if canonical.contains(&0) {
        return TransferEncoding::Base64;
    }
    // In canonical text every LF ends a line; CRs are all followed by LF.
    if canonical
        .split(|&b| b == b'\n')
        .any(|line| line.strip_suffix(b"\r").unwrap_or(line).len() > MAX_DATA_LINE_LEN)
    {
        return TransferEncoding::QuotedPrintable;
    }
    match (canonical.is_ascii(), allow_eight_bit) {
        (true, _) => TransferEncoding::SevenBit,
        (false, true) => TransferEncoding::EightBit,
        (false, false) => TransferEncoding::QuotedPrintable,
    }
}

/// Encode canonical text with `encoding`, appending to `out`.
pub fn encode_text(canonical: &[u8], encoding: TransferEncoding, out: &mut Vec<u8>) {
    match encoding {
        TransferEncoding::SevenBit | TransferEncoding::EightBit => out.extend_from_slice(canonical),
        TransferEncoding::QuotedPrintable => super::quoted_printable::encode(canonical, out),
        TransferEncoding::Base64 => {
            let mut encoder = crate::base64::StreamEncoder::mime();
            encoder.push(canonical, out);
            encoder.finish(out);
        }
    }
}

/// The shared start of a message's boundaries for `attempt` (see the module doc).
pub fn boundary_stem(random: u64, attempt: u32) -> String {
    format!("=_{random:016x}.{attempt}.")
}

/// The first boundary stem that none of the `texts` (7bit/8bit bodies) contains.
pub fn collision_free_stem(random: u64, texts: &[&[u8]]) -> String {
    let mut attempt = 0u32;
    loop {
        let stem = boundary_stem(random, attempt);
        let collides = texts
            .iter()
            .any(|text| text.windows(stem.len()).any(|w| w == stem.as_bytes()));
        if !collides {
            return stem;
        }
        attempt = attempt.wrapping_add(1);
    }
}

fn is_token_char(b: u8) -> bool {
    (33..=126).contains(&b) && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

/// Check a caller's content type: `type/subtype` tokens, then optionally `;` and printable
/// ASCII parameters, at most [`MAX_CONTENT_TYPE_LEN`] long.
pub fn validate_content_type(content_type: &str) -> Result<(), MessageError> {
    check_injection("Content-Type", content_type)?;
    let invalid = || MessageError::InvalidContentType(String::from(content_type));
    let (essence, params) = match content_type.split_once(';') {
        Some((essence, params)) => (essence, Some(params)),
        None => (content_type, None),
    };
    let (kind, subtype) = essence.trim().split_once('/').ok_or_else(invalid)?;
    let token = |s: &str| !s.is_empty() && s.bytes().all(is_token_char);
    if !token(kind) || !token(subtype) || content_type.len() > MAX_CONTENT_TYPE_LEN {
        return Err(invalid());
    }
    if kind.eq_ignore_ascii_case("multipart") || kind.eq_ignore_ascii_case("message") {
        // Their bodies would need boundaries or 7bit; an attachment is always base64.
        return Err(invalid());
    }
    if let Some(params) = params {
        if !params
            .bytes()
            .all(|b| (32..=126).contains(&b) || b == b'\t')
        {
            return Err(invalid());
        }
    }
    Ok(())
}

/// A quoted-string with `"` and `\` escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn plain_quotable(name: &str, max: usize) -> bool {
    name.len() <= max && name.bytes().all(|b| (32..=126).contains(&b))
}

/// RFC 2231 §7 `attribute-char`: kept as is in an extended value.
fn is_attribute_char(b: u8) -> bool {
    is_token_char(b) && !matches!(b, b'*' | b'\'' | b'%')
}

/// Write `;` then `attribute` for a file name (RFC 2183 `filename`), as a quoted-string or
/// RFC 2231 extended value with continuations.
pub(crate) fn filename_param(folder: &mut Folder<'_>, attribute: &str, name: &str) {
    if plain_quotable(name, MAX_QUOTED_FILENAME) {
        folder.glue(";");
        folder.atom(" ", &format!("{attribute}={}", quoted(name)));
        return;
    }
    // Percent-encode, then cut into segments between escapes.
    let mut segments: Vec<String> = Vec::new();
    let mut current = String::new();
    for &b in name.as_bytes() {
        let piece = if is_attribute_char(b) {
            format!("{}", b as char)
        } else {
            format!("%{b:02X}")
        };
        if current.len() + piece.len() > FILENAME_SEGMENT {
            segments.push(core::mem::take(&mut current));
        }
        current.push_str(&piece);
    }
    segments.push(current);
    if let [only] = segments.as_slice() {
        folder.glue(";");
        folder.atom(" ", &format!("{attribute}*=utf-8''{only}"));
        return;
    }
    for (i, segment) in segments.iter().enumerate() {
        let charset = if i == 0 { "utf-8''" } else { "" };
        folder.glue(";");
        folder.atom(" ", &format!("{attribute}*{i}*={charset}{segment}"));
    }
}

/// Write `; name="..."`, the pre-RFC 2231 fallback on Content-Type (see the module doc).
pub(crate) fn name_param(folder: &mut Folder<'_>, name: &str) {
    folder.glue(";");
    if plain_quotable(name, MAX_QUOTED_FILENAME * 3) {
        folder.atom(" ", &format!("name={}", quoted(name)));
        return;
    }
    let mut words: Vec<String> = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let mut end = 0;
        for (i, c) in rest.char_indices() {
            if i + c.len_utf8() > NAME_WORD_OCTETS {
                break;
            }
            end = i + c.len_utf8();
        }
        let (chunk, tail) = rest.split_at(end);
        let mut word = Vec::from(&b"=?UTF-8?B?"[..]);
        crate::base64::encode(chunk.as_bytes(), &mut word);
        word.extend_from_slice(b"?=");
        words.push(String::from_utf8(word).unwrap_or_default());
        rest = tail;
    }
    let last = words.len().saturating_sub(1);
    for (i, word) in words.iter().enumerate() {
        let open = if i == 0 { "name=\"" } else { "" };
        let close = if i == last { "\"" } else { "" };
        folder.atom(" ", &format!("{open}{word}{close}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn disposition(name: &str) -> String {
        let mut out = Vec::new();
        let mut folder = Folder::new(&mut out, "Content-Disposition");
        folder.atom(" ", "attachment");
        filename_param(&mut folder, "filename", name);
        folder.finish();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn normalises_every_line_end_to_crlf() {
        assert_eq!(canonical_text("a\nb\r\nc\rd"), b"a\r\nb\r\nc\r\nd");
    }

    #[test]
    fn chooses_7bit_for_short_ascii_lines() {
        assert_eq!(
            choose_text_encoding(b"hello\r\nworld", false),
            TransferEncoding::SevenBit
        );
    }

    #[test]
    fn chooses_8bit_for_non_ascii_only_when_allowed() {
        let text = "café".as_bytes();
        assert_eq!(choose_text_encoding(text, true), TransferEncoding::EightBit);
        assert_eq!(
            choose_text_encoding(text, false),
            TransferEncoding::QuotedPrintable
        );
    }

    #[test]
    fn chooses_quoted_printable_for_lines_over_998_octets() {
        let long = "a".repeat(999);
        assert_eq!(
            choose_text_encoding(long.as_bytes(), true),
            TransferEncoding::QuotedPrintable
        );
        let fits = "a".repeat(998) + "\r\n";
        assert_eq!(
            choose_text_encoding(fits.as_bytes(), true),
            TransferEncoding::SevenBit
        );
    }

    #[test]
    fn chooses_base64_for_nul() {
        assert_eq!(
            choose_text_encoding(b"a\0b", true),
            TransferEncoding::Base64
        );
    }

    #[test]
    fn boundary_fits_rfc_2046_and_is_quoted_safe() {
        let stem = boundary_stem(u64::MAX, u32::MAX);
        assert!(stem.len() + "mixed".len() <= MAX_BOUNDARY_LEN);
        assert!(stem.starts_with("=_"));
    }

    #[test]
    fn skips_a_boundary_stem_that_the_text_contains() {
        let taken = boundary_stem(7, 0);
        let text = format!("hello\r\n--{taken}mixed\r\n");
        let stem = collision_free_stem(7, &[text.as_bytes()]);
        assert_eq!(stem, boundary_stem(7, 1));
        assert_eq!(collision_free_stem(7, &[b"no collision"]), taken);
    }

    #[test]
    fn quotes_short_ascii_file_names() {
        assert_eq!(
            disposition("my \"report\".pdf"),
            "Content-Disposition: attachment; filename=\"my \\\"report\\\".pdf\"\r\n"
        );
    }

    #[test]
    fn encodes_non_ascii_file_names_per_rfc_2231() {
        assert_eq!(
            disposition("résumé.pdf"),
            "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
        );
    }

    #[test]
    fn continues_long_file_names_per_rfc_2231() {
        let name = "é".repeat(30) + ".txt";
        let field = disposition(&name);
        assert!(field.contains("filename*0*=utf-8''%C3%A9"));
        assert!(field.contains("filename*1*=%C3%A9"));
        for line in field.trim_end().split("\r\n") {
            assert!(line.len() <= 78, "{line}");
        }
    }

    #[test]
    fn writes_encoded_words_in_the_name_fallback_for_non_ascii() {
        let mut out = Vec::new();
        let mut folder = Folder::new(&mut out, "Content-Type");
        folder.atom(" ", "text/plain");
        name_param(&mut folder, "é.txt");
        folder.finish();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Content-Type: text/plain; name=\"=?UTF-8?B?w6kudHh0?=\"\r\n"
        );
    }

    #[test]
    fn accepts_content_types_with_parameters() {
        assert_eq!(validate_content_type("application/pdf"), Ok(()));
        assert_eq!(validate_content_type("text/plain; charset=utf-8"), Ok(()));
    }

    #[test]
    fn refuses_malformed_or_multipart_content_types() {
        for ct in ["pdf", "/x", "a b/c", "multipart/mixed", "text/plain; é=1"] {
            assert_eq!(
                validate_content_type(ct),
                Err(MessageError::InvalidContentType(ct.to_string()))
            );
        }
        assert!(matches!(
            validate_content_type("text/plain\r\nBcc: x"),
            Err(MessageError::ForbiddenCharacter { .. })
        ));
    }
}
