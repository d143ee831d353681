//! DKIM in the command: the signing flags (`--dkim-key FILE --dkim-selector SEL
//! [--dkim-domain DOMAIN]`, repeatable, paired in order), the same keys per account in the
//! configuration (`[[accounts.NAME.dkim]]` with `key`, `selector`, `domain`), and
//! `mxsend dkim keygen`, which writes a private key (mode 600) and prints the DNS TXT record
//! to publish, as opendkim-genkey does.
//!
//! Signing itself is the library's ([`mxsend::dkim`]): the signers built here go on the
//! `Relay` or `MxDelivery`, which sign every message before it is sent.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use mxsend::dkim::{DkimError, DkimKey, DkimSigner};
use serde::Deserialize;

use crate::config::Account;
use crate::error::CliError;
use crate::exit::Exit;
use crate::source::MessageSource;

/// The signing flags of a send.
#[derive(Clone, Debug, Default, Args)]
pub struct DkimArgs {
    /// Sign with the DKIM private key in FILE (PEM: RSA 2048+ or Ed25519); repeat for
    /// several signatures, each with its own --dkim-selector.
    #[arg(long, value_name = "FILE", help_heading = "DKIM")]
    pub dkim_key: Vec<PathBuf>,
    /// The selector of each --dkim-key, in the same order (the key is published at
    /// SEL._domainkey.DOMAIN).
    #[arg(long, value_name = "SEL", help_heading = "DKIM")]
    pub dkim_selector: Vec<String>,
    /// The signing domain (d=) of each --dkim-key; one applies to all; default: the From
    /// domain.
    #[arg(long, value_name = "DOMAIN", help_heading = "DKIM")]
    pub dkim_domain: Vec<String>,
}

/// One key of an account (`[[accounts.NAME.dkim]]`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimKeyConfig {
    /// The PEM private key file.
    pub key: PathBuf,
    /// The selector.
    pub selector: String,
    /// The signing domain; default: the From domain.
    pub domain: Option<String>,
}

/// The signers for a send: the flags' keys when any are given, else the account's.
pub fn signers(args: &DkimArgs, account: &Account) -> Result<Vec<DkimSigner>, CliError> {
    let configured: Vec<DkimKeyConfig> = if args.dkim_key.is_empty() {
        if !args.dkim_selector.is_empty() || !args.dkim_domain.is_empty() {
            return Err(CliError::usage(
                "--dkim-selector and --dkim-domain need --dkim-key FILE",
            ));
        }
        account.dkim.clone()
    } else {
        if args.dkim_selector.len() != args.dkim_key.len() {
            return Err(CliError::usage(format!(
                "{} --dkim-key but {} --dkim-selector: give one selector per key, in order",
                args.dkim_key.len(),
                args.dkim_selector.len()
            )));
        }
        let domains = args.dkim_domain.len();
        if domains > 1 && domains != args.dkim_key.len() {
            return Err(CliError::usage(
                "give one --dkim-domain for all keys, or one per --dkim-key",
            ));
        }
        args.dkim_key
            .iter()
            .zip(&args.dkim_selector)
            .enumerate()
            .map(|(i, (key, selector))| DkimKeyConfig {
                key: key.clone(),
                selector: selector.clone(),
                domain: args
                    .dkim_domain
                    .get(i)
                    .or(args.dkim_domain.first())
                    .cloned(),
            })
            .collect()
    };
    configured
        .iter()
        .map(|c| {
            let key = DkimKey::from_pem_file(&c.key).map_err(|e| key_error(&e))?;
            let mut signer = DkimSigner::new(key, c.selector.clone());
            if let Some(domain) = &c.domain {
                signer = signer.domain(domain.clone());
            }
            Ok(signer)
        })
        .collect()
}

fn key_error(error: &DkimError) -> CliError {
    match error {
        DkimError::KeyFile { path, error } => CliError::no_input("the DKIM key", path, error),
        other => CliError::config(format!("{other}; check --dkim-key")),
    }
}

