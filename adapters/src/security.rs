//! The per-domain TLS policy of an MX delivery: which exchanges may be tried and with what TLS,
//! decided once per recipient domain before any connection, and carried into each
//! recipient's report ([`crate::RecipientReport::policy`]).
//!
//! Today's sources: MTA-STS ([`crate::mta_sts`], RFC 8461). Without a policy, the delivery's
//! own [`TlsMode`] applies (opportunistic by default, RFC 7435).
//!
//! The runtimes call [`plan_for`] with a domain's candidates and hand the [`SecurityPlan`] to
//! [`crate::delivery::Delivery::route_secured`], which keeps only the candidates the plan
//! allows, each with its TLS mode; when the plan allows none, the domain's recipients are
//! deferred with [`crate::delivery::Unreached::Policy`] and nothing connects.

use std::fmt;

use mxsend_core::address::Domain;
use mxsend_core::mx::{self, Target};

use crate::dane::DaneStatus;
use crate::delivery::Candidate;
use crate::dns::Resolver;
use crate::mta_sts::{Mode, StsStatus};
use crate::tls::TlsMode;
use crate::MxDelivery;

/// Which policy governed delivery to a recipient's domain, as reported.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryPolicy {
    /// MTA-STS was consulted (RFC 8461).
    MtaSts {
        /// What it said: no policy, unavailable, or the policy and where it came from.
        status: StsStatus,
        /// The exchanges that do not match the policy's `mx` patterns: never tried under
        /// `enforce`, reported (and tried) under `testing`.
        unmatched: Vec<String>,
        /// The message said `TLS-Required: No` (RFC 8689 §5): the policy was not enforced.
        set_aside: bool,
        /// Under `testing`: the exchanges whose certificate did not verify against WebPKI
        /// for their name, with why; delivered to anyway, reported as `enforce` would have
        /// refused them (RFC 8461 §5).
        unverified: Vec<(String, String)>,
    },
    /// DANE was consulted (RFC 7672): each exchange's status; where it applies it wins over
    /// MTA-STS (RFC 8461 §2), elsewhere `mta_sts` (when consulted) decides.
    Dane {
        /// Per exchange name, its DANE status.
        exchanges: Vec<(String, DaneStatus)>,
        /// The MTA-STS part, for exchanges DANE does not apply to.
        mta_sts: Option<Box<DeliveryPolicy>>,
        /// The message said `TLS-Required: No` (RFC 8689 §5): nothing was enforced.
        set_aside: bool,
    },
}

impl DeliveryPolicy {
    /// The policy in force, if it demands verified TLS (MTA-STS `enforce`, or DANE for
    /// some exchange).
    pub fn enforced(&self) -> bool {
        match self {
            DeliveryPolicy::Dane {
                exchanges,
                mta_sts,
                set_aside,
            } => {
                !set_aside
                    && (exchanges.iter().any(|(_, s)| s.applies())
                        || mta_sts.as_ref().is_some_and(|p| p.enforced()))
            }
            DeliveryPolicy::MtaSts {
                status, set_aside, ..
            } => {
                !set_aside
                    && matches!(
                        status,
                        StsStatus::Policy { policy, .. } if policy.mode == Mode::Enforce
                    )
            }
        }
    }

    /// A short name for what applied: `mta-sts enforce`, `mta-sts testing`, `mta-sts none`,
    /// `opportunistic (no mta-sts policy)`...
    pub fn summary(&self) -> String {
        match self {
            DeliveryPolicy::Dane {
                exchanges, mta_sts, ..
            } => {
                if exchanges.iter().any(|(_, s)| s.applies()) {
                    "dane".into()
                } else {
                    mta_sts
                        .as_ref()
                        .map_or_else(|| "no dane".into(), |p| p.summary())
                }
            }
            DeliveryPolicy::MtaSts { status, .. } => match status {
                StsStatus::Policy { policy, .. } => format!("mta-sts {}", policy.mode),
                StsStatus::NoPolicy => "no mta-sts policy".into(),
                StsStatus::Unavailable(_) => "mta-sts policy unavailable".into(),
            },
        }
    }
}

