//! MTA-STS (RFC 8461): a recipient domain's published demand for verified TLS to named MX
//! hosts, found over DNS and HTTPS and cached on disk.
//!
//! For each recipient domain, before connecting ([`MtaSts::discover`]):
//! 1. the TXT record `_mta-sts.DOMAIN` through mxsend's resolver (`v=STSv1; id=...`, §3.1);
//! 2. a cached policy still within its `max_age` whose `id` is the record's is used as is;
//!    otherwise the policy is fetched (`fetch.rs`, §3.3) and cached (`cache.rs`, §5.1);
//! 3. a fetch that fails falls back to the cached policy while it is fresh (§5.1: keep using
//!    it), and without one the domain is treated as having no policy (§3.3);
//! 4. no TXT record (or DNS failing) with a fresh cached policy: the cached policy (§5.1).
//!
//! The policy then decides each delivery ([`crate::security`]): `enforce` lets only MX hosts
//! matching its `mx` patterns be tried, each with TLS required and the certificate verified
//! against WebPKI for the MX name (the roots of [`crate::MxDelivery`]'s TLS options), and
//! defers otherwise (§5); `testing` delivers as usual and reports what would have failed;
//! `none` is as no policy. DANE, when secure, takes precedence (§2).
//!
//! `testing` reports MX hosts outside the patterns, and certificates that would not verify:
//! the connection stays opportunistic (any certificate is accepted), but the connector
//! checks the chain against the configured roots for the MX name and the report's policy
//! carries what `enforce` would have refused ([`crate::tls::TlsConnector::report_verification`]).

mod cache;
mod fetch;
mod policy;

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use cache::{CachedPolicy, PolicyCache};
pub use fetch::{FetchError, DEFAULT_FETCH_TIMEOUT, HTTPS_PORT, MAX_POLICY_SIZE};
pub use policy::{parse_policy, parse_record, Mode, Policy, PolicyError, StsRecord, MAX_MAX_AGE};

use crate::dns::{DnsError, Resolver};

/// MTA-STS settings for an MX delivery: where the cache lives and how policies are fetched.
#[derive(Clone, Debug)]
pub struct MtaSts {
    cache: Option<PolicyCache>,
    fetcher: fetch::Fetcher,
}

impl MtaSts {
    /// Policies cached in `dir` (the CLI uses `$XDG_CACHE_HOME/mxsend/mta-sts`), fetched over
    /// HTTPS verified against Mozilla's roots (webpki-roots), 10 s timeout.
    pub fn new(cache_dir: impl Into<PathBuf>) -> MtaSts {
        MtaSts {
            cache: Some(PolicyCache::new(cache_dir)),
            fetcher: fetch::Fetcher::default(),
        }
    }

    /// No disk cache: every delivery fetches the policy again.
    pub fn without_cache() -> MtaSts {
        MtaSts {
            cache: None,
            fetcher: fetch::Fetcher::default(),
        }
    }

    /// Verify policy servers against the CA certificates in this PEM data instead of
    /// Mozilla's roots (a private deployment, or tests).
    pub fn ca_pem(mut self, pem: &[u8]) -> Result<MtaSts, FetchError> {
        self.fetcher.roots = Some(fetch::pem_certificates(pem)?);
        Ok(self)
    }

    /// Fetch policies from this port instead of 443 (tests).
    pub fn port(mut self, port: u16) -> MtaSts {
        self.fetcher.port = port;
        self
    }

    /// Give up a policy fetch after `limit` (connection, TLS, request and body together).
    pub fn fetch_timeout(mut self, limit: Duration) -> MtaSts {
        self.fetcher.timeout = limit;
        self
    }

    /// The cache, if any.
    pub fn cache(&self) -> Option<&PolicyCache> {
        self.cache.as_ref()
    }

