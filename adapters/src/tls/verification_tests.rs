//! The verifiers against the test PKI's certificates (`testdata/`, made by
//! `tests/peers/pki.sh`), at chosen times, and whole handshakes in memory.

use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::UnixTime;
use rustls::CertificateError;

use super::*;

const CA: &[u8] = include_bytes!("testdata/ca.crt");
const SERVER: &[u8] = include_bytes!("testdata/server.crt");
const SERVER_KEY: &[u8] = include_bytes!("testdata/server.key");
const SNAKEOIL: &[u8] = include_bytes!("testdata/snakeoil.crt");
const SNAKEOIL_CN_ONLY: &[u8] = include_bytes!("testdata/snakeoil-cn-only.crt");
const SNAKEOIL_EXPIRED: &[u8] = include_bytes!("testdata/snakeoil-expired.crt");
const SNAKEOIL_DEBIAN: &[u8] = include_bytes!("testdata/snakeoil-debian.crt");
const CA_AS_SERVER: &[u8] = include_bytes!("testdata/ca-as-server.crt");
const UNKNOWN_CA: &[u8] = include_bytes!("testdata/unknown-ca.crt");
const WRONG_HOST: &[u8] = include_bytes!("testdata/wrong-host.crt");

fn der(pem: &[u8]) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem).unwrap()
}

/// A moment inside `pem`'s validity.
fn during(pem: &[u8]) -> UnixTime {
    let info = CertificateInfo::parse(&der(pem)).unwrap();
    UnixTime::since_unix_epoch(Duration::from_secs(info.not_before.as_secs() + 86_400))
}

fn at(year_seconds: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(year_seconds))
}

/// 2021-01-01 and 2019-12-31 (around the expired certificates' 2020).
const IN_2021: u64 = 1_609_459_200;
const IN_2019: u64 = 1_577_750_400;

/// What the verifying configuration for `options` says of `presented` for `name` at `now`.
fn verify(
    options: &TlsOptions,
    presented: &[u8],
    name: &str,
    now: UnixTime,
) -> Result<(), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = verify::Verifier {
        policy: verify::Policy::Verify(Arc::new(verifying(options, &provider).unwrap())),
        provider,
    };
    verifier
        .verify_server_cert(&der(presented), &[], &server_name(name).unwrap(), &[], now)
        .map(|_| ())
        .map_err(|e| TlsError::from_rustls(e, name))
}

fn trusting(pem: &[u8]) -> TlsOptions {
    TlsOptions::default().roots(Roots::Empty).ca_pem(pem)
}

#[test]
fn self_signed_ca_true_certificate_given_as_ca_is_accepted_as_pinned() {
    for pem in [SNAKEOIL, SNAKEOIL_DEBIAN] {
        let result = verify(&trusting(pem), pem, "mx.example.test", during(pem));
        assert!(result.is_ok(), "{result:?}");
    }
}

