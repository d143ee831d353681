//! DKIM signing (RFC 6376, RFC 8463) of messages as they stream: keys, signers, and the
//! signed body that [`Relay::dkim`](crate::Relay::dkim) and
//! [`MxDelivery::dkim`](crate::MxDelivery::dkim) put in front of each message.
//!
//! The `DKIM-Signature` header goes first, but it holds the hash of the body, so signing
//! takes two passes over a re-readable [`BodySource`] and never holds the body in memory:
//! 1. [`sign`] reads the message once through the same CRLF normalisation the session
//!    applies ([`mxsend_core::transparency::DataEncoder`], BDAT framing: the bytes that go on
//!    the wire before dot-stuffing), keeps the header block, streams the body through the
//!    core's canonicalizer into SHA-256, then signs and writes one header per signer;
//! 2. the [`SignedBody`] it returns reads those headers and then the message again, for
//!    each connection that sends it.
//!
//! So what is signed is the message as composed and sent: after Date and Message-ID were
//! added and Bcc removed ([`crate::compose`]), before dot-stuffing. A [`crate::ReaderBody`]
//! can be read only once and gets [`DkimError::OneShotBody`] before anything is read.
//!
//! Canonicalization and the header text are the core's ([`mxsend_core::dkim`]), pure
//! functions; the hash and the private-key operations are ring's, already linked for TLS
//! (rustls' provider): RSASSA-PKCS1-v1_5 with SHA-256 for RSA keys of 2048 bits and more
//! (RFC 8301), Ed25519 over the SHA-256 of the signed data (RFC 8463 §3). Keys are read
//! from PEM: PKCS#1 `RSA PRIVATE KEY` (openssl genrsa, opendkim-genkey) or PKCS#8
//! `PRIVATE KEY` (openssl genpkey, for RSA and Ed25519).
//!
//! ```
//! use mxsend::dkim::{sign, DkimKey, DkimSigner};
//! use mxsend::BodySource;
//! use std::io::Read;
//! # let pem = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ed25519.pem"))?;
//!
//! let key = DkimKey::from_pem(&pem)?;
//! println!("publish at sel._domainkey.example.org: {}", key.dns_record());
//! let signer = DkimSigner::new(key, "sel").domain("example.org");
//! let message = b"From: a@example.org\r\nSubject: hi\r\n\r\nhello\r\n".to_vec();
//! let signed = sign(&[signer], &message, std::time::SystemTime::now())?;
//! let mut text = String::new();
//! signed.open()?.read_to_string(&mut text)?;
//! assert!(text.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;"));
//! assert!(text.ends_with("\r\n\r\nhello\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mxsend_core::dkim::body::BodyCanonicalizer;
use mxsend_core::dkim::header::{fields, signed_header_names};
use mxsend_core::dkim::signature::{Algorithm, SignatureSpec, UnsignedSignature};
use mxsend_core::dkim::{Canonicalization, Digest, MessageSplitter, SIGNED_HEADERS};
use mxsend_core::transparency::{DataEncoder, Framing};
use ring::signature::{Ed25519KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;

use crate::attempt::BODY_CHUNK;
use crate::message::{BodySource, Message};

/// The smallest RSA key signed with, in bits (RFC 8301 §3.2: verifiers may refuse smaller).
pub const MIN_RSA_BITS: usize = 2048;

/// Fields signed once more than they occur (RFC 6376 §8.15): a `From` added in transit, the
/// one a reader sees first, then breaks the signature.
const OVERSIGNED: &[&str] = &["from"];

/// Why a key cannot be used or a message cannot be signed.
#[derive(Debug)]
pub enum DkimError {
    /// The key file cannot be read.
    KeyFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
    /// The key is not a PEM private key of a kind supported here (PKCS#1 RSA, PKCS#8 RSA or
    /// Ed25519); the text says what was found.
    UnsupportedKey(String),
    /// An RSA key shorter than [`MIN_RSA_BITS`].
    RsaKeyTooSmall {
        /// Its size in bits, when known.
        bits: Option<usize>,
    },
    /// The message content comes from a one-pass reader, and signing must read it twice:
    /// once for the body hash, once to send it. Spool it to a file first.
    OneShotBody,
    /// The content could not be read for the body hash.
    Read(io::Error),
    /// No signing domain was configured and the message's `From` has no usable domain.
    NoFromDomain,
    /// The message or the signer's settings cannot be signed (no From, a header block too
    /// large, a bad selector or domain).
    Message(mxsend_core::dkim::DkimError),
    /// The private-key operation failed (ring gives no detail).
    Signing,
}

impl fmt::Display for DkimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DkimError::KeyFile { path, error } => {
                write!(f, "cannot read the DKIM key {}: {error}", path.display())
            }
            DkimError::UnsupportedKey(what) => write!(
                f,
                "unusable DKIM key ({what}): expected a PEM RSA (PKCS#1 or PKCS#8) or \
                 Ed25519 (PKCS#8) private key"
            ),
            DkimError::RsaKeyTooSmall { bits } => {
                match bits {
                    Some(bits) => write!(f, "the DKIM RSA key has {bits} bits")?,
                    None => f.write_str("the DKIM RSA key is too small")?,
                }
                write!(f, "; receivers require at least {MIN_RSA_BITS} (RFC 8301)")
            }
            DkimError::OneShotBody => f.write_str(
                "DKIM signing reads the message twice (body hash first), but its content \
                 comes from a reader that can be read only once (ReaderBody::streamed); use \
                 ReaderBody::new, which spools it, or a file",
            ),
            DkimError::Read(error) => write!(f, "reading the message to sign it: {error}"),
            DkimError::NoFromDomain => {
                f.write_str("no DKIM signing domain given and the From header has no domain to use")
            }
            DkimError::Message(error) => write!(f, "DKIM: {error}"),
            DkimError::Signing => f.write_str("the DKIM private-key operation failed"),
        }
    }
}