impl fmt::Display for DeliveryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliveryPolicy::Dane {
                exchanges,
                mta_sts,
                set_aside,
            } => {
                for (i, (host, status)) in exchanges.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "; " };
                    write!(f, "{sep}{host}: {status}")?;
                }
                if *set_aside {
                    f.write_str("; not enforced: the message says TLS-Required: No")?;
                }
                match mta_sts {
                    Some(policy) => write!(f, "; {policy}"),
                    None => Ok(()),
                }
            }
            DeliveryPolicy::MtaSts {
                status,
                unmatched,
                set_aside,
                unverified,
            } => {
                write!(f, "{status}")?;
                for (host, why) in unverified {
                    write!(
                        f,
                        "; {host}'s certificate does not verify, delivered anyway (testing): {why}"
                    )?;
                }
                if *set_aside {
                    f.write_str("; not enforced: the message says TLS-Required: No")?;
                }
                if !unmatched.is_empty() {
                    let verdict = if self.enforced() {
                        "not tried"
                    } else {
                        "tried anyway (testing)"
                    };
                    write!(
                        f,
                        "; MX hosts outside the policy, {verdict}: {}",
                        unmatched.join(", ")
                    )?;
                }
                Ok(())
            }
        }
    }
}

impl DeliveryPolicy {
    /// Whether `host`'s certificate is to be checked and reported without being enforced:
    /// MTA-STS `testing` decides for it (no DANE that applies).
    pub fn reports_verification(&self, host: &str) -> bool {
        match self {
            DeliveryPolicy::Dane {
                exchanges, mta_sts, ..
            } => {
                let dane = exchanges.iter().any(|(h, s)| h == host && s.applies());
                !dane
                    && mta_sts
                        .as_ref()
                        .is_some_and(|p| p.reports_verification(host))
            }
            DeliveryPolicy::MtaSts {
                status: StsStatus::Policy { policy, .. },
                ..
            } => policy.mode == Mode::Testing,
            DeliveryPolicy::MtaSts { .. } => false,
        }
    }

    /// Record that `host`'s certificate did not verify (`why`), under `testing`.
    pub fn record_unverified(&mut self, host: &str, why: &str) {
        match self {
            DeliveryPolicy::Dane { mta_sts, .. } => {
                if let Some(policy) = mta_sts {
                    policy.record_unverified(host, why);
                }
            }
            DeliveryPolicy::MtaSts { unverified, .. } => {
                if !unverified.iter().any(|(h, w)| h == host && w == why) {
                    unverified.push((host.to_string(), why.to_string()));
                }
            }
        }
    }
}

/// Under MTA-STS `testing`, what the connector found about the certificates of the hosts
/// the recipients were delivered to (or tried), added to each recipient's policy.
pub fn add_verification_failures(
    reports: &mut [crate::delivery::RecipientReport],
    connector: &crate::tls::TlsConnector,
) {
    for report in reports {
        let (Some(policy), Some(host)) = (report.policy.as_mut(), report.host.as_deref()) else {
            continue;
        };
        if policy.reports_verification(host) {
            for why in connector.verification_failures(host) {
                policy.record_unverified(host, &why);
            }
        }
    }
}

/// What a policy allows for one domain's candidates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityPlan {
    /// What is reported.
    pub policy: DeliveryPolicy,
}

impl SecurityPlan {
    /// The TLS mode for a connection to the exchange `host`, or `None` when the policy
    /// forbids trying it. `default` is the delivery's own mode.
    pub fn tls_for(&self, host: &str, default: TlsMode) -> Option<TlsMode> {
        tls_for(&self.policy, host, default)
    }