#[test]
fn pinned_certificate_is_still_checked_for_the_name() {
    let error = verify(
        &trusting(SNAKEOIL),
        SNAKEOIL,
        "other.example",
        during(SNAKEOIL),
    )
    .unwrap_err();
    match error.problem() {
        Problem::WrongName {
            issued_for,
            reached_as,
        } => {
            assert!(
                issued_for.contains(&"mx.example.test".to_string()),
                "{issued_for:?}"
            );
            assert_eq!(reached_as, "other.example");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pinned_certificate_is_still_checked_for_its_dates() {
    let options = trusting(SNAKEOIL_EXPIRED);
    let expired = verify(&options, SNAKEOIL_EXPIRED, "mx.example.test", at(IN_2021)).unwrap_err();
    assert!(
        matches!(expired.problem(), Problem::Expired { .. }),
        "{expired:?}"
    );
    let early = verify(&options, SNAKEOIL_EXPIRED, "mx.example.test", at(IN_2019)).unwrap_err();
    assert!(
        matches!(early.problem(), Problem::NotYetValid { .. }),
        "{early:?}"
    );
    assert!(expired.to_string().contains("2020"), "{expired}");
}

#[test]
fn pinned_certificate_without_alt_names_matches_its_common_name_exactly() {
    let options = trusting(SNAKEOIL_CN_ONLY);
    let now = during(SNAKEOIL_CN_ONLY);
    assert!(verify(&options, SNAKEOIL_CN_ONLY, "mx.example.test", now).is_ok());
    assert!(verify(&options, SNAKEOIL_CN_ONLY, "MX.Example.Test", now).is_ok());
    let error = verify(&options, SNAKEOIL_CN_ONLY, "localhost", now).unwrap_err();
    assert!(
        matches!(error.problem(), Problem::WrongName { .. }),
        "{error:?}"
    );
    let error = verify(&options, SNAKEOIL_CN_ONLY, "127.0.0.1", now).unwrap_err();
    assert!(
        matches!(error.problem(), Problem::WrongName { .. }),
        "{error:?}"
    );
}

#[test]
fn self_signed_certificate_not_given_is_refused_as_self_signed_with_its_fingerprint() {
    let error = verify(&trusting(CA), SNAKEOIL, "mx.example.test", during(SNAKEOIL)).unwrap_err();
    let fingerprint = Fingerprint::of_certificate(&der(SNAKEOIL));
    assert_eq!(
        error.problem(),
        Problem::SelfSigned {
            subject: "CN=mx.example.test".to_string(),
            fingerprint,
        }
    );
    let text = error.to_string();
    assert!(text.contains("self-signed"), "{text}");
    assert!(text.contains("CA file"), "{text}");
    assert!(text.contains(&fingerprint.to_string()), "{text}");
    assert!(
        !text.contains("CaUsedAsEndEntity") && !text.contains("Other("),
        "{text}"
    );
}

#[test]
fn unknown_issuer_is_named() {
    let error = verify(
        &trusting(CA),
        UNKNOWN_CA,
        "mx.example.test",
        during(UNKNOWN_CA),
    )
    .unwrap_err();
    assert_eq!(
        error.problem(),
        Problem::UnknownIssuer {
            issuer: Some("CN=mxsend unknown CA".to_string())
        }
    );
    let text = error.to_string();
    assert!(text.contains("issued by CN=mxsend unknown CA"), "{text}");
    assert!(text.contains("trust its certificate (a CA file)"), "{text}");
}

#[test]
fn ca_certificate_served_as_the_servers_own_is_named() {
    let error = verify(
        &trusting(CA),
        CA_AS_SERVER,
        "mx.example.test",
        during(CA_AS_SERVER),
    )
    .unwrap_err();
    assert_eq!(
        error.problem(),
        Problem::CaUsedAsEndEntity {
            subject: Some("CN=mxsend test sub-CA".to_string())
        }
    );
    assert!(
        error.to_string().contains("presented a CA certificate"),
        "{error}"
    );
}

#[test]
fn wrong_name_says_what_it_was_issued_for_and_what_was_reached() {
    let error = verify(
        &trusting(CA),
        WRONG_HOST,
        "mx.example.test",
        during(WRONG_HOST),
    )
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(
            "issued for wrong-host.example.invalid, but the server was reached as mx.example.test"
        ),
        "{text}"
    );
    assert!(text.contains("TLS name"), "{text}");
}

#[test]
fn chain_to_a_given_ca_verifies() {
    assert!(verify(&trusting(CA), SERVER, "mx.example.test", during(SERVER)).is_ok());
    assert!(verify(&trusting(CA), SERVER, "127.0.0.1", during(SERVER)).is_ok());
}

#[test]
fn fingerprint_pins_exactly_that_certificate_whoever_issued_it() {
    let pin = Fingerprint::of_certificate(&der(UNKNOWN_CA));
    let options = TlsOptions::default().fingerprint(pin);
    let now = during(UNKNOWN_CA);
    assert!(verify(&options, UNKNOWN_CA, "mx.example.test", now).is_ok());
    // Another certificate, even one that would verify against the roots, is refused.
    let options = options.ca_pem(CA);
    let error = verify(&options, SERVER, "mx.example.test", now).unwrap_err();
    let fingerprint = Fingerprint::of_certificate(&der(SERVER));
    assert_eq!(
        error.problem(),
        Problem::NotPinned {
            fingerprint: Some(fingerprint)
        }
    );
    assert!(
        error
            .to_string()
            .contains("matches none of the pinned fingerprints"),
        "{error}"
    );
}

#[test]
fn public_key_fingerprint_pins_the_key() {
    let spki = certificate::public_key_info(&der(SNAKEOIL)).unwrap();
    let options = TlsOptions::default().fingerprint(Fingerprint::of_public_key(&spki));
    assert!(verify(&options, SNAKEOIL, "anything.example", during(SNAKEOIL)).is_ok());
    assert!(verify(&options, SERVER, "mx.example.test", during(SERVER)).is_err());
}

// ---------------------------------------------------------------------------------------------
// Whole handshakes, in memory, against a rustls server with the test PKI's server certificate

/// The server's side: serves `server.crt`, records the SNI it was sent.
fn server_config() -> Arc<rustls::ServerConfig> {
    server_config_with(vec![der(SERVER)])
}

/// The server's side serving `chain`.
fn server_config_with(chain: Vec<CertificateDer<'static>>) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    Arc::new(config)
}

/// Runs a handshake between `client` and a server in memory: the client's error, if any,
/// and the SNI the server received.
fn handshake(client: rustls::ClientConnection) -> (Result<(), rustls::Error>, Option<String>) {
    handshake_with(server_config(), client)
}

/// [`handshake`] against a server with `config`.
fn handshake_with(
    config: Arc<rustls::ServerConfig>,
    mut client: rustls::ClientConnection,
) -> (Result<(), rustls::Error>, Option<String>) {
    let mut server = rustls::ServerConnection::new(config).unwrap();
    for _ in 0..20 {
        let mut buf = Vec::new();
        client.write_tls(&mut buf).unwrap();
        if !buf.is_empty() {
            server.read_tls(&mut buf.as_slice()).unwrap();
            let _ = server.process_new_packets();
        }
        let mut back = Vec::new();
        server.write_tls(&mut back).unwrap();
        if !back.is_empty() {
            client.read_tls(&mut back.as_slice()).unwrap();
            if let Err(error) = client.process_new_packets() {
                return (Err(error), server.server_name().map(str::to_string));
            }
        }
        if !client.is_handshaking() && !server.is_handshaking() {
            break;
        }
    }
    (Ok(()), server.server_name().map(str::to_string))
}

#[test]
fn connector_built_for_opportunistic_fails_closed_when_asked_to_verify() {
    // Trusts the CA that issued the server's certificate: a verifying configuration built
    // from these options would accept it. The connector was built for a mode that does not
    // verify, so it has none, and must refuse rather than fall back to accepting anything.
    let options = TlsOptions::default().roots(Roots::Empty).ca_pem(CA);
    let connector = TlsConnector::new(&options, TlsMode::Opportunistic).unwrap();
    let (opportunistic, _) = handshake(
        connector
            .connect(TlsMode::Opportunistic, "mx.example.test")
            .unwrap()
            .unwrap(),
    );
    assert!(opportunistic.is_ok(), "{opportunistic:?}");
    for mode in [TlsMode::Required, TlsMode::Implicit] {
        let (verified, _) = handshake(connector.connect(mode, "mx.example.test").unwrap().unwrap());
        let error = TlsError::from_rustls(verified.unwrap_err(), "mx.example.test");
        assert!(matches!(error, TlsError::Certificate(_)), "{error:?}");
    }
    // Built for a verifying mode, the same options verify.
    let connector = TlsConnector::new(&options, TlsMode::Required).unwrap();
    let (verified, _) = handshake(
        connector
            .connect(TlsMode::Required, "mx.example.test")
            .unwrap()
            .unwrap(),
    );
    assert!(verified.is_ok(), "{verified:?}");
}

#[test]
fn sni_is_sent_for_names_and_never_for_address_literals() {
    let options = TlsOptions::default().roots(Roots::Empty).ca_pem(CA);
    let connector = TlsConnector::new(&options, TlsMode::Required).unwrap();
    let (result, sni) = handshake(
        connector
            .connect(TlsMode::Required, "mx.example.test")
            .unwrap()
            .unwrap(),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(sni.as_deref(), Some("mx.example.test"));
    for literal in ["127.0.0.1", "[127.0.0.1]", "::1", "[IPv6:::1]"] {
        let (result, sni) = handshake(
            connector
                .connect(TlsMode::Required, literal)
                .unwrap()
                .unwrap(),
        );
        assert!(result.is_ok(), "{literal}: {result:?}");
        assert_eq!(sni, None, "{literal}");
    }
}

#[test]
fn dane_sends_the_tlsa_base_domain_as_sni_and_accepts_its_reference_identifiers() {
    // mx.alias.test is a secure CNAME for mx.example.test, whose TLSA record is DANE-TA(2)
    // for the test CA (RFC 7672 §2.2.2, §3.2.2, §8.1; RFC 7671 §7).
    let connector = TlsConnector::new(
        &TlsOptions::default().roots(Roots::Empty),
        TlsMode::Required,
    )
    .unwrap();
    let anchor = crate::dns::TlsaRecord {
        usage: 2,
        selector: 0,
        matching: 1,
        data: ring::digest::digest(&ring::digest::SHA256, der(CA).as_ref())
            .as_ref()
            .to_vec(),
    };
    let found = |base: &str, names: &[&str]| crate::dane::DaneRecords {
        records: vec![anchor.clone()],
        base_domain: base.into(),
        expanded: Some("mx.example.test".into()),
        reference_identifiers: names.iter().map(|n| n.to_string()).collect(),
    };
    let with_ca = || server_config_with(vec![der(SERVER), der(CA)]);
    connector.use_dane(
        "mx.alias.test",
        &found(
            "mx.example.test",
            &["mx.example.test", "mx.alias.test", "alias.test"],
        ),
    );
    let (result, sni) = handshake_with(
        with_ca(),
        connector
            .connect(TlsMode::Required, "mx.alias.test")
            .unwrap()
            .unwrap(),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(sni.as_deref(), Some("mx.example.test"));

    // The records found at the original name: it is sent, and a certificate for none of
    // the reference identifiers is refused.
    connector.use_dane(
        "mx2.alias.test",
        &found("mx2.alias.test", &["mx2.alias.test", "alias.test"]),
    );
    let (result, sni) = handshake_with(
        with_ca(),
        connector
            .connect(TlsMode::Required, "mx2.alias.test")
            .unwrap()
            .unwrap(),
    );
    assert!(result.is_err());
    assert_eq!(sni.as_deref(), Some("mx2.alias.test"));

    // Registered again for another next-hop domain, both domains' names count.
    connector.use_dane(
        "mx2.alias.test",
        &found("mx2.alias.test", &["mx2.alias.test", "mx.example.test"]),
    );
    let (result, _) = handshake_with(
        with_ca(),
        connector
            .connect(TlsMode::Required, "mx2.alias.test")
            .unwrap()
            .unwrap(),
    );
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn tls_name_replaces_the_address_for_verification_and_sni() {
    let options = TlsOptions::default().roots(Roots::Empty).ca_pem(CA);
    let connector = TlsConnector::new(&options, TlsMode::Required)
        .unwrap()
        .with_server_name(Some("mx.example.test"))
        .unwrap();
    let (result, sni) = handshake(
        connector
            .connect(TlsMode::Required, "192.0.2.1")
            .unwrap()
            .unwrap(),
    );
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(sni.as_deref(), Some("mx.example.test"));
    assert_eq!(connector.name_for("192.0.2.1"), "mx.example.test");
}

#[test]
fn caller_supplied_config_is_used_as_given_in_every_mode() {
    let config = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    );
    let options = TlsOptions::default()
        .ca_pem(CA)
        .client_config(config.clone());
    let connector = TlsConnector::new(&options, TlsMode::Opportunistic).unwrap();
    for mode in [TlsMode::Opportunistic, TlsMode::Required] {
        assert!(Arc::ptr_eq(&connector.config(mode).unwrap(), &config));
        // Its empty root store refuses the server, whatever mxsend's options say.
        let (result, _) = handshake(connector.connect(mode, "mx.example.test").unwrap().unwrap());
        let error = TlsError::from_rustls(result.unwrap_err(), "mx.example.test");
        assert!(
            matches!(error.problem(), Problem::UnknownIssuer { issuer: None }),
            "{error:?}"
        );
    }
}

#[test]
fn client_certificate_files_must_hold_a_certificate_and_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("client.crt");
    let key = dir.path().join("client.key");
    std::fs::write(&cert, SERVER).unwrap();
    std::fs::write(&key, b"not a key").unwrap();
    let options =
        TlsOptions::default().client_certificate(ClientCertificate::from_files(&cert, &key));
    let error = TlsConnector::new(&options, TlsMode::Opportunistic).unwrap_err();
    assert!(
        matches!(error, TlsConfigError::ClientCertificate { .. }),
        "{error}"
    );
    std::fs::write(&key, SERVER_KEY).unwrap();
    assert!(TlsConnector::new(&options, TlsMode::Required).is_ok());
    let missing = TlsOptions::default()
        .client_certificate(ClientCertificate::from_files(dir.path().join("none"), &key));
    assert!(matches!(
        TlsConnector::new(&missing, TlsMode::Required),
        Err(TlsConfigError::ClientCertificateFile { .. })
    ));
    let debug = format!("{:?}", ClientCertificate::from_pem(SERVER, SERVER_KEY));
    assert!(!debug.contains("PRIVATE"), "{debug}");
}

#[test]
fn handshake_errors_are_worded_without_rustls_debug_text() {
    let cases = [
        (
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
            "TLS alert \"handshake failure\"",
        ),
        (
            rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
            "requires a client certificate; give a client certificate and its key",
        ),
        (
            rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            "not the TLS handshake expected",
        ),
        (
            rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered),
            "no TLS version or cipher suite",
        ),
    ];
    for (rustls_error, expected) in cases {
        let error = TlsError::from_rustls(rustls_error, "mx.example.test");
        let text = error.to_string();
        assert!(text.contains(expected), "{text}");
        assert!(
            !text.contains("Alert") && !text.contains("Invalid"),
            "{text}"
        );
    }
    let required = TlsError::from_rustls(
        rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired),
        "mx.example.test",
    );
    assert_eq!(required.problem(), Problem::ClientCertificateRequired);
}

#[test]
fn a_refusal_by_a_callers_verifier_is_still_typed() {
    let error = TlsError::from_rustls(
        rustls::Error::InvalidCertificate(CertificateError::Expired),
        "mx.example.test",
    );
    match &error {
        TlsError::Certificate(refusal) => {
            assert!(matches!(
                refusal.reason,
                RefusalReason::Invalid(CertificateError::Expired)
            ));
            assert_eq!(refusal.reached_as, "mx.example.test");
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("it has expired"), "{error}");
}

#[test]
fn timeouts_and_lost_connections_are_transient_and_certificates_are_not() {
    let timed_out = TlsError::from_io(std::io::ErrorKind::TimedOut.into(), "mx.example.test");
    assert!(matches!(timed_out, TlsError::TimedOut) && timed_out.is_transient());
    let reset = TlsError::from_io(
        std::io::ErrorKind::ConnectionReset.into(),
        "mx.example.test",
    );
    assert!(matches!(reset, TlsError::Io(_)) && reset.is_transient());
    let wrapped = std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
    );
    let certificate = TlsError::from_io(wrapped, "mx.example.test");
    assert!(matches!(certificate, TlsError::Certificate(_)));
    assert!(!certificate.is_transient());
}
