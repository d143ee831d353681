//! `DataEncoder` on arbitrary body bytes in arbitrary chunks, both framings.
//!
//! Input: one byte whose low bit picks the framing (0: DATA, 1: BDAT), then a [`Chunked`]
//! payload: the body.
//!
//! Checked:
//! - split invariance: the chunked output equals the one-shot output;
//! - no bare CR or LF anywhere in the output;
//! - the content is the body with line ends made CRLF (by a plain reference
//!   implementation) and a final CRLF added when the body does not end with a line end:
//!   for BDAT the output is exactly that; for DATA, `decode_data` gives back exactly that;
//! - DATA: exactly one end-of-data line, at the very end (`.` CRLF for an empty body,
//!   else CRLF `.` CRLF); no other line is a lone dot;
//! - `ContentScan::canonical_len_of` (SIZE=) is exactly the length of the BDAT output;
//! - after `finish` the encoder starts a new message: the same body again gives the same
//!   output.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxsend_core::transparency::{decode_data, ContentScan, DataEncoder, Framing};
use mxsend_fuzz::{first_bare_cr_or_lf, normalise_line_ends, show, Chunked};

fn encode<'a>(encoder: &mut DataEncoder, chunks: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in chunks {
        encoder.encode(chunk, &mut out);
    }
    encoder.finish(&mut out);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let framing = if selector & 1 == 0 {
        Framing::Data
    } else {
        Framing::Bdat
    };
    let chunked = Chunked::new(rest);
    let body = chunked.payload;

    let one_shot = encode(&mut DataEncoder::new(framing), std::iter::once(body));
    let mut encoder = DataEncoder::new(framing);
    let wire = encode(&mut encoder, chunked.chunks());
    assert!(
        wire == one_shot,
        "split changed the output: {} vs {}",
        show(&wire),
        show(&one_shot)
    );
    if framing == Framing::Bdat {
        assert_eq!(ContentScan::canonical_len_of(body), wire.len() as u64);
    }
    let again = encode(&mut encoder, chunked.chunks());
    assert!(
        again == wire,
        "a second message after finish differs: {}",
        show(&again)
    );

    if let Some(at) = first_bare_cr_or_lf(&wire) {
        panic!("bare CR or LF at {at} in {}", show(&wire));
    }

    let mut content = normalise_line_ends(body);
    if !content.is_empty() && !content.ends_with(b"\r\n") {
        content.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Bdat => assert!(wire == content, "BDAT content {}", show(&wire)),
        Framing::Data => {
            let decoded = decode_data(&wire);
            assert!(
                decoded.as_ref() == Ok(&content),
                "DATA round trip: {:?} for wire {}",
                decoded.map(|d| show(&d)),
                show(&wire)
            );
            assert!(
                wire == b".\r\n" || wire.ends_with(b"\r\n.\r\n"),
                "{}",
                show(&wire)
            );
            let lone_dots = wire
                .split(|&b| b == b'\n')
                .filter(|line| *line == b".\r")
                .count();
            assert_eq!(lone_dots, 1, "end-of-data lines in {}", show(&wire));
        }
    }
});