/// A signing failure from the library, as the user should see it.
pub fn library_error(error: &DkimError, message: &MessageSource) -> CliError {
    match error {
        DkimError::Read(e) => message.error(e),
        DkimError::OneShotBody => CliError::new(Exit::Software, error.to_string()),
        DkimError::Message(_) | DkimError::NoFromDomain => {
            CliError::data(format!("the message cannot be signed: {error}"))
        }
        other => CliError::config(other.to_string()),
    }
}

/// `mxsend dkim`.
#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Make a DKIM key pair: write the private key (mode 600) as SEL.private and print the
    /// DNS TXT record to publish at SEL._domainkey.DOMAIN.
    Keygen(KeygenArgs),
}

/// The key types `keygen` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    /// RSA, 2048 bits (what every receiver checks).
    Rsa,
    /// Ed25519 (RFC 8463; not every receiver checks it yet: sign with both).
    Ed25519,
}

/// `mxsend dkim keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The selector.
    #[arg(long, value_name = "SEL")]
    pub selector: String,
    /// The signing domain.
    #[arg(long, value_name = "DOMAIN")]
    pub domain: String,
    /// The key type.
    #[arg(long = "type", value_enum, default_value_t = KeyType::Rsa)]
    pub key_type: KeyType,
    /// Where to write SEL.private (default: the current directory).
    #[arg(long, short = 'D', value_name = "DIR", default_value = ".")]
    pub directory: PathBuf,
}

/// Run `mxsend dkim ...`.
pub fn run(command: DkimCommand) -> Result<Exit, CliError> {
    match command {
        DkimCommand::Keygen(args) => keygen(&args),
    }
}

fn keygen(args: &KeygenArgs) -> Result<Exit, CliError> {
    let valid = |name: &str| {
        !name.is_empty()
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    if !valid(&args.selector) {
        return Err(CliError::usage(
            "--selector must be DNS labels: letters, digits, hyphens",
        ));
    }
    if !valid(&args.domain) {
        return Err(CliError::usage("--domain must be a domain name"));
    }
    let pem = match args.key_type {
        KeyType::Ed25519 => {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                .map_err(|_| CliError::new(Exit::OsErr, "cannot generate an Ed25519 key"))?;
            pem("PRIVATE KEY", pkcs8.as_ref())
        }
        KeyType::Rsa => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| {
                CliError::new(Exit::OsErr, format!("cannot generate an RSA key: {e}"))
            })?;
            let der = key
                .to_pkcs8_der()
                .map_err(|e| CliError::new(Exit::Software, format!("encoding the RSA key: {e}")))?;
            pem("PRIVATE KEY", der.as_bytes())
        }
    };
    // Check it as a signer will read it.
    let key = DkimKey::from_pem(pem.as_bytes())
        .map_err(|e| CliError::new(Exit::Software, e.to_string()))?;
    let path = args.directory.join(format!("{}.private", args.selector));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            CliError::new(
                Exit::OsErr,
                format!(
                    "cannot create {}: {}",
                    path.display(),
                    crate::error::os_reason(&e)
                ),
            )
        })?;
    file.write_all(pem.as_bytes())
        .map_err(|e| CliError::io("writing the private key", &e))?;
    let record = key.dns_record();
    // A zone-file line; long records split into strings of at most 255 octets.
    let strings: Vec<String> = record
        .as_bytes()
        .chunks(250)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    println!(
        "{}._domainkey.{}.\tIN\tTXT\t( {} )\t; private key in {}",
        args.selector,
        args.domain,
        strings.join("\n\t"),
        path.display()
    );
    Ok(Exit::Ok)
}

fn pem(label: &str, der: &[u8]) -> String {
    let mut encoded = Vec::new();
    mxsend_core::base64::encode(der, &mut encoded);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
