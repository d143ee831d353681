//! A stub resolver for mail: MX, A, AAAA, TXT and TLSA over UDP and TCP, shared by every
//! runtime.
//!
//! Why our own: a mail client needs three record types, an answer it can trust to be for its
//! question, and the difference between "no such domain" (bounce), "no MX" (use the domain
//! itself) and "DNS is down" (try later), which general resolvers tend to blur. hickory-proto
//! encodes and decodes messages; everything else is here, in sans-IO form:
//!
//! - [`Lookup`] (in `lookup.rs`) is the protocol: query IDs, answer validation, retries across
//!   servers, UDP→TCP on truncation. It emits [`Transmit`]s and is fed [`Input`]s; a runtime's
//!   driver only opens sockets and moves bytes. The blocking driver (feature `blocking`) is
//!   one short loop in `blocking.rs`; the async driver (features `smol`, `async-std`) is the
//!   same loop over a `crate::aio::Runtime`'s sockets in `aio.rs`.
//! - [`Resolver`] holds the [`ResolverConfig`] (from /etc/resolv.conf or explicit servers) and
//!   offers `mx`, `ip_addrs` and `plan` (blocking, and `*_async` for the async runtimes), which
//!   combine the MX answer with [`mxsend_core::mx::plan`] and resolve each exchange. Which
//!   questions these ask, in what order, and how the answers combine are sans-IO machines in
//!   `plan.rs` (and `merge_families`, `exchanges` here), once for both: each runtime only
//!   runs the lookups a machine asks for.
//!
//! RFCs: messages per RFC 1035 §4 (UDP §4.2.1, TCP with a 2-byte length §4.2.2, RFC 7766);
//! EDNS(0) per RFC 6891 advertising [`DEFAULT_EDNS_PAYLOAD`]; answers accepted only when ID,
//! question and QR bit match (RFC 5452 §9.1); CNAME chains followed within the answer (RFC 1034
//! §3.6.2, §4.3.2), at most [`MAX_CNAME_CHAIN`] links; NXDOMAIN after a CNAME applies to the
//! chain's end (RFC 6604 §2); internationalised names sent as A-labels (RFC 5891 §4, UTS #46).
//!
//! TXT (MTA-STS, RFC 8461 §3.1), TLSA (DANE, RFC 6698) and a name's own CNAME record are
//! asked too. Every query sets the AD bit (RFC 6840 §5.7) and a lookup keeps the answering
//! server and the answer's AD bit ([`Lookup::answered_by`]), which [`crate::dane`] believes
//! only from a trusted (loopback) resolver, and the name the answer's CNAME chain ends at
//! ([`Lookup::canonical_name`]): DANE's TLSA base domain for an aliased MX host (RFC 7672
//! §2.2.2).
//!
//! Deliberate limits: no cache (one delivery asks each question once), no search list or
//! `ndots` (mail domains are always fully qualified, RFC 5321 §2.3.5), no DNSSEC validation
//! of its own (that is the recursive server's job), `rotate` ignored, and
//! IPv6 scope IDs in resolv.conf ignored (link-local servers need an interface index that
//! resolv.conf names by interface name).

pub(crate) mod lookup;
mod message;
#[cfg(any(feature = "blocking", feature = "aio"))]
mod plan;

#[cfg(feature = "aio")]
mod aio;
// Also with the async runtimes alone: MTA-STS fetches run on their blocking pool.
#[cfg(any(feature = "blocking", feature = "aio"))]
mod blocking;

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use mxsend_core::mx::{Exchange, MxAnswer, MxRecord, NoRoute};

pub(crate) use lookup::{Action, Input, Lookup, Transmit, Transport};
pub use message::MAX_CNAME_CHAIN;

/// The UDP payload size advertised with EDNS(0): 1232 octets fit the IPv6 minimum MTU without
/// fragmentation (DNS Flag Day 2020, RFC 9715 §3.2 recommendation).
pub const DEFAULT_EDNS_PAYLOAD: u16 = 1232;

/// The per-try timeout when resolv.conf says nothing: 5 s, glibc's `RES_TIMEOUT`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Rounds over all servers when resolv.conf says nothing: 2, glibc's `RES_DFLRETRY`.
pub const DEFAULT_ATTEMPTS: u32 = 2;

/// The DNS port (RFC 1035 §4.2).
pub const DNS_PORT: u16 = 53;

