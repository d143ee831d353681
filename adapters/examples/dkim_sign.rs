//! Sign a message file with DKIM and write it, signed, to standard output as it goes on the
//! wire (CRLF line ends, no dot-stuffing); the signing time and throughput on standard error.
//! Used by scripts/bench-dkim and for poking at verifiers by hand.
//!
//! ```sh
//! cargo run --release -p mxsend --example dkim_sign -- MESSAGE KEY:SELECTOR[:simple] ... > signed.eml
//! ```

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use mxsend::dkim::{sign, DkimKey, DkimSigner};
use mxsend::protocol::dkim::Canonicalization;
use mxsend::protocol::transparency::{DataEncoder, Framing};
use mxsend::BodySource;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let message = PathBuf::from(
        args.next()
            .ok_or("usage: dkim_sign MESSAGE KEY:SELECTOR[:simple]...")?,
    );
    let mut signers = Vec::new();
    for spec in args {
        let mut parts = spec.split(':');
        let key = DkimKey::from_pem_file(parts.next().unwrap_or_default())?;
        let selector = parts.next().ok_or("KEY:SELECTOR")?;
        let mut signer = DkimSigner::new(key, selector);
        if parts.next() == Some("simple") {
            signer = signer.canonicalization(Canonicalization::Simple, Canonicalization::Simple);
        }
        signers.push(signer);
    }
    let size = std::fs::metadata(&message)?.len();
    let start = Instant::now();
    let signed = sign(&signers, &message, SystemTime::now())?;
    let elapsed = start.elapsed();
    eprintln!(
        "signed {size} octets in {:.3} s: {:.1} MB/s",
        elapsed.as_secs_f64(),
        size as f64 / 1e6 / elapsed.as_secs_f64()
    );
    let mut reader = signed.open()?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut encoder = DataEncoder::new(Framing::Bdat);
    let mut chunk = vec![0u8; 64 * 1024];
    let mut wire = Vec::new();
    loop {
        let n = reader.read(&mut chunk)?;
        wire.clear();
        if n == 0 {
            encoder.finish(&mut wire);
            out.write_all(&wire)?;
            break;
        }
        encoder.encode(&chunk[..n], &mut wire);
        out.write_all(&wire)?;
    }
    out.flush()?;
    Ok(())
}