impl std::error::Error for DkimError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DkimError::KeyFile { error, .. } | DkimError::Read(error) => Some(error),
            _ => None,
        }
    }
}

impl From<mxsend_core::dkim::DkimError> for DkimError {
    fn from(error: mxsend_core::dkim::DkimError) -> DkimError {
        DkimError::Message(error)
    }
}

#[derive(Clone)]
enum KeyPair {
    Rsa(Arc<RsaKeyPair>),
    Ed25519(Arc<Ed25519KeyPair>),
}

/// A DKIM private key: RSA (2048 bits and up) or Ed25519. Cheap to clone.
#[derive(Clone)]
pub struct DkimKey {
    pair: KeyPair,
}

impl fmt::Debug for DkimKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the key itself.
        write!(f, "DkimKey({})", self.algorithm().name())
    }
}

impl DkimKey {
    /// A key from PEM text: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY` (PKCS#8, RSA or
    /// Ed25519).
    pub fn from_pem(pem: &[u8]) -> Result<DkimKey, DkimError> {
        let der = PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| DkimError::UnsupportedKey(format!("no PEM private key: {e}")))?;
        let pair = match &der {
            PrivateKeyDer::Pkcs1(der) => KeyPair::Rsa(Arc::new(rsa_pair(RsaKeyPair::from_der(
                der.secret_pkcs1_der(),
            ))?)),
            PrivateKeyDer::Pkcs8(der) => {
                let bytes = der.secret_pkcs8_der();
                match Ed25519KeyPair::from_pkcs8_maybe_unchecked(bytes) {
                    Ok(pair) => KeyPair::Ed25519(Arc::new(pair)),
                    Err(_) => KeyPair::Rsa(Arc::new(rsa_pair(RsaKeyPair::from_pkcs8(bytes))?)),
                }
            }
            PrivateKeyDer::Sec1(_) => {
                return Err(DkimError::UnsupportedKey(
                    "an EC key, which DKIM does not use".into(),
                ))
            }
            _ => return Err(DkimError::UnsupportedKey("an unknown key format".into())),
        };
        let key = DkimKey { pair };
        if let KeyPair::Rsa(rsa) = &key.pair {
            let bits = rsa.public().modulus_len() * 8;
            if bits < MIN_RSA_BITS {
                return Err(DkimError::RsaKeyTooSmall { bits: Some(bits) });
            }
        }
        Ok(key)
    }

    /// A key from a PEM file.
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<DkimKey, DkimError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|error| DkimError::KeyFile {
            path: path.to_path_buf(),
            error,
        })?;
        DkimKey::from_pem(&pem)
    }

    /// The signing algorithm this key implies.
    pub fn algorithm(&self) -> Algorithm {
        match self.pair {
            KeyPair::Rsa(_) => Algorithm::RsaSha256,
            KeyPair::Ed25519(_) => Algorithm::Ed25519Sha256,
        }
    }

    /// The public key record to publish as TXT at `SELECTOR._domainkey.DOMAIN` (RFC 6376
    /// §3.6.1): `v=DKIM1; k=rsa; p=...` with the SubjectPublicKeyInfo for RSA, or
    /// `k=ed25519` with the raw 32-octet key (RFC 8463 §4).
    pub fn dns_record(&self) -> String {
        let public = match &self.pair {
            KeyPair::Rsa(rsa) => rsa_subject_public_key_info(rsa.public().as_ref()),
            KeyPair::Ed25519(ed) => ring::signature::KeyPair::public_key(ed.as_ref())
                .as_ref()
                .to_vec(),
        };
        let mut p = Vec::new();
        mxsend_core::base64::encode(&public, &mut p);
        format!(
            "v=DKIM1; k={}; p={}",
            self.algorithm().key_type(),
            String::from_utf8_lossy(&p)
        )
    }

    /// Sign `data` (RFC 6376 §3.7's octets).
    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, DkimError> {
        match &self.pair {
            KeyPair::Rsa(rsa) => {
                let mut signature = vec![0; rsa.public().modulus_len()];
                let rng = ring::rand::SystemRandom::new();
                rsa.sign(&RSA_PKCS1_SHA256, &rng, data, &mut signature)
                    .map_err(|_| DkimError::Signing)?;
                Ok(signature)
            }
            KeyPair::Ed25519(ed) => {
                // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data (PureEdDSA over it).
                let hash = ring::digest::digest(&ring::digest::SHA256, data);
                Ok(ed.sign(hash.as_ref()).as_ref().to_vec())
            }
        }
    }
}

