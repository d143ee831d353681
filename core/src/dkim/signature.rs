//! The `DKIM-Signature` header field (RFC 6376 §3.5) and the octets its signature covers
//! (§3.7).
//!
//! Signing is two steps around the caller's private-key operation:
//! 1. [`UnsignedSignature::new`] writes the header with every tag but an empty `b=`, and
//!    [`UnsignedSignature::data_to_sign`] gives the octets to sign: the selected header
//!    fields canonicalized, then this header canonicalized the same way without its final
//!    CRLF (§3.7 step 2, §3.5 `b=`).
//! 2. [`UnsignedSignature::complete`] appends the signature, base64 and folded, after `b=`.
//!
//! For `rsa-sha256` (RFC 6376 §3.3.1) the signer hashes those octets with SHA-256 and signs
//! with RSASSA-PKCS1-v1_5; for `ed25519-sha256` (RFC 8463 §3) the octets are hashed with
//! SHA-256 and the 32-octet hash is what Ed25519 signs (Ed25519 hashes again internally).
//!
//! Lines are folded before 78 octets (RFC 5322 §2.1.1) with CRLF HTAB, only where the tag
//! syntax allows folding white space: between tags, after a colon of `h=`, inside base64.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::header::{self, HeaderField};
use super::{Canonicalization, DkimError};
use crate::base64;

/// Where lines are folded: the RFC 5322 recommendation of 78 octets, less some room.
const LINE_WIDTH: usize = 76;

/// The signing algorithm (`a=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `rsa-sha256` (RFC 6376 §3.3.1; keys of 2048 bits and up, RFC 8301).
    RsaSha256,
    /// `ed25519-sha256` (RFC 8463).
    Ed25519Sha256,
}

impl Algorithm {
    /// The name used in `a=`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The key type in the DNS record (`k=`, RFC 6376 §3.6.1).
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa",
            Algorithm::Ed25519Sha256 => "ed25519",
        }
    }
}

/// What one signature says, but its `b=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureSpec<'a> {
    /// `a=`.
    pub algorithm: Algorithm,
    /// `c=`, header part.
    pub header_canonicalization: Canonicalization,
    /// `c=`, body part.
    pub body_canonicalization: Canonicalization,
    /// `d=`: the signing domain.
    pub domain: &'a str,
    /// `s=`: the selector, so the key is at `selector._domainkey.domain`.
    pub selector: &'a str,
    /// `t=`: when it was signed, in seconds since the Unix epoch.
    pub timestamp: u64,
    /// `x=`: when it expires, if it does.
    pub expiration: Option<u64>,
    /// `h=`: the signed field names ([`header::signed_header_names`]).
    pub signed_headers: &'a [String],
    /// `bh=`: the body hash (SHA-256 of the canonical body).
    pub body_hash: &'a [u8],
}

/// A `DKIM-Signature` header with an empty `b=`: what is signed, and what the signature is
/// appended to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsignedSignature {
    /// `DKIM-Signature: ...; b=` (no CRLF).
    text: Vec<u8>,
    /// Octets on the last line of `text`, for folding the signature after it.
    last_line: usize,
    header_canonicalization: Canonicalization,
}

