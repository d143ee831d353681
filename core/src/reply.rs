//! Server replies: an incremental, bounded parser (RFC 5321 §4.2; enhanced status codes
//! RFC 3463 / RFC 2034).
//!
//! [`ReplyParser`] takes the server's bytes in whatever pieces the network delivers them and
//! returns one [`Reply`] at a time. It keeps only the current partial line and the lines of
//! the reply in progress, never rescans bytes it has already looked at (linear time), and
//! fails rather than grow past [`ReplyLimits`]. Any split of the same input, one byte at a
//! time included, gives the same replies and the same error.
//!
//! What it implements:
//! - RFC 5321 §4.2: `Reply-line = *( Reply-code "-" [ textstring ] CRLF )
//!   Reply-code [ SP textstring ] CRLF`; the code is three digits, 2xx to 5xx
//!   (§4.2.1; 1xx is not used by SMTP). Every line of a multi-line reply must carry the same
//!   code (§4.2.1: "the same code on each line"), else [`ReplyError::CodeMismatch`].
//! - RFC 3463 §2 / RFC 2034 §4: `class.subject.detail` at the start of the first line's text,
//!   taken as [`Reply::enhanced`] only when its class (2, 4 or 5) matches the reply code's
//!   first digit, so a 250 whose text happens to start with `5.1.1` is not misread. The code
//!   stays in [`Reply::lines`]; [`Reply::text`] strips it.
//!
//! Deliberate deviations, all towards accepting what real servers send:
//! - A line ending in LF alone is accepted; one CR before the LF is removed. A CR anywhere
//!   else in a line is kept as text (RFC 5321 §2.3.8 forbids it, but refusing a reply over its
//!   human-readable text would fail deliveries for nothing). [`Reply`]'s `Display` escapes
//!   control characters, so such text cannot reach a terminal raw.
//! - A final line of just the code (`250` CRLF, no separator) is a reply with empty text, and
//!   `250 ` with empty text is accepted (Postfix's smtp-sink ends its EHLO reply that way).
//! - Lines may be up to [`MAX_LINE_LEN`] octets, not the 512 of RFC 5321 §4.5.3.1.5: servers
//!   exceed 512 in long rejection texts and EHLO keyword lists, and the limit's purpose here
//!   is bounded memory, not conformance policing.
//! - Text is decoded as UTF-8 with invalid sequences replaced (RFC 6531 §3.7.4 allows UTF-8
//!   text; older servers send Latin-1, which is better shown lossy than refused).

use alloc::string::String;
/// The text of an owned [`Reply`]: shared, so a clone costs no allocation, on every
/// target with pointer-sized atomics; a plain box (a clone copies the text) on the few
/// without them, so the core still builds for the smallest embedded targets.
#[cfg(target_has_atomic = "ptr")]
type SharedText = alloc::sync::Arc<str>;
#[cfg(not(target_has_atomic = "ptr"))]
type SharedText = alloc::boxed::Box<str>;
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
///
/// The text of all lines is held in one shared string, lines separated by `\n` (a line
/// never contains one: LF ends lines on the wire), so a reply costs one allocation and a
/// clone costs none: the session hands the same final reply to every recipient of a
/// transaction. [`ReplyRef`] is the borrowed form, which costs nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    text: SharedText,
}

/// One complete server reply, borrowed from the parser's input or its reused buffer: what
/// [`ReplyParser::parse_ref`] returns, so a reply that is only looked at (a 250 to MAIL, a
/// 354) costs no allocation. [`ReplyRef::to_reply`] makes the owned [`Reply`] to keep one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyRef<'a> {
    code: ReplyCode,
    enhanced: Option<EnhancedCode>,
    /// The lines' text joined by `\n`, enhanced codes left in.
    text: &'a str,
}

impl<'a> ReplyRef<'a> {
    pub(crate) fn from_text(code: ReplyCode, text: &'a str) -> ReplyRef<'a> {
        ReplyRef {
            code,
            enhanced: enhanced_of(code, text),
            text,
        }
    }

    /// The three-digit code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code, when the server sent one on the first line.
    pub fn enhanced(&self) -> Option<EnhancedCode> {
        self.enhanced
    }

    /// The text of each line after `NNN-` / `NNN ` (the enhanced code, if any, left in).
    pub fn lines(&self) -> Lines<'a> {
        Lines(self.text.split('\n'))
    }

    /// The first line's text (the enhanced code, if any, left in).
    pub fn first_line(&self) -> &'a str {
        self.lines().next().unwrap_or("")
    }

    /// How many lines the reply has (at least one).
    pub fn line_count(&self) -> usize {
        self.text.bytes().filter(|&b| b == b'\n').count() + 1
    }

    /// Every line's text joined by `\n`, enhanced codes left in ([`Reply::text`] strips them).
    pub fn raw_text(&self) -> &'a str {
        self.text
    }

    /// 2yz: the requested action completed (RFC 5321 §4.2.1).
    pub fn is_positive_completion(&self) -> bool {
        self.code.class() == ReplyClass::PositiveCompletion
    }

    /// The owned reply, to keep: one allocation, for the text.
    pub fn to_reply(&self) -> Reply {
        Reply {
            code: self.code,
            enhanced: self.enhanced,
            text: SharedText::from(self.text),
        }
    }
}

impl From<ReplyRef<'_>> for Reply {
    fn from(reply: ReplyRef<'_>) -> Reply {
        reply.to_reply()
    }
}

impl fmt::Display for ReplyRef<'_> {
    /// As [`Reply`]'s `Display`: the reply as on the wire, control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.line_count().saturating_sub(1);
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", self.code)?;
            if i < last {
                f.write_str("-")?;
            } else if !line.is_empty() {
                f.write_str(" ")?;
            }
            for c in line.chars() {
                if c.is_control() && c != '\t' {
                    write!(f, "{}", c.escape_default())?;
                } else {
                    write!(f, "{c}")?;
                }
            }
        }
        Ok(())
    }
}

