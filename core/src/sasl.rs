//! The client side of SASL for SMTP AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login), XOAUTH2 (Google's and Microsoft's bearer-token form).
//!
//! SKELETON: the types and signatures here are the contract other modules code against.

use alloc::string::String;
use alloc::vec::Vec;

/// Most server challenges answered in one AUTH exchange before giving up.
pub const MAX_CHALLENGE_ROUNDS: usize = 8;

/// A SASL mechanism as named in an EHLO AUTH line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthMechanism {
    /// PLAIN
    Plain,
    /// LOGIN
    Login,
    /// XOAUTH2
    XOAuth2,
    /// Any other mechanism, upper-cased.
    Other(String),
}

impl AuthMechanism {
    /// Parse a mechanism name (case-insensitive).
    pub fn from_name(name: &str) -> AuthMechanism {
        if name.eq_ignore_ascii_case("PLAIN") {
            AuthMechanism::Plain
        } else if name.eq_ignore_ascii_case("LOGIN") {
            AuthMechanism::Login
        } else if name.eq_ignore_ascii_case("XOAUTH2") {
            AuthMechanism::XOAuth2
        } else {
            AuthMechanism::Other(name.to_ascii_uppercase())
        }
    }

    /// The name as sent in AUTH.
    pub fn name(&self) -> &str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::Login => "LOGIN",
            AuthMechanism::XOAuth2 => "XOAUTH2",
            AuthMechanism::Other(name) => name,
        }
    }
}

/// What the client proves itself with.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A password (PLAIN, LOGIN).
    Password(String),
    /// An OAuth 2.0 bearer token (XOAUTH2).
    OAuthToken(String),
}

/// Who the client is, and its secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity (user name).
    pub username: String,
    /// The password or token.
    pub secret: Secret,
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Pick the best mechanism both sides can use: XOAUTH2 for a token; PLAIN, then LOGIN,
/// for a password.
pub fn choose_mechanism(offered: &[AuthMechanism], credentials: &Credentials) -> Option<AuthMechanism> {
    todo!("sasl: choose {offered:?} {credentials:?}")
}

/// Why authentication could not go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaslError {
    /// Placeholder until the client lands.
    Invalid,
}

/// One authentication exchange, client side. Responses are raw bytes; the session
/// base64-encodes them.
#[derive(Clone)]
pub struct SaslClient {
    mechanism: AuthMechanism,
}

impl SaslClient {
    /// Start an exchange with `mechanism` (one of those [`choose_mechanism`] returns).
    pub fn new(mechanism: AuthMechanism, credentials: &Credentials) -> Result<SaslClient, SaslError> {
        todo!("sasl: new {mechanism:?} {credentials:?}")
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> &AuthMechanism {
        &self.mechanism
    }

    /// The initial response to send with the AUTH command, if the mechanism has one.
    pub fn initial_response(&mut self) -> Option<Vec<u8>> {
        todo!()
    }

    /// Answer a 334 challenge (its text, still base64). Errors after
    /// [`MAX_CHALLENGE_ROUNDS`] rounds or on a challenge the mechanism does not expect.
    pub fn respond(&mut self, challenge_base64: &[u8]) -> Result<Vec<u8>, SaslError> {
        todo!("sasl: respond {}", challenge_base64.len())
    }
}
