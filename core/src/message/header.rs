//! Header fields: folding, RFC 2047 encoded-words, display names and address lists.
//!
//! RFC 5322 §2.1.1: lines SHOULD be at most 78 characters and MUST be at most 998, CRLF
//! excluded. The folder writes a field atom by atom and folds (CRLF before existing white
//! space, §2.2.3) when the next atom would pass 78; an atom that does not fit even on a fresh
//! line stays whole (the line is then longer than 78 but, by the limits below, never 998).
//! A folded line never consists of white space only (§3.2.2): every fold is followed by a word.
//!
//! Text that cannot go verbatim (non-ASCII, control characters, `=?` which would read as an
//! encoded-word, or a word too long to fit a line) is written as RFC 2047 encoded-words:
//! `=?UTF-8?B?...?=` or `=?UTF-8?Q?...?=`, whichever is shorter for that run of text, each at
//! most 75 characters (§2), split only between UTF-8 characters (§5 (3): "each
//! 'encoded-word' MUST represent an integral number of characters"). Consecutive words that
//! need encoding are encoded together with the white space between them, because white space
//! between two encoded-words is dropped on decoding (§6.2). Q uses only the characters §5 (3)
//! allows in a phrase, so the same encoder serves Subject and display names.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{check_injection, MessageError};

/// Longest line, CRLF excluded (RFC 5322 §2.1.1 MUST).
pub const MAX_LINE_LEN: usize = 998;
/// Line length the folder aims for, CRLF excluded (RFC 5322 §2.1.1 SHOULD).
pub const FOLD_LINE_LEN: usize = 78;
/// Longest encoded-word (RFC 2047 §2).
pub const MAX_ENCODED_WORD_LEN: usize = 75;
/// Longest extra header name: `name: ` must leave room for a word on a 78-character line
/// (RFC 5322 §2.1.1; the grammar itself sets no limit).
pub const MAX_HEADER_NAME_LEN: usize = 76;
/// Longest white space + word written verbatim; longer ones are encoded so that no line can
/// reach [`MAX_LINE_LEN`] (name ≤ 76 + `:` + 900 < 998).
const MAX_PLAIN_ATOM: usize = 900;
/// Longest run of white space kept literal between words; a longer one goes inside an
/// encoded-word so that it cannot make a long line.
const MAX_PLAIN_SPACE: usize = 64;
/// Longest display name written as atoms or a quoted-string (at most twice as long once
/// escaped): with an address of [`MAX_ADDRESS_LEN`] it stays under [`MAX_PLAIN_ATOM`].
const MAX_PLAIN_PHRASE: usize = 200;
/// Longest address accepted (RFC 5321 §4.5.3.1.3: a path is at most 256 octets with its
/// angle brackets).
pub const MAX_ADDRESS_LEN: usize = 254;
/// `=?UTF-8?B?` + `?=`.
const ENCODED_WORD_OVERHEAD: usize = 12;
/// Below this much room for encoded text, start a new line rather than write a stub word.
const MIN_ENCODED_TEXT: usize = 16;

/// A mailbox as written in From, To, Cc and Reply-To: an optional display name and the
/// address text (`local@domain`, no angle brackets).
///
/// The address is validated lightly (see [`MailboxHeader::validate`]); the full RFC 5321
/// validation belongs to [`crate::address`], which the envelope uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxHeader {
    /// The display name; `None` or empty for none. Any Unicode text; quoted or encoded as
    /// needed.
    pub display_name: Option<String>,
    /// `local@domain`. Non-ASCII makes the message need SMTPUTF8 (RFC 6532).
    pub address: String,
}

impl MailboxHeader {
    /// A mailbox without display name.
    pub fn new(address: &str) -> MailboxHeader {
        MailboxHeader {
            display_name: None,
            address: String::from(address),
        }
    }

    /// A mailbox with a display name.
    pub fn with_name(display_name: &str, address: &str) -> MailboxHeader {
        MailboxHeader {
            display_name: Some(String::from(display_name)),
            address: String::from(address),
        }
    }