impl UnsignedSignature {
    /// The header for `spec`. Fails when the domain or selector is not DNS labels, or no
    /// `From` is signed.
    pub fn new(spec: &SignatureSpec<'_>) -> Result<UnsignedSignature, DkimError> {
        if !is_dns_name(spec.domain) {
            return Err(DkimError::InvalidDomain);
        }
        if !is_dns_name(spec.selector) {
            return Err(DkimError::InvalidSelector);
        }
        if !spec
            .signed_headers
            .iter()
            .any(|n| n.eq_ignore_ascii_case("from"))
        {
            return Err(DkimError::NoFrom);
        }
        let mut tags: Vec<String> = Vec::new();
        tags.push(String::from("v=1;"));
        tags.push(format!("a={};", spec.algorithm.name()));
        tags.push(format!(
            "c={}/{};",
            spec.header_canonicalization.name(),
            spec.body_canonicalization.name()
        ));
        tags.push(format!("d={};", spec.domain));
        tags.push(format!("s={};", spec.selector));
        tags.push(format!("t={};", spec.timestamp));
        if let Some(expiration) = spec.expiration {
            tags.push(format!("x={expiration};"));
        }
        let mut body_hash = Vec::new();
        base64::encode(spec.body_hash, &mut body_hash);
        tags.push(format!("bh={};", String::from_utf8_lossy(&body_hash)));

        let mut folder = Folder::new("DKIM-Signature:");
        for tag in &tags {
            folder.word(tag);
        }
        // h= may fold after each colon.
        let count = spec.signed_headers.len();
        for (i, name) in spec.signed_headers.iter().enumerate() {
            let end = if i + 1 == count { ';' } else { ':' };
            let piece = if i == 0 {
                format!("h={name}{end}")
            } else {
                format!("{name}{end}")
            };
            folder.glue = i == 0;
            folder.word(&piece);
        }
        folder.word("b=");
        Ok(UnsignedSignature {
            last_line: folder.line,
            text: folder.text.into_bytes(),
            header_canonicalization: spec.header_canonicalization,
        })
    }

    /// The header as written so far: `DKIM-Signature: ...; b=`, no CRLF.
    pub fn text(&self) -> &[u8] {
        &self.text
    }

    /// The octets to sign (§3.7): the fields of `header_block` that `signed_headers` stands
    /// for, canonicalized, then this header canonicalized without its CRLF.
    pub fn data_to_sign(&self, header_block: &[u8], signed_headers: &[String]) -> Vec<u8> {
        let mut data = header::canonical_signed_fields(
            header_block,
            signed_headers,
            self.header_canonicalization,
        );
        let mut own = self.text.clone();
        own.extend_from_slice(b"\r\n");
        let field = header::fields(&own);
        if let Some(field) = field.first() {
            canonicalize_without_crlf(field, self.header_canonicalization, &mut data);
        }
        data
    }

    /// The finished header field: `signature` in base64 after `b=`, folded, and CRLF.
    pub fn complete(&self, signature: &[u8]) -> Vec<u8> {
        let mut encoded = Vec::new();
        base64::encode(signature, &mut encoded);
        let mut out = self.text.clone();
        let mut line = self.last_line;
        for &b in &encoded {
            if line >= LINE_WIDTH {
                out.extend_from_slice(b"\r\n\t");
                line = 1;
            }
            out.push(b);
            line += 1;
        }
        out.extend_from_slice(b"\r\n");
        out
    }
}

fn canonicalize_without_crlf(
    field: &HeaderField<'_>,
    canonicalization: Canonicalization,
    out: &mut Vec<u8>,
) {
    let start = out.len();
    header::canonicalize(field, canonicalization, out);
    if out.get(start..).is_some_and(|f| f.ends_with(b"\r\n")) {
        out.truncate(out.len() - 2);
    }
}

/// Letters, digits, hyphens and underscores in dot-separated labels of 1 to 63 octets.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Writes words separated by a space, folding with CRLF HTAB before a word that would pass
/// [`LINE_WIDTH`].
struct Folder {
    text: String,
    line: usize,
    /// Put a space before the next word (false right after a fold inside `h=`).
    glue: bool,
}

impl Folder {
    fn new(start: &str) -> Folder {
        Folder {
            text: String::from(start),
            line: start.len(),
            glue: true,
        }
    }

    fn fits(&self, len: usize) -> bool {
        self.line + usize::from(self.glue) + len <= LINE_WIDTH
    }

