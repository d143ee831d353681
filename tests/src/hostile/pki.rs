//! The hostile server's TLS: the project's test PKI ([`crate::pki::TestPki`], made by
//! `tests/peers/pki.sh`) loaded into one rustls server configuration per certificate: a
//! good one signed by the test CA, and the bad ones (self-signed, signed by a CA nobody
//! trusts, for the wrong host, expired).
//!
//! "The right names" include `localhost` and `127.0.0.1` (the relay in the scenarios is the
//! IP literal, checked against the IP SAN).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::pki::{CertPair, TestPki};

/// Which certificate the server presents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCert {
    /// Signed by the test CA, for the right names: verifies.
    Good,
    /// Self-signed, for the right names.
    SelfSigned,
    /// Signed by another CA, which the client does not trust, for the right names.
    UnknownCa,
    /// Signed by the test CA, for `wrong-host.example.invalid` only.
    WrongHost,
    /// Signed by the test CA, for the right names, valid only during 2020.
    Expired,
}

impl ServerCert {
    /// Every certificate a verifying client must refuse.
    pub const BAD: [ServerCert; 4] = [
        ServerCert::SelfSigned,
        ServerCert::UnknownCa,
        ServerCert::WrongHost,
        ServerCert::Expired,
    ];
}

/// The test PKI: the CA file to trust and a server configuration per certificate.
pub struct Pki {
    /// PEM file of the test CA (the only trust anchor to give the client).
    pub ca_file: PathBuf,
    configs: Vec<(ServerCert, Arc<ServerConfig>)>,
    /// Keeps the files for the life of the process.
    _files: TestPki,
}

impl Pki {
    /// The process's PKI, made on first use.
    pub fn get() -> &'static Pki {
        static PKI: OnceLock<Pki> = OnceLock::new();
        PKI.get_or_init(Pki::generate)
    }

    /// The rustls server configuration presenting `cert`.
    pub fn server_config(&self, cert: ServerCert) -> Arc<ServerConfig> {
        self.configs
            .iter()
            .find(|(c, _)| *c == cert)
            .map(|(_, config)| config.clone())
            .expect("every certificate has a configuration")
    }

    fn generate() -> Pki {
        let pki = TestPki::generate();
        let configs = [
            (ServerCert::Good, &pki.server),
            (ServerCert::SelfSigned, &pki.self_signed),
            (ServerCert::UnknownCa, &pki.unknown_ca),
            (ServerCert::WrongHost, &pki.wrong_host),
            (ServerCert::Expired, &pki.expired),
        ]
        .into_iter()
        .map(|(which, pair)| (which, server_config(pair)))
        .collect();
        Pki {
            ca_file: pki.ca_cert.clone(),
            configs,
            _files: pki,
        }
    }
}

fn server_config(pair: &CertPair) -> Arc<ServerConfig> {
    let cert = CertificateDer::from_pem_file(&pair.cert)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", pair.cert.display()));
    let key = PrivateKeyDer::from_pem_file(&pair.key)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", pair.key.display()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    Arc::new(config)
}
