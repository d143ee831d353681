//! Where mail would go: `mxsend mx DOMAIN`, and the delivery plan of `--dry-run`.
//!
//! The same steps as a delivery takes (the adapters' [`Resolver`] and the core's
//! [`mxsend_core::mx`] policy), stopped before the first connection: the MX records as
//! published, the exchanges in the order they would be tried (RFC 5321 §5.1: ascending
//! preference, ties shuffled, so the order of equal preferences changes from run to run; a
//! null MX, RFC 7505, means no delivery at all), each exchange's addresses, and the
//! connection attempts (families interleaved, at most [`MAX_ADDRESSES`]).

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use mxsend::dns::{connection_plan, mx_answer, DnsError, ResolvedExchange, Resolver};
use mxsend_core::address::Domain;
use mxsend_core::mx::{self, FamilyOrder, MxRecord, NoRoute, Target, MAX_ADDRESSES};
use serde::Serialize;

use crate::exit::Exit;

/// Where mail for one domain would go.
#[derive(Clone, Debug)]
pub struct DomainPlan {
    /// The domain, as given.
    pub domain: String,
    /// The MX answer, for a name (`None` for an address literal).
    pub records: Option<Result<Vec<MxRecord>, DnsError>>,
    /// The exchanges in order with their addresses, or why there is no route.
    pub exchanges: Result<Vec<ResolvedExchange>, NoRoute>,
    /// The connection attempts, in order: host name and address.
    pub attempts: Vec<(String, SocketAddr)>,
}

impl DomainPlan {
    /// The exit status of `mxsend mx`: 0 with a route, 68 for a domain that takes no mail,
    /// 75 when DNS trouble (or no address at all) might pass.
    pub fn exit(&self) -> Exit {
        match &self.exchanges {
            Err(reason) if reason.is_permanent() => Exit::NoHost,
            Err(_) => Exit::TempFail,
            Ok(_) if self.attempts.is_empty() => Exit::TempFail,
            Ok(_) => Exit::Ok,
        }
    }
}

/// Plan delivery to `domain` on `port`, asking `resolver`.
pub fn plan_domain(resolver: &Resolver, domain: &Domain, port: u16) -> DomainPlan {
    let name = match mx::target(domain) {
        Target::Address(ip) => {
            return DomainPlan {
                domain: domain.to_string(),
                records: None,
                exchanges: Ok(Vec::new()),
                attempts: vec![(domain.to_string(), SocketAddr::new(ip, port))],
            }
        }
        Target::Mx(name) => name,
    };
    let records = resolver.mx(name);
    let exchanges = mx::plan(name, &mx_answer(&records), || fastrand::u64(..)).map(|exchanges| {
        exchanges
            .into_iter()
            .map(|exchange| ResolvedExchange {
                addresses: resolver.ip_addrs(&exchange.name),
                exchange,
            })
            .collect::<Vec<_>>()
    });
    let attempts = match &exchanges {
        Ok(resolved) => connection_plan(resolved, FamilyOrder::default(), MAX_ADDRESSES)
            .into_iter()
            .map(|a| (a.exchange.name.clone(), SocketAddr::new(a.address, port)))
            .collect(),
        Err(_) => Vec::new(),
    };
    DomainPlan {
        domain: domain.to_string(),
        records: Some(records),
        exchanges,
        attempts,
    }
}