/// Where resolv(5) keeps the system's name servers.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The record types a mail client asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueryType {
    /// Mail exchangers (RFC 1035 §3.3.9).
    Mx,
    /// IPv4 addresses (RFC 1035 §3.4.1).
    A,
    /// IPv6 addresses (RFC 3596 §2).
    Aaaa,
    /// Text records (RFC 1035 §3.3.14): MTA-STS's `_mta-sts` record (RFC 8461 §3.1).
    Txt,
    /// TLSA records (RFC 6698 §2): DANE for SMTP (RFC 7672).
    Tlsa,
    /// A name's own alias record (RFC 1035 §3.3.1), not followed: whether the first link of a
    /// CNAME chain is DNSSEC-signed (RFC 7672 §1.3.2).
    Cname,
}

/// One TLSA record (RFC 6698 §2.1), its fields as numbers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsaRecord {
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// Selector: 0 the full certificate, 1 its SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// The certificate association data.
    pub data: Vec<u8>,
}

/// A successful answer: the records of the asked type at the end of the CNAME chain. Empty is
/// NODATA: the name exists but has no records of that type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// For [`QueryType::Mx`], in the server's order.
    Mx(Vec<MxRecord>),
    /// For [`QueryType::A`] or [`QueryType::Aaaa`], in the server's order.
    Addresses(Vec<IpAddr>),
    /// For [`QueryType::Txt`]: each record's character-strings joined (RFC 7208 §3.3 and
    /// RFC 8461 §3.1 read a record so), in the server's order.
    Txt(Vec<String>),
    /// For [`QueryType::Tlsa`], in the server's order.
    Tlsa(Vec<TlsaRecord>),
    /// For [`QueryType::Cname`]: the alias's target (one, for a well-formed zone).
    Alias(Vec<String>),
}

impl Answer {
    /// True for NODATA.
    pub fn is_empty(&self) -> bool {
        match self {
            Answer::Mx(records) => records.is_empty(),
            Answer::Addresses(addresses) => addresses.is_empty(),
            Answer::Txt(texts) => texts.is_empty(),
            Answer::Tlsa(records) => records.is_empty(),
            Answer::Alias(targets) => targets.is_empty(),
        }
    }
}

/// An answer with where it came from: what DANE needs to judge it (RFC 7672 §2.1.1) and to
/// follow its CNAME chain (§2.2.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcedAnswer {
    /// The answer, or why there is none.
    pub answer: Result<Answer, DnsError>,
    /// The server that gave it and whether it set the AD bit ([`Lookup::answered_by`]).
    pub answered_by: Option<(SocketAddr, bool)>,
    /// The owner of the answer's records: the end of the CNAME chain
    /// ([`Lookup::canonical_name`]); `None` without a NOERROR answer.
    pub canonical_name: Option<String>,
}

/// Why one try at one server failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryFailure {
    /// No answer before the try's deadline.
    Timeout,
    /// Connecting, sending or receiving failed (for example: connection refused).
    Io(io::ErrorKind),
    /// The server answered with this error RCODE (2 SERVFAIL, 5 REFUSED, …; RFC 1035 §4.1.1).
    ServerFailure(u16),
    /// The server's answer was unusable.
    Malformed(String),
}

impl fmt::Display for TryFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryFailure::Timeout => f.write_str("timed out"),
            TryFailure::Io(kind) => write!(f, "{kind}"),
            TryFailure::ServerFailure(rcode) => {
                let name = match rcode {
                    1 => "FORMERR",
                    2 => "SERVFAIL",
                    4 => "NOTIMP",
                    5 => "REFUSED",
                    _ => "error",
                };
                write!(f, "answered {name} (RCODE {rcode})")
            }
            TryFailure::Malformed(why) => write!(f, "malformed answer: {why}"),
        }
    }
}

/// Why a lookup has no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsError {
    /// The name does not exist (NXDOMAIN). Permanent.
    NoSuchDomain {
        /// The name asked (A-labels, fully qualified).
        name: String,
    },
    /// No server gave an answer: every try, in order, with its server and what went wrong.
    NoAnswer {
        /// The name asked.
        name: String,
        /// Each try that failed.
        failures: Vec<(SocketAddr, TryFailure)>,
    },
    /// A server answered, but the answer cannot be used (undecodable, a CNAME chain too long).
    Malformed {
        /// The name asked.
        name: String,
        /// The server that sent it.
        server: SocketAddr,
        /// What is wrong with it.
        why: String,
    },
    /// The name cannot be asked: empty, a label too long, or not valid IDNA.
    InvalidName {
        /// The name as given.
        name: String,
        /// Why.
        why: String,
    },
    /// No name server is configured.
    NoServers,
    /// The resolver configuration could not be read.
    Config {
        /// Why (the file and the parser's or the OS's message).
        why: String,
    },
}

