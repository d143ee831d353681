//! Certificate checks for DANE (RFC 7672 §3, RFC 7671, RFC 6698 §2.1): a server certificate
//! is authenticated by the exchange's secure TLSA records alone.
//!
//! - DANE-EE(3): the end-entity certificate (selector 0) or its SubjectPublicKeyInfo (1)
//!   matches, exactly (matching 0), by SHA-256 (1) or SHA-512 (2). Nothing else is checked:
//!   no name, no dates, no chain (RFC 7672 §3.1.1).
//! - DANE-TA(2): a certificate the server sent (not the end entity itself) matches; it is
//!   then the trust anchor, and the end-entity certificate must chain to it (webpki: dates,
//!   key usage) and be issued for the MX host name (RFC 7672 §3.2.2–3.2.3: the reference
//!   identifier is the MX host name, the TLSA base domain).
//! - PKIX-TA(0) and PKIX-EE(1) are unusable for SMTP (RFC 7672 §3.1.3) and never reach here.

use ring::digest;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::certificate::public_key_info;
use super::error::RefusalReason;
use crate::dns::TlsaRecord;

/// The usable TLSA records of one exchange.
#[derive(Clone, Debug)]
pub(crate) struct DaneCheck {
    pub records: Vec<TlsaRecord>,
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
                server_name,
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
/// valid now and for `server_name`?
fn chains_to(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchor: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
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
    path.is_ok() && ee.verify_is_valid_for_subject_name(server_name).is_ok()
}
