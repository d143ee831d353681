//! The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), sans-IO.
//!
//! SCRAM proves the password without sending it, and proves the server knows it too: the
//! server's last message carries a signature (`v=`) only a holder of the password's salted
//! keys can compute, and the client checks it before it trusts the session. Three messages
//! go out, two come in (RFC 5802 §5):
//!
//! 1. client-first: `n,,n=USER,r=CNONCE` (no channel binding, no authorisation identity);
//! 2. server-first: `r=CNONCE+SNONCE,s=SALT,i=ITERATIONS`, checked: the nonce must extend
//!    ours, the salt must be base64, the iteration count within
//!    [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`], and no mandatory extension (`m=`);
//! 3. client-final: `c=biws,r=NONCE,p=PROOF`;
//! 4. server-final: `v=SIGNATURE`, compared with the signature computed here, or `e=ERROR`.
//!    Either failure is an error, and the client sends nothing further (the session cancels
//!    the exchange and quits).
//!
//! The core has no dependencies, so the hashing comes from the caller: [`ScramCrypto`]
//! supplies SHA-256, HMAC-SHA-256 and PBKDF2-HMAC-SHA-256 (`Hi`, RFC 5802 §2.2); the
//! adapters implement it with `ring`. The client nonce comes from the caller too (the core
//! has no randomness): at least [`MIN_NONCE_LEN`] printable characters, fresh for each
//! exchange.
//!
//! Deliberate deviation: the password is not run through SASLprep (RFC 4013), whose
//! Unicode tables (NFKC, prohibited and mapped code points) do not belong in a
//! zero-dependency core. For printable ASCII, SASLprep is the identity, so such passwords
//! are exact; a password with any other character (non-ASCII or a control character) is
//! refused with [`ScramError::PasswordNotPrintableAscii`], and
//! [`crate::sasl::choose_mechanism_with_scram`] then prefers PLAIN, where the server does
//! the normalising. User names are sent as UTF-8 with `=` and `,` escaped (RFC 5802 §5.1).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::base64;

/// Length in octets of a SHA-256 digest, and so of every key and signature here.
pub const DIGEST_LEN: usize = 32;

/// Fewest PBKDF2 iterations accepted from a server: RFC 7677 §4 says at least 4096. A
/// lower count would let whoever plays the server crack the proof cheaply.
pub const MIN_ITERATIONS: u32 = 4096;

/// Most PBKDF2 iterations accepted from a server: far above any deployed setting (Dovecot
/// and Cyrus use 4096, OWASP's 2023 advice for PBKDF2-SHA256 is 600 000), low enough that a
/// hostile server cannot make the client burn minutes of CPU.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Shortest client nonce accepted from the caller: 16 characters, 96 bits as base64 (the
/// adapters send 24, from 18 random octets).
pub const MIN_NONCE_LEN: usize = 16;

/// SHA-256, HMAC-SHA-256 and PBKDF2-HMAC-SHA-256, supplied by the caller (the core has no
/// dependencies). Test vectors: RFC 6234 (SHA-256), RFC 4231 (HMAC), RFC 7677 §3 (all
/// three, through SCRAM).
pub trait ScramCrypto {
    /// SHA-256 of `data` (`H`, RFC 5802 §2.2).
    fn sha256(&self, data: &[u8]) -> [u8; DIGEST_LEN];
    /// HMAC-SHA-256 of `data` under `key` (RFC 2104).
    fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN];
    /// PBKDF2-HMAC-SHA-256 of `password` and `salt` with `iterations`, one 32-octet block
    /// (`Hi`, RFC 5802 §2.2; RFC 8018 §5.2).
    fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> [u8; DIGEST_LEN];
}

