//! Mailboxes, domains and paths (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1.1–3; RFC 6531 §3.3).
//!
//! Every address that reaches a command line passes through here, so this is where header
//! and command injection stops: no parsed value can hold CR, LF, NUL or any other control
//! character, and every length limit of RFC 5321 §4.5.3.1 is enforced before a byte is sent.
//!
//! # What is accepted
//!
//! - **Local part** (§4.1.2): a `Dot-string` of `atext` atoms, or a `Quoted-string` of
//!   `qtextSMTP` and `quoted-pairSMTP` (a backslash before an ASCII graphic or space).
//!   RFC 6531 §3.3 adds any non-ASCII UTF-8 character to both `atext` and `qtextSMTP`; such a
//!   local part needs SMTPUTF8 ([`Mailbox::needs_smtputf8`]). The obsolete forms of RFC 5322
//!   (`"a"."b"`, comments, folding white space) are not SMTP and are refused.
//! - **Domain** (§4.1.2): dot-separated labels of letters, digits and hyphens, neither
//!   starting nor ending with a hyphen, each at most 63 octets (RFC 1035 §2.3.4). A label
//!   with any non-ASCII character is taken as a U-label (RFC 6531 §3.3, RFC 5890): its ASCII
//!   characters must still be letters, digits or hyphens. Turning U-labels into A-labels is
//!   IDNA work for the adapter, not the core, so the 63-octet limit is checked on ASCII
//!   labels only; a U-label's limit applies to its A-label form, which only IDNA can compute.
//!   Case is preserved.
//! - **Address literals** (§4.1.3): `[192.0.2.1]` and `[IPv6:2001:db8::1]`.
//!
//! # Deliberate choices
//!
//! - **Canonical local part.** A quoted local part whose content is a valid `Dot-string` is
//!   stored unquoted (`"john.smith"` becomes `john.smith`), and one that needs its quotes is
//!   stored with the fewest escapes (only `"` and `\` are escaped). Two spellings of one
//!   mailbox are thus equal as values, and what goes on the wire is the simplest form
//!   (RFC 5321 §4.1.2 asks senders not to quote needlessly). The local-part and path
//!   limits are measured on this canonical form, since that is what is sent.
//! - **Trailing dot.** One trailing dot on a domain (`example.com.`, the DNS absolute form)
//!   is stripped: it names the same host, RFC 5321's grammar has no place for it, and it is
//!   what people paste from DNS tools. A second dot is an empty label and an error.
//! - **IPv4 literals** must be a strict dotted quad: four decimal numbers 0–255 without
//!   leading zeros, since `010` is octal to some parsers and decimal to others.
//! - **General address literals** (`[tag:content]`, §4.1.3) are refused: no standardised
//!   tag besides `IPv6` exists, and no server would route to one.
//! - **Source routes** (`<@a,@b:user@c>`, §4.1.2 and Appendix C) are refused by
//!   [`Mailbox::parse_path`]: clients MUST NOT send them.
//! - **Lengths** are in octets, as RFC 5321 §4.5.3.1 counts them, also for UTF-8.
//!
//! # Memory
//!
//! A [`Mailbox`] holds its wire form `local@domain` in one shared string, and its
//! [`DomainName`] points into that same string: parsing costs one allocation for it, and a
//! clone (an envelope copied for each MX domain, a recipient kept with its outcome) costs
//! none, only reference counts (`core/benches/session_allocs.rs`, "clone mailbox"). On the
//! few targets without pointer-sized atomics the string is a plain box, and a clone copies
//! it (twice: the mailbox's and its domain's), as before.

use alloc::string::String;

/// Text shared by clones: reference-counted where the target has pointer-sized atomics,
/// a plain box (a clone copies it) on the few without them.
#[cfg(target_has_atomic = "ptr")]
type SharedText = alloc::sync::Arc<str>;
#[cfg(not(target_has_atomic = "ptr"))]
type SharedText = alloc::boxed::Box<str>;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

/// Longest local part, in octets (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;

/// Longest domain name, in octets (RFC 5321 §4.5.3.1.2).
pub const MAX_DOMAIN: usize = 255;

/// Longest path, angle brackets included, in octets (RFC 5321 §4.5.3.1.3).
pub const MAX_PATH: usize = 256;

/// Longest DNS label, in octets (RFC 1035 §2.3.4).
pub const MAX_LABEL: usize = 63;

/// The tag of an IPv6 address literal (RFC 5321 §4.1.3); matched case-insensitively, as
/// ABNF strings are (RFC 5234 §2.3).
const IPV6_TAG: &str = "IPv6:";

/// An address literal: the domain part in brackets (RFC 5321 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddressLiteral {
    /// `[192.0.2.1]`
    V4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`
    V6(Ipv6Addr),
}

impl fmt::Display for AddressLiteral {
    /// The bracketed form; IPv6 in its RFC 5952 canonical text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressLiteral::V4(ip) => write!(f, "[{ip}]"),
            AddressLiteral::V6(ip) => write!(f, "[{IPV6_TAG}{ip}]"),
        }
    }
}

/// The domain of a mailbox, or the client's EHLO identity: built only by [`Domain::parse`],
/// so every `Domain` is valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A host name, as given (may hold U-labels, see [`Domain::is_ascii`]); no trailing dot.
    Name(DomainName),
    /// An address literal.
    Literal(AddressLiteral),
}

impl Domain {
    /// Parse a domain name or a bracketed address literal.
    ///
    /// One trailing dot is stripped; case is preserved.
    pub fn parse(input: &str) -> Result<Domain, AddressError> {
        check_controls(input, 0)?;
        parse_domain(input, 0)
    }

    /// True when the domain is all ASCII (no SMTPUTF8 needed for it).
    pub fn is_ascii(&self) -> bool {
        match self {
            Domain::Name(name) => name.is_ascii(),
            Domain::Literal(_) => true,
        }
    }
}

/// A host name that passed [`Domain::parse`] (labels of letters, digits and hyphens, or
/// U-labels; at most 255 octets): its field is private, so no unvalidated name (a space, a
/// CR, an empty string) can be put in a [`Domain`] and reach a command line. Reads as a
/// `str`.
///
/// ```compile_fail
/// use mxsend_core::address::Domain;
/// // Not a domain, and it cannot be made one without the parser.
/// let hand_built = Domain::Name("a b\r\nRSET".into());
/// ```
///
/// ```
/// use mxsend_core::address::Domain;
/// let Ok(Domain::Name(name)) = Domain::parse("mail.example.com") else { unreachable!() };
/// assert_eq!(name.as_str(), "mail.example.com");
/// ```
///
/// The name is the tail of a shared string from `start` on: its own, or its mailbox's
/// `local@domain` (see the module's "Memory"), so a clone costs no allocation. Equality,
/// order and hashing are the name's.
#[derive(Clone)]
pub struct DomainName {
    text: SharedText,
    start: usize,
}

