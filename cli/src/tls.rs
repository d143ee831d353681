//! The command's TLS options beyond `--tls` and `--ca-file`: certificate pins
//! (`--tls-fingerprint`, msmtp's `tls_fingerprint`), a client certificate (`--tls-cert`,
//! `--tls-key`), the name to verify a relay against (`--tls-name`), each also an account key;
//! and how a refused certificate is explained, naming the flag that fixes it.
//!
//! The library classifies every TLS failure ([`mxsend::tls::Problem`]); this module only
//! words the fix in the command's terms. Nothing here reads rustls' text.

use std::path::{Path, PathBuf};

use mxsend::tls::{ClientCertificate, Fingerprint, Problem, TlsError};
use mxsend::{MxDelivery, Relay};

use crate::config::Account;
use crate::error::CliError;
use crate::TlsArg;

/// The TLS options of a job, checked.
#[derive(Clone, Debug, Default)]
pub struct TlsSettings {
    /// Certificate or public-key pins; when given, only a matching certificate is accepted.
    pub fingerprints: Vec<Fingerprint>,
    /// The client certificate and key files.
    pub client: Option<(PathBuf, PathBuf)>,
    /// The name to verify a relay's certificate against (and send as SNI).
    pub name: Option<String>,
    /// REQUIRETLS (`--require-tls`).
    pub require_tls: bool,
    /// MX delivery's MTA-STS settings (`None`: not consulted).
    pub mta_sts: Option<mxsend::mta_sts::MtaSts>,
    /// MX delivery's DANE settings (`None`: not used).
    pub dane: Option<mxsend::dane::Dane>,
}

/// The flags, as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct TlsFlags<'a> {
    /// `--tls-fingerprint`, each time given.
    pub fingerprints: &'a [String],
    /// `--tls-cert`.
    pub cert: Option<&'a Path>,
    /// `--tls-key`.
    pub key: Option<&'a Path>,
    /// `--tls-name`.
    pub name: Option<&'a str>,
}

