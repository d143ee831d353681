//! EHLO keywords to typed capabilities (RFC 5321 §4.1.1.1 and each extension's RFC).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.

use crate::reply::Reply;
use crate::sasl::AuthMechanism;
use alloc::string::String;
use alloc::vec::Vec;

/// What a server said it supports in its EHLO reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The domain the server named on the first line of its EHLO reply.
    pub server_name: String,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870): `Some(0)` when offered with no fixed limit, `Some(n)` with limit n.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// AUTH mechanisms offered (RFC 4954), including the old `AUTH=` form.
    pub auth: Vec<AuthMechanism>,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// CHUNKING (RFC 3030).
    pub chunking: bool,
    /// BINARYMIME (RFC 3030).
    pub binary_mime: bool,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// Every other keyword line, as sent.
    pub other: Vec<String>,
}

impl Capabilities {
    /// Read the capabilities from a 250 reply to EHLO.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        todo!("capabilities: from_ehlo {reply:?}")
    }

    /// The SIZE limit, when the server declared a non-zero one.
    pub fn size_limit(&self) -> Option<u64> {
        self.size.filter(|&n| n > 0)
    }
}
