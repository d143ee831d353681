//! Body canonicalization, streamed (RFC 6376 §3.4.3 simple, §3.4.4 relaxed).
//!
//! - **simple**: the body as is, but empty lines at its end are dropped and it ends with
//!   exactly one CRLF (an empty body becomes a lone CRLF).
//! - **relaxed**: white space (SP, HTAB) at the end of each line is dropped and every other
//!   run of it becomes one SP; empty lines at the end are dropped; a body that is not empty
//!   ends with CRLF, and an empty one stays empty.
//!
//! What a chunk ends with cannot be decided inside that chunk: white space may be followed by
//! a line end (dropped) or by text (one SP); CRLFs may be followed by text (kept) or by the
//! end of the body (dropped); a CR may be the first half of a CRLF. So the canonicalizer
//! holds those back as counts and flags, never as octets, and memory stays constant however
//! many empty lines or spaces come in a row. The canonical octets of a chunk are gathered in
//! a buffer of the canonicalizer's (at most 64 KiB) and go to the digest in one
//! `update`: relaxed text changes every few octets, and a hash call per piece costs more
//! than the copy.

use alloc::vec::Vec;

use super::{Canonicalization, Digest};

const CRLF: &[u8] = b"\r\n";

/// The most canonical octets gathered before they go to the digest.
const FLUSH_AT: usize = 64 * 1024;

/// The streaming body canonicalizer: chunks of the body in, canonical octets out into a
/// [`Digest`]. Any split of the body into chunks gives the same octets.
#[derive(Clone, Debug)]
pub struct BodyCanonicalizer {
    canonicalization: Canonicalization,
    /// Line ends seen since the last octet written (an empty line at the end is dropped).
    pending_crlfs: u64,
    /// Relaxed: white space seen since the last octet written on this line.
    pending_space: bool,
    /// The last octet seen was a CR; the next octet tells whether it was half of a CRLF.
    held_cr: bool,
    /// Relaxed: something has been written (an empty body stays empty).
    wrote: bool,
    /// Octets written so far.
    length: u64,
    /// The canonical octets of the chunk being fed, for one digest update.
    out: Vec<u8>,
}

impl BodyCanonicalizer {
    /// A canonicalizer at the start of a body.
    pub fn new(canonicalization: Canonicalization) -> BodyCanonicalizer {
        BodyCanonicalizer {
            canonicalization,
            pending_crlfs: 0,
            pending_space: false,
            held_cr: false,
            wrote: false,
            length: 0,
            out: Vec::new(),
        }
    }

    /// The algorithm this canonicalizer applies.
    pub fn canonicalization(&self) -> Canonicalization {
        self.canonicalization
    }

    /// How many canonical octets it has written so far (what `l=` would count).
    pub fn canonical_length(&self) -> u64 {
        self.length
    }

    /// Canonicalize the next chunk of the body into `digest`.
    pub fn feed(&mut self, chunk: &[u8], digest: &mut impl Digest) {
        match self.canonicalization {
            Canonicalization::Simple => self.feed_simple(chunk, digest),
            Canonicalization::Relaxed => self.feed_relaxed(chunk, digest),
        }
        self.flush(digest);
    }

    fn flush(&mut self, digest: &mut impl Digest) {
        if !self.out.is_empty() {
            digest.update(&self.out);
            self.out.clear();
        }
    }

    /// The end of the body: write what the canonical form ends with.
    pub fn finish(mut self, digest: &mut impl Digest) {
        if self.held_cr {
            // A CR at the very end is a bare CR: an ordinary octet.
            self.held_cr = false;
            self.settle(digest);
            self.write(b"\r", digest);
        }
        let end_with_crlf = match self.canonicalization {
            Canonicalization::Simple => true,
            Canonicalization::Relaxed => self.wrote,
        };
        if end_with_crlf {
            self.write(CRLF, digest);
        }
        self.flush(digest);
    }

    fn write(&mut self, bytes: &[u8], digest: &mut impl Digest) {
        if !bytes.is_empty() {
            self.out.extend_from_slice(bytes);
            self.length += bytes.len() as u64;
            self.wrote = true;
            // Held-back line ends can be many: the buffer stays bounded all the same.
            if self.out.len() >= FLUSH_AT {
                self.flush(digest);
            }
        }
    }

    /// Text follows: write the line ends and the space held back.
    fn settle(&mut self, digest: &mut impl Digest) {
        while self.pending_crlfs > 0 {
            self.pending_crlfs -= 1;
            self.write(CRLF, digest);
        }
        if self.pending_space {
            self.pending_space = false;
            self.write(b" ", digest);
        }
    }

    fn has_pending(&self) -> bool {
        self.pending_crlfs > 0 || self.pending_space || self.held_cr
    }