/// Why a SCRAM exchange cannot go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScramError {
    /// The password holds a character other than printable ASCII, which would need SASLprep
    /// (RFC 4013), not implemented here.
    PasswordNotPrintableAscii,
    /// The caller's nonce is shorter than [`MIN_NONCE_LEN`] or holds a character RFC 5802
    /// §7 excludes (anything but printable ASCII other than `,`).
    BadClientNonce,
    /// The server-first message is not `r=…,s=…,i=…[,…]`; names the part that is wrong.
    MalformedServerFirst(&'static str),
    /// The server's nonce does not start with the client's, or adds nothing to it
    /// (RFC 5802 §5.1).
    NonceMismatch,
    /// The server asked for an extension this client does not know (`m=`, RFC 5802 §5.1).
    MandatoryExtension,
    /// The iteration count is outside [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`].
    IterationCount(u32),
    /// The server-final message is neither `v=…` nor `e=…`.
    MalformedServerFinal,
    /// The server's signature is not the one the password gives: the server does not know
    /// the password (or someone in the path is playing it).
    ServerSignatureMismatch,
    /// The server reported an error in its final message (`e=`, RFC 5802 §7).
    ServerError(String),
    /// The server said the exchange succeeded before proving itself with `v=`.
    ServerNotVerified,
    /// A message arrived after the exchange was over (or failed).
    UnexpectedMessage,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScramError::PasswordNotPrintableAscii => f.write_str(
                "the password is not printable ASCII, and SCRAM would need SASLprep for it",
            ),
            ScramError::BadClientNonce => f.write_str(
                "the SCRAM client nonce is too short or holds a character other than printable ASCII without ','",
            ),
            ScramError::MalformedServerFirst(part) => {
                write!(f, "the SCRAM server-first message is malformed: {part}")
            }
            ScramError::NonceMismatch => {
                f.write_str("the SCRAM server nonce does not extend the client's")
            }
            ScramError::MandatoryExtension => {
                f.write_str("the SCRAM server requires an unknown mandatory extension")
            }
            ScramError::IterationCount(count) => write!(
                f,
                "the SCRAM iteration count {count} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ),
            ScramError::MalformedServerFinal => {
                f.write_str("the SCRAM server-final message is neither v= nor e=")
            }
            ScramError::ServerSignatureMismatch => f.write_str(
                "the SCRAM server signature is wrong: the server does not know the password",
            ),
            ScramError::ServerError(error) => write!(f, "the SCRAM server reported: {error}"),
            ScramError::ServerNotVerified => f.write_str(
                "the server accepted authentication without proving itself (no SCRAM v=)",
            ),
            ScramError::UnexpectedMessage => {
                f.write_str("a SCRAM message arrived after the exchange was over")
            }
        }
    }
}

/// How far the exchange has got.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Stage {
    /// client-first not yet sent.
    Start,
    /// client-first sent; server-first awaited.
    FirstSent,
    /// client-final sent; server-final awaited, to be checked against this signature.
    FinalSent([u8; DIGEST_LEN]),
    /// The server's signature was right.
    Verified,
    /// Something failed; nothing more is answered.
    Failed,
}

/// One SCRAM-SHA-256 exchange, client side. Messages are raw (the session base64-encodes
/// them for AUTH). `Debug` never shows the password.
#[derive(Clone)]
pub struct ScramClient {
    /// `n=USER,r=CNONCE`, kept for the AuthMessage.
    client_first_bare: String,
    nonce: String,
    password: String,
    stage: Stage,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("client_first_bare", &self.client_first_bare)
            .field("password", &"<redacted>")
            .field("stage", &self.stage)
            .finish()
    }
}