/// The enhanced code at the start of a reply's text, when its class matches the reply
/// code's first digit (RFC 3463 §2).
fn enhanced_of(code: ReplyCode, text: &str) -> Option<EnhancedCode> {
    EnhancedCode::at_start_of(text).filter(|enhanced| u16::from(enhanced.class) == code.get() / 100)
}

/// The lines of a [`Reply`], from [`Reply::lines`].
#[derive(Clone, Debug)]
pub struct Lines<'a>(core::str::Split<'a, char>);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.0.next()
    }
}

impl EnhancedCode {
    /// Read an enhanced code at the start of `text`: `class.subject.detail` (RFC 3463 §2:
    /// class 2, 4 or 5; subject and detail one to three digits), followed by the end of the
    /// text or a space or tab. Returns the code and the text after it, leading blanks removed.
    fn parse_prefix(text: &str) -> Option<(EnhancedCode, &str)> {
        let (code, rest) = EnhancedCode::parse_code(text)?;
        let after = match rest.as_bytes().first() {
            None => rest,
            Some(b' ' | b'\t') => rest.trim_start_matches([' ', '\t']),
            Some(_) => return None,
        };
        Some((code, after))
    }

    /// The code alone at the start of a reply's text, whose first line may be followed by
    /// `\n` and more lines: no need to find the end of the first line first.
    fn at_start_of(text: &str) -> Option<EnhancedCode> {
        let (code, rest) = EnhancedCode::parse_code(text)?;
        match rest.as_bytes().first() {
            None | Some(b' ' | b'\t' | b'\n') => Some(code),
            Some(_) => None,
        }
    }

    /// `class.subject.detail` at the start of `text`, and what follows it.
    fn parse_code(text: &str) -> Option<(EnhancedCode, &str)> {
        // Most reply texts either start `2.`/`4.`/`5.` or are not enhanced codes at all.
        if !matches!(text.as_bytes(), [b'2' | b'4' | b'5', b'.', ..]) {
            return None;
        }
        let (class, rest) = digits(text, 1)?;
        if !matches!(class, 2 | 4 | 5) {
            return None;
        }
        let (subject, rest) = digits(rest.strip_prefix('.')?, 3)?;
        let (detail, rest) = digits(rest.strip_prefix('.')?, 3)?;
        Some((
            EnhancedCode {
                class: class as u8,
                subject,
                detail,
            },
            rest,
        ))
    }
}

/// One to `max` ASCII digits at the start of `text`, as a number, and what follows.
fn digits(text: &str, max: usize) -> Option<(u16, &str)> {
    let bytes = text.as_bytes();
    let mut value = 0u16;
    let mut len = 0;
    while let Some(&digit) = bytes.get(len) {
        if !digit.is_ascii_digit() {
            break;
        }
        if len == max {
            return None;
        }
        value = value * 10 + u16::from(digit - b'0');
        len += 1;
    }
    if len == 0 {
        return None;
    }
    // ASCII digits end on a character boundary.
    Some((value, text.get(len..)?))
}

impl Reply {
    /// A reply built by hand (tests, synthetic outcomes). `lines` is the text of each line
    /// after the code and separator; the enhanced code is taken from the first line's text
    /// when it starts with one whose class matches the reply code's. An empty `lines` is
    /// taken as one empty line, so a reply always has at least one.
    pub fn new(code: ReplyCode, lines: Vec<String>) -> Reply {
        let mut text = String::new();
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            // A line cannot hold a line break; one given here would split it in two.
            text.extend(line.chars().map(|c| if c == '\n' { ' ' } else { c }));
        }
        ReplyRef::from_text(code, &text).to_reply()
    }

    /// The borrowed form of this reply (no allocation).
    pub fn as_reply_ref(&self) -> ReplyRef<'_> {
        ReplyRef {
            code: self.code,
            enhanced: self.enhanced,
            text: &self.text,
        }
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
    pub fn lines(&self) -> Lines<'_> {
        Lines(self.text.split('\n'))
    }

    /// The first line's text (the enhanced code, if any, left in).
    pub fn first_line(&self) -> &str {
        self.lines().next().unwrap_or("")
    }

    /// How many lines the reply has (at least one).
    pub fn line_count(&self) -> usize {
        self.text.bytes().filter(|&b| b == b'\n').count() + 1
    }

    /// 2yz: the requested action completed (RFC 5321 §4.2.1).
    pub fn is_positive_completion(&self) -> bool {
        self.code.class() == ReplyClass::PositiveCompletion
    }

    /// The human-readable text: the lines joined by `\n`, each without its leading enhanced
    /// code when the reply has one (RFC 2034 §4 repeats it on every line).
    pub fn text(&self) -> String {
        if self.enhanced.is_none() {
            return String::from(&*self.text);
        }
        let mut text = String::new();
        for (i, line) in self.lines().enumerate() {
            if i > 0 {
                text.push('\n');
            }
            text.push_str(self.line_text(line));
        }
        text
    }

    fn line_text<'a>(&self, line: &'a str) -> &'a str {
        match self.enhanced {
            Some(enhanced) => match EnhancedCode::parse_prefix(line) {
                Some((own, rest)) if own.class == enhanced.class => rest,
                _ => line,
            },
            None => line,
        }
    }
}

impl fmt::Display for Reply {
    /// The reply as it was on the wire, without CRLFs: `550 5.1.1 text` for a one-line reply;
    /// `250-first`, …, `250 last` joined by `\n` for longer ones. Control characters in the
    /// server's text are escaped (`\r`, `\u{1b}`), so a hostile server cannot drive the
    /// terminal this is printed on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_reply_ref().fmt(f)
    }
}

/// Default longest line, CRLF included: 8 KiB. RFC 5321 §4.5.3.1.5 sets 512, but servers
/// send longer rejection texts and EHLO lines, and a client gains nothing by refusing them;
/// the limit is here to bound memory.
pub const MAX_LINE_LEN: usize = 8 * 1024;

