//! The client side of SASL for SMTP AUTH (RFC 4954): PLAIN (RFC 4616), LOGIN
//! (draft-murchison-sasl-login-00), XOAUTH2 (Google's and Microsoft's bearer-token form).
//!
//! [`choose_mechanism`] picks what to use from the server's EHLO AUTH line; a
//! [`SaslClient`] then produces the initial response and answers each `334` challenge
//! (RFC 4954 §4). It works on raw bytes: the session base64-encodes each response, writes
//! `=` for an empty initial response and `*` to cancel (RFC 4954 §4), and decides whether
//! the connection is protected enough to send a password at all. This module checks
//! nothing about TLS.
//!
//! What each mechanism sends:
//!
//! * **PLAIN** (RFC 4616 §2): `NUL username NUL password`, with an empty authorisation
//!   identity, as the initial response, or in answer to the server's empty challenge when
//!   no initial response was sent. A NUL inside the username or password would shift the
//!   fields, so it is refused up front.
//! * **LOGIN** (draft-murchison-sasl-login-00 §2): no initial response; the first challenge
//!   is answered with the username and the second with the password. The prompts' text is
//!   ignored on purpose: servers word it differently (`Username:`, `User Name`,
//!   localised), so the round number decides, not the prompt.
//! * **SCRAM-SHA-256** (RFC 7677, RFC 5802): the exchange in [`crate::scram`]; the
//!   client-first message is the initial response, the client-final answers the first
//!   challenge, and the second challenge (the server's signature) is verified and answered
//!   empty. The hash functions and the nonce come from the caller ([`ScramSetup`]). A 235
//!   before the server proved itself is refused ([`SaslClient::finish`]).
//! * **XOAUTH2** (Google's and Microsoft's documentation):
//!   `user=U ^A auth=Bearer T ^A ^A` as the initial response. A challenge after it is the
//!   server's JSON error report, answered with an empty response so the server ends with
//!   `535`; the report is kept for diagnostics ([`SaslClient::xoauth2_error`]). A `^A`
//!   inside the username or token would shift the fields, so it is refused up front.
//!
//! Deliberate deviations: strings are sent as their UTF-8 bytes without SASLprep (RFC 4013),
//! as every deployed client does (SCRAM, which hashes the password, takes printable ASCII
//! passwords only: see [`crate::scram`]); the PLAIN authorisation identity is always empty. Every
//! challenge must be valid, padded base64 (RFC 4954 §4), and at most
//! [`MAX_CHALLENGE_ROUNDS`] are answered, so a server cannot keep a client in AUTH forever.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;

use crate::base64::{self, Base64Error};
use crate::scram::{ScramClient, ScramCrypto, ScramError};

/// Most server challenges answered in one AUTH exchange before giving up. RFC 4954 sets
/// no limit; the mechanisms here need at most two, so eight leaves room for odd servers
/// while bounding the exchange.
pub const MAX_CHALLENGE_ROUNDS: usize = 8;

/// A SASL mechanism as named in an EHLO AUTH line.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// PLAIN
    Plain,
    /// LOGIN
    Login,
    /// XOAUTH2
    XOAuth2,
    /// SCRAM-SHA-256 (RFC 7677)
    ScramSha256,
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
        } else if name.eq_ignore_ascii_case("SCRAM-SHA-256") {
            AuthMechanism::ScramSha256
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
            AuthMechanism::ScramSha256 => "SCRAM-SHA-256",
            AuthMechanism::Other(name) => name,
        }
    }
}

/// What the client proves itself with. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A password (PLAIN, LOGIN).
    Password(String),
    /// An OAuth 2.0 bearer token (XOAUTH2).
    OAuthToken(String),
}

impl Secret {
    fn as_str(&self) -> &str {
        match self {
            Secret::Password(secret) | Secret::OAuthToken(secret) => secret,
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Secret::Password(_) => "Password",
            Secret::OAuthToken(_) => "OAuthToken",
        };
        f.debug_tuple(kind).field(&"<redacted>").finish()
    }
}