    /// Set `connector` up for this plan of `domain`: DANE records for the exchanges DANE
    /// authenticates, certificate checks to report for MTA-STS `testing` hosts among
    /// `candidates`; and tell the transcript which policy applies.
    pub fn prepare(
        &self,
        domain: &str,
        connector: &crate::tls::TlsConnector,
        candidates: &[Candidate],
        transcript: Option<&crate::config::TranscriptHook>,
    ) {
        if let Some(hook) = transcript {
            hook.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .event(crate::transcript::TranscriptEvent::Policy {
                    domain,
                    policy: &self.policy,
                });
        }
        if let DeliveryPolicy::Dane {
            exchanges,
            set_aside: false,
            ..
        } = &self.policy
        {
            for (host, status) in exchanges {
                if let Some(found) = status.found() {
                    connector.use_dane(host, found);
                }
            }
        }
        for c in candidates {
            if self.policy.reports_verification(&c.host) {
                connector.report_verification(&c.host);
            }
        }
    }

    /// The exchanges DANE authenticates, with their records, for the TLS connector.
    pub fn dane_records(&self) -> Vec<(&str, &[crate::dns::TlsaRecord])> {
        match &self.policy {
            DeliveryPolicy::Dane {
                exchanges,
                set_aside: false,
                ..
            } => exchanges
                .iter()
                .filter_map(|(host, status)| status.records().map(|r| (host.as_str(), r)))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// [`SecurityPlan::tls_for`] under `policy`.
fn tls_for(policy: &DeliveryPolicy, host: &str, default: TlsMode) -> Option<TlsMode> {
    match policy {
        DeliveryPolicy::Dane {
            exchanges,
            mta_sts,
            set_aside,
        } => {
            let status = exchanges.iter().find(|(h, _)| h == host).map(|(_, s)| s);
            match status {
                _ if *set_aside => Some(default),
                // RFC 7672 §2.2: TLS mandatory, authenticated by TLSA alone (the
                // connector holds the records); DANE wins over MTA-STS.
                Some(s) if s.applies() => Some(match default {
                    TlsMode::Implicit => TlsMode::Implicit,
                    _ => TlsMode::Required,
                }),
                Some(DaneStatus::Failed(_)) => None,
                _ => match mta_sts {
                    Some(policy) => tls_for(policy, host, default),
                    None => Some(default),
                },
            }
        }
        DeliveryPolicy::MtaSts {
            status: StsStatus::Policy { policy, .. },
            set_aside: false,
            ..
        } if policy.mode == Mode::Enforce => {
            // §5: only matching hosts, and only over TLS verified for the MX name.
            policy.matches(host).then_some(match default {
                TlsMode::Implicit => TlsMode::Implicit,
                _ => TlsMode::Required,
            })
        }
        _ => Some(default),
    }
}

/// The plan for `domain` with these candidates, when the delivery consults a policy
/// (blocking: DNS and HTTPS). `tls_optional`: the message says `TLS-Required: No` (and
/// REQUIRETLS is not asked), so the policy is reported but not enforced.
pub fn plan_for(
    mx: &MxDelivery,
    resolver: &Resolver,
    domain: &Domain,
    candidates: &[Candidate],
    tls_optional: bool,
) -> Option<SecurityPlan> {
    if mx.mta_sts.is_none() && mx.dane.is_none() {
        return None;
    }
    // An address literal names no domain to publish a policy.
    let Target::Mx(name) = mx::target(domain) else {
        return None;
    };
    let mut hosts: Vec<String> = Vec::new();
    for c in candidates {
        if !hosts.contains(&c.host) {
            hosts.push(c.host.clone());
        }
    }
    let sts = mx.mta_sts.as_ref().map(|sts| {
        let status = sts.discover(name, resolver);
        let mut unmatched: Vec<String> = Vec::new();
        if let StsStatus::Policy { policy, .. } = &status {
            if policy.mode != Mode::None {
                unmatched = hosts
                    .iter()
                    .filter(|h| !policy.matches(h))
                    .cloned()
                    .collect();
            }
        }
        DeliveryPolicy::MtaSts {
            status,
            unmatched,
            set_aside: tls_optional,
            unverified: Vec::new(),
        }
    });
    let policy = match &mx.dane {
        Some(dane) => DeliveryPolicy::Dane {
            exchanges: dane.discover(resolver, name, &hosts),
            mta_sts: sts.map(Box::new),
            set_aside: tls_optional,
        },
        None => sts?,
    };
    Some(SecurityPlan { policy })
}
