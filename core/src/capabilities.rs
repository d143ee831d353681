//! EHLO keywords to typed capabilities (RFC 5321 §4.1.1.1 and each extension's RFC).
//!
//! The reply to EHLO is `250-domain [greeting]` followed by one `ehlo-keyword *(SP
//! ehlo-param)` per line (RFC 5321 §4.1.1.1). [`Capabilities::from_ehlo`] reads the keywords
//! the client acts on into typed fields and keeps every other line as sent, so callers can
//! look for extensions this module does not know. Keywords are compared without regard to
//! case (RFC 5321 §2.4). The reply code is the caller's business: this reads lines only.
//!
//! | keyword | RFC | field |
//! |---|---|---|
//! | PIPELINING | 2920 | [`Capabilities::pipelining`] |
//! | SIZE \[n\] | 1870 | [`Capabilities::size`] |
//! | 8BITMIME | 6152 | [`Capabilities::eight_bit_mime`] |
//! | SMTPUTF8 | 6531 | [`Capabilities::smtputf8`] |
//! | STARTTLS | 3207 | [`Capabilities::starttls`] |
//! | AUTH mech… / AUTH=mech… | 4954 | [`Capabilities::auth`] |
//! | DSN | 3461 | [`Capabilities::dsn`] |
//! | ENHANCEDSTATUSCODES | 2034 | [`Capabilities::enhanced_status_codes`] |
//! | CHUNKING, BINARYMIME | 3030 | [`Capabilities::chunking`], [`Capabilities::binary_mime`] |
//! | REQUIRETLS | 8689 | [`Capabilities::requiretls`] |
//! | LIMITS RCPTMAX=n | 9422 | [`Capabilities::rcpt_max`] |
//!
//! Deliberate leniency, all for servers seen in the wild:
//! - The pre-standard `AUTH=mech …` line (old Exchange, old Sendmail) is read like `AUTH`,
//!   and the mechanisms of every AUTH line are merged without duplicates, in the order first
//!   offered.
//! - `SIZE` with a parameter that is not a decimal number of at most 20 digits fitting a
//!   `u64` is taken as offered with no declared limit (`Some(0)`): the server does support
//!   the `SIZE=` parameter, and a limit the client cannot read is no limit it can enforce (the
//!   server still refuses an oversized message, with 552). Such a line is not also kept in
//!   `other`.
//! - Empty lines (Postfix's smtp-sink ends its reply with `250 `) are skipped.

use crate::reply::Reply;
use crate::sasl::AuthMechanism;
use alloc::collections::BTreeSet;
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
    /// LIMITS RCPTMAX (RFC 9422 §4.2): the most recipients the server takes per
    /// transaction, when it says.
    pub rcpt_max: Option<usize>,
    /// Every other keyword line, as sent.
    pub other: Vec<String>,
}

/// Characters that separate an EHLO keyword from its parameters and the parameters from
/// each other: SP in RFC 5321 §4.1.1.1; tab tolerated.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

impl Capabilities {
    /// Read the capabilities from a 250 reply to EHLO.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        // The AUTH mechanisms seen, for merging lines without duplicates in O(n log n): a
        // linear `contains` per name made 240 KB of AUTH lines take seconds.
        let mut seen = BTreeSet::new();
        let mut lines = reply.lines();
        if let Some(first) = lines.next() {
            caps.server_name = first
                .split(is_blank)
                .find(|w| !w.is_empty())
                .unwrap_or_default()
                .into();
        }
        for line in lines {
            let mut words = line.split(is_blank).filter(|w| !w.is_empty());
            let Some(keyword) = words.next() else {
                continue;
            };
            caps.read_keyword(keyword, words, line, &mut seen);
        }
        caps
    }

    fn read_keyword<'a>(
        &mut self,
        keyword: &'a str,
        mut params: impl Iterator<Item = &'a str>,
        line: &str,
        seen: &mut BTreeSet<String>,
    ) {
        let is = |name: &str| keyword.eq_ignore_ascii_case(name);
        if is("PIPELINING") {
            self.pipelining = true;
        } else if is("SIZE") {
            self.size = Some(params.next().and_then(parse_size).unwrap_or(0));
        } else if is("8BITMIME") {
            self.eight_bit_mime = true;
        } else if is("SMTPUTF8") {
            self.smtputf8 = true;
        } else if is("STARTTLS") {
            self.starttls = true;
        } else if is("AUTH") {
            self.add_auth(params, seen);
        } else if let Some(first) = strip_prefix_ignore_case(keyword, "AUTH=") {
            self.add_auth(core::iter::once(first).chain(params), seen);
        } else if is("DSN") {
            self.dsn = true;
        } else if is("ENHANCEDSTATUSCODES") {
            self.enhanced_status_codes = true;
        } else if is("CHUNKING") {
            self.chunking = true;
        } else if is("BINARYMIME") {
            self.binary_mime = true;
        } else if is("REQUIRETLS") {
            self.requiretls = true;
        } else if is("LIMITS") {
            for param in params {
                if let Some(n) = strip_prefix_ignore_case(param, "RCPTMAX=") {
                    self.rcpt_max = parse_size(n).and_then(|n| usize::try_from(n).ok());
                }
            }
            self.other.push(line.into());
        } else {
            self.other.push(line.into());
        }
    }

    fn add_auth<'a>(&mut self, names: impl Iterator<Item = &'a str>, seen: &mut BTreeSet<String>) {
        for name in names.filter(|n| !n.is_empty()) {
            let mechanism = AuthMechanism::from_name(name);
            if seen.insert(String::from(mechanism.name())) {
                self.auth.push(mechanism);
            }
        }
    }

    /// The SIZE limit, when the server declared a non-zero one.
    pub fn size_limit(&self) -> Option<u64> {
        self.size.filter(|&n| n > 0)
    }
}