    /// Check the mailbox for use in `header`: no CR, LF or NUL anywhere; in the address no
    /// control characters, white space outside quotes, `<` or `>`, and a non-empty local part
    /// and domain around the last `@`.
    pub fn validate(&self, header: &str) -> Result<(), MessageError> {
        if let Some(name) = &self.display_name {
            check_injection(header, name)?;
        }
        check_injection(header, &self.address)?;
        let invalid = |reason| MessageError::InvalidAddress {
            header: String::from(header),
            reason,
        };
        let Some((local, domain)) = self.address.rsplit_once('@') else {
            return Err(invalid("no '@'"));
        };
        if local.is_empty() {
            return Err(invalid("empty local part"));
        }
        if domain.is_empty() {
            return Err(invalid("empty domain"));
        }
        if self.address.len() > MAX_ADDRESS_LEN {
            return Err(invalid("too long"));
        }
        if self
            .address
            .chars()
            .any(|c| c.is_control() || c == '<' || c == '>')
        {
            return Err(invalid("control character, '<' or '>'"));
        }
        let quoted = local.len() >= 2 && local.starts_with('"') && local.ends_with('"');
        if !quoted && local.contains([' ', '\t', '"']) {
            return Err(invalid("white space or '\"' in an unquoted local part"));
        }
        if domain.contains([' ', '\t', '"', '@']) {
            return Err(invalid("white space, '\"' or '@' in the domain"));
        }
        Ok(())
    }

    /// True when the address holds non-ASCII (the message then needs SMTPUTF8, RFC 6531).
    /// A non-ASCII display name does not: it is written as encoded-words.
    pub fn needs_smtputf8(&self) -> bool {
        !self.address.is_ascii()
    }

    /// The domain: what follows the last `@`.
    pub fn domain(&self) -> &str {
        self.address
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
    }
}

/// Check an extra header's name: 1 to [`MAX_HEADER_NAME_LEN`] printable ASCII characters
/// other than `:` (RFC 5322 §2.2 `ftext`).
pub fn validate_header_name(name: &str) -> Result<(), MessageError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_HEADER_NAME_LEN
        && name.bytes().all(|b| (33..=126).contains(&b) && b != b':');
    if ok {
        Ok(())
    } else {
        Err(MessageError::InvalidHeaderName(String::from(name)))
    }
}

/// Encode one unstructured header field (`Subject:` or any extra header), CRLF included.
///
/// Refuses CR, LF and NUL in the value and invalid names; otherwise every line of the result
/// is at most [`MAX_LINE_LEN`] octets and, where the words allow, at most [`FOLD_LINE_LEN`].
pub fn encode_unstructured(name: &str, value: &str, out: &mut Vec<u8>) -> Result<(), MessageError> {
    validate_header_name(name)?;
    check_injection(name, value)?;
    let mut folder = Folder::new(out, name);
    folder.unstructured(value);
    folder.finish();
    Ok(())
}

/// The encoding of one run of encoded-words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WordEncoding {
    B,
    Q,
}

/// Characters Q may leave as they are in any context (RFC 2047 §5 (3)).
fn q_literal(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'!' | b'*' | b'+' | b'-' | b'/')
}

fn q_len(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .map(|&b| if q_literal(b) || b == b' ' { 1 } else { 3 })
        .sum()
}

fn encoded_text_len(encoding: WordEncoding, bytes: &[u8]) -> usize {
    match encoding {
        WordEncoding::B => crate::base64::encoded_len(bytes.len()),
        WordEncoding::Q => q_len(bytes),
    }
}

fn hex_upper(nibble: u8) -> u8 {
    b"0123456789ABCDEF"[usize::from(nibble & 15)]
}

/// The longest prefix of `text` (whole characters) whose encoded text fits in `budget`.
fn prefix_that_fits(text: &str, encoding: WordEncoding, budget: usize) -> usize {
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let next = i + c.len_utf8();
        if encoded_text_len(encoding, &text.as_bytes()[..next]) > budget {
            break;
        }
        end = next;
    }
    end
}

fn is_wsp(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// A display name as atoms or a quoted-string, or `None` when it needs encoded-words
/// (non-printable or non-ASCII characters, `=?`, or longer than [`MAX_PLAIN_PHRASE`]).
fn plain_phrase(name: &str) -> Option<String> {
    let name = name.trim_matches(is_wsp);
    let printable = name.bytes().all(|b| (32..=126).contains(&b));
    if !printable || name.contains("=?") || name.len() > MAX_PLAIN_PHRASE {
        return None;
    }
    let is_atext = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b);
    if !name.contains("  ") && name.bytes().all(|b| b == b' ' || is_atext(b)) {
        return Some(String::from(name));
    }
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    Some(quoted)
}