impl DomainName {
    /// A name that passed the checks of [`parse_domain`].
    fn new(name: &str) -> DomainName {
        DomainName {
            text: SharedText::from(name),
            start: 0,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        self.text.get(self.start..).unwrap_or("")
    }
}

impl core::ops::Deref for DomainName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DomainName").field(&self.as_str()).finish()
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for DomainName {
    fn eq(&self, other: &DomainName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for DomainName {}

impl PartialOrd for DomainName {
    fn partial_cmp(&self, other: &DomainName) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for DomainName {
    fn cmp(&self, other: &DomainName) -> core::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl core::hash::Hash for DomainName {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for DomainName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for DomainName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl FromStr for Domain {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Domain, AddressError> {
        Domain::parse(input)
    }
}

impl fmt::Display for Domain {
    /// The name, or the literal in its bracketed form (`[IPv6:…]` for IPv6).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(name) => f.write_str(name),
            Domain::Literal(literal) => literal.fmt(f),
        }
    }
}

/// A validated mailbox `local-part@domain` (RFC 5321 §4.1.2).
///
/// One shared string holds the wire form; a clone allocates nothing (see the module's
/// "Memory"). Equality and hashing are the local part's and the domain's.
#[derive(Clone)]
pub struct Mailbox {
    /// `local@domain`, exactly as it goes between the angle brackets.
    text: SharedText,
    /// Octets of `text` before the `@`.
    local_len: usize,
    /// The domain; a name points into `text`.
    domain: Domain,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailbox")
            .field("local", &self.local_part())
            .field("domain", &self.domain)
            .finish()
    }
}

impl PartialEq for Mailbox {
    fn eq(&self, other: &Mailbox) -> bool {
        self.local_part() == other.local_part() && self.domain == other.domain
    }
}

impl Eq for Mailbox {}

impl core::hash::Hash for Mailbox {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.local_part().hash(state);
        self.domain.hash(state);
    }
}

impl Mailbox {
    /// Parse `local@domain` (no angle brackets).
    ///
    /// The input is split at the last `@` outside a quoted string. The local part is stored
    /// in its canonical form (see the module documentation).
    ///
    /// ```
    /// use mxsend_core::address::Mailbox;
    ///
    /// let mailbox = Mailbox::parse("\"john.smith\"@Example.COM.")?;
    /// assert_eq!(mailbox.to_string(), "john.smith@Example.COM");
    /// assert!(Mailbox::parse("a\r\nRCPT TO:<x@y>@example.com").is_err());
    /// # Ok::<(), mxsend_core::address::AddressError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Mailbox, AddressError> {
        check_controls(input, 0)?;
        parse_mailbox(input, 0)
    }

    /// Parse a path `<local@domain>`, as it appears in MAIL FROM and RCPT TO.
    ///
    /// Source routes (`<@relay:user@domain>`) are refused; RFC 5321 §4.1.2 forbids sending them.
    pub fn parse_path(input: &str) -> Result<Mailbox, AddressError> {
        check_controls(input, 0)?;
        let inner = input
            .strip_prefix('<')
            .and_then(|rest| rest.strip_suffix('>'))
            .ok_or(AddressError::MissingAngleBrackets)?;
        if inner.starts_with('@') {
            return Err(AddressError::SourceRoute);
        }
        parse_mailbox(inner, 1)
    }

    /// The local part as it goes on the wire (quoted if it needs quoting).
    pub fn local_part(&self) -> &str {
        self.text.get(..self.local_len).unwrap_or("")
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// True when the mailbox holds non-ASCII and so needs SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        // The text is the local part, `@` and the domain.
        !self.text.is_ascii()
    }
}

impl FromStr for Mailbox {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Mailbox, AddressError> {
        Mailbox::parse(input)
    }
}

impl fmt::Display for Mailbox {
    /// `local@domain`, exactly as it goes between the angle brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The reverse-path of MAIL FROM: a mailbox, or the null path `<>` (RFC 5321 §4.5.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: bounces and other notifications.
    Null,
    /// `<mailbox>`
    Mailbox(Mailbox),
}

impl ReversePath {
    /// Parse a reverse-path: `<>` or the empty string is the null path; otherwise a mailbox,
    /// with or without angle brackets.
    pub fn parse(input: &str) -> Result<ReversePath, AddressError> {
        match input {
            "" | "<>" => Ok(ReversePath::Null),
            _ if input.starts_with('<') => Mailbox::parse_path(input).map(ReversePath::Mailbox),
            _ => Mailbox::parse(input).map(ReversePath::Mailbox),
        }
    }