/// RFC 1870 §4: `Size-param ::= [1*DIGIT]`, at most 20 digits.
fn parse_size(param: &str) -> Option<u64> {
    if param.is_empty() || param.len() > 20 || !param.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    param.parse().ok()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{ReplyParser, Status};
    use alloc::string::ToString;
    use alloc::vec;

    /// Parse an EHLO reply as it comes off the wire (`\n`-separated lines, sent with CRLF).
    fn ehlo(lines: &[&str]) -> Capabilities {
        let mut wire = String::new();
        for line in lines {
            wire.push_str(line);
            wire.push_str("\r\n");
        }
        match ReplyParser::new().parse(wire.as_bytes()) {
            Ok(Status::Complete(reply, _)) => Capabilities::from_ehlo(&reply),
            other => panic!("not one reply: {other:?}"),
        }
    }

    fn other(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn reads_a_postfix_3_7_reply() {
        let caps = ehlo(&[
            "250-mx.example.test",
            "250-PIPELINING",
            "250-SIZE 10240000",
            "250-VRFY",
            "250-ETRN",
            "250-STARTTLS",
            "250-ENHANCEDSTATUSCODES",
            "250-8BITMIME",
            "250-DSN",
            "250-SMTPUTF8",
            "250 CHUNKING",
        ]);
        assert_eq!(
            caps,
            Capabilities {
                server_name: "mx.example.test".into(),
                pipelining: true,
                size: Some(10_240_000),
                eight_bit_mime: true,
                smtputf8: true,
                starttls: true,
                auth: vec![],
                dsn: true,
                enhanced_status_codes: true,
                chunking: true,
                binary_mime: false,
                requiretls: false,
                rcpt_max: None,
                other: other(&["VRFY", "ETRN"]),
            }
        );
        assert_eq!(caps.size_limit(), Some(10_240_000));
    }

    #[test]
    fn reads_an_smtp_sink_reply_ending_in_an_empty_line() {
        let caps = ehlo(&[
            "250-smtp-sink",
            "250-PIPELINING",
            "250-8BITMIME",
            "250-AUTH PLAIN LOGIN",
            "250-XCLIENT NAME HELO",
            "250-XFORWARD NAME ADDR PROTO HELO",
            "250-ENHANCEDSTATUSCODES",
            "250-SMTPUTF8",
            "250 ",
        ]);
        assert_eq!(caps.server_name, "smtp-sink");
        assert_eq!(caps.auth, [AuthMechanism::Plain, AuthMechanism::Login]);
        assert!(caps.pipelining && caps.eight_bit_mime && caps.enhanced_status_codes);
        assert!(caps.smtputf8);
        assert_eq!(
            caps.other,
            other(&["XCLIENT NAME HELO", "XFORWARD NAME ADDR PROTO HELO"])
        );
    }

    #[test]
    fn reads_an_aiosmtpd_reply() {
        let caps = ehlo(&[
            "250-client.example.test",
            "250-SIZE 33554432",
            "250-8BITMIME",
            "250-SMTPUTF8",
            "250 HELP",
        ]);
        assert_eq!(caps.size, Some(33_554_432));
        assert!(caps.eight_bit_mime && caps.smtputf8);
        assert!(!caps.pipelining && !caps.starttls);
        assert_eq!(caps.other, other(&["HELP"]));
    }

    #[test]
    fn reads_a_gmail_like_auth_list_in_order() {
        let caps = ehlo(&[
            "250-smtp.example.test at your service, [127.0.0.1]",
            "250-SIZE 35882577",
            "250-8BITMIME",
            "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
            "250-ENHANCEDSTATUSCODES",
            "250-PIPELINING",
            "250-CHUNKING",
            "250 SMTPUTF8",
        ]);
        assert_eq!(caps.server_name, "smtp.example.test");
        assert_eq!(
            caps.auth,
            [
                AuthMechanism::Login,
                AuthMechanism::Plain,
                AuthMechanism::XOAuth2,
                AuthMechanism::Other("PLAIN-CLIENTTOKEN".into()),
                AuthMechanism::Other("OAUTHBEARER".into()),
                AuthMechanism::Other("XOAUTH".into()),
            ]
        );
        assert!(caps.other.is_empty());
    }

    #[test]
    fn merges_the_old_auth_equals_form_without_duplicates() {
        let caps = ehlo(&[
            "250-mail.example.test Hello [127.0.0.1]",
            "250-SIZE",
            "250-PIPELINING",
            "250-DSN",
            "250-AUTH NTLM LOGIN",
            "250-AUTH=LOGIN PLAIN",
            "250-BINARYMIME",
            "250 CHUNKING",
        ]);
        assert_eq!(
            caps.auth,
            [
                AuthMechanism::Other("NTLM".into()),
                AuthMechanism::Login,
                AuthMechanism::Plain,
            ]
        );
        assert!(caps.binary_mime && caps.chunking && caps.dsn);
        assert!(caps.other.is_empty());
    }

    #[test]
    fn reads_a_lone_auth_equals_line() {
        let caps = ehlo(&["250-mail.example.test", "250 auth=login"]);
        assert_eq!(caps.auth, [AuthMechanism::Login]);
    }

    #[test]
    fn matches_keywords_without_regard_to_case() {
        let caps = ehlo(&[
            "250-mx",
            "250-pipelining",
            "250-Size 1000",
            "250-starttls",
            "250-auth plain",
            "250 RequireTLS",
        ]);
        assert!(caps.pipelining && caps.starttls && caps.requiretls);
        assert_eq!(caps.size, Some(1000));
        assert_eq!(caps.auth, [AuthMechanism::Plain]);
    }

    #[test]
    fn size_without_a_parameter_is_offered_with_no_limit() {
        let caps = ehlo(&["250-mx", "250 SIZE"]);
        assert_eq!(caps.size, Some(0));
        assert_eq!(caps.size_limit(), None);
    }

    #[test]
    fn size_zero_is_offered_with_no_limit() {
        let caps = ehlo(&["250-mx", "250 SIZE 0"]);
        assert_eq!((caps.size, caps.size_limit()), (Some(0), None));
    }

    #[test]
    fn unreadable_size_is_offered_with_no_limit() {
        for line in [
            "250 SIZE lots",
            "250 SIZE -1",
            "250 SIZE +5",
            "250 SIZE 99999999999999999999",
        ] {
            let caps = ehlo(&["250-mx", line]);
            assert_eq!(caps.size, Some(0), "{line}");
            assert!(caps.other.is_empty(), "{line}");
        }
    }

    #[test]
    fn size_absent_is_none() {
        let caps = ehlo(&["250-mx", "250 PIPELINING"]);
        assert_eq!(caps.size, None);
    }

    #[test]
    fn keeps_unknown_keyword_lines_as_sent() {
        let caps = ehlo(&["250-mx", "250-X-EXPS GSSAPI NTLM", "250 xshadow"]);
        assert_eq!(caps.other, other(&["X-EXPS GSSAPI NTLM", "xshadow"]));
    }

    #[test]
    fn a_one_line_reply_offers_nothing() {
        let caps = ehlo(&["250 mx.example.test greets you"]);
        assert_eq!(
            caps,
            Capabilities {
                server_name: "mx.example.test".into(),
                ..Capabilities::default()
            }
        );
    }

    #[test]
    fn an_empty_first_line_gives_an_empty_server_name() {
        let caps = ehlo(&["250-", "250 STARTTLS"]);
        assert_eq!(caps.server_name, "");
        assert!(caps.starttls);
    }
}
