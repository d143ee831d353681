//! DANE for SMTP (RFC 7672, RFC 7671, RFC 6698): each MX host's TLSA records, when DNSSEC
//! says they are genuine, decide how that host is authenticated.
//!
//! Secure means: the answer came with the AD bit from a validating resolver the caller
//! trusts ([`Dane::trust_resolver`]; by default only a resolver on a loopback address, as
//! Postfix's `smtp_dns_support_level = dnssec` assumes a local validating resolver). mxsend
//! does not validate signatures itself; the resolver (unbound, for instance) does, and the
//! path to it must be trustworthy, which loopback is. A validating resolver sets the AD bit
//! only when every RRset of the answer validates (RFC 4035 §3.2.3), so an answer that
//! carries a CNAME chain is secure only when every link is (RFC 7672 §1.3.2).
//!
//! For a domain ([`Dane::discover`]): the MX RRset must be secure (RFC 7672 §2.2.1), else
//! DANE does not apply to any of its hosts. Then each exchange is a non-MX destination
//! (§2.2.2):
//! - its address records are looked up first, following its CNAME chain. Not a CNAME:
//!   secure addresses make the exchange's name the one candidate TLSA base domain;
//!   insecure ones, none (DANE does not apply). A CNAME whose whole expansion is secure:
//!   two candidates, the fully expanded name first, then the exchange's own name (§2.2.2,
//!   RFC 7671 §7); names met half-way never are. A CNAME whose expansion is insecure: the
//!   alias itself is asked for (a CNAME query) and, when that record is secure, the
//!   exchange's own name is the one candidate, else DANE does not apply;
//! - the first candidate with a secure TLSA RRset at `_25._tcp.BASE` is the TLSA base
//!   domain (the name always uses port 25, the SMTP service, whatever port a test connects
//!   to). A TLSA name that is itself a CNAME is followed; the records count only when the
//!   whole chain is secure. No records or insecure ones: the next candidate;
//! - secure and usable records (DANE-TA(2)/DANE-EE(3), selector 0/1, matching 0/1/2):
//!   TLS is mandatory and the certificate is authenticated by those records alone
//!   ([`crate::tls::dane`]); no STARTTLS, or no match, and nothing is sent (§2.2). SNI is
//!   the TLSA base domain (§8.1, RFC 7671 §7) and DANE-TA name checks accept the reference
//!   identifiers of §3.2.2 ([`DaneRecords::reference_identifiers`]);
//! - secure but none usable (PKIX-TA/PKIX-EE are unusable for SMTP, §3.1.3): TLS mandatory,
//!   not authenticated (§2.2);
//! - no records, or not secure, at every candidate: DANE does not apply; MTA-STS or
//!   opportunistic TLS does;
//! - a lookup failing (SERVFAIL, timeout): the host is not tried (§2.2: its records may
//!   exist).
//!
//! A domain without MX records is its own (implicit) MX, handled the same way (§2.2.2).
//!
//! DANE wins over MTA-STS for a host it applies to (RFC 8461 §2).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use crate::dns::{
    tlsa_records, Answer, DnsError, QueryType, Resolver, TlsaRecord, MAX_CNAME_CHAIN,
};
use crate::tls::dane::usable;

/// The SMTP port, as it appears in TLSA names (`_25._tcp.HOST`, RFC 7672 §2.2.2).
pub const TLSA_PORT: u16 = 25;

/// DANE settings: which resolvers' AD bit is believed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dane {
    trusted: Vec<IpAddr>,
}

/// One question asked until the end of its CNAME chain, judged.
#[derive(Debug)]
struct Chased {
    answer: Result<Answer, DnsError>,
    /// Every answer on the way came with the AD bit from a trusted resolver.
    secure: bool,
    /// The end of the chain (the name asked, without an alias), with its final dot.
    canonical: String,
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