impl DnsError {
    /// True when asking again later may give an answer (timeouts, SERVFAIL, malformed data);
    /// false for a name that does not exist or cannot exist, and for configuration errors,
    /// which need a person.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DnsError::NoAnswer { .. } | DnsError::Malformed { .. })
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::NoSuchDomain { name } => write!(f, "{name}: no such domain (NXDOMAIN)"),
            DnsError::NoAnswer { name, failures } => {
                write!(f, "{name}: no answer from any name server")?;
                for (i, (server, failure)) in failures.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}{server} {failure}")?;
                }
                Ok(())
            }
            DnsError::Malformed { name, server, why } => {
                write!(f, "{name}: malformed answer from {server}: {why}")
            }
            DnsError::InvalidName { name, why } => {
                write!(f, "{name:?} is not a valid DNS name: {why}")
            }
            DnsError::NoServers => f.write_str("no name servers configured"),
            DnsError::Config { why } => write!(f, "resolver configuration: {why}"),
        }
    }
}

impl std::error::Error for DnsError {}

/// Which servers to ask, and how patiently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Recursive name servers, asked in order.
    pub servers: Vec<SocketAddr>,
    /// How long one try waits for its answer.
    pub timeout: Duration,
    /// Rounds over all servers (at least 1 is made).
    pub attempts: u32,
    /// The EDNS(0) UDP payload size to advertise, or `None` for plain 512-octet DNS.
    pub edns_payload: Option<u16>,
}

impl ResolverConfig {
    /// These servers, with the defaults for the rest.
    pub fn with_servers(servers: Vec<SocketAddr>) -> ResolverConfig {
        ResolverConfig {
            servers,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
        }
    }

    /// The system's configuration, from [`RESOLV_CONF`].
    pub fn system() -> Result<ResolverConfig, DnsError> {
        Self::from_resolv_conf_file(Path::new(RESOLV_CONF))
    }

    /// The configuration in a resolv.conf file.
    pub fn from_resolv_conf_file(path: &Path) -> Result<ResolverConfig, DnsError> {
        let text = std::fs::read(path).map_err(|e| DnsError::Config {
            why: format!("{}: {e}", path.display()),
        })?;
        Self::from_resolv_conf(&text).map_err(|e| match e {
            DnsError::Config { why } => DnsError::Config {
                why: format!("{}: {why}", path.display()),
            },
            other => other,
        })
    }

    /// The configuration in resolv.conf text: `nameserver` lines (port 53), `options timeout:`
    /// and `attempts:`. Like glibc, no `nameserver` line means the local server, 127.0.0.1.
    pub fn from_resolv_conf(text: &[u8]) -> Result<ResolverConfig, DnsError> {
        let parsed = resolv_conf::Config::parse(text)
            .map_err(|e| DnsError::Config { why: e.to_string() })?;
        let mut servers: Vec<SocketAddr> = parsed
            .nameservers
            .iter()
            .map(|ip| SocketAddr::new(IpAddr::from(ip), DNS_PORT))
            .collect();
        if servers.is_empty() {
            servers.push(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), DNS_PORT));
        }
        Ok(ResolverConfig {
            servers,
            timeout: Duration::from_secs(u64::from(parsed.timeout.max(1))),
            attempts: parsed.attempts.max(1),
            edns_payload: Some(DEFAULT_EDNS_PAYLOAD),
        })
    }
}

/// The MX outcome as [`mxsend_core::mx::plan`] wants it.
///
/// NODATA (an empty list) is [`MxAnswer::NoRecords`]; NXDOMAIN, and a name that cannot exist
/// ([`DnsError::InvalidName`]), are [`MxAnswer::NoSuchDomain`]; anything else is a temporary
/// failure.
pub fn mx_answer(result: &Result<Vec<MxRecord>, DnsError>) -> MxAnswer {
    match result {
        Ok(records) if records.is_empty() => MxAnswer::NoRecords,
        Ok(records) => MxAnswer::Records(records.clone()),
        Err(DnsError::NoSuchDomain { .. } | DnsError::InvalidName { .. }) => MxAnswer::NoSuchDomain,
        Err(_) => MxAnswer::TemporaryFailure,
    }
}

