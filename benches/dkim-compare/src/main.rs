//! mail-auth's DKIM signer (RSA-SHA256, relaxed/relaxed, ring) over a message file, for
//! scripts/bench-dkim: reads the whole message into memory (mail-auth signs a `&[u8]`), then
//! times `sign` alone and prints `seconds=... mb_per_s=...`.
//!
//!     dkim-compare MESSAGE RSA_PKCS1_PEM

use mail_auth::common::crypto::{RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use rustls_pki_types::{pem::PemObject, PrivateKeyDer};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let message = std::fs::read(args.next().expect("MESSAGE")).expect("read the message");
    let pem = std::fs::read(args.next().expect("KEY")).expect("read the key");
    let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::from_pem_slice(&pem).expect("PEM"))
        .expect("RSA key");
    let signer = DkimSigner::from_key(key)
        .domain("example.test")
        .selector("rsa")
        .headers(["From", "To", "Subject", "Date", "Message-ID"]);
    let start = Instant::now();
    let signature = signer.sign(&message).expect("sign");
    let seconds = start.elapsed().as_secs_f64();
    let header = signature.to_header();
    assert!(header.starts_with("DKIM-Signature:"));
    println!(
        "seconds={seconds:.3} mb_per_s={:.1}",
        message.len() as f64 / 1e6 / seconds
    );
}