/// Who the client is, and its secret. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authentication identity (user name).
    pub username: String,
    /// The password or token.
    pub secret: Secret,
}

impl Credentials {
    /// Check that these credentials can go out with every mechanism that suits their kind,
    /// so that a local mistake is found before any connection, not blamed on a server: no
    /// NUL in a password's username or password (PLAIN frames its fields with NUL, RFC 4616
    /// §2, and LOGIN servers read C strings), no 0x01 in a token's (XOAUTH2's separator).
    pub fn check(&self) -> Result<(), SaslError> {
        match self.secret {
            Secret::Password(_) => refuse_separator(&AuthMechanism::Plain, self, 0),
            Secret::OAuthToken(_) => refuse_separator(&AuthMechanism::XOAuth2, self, 0x01),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Pick the best mechanism both sides can use: XOAUTH2 for a token; PLAIN, then LOGIN,
/// for a password.
///
/// Only a mechanism in `offered` is ever returned, and never [`AuthMechanism::Other`]:
/// `None` means the server offers nothing this client can use with these credentials.
/// PLAIN comes before LOGIN because it is a standard (RFC 4616) and takes one round trip
/// with an initial response, where LOGIN takes three.
pub fn choose_mechanism(
    offered: &[AuthMechanism],
    credentials: &Credentials,
) -> Option<AuthMechanism> {
    choose_mechanism_with_scram(offered, credentials, false)
}

/// [`choose_mechanism`], with SCRAM-SHA-256 first when `scram_available` (the caller has a
/// [`ScramSetup`]) and the password is one SCRAM takes as it is
/// ([`crate::scram::password_is_usable`]): it never reveals the password to the server and
/// proves the server's identity, where PLAIN does neither.
pub fn choose_mechanism_with_scram(
    offered: &[AuthMechanism],
    credentials: &Credentials,
    scram_available: bool,
) -> Option<AuthMechanism> {
    let preference: &[AuthMechanism] = match &credentials.secret {
        Secret::Password(password)
            if scram_available && crate::scram::password_is_usable(password) =>
        {
            &[
                AuthMechanism::ScramSha256,
                AuthMechanism::Plain,
                AuthMechanism::Login,
            ]
        }
        Secret::Password(_) => &[AuthMechanism::Plain, AuthMechanism::Login],
        Secret::OAuthToken(_) => &[AuthMechanism::XOAuth2],
    };
    preference
        .iter()
        .find(|&wanted| offered.contains(wanted))
        .cloned()
}

/// Which part of the credentials an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialField {
    /// [`Credentials::username`].
    Username,
    /// [`Credentials::secret`].
    Secret,
}

impl fmt::Display for CredentialField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialField::Username => "username",
            CredentialField::Secret => "secret",
        })
    }
}

/// Why authentication could not go on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaslError {
    /// The client does not implement this mechanism.
    UnsupportedMechanism(AuthMechanism),
    /// The secret is the wrong kind for the mechanism: a password for XOAUTH2, or a token
    /// for PLAIN or LOGIN.
    WrongSecretKind {
        /// The mechanism asked for.
        mechanism: AuthMechanism,
    },
    /// A credential holds an octet the mechanism uses as a separator (NUL for PLAIN,
    /// RFC 4616 §2; 0x01 for XOAUTH2), which would let it rewrite the other fields.
    ForbiddenOctet {
        /// The mechanism asked for.
        mechanism: AuthMechanism,
        /// Where the octet is.
        field: CredentialField,
        /// The octet.
        octet: u8,
    },
    /// The server's challenge (counted from 1) is not valid base64 (RFC 4954 §4).
    InvalidBase64 {
        /// Which challenge.
        round: usize,
        /// What is wrong with it.
        cause: Base64Error,
    },
    /// The mechanism has no answer for this challenge (counted from 1): it came after
    /// everything was sent, or had content where the mechanism expects an empty one.
    UnexpectedChallenge {
        /// The mechanism in use.
        mechanism: AuthMechanism,
        /// Which challenge.
        round: usize,
    },
    /// The server sent more than [`MAX_CHALLENGE_ROUNDS`] challenges.
    TooManyChallenges,
    /// SCRAM was asked for without a [`ScramSetup`] (hash functions and nonce).
    ScramNotSetUp,
    /// The SCRAM exchange failed: a bad server message, a wrong server signature, or the
    /// server's `e=` error.
    Scram(ScramError),
}

