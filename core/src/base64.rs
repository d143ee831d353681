//! Base64 (RFC 4648 §4), one-shot and streaming with MIME line wrapping (RFC 2045 §6.8).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.

use alloc::vec::Vec;

/// Append the base64 encoding of `input` to `out`, padded, no line breaks.
pub fn encode(input: &[u8], out: &mut Vec<u8>) {
    todo!("base64: encode {} {}", input.len(), out.len())
}

/// Decode padded base64 (ignoring nothing: whitespace is an error).
pub fn decode(input: &[u8]) -> Result<Vec<u8>, Base64Error> {
    todo!("base64: decode {}", input.len())
}

/// Why input is not base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base64Error {
    /// Placeholder until the decoder lands.
    Invalid,
}

/// Streaming encoder: any split of the input gives the same output. With a line length,
/// a CRLF is written after every `line_len` output characters (76 for MIME).
#[derive(Clone, Debug)]
pub struct StreamEncoder {
    line_len: Option<usize>,
}

impl StreamEncoder {
    /// An encoder that wraps lines at `line_len` characters (`None`: no wrapping).
    pub fn new(line_len: Option<usize>) -> StreamEncoder {
        StreamEncoder { line_len }
    }

    /// Encode `input`, holding back up to two octets for the next call.
    pub fn push(&mut self, input: &[u8], out: &mut Vec<u8>) {
        todo!("base64: push {} {} {:?}", input.len(), out.len(), self.line_len)
    }

    /// Flush the held-back octets with padding and end the last line with CRLF (when wrapping
    /// and the last line is not empty).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        todo!("base64: finish {}", out.len())
    }
}
