//! DANE for SMTP (RFC 7672, RFC 7671, RFC 6698): each MX host's TLSA records, when DNSSEC
//! says they are genuine, decide how that host is authenticated.
//!
//! Secure means: the answer came with the AD bit from a validating resolver the caller
//! trusts ([`Dane::trust_resolver`]; by default only a resolver on a loopback address, as
//! Postfix's `smtp_dns_support_level = dnssec` assumes a local validating resolver). mxsend
//! does not validate signatures itself; the resolver (unbound, for instance) does, and the
//! path to it must be trustworthy, which loopback is.
//!
//! For a domain ([`Dane::discover`]): the MX RRset must be secure (RFC 7672 §2.2.1), else
//! DANE does not apply to any of its hosts. Then for each exchange, `_25._tcp.HOST` TLSA
//! (§2.2.2; the name always uses port 25, the SMTP service, whatever port a test connects
//! to):
//! - secure and usable records (DANE-TA(2)/DANE-EE(3), selector 0/1, matching 0/1/2):
//!   TLS is mandatory and the certificate is authenticated by those records alone
//!   ([`crate::tls::dane`]); no STARTTLS, or no match, and nothing is sent (§2.2);
//! - secure but none usable (PKIX-TA/PKIX-EE are unusable for SMTP, §3.1.3): TLS mandatory,
//!   not authenticated (§2.2);
//! - no records, or not secure: DANE does not apply; MTA-STS or opportunistic TLS does;
//! - the lookup failing (SERVFAIL, timeout): the host is not tried (§2.2.1: its records
//!   may exist).
//!
//! A domain without MX records is its own (implicit) MX: its `_25._tcp.DOMAIN` TLSA records
//! apply when its address records are secure (§2.2.1).
//!
//! DANE wins over MTA-STS for a host it applies to (RFC 8461 §2). Not handled: CNAME-expanded
//! MX hosts get no DANE.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::dns::{tlsa_records, Answer, DnsError, QueryType, Resolver, TlsaRecord};
use crate::tls::dane::usable;

/// The SMTP port, as it appears in TLSA names (`_25._tcp.HOST`, RFC 7672 §2.2.2).
pub const TLSA_PORT: u16 = 25;

/// DANE settings: which resolvers' AD bit is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dane {
    trusted: Vec<IpAddr>,
}

impl Dane {
    /// DANE trusting the AD bit of resolvers on loopback addresses only.
    pub fn new() -> Dane {
        Dane::default()
    }

    /// Also trust this resolver's AD bit (a validating resolver reached over a trusted path).
    pub fn trust_resolver(mut self, ip: IpAddr) -> Dane {
        self.trusted.push(ip);
        self
    }

    /// Is an answer from `server` with the AD bit secure?
    pub fn trusts(&self, server: SocketAddr) -> bool {
        server.ip().is_loopback() || self.trusted.contains(&server.ip())
    }

    fn secure(&self, answered: Option<(SocketAddr, bool)>) -> bool {
        answered.is_some_and(|(server, ad)| ad && self.trusts(server))
    }

    /// Each of `hosts`' DANE status for mail to `domain` (blocking DNS).
    pub fn discover(
        &self,
        resolver: &Resolver,
        domain: &str,
        hosts: &[String],
    ) -> Vec<(String, DaneStatus)> {
        let (mx, answered) = resolver.lookup_with_ad(&fqdn(domain), QueryType::Mx);
        let implicit = matches!(&mx, Ok(answer) if answer.is_empty());
        let mx_secure =
            matches!(&mx, Ok(Answer::Mx(records)) if !records.is_empty()) && self.secure(answered);
        hosts
            .iter()
            .map(|host| {
                let status = if mx_secure {
                    self.host_status(resolver, host)
                } else if implicit && same_name(host, domain) {
                    // §2.2.1: no MX records, the domain is its own (implicit) MX; its
                    // TLSA records count when its address records are secure.
                    if self.addresses_secure(resolver, host) {
                        self.host_status(resolver, host)
                    } else {
                        DaneStatus::Insecure(
                            "no MX records, and the address records are not DNSSEC-validated"
                                .into(),
                        )
                    }
                } else {
                    DaneStatus::Insecure("the MX records are not DNSSEC-validated".into())
                };
                (host.clone(), status)
            })
            .collect()
    }