    fn word(&mut self, word: &str) {
        if self.fits(word.len()) {
            if self.glue {
                self.text.push(' ');
                self.line += 1;
            }
        } else {
            self.text.push_str("\r\n\t");
            self.line = 1;
        }
        self.glue = true;
        self.text.push_str(word);
        self.line += word.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    fn spec<'a>(headers: &'a [String], hash: &'a [u8]) -> SignatureSpec<'a> {
        SignatureSpec {
            algorithm: Algorithm::Ed25519Sha256,
            header_canonicalization: Canonicalization::Relaxed,
            body_canonicalization: Canonicalization::Relaxed,
            domain: "example.test",
            selector: "sel",
            timestamp: 1_700_000_000,
            expiration: Some(1_700_086_400),
            signed_headers: headers,
            body_hash: hash,
        }
    }

    #[test]
    fn header_has_every_tag_and_ends_with_empty_b() {
        let headers = names(&["from", "from", "to", "subject"]);
        let unsigned = UnsignedSignature::new(&spec(&headers, &[0; 32])).unwrap();
        let text = String::from_utf8(unsigned.text().to_vec()).unwrap();
        for tag in [
            "v=1;",
            "a=ed25519-sha256;",
            "c=relaxed/relaxed;",
            "d=example.test;",
            "s=sel;",
            "t=1700000000;",
            "x=1700086400;",
            "h=from:from:to:subject;",
            "bh=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;",
        ] {
            assert!(text.contains(tag), "{tag} in {text}");
        }
        assert!(!text.contains("l="));
        assert!(text.ends_with(" b="));
        assert!(text.split("\r\n").all(|line| line.len() <= 78), "{text}");
    }

    #[test]
    fn long_h_list_folds_after_colons() {
        let headers = names(crate::dkim::SIGNED_HEADERS);
        let unsigned = UnsignedSignature::new(&spec(&headers, &[0; 32])).unwrap();
        let text = String::from_utf8(unsigned.text().to_vec()).unwrap();
        assert!(text.split("\r\n").all(|line| line.len() <= 78), "{text}");
        let unfolded: String = text.replace("\r\n\t", "").replace("\r\n", "");
        assert!(
            unfolded.contains(&format!("h={};", crate::dkim::SIGNED_HEADERS.join(":"))),
            "{unfolded}"
        );
    }

    #[test]
    fn data_to_sign_ends_with_own_header_without_b_value() {
        let headers = names(&["from", "subject"]);
        let unsigned = UnsignedSignature::new(&spec(&headers, &[0; 32])).unwrap();
        let data = unsigned.data_to_sign(b"Subject:  Hi\r\nFrom: a@example.test\r\n", &headers);
        let data = String::from_utf8(data).unwrap();
        assert!(
            data.starts_with("from:a@example.test\r\nsubject:Hi\r\ndkim-signature:v=1; a="),
            "{data}"
        );
        assert!(data.ends_with(" b="), "{data}");
    }

    #[test]
    fn completed_header_is_folded_base64() {
        let headers = names(&["from"]);
        let unsigned = UnsignedSignature::new(&spec(&headers, &[0; 32])).unwrap();
        let done = String::from_utf8(unsigned.complete(&[0xff; 256])).unwrap();
        assert!(done.ends_with("\r\n"));
        assert!(done.split("\r\n").all(|line| line.len() <= 78), "{done}");
        let b = done
            .rsplit("b=")
            .next()
            .unwrap()
            .replace("\r\n\t", "")
            .replace("\r\n", "");
        assert_eq!(base64::decode(b.as_bytes()).unwrap(), [0xff; 256]);
    }

    #[test]
    fn bad_domain_selector_or_missing_from_are_refused() {
        let headers = names(&["from"]);
        let mut s = spec(&headers, &[0; 32]);
        s.selector = "bad selector";
        assert_eq!(UnsignedSignature::new(&s), Err(DkimError::InvalidSelector));
        s.selector = "sel";
        s.domain = "exa;mple";
        assert_eq!(UnsignedSignature::new(&s), Err(DkimError::InvalidDomain));
        let none = names(&["to"]);
        assert_eq!(
            UnsignedSignature::new(&spec(&none, &[0; 32])),
            Err(DkimError::NoFrom)
        );
    }
}
