//! Command encoding (RFC 5321 §4.1; ESMTP parameters from RFC 1870, 6152, 6531, 3461,
//! 3030, 4954).
//!
//! [`encode`] appends one command line and its CRLF to a buffer; [`encode_auth_response`]
//! appends one AUTH continuation line. Both are all-or-nothing: on an error the buffer is
//! left exactly as it was, so a caller can pipeline several commands into one buffer and
//! never send half a line.
//!
//! # What is guaranteed
//!
//! - **No injection.** CR, LF or NUL in any argument is an error naming the field
//!   ([`CommandError::ForbiddenOctet`]); a line holds exactly one CRLF, at its end
//!   (RFC 5321 §2.3.8). Other octets that would change a command's syntax (a space in the
//!   EHLO name, a non-base64 octet in an AUTH response) are refused the same way
//!   ([`CommandError::InvalidOctet`]).
//! - **Line length.** A command line, CRLF included, is at most [`MAX_COMMAND_LINE`] octets
//!   (RFC 5321 §4.5.3.1.4), AUTH with an initial response included (RFC 4954 §4: if the
//!   initial response would make the line too long the client MUST NOT send it with the
//!   command; on [`CommandError::LineTooLong`] send `AUTH mechanism` alone and the response
//!   on the continuation line). AUTH continuation lines may reach [`MAX_AUTH_LINE`].
//!
//! # Exact forms
//!
//! ```text
//! EHLO client.example            HELO client.example
//! MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1
//! MAIL FROM:<>
//! RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.net
//! DATA   BDAT 1234   BDAT 0 LAST   RSET   NOOP   QUIT   STARTTLS
//! AUTH PLAIN AGEAYg==            AUTH PLAIN =       AUTH LOGIN
//! ```
//!
//! Verbs and keywords are upper case; parameters follow the order of [`MailParams`] and
//! [`RcptParams`].
//!
//! # Deliberate choices
//!
//! - **xtext, not utf-8-addr-xtext.** ENVID and ORCPT are encoded as RFC 3461 §4 xtext;
//!   the octets of a non-ASCII character are each escaped (`é` is `+C3+A9`). RFC 6533 §3's
//!   `utf-8` address type for ORCPT is not used: `rfc822;` with xtext is what every DSN
//!   server understands, and the escaped octets survive any of them.
//! - **ENVID length** (RFC 3461 §4.4, 100 characters) is measured on the xtext form, as it
//!   goes on the wire, and checked before the line length.
//! - **SMTPUTF8 is required** on MAIL when the reverse-path holds non-ASCII (RFC 6531 §3.4):
//!   sending such a path without it is a protocol error the encoder can see, so it refuses.
//!   RCPT cannot know the MAIL parameters; the session checks recipients.
//! - **Domains are re-checked.** A [`Domain`] can only come from [`Domain::parse`] (its
//!   name is a private [`crate::address::DomainName`]), and so can mailboxes; EHLO, HELO and
//!   mailboxes are scanned all the same, since a scan is cheap and an injected line is not.

use crate::address::{Domain, Mailbox, ReversePath};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;

/// Longest command line, CRLF included (RFC 5321 §4.5.3.1.4).
pub const MAX_COMMAND_LINE: usize = 512;

/// Longest AUTH continuation line (base64 response), CRLF included (RFC 4954 §4).
pub const MAX_AUTH_LINE: usize = 12288;

/// Longest ENVID value (RFC 3461 §4.4), measured here on its xtext form.
pub const MAX_ENVID: usize = 100;

/// Longest SASL mechanism name (RFC 4422 §3.1).
pub const MAX_MECHANISM: usize = 20;

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

impl BodyType {
    /// The parameter value as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyType::SevenBit => "7BIT",
            BodyType::EightBitMime => "8BITMIME",
            BodyType::BinaryMime => "BINARYMIME",
        }
    }
}

/// RET= of MAIL FROM (RFC 3461 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `RET=FULL`
    Full,
    /// `RET=HDRS`
    Headers,
}