    /// `name`/`qtype` through its CNAME chain. A recursive resolver answers with the whole
    /// chain; when its answer stops at an alias without the target's records, the target
    /// is asked in turn (RFC 7672 §1.3.2), the chain secure only if every answer was.
    fn chase(&self, resolver: &Resolver, name: &str, qtype: QueryType) -> Chased {
        let mut asked = fqdn(name);
        let mut secure = true;
        let mut server = None;
        for _ in 0..=MAX_CNAME_CHAIN {
            let sourced = resolver.lookup_sourced(&asked, qtype);
            secure &= self.secure(sourced.answered_by);
            server = sourced.answered_by.map(|(server, _)| server);
            let canonical = sourced.canonical_name.map(|c| fqdn(&c));
            match (&sourced.answer, canonical) {
                (Ok(answer), Some(end)) if answer.is_empty() && !same_name(&end, &asked) => {
                    asked = end;
                }
                (_, canonical) => {
                    return Chased {
                        answer: sourced.answer,
                        secure,
                        canonical: canonical.unwrap_or(asked),
                    }
                }
            }
        }
        let why = format!("CNAME chain longer than {MAX_CNAME_CHAIN} links");
        Chased {
            answer: Err(match server {
                Some(server) => DnsError::Malformed {
                    name: fqdn(name),
                    server,
                    why,
                },
                None => DnsError::InvalidName {
                    name: fqdn(name),
                    why,
                },
            }),
            secure: false,
            canonical: asked,
        }
    }

    /// Each of `hosts`' DANE status for mail to `domain` (blocking DNS).
    pub fn discover(
        &self,
        resolver: &Resolver,
        domain: &str,
        hosts: &[String],
    ) -> Vec<(String, DaneStatus)> {
        let mx = self.chase(resolver, domain, QueryType::Mx);
        let implicit = matches!(&mx.answer, Ok(answer) if answer.is_empty());
        let mx_secure =
            matches!(&mx.answer, Ok(Answer::Mx(records)) if !records.is_empty()) && mx.secure;
        // RFC 7672 §3.2.2: the next-hop domain, and its CNAME expansion, are reference
        // identifiers too (the expansion only when the MX lookup that followed it was secure).
        let mut next_hop = vec![bare(domain)];
        if mx.secure && !same_name(&mx.canonical, domain) {
            next_hop.push(bare(&mx.canonical));
        }
        hosts
            .iter()
            .map(|host| {
                let status = if mx_secure || (implicit && same_name(host, domain)) {
                    // §2.2.1: with no MX records the domain is its own (implicit) MX, and
                    // its TLSA records count when its address records are secure, which
                    // the host's own checks require anyway.
                    self.host_status(resolver, host, &next_hop)
                } else {
                    DaneStatus::Insecure("the MX records are not DNSSEC-validated".into())
                };
                (host.clone(), status)
            })
            .collect()
    }

    /// How `host`'s address lookup went, for choosing its TLSA base domains.
    fn address_chain(&self, resolver: &Resolver, host: &str) -> AddressChain {
        let mut failure = None;
        for qtype in [QueryType::A, QueryType::Aaaa] {
            let chased = self.chase(resolver, host, qtype);
            match &chased.answer {
                Ok(answer) if !answer.is_empty() => {
                    if same_name(&chased.canonical, host) {
                        return AddressChain::Direct {
                            secure: chased.secure,
                        };
                    }
                    // §1.3.2: an insecure expansion may still start with a secure alias;
                    // only the alias record alone tells.
                    let alias_secure = chased.secure || {
                        let alias = resolver.lookup_sourced(&fqdn(host), QueryType::Cname);
                        matches!(&alias.answer, Ok(Answer::Alias(t)) if !t.is_empty())
                            && self.secure(alias.answered_by)
                    };
                    return AddressChain::Alias {
                        expanded: bare(&chased.canonical),
                        secure: chased.secure,
                        alias_secure,
                    };
                }
                Ok(_) | Err(DnsError::NoSuchDomain { .. }) => {}
                Err(e) => failure = Some(e.to_string()),
            }
        }
        match failure {
            Some(why) => AddressChain::Failed(why),
            None => AddressChain::NotFound,
        }
    }

    /// The TLSA records at `base`'s `_25._tcp` name, judged.
    fn tlsa_at(&self, resolver: &Resolver, base: &str) -> TlsaLookup {
        let name = format!("_{TLSA_PORT}._tcp.{}", fqdn(base));
        let chased = self.chase(resolver, &name, QueryType::Tlsa);
        match chased.answer {
            Ok(answer) => {
                let records = tlsa_records(answer);
                if records.is_empty() {
                    TlsaLookup::NoRecords
                } else if chased.secure {
                    TlsaLookup::Secure(records)
                } else {
                    TlsaLookup::Insecure
                }
            }
            Err(DnsError::NoSuchDomain { .. }) => TlsaLookup::NoRecords,
            Err(e) => TlsaLookup::Failed(e.to_string()),
        }
    }