    /// Simple: within a chunk everything is kept but the CRLFs (and a CR) at its end, which
    /// are held back until text follows.
    fn feed_simple(&mut self, mut chunk: &[u8], digest: &mut impl Digest) {
        if self.held_cr {
            self.held_cr = false;
            if let Some(rest) = chunk.strip_prefix(b"\n") {
                self.pending_crlfs += 1;
                chunk = rest;
            } else if !chunk.is_empty() {
                self.settle(digest);
                self.write(b"\r", digest);
            } else {
                self.held_cr = true;
                return;
            }
        }
        let mut text = chunk;
        let held_cr = if let Some(rest) = text.strip_suffix(b"\r") {
            text = rest;
            true
        } else {
            false
        };
        let mut trailing = 0;
        while let Some(rest) = text.strip_suffix(CRLF) {
            text = rest;
            trailing += 1;
        }
        if text.is_empty() {
            self.pending_crlfs += trailing;
        } else {
            self.settle(digest);
            self.write(text, digest);
            self.pending_crlfs = trailing;
        }
        self.held_cr = held_cr;
    }

    /// Relaxed: a state machine over the octets that matter (SP, HTAB, CR, LF); runs of
    /// other octets, single spaces between words included, are written in place.
    fn feed_relaxed(&mut self, chunk: &[u8], digest: &mut impl Digest) {
        let mut run = 0;
        let mut i = 0;
        while let Some(&octet) = chunk.get(i) {
            match octet {
                b' ' | b'\t' => {
                    let next_is_text = chunk
                        .get(i + 1)
                        .is_some_and(|&b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
                    if octet == b' ' && next_is_text && !self.has_pending() {
                        // One space between two words: canonical already.
                        i += 1;
                        continue;
                    }
                    self.write(chunk.get(run..i).unwrap_or_default(), digest);
                    if self.held_cr {
                        self.held_cr = false;
                        self.settle(digest);
                        self.write(b"\r", digest);
                    }
                    self.pending_space = true;
                    i += 1;
                    run = i;
                }
                b'\r' => {
                    self.write(chunk.get(run..i).unwrap_or_default(), digest);
                    if self.held_cr {
                        self.settle(digest);
                        self.write(b"\r", digest);
                    }
                    self.held_cr = true;
                    i += 1;
                    run = i;
                }
                b'\n' if self.held_cr => {
                    self.held_cr = false;
                    // White space before a line end is dropped.
                    self.pending_space = false;
                    self.pending_crlfs += 1;
                    i += 1;
                    run = i;
                }
                _ => {
                    if self.has_pending() {
                        if self.held_cr {
                            self.held_cr = false;
                            self.settle(digest);
                            self.write(b"\r", digest);
                        }
                        self.settle(digest);
                        run = i;
                    }
                    i += 1;
                }
            }
        }
        self.write(chunk.get(run..).unwrap_or_default(), digest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dkim::split_at;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn canonical(canonicalization: Canonicalization, chunks: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut body = BodyCanonicalizer::new(canonicalization);
        for chunk in chunks {
            body.feed(chunk, &mut out);
        }
        body.finish(&mut out);
        out
    }

    /// The RFC's words, applied to the whole body at once, line by line.
    fn reference(canonicalization: Canonicalization, body: &[u8]) -> Vec<u8> {
        // Lines ended by CRLF; a last line without one is still a line.
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut rest = body;
        while !rest.is_empty() {
            match rest.windows(2).position(|w| w == CRLF) {
                Some(at) => {
                    lines.push(rest[..at].to_vec());
                    rest = &rest[at + 2..];
                }
                None => {
                    lines.push(rest.to_vec());
                    rest = &[];
                }
            }
        }
        if canonicalization == Canonicalization::Relaxed {
            for line in &mut lines {
                let mut out = Vec::new();
                let mut space = false;
                for &b in line.iter() {
                    if b == b' ' || b == b'\t' {
                        space = true;
                    } else {
                        if space {
                            out.push(b' ');
                        }
                        space = false;
                        out.push(b);
                    }
                }
                *line = out;
            }
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        let mut out = Vec::new();
        for line in &lines {
            out.extend_from_slice(line);
            out.extend_from_slice(CRLF);
        }
        if out.is_empty() && canonicalization == Canonicalization::Simple {
            out.extend_from_slice(CRLF);
        }
        out
    }

    #[test]
    fn rfc_6376_example_relaxed() {
        // §3.4.5: " C \r\nD \t E\r\n\r\n\r\n" canonicalizes to " C\r\nD E\r\n".
        let body = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(
            canonical(Canonicalization::Relaxed, &[body]),
            b" C\r\nD E\r\n"
        );
    }

    #[test]
    fn rfc_6376_example_simple() {
        let body = b" C \r\nD \t E\r\n\r\n\r\n";
        assert_eq!(
            canonical(Canonicalization::Simple, &[body]),
            b" C \r\nD \t E\r\n"
        );
    }

    #[test]
    fn empty_body_is_a_crlf_in_simple_and_nothing_in_relaxed() {
        assert_eq!(canonical(Canonicalization::Simple, &[]), CRLF);
        assert_eq!(canonical(Canonicalization::Relaxed, &[]), b"");
        assert_eq!(canonical(Canonicalization::Relaxed, &[b"\r\n\r\n"]), b"");
        assert_eq!(
            canonical(Canonicalization::Relaxed, &[b" \t\r\n  \r\n"]),
            b""
        );
    }

    #[test]
    fn blank_line_ended_body_drops_the_empty_lines() {
        for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
            assert_eq!(canonical(c, &[b"text\r\n\r\n", b"\r", b"\n"]), b"text\r\n");
            assert_eq!(canonical(c, &[b"a\r\n\r\nb\r\n\r\n"]), b"a\r\n\r\nb\r\n");
        }
    }

    #[test]
    fn body_without_final_line_end_gets_one() {
        assert_eq!(canonical(Canonicalization::Simple, &[b"a"]), b"a\r\n");
        assert_eq!(canonical(Canonicalization::Relaxed, &[b"a  "]), b"a\r\n");
    }

    #[test]
    fn trailing_white_space_split_across_chunks_is_dropped() {
        let c = Canonicalization::Relaxed;
        assert_eq!(
            canonical(c, &[b"word ", b"\t", b" \r", b"\nnext"]),
            b"word\r\nnext\r\n"
        );
        assert_eq!(canonical(c, &[b"word ", b"next"]), b"word next\r\n");
    }

    /// A digest that remembers the largest update it was given.
    struct Largest(usize, usize);

    impl Digest for Largest {
        fn update(&mut self, bytes: &[u8]) {
            self.0 = self.0.max(bytes.len());
            self.1 += bytes.len();
        }
    }

    #[test]
    fn many_held_back_empty_lines_stay_in_a_bounded_buffer() {
        for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
            let mut body = BodyCanonicalizer::new(c);
            let mut digest = Largest(0, 0);
            let empty_lines = alloc::vec![b'\r', b'\n'].repeat(64 * 1024);
            for _ in 0..8 {
                body.feed(&empty_lines, &mut digest);
            }
            body.feed(b"x", &mut digest);
            body.finish(&mut digest);
            assert_eq!(digest.1, 8 * 128 * 1024 + 3, "{c:?}");
            assert!(digest.0 <= FLUSH_AT + 2, "{c:?}: an update of {}", digest.0);
        }
    }

    #[test]
    fn eight_bit_octets_pass_unchanged() {
        let body = "Grüße \u{00e9}\r\n".as_bytes();
        assert_eq!(
            canonical(Canonicalization::Relaxed, &[body]),
            "Grüße \u{00e9}\r\n".as_bytes()
        );
    }

    #[test]
    fn bare_cr_is_an_ordinary_octet() {
        assert_eq!(
            canonical(Canonicalization::Simple, &[b"a\r", b"b"]),
            b"a\rb\r\n"
        );
        assert_eq!(
            canonical(Canonicalization::Relaxed, &[b"a \r", b"\r\n"]),
            b"a \r\r\n"
        );
    }

    #[test]
    fn canonical_length_counts_what_was_hashed_before_the_end() {
        let mut body = BodyCanonicalizer::new(Canonicalization::Relaxed);
        let mut out = Vec::new();
        body.feed(b"ab  c\r\n\r\n", &mut out);
        assert_eq!(body.canonical_length(), 4);
    }

    fn body_octets() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                Just(b'\r'),
                Just(b'\n'),
                Just(b' '),
                Just(b'\t'),
                Just(b'a'),
                Just(0xe9u8),
            ],
            0..120,
        )
    }

    proptest! {
        #[test]
        fn any_chunk_split_gives_the_same_canonical_body(
            body in body_octets(),
            cuts in proptest::collection::vec(0usize..120, 0..8),
        ) {
            for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
                let whole = canonical(c, &[&body]);
                prop_assert_eq!(canonical(c, &split_at(&body, &cuts)), whole);
            }
        }

        #[test]
        fn streamed_canonical_body_matches_the_rfc_line_by_line(
            // CRLF-ended lines of text, spaces and tabs: the input the DATA encoder gives.
            lines in proptest::collection::vec(
                proptest::collection::vec(prop_oneof![Just(b' '), Just(b'\t'), Just(b'x')], 0..8),
                0..8),
            last_line_end in any::<bool>(),
            cuts in proptest::collection::vec(0usize..80, 0..8),
        ) {
            let mut body = Vec::new();
            for line in &lines {
                body.extend_from_slice(line);
                body.extend_from_slice(CRLF);
            }
            if !last_line_end {
                body.extend_from_slice(b"x");
            }
            for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
                prop_assert_eq!(canonical(c, &split_at(&body, &cuts)), reference(c, &body));
            }
        }
    }
}
