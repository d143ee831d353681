//! A throwaway PKI made at test time with the openssl CLI (`tests/peers/pki.sh`): the CA the client is
//! told to trust, the certificate the peers serve, and the broken certificates that hostile tests serve.
//!
//! Every certificate "for the right names" carries SAN `DNS:mx.example.test`, `DNS:localhost`,
//! `DNS:*.example.test`, `IP:127.0.0.1` and `IP:::1`. Keys are ECDSA P-256, unencrypted PEM.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use crate::process::{peer_tempdir, peers_dir, require_program};

/// A certificate (PEM, leaf only) and its private key (PEM).
#[derive(Clone, Debug)]
pub struct CertPair {
    /// The certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// The files of one generated PKI. Cloning shares the directory, which is removed when the last clone
/// is dropped.
#[derive(Clone, Debug)]
pub struct TestPki {
    dir: Arc<tempfile::TempDir>,
    /// The test CA's certificate: the only trust anchor a client under test should get.
    pub ca_cert: PathBuf,
    /// Signed by the test CA, for the right names: what the peers serve by default.
    pub server: CertPair,
    /// Self-signed, for the right names: no CA vouches for it.
    pub self_signed: CertPair,
    /// Signed by another CA ([`TestPki::unknown_ca_root`]), for the right names.
    pub unknown_ca: CertPair,
    /// The certificate of the CA that signed [`TestPki::unknown_ca`], which nobody trusts.
    pub unknown_ca_root: PathBuf,
    /// Signed by the test CA, but only for `wrong-host.example.invalid`.
    pub wrong_host: CertPair,
    /// Signed by the test CA, for the right names, valid only during 2020.
    pub expired: CertPair,
    /// Signed by the test CA, for the right names, valid only from 2090.
    pub not_yet_valid: CertPair,
    /// Self-signed with CA:TRUE, for the right names: a bare `openssl req -x509`.
    pub snakeoil: CertPair,
    /// Self-signed, CA:FALSE, SAN `DNS:mx.example.test` only: Debian's make-ssl-cert template.
    pub snakeoil_debian: CertPair,
    /// Self-signed with CA:TRUE, CN=mx.example.test, no subjectAltName.
    pub snakeoil_cn_only: CertPair,
    /// Self-signed with CA:TRUE, for the right names, valid only during 2020.
    pub snakeoil_expired: CertPair,
    /// A CA certificate (CA:TRUE, issued by the test CA) for the right names, served as a server's own.
    pub ca_as_server: CertPair,
    /// A client certificate (clientAuth) issued by the test CA, CN=client.example.test.
    pub client: CertPair,
    /// Signed by the test CA for the MTA-STS policy host `mta-sts.sts.test`.
    pub mta_sts: CertPair,
}

impl TestPki {
    /// Generates a fresh PKI in a new temporary directory (about 0.1 s). Panics if openssl is missing or
    /// fails.
    pub fn generate() -> TestPki {
        require_program("openssl");
        let dir = peer_tempdir("mxsend-pki-");
        let script = peers_dir().join("pki.sh");
        let output = Command::new("bash")
            .arg(&script)
            .arg(dir.path())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "{} failed ({}):\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let path = |name: &str| dir.path().join(name);
        let pair = |name: &str| CertPair {
            cert: path(&format!("{name}.crt")),
            key: path(&format!("{name}.key")),
        };
        TestPki {
            ca_cert: path("ca.crt"),
            server: pair("server"),
            self_signed: pair("self-signed"),
            unknown_ca: pair("unknown-ca"),
            unknown_ca_root: path("unknown-ca-root.crt"),
            wrong_host: pair("wrong-host"),
            expired: pair("expired"),
            not_yet_valid: pair("not-yet-valid"),
            snakeoil: pair("snakeoil"),
            snakeoil_debian: pair("snakeoil-debian"),
            snakeoil_cn_only: pair("snakeoil-cn-only"),
            snakeoil_expired: pair("snakeoil-expired"),
            ca_as_server: pair("ca-as-server"),
            client: pair("client"),
            mta_sts: pair("mta-sts"),
            dir: Arc::new(dir),
        }
    }

    /// The directory holding all the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The test CA's certificate as PEM bytes, for building a client's root store.
    pub fn ca_cert_pem(&self) -> Vec<u8> {
        std::fs::read(&self.ca_cert)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.ca_cert.display()))
    }
}