    /// True when the path holds non-ASCII and so needs SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        match self {
            ReversePath::Null => false,
            ReversePath::Mailbox(mailbox) => mailbox.needs_smtputf8(),
        }
    }
}

impl FromStr for ReversePath {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<ReversePath, AddressError> {
        ReversePath::parse(input)
    }
}

impl fmt::Display for ReversePath {
    /// The mailbox without angle brackets; the null path is the empty string.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => Ok(()),
            ReversePath::Mailbox(mailbox) => mailbox.fmt(f),
        }
    }
}

/// What is wrong with an address. Offsets are in octets from the start of the input given
/// to the parse function.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The input is empty.
    Empty,
    /// There is no `@` outside a quoted string.
    MissingAt,
    /// Nothing before the `@`.
    EmptyLocalPart,
    /// No domain: nothing after the `@`, or an empty domain on its own.
    EmptyDomain,
    /// The local part is longer than [`MAX_LOCAL_PART`] octets; carries its length.
    LocalPartTooLong(usize),
    /// The domain is longer than [`MAX_DOMAIN`] octets; carries its length.
    DomainTooLong(usize),
    /// The path, angle brackets included, is longer than [`MAX_PATH`] octets; carries its length.
    PathTooLong(usize),
    /// A dot-string local part starts with a dot.
    LocalPartStartsWithDot,
    /// A dot-string local part ends with a dot.
    LocalPartEndsWithDot,
    /// Two dots in a row in a dot-string local part; the offset of the second.
    ConsecutiveDots {
        /// Offset of the second dot.
        offset: usize,
    },
    /// A domain label is empty (a leading dot, or two dots in a row).
    EmptyLabel {
        /// Offset where the empty label starts.
        offset: usize,
    },
    /// An ASCII domain label is longer than [`MAX_LABEL`] octets.
    LabelTooLong {
        /// Offset of the label.
        offset: usize,
        /// Its length in octets.
        len: usize,
    },
    /// A domain label starts with a hyphen.
    LabelStartsWithHyphen {
        /// Offset of the hyphen.
        offset: usize,
    },
    /// A domain label ends with a hyphen.
    LabelEndsWithHyphen {
        /// Offset of the hyphen.
        offset: usize,
    },
    /// A character not allowed where it stands.
    InvalidCharacter {
        /// Offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// A control character (CR, LF, NUL, TAB, DEL, C1 …): never allowed in an address.
    ControlCharacter {
        /// Offset of the character.
        offset: usize,
        /// The character.
        ch: char,
    },
    /// A quoted string has no closing quote.
    UnbalancedQuote,
    /// A backslash in a quoted string is not followed by an ASCII graphic or space.
    BadEscape {
        /// Offset of the backslash.
        offset: usize,
    },
    /// `[…]` does not hold a strict dotted-quad IPv4 address.
    InvalidIpv4Literal,
    /// `[IPv6:…]` does not hold an IPv6 address.
    InvalidIpv6Literal,
    /// A general address literal `[tag:content]`: not supported.
    UnsupportedAddressLiteral,
    /// `[` without a closing `]`.
    UnterminatedAddressLiteral,
    /// A path is not enclosed in `<` and `>`.
    MissingAngleBrackets,
    /// A path holds a source route (`<@relay:user@domain>`).
    SourceRoute,
}

impl core::error::Error for AddressError {}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressError::Empty => f.write_str("address is empty"),
            AddressError::MissingAt => f.write_str("address has no '@'"),
            AddressError::EmptyLocalPart => f.write_str("local part (before '@') is empty"),
            AddressError::EmptyDomain => f.write_str("domain is empty"),
            AddressError::LocalPartTooLong(n) => {
                write!(f, "local part is {n} octets, more than {MAX_LOCAL_PART}")
            }
            AddressError::DomainTooLong(n) => {
                write!(f, "domain is {n} octets, more than {MAX_DOMAIN}")
            }
            AddressError::PathTooLong(n) => {
                write!(
                    f,
                    "path is {n} octets with its angle brackets, more than {MAX_PATH}"
                )
            }
            AddressError::LocalPartStartsWithDot => f.write_str("local part starts with '.'"),
            AddressError::LocalPartEndsWithDot => f.write_str("local part ends with '.'"),
            AddressError::ConsecutiveDots { offset } => {
                write!(f, "two dots in a row in the local part at offset {offset}")
            }
            AddressError::EmptyLabel { offset } => {
                write!(f, "empty domain label at offset {offset}")
            }
            AddressError::LabelTooLong { offset, len } => write!(
                f,
                "domain label at offset {offset} is {len} octets, more than {MAX_LABEL}"
            ),
            AddressError::LabelStartsWithHyphen { offset } => {
                write!(f, "domain label starts with '-' at offset {offset}")
            }
            AddressError::LabelEndsWithHyphen { offset } => {
                write!(f, "domain label ends with '-' at offset {offset}")
            }
            AddressError::InvalidCharacter { offset, ch } => {
                write!(f, "character {ch:?} not allowed at offset {offset}")
            }
            AddressError::ControlCharacter { offset, ch } => {
                write!(f, "control character {ch:?} at offset {offset}")
            }
            AddressError::UnbalancedQuote => f.write_str("quoted string has no closing '\"'"),
            AddressError::BadEscape { offset } => write!(
                f,
                "backslash at offset {offset} is not followed by a printable ASCII character"
            ),
            AddressError::InvalidIpv4Literal => {
                f.write_str("address literal is not a dotted-quad IPv4 address")
            }
            AddressError::InvalidIpv6Literal => {
                f.write_str("address literal is not a valid IPv6 address")
            }
            AddressError::UnsupportedAddressLiteral => {
                f.write_str("only IPv4 and IPv6 address literals are supported")
            }
            AddressError::UnterminatedAddressLiteral => {
                f.write_str("address literal has no closing ']'")
            }
            AddressError::MissingAngleBrackets => f.write_str("path is not enclosed in '<' '>'"),
            AddressError::SourceRoute => f.write_str("source routes are not supported"),
        }
    }
}