fn rsa_pair(pair: Result<RsaKeyPair, ring::error::KeyRejected>) -> Result<RsaKeyPair, DkimError> {
    pair.map_err(|e| match e.to_string().as_str() {
        "TooSmall" => DkimError::RsaKeyTooSmall { bits: None },
        other => DkimError::UnsupportedKey(format!("ring rejected the RSA key: {other}")),
    })
}

/// A DER length.
fn der_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// An RSAPublicKey (PKCS#1, what ring gives) wrapped in a SubjectPublicKeyInfo (RFC 5280
/// §4.1, rsaEncryption), the form DKIM records carry.
fn rsa_subject_public_key_info(rsa_public_key: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bit_string = vec![0x03];
    der_length(rsa_public_key.len() + 1, &mut bit_string);
    bit_string.push(0);
    bit_string.extend_from_slice(rsa_public_key);
    let mut spki = vec![0x30];
    der_length(RSA_ENCRYPTION.len() + bit_string.len(), &mut spki);
    spki.extend_from_slice(RSA_ENCRYPTION);
    spki.extend_from_slice(&bit_string);
    spki
}

/// One signature to add to each message: a key, its selector, and the signing domain.
///
/// relaxed/relaxed by default ([`DkimSigner::canonicalization`] for simple/simple), `t=`
/// always, `x=` with [`DkimSigner::expire_after`]; the fields signed are
/// [`SIGNED_HEADERS`] that are present, `From` over-signed. Several signers give several
/// signatures (an RSA and an Ed25519 one, RFC 8463 §5 suggests both for now).
#[derive(Clone, Debug)]
pub struct DkimSigner {
    /// The private key.
    pub key: DkimKey,
    /// `s=`: where the key is published, `SELECTOR._domainkey.DOMAIN`.
    pub selector: String,
    /// `d=`; `None` for the domain of the message's `From` address.
    pub domain: Option<String>,
    /// Header canonicalization.
    pub header_canonicalization: Canonicalization,
    /// Body canonicalization.
    pub body_canonicalization: Canonicalization,
    /// `x=` this long after `t=`, if set.
    pub expire_after: Option<Duration>,
}