/// The flags over the account's keys, checked before any connection: fingerprints parse,
/// the certificate files open, the name is usable, and the options fit the route and mode
/// (`tls` after the account; `relay` false for MX delivery).
pub fn settings(
    flags: TlsFlags<'_>,
    account: &Account,
    tls: Option<TlsArg>,
    relay: bool,
) -> Result<TlsSettings, CliError> {
    let texts: Vec<&str> = if flags.fingerprints.is_empty() {
        account.tls_fingerprint.iter().map(String::as_str).collect()
    } else {
        flags.fingerprints.iter().map(String::as_str).collect()
    };
    let fingerprints = texts
        .iter()
        .map(|text| {
            text.parse::<Fingerprint>().map_err(|e| {
                CliError::usage(format!(
                    "--tls-fingerprint: {e}; `openssl x509 -noout -fingerprint -sha256 -in CERT` prints one"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let verifies = match tls {
        Some(TlsArg::Required | TlsArg::Implicit) => true,
        Some(TlsArg::None | TlsArg::Opportunistic) => false,
        None => relay,
    };
    if !fingerprints.is_empty() && !verifies {
        return Err(CliError::usage(
            "--tls-fingerprint needs a verifying TLS mode (opportunistic TLS accepts any certificate); add --tls required, or --tls implicit for port 465",
        ));
    }
    let cert = flags
        .cert
        .map(Path::to_path_buf)
        .or(account.tls_cert.clone());
    let key = flags.key.map(Path::to_path_buf).or(account.tls_key.clone());
    let client =
        match (cert, key) {
            (Some(cert), Some(key)) => {
                for (what, path) in [("--tls-cert", &cert), ("--tls-key", &key)] {
                    std::fs::File::open(path).map_err(|e| CliError::no_input(what, path, &e))?;
                }
                Some((cert, key))
            }
            (None, None) => None,
            (Some(_), None) => return Err(CliError::usage(
                "--tls-cert needs --tls-key: give the client certificate's private key file too",
            )),
            (None, Some(_)) => {
                return Err(CliError::usage(
                    "--tls-key needs --tls-cert: give the client certificate file too",
                ))
            }
        };
    let name = flags.name.map(str::to_string).or(account.tls_name.clone());
    if let Some(name) = &name {
        if !relay {
            return Err(CliError::usage(
                "--tls-name needs --server: MX delivery verifies each exchange by its own name",
            ));
        }
        mxsend::tls::server_name(name).map_err(|e| CliError::usage(format!("--tls-name: {e}")))?;
    }
    Ok(TlsSettings {
        fingerprints,
        client,
        name,
        ..TlsSettings::default()
    })
}

impl TlsSettings {
    /// `relay` with these options.
    pub fn relay(&self, mut relay: Relay) -> Relay {
        for pin in &self.fingerprints {
            relay = relay.tls_fingerprint(*pin);
        }
        if let Some((cert, key)) = &self.client {
            relay = relay.client_certificate(ClientCertificate::from_files(cert, key));
        }
        if let Some(name) = &self.name {
            relay = relay.tls_name(name.clone());
        }
        relay.require_tls(self.require_tls)
    }

    /// `mx` with these options (no TLS name: each exchange is verified by its own).
    pub fn mx(&self, mut mx: MxDelivery) -> MxDelivery {
        for pin in &self.fingerprints {
            mx = mx.tls_fingerprint(*pin);
        }
        if let Some((cert, key)) = &self.client {
            mx = mx.client_certificate(ClientCertificate::from_files(cert, key));
        }
        if let Some(sts) = &self.mta_sts {
            mx = mx.mta_sts(sts.clone());
        }
        if let Some(dane) = &self.dane {
            mx = mx.dane(dane.clone());
        }
        mx.require_tls(self.require_tls)
    }
}

/// A failed handshake for the user: the library's cause, and the fix in flags.
pub fn explain(error: &TlsError) -> String {
    let problem = error.problem();
    let fix = match &problem {
        Problem::UnknownIssuer { .. } => {
            "if that CA is yours, pass its certificate with --ca-file FILE".to_string()
        }
        Problem::SelfSigned { fingerprint, .. } => format!(
            "pass that certificate with --ca-file FILE, or pin it with --tls-fingerprint {fingerprint}"
        ),
        Problem::WrongName { .. } => {
            "connect by a name the certificate has (--server NAME), or pass --tls-name NAME".to_string()
        }
        Problem::CaUsedAsEndEntity { .. } => {
            "if you trust exactly this certificate, pass it with --ca-file FILE or pin it with --tls-fingerprint".to_string()
        }
        Problem::NotPinned { .. } => {
            "check --tls-fingerprint: the server's certificate changed, or this is another server".to_string()
        }
        Problem::ClientCertificateRequired => {
            "pass a client certificate with --tls-cert FILE --tls-key FILE".to_string()
        }
        Problem::NotTls => "the server did not answer in TLS".to_string(),
        other => match other.remedy() {
            Some(remedy) => remedy.to_string(),
            None => return error.cause(),
        },
    };
    format!("{}; {fix}", error.cause())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin() -> String {
        format!("sha256:{}", "ab".repeat(32))
    }

    fn flags(fingerprints: &[String]) -> TlsFlags<'_> {
        TlsFlags {
            fingerprints,
            ..TlsFlags::default()
        }
    }

    #[test]
    fn a_pin_is_accepted_for_a_relay_by_default_and_refused_when_tls_accepts_anything() {
        let pins = [pin()];
        let account = Account::default();
        let checked = settings(flags(&pins), &account, None, true).unwrap();
        assert_eq!(checked.fingerprints.len(), 1);
        for (tls, relay) in [
            (None, false),
            (Some(TlsArg::Opportunistic), true),
            (Some(TlsArg::None), true),
        ] {
            let err = settings_error(flags(&pins), &account, tls, relay);
            assert!(err.contains("verifying TLS mode"), "{err}");
        }
        assert!(settings(flags(&pins), &account, Some(TlsArg::Required), false).is_ok());
    }

    fn settings_error(
        flags: TlsFlags<'_>,
        account: &Account,
        tls: Option<TlsArg>,
        relay: bool,
    ) -> String {
        settings(flags, account, tls, relay).unwrap_err().message
    }

    #[test]
    fn flags_override_the_accounts_pin_and_a_bad_one_is_a_usage_error() {
        let account = Account {
            tls_fingerprint: Some("sha256:12".to_string()),
            ..Account::default()
        };
        let err = settings(flags(&[]), &account, None, true).unwrap_err();
        assert_eq!(err.exit, crate::exit::Exit::Usage);
        assert!(err.message.contains("64 hex digits"), "{}", err.message);
        let pins = [pin()];
        assert!(settings(flags(&pins), &account, None, true).is_ok());
    }

    #[test]
    fn tls_name_needs_a_relay_and_a_valid_name() {
        let account = Account::default();
        let named = |name| TlsFlags {
            name: Some(name),
            ..TlsFlags::default()
        };
        assert!(
            settings_error(named("mx.example.test"), &account, None, false).contains("--server")
        );
        assert!(settings_error(named("bad name"), &account, None, true).contains("--tls-name"));
        let ok = settings(named("mx.example.test"), &account, None, true).unwrap();
        assert_eq!(ok.name.as_deref(), Some("mx.example.test"));
    }

    #[test]
    fn explanations_name_the_flag_that_fixes_them() {
        let required = mxsend::tls::TlsError::Handshake(rustls_alert_certificate_required());
        let text = explain(&required);
        assert!(text.contains("--tls-cert FILE --tls-key FILE"), "{text}");
        let timed_out = mxsend::tls::TlsError::TimedOut;
        assert_eq!(explain(&timed_out), "timed out during the TLS handshake");
    }

    fn rustls_alert_certificate_required() -> mxsend::rustls::Error {
        mxsend::rustls::Error::AlertReceived(mxsend::rustls::AlertDescription::CertificateRequired)
    }
}