/// Refuse any control character up front, so CR, LF and NUL get the same precise error
/// wherever they hide (even after a backslash in a quoted string).
fn check_controls(input: &str, base: usize) -> Result<(), AddressError> {
    match input.char_indices().find(|(_, ch)| ch.is_control()) {
        Some((i, ch)) => Err(AddressError::ControlCharacter {
            offset: base + i,
            ch,
        }),
        None => Ok(()),
    }
}

/// `atext` (RFC 5321 §4.1.2 via RFC 5322 §3.2.3), extended with non-ASCII UTF-8 by
/// RFC 6531 §3.3.
fn is_atext(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(ch) || is_utf8_non_ascii(ch)
}

/// `qtextSMTP` (RFC 5321 §4.1.2: %d32-33 / %d35-91 / %d93-126), extended by RFC 6531 §3.3.
fn is_qtext(ch: char) -> bool {
    (matches!(ch, ' '..='~') && ch != '"' && ch != '\\') || is_utf8_non_ascii(ch)
}

/// `UTF8-non-ascii` (RFC 6532 §3.1), less the C1 controls.
fn is_utf8_non_ascii(ch: char) -> bool {
    !ch.is_ascii() && !ch.is_control()
}

/// Parse `local@domain` found at `base` in the caller's input (controls already refused).
fn parse_mailbox(input: &str, base: usize) -> Result<Mailbox, AddressError> {
    if input.is_empty() {
        return Err(AddressError::Empty);
    }
    let at = last_at_outside_quotes(input)?.ok_or(AddressError::MissingAt)?;
    let (local_in, domain_in) = (&input[..at], &input[at + 1..]);
    if local_in.is_empty() {
        return Err(AddressError::EmptyLocalPart);
    }
    let local = parse_local_part(local_in, base)?;
    if local.len() > MAX_LOCAL_PART {
        return Err(AddressError::LocalPartTooLong(local.len()));
    }
    let domain = parse_domain(domain_in, base + at + 1)?;
    // The wire form, once: the mailbox's text, which its domain name shares.
    let mut wire = local;
    let local_len = wire.len();
    wire.push('@');
    match &domain {
        Domain::Name(name) => wire.push_str(name.as_str()),
        Domain::Literal(literal) => {
            // Writing to a string cannot fail.
            let _ = fmt::write(&mut wire, format_args!("{literal}"));
        }
    }
    // Measuring the wire form counts what is sent, brackets added.
    let path_len = wire.len() + 2;
    if path_len > MAX_PATH {
        return Err(AddressError::PathTooLong(path_len));
    }
    let text = SharedText::from(wire.as_str());
    let domain = match domain {
        Domain::Name(_) => Domain::Name(DomainName {
            text: text.clone(),
            start: local_len + 1,
        }),
        literal => literal,
    };
    Ok(Mailbox {
        text,
        local_len,
        domain,
    })
}

/// The offset of the last `@` outside a quoted string.
fn last_at_outside_quotes(input: &str) -> Result<Option<usize>, AddressError> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut at = None;
    for (i, b) in input.bytes().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quote => escaped = true,
            b'"' => in_quote = !in_quote,
            b'@' if !in_quote => at = Some(i),
            _ => {}
        }
    }
    if in_quote {
        return Err(AddressError::UnbalancedQuote);
    }
    Ok(at)
}

/// Parse a local part into its canonical wire form.
fn parse_local_part(input: &str, base: usize) -> Result<String, AddressError> {
    if input.starts_with('"') {
        let content = parse_quoted_string(input, base)?;
        if check_dot_string(&content, 0).is_ok() {
            Ok(content)
        } else {
            Ok(quote(&content))
        }
    } else {
        check_dot_string(input, base)?;
        Ok(String::from(input))
    }
}

/// `Dot-string = Atom *("." Atom)`.
fn check_dot_string(input: &str, base: usize) -> Result<(), AddressError> {
    if input.is_empty() {
        return Err(AddressError::EmptyLocalPart);
    }
    if input.starts_with('.') {
        return Err(AddressError::LocalPartStartsWithDot);
    }
    let mut previous_dot = false;
    for (i, ch) in input.char_indices() {
        if ch == '.' {
            if previous_dot {
                return Err(AddressError::ConsecutiveDots { offset: base + i });
            }
            previous_dot = true;
        } else if is_atext(ch) {
            previous_dot = false;
        } else {
            return Err(AddressError::InvalidCharacter {
                offset: base + i,
                ch,
            });
        }
    }
    if previous_dot {
        return Err(AddressError::LocalPartEndsWithDot);
    }
    Ok(())
}

/// Parse a whole `Quoted-string` (the input starts with `"`) and return its unescaped content.
fn parse_quoted_string(input: &str, base: usize) -> Result<String, AddressError> {
    let mut content = String::new();
    let mut chars = input.char_indices().skip(1);
    loop {
        let Some((i, ch)) = chars.next() else {
            return Err(AddressError::UnbalancedQuote);
        };
        match ch {
            '"' => {
                // Anything after the closing quote is not part of a Quoted-string.
                if let Some(ch) = input[i + 1..].chars().next() {
                    return Err(AddressError::InvalidCharacter {
                        offset: base + i + 1,
                        ch,
                    });
                }
                return Ok(content);
            }
            // quoted-pairSMTP = %d92 %d32-126: UTF-8 is not escapable (RFC 6531 §3.3).
            '\\' => match chars.next() {
                Some((_, escaped @ ' '..='~')) => content.push(escaped),
                _ => return Err(AddressError::BadEscape { offset: base + i }),
            },
            _ if is_qtext(ch) => content.push(ch),
            _ => {
                return Err(AddressError::InvalidCharacter {
                    offset: base + i,
                    ch,
                })
            }
        }
    }
}

