//! Certificate checks for DANE (RFC 7672 §3, RFC 7671, RFC 6698 §2.1): a server certificate
//! is authenticated by the exchange's secure TLSA records alone.
//!
//! - DANE-EE(3): the end-entity certificate (selector 0) or its SubjectPublicKeyInfo (1)
//!   matches, exactly (matching 0), by SHA-256 (1) or SHA-512 (2). Nothing else is checked:
//!   no name, no dates, no chain (RFC 7672 §3.1.1).
//! - DANE-TA(2): a certificate the server sent (not the end entity itself) matches; it is
//!   then the trust anchor, and the end-entity certificate must chain to it (webpki: dates,
//!   key usage) and be issued for one of the reference identifiers (RFC 7672 §3.2.2–3.2.3):
//!   the name the handshake was for (SNI: the TLSA base domain), or another name the
//!   exchange's DANE records accept ([`crate::dane::DaneRecords::reference_identifiers`]:
//!   the MX host name, its secure CNAME expansion, the next-hop domain).
//! - PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3) and never reach here.

use ring::digest;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::certificate::public_key_info;
use super::error::RefusalReason;
use crate::dns::TlsaRecord;

/// The usable TLSA records of one exchange, and the names beside the handshake's server
/// name that a DANE-TA(2) certificate may be issued for.
#[derive(Clone, Debug)]
pub(crate) struct DaneCheck {
    pub records: Vec<TlsaRecord>,
    pub names: Vec<ServerName<'static>>,
}

/// DANE-TA (RFC 6698 §2.1.1).
const DANE_TA: u8 = 2;
/// DANE-EE (RFC 6698 §2.1.1).
const DANE_EE: u8 = 3;

/// Is this TLSA record one SMTP can use (RFC 7672 §3.1): DANE-TA or DANE-EE, a known
/// selector and matching type?
pub fn usable(record: &TlsaRecord) -> bool {
    matches!(record.usage, DANE_TA | DANE_EE)
        && matches!(record.selector, 0 | 1)
        && matches!(record.matching, 0..=2)
}

/// Does `cert` match `record` (selector and matching type only)?
fn matches(record: &TlsaRecord, cert: &CertificateDer<'_>) -> bool {
    let selected: Vec<u8> = match record.selector {
        0 => cert.as_ref().to_vec(),
        1 => match public_key_info(cert) {
            Some(spki) => spki,
            None => return false,
        },
        _ => return false,
    };
    match record.matching {
        0 => selected == record.data,
        1 => digest::digest(&digest::SHA256, &selected).as_ref() == record.data.as_slice(),
        2 => digest::digest(&digest::SHA512, &selected).as_ref() == record.data.as_slice(),
        _ => false,
    }
}

impl DaneCheck {
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        provider: &CryptoProvider,
    ) -> Result<(), RefusalReason> {
        let usable: Vec<&TlsaRecord> = self.records.iter().filter(|r| usable(r)).collect();
        if usable
            .iter()
            .any(|r| r.usage == DANE_EE && matches(r, end_entity))
        {
            return Ok(());
        }
        for anchor in intermediates {
            if !usable
                .iter()
                .any(|r| r.usage == DANE_TA && matches(r, anchor))
            {
                continue;
            }
            if chains_to(
                end_entity,
                intermediates,
                anchor,
                std::iter::once(server_name).chain(&self.names),
                now,
                provider,
            ) {
                return Ok(());
            }
        }
        Err(RefusalReason::NoTlsaMatch(usable.len()))
    }
}

