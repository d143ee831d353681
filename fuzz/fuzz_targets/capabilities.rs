//! `Capabilities::from_ehlo` on every reply in arbitrary bytes.
//!
//! The input is parsed as a stream of replies (default limits, stopping at the first
//! error); every complete reply goes through `from_ehlo`, whatever its code. The input's
//! text split at LF is also taken as the lines of one 250 reply, so the keyword logic is
//! reached even by inputs that are not valid replies.
//!
//! Checked, besides no panic:
//! - AUTH mechanisms are listed once each; an `Other` mechanism is non-empty, upper-case,
//!   and never one of the named ones;
//! - the server name has no blank; `size_limit()` is never `Some(0)`;
//! - no keyword the module knows lands in `other`;
//! - keywords are case-insensitive: ASCII upper- and lower-casing every line gives the same
//!   flags, SIZE, mechanisms and number of unknown lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxsend_core::capabilities::Capabilities;
use mxsend_core::reply::{Reply, ReplyCode, ReplyParser, Status};
use mxsend_core::sasl::AuthMechanism;

const KNOWN: [&str; 12] = [
    "PIPELINING",
    "SIZE",
    "8BITMIME",
    "SMTPUTF8",
    "STARTTLS",
    "AUTH",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "CHUNKING",
    "BINARYMIME",
    "REQUIRETLS",
    "AUTH=",
];

/// Everything but the server name and the raw text of unknown lines: what case must not change.
fn flags(caps: &Capabilities) -> impl PartialEq + std::fmt::Debug {
    (
        [
            caps.pipelining,
            caps.eight_bit_mime,
            caps.smtputf8,
            caps.starttls,
            caps.dsn,
            caps.enhanced_status_codes,
            caps.chunking,
            caps.binary_mime,
            caps.requiretls,
        ],
        caps.size,
        caps.auth.clone(),
        caps.other.len(),
    )
}

fn check(reply: &Reply) {
    let caps = Capabilities::from_ehlo(reply);
    for (i, mechanism) in caps.auth.iter().enumerate() {
        assert!(
            !caps.auth[..i].contains(mechanism),
            "{mechanism:?} listed twice"
        );
        if let AuthMechanism::Other(name) = mechanism {
            assert!(!name.is_empty());
            assert_eq!(name, &name.to_ascii_uppercase());
            assert_eq!(
                AuthMechanism::from_name(name),
                *mechanism,
                "{name} is a named mechanism"
            );
        }
    }
    assert!(!caps.server_name.contains([' ', '\t']));
    assert_ne!(caps.size_limit(), Some(0));
    for line in &caps.other {
        let keyword = line
            .split([' ', '\t'])
            .find(|w| !w.is_empty())
            .unwrap_or("");
        assert!(
            !KNOWN.iter().any(|k| keyword.eq_ignore_ascii_case(k)),
            "known keyword left in other: {line:?}"
        );
        assert!(
            !(keyword.len() >= 5
                && keyword.is_char_boundary(5)
                && keyword[..5].eq_ignore_ascii_case("AUTH=")),
            "AUTH= left in other: {line:?}"
        );
    }
    for recase in [str::to_ascii_uppercase, str::to_ascii_lowercase] {
        let lines = reply.lines().map(recase).collect();
        let other = Capabilities::from_ehlo(&Reply::new(reply.code(), lines));
        assert_eq!(flags(&caps), flags(&other), "case changed the capabilities");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parser = ReplyParser::new();
    let mut rest = data;
    while let Ok(Status::Complete(reply, used)) = parser.parse(rest) {
        check(&reply);
        rest = &rest[used..];
    }
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').map(String::from).collect();
    if let Some(code) = ReplyCode::new(250) {
        check(&Reply::new(code, lines));
    }
});