    /// `host`'s A (else AAAA) records exist and are secure.
    fn addresses_secure(&self, resolver: &Resolver, host: &str) -> bool {
        [QueryType::A, QueryType::Aaaa].into_iter().any(|qtype| {
            let (answer, answered) = resolver.lookup_with_ad(&fqdn(host), qtype);
            matches!(&answer, Ok(Answer::Addresses(a)) if !a.is_empty()) && self.secure(answered)
        })
    }

    /// `host`'s TLSA status (its MX RRset being secure).
    fn host_status(&self, resolver: &Resolver, host: &str) -> DaneStatus {
        let name = format!("_{TLSA_PORT}._tcp.{}", fqdn(host));
        let (answer, answered) = resolver.lookup_with_ad(&name, QueryType::Tlsa);
        match answer {
            Ok(answer) => {
                let records = tlsa_records(answer);
                if records.is_empty() {
                    DaneStatus::NoTlsa
                } else if !self.secure(answered) {
                    DaneStatus::Insecure("the TLSA records are not DNSSEC-validated".into())
                } else if records.iter().any(usable) {
                    DaneStatus::Secure(records)
                } else {
                    DaneStatus::SecureUnusable(records)
                }
            }
            Err(DnsError::NoSuchDomain { .. }) => DaneStatus::NoTlsa,
            Err(e) => DaneStatus::Failed(e.to_string()),
        }
    }
}

/// A name with its final dot.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// The same DNS name (case and a final dot aside).
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// What DANE says about one MX host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaneStatus {
    /// DANE does not apply: why (the MX or TLSA answer is not secure).
    Insecure(String),
    /// No TLSA records: DANE does not apply.
    NoTlsa,
    /// Secure TLSA records with usable ones: TLS mandatory, authenticated by them.
    Secure(Vec<TlsaRecord>),
    /// Secure TLSA records, none usable for SMTP: TLS mandatory, not authenticated.
    SecureUnusable(Vec<TlsaRecord>),
    /// The TLSA lookup failed: the host is not tried.
    Failed(String),
}

impl DaneStatus {
    /// Does DANE decide this host's TLS (secure TLSA records, usable or not)?
    pub fn applies(&self) -> bool {
        matches!(self, DaneStatus::Secure(_) | DaneStatus::SecureUnusable(_))
    }

    /// The records, when secure.
    pub fn records(&self) -> Option<&[TlsaRecord]> {
        match self {
            DaneStatus::Secure(records) | DaneStatus::SecureUnusable(records) => Some(records),
            _ => None,
        }
    }
}

/// A TLSA record as in a zone file: `3 1 1 HEX`.
pub fn format_record(record: &TlsaRecord) -> String {
    let hex: String = record.data.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{} {} {} {hex}",
        record.usage, record.selector, record.matching
    )
}

impl fmt::Display for DaneStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DaneStatus::Insecure(why) => write!(f, "DANE insecure ({why})"),
            DaneStatus::NoTlsa => f.write_str("DANE: no TLSA records"),
            DaneStatus::Secure(records) | DaneStatus::SecureUnusable(records) => {
                let kind = if matches!(self, DaneStatus::Secure(_)) {
                    "secure"
                } else {
                    "secure, no usable record: TLS unauthenticated"
                };
                let list: Vec<String> = records.iter().map(format_record).collect();
                write!(f, "DANE {kind}: TLSA {}", list.join(", "))
            }
            DaneStatus::Failed(why) => write!(f, "DANE: TLSA lookup failed ({why}); not tried"),
        }
    }
}
