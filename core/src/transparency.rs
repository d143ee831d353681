//! DATA transparency: CRLF normalisation and dot-stuffing, streaming (RFC 5321 §4.5.2,
//! §2.3.8), and the canonical form BDAT chunks carry (RFC 3030).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.

use alloc::vec::Vec;

/// Whether the encoder dot-stuffs (DATA) or only normalises line ends (BDAT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// DATA: dot-stuff, end with `CRLF . CRLF`.
    Data,
    /// BDAT: normalise line ends only; the caller frames chunks with `BDAT n`.
    Bdat,
}

/// Streaming encoder of a message body: chunks in, wire bytes out.
#[derive(Clone, Debug)]
pub struct DataEncoder {
    framing: Framing,
}

impl DataEncoder {
    /// A fresh encoder at the start of a message.
    pub fn new(framing: Framing) -> DataEncoder {
        DataEncoder { framing }
    }

    /// Encode `input`, appending to `out`. A trailing CR is held back until the next chunk
    /// shows whether an LF follows.
    pub fn encode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        todo!("transparency: encode {} {} {:?}", input.len(), out.len(), self.framing)
    }

    /// End the message: flush what is held back, make sure it ends with CRLF, and for
    /// [`Framing::Data`] append `.` CRLF.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        todo!("transparency: finish {}", out.len())
    }

    /// True once a byte with the high bit set has been seen.
    pub fn saw_eight_bit(&self) -> bool {
        todo!()
    }
}