impl DkimSigner {
    /// A signer with `key` at `selector`, for the From domain, relaxed/relaxed.
    pub fn new(key: DkimKey, selector: impl Into<String>) -> DkimSigner {
        DkimSigner {
            key,
            selector: selector.into(),
            domain: None,
            header_canonicalization: Canonicalization::Relaxed,
            body_canonicalization: Canonicalization::Relaxed,
            expire_after: None,
        }
    }

    /// Sign for this domain (`d=`) instead of the From domain.
    pub fn domain(mut self, domain: impl Into<String>) -> DkimSigner {
        self.domain = Some(domain.into());
        self
    }

    /// With these header and body canonicalizations.
    pub fn canonicalization(mut self, header: Canonicalization, body: Canonicalization) -> Self {
        self.header_canonicalization = header;
        self.body_canonicalization = body;
        self
    }

    /// Say the signature expires (`x=`) this long after signing.
    pub fn expire_after(mut self, lifetime: Duration) -> DkimSigner {
        self.expire_after = Some(lifetime);
        self
    }
}

/// SHA-256 as the core's [`Digest`].
struct Sha256(ring::digest::Context);

impl Digest for Sha256 {
    fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// Pass one, sans I/O: the message's chunks in (as the source gives them), the
/// `DKIM-Signature` headers out. The blocking and async signers both drive it.
pub struct Signing<'s> {
    signers: &'s [DkimSigner],
    encoder: DataEncoder,
    splitter: MessageSplitter,
    /// One canonicalizer and hash per body canonicalization in use.
    bodies: Vec<(BodyCanonicalizer, Sha256)>,
    wire: Vec<u8>,
}

impl<'s> Signing<'s> {
    /// Start pass one for `signers`.
    pub fn new(signers: &'s [DkimSigner]) -> Signing<'s> {
        let mut bodies: Vec<(BodyCanonicalizer, Sha256)> = Vec::new();
        for signer in signers {
            let canonicalization = signer.body_canonicalization;
            if !bodies
                .iter()
                .any(|(b, _)| b.canonicalization() == canonicalization)
            {
                bodies.push((
                    BodyCanonicalizer::new(canonicalization),
                    Sha256(ring::digest::Context::new(&ring::digest::SHA256)),
                ));
            }
        }
        Signing {
            signers,
            encoder: DataEncoder::new(Framing::Bdat),
            splitter: MessageSplitter::new(),
            bodies,
            wire: Vec::with_capacity(BODY_CHUNK + 2),
        }
    }

    /// The next chunk of the message as its source gives it.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), DkimError> {
        self.wire.clear();
        self.encoder.encode(chunk, &mut self.wire);
        self.feed_wire()
    }

    fn feed_wire(&mut self) -> Result<(), DkimError> {
        let body = self.splitter.push(&self.wire)?;
        if !body.is_empty() {
            for (canonicalizer, digest) in &mut self.bodies {
                canonicalizer.feed(body, digest);
            }
        }
        Ok(())
    }