/// An exchange from the plan with the outcome of resolving its addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedExchange {
    /// The exchange, in plan order.
    pub exchange: Exchange,
    /// Its addresses (IPv6 first, then IPv4, each in the server's order), or why there are
    /// none. An exchange that does not resolve is skipped, and its error kept for the report.
    pub addresses: Result<Vec<IpAddr>, DnsError>,
}

/// Where to deliver mail for one recipient domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// An address literal: this address, no DNS was asked.
    Address(IpAddr),
    /// The exchanges in order, each with its addresses. Turn it into connection attempts with
    /// [`connection_plan`].
    Exchanges(Vec<ResolvedExchange>),
}

/// Why a domain has no route, with the DNS error behind it when there was one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    /// The policy's verdict: permanent or not, see [`NoRoute::is_permanent`].
    pub reason: NoRoute,
    /// The failed MX lookup, for NXDOMAIN and temporary failures.
    pub dns: Option<DnsError>,
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dns {
            Some(dns) => write!(f, "{}: {dns}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
}

impl std::error::Error for RouteError {}

/// The connection attempts for resolved exchanges: [`mxsend_core::mx::connection_plan`] over
/// those that resolved.
pub fn connection_plan(
    exchanges: &[ResolvedExchange],
    order: mxsend_core::mx::FamilyOrder,
    limit: usize,
) -> Vec<mxsend_core::mx::Attempt<'_>> {
    mxsend_core::mx::connection_plan(
        exchanges.iter().filter_map(|r| match &r.addresses {
            Ok(addresses) => Some((&r.exchange, addresses.as_slice())),
            Err(_) => None,
        }),
        order,
        limit,
    )
}

/// The texts in an answer (any other answer, which a TXT question never gets, has none).
pub(crate) fn txt_records(answer: Answer) -> Vec<String> {
    match answer {
        Answer::Txt(texts) => texts,
        Answer::Mx(_) | Answer::Addresses(_) | Answer::Tlsa(_) | Answer::Alias(_) => Vec::new(),
    }
}

/// The TLSA records in an answer (none for any other kind).
pub fn tlsa_records(answer: Answer) -> Vec<TlsaRecord> {
    match answer {
        Answer::Tlsa(records) => records,
        _ => Vec::new(),
    }
}

/// The MX records in an answer (an address answer, which an MX question never gets, has none).
pub(crate) fn mx_records(answer: Answer) -> Vec<MxRecord> {
    match answer {
        Answer::Mx(records) => records,
        Answer::Addresses(_) | Answer::Txt(_) | Answer::Tlsa(_) | Answer::Alias(_) => Vec::new(),
    }
}

/// True when the AAAA answer settles the A question too: a name that does not exist, or
/// cannot, has no addresses of either family, and asking again only costs time.
pub(crate) fn settles_both_families(v6: &Result<Answer, DnsError>) -> bool {
    matches!(
        v6,
        Err(DnsError::NoSuchDomain { .. } | DnsError::InvalidName { .. })
    )
}

/// A host's addresses from its AAAA and A answers: IPv6 first, then IPv4.
///
/// One family failing temporarily while the other answers gives the other's addresses: a
/// host reachable over one family is reachable. Both failing gives the A error.
pub(crate) fn merge_families(
    v6: Result<Answer, DnsError>,
    v4: Result<Answer, DnsError>,
) -> Result<Vec<IpAddr>, DnsError> {
    let addresses = |answer: Answer| match answer {
        Answer::Addresses(addresses) => addresses,
        Answer::Mx(_) | Answer::Txt(_) | Answer::Tlsa(_) | Answer::Alias(_) => Vec::new(),
    };
    match (v6, v4) {
        (Ok(v6), Ok(v4)) => Ok(addresses(v6).into_iter().chain(addresses(v4)).collect()),
        (Ok(v6), Err(e)) | (Err(e), Ok(v6)) if v6.is_empty() => Err(e),
        (Ok(some), Err(_)) | (Err(_), Ok(some)) => Ok(addresses(some)),
        (Err(_), Err(e)) => Err(e),
    }
}

/// The exchanges to resolve for the MX name `name`, per the MX policy
/// ([`mxsend_core::mx::plan`]), or why there are none.
pub(crate) fn exchanges(
    name: &str,
    records: Result<Vec<MxRecord>, DnsError>,
    random: impl FnMut() -> u64,
) -> Result<Vec<Exchange>, RouteError> {
    mxsend_core::mx::plan(name, &mx_answer(&records), random).map_err(|reason| RouteError {
        reason,
        dns: records.err(),
    })
}