impl Ret {
    /// The parameter value as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Headers => "HDRS",
        }
    }
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
    /// `REQUIRETLS` (RFC 8689 §4.1).
    pub requiretls: bool,
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
#[non_exhaustive]
pub enum Command<'a> {
    /// `EHLO domain`
    Ehlo(&'a Domain),
    /// `HELO domain`
    Helo(&'a Domain),
    /// `LHLO domain` (LMTP, RFC 2033 §4.1)
    Lhlo(&'a Domain),
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
    ///
    /// An empty initial response is sent as `=` (RFC 4954 §4).
    Auth {
        /// The SASL mechanism name.
        mechanism: &'a str,
        /// The base64 initial response, if sent with the command.
        initial_response: Option<&'a [u8]>,
    },
}

/// The command argument an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The EHLO or HELO domain.
    ClientId,
    /// The MAIL FROM reverse-path.
    ReversePath,
    /// The RCPT TO mailbox.
    Recipient,
    /// ENVID= of MAIL FROM.
    Envid,
    /// ORCPT= of RCPT TO.
    Orcpt,
    /// The AUTH mechanism name.
    Mechanism,
    /// The AUTH initial response.
    InitialResponse,
    /// An AUTH continuation line.
    AuthResponse,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::ClientId => "EHLO/HELO domain",
            Field::ReversePath => "MAIL FROM path",
            Field::Recipient => "RCPT TO mailbox",
            Field::Envid => "ENVID",
            Field::Orcpt => "ORCPT",
            Field::Mechanism => "AUTH mechanism",
            Field::InitialResponse => "AUTH initial response",
            Field::AuthResponse => "AUTH response",
        })
    }
}

/// Why a command could not be encoded. Nothing was written to the output.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// CR, LF or NUL in an argument: it would end the line early or truncate it.
    ForbiddenOctet {
        /// The argument.
        field: Field,
        /// Offset in the argument.
        offset: usize,
        /// The octet.
        byte: u8,
    },
    /// An octet that the argument's syntax does not allow (a space or control in a domain,
    /// a non-base64 octet in an AUTH response, …).
    InvalidOctet {
        /// The argument.
        field: Field,
        /// Offset in the argument.
        offset: usize,
        /// The octet.
        byte: u8,
    },
    /// An argument that must not be empty is.
    EmptyArgument(Field),
    /// The line, CRLF included, would be longer than its limit.
    LineTooLong {
        /// Its length.
        len: usize,
        /// The limit ([`MAX_COMMAND_LINE`] or [`MAX_AUTH_LINE`]).
        max: usize,
    },
    /// `Notify::On` with no condition set: RFC 3461 §4.1 has no empty NOTIFY.
    EmptyNotify,
    /// The xtext ENVID is longer than [`MAX_ENVID`] characters; carries its length.
    EnvidTooLong(usize),
    /// The SASL mechanism name is empty or longer than [`MAX_MECHANISM`]; carries its length.
    MechanismLength(usize),
    /// The reverse-path holds non-ASCII but SMTPUTF8 is not set (RFC 6531 §3.4).
    Utf8PathWithoutSmtputf8,
}

impl core::error::Error for CommandError {}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::ForbiddenOctet {
                field,
                offset,
                byte,
            } => write!(
                f,
                "{field} holds forbidden octet 0x{byte:02x} at offset {offset}"
            ),
            CommandError::InvalidOctet {
                field,
                offset,
                byte,
            } => write!(
                f,
                "{field} holds invalid octet 0x{byte:02x} at offset {offset}"
            ),
            CommandError::EmptyArgument(field) => write!(f, "{field} is empty"),
            CommandError::LineTooLong { len, max } => {
                write!(f, "command line is {len} octets, more than {max}")
            }
            CommandError::EmptyNotify => f.write_str("NOTIFY needs at least one condition"),
            CommandError::EnvidTooLong(n) => {
                write!(f, "ENVID is {n} characters as xtext, more than {MAX_ENVID}")
            }
            CommandError::MechanismLength(n) => write!(
                f,
                "SASL mechanism name is {n} octets, not 1 to {MAX_MECHANISM}"
            ),
            CommandError::Utf8PathWithoutSmtputf8 => {
                f.write_str("non-ASCII reverse-path needs the SMTPUTF8 parameter")
            }
        }
    }
}