/// Show a plan for people.
pub fn write_plan(plan: &DomainPlan, out: &mut dyn Write) -> io::Result<()> {
    match &plan.records {
        None => writeln!(out, "{}: an address literal, no DNS asked", plan.domain)?,
        Some(Ok(records)) if records.is_empty() => writeln!(
            out,
            "{}: no MX records: the domain itself is the mail exchanger (implicit MX, RFC 5321 §5.1)",
            plan.domain
        )?,
        Some(Ok(records)) => {
            writeln!(out, "{}: MX records, as published:", plan.domain)?;
            for r in records {
                let name = if r.exchange.is_empty() { "." } else { &r.exchange };
                writeln!(out, "  {:>5} {name}", r.preference)?;
            }
        }
        Some(Err(e)) => writeln!(out, "{}: MX lookup failed: {e}", plan.domain)?,
    }
    match &plan.exchanges {
        Err(reason) => {
            let verdict = if reason.is_permanent() {
                "permanent: mail to it bounces"
            } else {
                "temporary: mail to it is deferred"
            };
            writeln!(out, "No delivery: {reason} ({verdict})")?;
            return Ok(());
        }
        Ok(exchanges) if !exchanges.is_empty() => {
            writeln!(
                out,
                "Order of exchanges (equal preferences are shuffled on every delivery):"
            )?;
            for (i, r) in exchanges.iter().enumerate() {
                let addresses = match &r.addresses {
                    Ok(list) if list.is_empty() => "no addresses".to_string(),
                    Ok(list) => join(list),
                    Err(e) => format!("not resolved: {e}"),
                };
                let what = if r.exchange.implicit {
                    "implicit MX".to_string()
                } else {
                    format!("preference {}", r.exchange.preference)
                };
                writeln!(
                    out,
                    "  {}. {} ({what}): {addresses}",
                    i + 1,
                    r.exchange.name
                )?;
            }
        }
        Ok(_) => {}
    }
    if plan.attempts.is_empty() {
        writeln!(
            out,
            "No address to connect to: mail is deferred until DNS has one"
        )?;
    } else {
        writeln!(out, "Connection attempts (at most {MAX_ADDRESSES}):")?;
        for (host, address) in &plan.attempts {
            writeln!(out, "  {address} ({host})")?;
        }
    }
    Ok(())
}

fn join(list: &[IpAddr]) -> String {
    list.iter()
        .map(IpAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A plan in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonPlan {
    /// The domain.
    pub domain: String,
    /// MX records as published (`null` for an address literal or a failed lookup).
    pub records: Option<Vec<JsonRecord>>,
    /// Why the MX lookup failed, if it did.
    pub lookup_error: Option<String>,
    /// The exchanges in order.
    pub exchanges: Vec<JsonExchange>,
    /// Why there is no route, if there is none.
    pub no_route: Option<String>,
    /// `permanent` or `temporary` when there is no route.
    pub no_route_kind: Option<&'static str>,
    /// Connection attempts in order.
    pub attempts: Vec<JsonAttempt>,
}

/// An MX record in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonRecord {
    /// Preference.
    pub preference: u16,
    /// Exchange name as published.
    pub exchange: String,
}

/// An exchange in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonExchange {
    /// Host name.
    pub name: String,
    /// MX preference (0 for the implicit MX).
    pub preference: u16,
    /// True for the implicit MX.
    pub implicit: bool,
    /// Addresses (empty when not resolved).
    pub addresses: Vec<IpAddr>,
    /// Why it did not resolve.
    pub error: Option<String>,
}

/// A connection attempt in `--json`.
#[derive(Debug, Serialize)]
pub struct JsonAttempt {
    /// Host name.
    pub host: String,
    /// `ip:port`.
    pub address: String,
}