/// Does `end_entity` chain to `anchor` through `intermediates`, for server authentication,
/// valid now and for one of `names`?
fn chains_to<'n>(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchor: &CertificateDer<'_>,
    mut names: impl Iterator<Item = &'n ServerName<'n>>,
    now: UnixTime,
    provider: &CryptoProvider,
) -> bool {
    let Ok(anchor) = webpki::anchor_from_trusted_cert(anchor) else {
        return false;
    };
    let Ok(ee) = webpki::EndEntityCert::try_from(end_entity) else {
        return false;
    };
    let anchors = [anchor];
    let path = ee.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &anchors,
        intermediates,
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    );
    path.is_ok() && names.any(|name| ee.verify_is_valid_for_subject_name(name).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use std::time::Duration;

    const CA: &[u8] = include_bytes!("testdata/ca.crt");
    const SERVER: &[u8] = include_bytes!("testdata/server.crt");
    const UNKNOWN_CA: &[u8] = include_bytes!("testdata/unknown-ca.crt");
    const WRONG_HOST: &[u8] = include_bytes!("testdata/wrong-host.crt");
    const SNAKEOIL_EXPIRED: &[u8] = include_bytes!("testdata/snakeoil-expired.crt");

    fn der(pem: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem).unwrap()
    }

    fn record(usage: u8, selector: u8, matching: u8, cert: &[u8]) -> TlsaRecord {
        let cert = der(cert);
        let selected = match selector {
            0 => cert.as_ref().to_vec(),
            _ => public_key_info(&cert).unwrap(),
        };
        let data = match matching {
            0 => selected,
            1 => digest::digest(&digest::SHA256, &selected).as_ref().to_vec(),
            _ => digest::digest(&digest::SHA512, &selected).as_ref().to_vec(),
        };
        TlsaRecord {
            usage,
            selector,
            matching,
            data,
        }
    }

    fn check(
        records: Vec<TlsaRecord>,
        leaf: &[u8],
        chain: &[&[u8]],
        name: &str,
    ) -> Result<(), RefusalReason> {
        check_with_names(records, leaf, chain, name, &[])
    }

    fn check_with_names(
        records: Vec<TlsaRecord>,
        leaf: &[u8],
        chain: &[&[u8]],
        name: &str,
        names: &[&str],
    ) -> Result<(), RefusalReason> {
        let provider = rustls::crypto::ring::default_provider();
        let chain: Vec<CertificateDer<'static>> = chain.iter().map(|c| der(c)).collect();
        // A day into the server certificate's validity (after the expired ones' 2020).
        let info = super::super::certificate::CertificateInfo::parse(&der(SERVER)).unwrap();
        let now =
            UnixTime::since_unix_epoch(Duration::from_secs(info.not_before.as_secs() + 86_400));
        let name = ServerName::try_from(name.to_string()).unwrap();
        let names = names
            .iter()
            .map(|n| ServerName::try_from(n.to_string()).unwrap())
            .collect();
        DaneCheck { records, names }.verify(&der(leaf), &chain, &name, now, &provider)
    }

    #[test]
    fn dane_ee_matches_by_key_or_certificate_with_each_matching_type() {
        for (selector, matching) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
            let records = vec![record(3, selector, matching, SERVER)];
            assert!(
                check(records, SERVER, &[], "mx.example.test").is_ok(),
                "3 {selector} {matching}"
            );
        }
    }

    #[test]
    fn dane_ee_ignores_names_and_dates_but_not_the_key() {
        assert!(check(
            vec![record(3, 1, 1, SERVER)],
            SERVER,
            &[],
            "elsewhere.invalid"
        )
        .is_ok());
        let expired = vec![record(3, 1, 1, SNAKEOIL_EXPIRED)];
        assert!(check(expired, SNAKEOIL_EXPIRED, &[], "mx.example.test").is_ok());
        assert!(matches!(
            check(
                vec![record(3, 1, 1, UNKNOWN_CA)],
                SERVER,
                &[],
                "mx.example.test"
            ),
            Err(RefusalReason::NoTlsaMatch(1))
        ));
    }

    #[test]
    fn dane_ta_needs_the_anchor_in_the_chain_a_valid_chain_and_the_mx_name() {
        let ta = || vec![record(2, 0, 1, CA)];
        assert!(check(ta(), SERVER, &[CA], "mx.example.test").is_ok());
        assert!(check(vec![record(2, 1, 1, CA)], SERVER, &[CA], "mx.example.test").is_ok());
        // The anchor must be sent by the server.
        assert!(check(ta(), SERVER, &[], "mx.example.test").is_err());
        // The MX host name is the reference identifier (RFC 7672 §3.2.3).
        assert!(check(ta(), SERVER, &[CA], "other.invalid").is_err());
        assert!(check(ta(), WRONG_HOST, &[CA], "mx.example.test").is_err());
        // Another CA's leaf does not chain to this anchor.
        assert!(check(ta(), UNKNOWN_CA, &[CA], "mx.example.test").is_err());
    }

    #[test]
    fn dane_ta_accepts_any_reference_identifier_and_no_other_name() {
        // RFC 7672 §3.2.2: the TLSA base domain is sent (SNI), the MX host name, its
        // expansion and the next-hop domain are accepted as well.
        let ta = || vec![record(2, 0, 1, CA)];
        let names = ["mx.alias.test", "mx.example.test", "alias.test"];
        assert!(check_with_names(ta(), SERVER, &[CA], "mx.alias.test", &names).is_ok());
        assert!(check_with_names(
            ta(),
            SERVER,
            &[CA],
            "mx.alias.test",
            &["mx.alias.test", "alias.test"]
        )
        .is_err());
        // The extra names do not loosen the chain check.
        assert!(check_with_names(ta(), UNKNOWN_CA, &[CA], "mx.alias.test", &names).is_err());
        // DANE-EE ignores them all.
        assert!(check_with_names(
            vec![record(3, 1, 1, SERVER)],
            SERVER,
            &[],
            "elsewhere.invalid",
            &[]
        )
        .is_ok());
    }

    #[test]
    fn pkix_usages_are_unusable_for_smtp() {
        assert!(!usable(&record(1, 1, 1, SERVER)));
        assert!(!usable(&record(0, 0, 1, CA)));
        assert!(matches!(
            check(
                vec![record(1, 1, 1, SERVER)],
                SERVER,
                &[],
                "mx.example.test"
            ),
            Err(RefusalReason::NoTlsaMatch(0))
        ));
        let odd = TlsaRecord {
            usage: 3,
            selector: 1,
            matching: 9,
            data: vec![],
        };
        assert!(!usable(&odd));
    }
}