/// Default most lines in one reply: 256. RFC 5321 §4.2.1 sets no bound; the longest real
/// replies (EHLO keyword lists, multi-line policy rejections) have a few dozen.
pub const MAX_LINES: usize = 256;

/// Default most octets in one reply, all lines together: 64 KiB. RFC 5321 sets no bound
/// (§4.5.3.1 lists only per-line sizes); this caps what one reply can make the client hold,
/// far above the few KiB of the largest real replies.
pub const MAX_REPLY_LEN: usize = 64 * 1024;

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

impl Default for ReplyLimits {
    /// [`MAX_LINE_LEN`], [`MAX_LINES`], [`MAX_REPLY_LEN`].
    fn default() -> Self {
        ReplyLimits {
            max_line_len: MAX_LINE_LEN,
            max_lines: MAX_LINES,
            max_reply_len: MAX_REPLY_LEN,
        }
    }
}

/// What [`ReplyParser::parse`] found in the input it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// All input was consumed (buffered, within the limits) and no reply is complete yet.
    Partial,
    /// A reply is complete; the first `usize` octets of the input were consumed to finish it.
    Complete(Reply, usize),
}

/// What [`ReplyParser::parse_ref`] found in the input it was given: [`Status`], borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusRef<'a> {
    /// All input was consumed (buffered, within the limits) and no reply is complete yet.
    Partial,
    /// A reply is complete; the first `usize` octets of the input were consumed to finish it.
    Complete(ReplyRef<'a>, usize),
}

/// Where the text of a completed reply is: in the input (a one-line reply wholly inside it),
/// or in the parser's scratch buffer.
#[derive(Clone, Copy, Debug)]
enum TextAt {
    Input(usize, usize),
    Scratch,
}

/// How much of a malformed line an error keeps, so it can be shown without holding the line.
const EXCERPT_LEN: usize = 64;

/// Why the server's bytes are not a valid reply (the server broke the protocol). The parser
/// is unusable after one: it returns the same error to every later call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line is longer than [`ReplyLimits::max_line_len`] (this limit), CRLF included.
    LineTooLong(usize),
    /// A reply has more lines than [`ReplyLimits::max_lines`] (this limit).
    TooManyLines(usize),
    /// A reply is longer than [`ReplyLimits::max_reply_len`] (this limit) octets.
    ReplyTooLong(usize),
    /// A line does not start with three digits. Carries the start of the line, lossily
    /// decoded (at most 64 octets).
    MalformedCode(String),
    /// The three digits are not a reply code 200 to 599 (RFC 5321 §4.2.1).
    CodeOutOfRange(u16),
    /// The code is followed by something other than `-`, space or the line end.
    InvalidSeparator {
        /// The line's code.
        code: ReplyCode,
        /// The octet after it.
        found: u8,
    },
    /// A line of a multi-line reply has a different code from the first line.
    CodeMismatch {
        /// The code of the reply's first line.
        expected: ReplyCode,
        /// The code on this line.
        found: ReplyCode,
    },
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::LineTooLong(limit) => {
                write!(f, "server reply line longer than {limit} octets")
            }
            ReplyError::TooManyLines(limit) => {
                write!(f, "server reply has more than {limit} lines")
            }
            ReplyError::ReplyTooLong(limit) => {
                write!(f, "server reply longer than {limit} octets")
            }
            ReplyError::MalformedCode(line) => {
                write!(f, "server reply line does not start with a 3-digit code: ")?;
                write!(f, "{:?}", line)
            }
            ReplyError::CodeOutOfRange(code) => {
                write!(f, "server reply code {code} is not between 200 and 599")
            }
            ReplyError::InvalidSeparator { code, found } => write!(
                f,
                "server reply code {code} followed by 0x{found:02x}, not '-', space or line end"
            ),
            ReplyError::CodeMismatch { expected, found } => write!(
                f,
                "multi-line server reply changed code from {expected} to {found}"
            ),
        }
    }
}

impl core::error::Error for ReplyError {}

/// Incremental reply parser: feed it any split of the server's bytes.
///
/// ```
/// use mxsend_core::reply::{ReplyParser, Status, StatusRef};
///
/// let mut parser = ReplyParser::new();
/// // A multi-line reply cut in the middle of a line, as a socket may deliver it.
/// assert_eq!(parser.parse(b"250-mx.example.test\r\n250-PIPE")?, Status::Partial);
/// let Status::Complete(reply, used) = parser.parse(b"LINING\r\n250 SIZE 1000\r\n354 go\r\n")? else {
///     unreachable!("the reply is complete");
/// };
/// assert_eq!(reply.code().get(), 250);
/// assert_eq!(reply.lines().collect::<Vec<_>>(), ["mx.example.test", "PIPELINING", "SIZE 1000"]);
/// // `used` octets made up the reply; the rest is the next one. Borrowed, no allocation:
/// let rest = b"LINING\r\n250 SIZE 1000\r\n354 go\r\n".get(used..).unwrap_or_default();
/// let Ok(StatusRef::Complete(next, _)) = parser.parse_ref(rest) else { unreachable!() };
/// assert_eq!((next.code().get(), next.first_line()), (354, "go"));
/// // A line that is not a reply is an error, and stays one.
/// assert!(parser.parse(b"hello\r\n").is_err());
/// # Ok::<(), mxsend_core::reply::ReplyError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReplyParser {
    limits: ReplyLimits,
    /// The current line's octets so far, without its LF; never holds a complete line.
    line: Vec<u8>,
    /// The code of the reply in progress, once its first (continuation) line is complete.
    code: Option<ReplyCode>,
    /// The raw text of the complete lines of the reply in progress, joined by `\n`; UTF-8
    /// is checked once, when the reply is complete (per line, it was a sixth of EHLO parsing).
    /// After a reply completes here, it holds that reply's text (which [`ReplyRef`] borrows)
    /// until the next reply's first line: the buffer is reused, never freed.
    text: Vec<u8>,
    /// A completed reply's text with invalid UTF-8 replaced, when it had some.
    lossy: String,
    /// How many complete lines `text` holds.
    lines: usize,
    /// Raw octets of those lines, line ends included (for `max_reply_len`).
    reply_len: usize,
    /// Set once the server broke the protocol; returned to every later call.
    error: Option<ReplyError>,
}