/// Quote `content` with the fewest escapes.
fn quote(content: &str) -> String {
    let mut quoted = String::with_capacity(content.len() + 2);
    quoted.push('"');
    for ch in content.chars() {
        if ch == '"' || ch == '\\' {
            quoted.push('\\');
        }
        quoted.push(ch);
    }
    quoted.push('"');
    quoted
}

/// Parse a domain name or address literal found at `base` (controls already refused).
fn parse_domain(input: &str, base: usize) -> Result<Domain, AddressError> {
    if input.is_empty() || input == "." {
        return Err(AddressError::EmptyDomain);
    }
    if let Some(literal) = input.strip_prefix('[') {
        return parse_address_literal(literal, base + 1).map(Domain::Literal);
    }
    let name = input.strip_suffix('.').unwrap_or(input);
    if name.len() > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong(name.len()));
    }
    let mut start = 0;
    for label in name.split('.') {
        check_label(label, base + start)?;
        start += label.len() + 1;
    }
    Ok(Domain::Name(DomainName::new(name)))
}

/// `sub-domain = Let-dig [Ldh-str]` (RFC 5321 §4.1.2), or a U-label (RFC 6531 §3.3).
fn check_label(label: &str, base: usize) -> Result<(), AddressError> {
    if label.is_empty() {
        return Err(AddressError::EmptyLabel { offset: base });
    }
    for (i, ch) in label.char_indices() {
        if !(ch.is_ascii_alphanumeric() || ch == '-' || is_utf8_non_ascii(ch)) {
            return Err(AddressError::InvalidCharacter {
                offset: base + i,
                ch,
            });
        }
    }
    if label.starts_with('-') {
        return Err(AddressError::LabelStartsWithHyphen { offset: base });
    }
    if label.ends_with('-') {
        return Err(AddressError::LabelEndsWithHyphen {
            offset: base + label.len() - 1,
        });
    }
    if label.is_ascii() && label.len() > MAX_LABEL {
        return Err(AddressError::LabelTooLong {
            offset: base,
            len: label.len(),
        });
    }
    Ok(())
}