/// True when SCRAM can take `password` as it is (see the module's SASLprep note).
pub fn password_is_usable(password: &str) -> bool {
    password.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// `saslname` (RFC 5802 §5.1): `=` as `=3D`, `,` as `=2C`.
fn escape_username(username: &str, out: &mut String) {
    for c in username.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
}

impl ScramClient {
    /// An exchange for `username` and `password`, with the caller's fresh random `nonce`.
    pub fn new(username: &str, password: &str, nonce: &str) -> Result<ScramClient, ScramError> {
        if !password_is_usable(password) {
            return Err(ScramError::PasswordNotPrintableAscii);
        }
        if nonce.len() < MIN_NONCE_LEN
            || !nonce
                .bytes()
                .all(|b| (0x21..0x7f).contains(&b) && b != b',')
        {
            return Err(ScramError::BadClientNonce);
        }
        let mut client_first_bare = String::from("n=");
        escape_username(username, &mut client_first_bare);
        client_first_bare.push_str(",r=");
        client_first_bare.push_str(nonce);
        Ok(ScramClient {
            client_first_bare,
            nonce: String::from(nonce),
            password: String::from(password),
            stage: Stage::Start,
        })
    }

    /// The client-first message (the AUTH initial response): `n,,n=USER,r=CNONCE`.
    pub fn client_first(&mut self) -> Vec<u8> {
        self.stage = Stage::FirstSent;
        let mut message = Vec::with_capacity(self.client_first_bare.len() + 3);
        message.extend_from_slice(b"n,,");
        message.extend_from_slice(self.client_first_bare.as_bytes());
        message
    }

    /// True before the client-first message has been produced.
    pub fn is_started(&self) -> bool {
        self.stage != Stage::Start
    }

    /// Answer a server message: the client-final message for server-first, an empty
    /// response for a verified server-final. Any failure is final: later calls fail too.
    pub fn respond(
        &mut self,
        crypto: &dyn ScramCrypto,
        server_message: &[u8],
    ) -> Result<Vec<u8>, ScramError> {
        let stage = core::mem::replace(&mut self.stage, Stage::Failed);
        let (result, next) = match stage {
            Stage::FirstSent => match self.client_final(crypto, server_message) {
                Ok((message, signature)) => (Ok(message), Stage::FinalSent(signature)),
                Err(e) => (Err(e), Stage::Failed),
            },
            Stage::FinalSent(expected) => match verify_server_final(&expected, server_message) {
                Ok(()) => (Ok(Vec::new()), Stage::Verified),
                Err(e) => (Err(e), Stage::Failed),
            },
            Stage::Start | Stage::Verified | Stage::Failed => {
                (Err(ScramError::UnexpectedMessage), Stage::Failed)
            }
        };
        self.stage = next;
        result
    }

    /// The server said the exchange succeeded (235): true only if it proved itself.
    pub fn finish(&self) -> Result<(), ScramError> {
        match self.stage {
            Stage::Verified => Ok(()),
            _ => Err(ScramError::ServerNotVerified),
        }
    }

    /// client-final for `server_first`, and the server signature to expect.
    fn client_final(
        &self,
        crypto: &dyn ScramCrypto,
        server_first: &[u8],
    ) -> Result<(Vec<u8>, [u8; DIGEST_LEN]), ScramError> {
        let text = core::str::from_utf8(server_first)
            .map_err(|_| ScramError::MalformedServerFirst("not UTF-8"))?;
        let first = ServerFirst::parse(text)?;
        let extends = first.nonce.len() > self.nonce.len() && first.nonce.starts_with(&self.nonce);
        if !extends {
            return Err(ScramError::NonceMismatch);
        }
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&first.iterations) {
            return Err(ScramError::IterationCount(first.iterations));
        }
        let salt = base64::decode(first.salt.as_bytes())
            .map_err(|_| ScramError::MalformedServerFirst("s= is not base64"))?;
        if salt.is_empty() {
            return Err(ScramError::MalformedServerFirst("s= is empty"));
        }
        // c=biws: base64 of the GS2 header "n,," (no channel binding).
        let mut without_proof = String::from("c=biws,r=");
        without_proof.push_str(first.nonce);

        let salted = crypto.pbkdf2_sha256(self.password.as_bytes(), &salt, first.iterations);
        let client_key = crypto.hmac_sha256(&salted, b"Client Key");
        let stored_key = crypto.sha256(&client_key);
        let mut auth_message =
            Vec::with_capacity(self.client_first_bare.len() + text.len() + without_proof.len() + 2);
        auth_message.extend_from_slice(self.client_first_bare.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(text.as_bytes());
        auth_message.push(b',');
        auth_message.extend_from_slice(without_proof.as_bytes());
        let client_signature = crypto.hmac_sha256(&stored_key, &auth_message);
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature.iter()) {
            *p ^= s;
        }
        let server_key = crypto.hmac_sha256(&salted, b"Server Key");
        let server_signature = crypto.hmac_sha256(&server_key, &auth_message);

        let mut message = without_proof.into_bytes();
        message.extend_from_slice(b",p=");
        base64::encode(&proof, &mut message);
        Ok((message, server_signature))
    }
}