impl fmt::Display for SaslError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslError::UnsupportedMechanism(mechanism) => {
                write!(f, "SASL mechanism {} is not supported", mechanism.name())
            }
            SaslError::WrongSecretKind { mechanism } => {
                let needs = match mechanism {
                    AuthMechanism::XOAuth2 => "an OAuth token, not a password",
                    _ => "a password, not an OAuth token",
                };
                write!(f, "SASL mechanism {} needs {needs}", mechanism.name())
            }
            SaslError::ForbiddenOctet {
                mechanism,
                field,
                octet,
            } => write!(
                f,
                "the {field} contains octet 0x{octet:02x}, which {} uses as a separator",
                mechanism.name()
            ),
            SaslError::InvalidBase64 { round, cause } => {
                write!(f, "AUTH challenge {round} is not valid base64: {cause}")
            }
            SaslError::UnexpectedChallenge { mechanism, round } => write!(
                f,
                "{} has no answer for AUTH challenge {round}",
                mechanism.name()
            ),
            SaslError::TooManyChallenges => write!(
                f,
                "the server sent more than {MAX_CHALLENGE_ROUNDS} AUTH challenges"
            ),
            SaslError::ScramNotSetUp => {
                f.write_str("SCRAM-SHA-256 needs hash functions and a nonce from the caller")
            }
            SaslError::Scram(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for SaslError {}

/// How far an exchange has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Nothing sent yet.
    Start,
    /// LOGIN: the username is sent, the password is next.
    UsernameSent,
    /// Everything the mechanism has to say is sent.
    CredentialsSent,
    /// XOAUTH2: the server's error report was answered with an empty response.
    ErrorAcknowledged,
}

/// What SCRAM-SHA-256 needs from the caller: the hash functions, and a fresh random
/// nonce for this exchange (see [`crate::scram::MIN_NONCE_LEN`]).
#[derive(Clone)]
pub struct ScramSetup {
    /// SHA-256, HMAC-SHA-256 and PBKDF2.
    pub crypto: Arc<dyn ScramCrypto + Send + Sync>,
    /// The client nonce.
    pub nonce: String,
}

impl fmt::Debug for ScramSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSetup").finish_non_exhaustive()
    }
}

/// A running SCRAM exchange and the functions it hashes with.
#[derive(Clone)]
struct Scram {
    client: ScramClient,
    crypto: Arc<dyn ScramCrypto + Send + Sync>,
}

/// One authentication exchange, client side. Responses are raw bytes; the session
/// base64-encodes them. `Debug` never shows the secret.
#[derive(Clone)]
pub struct SaslClient {
    mechanism: AuthMechanism,
    username: String,
    secret: String,
    stage: Stage,
    /// Challenges answered (or refused) so far.
    rounds: usize,
    xoauth2_error: Option<Vec<u8>>,
    /// SCRAM-SHA-256 only (boxed: the other mechanisms need none of it).
    scram: Option<Box<Scram>>,
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("stage", &self.stage)
            .field("rounds", &self.rounds)
            .finish()
    }
}

/// Refuse `separator` in either credential: the mechanism frames fields with it.
fn refuse_separator(
    mechanism: &AuthMechanism,
    credentials: &Credentials,
    separator: u8,
) -> Result<(), SaslError> {
    for (field, value) in [
        (CredentialField::Username, credentials.username.as_str()),
        (CredentialField::Secret, credentials.secret.as_str()),
    ] {
        if value.as_bytes().contains(&separator) {
            return Err(SaslError::ForbiddenOctet {
                mechanism: mechanism.clone(),
                field,
                octet: separator,
            });
        }
    }
    Ok(())
}