/// Split `text` (trimmed) into (white space before, word) pairs; the first has no space.
fn tokens(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text.trim_matches(is_wsp);
    while !rest.is_empty() {
        let word_start = rest.find(|c| !is_wsp(c)).unwrap_or(rest.len());
        let after = &rest[word_start..];
        let word_len = after.find(is_wsp).unwrap_or(after.len());
        out.push((&rest[..word_start], &after[..word_len]));
        rest = &after[word_len..];
    }
    out
}

/// Writes one header field, folding as it goes.
pub(crate) struct Folder<'a> {
    out: &'a mut Vec<u8>,
    line_len: usize,
    /// Nothing but `Name:` on the current line: folding there would not help.
    bare: bool,
}

impl<'a> Folder<'a> {
    /// Start the field `name:` (the name must be valid).
    pub(crate) fn new(out: &'a mut Vec<u8>, name: &str) -> Folder<'a> {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        Folder {
            out,
            line_len: name.len() + 1,
            bare: true,
        }
    }

    fn fold(&mut self) {
        self.out.extend_from_slice(b"\r\n");
        self.line_len = 0;
    }

    /// Write `space` then `word`, folding before `space` (non-empty) when the line would
    /// pass [`FOLD_LINE_LEN`], unless the line holds only the field name.
    pub(crate) fn atom(&mut self, space: &str, word: &str) {
        let len = space.len() + word.len();
        let too_long = self.line_len + len > FOLD_LINE_LEN && !self.bare;
        if too_long || self.line_len + len > MAX_LINE_LEN {
            self.fold();
        }
        self.out.extend_from_slice(space.as_bytes());
        self.out.extend_from_slice(word.as_bytes());
        self.line_len += len;
        self.bare = false;
    }

    /// Append text that must stay on the current line (a `,` or `;` after an atom).
    pub(crate) fn glue(&mut self, text: &str) {
        self.out.extend_from_slice(text.as_bytes());
        self.line_len += text.len();
    }

    /// Write `text` as encoded-words, the first preceded by `space` (non-empty), the others
    /// by a single space or a fold.
    pub(crate) fn encoded(&mut self, space: &str, text: &str) {
        let bytes = text.as_bytes();
        let encoding = if q_len(bytes) <= crate::base64::encoded_len(bytes.len()) {
            WordEncoding::Q
        } else {
            WordEncoding::B
        };
        let mut rest = text;
        let mut space = space;
        while !rest.is_empty() {
            let room = FOLD_LINE_LEN
                .saturating_sub(self.line_len + space.len())
                .min(MAX_ENCODED_WORD_LEN)
                .saturating_sub(ENCODED_WORD_OVERHEAD);
            let mut take = prefix_that_fits(rest, encoding, room);
            if take == 0 || (take < rest.len() && room < MIN_ENCODED_TEXT) {
                self.fold();
                // A full-size word on the fresh line; any one character fits (4 octets
                // are 12 Q characters or 8 B ones).
                take =
                    prefix_that_fits(rest, encoding, MAX_ENCODED_WORD_LEN - ENCODED_WORD_OVERHEAD);
            }
            let (chunk, tail) = rest.split_at(take);
            self.out.extend_from_slice(space.as_bytes());
            let start = self.out.len();
            self.write_encoded_word(encoding, chunk.as_bytes());
            self.line_len += space.len() + self.out.len() - start;
            self.bare = false;
            rest = tail;
            space = " ";
        }
    }

    fn write_encoded_word(&mut self, encoding: WordEncoding, chunk: &[u8]) {
        match encoding {
            WordEncoding::B => {
                self.out.extend_from_slice(b"=?UTF-8?B?");
                crate::base64::encode(chunk, self.out);
            }
            WordEncoding::Q => {
                self.out.extend_from_slice(b"=?UTF-8?Q?");
                for &b in chunk {
                    if q_literal(b) {
                        self.out.push(b);
                    } else if b == b' ' {
                        self.out.push(b'_');
                    } else {
                        self.out
                            .extend_from_slice(&[b'=', hex_upper(b >> 4), hex_upper(b)]);
                    }
                }
            }
        }
        self.out.extend_from_slice(b"?=");
    }

    /// Unstructured text (RFC 5322 §3.2.5): verbatim words where possible, encoded-words for
    /// the rest.
    pub(crate) fn unstructured(&mut self, value: &str) {
        let tokens = tokens(value);
        let needs_encoding = |(space, word): &(&str, &str)| {
            space.len() > MAX_PLAIN_SPACE
                || space.len() + word.len() > MAX_PLAIN_ATOM
                || word.contains("=?")
                || !word.bytes().all(|b| (33..=126).contains(&b))
        };
        let mut i = 0;
        while let Some(&(space, word)) = tokens.get(i) {
            let token = (space, word);
            if !needs_encoding(&token) {
                self.atom(if i == 0 { " " } else { space }, word);
                i += 1;
                continue;
            }
            // The run's first white space stays literal (it separates the run from what
            // precedes); a long one keeps only its first character literal.
            let (literal, mut text) = if i == 0 {
                (" ", String::new())
            } else if space.len() > MAX_PLAIN_SPACE {
                (&space[..1], String::from(&space[1..]))
            } else {
                (space, String::new())
            };
            text.push_str(word);
            i += 1;
            while let Some(next) = tokens.get(i).filter(|t| needs_encoding(t)) {
                text.push_str(next.0);
                text.push_str(next.1);
                i += 1;
            }
            self.encoded(literal, &text);
        }
    }

    /// A comma-separated list of mailboxes (validated by the caller). A mailbox with a plain
    /// display name is one atom, so folds fall between mailboxes.
    pub(crate) fn mailboxes(&mut self, list: &[MailboxHeader]) {
        for (i, mailbox) in list.iter().enumerate() {
            if i > 0 {
                self.glue(",");
            }
            let address = &mailbox.address;
            match mailbox
                .display_name
                .as_deref()
                .filter(|n| !n.trim().is_empty())
            {
                Some(name) => match plain_phrase(name) {
                    Some(plain) => self.atom(" ", &format!("{plain} <{address}>")),
                    None => {
                        self.encoded(" ", name.trim_matches(is_wsp));
                        self.atom(" ", &format!("<{address}>"));
                    }
                },
                None => self.atom(" ", address),
            }
        }
    }

    /// End the field with CRLF.
    pub(crate) fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn unstructured(name: &str, value: &str) -> String {
        let mut out = Vec::new();
        encode_unstructured(name, value, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn mailboxes(list: &[MailboxHeader]) -> String {
        let mut out = Vec::new();
        let mut folder = Folder::new(&mut out, "To");
        folder.mailboxes(list);
        folder.finish();
        String::from_utf8(out).unwrap()
    }

    /// A small independent RFC 2047 decoder for checking: unfold, then decode encoded-words,
    /// dropping white space between adjacent ones.
    pub(crate) fn decode_field_value(field: &str) -> String {
        let unfolded = field.replace("\r\n", "");
        let value = unfolded
            .split_once(':')
            .unwrap()
            .1
            .trim_start_matches(is_wsp);
        let mut out: Vec<u8> = Vec::new();
        let mut last_encoded = false;
        for (space, word) in tokens_keep_leading(value) {
            match decode_encoded_word(word) {
                Some(bytes) => {
                    if !last_encoded {
                        out.extend_from_slice(space.as_bytes());
                    }
                    out.extend_from_slice(&bytes);
                    last_encoded = true;
                }
                None => {
                    out.extend_from_slice(space.as_bytes());
                    out.extend_from_slice(word.as_bytes());
                    last_encoded = false;
                }
            }
        }
        String::from_utf8(out).unwrap()
    }

    fn tokens_keep_leading(text: &str) -> Vec<(&str, &str)> {
        let mut out = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let word_start = rest.find(|c| !is_wsp(c)).unwrap_or(rest.len());
            let after = &rest[word_start..];
            let word_len = after.find(is_wsp).unwrap_or(after.len());
            out.push((&rest[..word_start], &after[..word_len]));
            rest = &after[word_len..];
        }
        out
    }

    fn decode_encoded_word(word: &str) -> Option<Vec<u8>> {
        let inner = word.strip_prefix("=?UTF-8?")?.strip_suffix("?=")?;
        let (kind, text) = inner.split_once('?')?;
        match kind {
            "B" => Some(crate::base64::decode(text.as_bytes()).unwrap()),
            "Q" => {
                let mut out = Vec::new();
                let b = text.as_bytes();
                let mut i = 0;
                while i < b.len() {
                    match b[i] {
                        b'_' => out.push(b' '),
                        b'=' => {
                            let hex = core::str::from_utf8(&b[i + 1..i + 3]).unwrap();
                            out.push(u8::from_str_radix(hex, 16).unwrap());
                            i += 2;
                        }
                        c => out.push(c),
                    }
                    i += 1;
                }
                Some(out)
            }
            _ => None,
        }
    }

    fn assert_well_formed(field: &str) {
        assert!(field.ends_with("\r\n"), "{field:?}");
        let body = &field[..field.len() - 2];
        for line in body.split("\r\n") {
            assert!(!line.contains(['\r', '\n']), "bare CR or LF in {field:?}");
            assert!(line.len() <= MAX_LINE_LEN, "line over 998 in {field:?}");
            assert!(
                !line.trim_matches(is_wsp).is_empty(),
                "blank line in {field:?}"
            );
        }
        for word in body.split([' ', '\t', '\r', '\n']) {
            if word.starts_with("=?") {
                assert!(word.len() <= MAX_ENCODED_WORD_LEN, "{word}");
            }
        }
    }

    #[test]
    fn writes_short_ascii_subjects_verbatim() {
        assert_eq!(
            unstructured("Subject", "Hello world"),
            "Subject: Hello world\r\n"
        );
    }

    #[test]
    fn folds_long_ascii_subjects_at_white_space_under_78() {
        let value = "word ".repeat(40);
        let field = unstructured("Subject", &value);
        assert!(field.contains("\r\n word"));
        for line in field.trim_end().split("\r\n") {
            assert!(line.len() <= FOLD_LINE_LEN, "{line}");
        }
        assert_eq!(decode_field_value(&field), value.trim_end());
    }

    #[test]
    fn keeps_a_long_ascii_word_whole_on_its_own_line() {
        let url = "https://example.com/".to_string() + &"a".repeat(100);
        let field = unstructured("Subject", &("see ".to_string() + &url));
        assert_eq!(field, alloc::format!("Subject: see\r\n {url}\r\n"));
    }

    #[test]
    fn encodes_a_word_too_long_for_any_line() {
        let word = "x".repeat(2000);
        let field = unstructured("Subject", &word);
        assert_well_formed(&field);
        assert!(field.starts_with("Subject: =?UTF-8?Q?xxx"));
        assert_eq!(decode_field_value(&field), word);
    }

    #[test]
    fn encodes_non_ascii_words_with_q_when_shorter() {
        assert_eq!(
            unstructured("Subject", "Zürichsee tour"),
            "Subject: =?UTF-8?Q?Z=C3=BCrichsee?= tour\r\n"
        );
    }

    #[test]
    fn encodes_non_ascii_words_with_b_when_shorter() {
        assert_eq!(
            unstructured("Subject", "日本語"),
            "Subject: =?UTF-8?B?5pel5pys6Kqe?=\r\n"
        );
    }

    #[test]
    fn keeps_the_space_between_adjacent_encoded_words_inside_the_encoding() {
        let field = unstructured("Subject", "Zürich  Genève");
        assert_eq!(field.matches("=?UTF-8?").count(), 1, "{field}");
        assert_eq!(decode_field_value(&field), "Zürich  Genève");
    }

    #[test]
    fn encodes_text_that_looks_like_an_encoded_word() {
        let field = unstructured("Subject", "=?UTF-8?Q?x?=");
        assert!(!field.starts_with("Subject: =?UTF-8?Q?x?="));
        assert_eq!(decode_field_value(&field), "=?UTF-8?Q?x?=");
    }

    #[test]
    fn splits_encoded_words_on_character_boundaries_within_75_characters() {
        let value = "😀".repeat(40);
        let field = unstructured("Subject", &value);
        assert_well_formed(&field);
        for word in field
            .split([' ', '\r', '\n'])
            .filter(|w| w.starts_with("=?"))
        {
            // Each word decodes to whole characters on its own.
            let bytes = decode_encoded_word(word).unwrap();
            assert!(core::str::from_utf8(&bytes).is_ok(), "{word}");
        }
        assert_eq!(decode_field_value(&field), value);
    }

    #[test]
    fn refuses_cr_lf_and_nul_naming_the_header() {
        for (value, byte) in [("a\rb", b'\r'), ("a\nBcc: x", b'\n'), ("a\0", 0)] {
            let mut out = Vec::new();
            assert_eq!(
                encode_unstructured("X-Tag", value, &mut out),
                Err(MessageError::ForbiddenCharacter {
                    header: "X-Tag".to_string(),
                    byte
                })
            );
        }
    }

    #[test]
    fn refuses_header_names_with_colon_space_or_non_ascii() {
        for name in ["", "X:Y", "X Y", "Ümlaut", &"X".repeat(77)] {
            assert_eq!(
                validate_header_name(name),
                Err(MessageError::InvalidHeaderName(name.to_string()))
            );
        }
        assert_eq!(validate_header_name("X-Mailer"), Ok(()));
    }

    #[test]
    fn writes_plain_display_names_as_atoms() {
        let to = [MailboxHeader::with_name("Ann Smith", "ann@example.com")];
        assert_eq!(mailboxes(&to), "To: Ann Smith <ann@example.com>\r\n");
    }

    #[test]
    fn quotes_display_names_with_specials() {
        let to = [MailboxHeader::with_name(
            "Smith, \"Ann\"",
            "ann@example.com",
        )];
        assert_eq!(
            mailboxes(&to),
            "To: \"Smith, \\\"Ann\\\"\" <ann@example.com>\r\n"
        );
    }

    #[test]
    fn encodes_non_ascii_display_names() {
        let to = [MailboxHeader::with_name("Jose Müller", "jm@example.com")];
        assert_eq!(
            mailboxes(&to),
            "To: =?UTF-8?Q?Jose_M=C3=BCller?= <jm@example.com>\r\n"
        );
    }

    #[test]
    fn folds_address_lists_after_commas() {
        let to: Vec<MailboxHeader> = (0..6)
            .map(|i| MailboxHeader::with_name("Someone", &alloc::format!("person{i}@example.com")))
            .collect();
        let field = mailboxes(&to);
        assert!(field.contains(",\r\n Someone"));
        for line in field.trim_end().split("\r\n") {
            assert!(line.len() <= FOLD_LINE_LEN);
        }
    }

    #[test]
    fn validates_addresses_lightly() {
        let bad = |addr: &str| MailboxHeader::new(addr).validate("To").is_err();
        assert!(bad("no-at-sign"));
        assert!(bad("@example.com"));
        assert!(bad("ann@"));
        assert!(bad("ann smith@example.com"));
        assert!(bad("ann@exa mple.com"));
        assert!(bad("<ann@example.com>"));
        assert!(!bad("ann@example.com"));
        assert!(!bad("\"ann smith\"@example.com"));
        assert!(!bad("jörg@bücher.example"));
    }

    #[test]
    fn only_non_ascii_addresses_need_smtputf8() {
        assert!(!MailboxHeader::with_name("Jörg", "j@example.com").needs_smtputf8());
        assert!(MailboxHeader::new("jörg@example.com").needs_smtputf8());
    }

    proptest! {
        #[test]
        fn any_header_text_encodes_to_a_valid_header_or_is_refused(
            name in "[ -~]{0,80}|X-[A-Za-z]{1,70}",
            value in any::<String>(),
        ) {
            let mut out = Vec::new();
            match encode_unstructured(&name, &value, &mut out) {
                Ok(()) => {
                    let field = String::from_utf8(out).unwrap();
                    assert_well_formed(&field);
                    prop_assert!(field.is_ascii());
                    prop_assert_eq!(decode_field_value(&field), value.trim_matches(is_wsp));
                }
                Err(MessageError::ForbiddenCharacter { header, byte }) => {
                    prop_assert_eq!(header, name);
                    prop_assert!(value.as_bytes().contains(&byte));
                }
                Err(MessageError::InvalidHeaderName(bad)) => {
                    prop_assert_eq!(&bad, &name);
                    prop_assert!(validate_header_name(&name).is_err());
                }
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        #[test]
        fn any_display_name_encodes_within_the_line_limits(
            name in any::<String>().prop_filter("no CR LF NUL", |s| !s.contains(['\r', '\n', '\0'])),
            copies in 1usize..4,
        ) {
            let to = vec![MailboxHeader::with_name(&name, "a@example.com"); copies];
            let field = mailboxes(&to);
            assert_well_formed(&field);
            prop_assert!(field.is_ascii());
        }
    }
}