/// The fields of server-first-message (RFC 5802 §7) this client uses.
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: &'a str,
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    fn parse(text: &'a str) -> Result<ServerFirst<'a>, ScramError> {
        if text.starts_with("m=") {
            return Err(ScramError::MandatoryExtension);
        }
        let mut parts = text.split(',');
        let nonce = parts
            .next()
            .and_then(|p| p.strip_prefix("r="))
            .ok_or(ScramError::MalformedServerFirst("r= missing"))?;
        let salt = parts
            .next()
            .and_then(|p| p.strip_prefix("s="))
            .ok_or(ScramError::MalformedServerFirst("s= missing"))?;
        let count = parts
            .next()
            .and_then(|p| p.strip_prefix("i="))
            .ok_or(ScramError::MalformedServerFirst("i= missing"))?;
        // RFC 5802 §7: the count is a positive number without sign or leading zeros.
        if count.is_empty() || count.len() > 10 || !count.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ScramError::MalformedServerFirst("i= is not a number"));
        }
        let iterations = count
            .parse::<u64>()
            .ok()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .ok_or(ScramError::MalformedServerFirst("i= is not a number"))?;
        if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..0x7f).contains(&b)) {
            return Err(ScramError::MalformedServerFirst("r= is not printable"));
        }
        // Extensions after i= are optional ones (RFC 5802 §5.1 reserves them): ignored.
        Ok(ServerFirst {
            nonce,
            salt,
            iterations,
        })
    }
}