impl From<&DomainPlan> for JsonPlan {
    fn from(plan: &DomainPlan) -> JsonPlan {
        let (records, lookup_error) = match &plan.records {
            None => (None, None),
            Some(Ok(records)) => (
                Some(
                    records
                        .iter()
                        .map(|r| JsonRecord {
                            preference: r.preference,
                            exchange: r.exchange.clone(),
                        })
                        .collect(),
                ),
                None,
            ),
            Some(Err(e)) => (None, Some(e.to_string())),
        };
        let (exchanges, no_route, no_route_kind) = match &plan.exchanges {
            Ok(list) => (
                list.iter()
                    .map(|r| JsonExchange {
                        name: r.exchange.name.clone(),
                        preference: r.exchange.preference,
                        implicit: r.exchange.implicit,
                        addresses: r.addresses.clone().unwrap_or_default(),
                        error: r.addresses.as_ref().err().map(ToString::to_string),
                    })
                    .collect(),
                None,
                None,
            ),
            Err(reason) => (
                Vec::new(),
                Some(reason.to_string()),
                Some(if reason.is_permanent() {
                    "permanent"
                } else {
                    "temporary"
                }),
            ),
        };
        JsonPlan {
            domain: plan.domain.clone(),
            records,
            lookup_error,
            exchanges,
            no_route,
            no_route_kind,
            attempts: plan
                .attempts
                .iter()
                .map(|(host, address)| JsonAttempt {
                    host: host.clone(),
                    address: address.to_string(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::mx::Exchange;

    fn plan(exchanges: Result<Vec<ResolvedExchange>, NoRoute>, attempts: usize) -> DomainPlan {
        DomainPlan {
            domain: "example.test".into(),
            records: Some(Ok(vec![MxRecord {
                preference: 10,
                exchange: "mx.example.test.".into(),
            }])),
            exchanges,
            attempts: (0..attempts)
                .map(|i| {
                    (
                        "mx.example.test".into(),
                        SocketAddr::from(([127, 0, 0, 2 + i as u8], 25)),
                    )
                })
                .collect(),
        }
    }

    fn exchange() -> ResolvedExchange {
        ResolvedExchange {
            exchange: Exchange {
                name: "mx.example.test".into(),
                preference: 10,
                implicit: false,
            },
            addresses: Ok(vec!["127.0.0.2".parse().unwrap()]),
        }
    }

    #[test]
    fn address_literal_needs_no_dns() {
        let resolver = Resolver::with_servers(Vec::new());
        let domain = Domain::parse("[127.0.0.9]").unwrap();
        let p = plan_domain(&resolver, &domain, 2525);
        assert!(p.records.is_none());
        assert_eq!(
            p.attempts,
            [("[127.0.0.9]".to_string(), "127.0.0.9:2525".parse().unwrap())]
        );
        assert_eq!(p.exit(), Exit::Ok);
    }

    #[test]
    fn null_mx_plan_exits_nohost() {
        assert_eq!(plan(Err(NoRoute::NullMx), 0).exit(), Exit::NoHost);
    }

    #[test]
    fn dns_trouble_plan_exits_tempfail() {
        assert_eq!(
            plan(Err(NoRoute::TemporaryFailure), 0).exit(),
            Exit::TempFail
        );
    }

    #[test]
    fn exchanges_without_addresses_exit_tempfail() {
        assert_eq!(plan(Ok(vec![exchange()]), 0).exit(), Exit::TempFail);
    }

    #[test]
    fn human_plan_lists_records_order_and_attempts() {
        let mut out = Vec::new();
        write_plan(&plan(Ok(vec![exchange()]), 1), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "example.test: MX records, as published:\n     10 mx.example.test.\n\
             Order of exchanges (equal preferences are shuffled on every delivery):\n  \
             1. mx.example.test (preference 10): 127.0.0.2\n\
             Connection attempts (at most 5):\n  127.0.0.2:25 (mx.example.test)\n"
        );
    }

    #[test]
    fn human_plan_says_why_there_is_no_route() {
        let mut out = Vec::new();
        write_plan(&plan(Err(NoRoute::NullMx), 0), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("No delivery: the domain accepts no mail"),
            "{text}"
        );
        assert!(text.contains("permanent"), "{text}");
    }

    #[test]
    fn json_plan_names_permanent_no_route() {
        let value =
            serde_json::to_value(JsonPlan::from(&plan(Err(NoRoute::NoSuchDomain), 0))).unwrap();
        assert_eq!(value["no_route_kind"], "permanent");
        assert_eq!(value["attempts"], serde_json::json!([]));
    }
}