    /// The end of the message: the `DKIM-Signature` header fields, one per signer in order,
    /// signed at `now`.
    pub fn finish(mut self, now: SystemTime) -> Result<Vec<u8>, DkimError> {
        self.wire.clear();
        self.encoder.finish(&mut self.wire);
        self.feed_wire()?;
        let header_block = self.splitter.finish();
        let hashes: Vec<(Canonicalization, Vec<u8>)> = self
            .bodies
            .into_iter()
            .map(|(canonicalizer, mut digest)| {
                let canonicalization = canonicalizer.canonicalization();
                canonicalizer.finish(&mut digest);
                (canonicalization, digest.0.finish().as_ref().to_vec())
            })
            .collect();
        let timestamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let signed_headers = signed_header_names(&header_block, SIGNED_HEADERS, OVERSIGNED);
        let from_domain = from_domain(&header_block);
        if !fields(&header_block).iter().any(|f| f.is("from")) {
            return Err(mxsend_core::dkim::DkimError::NoFrom.into());
        }
        let mut out = Vec::new();
        for signer in self.signers {
            let domain = signer
                .domain
                .as_deref()
                .or(from_domain.as_deref())
                .ok_or(DkimError::NoFromDomain)?;
            let body_hash = hashes
                .iter()
                .find(|(c, _)| *c == signer.body_canonicalization)
                .map(|(_, hash)| hash.as_slice())
                .unwrap_or_default();
            let spec = SignatureSpec {
                algorithm: signer.key.algorithm(),
                header_canonicalization: signer.header_canonicalization,
                body_canonicalization: signer.body_canonicalization,
                domain,
                selector: &signer.selector,
                timestamp,
                expiration: signer
                    .expire_after
                    .map(|lifetime| timestamp.saturating_add(lifetime.as_secs())),
                signed_headers: &signed_headers,
                body_hash,
            };
            let unsigned = UnsignedSignature::new(&spec)?;
            let data = unsigned.data_to_sign(&header_block, &signed_headers);
            out.extend_from_slice(&unsigned.complete(&signer.key.sign(&data)?));
        }
        Ok(out)
    }
}

/// The domain of the (last) `From` field's first address: what `d=` defaults to, lower case.
fn from_domain(header_block: &[u8]) -> Option<String> {
    let fields = fields(header_block);
    let from = fields.iter().rev().find(|f| f.is("from"))?;
    let value = String::from_utf8_lossy(from.value());
    // The first angle-bracketed address, else the first of a list of bare addresses.
    let address = match value.find('<') {
        Some(open) => value.get(open + 1..)?.split('>').next()?,
        None => value.split(',').next()?,
    };
    let domain = address.rsplit_once('@')?.1.trim();
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let valid = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    valid.then_some(domain)
}

/// A message's content with `DKIM-Signature` headers in front: what [`sign`] returns.
/// Re-readable as its inner source is; each [`BodySource::open`] reads the headers, then the
/// content from its start.
#[derive(Clone, Debug)]
pub struct SignedBody<B> {
    headers: Arc<[u8]>,
    body: B,
}

impl<B> SignedBody<B> {
    /// The `DKIM-Signature` header fields, CRLF ended.
    pub fn signature_headers(&self) -> &[u8] {
        &self.headers
    }

    /// The content signed.
    pub fn inner(&self) -> &B {
        &self.body
    }
}

impl<B: BodySource> BodySource for SignedBody<B> {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        Ok(Box::new(io::Read::chain(
            &self.headers[..],
            self.body.open()?,
        )))
    }

    fn size_hint(&self) -> Option<u64> {
        self.body
            .size_hint()
            .map(|size| size + self.headers.len() as u64)
    }

    fn is_rereadable(&self) -> bool {
        self.body.is_rereadable()
    }

    fn content_problem(&self) -> Option<mxsend_core::transparency::ContentError> {
        self.body.content_problem()
    }
}

#[cfg(feature = "aio")]
impl<B: crate::message::AsyncBodySource> crate::message::AsyncBodySource for SignedBody<B> {
    fn open(&self) -> io::Result<Box<dyn futures_lite::AsyncRead + Unpin + Send + '_>> {
        let inner = crate::message::AsyncBodySource::open(&self.body)?;
        Ok(Box::new(futures_lite::AsyncReadExt::chain(
            &self.headers[..],
            inner,
        )))
    }

    fn size_hint(&self) -> Option<u64> {
        crate::message::AsyncBodySource::size_hint(&self.body)
            .map(|size| size + self.headers.len() as u64)
    }

    fn content_problem(&self) -> Option<mxsend_core::transparency::ContentError> {
        crate::message::AsyncBodySource::content_problem(&self.body)
    }

    fn is_rereadable(&self) -> bool {
        crate::message::AsyncBodySource::is_rereadable(&self.body)
    }
}