impl ReplyParser {
    /// A parser with the default limits.
    pub fn new() -> ReplyParser {
        ReplyParser::with_limits(ReplyLimits::default())
    }

    /// A parser with the given limits.
    pub fn with_limits(limits: ReplyLimits) -> ReplyParser {
        ReplyParser {
            limits,
            line: Vec::new(),
            code: None,
            text: Vec::new(),
            lossy: String::new(),
            lines: 0,
            reply_len: 0,
            error: None,
        }
    }

    /// Parse from `input`, continuing from any partial line buffered by earlier calls.
    /// Returns at the end of the first complete reply, so the caller sees replies one by one:
    /// call again with the rest of the input. After an error, returns that error again.
    ///
    /// The owned form of [`ReplyParser::parse_ref`], which it calls: the two cannot differ.
    pub fn parse(&mut self, input: &[u8]) -> Result<Status, ReplyError> {
        Ok(match self.parse_ref(input)? {
            StatusRef::Partial => Status::Partial,
            StatusRef::Complete(reply, used) => Status::Complete(reply.to_reply(), used),
        })
    }

    /// As [`ReplyParser::parse`], without allocating: the reply borrows `input` when it is
    /// one line wholly inside it (valid UTF-8), else the parser's reused buffer. Same
    /// validation, limits, errors and split invariance as `parse`.
    pub fn parse_ref<'a>(&'a mut self, input: &'a [u8]) -> Result<StatusRef<'a>, ReplyError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        match self.parse_lines(input) {
            Ok(None) => Ok(StatusRef::Partial),
            Ok(Some((code, at, used))) => {
                let ReplyParser { text, lossy, .. } = self;
                let raw: &'a [u8] = match at {
                    TextAt::Input(start, end) => input.get(start..end).unwrap_or_default(),
                    TextAt::Scratch => text,
                };
                // Checking first keeps the common case (valid, mostly ASCII) on the standard
                // library's fast validator; a replacement never spans a `\n`, so decoding the
                // joined text is the same as decoding line by line.
                let text: &'a str = match core::str::from_utf8(raw) {
                    Ok(text) => text,
                    Err(_) => {
                        lossy.clear();
                        lossy.push_str(&String::from_utf8_lossy(raw));
                        lossy
                    }
                };
                Ok(StatusRef::Complete(ReplyRef::from_text(code, text), used))
            }
            Err(error) => {
                self.error = Some(error.clone());
                self.line = Vec::new();
                self.text = Vec::new();
                self.lines = 0;
                Err(error)
            }
        }
    }

    /// True when no partial reply is buffered (used to detect bytes after STARTTLS's 220).
    /// False after an error: the parser no longer knows where a reply starts.
    pub fn is_idle(&self) -> bool {
        self.error.is_none() && self.line.is_empty() && self.code.is_none()
    }

    /// Lines up to the end of the first complete reply: its code, where its text is, and
    /// the octets of `input` used; `None` when all input was consumed without finishing one.
    fn parse_lines(
        &mut self,
        input: &[u8],
    ) -> Result<Option<(ReplyCode, TextAt, usize)>, ReplyError> {
        let mut rest = input;
        loop {
            if rest.is_empty() {
                // No octet of a new line yet: nothing that could break a limit.
                return Ok(None);
            }
            let Some(lf) = find_lf(rest) else {
                // Check before copying, so a huge input never reaches memory.
                self.check_budget(self.line.len() + rest.len())?;
                self.line.extend_from_slice(rest);
                return Ok(None);
            };
            let start = input.len() - rest.len();
            let (content, after) = rest.split_at(lf);
            let after = after.get(1..).unwrap_or_default();
            self.check_budget(self.line.len() + content.len())?;
            let raw_len = self.line.len() + content.len() + 1;
            let finished = if self.line.is_empty() {
                self.finish_line(content, Some(start), raw_len)?
            } else {
                let mut line = core::mem::take(&mut self.line);
                line.extend_from_slice(content);
                let finished = self.finish_line(&line, None, raw_len);
                // Keep the allocation for the next partial line.
                line.clear();
                self.line = line;
                finished?
            };
            rest = after;
            if let Some((code, at)) = finished {
                return Ok(Some((code, at, input.len() - rest.len())));
            }
        }
    }

    /// Fail if a line with `content` octets before its LF is certain to break a limit.
    ///
    /// A line of `content` octets is at least `content + 1` long with its LF, so the check is
    /// the same whether the line is complete or still arriving; the limit reported is the
    /// one the growing line crosses first (the line limit on a tie). That is what makes the
    /// error independent of how the input is split.
    fn check_budget(&self, content: usize) -> Result<(), ReplyError> {
        let line_room = self.limits.max_line_len;
        let reply_room = self.limits.max_reply_len.saturating_sub(self.reply_len);
        if content < line_room.min(reply_room) {
            Ok(())
        } else if line_room <= reply_room {
            Err(ReplyError::LineTooLong(self.limits.max_line_len))
        } else {
            Err(ReplyError::ReplyTooLong(self.limits.max_reply_len))
        }
    }

    /// Take one complete line (without its LF; `raw_len` octets on the wire; at offset
    /// `in_input` of the input when it is wholly there); the reply's code and where its
    /// text is if it was the last line.
    fn finish_line(
        &mut self,
        line: &[u8],
        in_input: Option<usize>,
        raw_len: usize,
    ) -> Result<Option<(ReplyCode, TextAt)>, ReplyError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let code = match line {
            [a, b, c, ..] if [a, b, c].iter().all(|d| d.is_ascii_digit()) => {
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
            }
            _ => {
                let excerpt = line.get(..EXCERPT_LEN).unwrap_or(line);
                return Err(ReplyError::MalformedCode(
                    String::from_utf8_lossy(excerpt).into_owned(),
                ));
            }
        };
        let code = ReplyCode::new(code).ok_or(ReplyError::CodeOutOfRange(code))?;
        // The text's offset in `line`: after the code and its separator.
        let (last, text, offset): (bool, &[u8], usize) = match line.get(3..).unwrap_or_default() {
            [] => (true, &[], 3),
            [b' ', text @ ..] => (true, text, 4),
            [b'-', text @ ..] => (false, text, 4),
            [found, ..] => {
                return Err(ReplyError::InvalidSeparator {
                    code,
                    found: *found,
                })
            }
        };
        if let Some(expected) = self.code {
            if expected != code {
                return Err(ReplyError::CodeMismatch {
                    expected,
                    found: code,
                });
            }
        }
        let count = self.lines + 1;
        // A continuation line promises another, so it must leave room for one.
        if count > self.limits.max_lines || (!last && count >= self.limits.max_lines) {
            return Err(ReplyError::TooManyLines(self.limits.max_lines));
        }
        // The scratch buffer still holds the previous reply's text (a `ReplyRef` may have
        // borrowed it) until this reply's first line arrives.
        if self.lines == 0 {
            self.text.clear();
        } else {
            self.text.push(b'\n');
        }
        if last {
            self.code = None;
            self.reply_len = 0;
            let first_line = self.lines == 0;
            self.lines = 0;
            match in_input {
                // A one-line reply wholly in the input is borrowed from it, not copied.
                Some(start) if first_line => {
                    let start = start + offset;
                    Ok(Some((code, TextAt::Input(start, start + text.len()))))
                }
                _ => {
                    self.text.extend_from_slice(text);
                    Ok(Some((code, TextAt::Scratch)))
                }
            }
        } else {
            self.text.extend_from_slice(text);
            self.lines += 1;
            self.code = Some(code);
            self.reply_len += raw_len;
            Ok(None)
        }
    }

    /// Octets held for the reply in progress (tests check they stay within the limits).
    #[cfg(test)]
    fn buffered_len(&self) -> usize {
        self.reply_len + self.line.len()
    }
}