/// Check server-final-message (RFC 5802 §7) against the signature computed for it.
fn verify_server_final(expected: &[u8; DIGEST_LEN], message: &[u8]) -> Result<(), ScramError> {
    let text = core::str::from_utf8(message).map_err(|_| ScramError::MalformedServerFinal)?;
    let first = text.split(',').next().unwrap_or("");
    if let Some(error) = first.strip_prefix("e=") {
        return Err(ScramError::ServerError(String::from(error)));
    }
    let signature = first
        .strip_prefix("v=")
        .ok_or(ScramError::MalformedServerFinal)?;
    let signature =
        base64::decode(signature.as_bytes()).map_err(|_| ScramError::MalformedServerFinal)?;
    // Not secret (the server sent it), but compared in full anyway.
    let same = signature.len() == DIGEST_LEN
        && signature
            .iter()
            .zip(expected.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if same {
        Ok(())
    } else {
        Err(ScramError::ServerSignatureMismatch)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::ToString;

    /// `ring`'s SHA-256 family, as the adapters use it (a dev-dependency: never linked into
    /// the core).
    pub(crate) struct Ring;

    impl ScramCrypto for Ring {
        fn sha256(&self, data: &[u8]) -> [u8; DIGEST_LEN] {
            let digest = ring::digest::digest(&ring::digest::SHA256, data);
            let mut out = [0; DIGEST_LEN];
            out.copy_from_slice(digest.as_ref());
            out
        }
        fn hmac_sha256(&self, key: &[u8], data: &[u8]) -> [u8; DIGEST_LEN] {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
            let tag = ring::hmac::sign(&key, data);
            let mut out = [0; DIGEST_LEN];
            out.copy_from_slice(tag.as_ref());
            out
        }
        fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> [u8; DIGEST_LEN] {
            let mut out = [0; DIGEST_LEN];
            let iterations = core::num::NonZeroU32::new(iterations).unwrap();
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                salt,
                password,
                &mut out,
            );
            out
        }
    }

    // RFC 7677 §3.
    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_client() -> ScramClient {
        ScramClient::new("user", "pencil", NONCE).unwrap()
    }

    #[test]
    fn rfc7677_vectors() {
        let mut client = rfc_client();
        assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert_eq!(client.respond(&Ring, SERVER_FIRST).unwrap(), CLIENT_FINAL);
        assert_eq!(client.finish(), Err(ScramError::ServerNotVerified));
        assert_eq!(client.respond(&Ring, SERVER_FINAL).unwrap(), b"");
        assert_eq!(client.finish(), Ok(()));
        assert_eq!(
            client.respond(&Ring, SERVER_FINAL),
            Err(ScramError::UnexpectedMessage)
        );
    }

    #[test]
    fn new_builds_the_client_first_message_with_an_escaped_name() {
        let nonce = "fyko+d2lbbFgONRv9qkxdawL";
        let mut client = ScramClient::new("a=b,c", "pencil", nonce).unwrap();
        assert!(!client.is_started());
        assert_eq!(
            client.client_first(),
            b"n,,n=a=3Db=2Cc,r=fyko+d2lbbFgONRv9qkxdawL"
        );
        assert!(client.is_started());
    }

    #[test]
    fn a_forged_server_signature_is_refused_and_ends_the_exchange() {
        let mut client = rfc_client();
        client.client_first();
        client.respond(&Ring, SERVER_FIRST).unwrap();
        let forged = b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(
            client.respond(&Ring, forged),
            Err(ScramError::ServerSignatureMismatch)
        );
        assert_eq!(client.finish(), Err(ScramError::ServerNotVerified));
        assert_eq!(
            client.respond(&Ring, SERVER_FINAL),
            Err(ScramError::UnexpectedMessage)
        );
    }

    #[test]
    fn a_server_error_is_reported() {
        let mut client = rfc_client();
        client.client_first();
        client.respond(&Ring, SERVER_FIRST).unwrap();
        assert_eq!(
            client.respond(&Ring, b"e=invalid-proof"),
            Err(ScramError::ServerError("invalid-proof".to_string()))
        );
    }

    #[test]
    fn a_truncated_or_garbled_server_final_is_refused() {
        for message in [&b"v=6rriTRBi23WpRR"[..], b"x=1", b"", b"v=!!!!"] {
            let mut client = rfc_client();
            client.client_first();
            client.respond(&Ring, SERVER_FIRST).unwrap();
            assert!(client.respond(&Ring, message).is_err(), "{message:?}");
            assert_eq!(client.finish(), Err(ScramError::ServerNotVerified));
        }
    }

    fn first_error(server_first: &str) -> ScramError {
        let mut client = rfc_client();
        client.client_first();
        client.respond(&Ring, server_first.as_bytes()).unwrap_err()
    }

    #[test]
    fn server_first_is_validated() {
        let salt = "s=W22ZaJ0SNY7soEsUEjb6gQ==";
        let nonce = "r=rOprNGfwEbeRWgbNEkqOxyz";
        assert_eq!(
            first_error(&alloc::format!("r=someoneelse,{salt},i=4096")),
            ScramError::NonceMismatch
        );
        assert_eq!(
            first_error(&alloc::format!("r={NONCE},{salt},i=4096")),
            ScramError::NonceMismatch
        );
        assert_eq!(
            first_error(&alloc::format!("m=ext,{nonce},{salt},i=4096")),
            ScramError::MandatoryExtension
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},{salt},i=1")),
            ScramError::IterationCount(1)
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},{salt},i=4294967295")),
            ScramError::IterationCount(u32::MAX)
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},{salt},i=99999999999999")),
            ScramError::MalformedServerFirst("i= is not a number")
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},{salt},i=-5")),
            ScramError::MalformedServerFirst("i= is not a number")
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},s=!!,i=4096")),
            ScramError::MalformedServerFirst("s= is not base64")
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},s=,i=4096")),
            ScramError::MalformedServerFirst("s= is empty")
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},i=4096")),
            ScramError::MalformedServerFirst("s= missing")
        );
        assert_eq!(
            first_error(&alloc::format!("{salt},{nonce},i=4096")),
            ScramError::MalformedServerFirst("r= missing")
        );
        assert_eq!(
            first_error(&alloc::format!("{nonce},{salt}")),
            ScramError::MalformedServerFirst("i= missing")
        );
    }

    #[test]
    fn optional_extensions_after_the_count_are_ignored() {
        let mut client = rfc_client();
        client.client_first();
        let mut with_extension = SERVER_FIRST.to_vec();
        with_extension.extend_from_slice(b",x=future");
        assert!(client.respond(&Ring, &with_extension).is_ok());
    }

    #[test]
    fn passwords_that_would_need_saslprep_and_bad_nonces_are_refused() {
        let nonce = "fyko+d2lbbFgONRv9qkxdawL";
        assert_eq!(
            ScramClient::new("user", "p\u{e4}ssword", nonce).err(),
            Some(ScramError::PasswordNotPrintableAscii)
        );
        assert_eq!(
            ScramClient::new("user", "tab\there", nonce).err(),
            Some(ScramError::PasswordNotPrintableAscii)
        );
        assert_eq!(
            ScramClient::new("user", "pencil", "short").err(),
            Some(ScramError::BadClientNonce)
        );
        assert_eq!(
            ScramClient::new("user", "pencil", "fyko+d2lbbFgO,Rv9qkxdawL").err(),
            Some(ScramError::BadClientNonce)
        );
        assert!(ScramClient::new("user", "pen cil~", nonce).is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let client = ScramClient::new("user", "pencil", "fyko+d2lbbFgONRv9qkxdawL").unwrap();
        let shown = alloc::format!("{client:?}");
        assert!(!shown.contains("pencil") && shown.contains("<redacted>"));
    }
}