/// Append `command` and its CRLF to `out`.
///
/// On an error nothing is appended.
///
/// ```
/// use mxsend_core::address::Mailbox;
/// use mxsend_core::command::{encode, Command, Notify, RcptParams};
///
/// let rcpt = Mailbox::parse("b@example.net")?;
/// let params = RcptParams {
///     notify: Some(Notify::On { success: false, failure: true, delay: true }),
///     orcpt: Some("b@example.net".into()),
/// };
/// let mut out = Vec::new();
/// encode(&Command::Rcpt(&rcpt, &params), &mut out)?;
/// encode(&Command::Data, &mut out)?;
/// assert_eq!(
///     out,
///     b"RCPT TO:<b@example.net> NOTIFY=FAILURE,DELAY ORCPT=rfc822;b@example.net\r\nDATA\r\n"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode(command: &Command<'_>, out: &mut Vec<u8>) -> Result<(), CommandError> {
    let start = out.len();
    let result = encode_line(command, out).and_then(|()| {
        out.extend_from_slice(b"\r\n");
        check_len(out.len() - start, MAX_COMMAND_LINE)
    });
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Append an AUTH continuation line (a base64 response, or `*` to cancel) and its CRLF.
///
/// An empty response is an empty line. On an error nothing is appended.
pub fn encode_auth_response(base64: &[u8], out: &mut Vec<u8>) -> Result<(), CommandError> {
    if base64 != b"*" {
        check_base64(base64, Field::AuthResponse)?;
    }
    check_len(base64.len() + 2, MAX_AUTH_LINE)?;
    out.reserve(base64.len() + 2);
    out.extend_from_slice(base64);
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Append the RFC 3461 §4 xtext encoding of `input`: octets 33–126 other than `+` and `=`
/// as themselves, every other octet (UTF-8 ones included) as `+` and two upper-case hex
/// digits.
pub fn xtext_encode(input: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(input.len());
    for b in input.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'+', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

/// Write the line without its CRLF.
fn encode_line(command: &Command<'_>, out: &mut Vec<u8>) -> Result<(), CommandError> {
    let verb: &[u8] = match command {
        Command::Ehlo(domain) => return encode_hello(b"EHLO ", domain, out),
        Command::Helo(domain) => return encode_hello(b"HELO ", domain, out),
        Command::Lhlo(domain) => return encode_hello(b"LHLO ", domain, out),
        Command::Mail(path, params) => return encode_mail(path, params, out),
        Command::Rcpt(mailbox, params) => return encode_rcpt(mailbox, params, out),
        Command::Auth {
            mechanism,
            initial_response,
        } => return encode_auth(mechanism, *initial_response, out),
        Command::Bdat { size, last } => {
            push_display(out, format_args!("BDAT {size}"));
            if *last {
                out.extend_from_slice(b" LAST");
            }
            return Ok(());
        }
        Command::Data => b"DATA",
        Command::Rset => b"RSET",
        Command::Noop => b"NOOP",
        Command::Quit => b"QUIT",
        Command::StartTls => b"STARTTLS",
    };
    out.extend_from_slice(verb);
    Ok(())
}

fn encode_hello(verb: &[u8], domain: &Domain, out: &mut Vec<u8>) -> Result<(), CommandError> {
    out.extend_from_slice(verb);
    let at = out.len();
    push_display(out, format_args!("{domain}"));
    let name = out.get(at..).unwrap_or_default();
    if name.is_empty() {
        return Err(CommandError::EmptyArgument(Field::ClientId));
    }
    // A space or control would split or end the argument.
    check_octets(name, Field::ClientId, |b| b > b' ' && b != 0x7f)
}

fn encode_mail(
    path: &ReversePath,
    params: &MailParams,
    out: &mut Vec<u8>,
) -> Result<(), CommandError> {
    if path.needs_smtputf8() && !params.smtputf8 {
        return Err(CommandError::Utf8PathWithoutSmtputf8);
    }
    out.extend_from_slice(b"MAIL FROM:<");
    push_checked(out, format_args!("{path}"), Field::ReversePath)?;
    out.push(b'>');
    if let Some(size) = params.size {
        push_display(out, format_args!(" SIZE={size}"));
    }
    if let Some(body) = params.body {
        out.extend_from_slice(b" BODY=");
        out.extend_from_slice(body.as_str().as_bytes());
    }
    if params.smtputf8 {
        out.extend_from_slice(b" SMTPUTF8");
    }
    if let Some(ret) = params.ret {
        out.extend_from_slice(b" RET=");
        out.extend_from_slice(ret.as_str().as_bytes());
    }
    if let Some(envid) = &params.envid {
        check_octets(envid.as_bytes(), Field::Envid, |_| true)?;
        out.extend_from_slice(b" ENVID=");
        let at = out.len();
        xtext_encode(envid, out);
        let len = out.len() - at;
        if len > MAX_ENVID {
            return Err(CommandError::EnvidTooLong(len));
        }
    }
    if params.requiretls {
        out.extend_from_slice(b" REQUIRETLS");
    }
    Ok(())
}

fn encode_rcpt(
    mailbox: &Mailbox,
    params: &RcptParams,
    out: &mut Vec<u8>,
) -> Result<(), CommandError> {
    out.extend_from_slice(b"RCPT TO:<");
    push_checked(out, format_args!("{mailbox}"), Field::Recipient)?;
    out.push(b'>');
    match params.notify {
        None => {}
        Some(Notify::Never) => out.extend_from_slice(b" NOTIFY=NEVER"),
        Some(Notify::On {
            success,
            failure,
            delay,
        }) => {
            if !(success || failure || delay) {
                return Err(CommandError::EmptyNotify);
            }
            let conditions = [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")];
            let mut separator = " NOTIFY=";
            for (_, name) in conditions.iter().filter(|(on, _)| *on) {
                out.extend_from_slice(separator.as_bytes());
                out.extend_from_slice(name.as_bytes());
                separator = ",";
            }
        }
    }
    if let Some(orcpt) = &params.orcpt {
        check_octets(orcpt.as_bytes(), Field::Orcpt, |_| true)?;
        out.extend_from_slice(b" ORCPT=rfc822;");
        xtext_encode(orcpt, out);
    }
    Ok(())
}

fn encode_auth(
    mechanism: &str,
    initial_response: Option<&[u8]>,
    out: &mut Vec<u8>,
) -> Result<(), CommandError> {
    // sasl-mech = 1*20mech-char (RFC 4422 §3.1). Lower case is let through: some servers
    // advertise it, and echoing their spelling is harmless.
    if mechanism.is_empty() || mechanism.len() > MAX_MECHANISM {
        return Err(CommandError::MechanismLength(mechanism.len()));
    }
    check_octets(mechanism.as_bytes(), Field::Mechanism, |b| {
        b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
    })?;
    out.extend_from_slice(b"AUTH ");
    out.extend_from_slice(mechanism.as_bytes());
    match initial_response {
        None => {}
        Some(b"") => out.extend_from_slice(b" ="),
        Some(response) => {
            check_base64(response, Field::InitialResponse)?;
            out.push(b' ');
            out.extend_from_slice(response);
        }
    }
    Ok(())
}

/// Base64 alphabet and padding only (RFC 4648 §4); `=` alone is the empty response.
fn check_base64(response: &[u8], field: Field) -> Result<(), CommandError> {
    check_octets(response, field, |b| {
        b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'='
    })
}

/// CR, LF and NUL are always forbidden; beyond them, `allowed` decides.
fn check_octets(
    bytes: &[u8],
    field: Field,
    allowed: impl Fn(u8) -> bool,
) -> Result<(), CommandError> {
    for (offset, &byte) in bytes.iter().enumerate() {
        if matches!(byte, b'\r' | b'\n' | 0) {
            return Err(CommandError::ForbiddenOctet {
                field,
                offset,
                byte,
            });
        }
        if !allowed(byte) {
            return Err(CommandError::InvalidOctet {
                field,
                offset,
                byte,
            });
        }
    }
    Ok(())
}

fn check_len(len: usize, max: usize) -> Result<(), CommandError> {
    if len > max {
        Err(CommandError::LineTooLong { len, max })
    } else {
        Ok(())
    }
}

/// Write a displayed value, then check the octets it produced.
fn push_checked(
    out: &mut Vec<u8>,
    args: fmt::Arguments<'_>,
    field: Field,
) -> Result<(), CommandError> {
    let at = out.len();
    push_display(out, args);
    check_octets(out.get(at..).unwrap_or_default(), field, |_| true)
}

fn push_display(out: &mut Vec<u8>, args: fmt::Arguments<'_>) {
    struct Sink<'a>(&'a mut Vec<u8>);
    impl fmt::Write for Sink<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.extend_from_slice(s.as_bytes());
            Ok(())
        }
    }
    // Writing into a Vec cannot fail, and the Display impls written to it do not either.
    let _ = Sink(out).write_fmt(args);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn enc(command: Command<'_>) -> Result<String, CommandError> {
        let mut out = Vec::new();
        encode(&command, &mut out).map(|()| String::from_utf8(out).unwrap())
    }

    fn mailbox(s: &str) -> Mailbox {
        Mailbox::parse(s).unwrap()
    }

    fn from(s: &str) -> ReversePath {
        ReversePath::parse(s).unwrap()
    }

    #[test]
    fn encodes_ehlo_and_helo() {
        let domain = Domain::parse("client.example").unwrap();
        assert_eq!(
            enc(Command::Ehlo(&domain)).unwrap(),
            "EHLO client.example\r\n"
        );
        assert_eq!(
            enc(Command::Helo(&domain)).unwrap(),
            "HELO client.example\r\n"
        );
        assert_eq!(
            enc(Command::Lhlo(&domain)).unwrap(),
            "LHLO client.example\r\n"
        );
        let literal = Domain::parse("[IPv6:2001:db8::1]").unwrap();
        assert_eq!(
            enc(Command::Ehlo(&literal)).unwrap(),
            "EHLO [IPv6:2001:db8::1]\r\n"
        );
    }

    #[test]
    fn encodes_the_argumentless_commands() {
        assert_eq!(enc(Command::Data).unwrap(), "DATA\r\n");
        assert_eq!(enc(Command::Rset).unwrap(), "RSET\r\n");
        assert_eq!(enc(Command::Noop).unwrap(), "NOOP\r\n");
        assert_eq!(enc(Command::Quit).unwrap(), "QUIT\r\n");
        assert_eq!(enc(Command::StartTls).unwrap(), "STARTTLS\r\n");
    }

    #[test]
    fn encodes_bdat_with_and_without_last() {
        assert_eq!(
            enc(Command::Bdat {
                size: 1234,
                last: false
            })
            .unwrap(),
            "BDAT 1234\r\n"
        );
        assert_eq!(
            enc(Command::Bdat {
                size: 0,
                last: true
            })
            .unwrap(),
            "BDAT 0 LAST\r\n"
        );
    }

    #[test]
    fn encodes_mail_from_without_parameters() {
        let params = MailParams::default();
        assert_eq!(
            enc(Command::Mail(&from("a@example.com"), &params)).unwrap(),
            "MAIL FROM:<a@example.com>\r\n"
        );
    }

    #[test]
    fn encodes_the_null_reverse_path() {
        let params = MailParams::default();
        assert_eq!(
            enc(Command::Mail(&ReversePath::Null, &params)).unwrap(),
            "MAIL FROM:<>\r\n"
        );
    }

    #[test]
    fn encodes_mail_from_with_every_parameter_in_order() {
        let params = MailParams {
            size: Some(1000),
            body: Some(BodyType::EightBitMime),
            smtputf8: true,
            ret: Some(Ret::Headers),
            envid: Some("QQ+1 x=y".into()),
            requiretls: true,
        };
        assert_eq!(
            enc(Command::Mail(&from("a@example.com"), &params)).unwrap(),
            "MAIL FROM:<a@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B1+20x+3Dy REQUIRETLS\r\n"
        );
    }

    #[test]
    fn encodes_each_body_type_and_ret() {
        let cases = [
            (BodyType::SevenBit, Ret::Full, " BODY=7BIT RET=FULL"),
            (
                BodyType::BinaryMime,
                Ret::Headers,
                " BODY=BINARYMIME RET=HDRS",
            ),
        ];
        for (body, ret, expected) in cases {
            let params = MailParams {
                body: Some(body),
                ret: Some(ret),
                ..MailParams::default()
            };
            assert_eq!(
                enc(Command::Mail(&ReversePath::Null, &params)).unwrap(),
                alloc::format!("MAIL FROM:<>{expected}\r\n")
            );
        }
    }

    #[test]
    fn encodes_rcpt_to_with_notify_and_orcpt() {
        let params = RcptParams {
            notify: Some(Notify::On {
                success: true,
                failure: true,
                delay: false,
            }),
            orcpt: Some("b+tag@example.net".into()),
        };
        assert_eq!(
            enc(Command::Rcpt(&mailbox("b@example.net"), &params)).unwrap(),
            "RCPT TO:<b@example.net> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b+2Btag@example.net\r\n"
        );
    }

    #[test]
    fn encodes_notify_never_and_single_conditions() {
        let cases = [
            (Notify::Never, "NEVER"),
            (
                Notify::On {
                    success: false,
                    failure: false,
                    delay: true,
                },
                "DELAY",
            ),
            (
                Notify::On {
                    success: true,
                    failure: true,
                    delay: true,
                },
                "SUCCESS,FAILURE,DELAY",
            ),
        ];
        for (notify, expected) in cases {
            let params = RcptParams {
                notify: Some(notify),
                orcpt: None,
            };
            assert_eq!(
                enc(Command::Rcpt(&mailbox("b@example.net"), &params)).unwrap(),
                alloc::format!("RCPT TO:<b@example.net> NOTIFY={expected}\r\n")
            );
        }
    }

    #[test]
    fn encodes_utf8_paths_as_utf8_with_smtputf8() {
        let params = MailParams {
            smtputf8: true,
            ..MailParams::default()
        };
        assert_eq!(
            enc(Command::Mail(&from("josé@bücher.example"), &params)).unwrap(),
            "MAIL FROM:<josé@bücher.example> SMTPUTF8\r\n"
        );
    }

    #[test]
    fn encodes_auth_with_and_without_initial_response() {
        let auth = |initial_response| Command::Auth {
            mechanism: "PLAIN",
            initial_response,
        };
        assert_eq!(enc(auth(None)).unwrap(), "AUTH PLAIN\r\n");
        assert_eq!(
            enc(auth(Some(b"AGEAYg=="))).unwrap(),
            "AUTH PLAIN AGEAYg==\r\n"
        );
    }

    #[test]
    fn encodes_an_empty_initial_response_as_equals() {
        for empty in [&b""[..], b"="] {
            let command = Command::Auth {
                mechanism: "EXTERNAL",
                initial_response: Some(empty),
            };
            assert_eq!(enc(command).unwrap(), "AUTH EXTERNAL =\r\n");
        }
    }

    #[test]
    fn encodes_auth_continuation_lines() {
        let mut out = Vec::new();
        encode_auth_response(b"dXNlcg==", &mut out).unwrap();
        encode_auth_response(b"", &mut out).unwrap();
        encode_auth_response(b"*", &mut out).unwrap();
        assert_eq!(out, b"dXNlcg==\r\n\r\n*\r\n");
    }

    #[test]
    fn xtext_escapes_plus_equals_controls_space_and_utf8() {
        let mut out = Vec::new();
        xtext_encode("a+b=c d\t~!é", &mut out);
        assert_eq!(out, b"a+2Bb+3Dc+20d+09~!+C3+A9");
    }

    #[test]
    fn appends_after_existing_output() {
        let mut out = b"NOOP\r\n".to_vec();
        encode(&Command::Quit, &mut out).unwrap();
        assert_eq!(out, b"NOOP\r\nQUIT\r\n");
    }

    #[test]
    fn rejects_cr_lf_nul_in_envid_and_orcpt() {
        let params = MailParams {
            envid: Some("id\r\nRCPT TO:<x@y>".into()),
            ..MailParams::default()
        };
        assert_eq!(
            enc(Command::Mail(&ReversePath::Null, &params)),
            Err(CommandError::ForbiddenOctet {
                field: Field::Envid,
                offset: 2,
                byte: b'\r'
            })
        );
        let params = RcptParams {
            notify: None,
            orcpt: Some("a\0@b".into()),
        };
        assert_eq!(
            enc(Command::Rcpt(&mailbox("a@b"), &params)),
            Err(CommandError::ForbiddenOctet {
                field: Field::Orcpt,
                offset: 1,
                byte: 0
            })
        );
    }

    #[test]
    fn rejects_notify_with_no_condition() {
        let params = RcptParams {
            notify: Some(Notify::On {
                success: false,
                failure: false,
                delay: false,
            }),
            orcpt: None,
        };
        assert_eq!(
            enc(Command::Rcpt(&mailbox("a@b"), &params)),
            Err(CommandError::EmptyNotify)
        );
    }

    #[test]
    fn rejects_an_envid_over_100_xtext_characters() {
        let fits = MailParams {
            envid: Some("x".repeat(MAX_ENVID)),
            ..MailParams::default()
        };
        assert!(enc(Command::Mail(&ReversePath::Null, &fits)).is_ok());
        // 34 plain characters, 102 once escaped.
        let over = MailParams {
            envid: Some("+".repeat(34)),
            ..MailParams::default()
        };
        assert_eq!(
            enc(Command::Mail(&ReversePath::Null, &over)),
            Err(CommandError::EnvidTooLong(102))
        );
    }

    #[test]
    fn rejects_a_utf8_reverse_path_without_smtputf8() {
        assert_eq!(
            enc(Command::Mail(
                &from("josé@example.com"),
                &MailParams::default()
            )),
            Err(CommandError::Utf8PathWithoutSmtputf8)
        );
    }

    #[test]
    fn rejects_a_command_line_over_512_octets() {
        let local = "a".repeat(64);
        let domain = ["b".repeat(63), "c".repeat(63), "d".repeat(61)].join(".");
        let recipient = mailbox(&alloc::format!("{local}@{domain}"));
        // RCPT TO:<254> = 264, NOTIFY 29, ORCPT=rfc822; 14, CRLF 2: 309 + the ORCPT value.
        let notify = Some(Notify::On {
            success: true,
            failure: true,
            delay: true,
        });
        let fits = RcptParams {
            notify,
            orcpt: Some("o".repeat(203)),
        };
        assert_eq!(
            enc(Command::Rcpt(&recipient, &fits)).map(|s| s.len()),
            Ok(512)
        );
        let over = RcptParams {
            notify,
            orcpt: Some("o".repeat(204)),
        };
        assert_eq!(
            enc(Command::Rcpt(&recipient, &over)),
            Err(CommandError::LineTooLong { len: 513, max: 512 })
        );
    }

    #[test]
    fn rejects_an_auth_command_whose_initial_response_does_not_fit() {
        // "AUTH XOAUTH2 " is 13 octets, CRLF 2: 497 octets of response fill 512.
        let fits = "A".repeat(497);
        let command = |response: &str| {
            enc(Command::Auth {
                mechanism: "XOAUTH2",
                initial_response: Some(response.as_bytes()),
            })
        };
        assert_eq!(command(&fits).map(|s| s.len()), Ok(512));
        assert_eq!(
            command(&"A".repeat(498)),
            Err(CommandError::LineTooLong { len: 513, max: 512 })
        );
    }

    #[test]
    fn allows_auth_continuation_lines_up_to_12288_octets() {
        let mut out = Vec::new();
        assert!(encode_auth_response(&vec![b'A'; MAX_AUTH_LINE - 2], &mut out).is_ok());
        out.clear();
        assert_eq!(
            encode_auth_response(&vec![b'A'; MAX_AUTH_LINE - 1], &mut out),
            Err(CommandError::LineTooLong {
                len: MAX_AUTH_LINE + 1,
                max: MAX_AUTH_LINE
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn rejects_non_base64_in_auth_responses() {
        let mut out = Vec::new();
        assert_eq!(
            encode_auth_response(b"dXN\r\nQUIT", &mut out),
            Err(CommandError::ForbiddenOctet {
                field: Field::AuthResponse,
                offset: 3,
                byte: b'\r'
            })
        );
        assert_eq!(
            encode_auth_response(b"dXN lcg", &mut out),
            Err(CommandError::InvalidOctet {
                field: Field::AuthResponse,
                offset: 3,
                byte: b' '
            })
        );
        assert_eq!(
            enc(Command::Auth {
                mechanism: "PLAIN",
                initial_response: Some(b"AG\nE")
            }),
            Err(CommandError::ForbiddenOctet {
                field: Field::InitialResponse,
                offset: 2,
                byte: b'\n'
            })
        );
        assert!(out.is_empty());
    }

    #[test]
    fn rejects_malformed_mechanism_names() {
        let auth = |mechanism| {
            enc(Command::Auth {
                mechanism,
                initial_response: None,
            })
        };
        assert_eq!(auth(""), Err(CommandError::MechanismLength(0)));
        assert_eq!(
            auth("ABCDEFGHIJKLMNOPQRSTU"),
            Err(CommandError::MechanismLength(21))
        );
        assert_eq!(
            auth("PLAIN X"),
            Err(CommandError::InvalidOctet {
                field: Field::Mechanism,
                offset: 5,
                byte: b' '
            })
        );
        assert_eq!(
            auth("PLAIN\r\n"),
            Err(CommandError::ForbiddenOctet {
                field: Field::Mechanism,
                offset: 5,
                byte: b'\r'
            })
        );
        assert_eq!(auth("SCRAM-SHA-256").unwrap(), "AUTH SCRAM-SHA-256\r\n");
    }

    #[test]
    fn appends_nothing_on_error() {
        let mut out = b"RSET\r\n".to_vec();
        let params = RcptParams {
            notify: Some(Notify::On {
                success: false,
                failure: false,
                delay: false,
            }),
            orcpt: None,
        };
        // The mailbox is written before NOTIFY fails: it must be taken back.
        let result = encode(&Command::Rcpt(&mailbox("a@example.com"), &params), &mut out);
        assert_eq!(result, Err(CommandError::EmptyNotify));
        assert_eq!(out, b"RSET\r\n");
    }

    #[test]
    fn errors_name_their_field() {
        let error = CommandError::ForbiddenOctet {
            field: Field::Envid,
            offset: 2,
            byte: b'\r',
        };
        assert_eq!(
            error.to_string(),
            "ENVID holds forbidden octet 0x0d at offset 2"
        );
    }

    fn any_text() -> impl Strategy<Value = String> {
        // Mostly printable, with the dangerous octets and some UTF-8 mixed in.
        proptest::collection::vec(
            prop_oneof![
                8 => "[ -~]",
                1 => prop::sample::select(&["\r", "\n", "\0", "\r\n", "é", "\t"][..]).prop_map(String::from),
            ],
            0..300,
        )
        .prop_map(|parts| parts.concat())
    }

    fn any_mailbox() -> impl Strategy<Value = Mailbox> {
        ("[a-z0-9.+]{1,64}", "[a-z0-9]{1,63}(\\.[a-z0-9]{1,40}){0,3}")
            .prop_filter_map("valid", |(local, domain)| {
                Mailbox::parse(&alloc::format!("{local}@{domain}")).ok()
            })
    }

    /// Owned storage for a command, so strategies can produce it.
    #[derive(Clone, Debug)]
    enum Owned {
        Ehlo(Domain),
        Mail(ReversePath, MailParams),
        Rcpt(Mailbox, RcptParams),
        Bdat(u64, bool),
        Auth(String, Option<Vec<u8>>),
    }

    impl Owned {
        fn command(&self) -> Command<'_> {
            match self {
                Owned::Ehlo(domain) => Command::Ehlo(domain),
                Owned::Mail(path, params) => Command::Mail(path, params),
                Owned::Rcpt(mailbox, params) => Command::Rcpt(mailbox, params),
                Owned::Bdat(size, last) => Command::Bdat {
                    size: *size,
                    last: *last,
                },
                Owned::Auth(mechanism, response) => Command::Auth {
                    mechanism,
                    initial_response: response.as_deref(),
                },
            }
        }
    }

    fn any_command() -> impl Strategy<Value = Owned> {
        let notify = prop_oneof![
            Just(Notify::Never),
            (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(success, failure, delay)| {
                Notify::On {
                    success,
                    failure,
                    delay,
                }
            }),
        ];
        let body = prop::sample::select(
            &[
                BodyType::SevenBit,
                BodyType::EightBitMime,
                BodyType::BinaryMime,
            ][..],
        );
        let ret = prop::sample::select(&[Ret::Full, Ret::Headers][..]);
        let mail = (
            proptest::option::of(any_mailbox()),
            proptest::option::of(any::<u64>()),
            proptest::option::of(body),
            any::<bool>(),
            proptest::option::of(ret),
            proptest::option::of(any_text()),
            any::<bool>(),
        )
            .prop_map(|(mailbox, size, body, smtputf8, ret, envid, requiretls)| {
                let path = mailbox.map_or(ReversePath::Null, ReversePath::Mailbox);
                Owned::Mail(
                    path,
                    MailParams {
                        size,
                        body,
                        smtputf8,
                        ret,
                        envid,
                        requiretls,
                    },
                )
            });
        let rcpt = (
            any_mailbox(),
            proptest::option::of(notify),
            proptest::option::of(any_text()),
        )
            .prop_map(|(mailbox, notify, orcpt)| {
                Owned::Rcpt(mailbox, RcptParams { notify, orcpt })
            });
        prop_oneof![
            any_text().prop_filter_map("a domain", |name| Domain::parse(&name)
                .ok()
                .map(Owned::Ehlo)),
            mail,
            rcpt,
            (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Owned::Bdat(size, last)),
            (
                "[A-Z0-9_\r\n -]{0,22}",
                proptest::option::of(any_text().prop_map(String::into_bytes)),
            )
                .prop_map(|(mechanism, response)| Owned::Auth(mechanism, response)),
        ]
    }

    proptest! {
        #[test]
        fn no_encoded_command_contains_cr_lf_or_nul_before_its_final_crlf(
            owned in any_command(),
            prefix in proptest::collection::vec(any::<u8>(), 0..8),
        ) {
            let mut out = prefix.clone();
            match encode(&owned.command(), &mut out) {
                Ok(()) => {
                    let line = &out[prefix.len()..];
                    prop_assert!(line.ends_with(b"\r\n"));
                    let body = &line[..line.len() - 2];
                    prop_assert!(!body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)));
                }
                Err(_) => prop_assert_eq!(out, prefix),
            }
        }

        #[test]
        fn encoded_commands_never_exceed_512_octets(owned in any_command()) {
            let mut out = Vec::new();
            if encode(&owned.command(), &mut out).is_ok() {
                prop_assert!(out.len() <= MAX_COMMAND_LINE);
            }
        }

        #[test]
        fn xtext_output_is_printable_ascii_without_plus_or_equals_except_escapes(text in any_text()) {
            let mut out = Vec::new();
            xtext_encode(&text, &mut out);
            let mut i = 0;
            while i < out.len() {
                if out[i] == b'+' {
                    prop_assert!(out.len() >= i + 3);
                    prop_assert!(out[i + 1..i + 3].iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)));
                    i += 3;
                } else {
                    prop_assert!((33..=126).contains(&out[i]) && out[i] != b'=');
                    i += 1;
                }
            }
        }
    }
}