    /// The policy that applies to mail for `domain` now: see the module documentation.
    /// Blocking (DNS and HTTPS); the async adapters run it on their blocking pool.
    pub fn discover(&self, domain: &str, resolver: &Resolver) -> StsStatus {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let now = unix_now();
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&domain))
            .filter(|c| c.is_fresh(now));
        let record = match resolver.txt(&format!("_mta-sts.{domain}.")) {
            Ok(texts) => parse_record(&texts).map_err(RecordProblem::Record),
            Err(e) => Err(RecordProblem::Dns(e)),
        };
        let record = match record {
            Ok(record) => record,
            // §5.1: no (usable) record, but a fresh cached policy: it still applies.
            Err(_) if cached.is_some() => {
                return match cached {
                    Some(c) => StsStatus::Policy {
                        id: c.id,
                        policy: c.policy,
                        source: PolicySource::Cache,
                    },
                    None => StsStatus::NoPolicy,
                }
            }
            Err(RecordProblem::Record(PolicyError::NoRecord)) => return StsStatus::NoPolicy,
            Err(RecordProblem::Dns(DnsError::NoSuchDomain { .. })) => return StsStatus::NoPolicy,
            Err(problem) => return StsStatus::Unavailable(problem.to_string()),
        };
        if let Some(c) = cached.as_ref().filter(|c| c.id == record.id) {
            return StsStatus::Policy {
                id: c.id.clone(),
                policy: c.policy.clone(),
                source: PolicySource::Cache,
            };
        }
        let fetched = self
            .fetcher
            .fetch(&domain, resolver)
            .map_err(|e| e.to_string())
            .and_then(|text| parse_policy(&text).map_err(|e| e.to_string()));
        match fetched {
            Ok(policy) => {
                let entry = CachedPolicy {
                    id: record.id.clone(),
                    fetched_at: now,
                    policy: policy.clone(),
                };
                let stored = match &self.cache {
                    Some(cache) => cache.put(&domain, &entry).map_err(|e| e.to_string()),
                    None => Ok(()),
                };
                StsStatus::Policy {
                    id: record.id,
                    policy,
                    source: PolicySource::Fetched {
                        url: self.fetcher.url(&domain),
                        cache_error: stored.err(),
                    },
                }
            }
            Err(why) => match cached {
                Some(c) => StsStatus::Policy {
                    id: c.id,
                    policy: c.policy,
                    source: PolicySource::CacheAfterFailedFetch(why),
                },
                None => StsStatus::Unavailable(format!("{}: {why}", self.fetcher.url(&domain))),
            },
        }
    }
}

/// Why the TXT record gave no id.
enum RecordProblem {
    Dns(DnsError),
    Record(PolicyError),
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProblem::Dns(e) => write!(f, "_mta-sts TXT lookup: {e}"),
            RecordProblem::Record(e) => write!(f, "_mta-sts TXT record: {e}"),
        }
    }
}

/// Seconds since the Unix epoch (0 for a clock before it).
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Where an applied policy came from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicySource {
    /// Fetched now from `url` (and cached, unless `cache_error` says why not).
    Fetched {
        /// The policy URL.
        url: String,
        /// Writing the cache failed: why.
        cache_error: Option<String>,
    },
    /// The cache: fresh, and the TXT `id` unchanged (or the TXT record unavailable).
    Cache,
    /// The cache, because the TXT `id` changed but the new policy could not be fetched
    /// (RFC 8461 §5.1): why.
    CacheAfterFailedFetch(String),
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Fetched { url, cache_error } => {
                write!(f, "fetched from {url}")?;
                match cache_error {
                    Some(why) => write!(f, " (not cached: {why})"),
                    None => Ok(()),
                }
            }
            PolicySource::Cache => f.write_str("from cache"),
            PolicySource::CacheAfterFailedFetch(why) => {
                write!(f, "from cache (refetch failed: {why})")
            }
        }
    }
}

/// What MTA-STS says about a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StsStatus {
    /// The domain publishes no policy (no `_mta-sts` record) and none is cached.
    NoPolicy,
    /// The domain announces a policy, but it could not be had and none is cached: delivery
    /// goes on as without one (RFC 8461 §3.3). Why.
    Unavailable(String),
    /// This policy applies.
    Policy {
        /// The TXT record's `id` it belongs to.
        id: String,
        /// The policy.
        policy: Policy,
        /// Fetched or cached.
        source: PolicySource,
    },
}

impl fmt::Display for StsStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StsStatus::NoPolicy => f.write_str("no MTA-STS policy"),
            StsStatus::Unavailable(why) => write!(f, "MTA-STS policy unavailable: {why}"),
            StsStatus::Policy { id, policy, source } => write!(
                f,
                "MTA-STS {} (id {id}, max_age {}, mx {}), {source}",
                policy.mode,
                policy.max_age,
                policy.mx.join(" ")
            ),
        }
    }
}
