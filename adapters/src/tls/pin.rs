//! Certificate pinning by fingerprint, as msmtp's `tls_fingerprint`: the server must present
//! exactly this certificate (or a certificate with exactly this public key).
//!
//! Two forms, both SHA-256 (RFC 6234), written in hexadecimal with or without colons:
//! - `sha256:HEX` (or bare `HEX`, msmtp's spelling): the SHA-256 of the whole certificate
//!   (its DER encoding), what `openssl x509 -noout -fingerprint -sha256` prints. Renewing the
//!   certificate changes it, even with the same key.
//! - `spki-sha256:HEX`: the SHA-256 of the certificate's SubjectPublicKeyInfo (the public
//!   key, as HPKP's `pin-sha256` (RFC 7469 §2.4) and DANE's `3 1 1` (RFC 6698 §2.1.1) use
//!   it): stays valid across renewals that keep the key.
//!
//! A pinned certificate is accepted whoever issued it, whatever names and dates it carries
//! (as DANE-EE, RFC 7671 §5.1): the pin is the trust. The handshake's signature is still
//! checked, so the server must hold the certificate's private key.

use std::fmt;
use std::str::FromStr;

use rustls::pki_types::CertificateDer;

/// The length of a SHA-256 digest.
const SHA256_LEN: usize = 32;

/// What a [`Fingerprint`] is a digest of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PinTarget {
    /// The whole certificate (DER): `sha256:`.
    Certificate,
    /// The certificate's SubjectPublicKeyInfo (DER): `spki-sha256:`.
    PublicKey,
}

/// A SHA-256 pin on the server's certificate or public key. Parse one with
/// [`Fingerprint::parse`] (or `str::parse`).
///
/// ```
/// use mxsend::tls::{Fingerprint, PinTarget};
///
/// let pin: Fingerprint =
///     "sha256:9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"
///         .parse()
///         .unwrap();
/// assert_eq!(pin.target(), PinTarget::Certificate);
/// assert!("sha256:1234".parse::<Fingerprint>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    target: PinTarget,
    digest: [u8; SHA256_LEN],
}

/// Why a fingerprint cannot be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FingerprintError {
    /// The text as given.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a fingerprint: {} (expected sha256:HEX for the certificate or spki-sha256:HEX for its public key, 64 hex digits, colons allowed)",
            self.text, self.why
        )
    }
}

impl std::error::Error for FingerprintError {}

impl Fingerprint {
    /// Parses `sha256:HEX`, `spki-sha256:HEX` or a bare `HEX` (the certificate), 64 hex
    /// digits, upper or lower case, colons between the octets allowed.
    pub fn parse(text: &str) -> Result<Fingerprint, FingerprintError> {
        let error = |why| FingerprintError {
            text: text.to_string(),
            why,
        };
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let (target, hex) = if let Some(hex) = lower.strip_prefix("spki-sha256:") {
            (PinTarget::PublicKey, hex)
        } else if let Some(hex) = lower.strip_prefix("sha256:") {
            (PinTarget::Certificate, hex)
        } else if !lower.contains(':') || lower.split(':').all(|octet| octet.len() == 2) {
            (PinTarget::Certificate, lower.as_str())
        } else {
            return Err(error("unknown digest (only SHA-256 is accepted)"));
        };
        let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
        if digits.len() != 2 * SHA256_LEN {
            return Err(error("a SHA-256 fingerprint has 64 hex digits"));
        }
        let mut digest = [0u8; SHA256_LEN];
        for (octet, pair) in digest.iter_mut().zip(digits.chunks_exact(2)) {
            let (Some(high), Some(low)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(error("not a hex digit"));
            };
            *octet = high << 4 | low;
        }
        Ok(Fingerprint { target, digest })
    }

    /// The pin on this whole certificate.
    pub fn of_certificate(cert: &CertificateDer<'_>) -> Fingerprint {
        Fingerprint {
            target: PinTarget::Certificate,
            digest: sha256(cert.as_ref()),
        }
    }

    /// The pin on this SubjectPublicKeyInfo (DER).
    pub fn of_public_key(spki: &[u8]) -> Fingerprint {
        Fingerprint {
            target: PinTarget::PublicKey,
            digest: sha256(spki),
        }
    }

    /// What the digest is of.
    pub fn target(&self) -> PinTarget {
        self.target
    }

    /// The SHA-256 digest.
    pub fn digest(&self) -> &[u8; SHA256_LEN] {
        &self.digest
    }

    /// True when `cert` (whose SubjectPublicKeyInfo is `spki`, when it could be parsed) is
    /// the pinned certificate or carries the pinned key.
    pub(crate) fn matches(&self, cert: &CertificateDer<'_>, spki: Option<&[u8]>) -> bool {
        match self.target {
            PinTarget::Certificate => sha256(cert.as_ref()) == self.digest,
            PinTarget::PublicKey => spki.is_some_and(|spki| sha256(spki) == self.digest),
        }
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Fingerprint, FingerprintError> {
        Fingerprint::parse(text)
    }
}

/// `sha256:AB:CD:...` or `spki-sha256:AB:CD:...`, upper case with colons (as openssl prints
/// it): what [`Fingerprint::parse`] reads back.
impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.target {
            PinTarget::Certificate => "sha256:",
            PinTarget::PublicKey => "spki-sha256:",
        })?;
        for (i, octet) in self.digest.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{octet:02X}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn sha256(bytes: &[u8]) -> [u8; SHA256_LEN] {
    let mut out = [0u8; SHA256_LEN];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn parses_every_spelling_of_a_certificate_pin() {
        let colons = HEX
            .as_bytes()
            .chunks(2)
            .map(|p| std::str::from_utf8(p).unwrap().to_ascii_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        for text in [
            format!("sha256:{HEX}"),
            format!("SHA256:{colons}"),
            colons.clone(),
            HEX.to_string(),
        ] {
            let pin = Fingerprint::parse(&text).unwrap();
            assert_eq!(pin.target(), PinTarget::Certificate, "{text}");
            assert_eq!(pin.digest()[0], 0x9f, "{text}");
        }
        assert_eq!(
            Fingerprint::parse(&format!("sha256:{HEX}"))
                .unwrap()
                .to_string(),
            format!("sha256:{colons}")
        );
    }

    #[test]
    fn spki_prefix_pins_the_public_key() {
        let pin = Fingerprint::parse(&format!("spki-sha256:{HEX}")).unwrap();
        assert_eq!(pin.target(), PinTarget::PublicKey);
        assert!(pin.to_string().starts_with("spki-sha256:9F:86:"));
    }

    #[test]
    fn refuses_short_long_non_hex_and_other_digests() {
        for text in [
            "sha256:1234",
            &format!("sha256:{HEX}00"),
            &format!("sha256:{}zz", &HEX[..62]),
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "",
        ] {
            assert!(Fingerprint::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn matches_the_certificate_digest_only() {
        let cert = CertificateDer::from(b"not really a certificate".to_vec());
        let pin = Fingerprint::of_certificate(&cert);
        assert!(pin.matches(&cert, None));
        let other = CertificateDer::from(b"another one".to_vec());
        assert!(!pin.matches(&other, None));
        let key_pin = Fingerprint::of_public_key(b"spki");
        assert!(key_pin.matches(&other, Some(b"spki")));
        assert!(!key_pin.matches(&other, None));
    }
}
