//! Mailboxes, domains and paths (RFC 5321 §4.1.2, §4.1.3, §4.5.3.1; RFC 6531 §3.3).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.

use alloc::string::String;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};

/// An address literal: the domain part in brackets (RFC 5321 §4.1.3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AddressLiteral {
    /// `[192.0.2.1]`
    V4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`
    V6(Ipv6Addr),
}

/// The domain of a mailbox, or the client's EHLO identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A host name, as given (may hold U-labels, see [`Domain::is_ascii`]); no trailing dot.
    Name(String),
    /// An address literal.
    Literal(AddressLiteral),
}

impl Domain {
    /// Parse a domain name or a bracketed address literal.
    pub fn parse(input: &str) -> Result<Domain, AddressError> {
        todo!("address: Domain::parse {input}")
    }

    /// True when the domain is all ASCII (no SMTPUTF8 needed for it).
    pub fn is_ascii(&self) -> bool {
        todo!()
    }
}

impl fmt::Display for Domain {
    /// The name, or the literal in its bracketed form (`[IPv6:…]` for IPv6).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("{:p}", f)
    }
}

/// A validated mailbox `local-part@domain` (RFC 5321 §4.1.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    local: String,
    domain: Domain,
}

impl Mailbox {
    /// Parse `local@domain` (no angle brackets).
    pub fn parse(input: &str) -> Result<Mailbox, AddressError> {
        todo!("address: Mailbox::parse {input}")
    }

    /// The local part as it goes on the wire (quoted if it needs quoting).
    pub fn local_part(&self) -> &str {
        &self.local
    }

    /// The domain.
    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// True when the mailbox holds non-ASCII and so needs SMTPUTF8 (RFC 6531).
    pub fn needs_smtputf8(&self) -> bool {
        todo!()
    }
}

impl fmt::Display for Mailbox {
    /// `local@domain`, exactly as it goes between the angle brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("{:p}", f)
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

/// What is wrong with an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressError {
    /// Placeholder until the parser lands.
    Invalid,
}