impl SaslClient {
    /// Start an exchange with `mechanism` (one of those [`choose_mechanism`] returns).
    ///
    /// Fails for [`AuthMechanism::Other`], for a secret of the wrong kind, and for a
    /// credential that holds the mechanism's field separator.
    pub fn new(
        mechanism: AuthMechanism,
        credentials: &Credentials,
    ) -> Result<SaslClient, SaslError> {
        SaslClient::start(mechanism, credentials, None)
    }

    /// [`SaslClient::new`], with what SCRAM-SHA-256 needs when that is the mechanism
    /// (without it, SCRAM fails with [`SaslError::ScramNotSetUp`]).
    pub fn start(
        mechanism: AuthMechanism,
        credentials: &Credentials,
        scram: Option<&ScramSetup>,
    ) -> Result<SaslClient, SaslError> {
        let fits = match (&mechanism, &credentials.secret) {
            (
                AuthMechanism::Plain | AuthMechanism::Login | AuthMechanism::ScramSha256,
                Secret::Password(_),
            ) => true,
            (AuthMechanism::XOAuth2, Secret::OAuthToken(_)) => true,
            (AuthMechanism::Other(_), _) => return Err(SaslError::UnsupportedMechanism(mechanism)),
            _ => false,
        };
        if !fits {
            return Err(SaslError::WrongSecretKind { mechanism });
        }
        match mechanism {
            AuthMechanism::Plain => refuse_separator(&mechanism, credentials, 0)?,
            AuthMechanism::XOAuth2 => refuse_separator(&mechanism, credentials, 0x01)?,
            _ => {}
        }
        let scram = match (&mechanism, scram) {
            (AuthMechanism::ScramSha256, None) => return Err(SaslError::ScramNotSetUp),
            (AuthMechanism::ScramSha256, Some(setup)) => Some(Box::new(Scram {
                client: ScramClient::new(
                    &credentials.username,
                    credentials.secret.as_str(),
                    &setup.nonce,
                )
                .map_err(SaslError::Scram)?,
                crypto: setup.crypto.clone(),
            })),
            _ => None,
        };
        Ok(SaslClient {
            scram,
            mechanism,
            username: credentials.username.clone(),
            secret: String::from(credentials.secret.as_str()),
            stage: Stage::Start,
            rounds: 0,
            xoauth2_error: None,
        })
    }

    /// The mechanism in use.
    pub fn mechanism(&self) -> &AuthMechanism {
        &self.mechanism
    }

    /// The initial response to send with the AUTH command, if the mechanism has one.
    ///
    /// PLAIN and XOAUTH2 have one, LOGIN none. It is given at most once, before any
    /// challenge: asking means it is sent. A session that prefers not to send it (a
    /// command line too long, RFC 4954 §4) simply does not ask, and the client answers
    /// the server's empty challenge with it instead.
    pub fn initial_response(&mut self) -> Option<Vec<u8>> {
        if let Some(scram) = &mut self.scram {
            return (!scram.client.is_started()).then(|| scram.client.client_first());
        }
        if self.stage != Stage::Start || self.mechanism == AuthMechanism::Login {
            return None;
        }
        self.stage = Stage::CredentialsSent;
        Some(self.credentials_message())
    }