/// Sign `body` with each of `signers` at `now`: pass one reads it all for the body hash; the
/// [`SignedBody`] returned is pass two. Fails at once, reading nothing, for a one-pass body.
pub fn sign<B: BodySource>(
    signers: &[DkimSigner],
    body: B,
    now: SystemTime,
) -> Result<SignedBody<B>, DkimError> {
    if !body.is_rereadable() {
        return Err(DkimError::OneShotBody);
    }
    let mut signing = Signing::new(signers);
    let mut reader = body.open().map_err(DkimError::Read)?;
    let mut chunk = vec![0u8; BODY_CHUNK];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => signing.update(chunk.get(..n).unwrap_or_default())?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DkimError::Read(e)),
        }
    }
    drop(reader);
    let headers = signing.finish(now)?;
    Ok(SignedBody {
        headers: headers.into(),
        body,
    })
}

/// The async flavour of [`sign`], for the smol and async-std adapters.
#[cfg(feature = "aio")]
pub async fn sign_async<B: crate::message::AsyncBodySource>(
    signers: &[DkimSigner],
    body: B,
    now: SystemTime,
) -> Result<SignedBody<B>, DkimError> {
    use futures_lite::AsyncReadExt;
    if !crate::message::AsyncBodySource::is_rereadable(&body) {
        return Err(DkimError::OneShotBody);
    }
    let mut signing = Signing::new(signers);
    {
        let mut reader = crate::message::AsyncBodySource::open(&body).map_err(DkimError::Read)?;
        let mut chunk = vec![0u8; BODY_CHUNK];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => signing.update(chunk.get(..n).unwrap_or_default())?,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DkimError::Read(e)),
            }
        }
    }
    let headers = signing.finish(now)?;
    Ok(SignedBody {
        headers: headers.into(),
        body,
    })
}

/// Message `index` with its signed body, or the library error naming it.
fn signed_message<B>(
    index: usize,
    message: &Message<impl Sized>,
    body: Result<SignedBody<B>, DkimError>,
) -> Result<Message<SignedBody<B>>, crate::Error> {
    body.map(|body| Message::new(message.envelope.clone(), body))
        .map_err(|error| crate::Error::Dkim {
            message: index,
            error,
        })
}

/// `messages` signed with `signers`, or `None` when there are no signers (send as is).
#[cfg(feature = "blocking")]
pub(crate) fn sign_messages<'m, B: BodySource>(
    signers: &[DkimSigner],
    messages: &'m [Message<B>],
) -> Result<Option<Vec<Message<SignedBody<&'m B>>>>, crate::Error> {
    if signers.is_empty() {
        return Ok(None);
    }
    let now = SystemTime::now();
    messages
        .iter()
        .enumerate()
        .map(|(i, message)| signed_message(i, message, sign(signers, &message.body, now)))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The async flavour of [`sign_messages`].