    /// `host`'s TLSA status (its MX RRset being secure, or `host` the implicit MX):
    /// `next_hop` are the next-hop domain's reference identifiers.
    fn host_status(&self, resolver: &Resolver, host: &str, next_hop: &[String]) -> DaneStatus {
        let chain = self.address_chain(resolver, host);
        let candidates = match candidate_base_domains(host, &chain) {
            Ok(candidates) => candidates,
            Err(status) => return status,
        };
        let expanded = match &chain {
            AddressChain::Alias {
                expanded,
                secure: true,
                ..
            } => Some(expanded.as_str()),
            _ => None,
        };
        choose_base_domain(host, expanded, &candidates, next_hop, |base| {
            self.tlsa_at(resolver, base)
        })
    }
}

/// What the address lookup of an exchange found, as RFC 7672 §2.2.2 tells its cases apart.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AddressChain {
    /// Address records at the name itself.
    Direct {
        /// They are secure.
        secure: bool,
    },
    /// Address records at the end of a CNAME chain.
    Alias {
        /// The fully expanded name, without its final dot.
        expanded: String,
        /// Every link and the address records are secure.
        secure: bool,
        /// The first link (the exchange's own CNAME record) is secure.
        alias_secure: bool,
    },
    /// No address records: the host is unreachable.
    NotFound,
    /// The lookup failed.
    Failed(String),
}

/// The candidate TLSA base domains of `host`, in the order they are tried (RFC 7672 §2.2.2,
/// RFC 7671 §7), or its status when DANE cannot apply.
fn candidate_base_domains(host: &str, chain: &AddressChain) -> Result<Vec<String>, DaneStatus> {
    let host = bare(host);
    match chain {
        AddressChain::Direct { secure: true } => Ok(vec![host]),
        AddressChain::Direct { secure: false } => Err(DaneStatus::Insecure(format!(
            "the address records of {host} are not DNSSEC-validated"
        ))),
        AddressChain::Alias {
            expanded,
            secure: true,
            ..
        } => Ok(vec![expanded.clone(), host]),
        AddressChain::Alias {
            alias_secure: true, ..
        } => Ok(vec![host]),
        AddressChain::Alias { expanded, .. } => Err(DaneStatus::Insecure(format!(
            "{host} is a CNAME for {expanded}, and neither is DNSSEC-validated"
        ))),
        AddressChain::NotFound => Err(DaneStatus::Insecure(format!(
            "{host} has no address records"
        ))),
        AddressChain::Failed(why) => Err(DaneStatus::Failed(why.clone())),
    }
}

/// What a TLSA lookup at one candidate base domain found.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TlsaLookup {
    /// Secure records (usable or not).
    Secure(Vec<TlsaRecord>),
    /// Records, not secure.
    Insecure,
    /// No records (NODATA or NXDOMAIN).
    NoRecords,
    /// The lookup failed.
    Failed(String),
}

/// `host`'s status from its candidate base domains, each looked up by `lookup` in turn until
/// one has a secure TLSA RRset (RFC 7672 §2.2.2): that candidate is the TLSA base domain. A
/// failed lookup ends the search (the host is not tried); insecure or absent records move
/// on. `expanded`: the host's secure CNAME expansion; `next_hop`: the next-hop domain's
/// reference identifiers.
fn choose_base_domain(
    host: &str,
    expanded: Option<&str>,
    candidates: &[String],
    next_hop: &[String],
    mut lookup: impl FnMut(&str) -> TlsaLookup,
) -> DaneStatus {
    let mut insecure_at = Vec::new();
    for base in candidates {
        match lookup(base) {
            TlsaLookup::Secure(records) => {
                let mut names = vec![base.clone()];
                for name in [Some(host), expanded]
                    .into_iter()
                    .flatten()
                    .map(bare)
                    .chain(next_hop.iter().map(|n| bare(n)))
                {
                    if !names.iter().any(|n| same_name(n, &name)) {
                        names.push(name);
                    }
                }
                let found = DaneRecords {
                    records,
                    base_domain: base.clone(),
                    expanded: expanded.map(bare),
                    reference_identifiers: names,
                };
                return if found.records.iter().any(usable) {
                    DaneStatus::Secure(found)
                } else {
                    DaneStatus::SecureUnusable(found)
                };
            }
            TlsaLookup::Failed(why) => return DaneStatus::Failed(why),
            TlsaLookup::Insecure => insecure_at.push(base.as_str()),
            TlsaLookup::NoRecords => {}
        }
    }
    if insecure_at.is_empty() {
        DaneStatus::NoTlsa
    } else {
        DaneStatus::Insecure(format!(
            "the TLSA records at {} are not DNSSEC-validated",
            insecure_at.join(" and ")
        ))
    }
}

