//! What SCRAM-SHA-256 needs from outside the core: SHA-256, HMAC-SHA-256 and PBKDF2 from
//! `ring` (already linked for rustls, and kept by the same people), and a fresh random
//! client nonce per connection from the operating system's generator.

use std::sync::Arc;

use mxsend_core::sasl::ScramSetup;
use mxsend_core::scram::{ScramCrypto, DIGEST_LEN};
use ring::rand::SecureRandom;

/// Random octets in a client nonce: 18, which base64 makes 24 characters (RFC 5802 asks
/// only for a value "unique per exchange"; this is 144 bits).
const NONCE_OCTETS: usize = 18;

/// The core's [`ScramCrypto`] over `ring`.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingScram;

impl ScramCrypto for RingScram {
    fn sha256(&self, data: &[u8]) -> [u8; DIGEST_LEN] {
        to_digest(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
    }

    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
        to_digest(ring::hmac::sign(&key, data).as_ref())
    }

    fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> [u8; DIGEST_LEN] {
        let mut out = [0; DIGEST_LEN];
        // The core never asks for fewer than MIN_ITERATIONS; 1 keeps this total anyway.
        let iterations = std::num::NonZeroU32::new(iterations).unwrap_or(std::num::NonZeroU32::MIN);
        ring::pbkdf2::derive(
            ring::pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            salt,
            password,
            &mut out,
        );
        out
    }
}

fn to_digest(bytes: &[u8]) -> [u8; DIGEST_LEN] {
    let mut out = [0; DIGEST_LEN];
    let n = bytes.len().min(DIGEST_LEN);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// A setup for one connection's SCRAM exchange: `ring`'s functions and a fresh nonce.
/// `None` when the system's random generator fails (SCRAM is then not offered to the
/// session, which falls back to PLAIN or LOGIN).
pub(crate) fn setup() -> Option<ScramSetup> {
    let mut octets = [0u8; NONCE_OCTETS];
    ring::rand::SystemRandom::new().fill(&mut octets).ok()?;
    let mut nonce = Vec::new();
    mxsend_core::base64::encode(&octets, &mut nonce);
    Some(ScramSetup {
        crypto: Arc::new(RingScram),
        nonce: String::from_utf8(nonce).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::scram::ScramClient;

    #[test]
    fn ring_gives_the_rfc7677_exchange() {
        let mut client = ScramClient::new("user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
        client.client_first();
        let client_final = client
            .respond(
                &RingScram,
                b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert!(client_final.ends_with(b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        client
            .respond(
                &RingScram,
                b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
            )
            .unwrap();
        assert_eq!(client.finish(), Ok(()));
    }

    #[test]
    fn each_setup_has_a_fresh_nonce_the_core_accepts() {
        let (a, b) = (setup().unwrap(), setup().unwrap());
        assert_ne!(a.nonce, b.nonce);
        assert_eq!(a.nonce.len(), 24);
        assert!(ScramClient::new("user", "pencil", &a.nonce).is_ok());
    }
}