    /// Answer a 334 challenge (its text, still base64). Errors after
    /// [`MAX_CHALLENGE_ROUNDS`] rounds or on a challenge the mechanism does not expect.
    ///
    /// After an error the session cancels the exchange with `*` (RFC 4954 §4).
    pub fn respond(&mut self, challenge_base64: &[u8]) -> Result<Vec<u8>, SaslError> {
        if self.rounds >= MAX_CHALLENGE_ROUNDS {
            return Err(SaslError::TooManyChallenges);
        }
        self.rounds += 1;
        let round = self.rounds;
        let challenge = base64::decode(challenge_base64)
            .map_err(|cause| SaslError::InvalidBase64 { round, cause })?;
        let unexpected = || SaslError::UnexpectedChallenge {
            mechanism: self.mechanism.clone(),
            round,
        };
        if let Some(scram) = &mut self.scram {
            // No initial response was sent: the server asks for it with an empty challenge.
            if !scram.client.is_started() {
                if !challenge.is_empty() {
                    return Err(unexpected());
                }
                return Ok(scram.client.client_first());
            }
            return scram
                .client
                .respond(&*scram.crypto, &challenge)
                .map_err(SaslError::Scram);
        }
        match (&self.mechanism, self.stage) {
            // LOGIN goes by round: the prompt's wording varies between servers.
            (AuthMechanism::Login, Stage::Start) => {
                self.stage = Stage::UsernameSent;
                Ok(self.username.as_bytes().to_vec())
            }
            (AuthMechanism::Login, Stage::UsernameSent) => {
                self.stage = Stage::CredentialsSent;
                Ok(self.secret.as_bytes().to_vec())
            }
            // No initial response was sent: the server asks for it with an empty challenge.
            (AuthMechanism::Plain | AuthMechanism::XOAuth2, Stage::Start) => {
                if !challenge.is_empty() {
                    return Err(unexpected());
                }
                self.stage = Stage::CredentialsSent;
                Ok(self.credentials_message())
            }
            (AuthMechanism::XOAuth2, Stage::CredentialsSent) => {
                self.stage = Stage::ErrorAcknowledged;
                self.xoauth2_error = Some(challenge);
                Ok(Vec::new())
            }
            _ => Err(unexpected()),
        }
    }

    /// The server said the exchange succeeded (235): may the client believe it? Always,
    /// except for SCRAM before the server's signature was verified
    /// ([`ScramError::ServerNotVerified`]).
    pub fn finish(&self) -> Result<(), SaslError> {
        match &self.scram {
            Some(scram) => scram.client.finish().map_err(SaslError::Scram),
            None => Ok(()),
        }
    }

    /// The error report (JSON, decoded from base64) an XOAUTH2 server sent before failing
    /// the exchange, e.g. `{"status":"401","schemes":"bearer","scope":"..."}`.
    pub fn xoauth2_error(&self) -> Option<&[u8]> {
        self.xoauth2_error.as_deref()
    }