/// How many connection attempts a route may need: with [`ResolvedExchange`]s resolved in
/// order, resolving stops once those resolved give `limit` attempts in `order` (the later
/// exchanges could not be tried anyway), so a domain with many exchanges costs only the
/// lookups it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressLimit {
    /// The address family order of the attempts.
    pub order: mxsend_core::mx::FamilyOrder,
    /// The most attempts.
    pub limit: usize,
}

impl AddressLimit {
    /// No limit: every exchange is resolved (what `mxsend mx` shows).
    pub const NONE: AddressLimit = AddressLimit {
        order: mxsend_core::mx::FamilyOrder::Ipv6First,
        limit: usize::MAX,
    };

    /// True when `resolved` already gives every attempt allowed.
    pub(crate) fn reached(&self, resolved: &[ResolvedExchange]) -> bool {
        self.limit != usize::MAX
            && connection_plan(resolved, self.order, self.limit).len() >= self.limit
    }
}

/// A stub resolver: a configuration, and lookups that block (feature `blocking`) or run on an
/// async runtime (features `smol`, `async-std`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolver {
    config: ResolverConfig,
}

impl Resolver {
    /// A resolver with this configuration.
    pub fn new(config: ResolverConfig) -> Resolver {
        Resolver { config }
    }

    /// The system's resolver, configured from [`RESOLV_CONF`].
    pub fn from_system() -> Result<Resolver, DnsError> {
        ResolverConfig::system().map(Resolver::new)
    }

    /// A resolver asking these servers (`ip:port`), with default timeout and attempts.
    pub fn with_servers(servers: Vec<SocketAddr>) -> Resolver {
        Resolver::new(ResolverConfig::with_servers(servers))
    }

    /// The configuration.
    pub fn config(&self) -> &ResolverConfig {
        &self.config
    }

    /// A sans-IO lookup of `name`/`qtype`, for a runtime to drive; its message IDs come
    /// from `seed` (see [`Lookup::new`]).
    pub fn lookup(&self, name: &str, qtype: QueryType, seed: u64) -> Result<Lookup, DnsError> {
        Lookup::new(name, qtype, &self.config, seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_servers_timeout_and_attempts_from_resolv_conf() {
        let text = b"# comment\nnameserver 127.0.0.53\nnameserver ::1\nsearch example.test\noptions timeout:3 attempts:4\n";
        let config = ResolverConfig::from_resolv_conf(text).unwrap();
        assert_eq!(
            config.servers,
            [
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(config.attempts, 4);
    }

    #[test]
    fn resolv_conf_without_nameservers_means_the_local_server() {
        let config = ResolverConfig::from_resolv_conf(b"search example.test\n").unwrap();
        assert_eq!(config.servers, ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);
        assert_eq!(config.attempts, DEFAULT_ATTEMPTS);
    }

    #[test]
    fn unreadable_resolv_conf_names_the_file() {
        let err = ResolverConfig::from_resolv_conf_file(Path::new("/nonexistent/resolv.conf"))
            .unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/resolv.conf"),
            "{err}"
        );
    }

    #[test]
    fn mx_outcomes_map_to_the_policy_inputs() {
        let record = MxRecord {
            preference: 10,
            exchange: "mx.test.".into(),
        };
        assert_eq!(mx_answer(&Ok(vec![])), MxAnswer::NoRecords);
        assert_eq!(
            mx_answer(&Ok(vec![record.clone()])),
            MxAnswer::Records(vec![record])
        );
        let nx = DnsError::NoSuchDomain {
            name: "nx.test.".into(),
        };
        assert_eq!(mx_answer(&Err(nx)), MxAnswer::NoSuchDomain);
        let timeout = DnsError::NoAnswer {
            name: "slow.test.".into(),
            failures: vec![("127.0.0.1:53".parse().unwrap(), TryFailure::Timeout)],
        };
        assert!(timeout.is_temporary());
        assert_eq!(mx_answer(&Err(timeout)), MxAnswer::TemporaryFailure);
    }

    #[test]
    fn no_answer_lists_each_server_and_failure() {
        let err = DnsError::NoAnswer {
            name: "slow.test.".into(),
            failures: vec![
                ("127.0.0.1:53".parse().unwrap(), TryFailure::Timeout),
                (
                    "127.0.0.2:53".parse().unwrap(),
                    TryFailure::ServerFailure(2),
                ),
            ],
        };
        assert_eq!(
            err.to_string(),
            "slow.test.: no answer from any name server: 127.0.0.1:53 timed out; \
             127.0.0.2:53 answered SERVFAIL (RCODE 2)"
        );
    }
}
