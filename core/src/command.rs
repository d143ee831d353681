//! Command encoding (RFC 5321 §4.1; ESMTP parameters from RFC 1870, 6152, 6531, 3461,
//! 3030, 4954).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.

use crate::address::{Domain, Mailbox, ReversePath};
use alloc::string::String;
use alloc::vec::Vec;

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;

/// Longest AUTH continuation line (base64 response), CRLF included (RFC 4954 §4).
pub const MAX_AUTH_LINE: usize = 12288;

/// The BODY= parameter of MAIL FROM (RFC 6152, RFC 3030).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyType {
    /// `BODY=7BIT`
    SevenBit,
    /// `BODY=8BITMIME`
    EightBitMime,
    /// `BODY=BINARYMIME` (needs BDAT)
    BinaryMime,
}

/// RET= of MAIL FROM (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`
    Full,
    /// `RET=HDRS`
    Headers,
}

/// NOTIFY= of RCPT TO (RFC 3461 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NOTIFY=NEVER`
    Never,
    /// `NOTIFY=` a comma list of the conditions set (at least one must be set).
    On {
        /// SUCCESS
        success: bool,
        /// FAILURE
        failure: bool,
        /// DELAY
        delay: bool,
    },
}

/// Parameters of MAIL FROM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=` (RFC 1870).
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<BodyType>,
    /// `SMTPUTF8` (RFC 6531).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461).
    pub ret: Option<Ret>,
    /// `ENVID=`, xtext-encoded on the wire (RFC 3461).
    pub envid: Option<String>,
}

/// Parameters of RCPT TO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461).
    pub notify: Option<Notify>,
    /// `ORCPT=rfc822;` + the original recipient, xtext-encoded on the wire (RFC 3461).
    pub orcpt: Option<String>,
}

/// One SMTP command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// `EHLO domain`
    Ehlo(&'a Domain),
    /// `HELO domain`
    Helo(&'a Domain),
    /// `MAIL FROM:<path> params`
    Mail(&'a ReversePath, &'a MailParams),
    /// `RCPT TO:<mailbox> params`
    Rcpt(&'a Mailbox, &'a RcptParams),
    /// `DATA`
    Data,
    /// `BDAT size [LAST]`
    Bdat {
        /// Octets in the chunk that follows.
        size: u64,
        /// Whether it is the last chunk.
        last: bool,
    },
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `QUIT`
    Quit,
    /// `STARTTLS`
    StartTls,
    /// `AUTH mechanism [initial-response]`; the response is already base64 (`=` for empty).
    Auth {
        /// The SASL mechanism name.
        mechanism: &'a str,
        /// The base64 initial response, if sent with the command.
        initial_response: Option<&'a [u8]>,
    },
}

/// Why a command could not be encoded. Nothing was written to the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// Placeholder until the encoder lands.
    Invalid,
}

/// Append `command` and its CRLF to `out`.
pub fn encode(command: &Command<'_>, out: &mut Vec<u8>) -> Result<(), CommandError> {
    todo!("command: encode {command:?} {}", out.len())
}

/// Append an AUTH continuation line (a base64 response, or `*` to cancel) and its CRLF.
pub fn encode_auth_response(base64: &[u8], out: &mut Vec<u8>) -> Result<(), CommandError> {
    todo!("command: encode_auth_response {} {}", base64.len(), out.len())
}