/// The offset of the first LF in `bytes`, eight octets at a time: replies arrive in reads
/// of many lines, and a byte-by-byte search was the parser's largest cost.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const LFS: u64 = u64::from_ne_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in words.by_ref() {
        let mut octets = [0u8; 8];
        octets.copy_from_slice(word);
        let x = u64::from_ne_bytes(octets) ^ LFS;
        // The classic "has a zero octet" test: non-zero exactly when some octet of `x` is
        // zero, that is, was an LF. Which one is found below.
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return word.iter().position(|&b| b == b'\n').map(|i| offset + i);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| offset + i)
}

impl Default for ReplyParser {
    fn default() -> Self {
        ReplyParser::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn code(n: u16) -> ReplyCode {
        ReplyCode::new(n).unwrap()
    }

    /// Feed `chunks` in order, collecting every reply and stopping at the first error;
    /// also whether the parser ends idle.
    fn run(parser: &mut ReplyParser, chunks: &[&[u8]]) -> (Vec<Result<Reply, ReplyError>>, bool) {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                match parser.parse(rest) {
                    Ok(Status::Complete(reply, used)) => {
                        assert!(used > 0 && used <= rest.len());
                        out.push(Ok(reply));
                        rest = &rest[used..];
                    }
                    Ok(Status::Partial) => break,
                    Err(error) => {
                        out.push(Err(error));
                        return (out, parser.is_idle());
                    }
                }
            }
        }
        (out, parser.is_idle())
    }

    /// As `run`, through `parse_ref`, each borrowed reply made owned as it comes.
    fn run_ref(
        parser: &mut ReplyParser,
        chunks: &[&[u8]],
    ) -> (Vec<Result<Reply, ReplyError>>, bool) {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            loop {
                match parser.parse_ref(rest) {
                    Ok(StatusRef::Complete(reply, used)) => {
                        assert!(used > 0 && used <= rest.len());
                        out.push(Ok(reply.to_reply()));
                        rest = &rest[used..];
                    }
                    Ok(StatusRef::Partial) => break,
                    Err(error) => {
                        out.push(Err(error));
                        return (out, parser.is_idle());
                    }
                }
            }
        }
        (out, parser.is_idle())
    }

    fn parse_one(input: &[u8]) -> Result<Reply, ReplyError> {
        match ReplyParser::new().parse(input)? {
            Status::Complete(reply, used) => {
                assert_eq!(used, input.len(), "one reply should use all the input");
                Ok(reply)
            }
            Status::Partial => panic!("reply incomplete"),
        }
    }

    fn small(max_line_len: usize, max_lines: usize, max_reply_len: usize) -> ReplyParser {
        ReplyParser::with_limits(ReplyLimits {
            max_line_len,
            max_lines,
            max_reply_len,
        })
    }

    #[test]
    fn parses_a_single_line_reply() {
        let reply = parse_one(b"220 mx.example.test ESMTP\r\n").unwrap();
        assert_eq!(reply.code(), code(220));
        assert_eq!(reply.lines().collect::<Vec<_>>(), ["mx.example.test ESMTP"]);
        assert_eq!(reply.enhanced(), None);
    }

    #[test]
    fn parses_a_multi_line_ehlo_reply() {
        let reply = parse_one(
            b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 CHUNKING\r\n",
        )
        .unwrap();
        assert_eq!(reply.code(), code(250));
        assert_eq!(
            reply.lines().collect::<Vec<_>>(),
            ["mx.example.test", "PIPELINING", "SIZE 10240000", "CHUNKING"]
        );
    }

    #[test]
    fn reads_the_enhanced_code_and_keeps_it_in_the_line() {
        let reply = parse_one(b"550 5.1.1 <bob@example.test>: Recipient unknown\r\n").unwrap();
        assert_eq!(
            reply.enhanced(),
            Some(EnhancedCode {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(
            reply.lines().collect::<Vec<_>>(),
            ["5.1.1 <bob@example.test>: Recipient unknown"]
        );
        assert_eq!(reply.text(), "<bob@example.test>: Recipient unknown");
    }

    #[test]
    fn reads_three_digit_subject_and_detail() {
        let reply = parse_one(b"451 4.123.999 try later\r\n").unwrap();
        assert_eq!(reply.enhanced().unwrap().to_string(), "4.123.999");
    }

    #[test]
    fn reads_an_enhanced_code_that_is_the_whole_text() {
        let reply = parse_one(b"250 2.0.0\r\n").unwrap();
        assert_eq!(reply.enhanced().unwrap().to_string(), "2.0.0");
        assert_eq!(reply.text(), "");
    }

    #[test]
    fn ignores_an_enhanced_code_whose_class_differs_from_the_reply_code() {
        let reply = parse_one(b"250 5.1.1 looks like a failure, is not\r\n").unwrap();
        assert_eq!(reply.enhanced(), None);
        assert_eq!(reply.text(), "5.1.1 looks like a failure, is not");
    }

    #[test]
    fn ignores_text_that_only_resembles_an_enhanced_code() {
        for text in [
            "2.0.0x ok",
            "2.0 ok",
            "2.1234.0 ok",
            "3.0.0 ok",
            "2..0 ok",
            "2.0.0.1 ok",
        ] {
            let reply = Reply::new(code(250), vec![text.to_string()]);
            assert_eq!(reply.enhanced(), None, "{text}");
        }
    }

    #[test]
    fn text_strips_the_enhanced_code_from_every_line() {
        let reply = parse_one(b"550-5.7.1 Message rejected\r\n550 5.7.1 see policy\r\n").unwrap();
        assert_eq!(reply.text(), "Message rejected\nsee policy");
    }

    #[test]
    fn accepts_a_space_with_empty_text() {
        let reply = parse_one(b"250-smtp-sink\r\n250 \r\n").unwrap();
        assert_eq!(reply.lines().collect::<Vec<_>>(), ["smtp-sink", ""]);
    }

    #[test]
    fn accepts_a_bare_code_as_a_final_line() {
        let reply = parse_one(b"250\r\n").unwrap();
        assert_eq!(reply.code(), code(250));
        assert_eq!(reply.lines().collect::<Vec<_>>(), [""]);
    }

    #[test]
    fn accepts_lf_only_line_ends() {
        let reply = parse_one(b"250-first\n250 second\n").unwrap();
        assert_eq!(reply.lines().collect::<Vec<_>>(), ["first", "second"]);
    }

    #[test]
    fn keeps_a_bare_cr_inside_a_line_as_text() {
        let reply = parse_one(b"250 a\rb\r\r\n").unwrap();
        assert_eq!(reply.lines().collect::<Vec<_>>(), ["a\rb\r"]);
    }

    #[test]
    fn replaces_invalid_utf8_in_text() {
        let reply = parse_one(b"554 caf\xe9\r\n").unwrap();
        assert_eq!(reply.lines().collect::<Vec<_>>(), ["caf\u{fffd}"]);
    }

    #[test]
    fn returns_replies_one_at_a_time() {
        let input = b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go";
        let mut parser = ReplyParser::new();
        let Ok(Status::Complete(first, used)) = parser.parse(input) else {
            panic!("first reply");
        };
        assert_eq!((first.first_line(), used), ("2.1.0 Ok", 14));
        let Ok(Status::Complete(second, used2)) = parser.parse(&input[used..]) else {
            panic!("second reply");
        };
        assert_eq!((second.first_line(), used2), ("2.1.5 Ok", 14));
        assert_eq!(parser.parse(&input[used + used2..]), Ok(Status::Partial));
    }

    #[test]
    fn rejects_a_continuation_line_with_another_code() {
        assert_eq!(
            parse_one(b"250-mx.example.test\r\n251 PIPELINING\r\n"),
            Err(ReplyError::CodeMismatch {
                expected: code(250),
                found: code(251)
            })
        );
    }

    #[test]
    fn rejects_codes_outside_200_to_599() {
        assert_eq!(
            parse_one(b"199 x\r\n"),
            Err(ReplyError::CodeOutOfRange(199))
        );
        assert_eq!(
            parse_one(b"600 x\r\n"),
            Err(ReplyError::CodeOutOfRange(600))
        );
        assert_eq!(parse_one(b"000\r\n"), Err(ReplyError::CodeOutOfRange(0)));
    }

    #[test]
    fn rejects_a_code_that_is_not_three_digits() {
        assert_eq!(
            parse_one(b"2x0 x\r\n"),
            Err(ReplyError::MalformedCode("2x0 x".to_string()))
        );
        assert_eq!(
            parse_one(b"25\r\n"),
            Err(ReplyError::MalformedCode("25".to_string()))
        );
        assert_eq!(
            parse_one(b"\r\n"),
            Err(ReplyError::MalformedCode(String::new()))
        );
    }

    #[test]
    fn malformed_code_error_keeps_only_an_excerpt() {
        let mut line = vec![b'x'; 1000];
        line.extend_from_slice(b"\r\n");
        let Err(ReplyError::MalformedCode(excerpt)) = parse_one(&line) else {
            panic!("expected MalformedCode");
        };
        assert_eq!(excerpt.len(), EXCERPT_LEN);
    }

    #[test]
    fn rejects_a_code_followed_by_anything_but_dash_or_space() {
        assert_eq!(
            parse_one(b"2500 x\r\n"),
            Err(ReplyError::InvalidSeparator {
                code: code(250),
                found: b'0'
            })
        );
        assert_eq!(
            parse_one(b"250\tx\r\n"),
            Err(ReplyError::InvalidSeparator {
                code: code(250),
                found: b'\t'
            })
        );
    }

    #[test]
    fn returns_the_same_error_after_an_error() {
        let mut parser = ReplyParser::new();
        let first = parser.parse(b"199 x\r\n");
        assert_eq!(first, Err(ReplyError::CodeOutOfRange(199)));
        assert_eq!(parser.parse(b"250 ok\r\n"), first);
        assert!(!parser.is_idle());
    }

    #[test]
    fn is_idle_only_between_replies() {
        let mut parser = ReplyParser::new();
        assert!(parser.is_idle());
        assert_eq!(parser.parse(b"22"), Ok(Status::Partial));
        assert!(!parser.is_idle(), "partial line");
        assert_eq!(parser.parse(b"0-hello\r\n"), Ok(Status::Partial));
        assert!(!parser.is_idle(), "between lines of one reply");
        assert!(matches!(
            parser.parse(b"220 ready\r\n"),
            Ok(Status::Complete(..))
        ));
        assert!(parser.is_idle());
    }

    #[test]
    fn accepts_a_line_of_exactly_the_line_limit() {
        let mut parser = small(10, 10, 100);
        let (out, _) = run(&mut parser, &[b"250 1234\r\n"]);
        assert_eq!(out, [Ok(Reply::new(code(250), vec!["1234".to_string()]))]);
    }

    #[test]
    fn rejects_a_line_over_the_line_limit() {
        let (out, _) = run(&mut small(10, 10, 100), &[b"250 12345\r\n"]);
        assert_eq!(out, [Err(ReplyError::LineTooLong(10))]);
    }

    #[test]
    fn rejects_a_partial_line_as_soon_as_it_cannot_fit() {
        let mut parser = small(10, 10, 100);
        assert_eq!(parser.parse(b"250 1234\r"), Ok(Status::Partial));
        assert_eq!(parser.parse(b"5"), Err(ReplyError::LineTooLong(10)));
    }

    #[test]
    fn accepts_exactly_the_line_count_limit() {
        let (out, _) = run(&mut small(100, 3, 1000), &[b"250-a\r\n250-b\r\n250 c\r\n"]);
        assert!(matches!(&out[..], [Ok(reply)] if reply.line_count() == 3));
    }

    #[test]
    fn rejects_a_reply_over_the_line_count_limit() {
        let (out, _) = run(&mut small(100, 3, 1000), &[b"250-a\r\n250-b\r\n250-c\r\n"]);
        assert_eq!(out, [Err(ReplyError::TooManyLines(3))]);
    }

    #[test]
    fn accepts_a_reply_of_exactly_the_size_limit() {
        let (out, _) = run(&mut small(100, 10, 14), &[b"250-a\r\n250 b\r\n"]);
        assert!(matches!(&out[..], [Ok(_)]));
    }

    #[test]
    fn rejects_a_reply_over_the_size_limit() {
        let (out, _) = run(&mut small(100, 10, 14), &[b"250-a\r\n250 bc\r\n"]);
        assert_eq!(out, [Err(ReplyError::ReplyTooLong(14))]);
    }

    #[test]
    fn size_limit_applies_per_reply() {
        let (out, idle) = run(
            &mut small(100, 10, 14),
            &[b"250-a\r\n250 b\r\n250-a\r\n250 b\r\n"],
        );
        assert!(matches!(&out[..], [Ok(_), Ok(_)]));
        assert!(idle);
    }

    #[test]
    fn default_limits_are_the_named_constants() {
        assert_eq!(
            ReplyLimits::default(),
            ReplyLimits {
                max_line_len: MAX_LINE_LEN,
                max_lines: MAX_LINES,
                max_reply_len: MAX_REPLY_LEN
            }
        );
    }

    #[test]
    fn accepts_lines_longer_than_rfc_512_by_default() {
        let mut input = b"550 ".to_vec();
        input.extend_from_slice(&[b'x'; 2000]);
        input.extend_from_slice(b"\r\n");
        assert!(parse_one(&input).is_ok());
    }

    #[test]
    fn displays_a_one_line_reply_as_on_the_wire() {
        let reply = parse_one(b"550 5.1.1 unknown\r\n").unwrap();
        assert_eq!(reply.to_string(), "550 5.1.1 unknown");
    }

    #[test]
    fn displays_a_multi_line_reply_one_line_each() {
        let reply = parse_one(b"250-mx\r\n250-PIPELINING\r\n250 \r\n").unwrap();
        assert_eq!(reply.to_string(), "250-mx\n250-PIPELINING\n250");
    }

    #[test]
    fn display_escapes_control_characters() {
        let reply = parse_one(b"550 a\x1b[31mb\rc\r\n").unwrap();
        assert_eq!(reply.to_string(), "550 a\\u{1b}[31mb\\rc");
    }

    #[test]
    fn a_reply_built_without_lines_has_one_empty_line() {
        let reply = Reply::new(code(221), Vec::new());
        assert_eq!(reply.lines().collect::<Vec<_>>(), [""]);
        assert_eq!(reply.to_string(), "221");
    }

    #[test]
    fn positive_completion_is_2yz_only() {
        assert!(Reply::new(code(250), Vec::new()).is_positive_completion());
        assert!(!Reply::new(code(354), Vec::new()).is_positive_completion());
        assert!(!Reply::new(code(421), Vec::new()).is_positive_completion());
    }

    #[test]
    fn parse_ref_borrows_a_one_line_reply_from_the_input() {
        let input = b"250 2.1.5 Ok\r\n";
        let mut parser = ReplyParser::new();
        let Ok(StatusRef::Complete(reply, used)) = parser.parse_ref(input) else {
            panic!("reply incomplete");
        };
        assert_eq!(used, input.len());
        assert_eq!(reply.raw_text(), "2.1.5 Ok");
        assert!(input.as_ptr_range().contains(&reply.raw_text().as_ptr()));
    }

    #[test]
    fn parse_ref_joins_a_multi_line_reply_in_the_parser_buffer() {
        let mut parser = ReplyParser::new();
        let Ok(StatusRef::Complete(reply, _)) = parser.parse_ref(b"250-mx\r\n250 CHUNKING\r\n")
        else {
            panic!("reply incomplete");
        };
        assert_eq!(reply.lines().collect::<Vec<_>>(), ["mx", "CHUNKING"]);
        assert_eq!(reply.line_count(), 2);
    }

    #[test]
    fn parse_ref_completes_a_reply_split_across_calls() {
        let mut parser = ReplyParser::new();
        assert_eq!(parser.parse_ref(b"354 go ah"), Ok(StatusRef::Partial));
        let Ok(StatusRef::Complete(reply, used)) = parser.parse_ref(b"ead\r\n250 next") else {
            panic!("reply incomplete");
        };
        assert_eq!(
            (reply.code(), reply.raw_text(), used),
            (code(354), "go ahead", 5)
        );
    }

    #[test]
    fn parse_ref_replaces_invalid_utf8_in_text() {
        let mut parser = ReplyParser::new();
        let Ok(StatusRef::Complete(reply, _)) = parser.parse_ref(b"554 caf\xe9\r\n") else {
            panic!("reply incomplete");
        };
        assert_eq!(reply.first_line(), "caf\u{fffd}");
    }

    #[test]
    fn reply_ref_displays_like_the_owned_reply() {
        let input = b"550-5.7.1 no\x1b\r\n550 5.7.1 see policy\r\n";
        let mut parser = ReplyParser::new();
        let Ok(StatusRef::Complete(reply, _)) = parser.parse_ref(input) else {
            panic!("reply incomplete");
        };
        assert_eq!(reply.to_string(), reply.to_reply().to_string());
        assert_eq!(reply.to_reply().as_reply_ref(), reply);
    }

    #[test]
    fn cloned_replies_share_their_text() {
        let reply = parse_one(b"250 2.0.0 Ok: queued as 4F2B81C0A3E\r\n").unwrap();
        let clone = reply.clone();
        assert!(alloc::sync::Arc::ptr_eq(&reply.text, &clone.text));
        assert_eq!(clone, reply);
    }

    /// Inputs that hit every branch: valid and invalid codes, both separators, mixed line
    /// ends, enhanced codes, and lengths around small limits.
    fn reply_stream() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            "(250|220|550|354|199|600|25|2x0|)(-| |x|)(5\\.1\\.1 |2\\.0\\.0 |)[a-z \r]{0,12}(\r\n|\n|\r|)",
            0..12,
        )
        .prop_map(|lines| lines.concat().into_bytes())
    }

    fn limits() -> impl Strategy<Value = ReplyLimits> {
        (0usize..40, 0usize..6, 0usize..120).prop_map(|(max_line_len, max_lines, max_reply_len)| {
            ReplyLimits {
                max_line_len,
                max_lines,
                max_reply_len,
            }
        })
    }

    fn split_at_cuts(input: &[u8], cuts: Vec<usize>) -> Vec<&[u8]> {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut start = 0;
        for cut in cuts {
            chunks.push(&input[start..cut]);
            start = cut;
        }
        chunks.push(&input[start..]);
        chunks
    }

    proptest! {
        #[test]
        fn reply_parsing_is_split_invariant(
            input in reply_stream(),
            cuts in proptest::collection::vec(0usize..200, 0..10),
            limits in prop_oneof![Just(ReplyLimits::default()), limits()],
        ) {
            let whole = run(&mut ReplyParser::with_limits(limits), &[&input]);
            let chunks = split_at_cuts(&input, cuts);
            prop_assert_eq!(&run(&mut ReplyParser::with_limits(limits), &chunks), &whole);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(&run(&mut ReplyParser::with_limits(limits), &bytes), &whole);
        }

        #[test]
        fn parse_and_parse_ref_agree_on_every_split(
            input in reply_stream(),
            cuts in proptest::collection::vec(0usize..200, 0..10),
            limits in prop_oneof![Just(ReplyLimits::default()), limits()],
        ) {
            let chunks = split_at_cuts(&input, cuts);
            // Against the whole input: a split moves replies from borrowing the input to
            // borrowing the parser's buffer, which must not change them.
            let whole = run(&mut ReplyParser::with_limits(limits), &[&input]);
            prop_assert_eq!(&run_ref(&mut ReplyParser::with_limits(limits), &chunks), &whole);
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(&run_ref(&mut ReplyParser::with_limits(limits), &bytes), &whole);
        }

        #[test]
        fn parse_ref_agrees_with_parse_on_arbitrary_bytes(
            input in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..10),
        ) {
            let chunks = split_at_cuts(&input, cuts);
            prop_assert_eq!(
                run_ref(&mut ReplyParser::new(), &chunks),
                run(&mut ReplyParser::new(), &[&input])
            );
        }

        #[test]
        fn parser_never_panics_on_arbitrary_bytes(
            input in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(0usize..600, 0..10),
            limits in prop_oneof![Just(ReplyLimits::default()), limits()],
        ) {
            let _ = run(&mut ReplyParser::with_limits(limits), &split_at_cuts(&input, cuts));
        }

        #[test]
        fn buffered_memory_is_bounded_by_the_limits(
            input in reply_stream(),
            cuts in proptest::collection::vec(0usize..200, 0..10),
            limits in limits(),
        ) {
            let mut parser = ReplyParser::with_limits(limits);
            for chunk in split_at_cuts(&input, cuts) {
                let mut rest = chunk;
                while let Ok(Status::Complete(_, used)) = parser.parse(rest) {
                    rest = &rest[used..];
                    prop_assert!(parser.buffered_len() <= limits.max_reply_len);
                }
                prop_assert!(parser.line.len() < limits.max_line_len.max(1));
                prop_assert!(parser.buffered_len() <= limits.max_reply_len);
                prop_assert!(parser.lines < limits.max_lines.max(1));
            }
        }
    }
}
