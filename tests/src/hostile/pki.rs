//! A throwaway PKI made in memory with rcgen for the hostile server's TLS: a test CA the
//! client is told to trust, a good server certificate, and the bad ones (self-signed,
//! signed by a CA nobody trusts, for the wrong host, expired).
//!
//! "The right names" are `localhost` and `127.0.0.1` (the relay in the scenarios is the IP
//! literal, checked against the IP SAN). Keys are ECDSA P-256.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

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
        let right_names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let ca = make_ca("mxsend hostile test CA");
        let other_ca = make_ca("mxsend hostile unknown CA");

        let leaf = |names: Vec<String>,
                    issuer: Option<&CertifiedIssuer<'static, KeyPair>>,
                    expired: bool| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            if expired {
                params.not_before = date_time_ymd(2020, 1, 1);
                params.not_after = date_time_ymd(2020, 12, 31);
            }
            let cert = match issuer {
                Some(issuer) => params.signed_by(&key, issuer).expect("sign"),
                None => params.self_signed(&key).expect("self-sign"),
            };
            (cert.der().clone(), key)
        };
        let certs = [
            (
                ServerCert::Good,
                leaf(right_names.clone(), Some(&ca), false),
            ),
            (
                ServerCert::SelfSigned,
                leaf(right_names.clone(), None, false),
            ),
            (
                ServerCert::UnknownCa,
                leaf(right_names.clone(), Some(&other_ca), false),
            ),
            (
                ServerCert::WrongHost,
                leaf(vec!["wrong-host.example.invalid".into()], Some(&ca), false),
            ),
            (ServerCert::Expired, leaf(right_names, Some(&ca), true)),
        ];
        let configs = certs
            .into_iter()
            .map(|(which, (der, key))| (which, server_config(der, &key)))
            .collect();

        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let ca_file = std::env::temp_dir().join(format!(
            "mxsend-hostile-ca-{}-{}.pem",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&ca_file, ca.pem()).expect("write the CA file");
        Pki { ca_file, configs }
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, key).expect("CA certificate")
}

fn server_config(cert: CertificateDer<'static>, key: &KeyPair) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .expect("server certificate");
    Arc::new(config)
}