/// A name with its final dot.
fn fqdn(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

/// A name without its final dot, in lower case.
fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The same DNS name (case and a final dot aside).
fn same_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// Secure TLSA records and where they were found: what authenticates one exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DaneRecords {
    /// The records, in the server's order.
    pub records: Vec<TlsaRecord>,
    /// The TLSA base domain (RFC 7672 §2.2.2): the exchange's name or its secure CNAME
    /// expansion, whichever had the records first. It is sent as SNI (§8.1, RFC 7671 §7)
    /// and is the primary reference identifier.
    pub base_domain: String,
    /// The exchange's secure CNAME expansion, when it is an alias.
    pub expanded: Option<String>,
    /// The names a DANE-TA(2) certificate may be issued for (§3.2.2), the base domain
    /// first, then the exchange's name, its secure expansion, and the next-hop domain (with
    /// its own CNAME expansion when the MX lookup followed one securely). DANE-EE(3) checks
    /// no name (§3.2.1).
    pub reference_identifiers: Vec<String>,
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
    Secure(DaneRecords),
    /// Secure TLSA records, none usable for SMTP: TLS mandatory, not authenticated.
    SecureUnusable(DaneRecords),
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
        self.found().map(|found| found.records.as_slice())
    }

    /// The records with their TLSA base domain and reference identifiers, when secure.
    pub fn found(&self) -> Option<&DaneRecords> {
        match self {
            DaneStatus::Secure(found) | DaneStatus::SecureUnusable(found) => Some(found),
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
            DaneStatus::Secure(found) | DaneStatus::SecureUnusable(found) => {
                let kind = if matches!(self, DaneStatus::Secure(_)) {
                    "secure"
                } else {
                    "secure, no usable record: TLS unauthenticated"
                };
                let list: Vec<String> = found.records.iter().map(format_record).collect();
                write!(f, "DANE {kind}: TLSA {}", list.join(", "))?;
                if let Some(expanded) = &found.expanded {
                    write!(
                        f,
                        " (a CNAME for {expanded}; TLSA base domain {})",
                        found.base_domain
                    )?;
                }
                Ok(())
            }
            DaneStatus::Failed(why) => write!(f, "DANE: TLSA lookup failed ({why}); not tried"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(usage: u8) -> TlsaRecord {
        TlsaRecord {
            usage,
            selector: 1,
            matching: 1,
            data: vec![0xab; 32],
        }
    }

    fn alias(secure: bool, alias_secure: bool) -> AddressChain {
        AddressChain::Alias {
            expanded: "mail.hosting.test".into(),
            secure,
            alias_secure,
        }
    }

    #[test]
    fn a_plain_secure_host_is_its_own_only_candidate() {
        let chain = AddressChain::Direct { secure: true };
        assert_eq!(
            candidate_base_domains("MX.Example.test.", &chain),
            Ok(vec!["mx.example.test".to_string()])
        );
    }

    #[test]
    fn insecure_address_records_mean_no_tlsa_lookup() {
        // RFC 7672 §2.2.2: SHOULD NOT search for TLSA records.
        let chain = AddressChain::Direct { secure: false };
        assert!(matches!(
            candidate_base_domains("mx.example.test", &chain),
            Err(DaneStatus::Insecure(_))
        ));
    }

    #[test]
    fn a_secure_cname_tries_the_expanded_name_first_then_the_original() {
        // RFC 7672 §2.2.2 "Secure CNAME", RFC 7671 §7.
        assert_eq!(
            candidate_base_domains("mx.alias.test", &alias(true, true)),
            Ok(vec![
                "mail.hosting.test".to_string(),
                "mx.alias.test".to_string()
            ])
        );
    }

    #[test]
    fn an_insecure_expansion_behind_a_secure_alias_leaves_the_original_name() {
        // RFC 7672 §2.2.2 "Insecure CNAME": the initial CNAME response is secure.
        assert_eq!(
            candidate_base_domains("mx.alias.test", &alias(false, true)),
            Ok(vec!["mx.alias.test".to_string()])
        );
    }

    #[test]
    fn an_insecure_alias_means_dane_does_not_apply() {
        assert!(matches!(
            candidate_base_domains("mx.alias.test", &alias(false, false)),
            Err(DaneStatus::Insecure(_))
        ));
    }

    #[test]
    fn a_failed_address_lookup_keeps_the_host_untried_and_no_address_is_no_dane() {
        assert_eq!(
            candidate_base_domains("mx.test", &AddressChain::Failed("SERVFAIL".into())),
            Err(DaneStatus::Failed("SERVFAIL".into()))
        );
        assert!(matches!(
            candidate_base_domains("mx.test", &AddressChain::NotFound),
            Err(DaneStatus::Insecure(_))
        ));
    }

    /// `choose_base_domain` over these answers per candidate, and the candidates asked.
    fn choose(
        expanded: Option<&str>,
        candidates: &[&str],
        answers: &[(&str, TlsaLookup)],
    ) -> (DaneStatus, Vec<String>) {
        let candidates: Vec<String> = candidates.iter().map(|c| c.to_string()).collect();
        let mut asked = Vec::new();
        let status = choose_base_domain(
            "mx.alias.test",
            expanded,
            &candidates,
            &["alias.test".to_string()],
            |base| {
                asked.push(base.to_string());
                answers
                    .iter()
                    .find(|(name, _)| *name == base)
                    .map_or(TlsaLookup::NoRecords, |(_, answer)| answer.clone())
            },
        );
        (status, asked)
    }

    #[test]
    fn the_expanded_name_with_secure_records_is_the_base_domain() {
        let (status, asked) = choose(
            Some("mail.hosting.test"),
            &["mail.hosting.test", "mx.alias.test"],
            &[
                ("mail.hosting.test", TlsaLookup::Secure(vec![record(3)])),
                ("mx.alias.test", TlsaLookup::Secure(vec![record(2)])),
            ],
        );
        assert_eq!(asked, ["mail.hosting.test"]);
        let found = status.found().expect("secure");
        assert!(matches!(status, DaneStatus::Secure(_)));
        assert_eq!(found.base_domain, "mail.hosting.test");
        assert_eq!(found.records, [record(3)]);
        // RFC 7672 §3.2.2: the base domain first, then the MX host name and the next hop.
        assert_eq!(
            found.reference_identifiers,
            ["mail.hosting.test", "mx.alias.test", "alias.test"]
        );
        assert!(status
            .to_string()
            .contains("TLSA base domain mail.hosting.test"));
    }

    #[test]
    fn no_or_insecure_records_at_the_expanded_name_fall_back_to_the_original() {
        for at_expanded in [TlsaLookup::NoRecords, TlsaLookup::Insecure] {
            let (status, asked) = choose(
                Some("mail.hosting.test"),
                &["mail.hosting.test", "mx.alias.test"],
                &[
                    ("mail.hosting.test", at_expanded.clone()),
                    ("mx.alias.test", TlsaLookup::Secure(vec![record(3)])),
                ],
            );
            assert_eq!(asked, ["mail.hosting.test", "mx.alias.test"]);
            let found = status.found().expect("secure");
            assert_eq!(found.base_domain, "mx.alias.test", "{at_expanded:?}");
            assert_eq!(
                found.reference_identifiers,
                ["mx.alias.test", "mail.hosting.test", "alias.test"]
            );
        }
    }

    #[test]
    fn a_failed_tlsa_lookup_ends_the_search_unreached() {
        let (status, asked) = choose(
            Some("mail.hosting.test"),
            &["mail.hosting.test", "mx.alias.test"],
            &[
                ("mail.hosting.test", TlsaLookup::Failed("timed out".into())),
                ("mx.alias.test", TlsaLookup::Secure(vec![record(3)])),
            ],
        );
        assert_eq!(asked, ["mail.hosting.test"]);
        assert_eq!(status, DaneStatus::Failed("timed out".into()));
    }

    #[test]
    fn nothing_secure_anywhere_means_dane_does_not_apply() {
        let (status, _) = choose(None, &["mx.alias.test"], &[]);
        assert_eq!(status, DaneStatus::NoTlsa);
        let (status, _) = choose(
            Some("mail.hosting.test"),
            &["mail.hosting.test", "mx.alias.test"],
            &[("mail.hosting.test", TlsaLookup::Insecure)],
        );
        assert!(
            matches!(status, DaneStatus::Insecure(ref why) if why.contains("mail.hosting.test"))
        );
        assert!(!status.applies());
    }

    #[test]
    fn secure_records_none_usable_still_make_tls_mandatory() {
        let (status, _) = choose(
            None,
            &["mx.alias.test"],
            &[("mx.alias.test", TlsaLookup::Secure(vec![record(1)]))],
        );
        assert!(matches!(status, DaneStatus::SecureUnusable(_)));
        assert!(status.applies());
    }
}
