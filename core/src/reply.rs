//! Server replies: an incremental, bounded parser (RFC 5321 §4.2; enhanced status
//! codes RFC 3463 / RFC 2034).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.
//! The parser body is being written (issue 2).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A validated three-digit reply code, 200 to 599 (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

/// The first digit of a reply code (RFC 5321 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReplyClass {
    /// 2yz: the requested action completed.
    PositiveCompletion,
    /// 3yz: accepted, more information wanted (354 to DATA, 334 to AUTH).
    PositiveIntermediate,
    /// 4yz: not done this time; try again later.
    TransientNegative,
    /// 5yz: not done, and will not be done if repeated.
    PermanentNegative,
}

impl ReplyCode {
    /// The code, if it is a valid reply code (200..=599, every digit of the second and
    /// third positions allowed).
    pub const fn new(code: u16) -> Option<ReplyCode> {
        if code >= 200 && code <= 599 {
            Some(ReplyCode(code))
        } else {
            None
        }
    }

    /// The numeric value.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// Which of the four classes the code is in.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            2 => ReplyClass::PositiveCompletion,
            3 => ReplyClass::PositiveIntermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// 4yz: a transient failure.
    pub const fn is_transient(self) -> bool {
        self.0 / 100 == 4
    }

    /// 5yz: a permanent failure.
    pub const fn is_permanent(self) -> bool {
        self.0 / 100 == 5
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An enhanced status code `class.subject.detail` (RFC 3463 §2), such as `5.1.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2, 4 or 5.
    pub class: u8,
    /// 0 to 999.
    pub subject: u16,
    /// 0 to 999.
    pub detail: u16,
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// One complete server reply, possibly of several lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    lines: Vec<String>,
}

impl Reply {
    /// A reply built by hand (tests, synthetic outcomes). `lines` is the text of each line
    /// after the code and separator; the enhanced code is taken from the first line's text
    /// when it starts with one whose class matches the reply code's.
    pub fn new(code: ReplyCode, lines: Vec<String>) -> Reply {
        todo!("reply: Reply::new ({code}, {} lines)", lines.len())
    }

    /// The three-digit code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code, when the server sent one on the first line.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of each line after `NNN-` / `NNN ` (the enhanced code, if any, left in),
    /// decoded as UTF-8 with invalid sequences replaced.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

impl fmt::Display for Reply {
    /// `550 5.1.1 text` for a one-line reply; lines joined by `\n` for longer ones.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("reply: Display {:p}", f)
    }
}

/// Bounds on what one reply may cost; exceeding one is an error, never unbounded memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLimits {
    /// Longest accepted line, CRLF included.
    pub max_line_len: usize,
    /// Most lines in one reply.
    pub max_lines: usize,
    /// Most octets in one reply, all lines together.
    pub max_reply_len: usize,
}

/// What [`ReplyParser::parse`] found in the input it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// All input was consumed (buffered, within the limits) and no reply is complete yet.
    Partial,
    /// A reply is complete; the first `usize` octets of the input were consumed to finish it.
    Complete(Reply, usize),
}

/// Why the server's bytes are not a valid reply. The parser is unusable after one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyError {
    /// Placeholder variant until the parser lands.
    Invalid,
}

/// Incremental reply parser: feed it any split of the server's bytes.
#[derive(Clone, Debug)]
pub struct ReplyParser {
    limits: ReplyLimits,
}

impl ReplyParser {
    /// A parser with the default limits.
    pub fn new() -> ReplyParser {
        todo!()
    }

    /// A parser with the given limits.
    pub fn with_limits(limits: ReplyLimits) -> ReplyParser {
        ReplyParser { limits }
    }

    /// Parse from `input`, continuing from any partial line buffered by earlier calls.
    /// Returns at the end of the first complete reply, so the caller sees replies one by one.
    pub fn parse(&mut self, input: &[u8]) -> Result<Status, ReplyError> {
        todo!("reply: parse {} bytes, limits {:?}", input.len(), self.limits)
    }

    /// True when no partial reply is buffered (used to detect bytes after STARTTLS's 220).
    pub fn is_idle(&self) -> bool {
        todo!()
    }
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new()
    }
}