    /// The one message PLAIN and XOAUTH2 send; LOGIN never asks for it.
    fn credentials_message(&self) -> Vec<u8> {
        let mut message = Vec::with_capacity(self.username.len() + self.secret.len() + 24);
        match self.mechanism {
            AuthMechanism::XOAuth2 => {
                message.extend_from_slice(b"user=");
                message.extend_from_slice(self.username.as_bytes());
                message.extend_from_slice(b"\x01auth=Bearer ");
                message.extend_from_slice(self.secret.as_bytes());
                message.extend_from_slice(b"\x01\x01");
            }
            _ => {
                // RFC 4616 §2: [authzid] NUL authcid NUL passwd, authzid left empty.
                message.push(0);
                message.extend_from_slice(self.username.as_bytes());
                message.push(0);
                message.extend_from_slice(self.secret.as_bytes());
            }
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    fn password() -> Credentials {
        Credentials {
            username: "alice@example.test".to_string(),
            secret: Secret::Password("hunter2".to_string()),
        }
    }

    fn token() -> Credentials {
        Credentials {
            username: "alice@example.test".to_string(),
            secret: Secret::OAuthToken("ya29.token".to_string()),
        }
    }

    fn b64(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        base64::encode(text, &mut out);
        out
    }

    fn client(mechanism: AuthMechanism, credentials: &Credentials) -> SaslClient {
        SaslClient::new(mechanism, credentials).unwrap()
    }

    #[test]
    fn chooses_plain_over_login_for_a_password() {
        let offered = [
            AuthMechanism::Login,
            AuthMechanism::Plain,
            AuthMechanism::XOAuth2,
        ];
        assert_eq!(
            choose_mechanism(&offered, &password()),
            Some(AuthMechanism::Plain)
        );
    }

    fn scram_setup() -> ScramSetup {
        ScramSetup {
            crypto: Arc::new(crate::scram::tests::Ring),
            nonce: "rOprNGfwEbeRWgbNEkqO".to_string(),
        }
    }

    #[test]
    fn prefers_scram_over_plain_when_offered_and_set_up() {
        let offered = [
            AuthMechanism::Plain,
            AuthMechanism::from_name("scram-sha-256"),
        ];
        assert_eq!(
            choose_mechanism_with_scram(&offered, &password(), true),
            Some(AuthMechanism::ScramSha256)
        );
        assert_eq!(
            choose_mechanism_with_scram(&offered, &password(), false),
            Some(AuthMechanism::Plain)
        );
        assert_eq!(
            choose_mechanism(&offered, &password()),
            Some(AuthMechanism::Plain)
        );
    }

    #[test]
    fn a_password_scram_cannot_take_as_it_is_goes_by_plain() {
        let offered = [AuthMechanism::ScramSha256, AuthMechanism::Plain];
        let mut accented = password();
        accented.secret = Secret::Password("p\u{e4}ss".to_string());
        assert_eq!(
            choose_mechanism_with_scram(&offered, &accented, true),
            Some(AuthMechanism::Plain)
        );
    }

    #[test]
    fn scram_runs_the_rfc7677_exchange_through_the_sasl_client() {
        let credentials = Credentials {
            username: "user".to_string(),
            secret: Secret::Password("pencil".to_string()),
        };
        let mut scram = SaslClient::start(
            AuthMechanism::ScramSha256,
            &credentials,
            Some(&scram_setup()),
        )
        .unwrap();
        assert_eq!(
            scram.initial_response(),
            Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO".to_vec())
        );
        assert_eq!(scram.initial_response(), None);
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let client_final = scram.respond(&b64(server_first)).unwrap();
        assert!(client_final.ends_with(b",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
        assert_eq!(
            scram.finish(),
            Err(SaslError::Scram(ScramError::ServerNotVerified))
        );
        let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        assert_eq!(scram.respond(&b64(server_final)), Ok(Vec::new()));
        assert_eq!(scram.finish(), Ok(()));
    }

    #[test]
    fn scram_without_a_setup_is_refused() {
        assert_eq!(
            SaslClient::new(AuthMechanism::ScramSha256, &password()).err(),
            Some(SaslError::ScramNotSetUp)
        );
    }

    #[test]
    fn chooses_login_for_a_password_when_plain_is_not_offered() {
        let offered = [AuthMechanism::XOAuth2, AuthMechanism::Login];
        assert_eq!(
            choose_mechanism(&offered, &password()),
            Some(AuthMechanism::Login)
        );
    }

    #[test]
    fn chooses_xoauth2_for_a_token() {
        let offered = [
            AuthMechanism::Plain,
            AuthMechanism::Login,
            AuthMechanism::XOAuth2,
        ];
        assert_eq!(
            choose_mechanism(&offered, &token()),
            Some(AuthMechanism::XOAuth2)
        );
    }

    #[test]
    fn never_chooses_a_mechanism_the_server_did_not_offer() {
        let cram = AuthMechanism::from_name("cram-md5");
        assert_eq!(
            choose_mechanism(&[AuthMechanism::Plain, AuthMechanism::Login], &token()),
            None
        );
        assert_eq!(
            choose_mechanism(&[AuthMechanism::XOAuth2, cram.clone()], &password()),
            None
        );
        assert_eq!(choose_mechanism(&[cram], &password()), None);
        assert_eq!(choose_mechanism(&[], &password()), None);
    }

    #[test]
    fn plain_initial_response_is_nul_username_nul_password() {
        let mut plain = client(AuthMechanism::Plain, &password());
        assert_eq!(
            plain.initial_response(),
            Some(b"\0alice@example.test\0hunter2".to_vec())
        );
    }

    #[test]
    fn plain_answers_the_empty_challenge_when_no_initial_response_was_sent() {
        let mut plain = client(AuthMechanism::Plain, &password());
        assert_eq!(
            plain.respond(b""),
            Ok(b"\0alice@example.test\0hunter2".to_vec())
        );
    }

    #[test]
    fn plain_refuses_a_challenge_with_content() {
        let mut plain = client(AuthMechanism::Plain, &password());
        assert_eq!(
            plain.respond(&b64(b"nonce")),
            Err(SaslError::UnexpectedChallenge {
                mechanism: AuthMechanism::Plain,
                round: 1
            })
        );
    }

    #[test]
    fn plain_refuses_a_challenge_after_the_credentials() {
        let mut plain = client(AuthMechanism::Plain, &password());
        plain.initial_response();
        assert_eq!(
            plain.respond(b""),
            Err(SaslError::UnexpectedChallenge {
                mechanism: AuthMechanism::Plain,
                round: 1
            })
        );
    }

    #[test]
    fn initial_response_is_given_at_most_once() {
        let mut plain = client(AuthMechanism::Plain, &password());
        assert!(plain.initial_response().is_some());
        assert_eq!(plain.initial_response(), None);
    }

    #[test]
    fn login_has_no_initial_response() {
        let mut login = client(AuthMechanism::Login, &password());
        assert_eq!(login.initial_response(), None);
    }

    #[test]
    fn login_answers_username_then_password() {
        let mut login = client(AuthMechanism::Login, &password());
        assert_eq!(
            login.respond(&b64(b"Username:")),
            Ok(b"alice@example.test".to_vec())
        );
        assert_eq!(login.respond(&b64(b"Password:")), Ok(b"hunter2".to_vec()));
    }

    #[test]
    fn login_goes_by_round_order_not_prompt_text() {
        let mut login = client(AuthMechanism::Login, &password());
        assert_eq!(
            login.respond(&b64(b"Password:")),
            Ok(b"alice@example.test".to_vec())
        );
        assert_eq!(
            login.respond(&b64(b"Benutzername")),
            Ok(b"hunter2".to_vec())
        );
    }

    #[test]
    fn login_refuses_a_third_challenge() {
        let mut login = client(AuthMechanism::Login, &password());
        login.respond(&b64(b"Username:")).unwrap();
        login.respond(&b64(b"Password:")).unwrap();
        assert_eq!(
            login.respond(&b64(b"Password:")),
            Err(SaslError::UnexpectedChallenge {
                mechanism: AuthMechanism::Login,
                round: 3
            })
        );
    }

    #[test]
    fn xoauth2_initial_response_is_user_and_bearer_token() {
        let mut oauth = client(AuthMechanism::XOAuth2, &token());
        assert_eq!(
            oauth.initial_response(),
            Some(b"user=alice@example.test\x01auth=Bearer ya29.token\x01\x01".to_vec())
        );
    }

    #[test]
    fn xoauth2_answers_the_error_report_with_an_empty_response() {
        let report = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        let mut oauth = client(AuthMechanism::XOAuth2, &token());
        oauth.initial_response();
        assert_eq!(oauth.respond(&b64(report)), Ok(Vec::new()));
        assert_eq!(oauth.xoauth2_error(), Some(&report[..]));
    }

    #[test]
    fn xoauth2_sends_the_credentials_for_an_empty_challenge_without_initial_response() {
        let mut oauth = client(AuthMechanism::XOAuth2, &token());
        assert_eq!(
            oauth.respond(b""),
            Ok(b"user=alice@example.test\x01auth=Bearer ya29.token\x01\x01".to_vec())
        );
    }

    #[test]
    fn xoauth2_refuses_a_challenge_after_the_error_report() {
        let mut oauth = client(AuthMechanism::XOAuth2, &token());
        oauth.initial_response();
        oauth.respond(&b64(b"{}")).unwrap();
        assert_eq!(
            oauth.respond(&b64(b"{}")),
            Err(SaslError::UnexpectedChallenge {
                mechanism: AuthMechanism::XOAuth2,
                round: 2
            })
        );
    }

    #[test]
    fn rejects_a_password_for_xoauth2() {
        assert_eq!(
            SaslClient::new(AuthMechanism::XOAuth2, &password()).err(),
            Some(SaslError::WrongSecretKind {
                mechanism: AuthMechanism::XOAuth2
            })
        );
    }

    #[test]
    fn rejects_a_token_for_plain_and_login() {
        for mechanism in [AuthMechanism::Plain, AuthMechanism::Login] {
            assert_eq!(
                SaslClient::new(mechanism.clone(), &token()).err(),
                Some(SaslError::WrongSecretKind { mechanism })
            );
        }
    }

    #[test]
    fn rejects_an_unsupported_mechanism() {
        let cram = AuthMechanism::from_name("CRAM-MD5");
        assert_eq!(
            SaslClient::new(cram.clone(), &password()).err(),
            Some(SaslError::UnsupportedMechanism(cram))
        );
    }

    #[test]
    fn rejects_nul_in_plain_credentials() {
        let mut sneaky = password();
        sneaky.username = "alice\0admin".to_string();
        assert_eq!(
            SaslClient::new(AuthMechanism::Plain, &sneaky).err(),
            Some(SaslError::ForbiddenOctet {
                mechanism: AuthMechanism::Plain,
                field: CredentialField::Username,
                octet: 0,
            })
        );
    }

    #[test]
    fn rejects_ctrl_a_in_xoauth2_credentials() {
        let mut sneaky = token();
        sneaky.secret = Secret::OAuthToken("t\x01user=mallory".to_string());
        assert_eq!(
            SaslClient::new(AuthMechanism::XOAuth2, &sneaky).err(),
            Some(SaslError::ForbiddenOctet {
                mechanism: AuthMechanism::XOAuth2,
                field: CredentialField::Secret,
                octet: 1,
            })
        );
    }

    #[test]
    fn rejects_a_challenge_that_is_not_base64() {
        let mut login = client(AuthMechanism::Login, &password());
        let error = login.respond(b"Username:").unwrap_err();
        assert_eq!(
            error,
            SaslError::InvalidBase64 {
                round: 1,
                cause: Base64Error::BadLength(9)
            }
        );
        assert_eq!(
            error.to_string(),
            "AUTH challenge 1 is not valid base64: base64 length 9 is not a multiple of 4"
        );
    }

    #[test]
    fn stops_after_max_challenge_rounds() {
        // No mechanism here needs more than two rounds, so reach the cap from the inside:
        // this checks the backstop that bounds any exchange, including future mechanisms.
        let mut login = client(AuthMechanism::Login, &password());
        login.rounds = MAX_CHALLENGE_ROUNDS - 1;
        assert!(login.respond(&b64(b"Username:")).is_ok());
        assert_eq!(
            login.respond(&b64(b"Password:")),
            Err(SaslError::TooManyChallenges)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let credentials = password();
        let shown = [
            format!("{:?}", credentials.secret),
            format!("{credentials:?}"),
            format!("{:?}", client(AuthMechanism::Plain, &credentials)),
            format!("{:?}", Secret::OAuthToken("ya29.token".to_string())),
        ];
        for text in shown {
            assert!(
                !text.contains("hunter2") && !text.contains("ya29"),
                "{text}"
            );
            assert!(text.contains("<redacted>"), "{text}");
        }
    }

    #[test]
    fn wrong_secret_kind_error_says_what_the_mechanism_needs() {
        let wrong = SaslError::WrongSecretKind {
            mechanism: AuthMechanism::XOAuth2,
        };
        assert_eq!(
            wrong.to_string(),
            "SASL mechanism XOAUTH2 needs an OAuth token, not a password"
        );
    }

    #[test]
    fn forbidden_octet_error_names_the_field_and_the_octet() {
        let forbidden = SaslError::ForbiddenOctet {
            mechanism: AuthMechanism::Plain,
            field: CredentialField::Username,
            octet: 0,
        };
        assert_eq!(
            forbidden.to_string(),
            "the username contains octet 0x00, which PLAIN uses as a separator"
        );
    }
}
