//! A ready RFC 5322 message, passed through with Date and Message-ID added when missing
//! (RFC 5322 §3.6: both are required, resp. SHOULD be present; RFC 6409 §8.2, §8.3 let a
//! submission agent add them).
//!
//! [`RawMessage`] is a push filter: it buffers the header block only (up to
//! [`MAX_HEADER_BLOCK`] octets), finds its end (the first empty line, with CRLF or bare LF
//! line ends: the DATA encoder normalises them later), looks for `Date:` and `Message-ID:`
//! field names case-insensitively (continuation lines of folded fields start with white
//! space and are never taken for names; white space before the colon, RFC 5322 §4.5.3
//! obsolete syntax, is allowed), writes the missing ones first, then passes everything else
//! through untouched. It also notes 8-bit octets: in the header block (a hint that SMTPUTF8
//! is needed, RFC 6532) and in the body seen so far (8BITMIME, RFC 6152). And it checks
//! what it is given can go out as text ([`ContentScan`]): a NUL or a line over 998 octets is
//! [`MessageError::Content`], with the offset or the line number in the caller's input.
//!
//! Deviation: an mbox `From ` line at the start is not recognised; it would end up in the
//! header block as a line without a colon, passed through as is.

use alloc::string::String;
use alloc::vec::Vec;

use super::writer::message_id;
use super::{DateTime, MessageError};
use crate::transparency::ContentScan;

/// Largest header block buffered, in octets. RFC 5322 sets no limit; 1 MiB is far above any
/// real header block (even long Received chains) while bounding memory.
pub const MAX_HEADER_BLOCK: usize = 1024 * 1024;

/// The raw-message filter; see the module documentation.
#[derive(Clone, Debug)]
pub struct RawMessage {
    date: String,
    message_id: String,
    header: Option<Vec<u8>>,
    /// Bytes of `header` already searched for the empty line.
    scanned: usize,
    eight_bit_headers: bool,
    eight_bit_body: bool,
    /// The header block lacked a Message-ID and `message_id` was written.
    added_message_id: bool,
    /// The input so far, checked for what cannot go out as text.
    check: ContentScan,
}

/// The end of the header block: the index just past the empty line, if there is one.
fn find_header_end(buf: &[u8], from: usize) -> Option<usize> {
    // An empty first line means no header fields at all.
    if buf.starts_with(b"\n") {
        return Some(1);
    }
    if buf.starts_with(b"\r\n") {
        return Some(2);
    }
    let start = from.saturating_sub(2);
    let mut i = start;
    while let Some(pos) = buf
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let lf = i + pos;
        match buf.get(lf + 1..) {
            Some([b'\n', ..]) => return Some(lf + 2),
            Some([b'\r', b'\n', ..]) => return Some(lf + 3),
            _ => {}
        }
        i = lf + 1;
    }
    None
}

/// (has Date, has Message-ID) among the field names of `header`.
fn scan_fields(header: &[u8]) -> (bool, bool) {
    let (mut date, mut id) = (false, false);
    for line in header.split(|&b| b == b'\n') {
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        date |= name.eq_ignore_ascii_case(b"date");
        id |= name.eq_ignore_ascii_case(b"message-id");
    }
    (date, id)
}