#[cfg(feature = "aio")]
pub(crate) async fn sign_messages_async<'m, B: crate::message::AsyncBodySource>(
    signers: &[DkimSigner],
    messages: &'m [Message<B>],
) -> Result<Option<Vec<Message<SignedBody<&'m B>>>>, crate::Error> {
    if signers.is_empty() {
        return Ok(None);
    }
    let now = SystemTime::now();
    let mut signed = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let body = sign_async(signers, &message.body, now).await;
        signed.push(signed_message(i, message, body)?);
    }
    Ok(Some(signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> DkimKey {
        DkimKey::from_pem_file(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(name),
        )
        .unwrap()
    }

    fn read(body: &impl BodySource) -> Vec<u8> {
        let mut out = Vec::new();
        body.open().unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn loads_pkcs1_and_pkcs8_rsa_and_pkcs8_ed25519() {
        assert_eq!(key("rsa-pkcs1.pem").algorithm(), Algorithm::RsaSha256);
        assert_eq!(key("rsa-pkcs8.pem").algorithm(), Algorithm::RsaSha256);
        assert_eq!(key("ed25519.pem").algorithm(), Algorithm::Ed25519Sha256);
    }

    #[test]
    fn rsa_key_below_2048_bits_is_refused() {
        let pem =
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rsa-1024.pem"))
                .unwrap();
        assert!(matches!(
            DkimKey::from_pem(&pem),
            Err(DkimError::RsaKeyTooSmall { .. })
        ));
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(matches!(
            DkimKey::from_pem(b"hello"),
            Err(DkimError::UnsupportedKey(_))
        ));
    }

    #[test]
    fn dns_records_name_the_key_type() {
        assert!(key("rsa-pkcs1.pem")
            .dns_record()
            .starts_with("v=DKIM1; k=rsa; p=MIIBIjAN"));
        let ed = key("ed25519.pem").dns_record();
        assert!(ed.starts_with("v=DKIM1; k=ed25519; p="));
        // 32 octets in base64.
        assert_eq!(ed.rsplit("p=").next().unwrap().len(), 44);
    }

    #[test]
    fn signed_body_is_the_signatures_then_the_message_unchanged() {
        let message = b"From: A <a@Example.TEST>\nSubject: hi\n\nhello\n".to_vec();
        let signers = [
            DkimSigner::new(key("rsa-pkcs1.pem"), "rsa"),
            DkimSigner::new(key("ed25519.pem"), "ed")
                .canonicalization(Canonicalization::Simple, Canonicalization::Simple)
                .expire_after(Duration::from_secs(3600)),
        ];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let signed = sign(&signers, &message, now).unwrap();
        let text = String::from_utf8(read(&signed)).unwrap();
        let (headers, rest) = text.split_at(signed.signature_headers().len());
        assert_eq!(rest.as_bytes(), message);
        assert_eq!(headers.matches("DKIM-Signature:").count(), 2);
        let headers = headers.replace("\r\n\t", " ");
        assert!(headers.contains("a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=rsa;"));
        assert!(headers.contains("c=simple/simple; d=example.test; s=ed; t=1700000000;"));
        assert!(headers.contains("x=1700003600;"));
        assert!(headers.contains("h=from:from:subject;"));
        // The message's own hint (its octets once line ends are CRLF), plus the headers.
        let message_hint = BodySource::size_hint(&message).unwrap();
        assert_eq!(
            signed.size_hint(),
            Some(signed.signature_headers().len() as u64 + message_hint)
        );
        // Pass two can be repeated.
        assert_eq!(read(&signed), read(&signed));
    }

    #[test]
    fn lf_and_crlf_messages_sign_the_same_wire_bytes() {
        // The session sends both as the same CRLF octets: the signatures must agree.
        let lf = b"From: a@example.test\nSubject: x \n\nline  \n\n".to_vec();
        let crlf = b"From: a@example.test\r\nSubject: x \r\n\r\nline  \r\n\r\n".to_vec();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        for c in [Canonicalization::Simple, Canonicalization::Relaxed] {
            // Ed25519 signatures are deterministic (RFC 8032), so whole headers compare.
            let signers = [DkimSigner::new(key("ed25519.pem"), "ed").canonicalization(c, c)];
            let a = sign(&signers, &lf, now).unwrap();
            let b = sign(&signers, &crlf, now).unwrap();
            assert_eq!(a.signature_headers(), b.signature_headers(), "{c:?}");
        }
    }

    #[test]
    fn one_pass_reader_body_is_refused_before_reading() {
        let body = crate::ReaderBody::streamed(&b"From: a@example.test\r\n\r\nx\r\n"[..]);
        let signers = [DkimSigner::new(key("ed25519.pem"), "ed")];
        assert!(matches!(
            sign(&signers, &body, SystemTime::now()),
            Err(DkimError::OneShotBody)
        ));
        // Nothing was read: the body can still be sent unsigned.
        assert!(body.open().is_ok());
    }

    #[test]
    fn message_without_from_is_refused() {
        let signers = [DkimSigner::new(key("ed25519.pem"), "ed").domain("example.test")];
        let result = sign(
            &signers,
            &b"Subject: x\r\n\r\nbody\r\n"[..],
            SystemTime::now(),
        );
        assert!(matches!(
            result,
            Err(DkimError::Message(mxsend_core::dkim::DkimError::NoFrom))
        ));
    }

    #[test]
    fn from_domain_is_the_address_domain() {
        assert_eq!(
            from_domain(b"From: \"A, B\" <a@Mail.Example.org>\r\n").as_deref(),
            Some("mail.example.org")
        );
        assert_eq!(
            from_domain(b"From: a@example.org\r\n").as_deref(),
            Some("example.org")
        );
        assert_eq!(from_domain(b"From: nobody\r\n"), None);
    }
}