/// Parse what follows `[` in an address literal (RFC 5321 §4.1.3).
fn parse_address_literal(input: &str, base: usize) -> Result<AddressLiteral, AddressError> {
    let close = input
        .find(']')
        .ok_or(AddressError::UnterminatedAddressLiteral)?;
    let (content, rest) = (&input[..close], &input[close + 1..]);
    if let Some(ch) = rest.chars().next() {
        return Err(AddressError::InvalidCharacter {
            offset: base + close + 1,
            ch,
        });
    }
    let tagged = content
        .get(..IPV6_TAG.len())
        .filter(|tag| tag.eq_ignore_ascii_case(IPV6_TAG))
        .map(|_| &content[IPV6_TAG.len()..]);
    if let Some(v6) = tagged {
        return v6
            .parse::<Ipv6Addr>()
            .map(AddressLiteral::V6)
            .map_err(|_| AddressError::InvalidIpv6Literal);
    }
    if content.contains(':') {
        return Err(AddressError::UnsupportedAddressLiteral);
    }
    // core's parser accepts exactly the strict dotted quad: four 0-255 decimals, no
    // leading zeros, nothing else.
    content
        .parse::<Ipv4Addr>()
        .map(AddressLiteral::V4)
        .map_err(|_| AddressError::InvalidIpv4Literal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn ok(input: &str) -> Mailbox {
        match Mailbox::parse(input) {
            Ok(mailbox) => mailbox,
            Err(e) => panic!("{input:?} should parse, got {e}"),
        }
    }

    fn err(input: &str) -> AddressError {
        match Mailbox::parse(input) {
            Ok(mailbox) => panic!("{input:?} should not parse, got {mailbox:?}"),
            Err(e) => e,
        }
    }

    /// A clone shares the mailbox's one string: the local part and the domain name of the
    /// clone are the same octets in memory as the original's, so no allocation was made
    /// (the allocation count itself: `core/benches/session_allocs.rs`, "clone mailbox").
    #[cfg(target_has_atomic = "ptr")]
    #[test]
    fn a_mailbox_clone_shares_one_string_with_its_domain() {
        let mailbox = Mailbox::parse("\"john smith\"@Mail.Example.ORG.").unwrap();
        let clone = mailbox.clone();
        assert_eq!(clone, mailbox);
        assert_eq!(clone.to_string(), "\"john smith\"@Mail.Example.ORG");
        assert!(core::ptr::eq(clone.local_part(), mailbox.local_part()));
        let (Domain::Name(name), Domain::Name(cloned)) = (mailbox.domain(), clone.domain()) else {
            panic!("a name");
        };
        assert!(core::ptr::eq(name.as_str(), cloned.as_str()));
        // The domain is the tail of the mailbox's own string, after the `@`.
        let local = mailbox.local_part();
        assert_eq!(local, "\"john smith\"");
        assert_eq!(
            name.as_str().as_ptr() as usize,
            local.as_ptr() as usize + local.len() + 1
        );
        let literal = Mailbox::parse("bob@[192.0.2.1]").unwrap();
        assert!(core::ptr::eq(
            literal.clone().local_part(),
            literal.local_part()
        ));
    }

    /// Equality and hashing are the parts', not where they are stored: a domain parsed on
    /// its own equals the one inside a mailbox, and orders by its name.
    #[test]
    fn domains_compare_by_name_wherever_they_are_stored() {
        use core::hash::{Hash, Hasher};
        struct Sum(u64);
        impl Hasher for Sum {
            fn finish(&self) -> u64 {
                self.0
            }
            fn write(&mut self, bytes: &[u8]) {
                for &b in bytes {
                    self.0 = self.0.wrapping_mul(31).wrapping_add(u64::from(b));
                }
            }
        }
        let hash = |d: &Domain| {
            let mut h = Sum(0);
            d.hash(&mut h);
            h.finish()
        };
        let inside = Mailbox::parse("a@example.com").unwrap();
        let alone = Domain::parse("example.com").unwrap();
        assert_eq!(inside.domain(), &alone);
        assert_eq!(hash(inside.domain()), hash(&alone));
        assert_eq!(
            alloc::format!("{:?}", inside.domain()),
            "Name(DomainName(\"example.com\"))"
        );
        let (Domain::Name(a), Domain::Name(b)) =
            (Domain::parse("a.example").unwrap(), inside.domain().clone())
        else {
            panic!("names");
        };
        assert!(a < b);
        assert_eq!(Mailbox::parse("a@example.com").unwrap(), inside);
        assert_ne!(Mailbox::parse("a@example.org").unwrap(), inside);
        assert_ne!(Mailbox::parse("ab@example.com").unwrap(), inside);
    }

    #[test]
    fn accepts_valid_mailboxes_and_displays_their_canonical_form() {
        let cases = [
            ("user@example.com", "user@example.com"),
            ("first.last@example.com", "first.last@example.com"),
            (
                "a!#$%&'*+-/=?^_`{|}~z@example.com",
                "a!#$%&'*+-/=?^_`{|}~z@example.com",
            ),
            ("User@Example.COM", "User@Example.COM"),
            ("user@localhost", "user@localhost"),
            ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
            ("user@a-b.c-d.example", "user@a-b.c-d.example"),
            ("user@123.example", "user@123.example"),
            ("\"john doe\"@example.com", "\"john doe\"@example.com"),
            ("\"a@b\"@example.com", "\"a@b\"@example.com"),
            ("\"\"@example.com", "\"\"@example.com"),
            ("user@[192.0.2.1]", "user@[192.0.2.1]"),
            ("user@[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]"),
            (
                "user@[ipv6:2001:DB8:0:0:0:0:0:1]",
                "user@[IPv6:2001:db8::1]",
            ),
            (
                "user@[IPv6:::ffff:192.0.2.1]",
                "user@[IPv6:::ffff:192.0.2.1]",
            ),
        ];
        for (input, display) in cases {
            assert_eq!(ok(input).to_string(), display, "{input}");
        }
    }

    #[test]
    fn unquotes_a_quoted_local_part_that_is_a_dot_string() {
        assert_eq!(ok("\"john.smith\"@example.com").local_part(), "john.smith");
        assert_eq!(ok("\"jo\\hn\"@example.com").local_part(), "john");
        assert_eq!(
            ok("\"john.smith\"@example.com"),
            ok("john.smith@example.com")
        );
    }

    #[test]
    fn requotes_with_only_the_necessary_escapes() {
        assert_eq!(ok("\"a\\ b\"@example.com").local_part(), "\"a b\"");
        assert_eq!(ok("\"a\\\"b\"@example.com").local_part(), "\"a\\\"b\"");
        assert_eq!(ok("\"a\\\\b\"@example.com").local_part(), "\"a\\\\b\"");
        assert_eq!(ok("\"a..b\"@example.com").local_part(), "\"a..b\"");
    }

    #[test]
    fn splits_at_the_last_at_outside_quotes() {
        let mailbox = ok("\"x@y\"@example.com");
        assert_eq!(mailbox.local_part(), "\"x@y\"");
        assert_eq!(
            mailbox.domain(),
            &Domain::Name(DomainName::new("example.com"))
        );
    }

    #[test]
    fn accepts_utf8_local_parts_and_u_labels_and_flags_them_for_smtputf8() {
        let cases = [
            "用户@例子.广告",
            "josé@example.com",
            "user@bücher.example",
            "\"é x\"@example.com",
        ];
        for input in cases {
            assert!(ok(input).needs_smtputf8(), "{input}");
        }
        assert!(!ok("user@example.com").needs_smtputf8());
        assert!(!ok("user@[192.0.2.1]").needs_smtputf8());
    }

    #[test]
    fn strips_one_trailing_dot_from_the_domain() {
        assert_eq!(ok("user@example.com.").to_string(), "user@example.com");
        assert_eq!(
            Domain::parse("example.com."),
            Ok(Domain::Name(DomainName::new("example.com")))
        );
    }

    fn assert_rejects(cases: &[(&str, AddressError)]) {
        for (input, expected) in cases {
            assert_eq!(&err(input), expected, "{input:?}");
        }
    }

    #[test]
    fn rejects_missing_parts() {
        use AddressError::*;
        assert_rejects(&[
            ("", Empty),
            ("user", MissingAt),
            ("@example.com", EmptyLocalPart),
            ("user@", EmptyDomain),
            ("user@.", EmptyDomain),
        ]);
    }

    #[test]
    fn rejects_misplaced_dots_in_a_dot_string() {
        use AddressError::*;
        assert_rejects(&[
            (".user@example.com", LocalPartStartsWithDot),
            ("user.@example.com", LocalPartEndsWithDot),
            ("us..er@example.com", ConsecutiveDots { offset: 3 }),
        ]);
    }

    #[test]
    fn rejects_characters_outside_atext_in_a_dot_string() {
        use AddressError::*;
        assert_rejects(&[
            ("us er@example.com", InvalidCharacter { offset: 2, ch: ' ' }),
            ("a@b@example.com", InvalidCharacter { offset: 1, ch: '@' }),
            (
                "us(er)@example.com",
                InvalidCharacter { offset: 2, ch: '(' },
            ),
            (
                "a\"b\"@example.com",
                InvalidCharacter { offset: 1, ch: '"' },
            ),
            (
                "a\\b@example.com",
                InvalidCharacter {
                    offset: 1,
                    ch: '\\',
                },
            ),
        ]);
    }

    #[test]
    fn rejects_malformed_quoted_strings() {
        use AddressError::*;
        assert_rejects(&[
            (
                "\"a\".b@example.com",
                InvalidCharacter { offset: 3, ch: '.' },
            ),
            ("\"abc@example.com", UnbalancedQuote),
            ("\"abc\\\"@example.com", UnbalancedQuote),
            ("\"a\\é\"@example.com", BadEscape { offset: 2 }),
        ]);
    }

    #[test]
    fn rejects_malformed_domain_labels() {
        use AddressError::*;
        assert_rejects(&[
            ("user@.example.com", EmptyLabel { offset: 5 }),
            ("user@example..com", EmptyLabel { offset: 13 }),
            ("user@example.com..", EmptyLabel { offset: 17 }),
            ("user@-example.com", LabelStartsWithHyphen { offset: 5 }),
            ("user@example-.com", LabelEndsWithHyphen { offset: 12 }),
            ("user@exa_mple.com", InvalidCharacter { offset: 8, ch: '_' }),
            ("user@exa mple.com", InvalidCharacter { offset: 8, ch: ' ' }),
        ]);
    }

    #[test]
    fn rejects_malformed_address_literals() {
        use AddressError::*;
        assert_rejects(&[
            ("user@[192.0.2.256]", InvalidIpv4Literal),
            ("user@[192.0.2]", InvalidIpv4Literal),
            ("user@[IPv6:2001:db8::g]", InvalidIpv6Literal),
            ("user@[IPv6:192.0.2.1]", InvalidIpv6Literal),
            ("user@[IPv6:fe80::1%eth0]", InvalidIpv6Literal),
            ("user@[192.0.2.1", UnterminatedAddressLiteral),
            (
                "user@[192.0.2.1]x",
                InvalidCharacter {
                    offset: 16,
                    ch: 'x',
                },
            ),
        ]);
    }

    #[test]
    fn rejects_ipv4_literals_with_leading_zeros() {
        assert_eq!(err("user@[192.0.2.01]"), AddressError::InvalidIpv4Literal);
    }

    #[test]
    fn rejects_general_address_literals() {
        assert_rejects(&[
            (
                "user@[x-tag:stuff]",
                AddressError::UnsupportedAddressLiteral,
            ),
            (
                "user@[2001:db8::1]",
                AddressError::UnsupportedAddressLiteral,
            ),
        ]);
    }

    #[test]
    fn rejects_control_characters_anywhere_even_escaped() {
        use AddressError::ControlCharacter;
        let cases: &[(&str, usize, char)] = &[
            ("us\rer@example.com", 2, '\r'),
            ("user@exa\nmple.com", 8, '\n'),
            ("user\0@example.com", 4, '\0'),
            ("\"a\\\r\"@example.com", 3, '\r'),
            ("\"a\tb\"@example.com", 2, '\t'),
            ("user@example.com\x7f", 16, '\x7f'),
            ("us\u{85}er@example.com", 2, '\u{85}'),
        ];
        for &(input, offset, ch) in cases {
            assert_eq!(err(input), ControlCharacter { offset, ch }, "{input:?}");
        }
    }

    #[test]
    fn limits_the_local_part_to_64_octets() {
        let local = "a".repeat(MAX_LOCAL_PART);
        assert!(Mailbox::parse(&alloc::format!("{local}@example.com")).is_ok());
        assert_eq!(
            err(&alloc::format!("{local}a@example.com")),
            AddressError::LocalPartTooLong(65)
        );
        // 33 two-octet characters: 33 characters, 66 octets.
        assert_eq!(
            err(&alloc::format!("{}@example.com", "é".repeat(33))),
            AddressError::LocalPartTooLong(66)
        );
    }

    #[test]
    fn measures_the_local_part_limit_on_the_canonical_form() {
        // 66 octets as typed, 64 once the needless quotes are gone.
        let local = "a".repeat(MAX_LOCAL_PART);
        assert!(Mailbox::parse(&alloc::format!("\"{local}\"@example.com")).is_ok());
    }

    #[test]
    fn limits_labels_to_63_octets() {
        let label = "a".repeat(MAX_LABEL);
        assert!(Domain::parse(&alloc::format!("{label}.example")).is_ok());
        assert_eq!(
            Domain::parse(&alloc::format!("x.{label}a.example")),
            Err(AddressError::LabelTooLong { offset: 2, len: 64 })
        );
    }

    #[test]
    fn limits_the_domain_to_255_octets() {
        let name: Vec<&str> = core::iter::repeat_n("abcdefg", 32).collect();
        let name = name.join(".");
        assert_eq!(name.len(), 255);
        assert!(Domain::parse(&name).is_ok());
        let longer = alloc::format!("a{name}");
        assert_eq!(
            Domain::parse(&longer),
            Err(AddressError::DomainTooLong(256))
        );
    }

    #[test]
    fn limits_the_path_to_256_octets_including_brackets() {
        let local = "a".repeat(MAX_LOCAL_PART);
        // 64 + 1 + 189 + 2 = 256.
        let fits = alloc::format!(
            "{local}@{}.com",
            "b".repeat(60) + "." + &"c".repeat(60) + "." + &"d".repeat(63)
        );
        assert_eq!(fits.len() + 2, MAX_PATH);
        assert!(Mailbox::parse(&fits).is_ok());
        let over = alloc::format!("{local}@x{}", &fits[MAX_LOCAL_PART + 1..]);
        assert_eq!(err(&over), AddressError::PathTooLong(257));
    }

    #[test]
    fn parses_domains_and_literals_on_their_own() {
        assert_eq!(
            Domain::parse("Mail.Example.ORG"),
            Ok(Domain::Name(DomainName::new("Mail.Example.ORG")))
        );
        assert_eq!(
            Domain::parse("[192.0.2.1]"),
            Ok(Domain::Literal(AddressLiteral::V4(Ipv4Addr::new(
                192, 0, 2, 1
            ))))
        );
        assert_eq!(
            Domain::parse("[IPv6:::1]").map(|d| d.to_string()),
            Ok("[IPv6:::1]".into())
        );
        assert_eq!(Domain::parse(""), Err(AddressError::EmptyDomain));
        assert_eq!(
            Domain::parse("a\r\nb"),
            Err(AddressError::ControlCharacter {
                offset: 1,
                ch: '\r'
            })
        );
    }

    #[test]
    fn reports_whether_a_domain_is_ascii() {
        assert!(Domain::parse("example.com").is_ok_and(|d| d.is_ascii()));
        assert!(Domain::parse("[IPv6:::1]").is_ok_and(|d| d.is_ascii()));
        assert!(Domain::parse("bücher.example").is_ok_and(|d| !d.is_ascii()));
    }

    #[test]
    fn parses_paths_in_angle_brackets() {
        assert_eq!(
            Mailbox::parse_path("<a@example.com>"),
            Ok(ok("a@example.com"))
        );
        assert_eq!(
            Mailbox::parse_path("a@example.com"),
            Err(AddressError::MissingAngleBrackets)
        );
        assert_eq!(
            Mailbox::parse_path("<@relay.example:a@example.com>"),
            Err(AddressError::SourceRoute)
        );
        // Offsets count the bracket.
        assert_eq!(
            Mailbox::parse_path("<a b@example.com>"),
            Err(AddressError::InvalidCharacter { offset: 2, ch: ' ' })
        );
    }

    #[test]
    fn parses_the_null_reverse_path() {
        assert_eq!(ReversePath::parse("<>"), Ok(ReversePath::Null));
        assert_eq!(ReversePath::parse(""), Ok(ReversePath::Null));
        assert_eq!(ReversePath::Null.to_string(), "");
    }

    #[test]
    fn parses_a_reverse_path_with_or_without_brackets() {
        let expected = Ok(ReversePath::Mailbox(ok("a@example.com")));
        assert_eq!(ReversePath::parse("<a@example.com>"), expected);
        assert_eq!(ReversePath::parse("a@example.com"), expected);
        assert_eq!(
            ReversePath::parse("<a@example.com>").map(|p| p.to_string()),
            Ok("a@example.com".into())
        );
        assert_eq!(
            ReversePath::parse("<a@example.com"),
            Err(AddressError::MissingAngleBrackets)
        );
    }

    #[test]
    fn errors_display_their_cause() {
        assert_eq!(
            AddressError::LocalPartTooLong(70).to_string(),
            "local part is 70 octets, more than 64"
        );
        assert_eq!(
            AddressError::ControlCharacter {
                offset: 3,
                ch: '\r'
            }
            .to_string(),
            "control character '\\r' at offset 3"
        );
    }

    fn mailbox_text() -> impl Strategy<Value = String> {
        let atom = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~é用-]{1,8}";
        let dot_string = proptest::collection::vec(atom, 1..4).prop_map(|atoms| atoms.join("."));
        let quoted = proptest::collection::vec(
            prop_oneof![
                "[ -!#-\\[\\]-~é]".prop_map(String::from),
                "[ -~]".prop_map(|c| alloc::format!("\\{c}")),
            ],
            0..12,
        )
        .prop_map(|parts| alloc::format!("\"{}\"", parts.concat()));
        let local = prop_oneof![dot_string, quoted];
        let label = "[a-zA-Z0-9ü]([a-zA-Z0-9ü-]{0,10}[a-zA-Z0-9ü])?";
        let name = (proptest::collection::vec(label, 1..4), any::<bool>())
            .prop_map(|(labels, dot)| labels.join(".") + if dot { "." } else { "" });
        let domain = prop_oneof![
            name,
            any::<Ipv4Addr>().prop_map(|ip| alloc::format!("[{ip}]")),
            any::<Ipv6Addr>().prop_map(|ip| alloc::format!("[IPv6:{ip}]")),
        ];
        (local, domain).prop_map(|(local, domain)| alloc::format!("{local}@{domain}"))
    }

    proptest! {
        #[test]
        fn parsed_mailbox_displays_to_a_string_that_parses_to_itself(
            mailbox in mailbox_text().prop_filter_map("valid", |s| Mailbox::parse(&s).ok())
        ) {
            let shown = mailbox.to_string();
            prop_assert_eq!(Mailbox::parse(&shown), Ok(mailbox.clone()));
            let path = alloc::format!("<{shown}>");
            prop_assert_eq!(Mailbox::parse_path(&path), Ok(mailbox));
        }

        #[test]
        fn no_parsed_mailbox_contains_cr_lf_or_nul(
            text in mailbox_text(),
            insert in proptest::option::of((any::<prop::sample::Index>(), prop::sample::select(&["\r", "\n", "\0", "\\\r", "\\\n", "\\\0", "\r\n"][..]))),
        ) {
            let mut text = text;
            if let Some((at, bad)) = insert {
                let mut at = at.index(text.len() + 1);
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, bad);
            }
            if let Ok(mailbox) = Mailbox::parse(&text) {
                prop_assert!(insert.is_none());
                let shown = mailbox.to_string();
                prop_assert!(!shown.contains(['\r', '\n', '\0']));
            }
        }
    }
}