impl RawMessage {
    /// A filter that adds, when missing, `Date:` from `date` and
    /// `Message-ID: <random.time@domain>`.
    pub fn new(
        date: DateTime,
        message_id_random: u64,
        domain: &str,
    ) -> Result<RawMessage, MessageError> {
        let valid_domain = !domain.is_empty()
            && domain
                .chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && !matches!(c, '<' | '>' | '@'));
        if !valid_domain {
            return Err(MessageError::InvalidMessageIdDomain);
        }
        Ok(RawMessage {
            date: date.format()?,
            message_id: message_id(message_id_random, date.unix_seconds, domain),
            header: Some(Vec::new()),
            scanned: 0,
            eight_bit_headers: false,
            eight_bit_body: false,
            added_message_id: false,
            check: ContentScan::new(),
        })
    }

    /// Filter the next chunk of the message, appending what can go on to `out`.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), MessageError> {
        self.check.push(input).map_err(MessageError::Content)?;
        let Some(header) = &mut self.header else {
            self.eight_bit_body |= !input.is_ascii();
            out.extend_from_slice(input);
            return Ok(());
        };
        header.extend_from_slice(input);
        let end = find_header_end(header, self.scanned);
        self.scanned = header.len();
        match end {
            Some(end) => {
                self.release(end, out);
                Ok(())
            }
            None if header.len() > MAX_HEADER_BLOCK => Err(MessageError::HeaderBlockTooLarge),
            None => Ok(()),
        }
    }

    /// The message has ended: a message that is all header block is released now.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), MessageError> {
        if let Some(header) = &self.header {
            self.release(header.len(), out);
        }
        Ok(())
    }

    /// Write the missing fields, then the buffered bytes; from now on pass through.
    fn release(&mut self, end: usize, out: &mut Vec<u8>) {
        let Some(buffered) = self.header.take() else {
            return;
        };
        let (head, body) = buffered.split_at(end.min(buffered.len()));
        self.eight_bit_headers = !head.is_ascii();
        self.eight_bit_body = !body.is_ascii();
        let (has_date, has_id) = scan_fields(head);
        if !has_date {
            out.extend_from_slice(b"Date: ");
            out.extend_from_slice(self.date.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.added_message_id = !has_id;
        if !has_id {
            out.extend_from_slice(b"Message-ID: ");
            out.extend_from_slice(self.message_id.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&buffered);
    }

    /// True when the header block holds octets over 127 (the message needs SMTPUTF8,
    /// RFC 6532). Known once the header block has been released.
    pub fn headers_have_eight_bit(&self) -> bool {
        self.eight_bit_headers
    }

    /// True when the body seen so far holds octets over 127 (the message needs 8BITMIME,
    /// RFC 6152, unless the server accepts it anyway).
    pub fn body_has_eight_bit(&self) -> bool {
        self.eight_bit_body
    }

    /// The Message-ID the filter added (angle brackets included), or `None` when the message
    /// has its own, or while the header block has not been seen whole
    /// ([`header_complete`](Self::header_complete)).
    pub fn added_message_id(&self) -> Option<&str> {
        self.added_message_id.then_some(self.message_id.as_str())
    }

    /// True once the header block has been seen whole (and released to the output).
    pub fn header_complete(&self) -> bool {
        self.header.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DATE: DateTime = DateTime {
        unix_seconds: 0,
        utc_offset_minutes: 0,
    };

    fn filter(input: &[u8], chunk: usize) -> (Vec<u8>, RawMessage) {
        let mut raw = RawMessage::new(DATE, 0xab, "example.com").unwrap();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            raw.push(piece, &mut out).unwrap();
        }
        raw.finish(&mut out).unwrap();
        (out, raw)
    }

    const ADDED: &[u8] =
        b"Date: Thu, 1 Jan 1970 00:00:00 +0000\r\nMessage-ID: <00000000000000ab.0@example.com>\r\n";

    #[test]
    fn a_nul_in_the_input_is_refused_with_its_offset() {
        let mut raw = RawMessage::new(DATE, 0xab, "example.com").unwrap();
        let mut out = Vec::new();
        raw.push(b"Subject: x\n\nok", &mut out).unwrap();
        assert_eq!(
            raw.push(b"\0.", &mut out),
            Err(MessageError::Content(
                crate::transparency::ContentError::Nul { offset: 14 }
            ))
        );
    }

    #[test]
    fn a_line_over_998_octets_is_refused_naming_the_callers_line() {
        let mut raw = RawMessage::new(DATE, 0xab, "example.com").unwrap();
        let mut out = Vec::new();
        let mut input = b"Subject: x\n\nfirst\n".to_vec();
        input.extend(core::iter::repeat_n(b'y', 999));
        input.push(b'\n');
        let result = input.chunks(100).try_for_each(|c| raw.push(c, &mut out));
        // Line 4 of the input; the Date and Message-ID the filter adds do not count.
        assert_eq!(
            result,
            Err(MessageError::Content(
                crate::transparency::ContentError::LineTooLong { line: 4 }
            ))
        );
    }

    #[test]
    fn adds_date_and_message_id_when_missing() {
        let input = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
        let (out, _) = filter(input, 1000);
        assert_eq!(out, [ADDED, &input[..]].concat());
    }

    #[test]
    fn tells_the_message_id_it_added() {
        let (_, raw) = filter(b"Subject: x\r\n\r\nbody\r\n", 5);
        assert_eq!(
            raw.added_message_id(),
            Some("<00000000000000ab.0@example.com>")
        );
    }

    #[test]
    fn tells_no_message_id_when_the_message_has_one_or_is_not_seen_yet() {
        let (_, raw) = filter(b"Message-Id: <a@b>\r\n\r\n", 5);
        assert_eq!(raw.added_message_id(), None);
        let mut raw = RawMessage::new(DATE, 1, "example.com").unwrap();
        raw.push(b"Subject: x\r\n", &mut Vec::new()).unwrap();
        assert_eq!(raw.added_message_id(), None);
    }

    #[test]
    fn leaves_a_message_with_both_untouched() {
        let input = b"DATE: today\nmessage-id : <x@y>\n\nbody\nDate: in the body\n";
        assert_eq!(filter(input, 3).0, input);
    }

    #[test]
    fn finds_fields_in_any_case_but_not_in_continuation_lines() {
        let input = b"Subject: a\r\n Date: folded, not a field\r\nmEsSaGe-Id: <x@y>\r\n\r\n";
        let (out, _) = filter(input, 1000);
        assert!(out.starts_with(b"Date: Thu, 1 Jan 1970"));
        assert!(!out.starts_with(ADDED));
    }

    #[test]
    fn ignores_date_fields_in_the_body() {
        let input = b"Subject: a\r\n\r\nDate: x\r\nMessage-ID: y\r\n";
        assert_eq!(filter(input, 1000).0, [ADDED, &input[..]].concat());
    }

    #[test]
    fn handles_a_message_without_a_body() {
        let input = b"Subject: a\r\nDate: x";
        let (out, _) = filter(input, 1000);
        assert_eq!(
            out,
            [
                &b"Message-ID: <00000000000000ab.0@example.com>\r\n"[..],
                &input[..]
            ]
            .concat()
        );
    }

    #[test]
    fn refuses_a_header_block_over_the_limit() {
        let mut raw = RawMessage::new(DATE, 1, "example.com").unwrap();
        let mut out = Vec::new();
        let mut line = [b'X'; 1000];
        line[998] = b'\r';
        line[999] = b'\n';
        let mut result = Ok(());
        for _ in 0..(MAX_HEADER_BLOCK / 1000 + 2) {
            result = raw.push(&line, &mut out);
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(MessageError::HeaderBlockTooLarge));
        assert!(out.is_empty());
    }

    #[test]
    fn reports_eight_bit_headers_and_body_separately() {
        let (_, raw) = filter("Subject: ü\r\n\r\nplain\r\n".as_bytes(), 4);
        assert!(raw.headers_have_eight_bit() && !raw.body_has_eight_bit());
        let (_, raw) = filter("Subject: u\r\n\r\nbody ü\r\n".as_bytes(), 4);
        assert!(!raw.headers_have_eight_bit() && raw.body_has_eight_bit());
    }

    #[test]
    fn refuses_a_message_id_domain_with_space_or_brackets() {
        for domain in ["", "a b", "a>b", "a@b", "a\r\n"] {
            assert_eq!(
                RawMessage::new(DATE, 1, domain).err(),
                Some(MessageError::InvalidMessageIdDomain)
            );
        }
    }

    proptest! {
        #[test]
        fn a_nul_anywhere_is_refused_whatever_the_chunking(
            before in proptest::collection::vec(1u8..=255, 0..200),
            after in proptest::collection::vec(any::<u8>(), 0..50),
            chunk in 1usize..50,
        ) {
            let input = [before.as_slice(), b"\0", after.as_slice()].concat();
            let mut raw = RawMessage::new(DATE, 0xab, "example.com").unwrap();
            let mut out = Vec::new();
            let result = input.chunks(chunk).try_for_each(|c| raw.push(c, &mut out));
            prop_assert!(matches!(result, Err(MessageError::Content(_))), "{:?}", result);
            // Nothing from the NUL on was passed through.
            prop_assert!(!out.contains(&0));
        }

        #[test]
        fn raw_output_is_the_same_for_any_chunking(
            input in proptest::collection::vec(prop_oneof![
                Just(b'\r'), Just(b'\n'), Just(b':'), Just(b'D'), Just(b' '), 1u8..=255
            ], 0..300),
            chunk in 1usize..50,
        ) {
            let (whole, _) = filter(&input, usize::MAX);
            let (split, _) = filter(&input, chunk);
            prop_assert_eq!(&split, &whole);
            // Only prepended, never altered.
            prop_assert!(whole.ends_with(&input));
        }
    }
}
