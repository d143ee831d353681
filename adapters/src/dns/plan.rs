//! The questions behind `mx`, `ip_addrs` and `plan`, as sans-IO machines: which [`Lookup`]
//! to run next, and what its answer means. Each runtime's driver (`blocking.rs`, `aio.rs`)
//! is then one short loop: run the lookup the machine asks for, hand it the result, until
//! the machine is done. The order of the questions, how the two address families combine
//! and when resolving stops are decided here, once for every runtime.
//!
//! ```text
//! step = machine.start()
//! loop:
//!     Done(output) -> return output
//!     Ask(lookup)  -> step = machine.answer(run(lookup))
//! ```

use std::net::IpAddr;

use mxsend_core::address::Domain;
use mxsend_core::mx::{self, Exchange, MxRecord, Target};

use super::{
    exchanges, merge_families, mx_records, settles_both_families, AddressLimit, Answer, DnsError,
    Lookup, QueryType, ResolvedExchange, Resolver, Route, RouteError,
};

/// What a machine wants next.
#[derive(Debug)]
pub(crate) enum Step<T> {
    /// Run this lookup and give its result to [`Machine::answer`] (boxed: a lookup is
    /// large, and one allocation per question is nothing beside its round trip).
    Ask(Box<Lookup>),
    /// The machine's result.
    Done(T),
}

/// A sequence of DNS questions with one result.
pub(crate) trait Machine {
    /// The result.
    type Output;
    /// The first step.
    fn start(&mut self) -> Step<Self::Output>;
    /// The result of the lookup the last step asked for; the next step.
    fn answer(&mut self, answer: Result<Answer, DnsError>) -> Step<Self::Output>;
}

/// The MX records of a name (empty: NODATA): one question.
pub(crate) struct MxLookup<'r> {
    resolver: &'r Resolver,
    name: String,
    seed: u64,
}

impl<'r> MxLookup<'r> {
    pub fn new(resolver: &'r Resolver, name: &str, seed: u64) -> MxLookup<'r> {
        MxLookup {
            resolver,
            name: name.to_string(),
            seed,
        }
    }
}

impl Machine for MxLookup<'_> {
    type Output = Result<Vec<MxRecord>, DnsError>;

    fn start(&mut self) -> Step<Self::Output> {
        match self.resolver.lookup(&self.name, QueryType::Mx, self.seed) {
            Ok(lookup) => Step::Ask(Box::new(lookup)),
            Err(error) => Step::Done(Err(error)),
        }
    }

    fn answer(&mut self, answer: Result<Answer, DnsError>) -> Step<Self::Output> {
        Step::Done(answer.map(mx_records))
    }
}

/// The addresses of a host: AAAA records, then A records ([`merge_families`]), the A
/// question left out when the AAAA answer settles both ([`settles_both_families`]).
/// `random` seeds each question as it is asked.
pub(crate) struct AddressLookup<'r> {
    resolver: &'r Resolver,
    host: String,
    /// The AAAA answer, once it came.
    v6: Option<Result<Answer, DnsError>>,
}

impl<'r> AddressLookup<'r> {
    pub fn new(resolver: &'r Resolver, host: &str) -> AddressLookup<'r> {
        AddressLookup {
            resolver,
            host: host.to_string(),
            v6: None,
        }
    }

    /// The first step: the AAAA question (an invalid name ends it at once).
    fn begin(&mut self, random: &mut dyn FnMut() -> u64) -> Step<Result<Vec<IpAddr>, DnsError>> {
        match self.resolver.lookup(&self.host, QueryType::Aaaa, random()) {
            Ok(lookup) => Step::Ask(Box::new(lookup)),
            Err(error) => Step::Done(Err(error)),
        }
    }

    /// The answer to the last question asked; the next step.
    fn answered(
        &mut self,
        answer: Result<Answer, DnsError>,
        random: &mut dyn FnMut() -> u64,
    ) -> Step<Result<Vec<IpAddr>, DnsError>> {
        match self.v6.take() {
            None => {
                if settles_both_families(&answer) {
                    return Step::Done(answer.map(|_| Vec::new()));
                }
                let lookup = self.resolver.lookup(&self.host, QueryType::A, random());
                self.v6 = Some(answer);
                match lookup {
                    Ok(lookup) => Step::Ask(Box::new(lookup)),
                    Err(error) => Step::Done(Err(error)),
                }
            }
            Some(v6) => Step::Done(merge_families(v6, answer)),
        }
    }
}

/// [`AddressLookup`] on its own, seeded by `random`.
pub(crate) struct HostLookup<'r, F> {
    lookup: AddressLookup<'r>,
    random: F,
}

impl<'r, F: FnMut() -> u64> HostLookup<'r, F> {
    pub fn new(resolver: &'r Resolver, host: &str, random: F) -> HostLookup<'r, F> {
        HostLookup {
            lookup: AddressLookup::new(resolver, host),
            random,
        }
    }
}

impl<F: FnMut() -> u64> Machine for HostLookup<'_, F> {
    type Output = Result<Vec<IpAddr>, DnsError>;

    fn start(&mut self) -> Step<Self::Output> {
        self.lookup.begin(&mut self.random)
    }

    fn answer(&mut self, answer: Result<Answer, DnsError>) -> Step<Self::Output> {
        self.lookup.answered(answer, &mut self.random)
    }
}

/// Where to deliver mail for a domain: its MX records through [`mx::plan`] (`random`
/// shuffles equal preferences and seeds every question), then each exchange's addresses in
/// plan order, only until `limit` is reached ([`AddressLimit`]). An address literal asks
/// nothing.
pub(crate) struct PlanLookup<'r, F> {
    resolver: &'r Resolver,
    domain: Domain,
    random: F,
    limit: AddressLimit,
    state: PlanState<'r>,
}

enum PlanState<'r> {
    /// Nothing asked yet.
    Start,
    /// The MX question for this name is out.
    Mx(String),
    /// Resolving the exchanges: those left, those done, the one being resolved.
    Exchanges {
        left: std::vec::IntoIter<Exchange>,
        resolved: Vec<ResolvedExchange>,
        current: Option<(Exchange, AddressLookup<'r>)>,
    },
    /// The result was given.
    Done,
}

impl<'r, F: FnMut() -> u64> PlanLookup<'r, F> {
    pub fn new(
        resolver: &'r Resolver,
        domain: &Domain,
        random: F,
        limit: AddressLimit,
    ) -> PlanLookup<'r, F> {
        PlanLookup {
            resolver,
            domain: domain.clone(),
            random,
            limit,
            state: PlanState::Start,
        }
    }

    /// The next exchange's first question, or the route once the limit is reached or every
    /// exchange is resolved.
    fn next_exchange(&mut self) -> Step<Result<Route, RouteError>> {
        loop {
            let PlanState::Exchanges {
                left,
                resolved,
                current,
            } = &mut self.state
            else {
                return self.finish(Err(no_route()));
            };
            let next = if self.limit.reached(resolved) {
                None
            } else {
                left.next()
            };
            let Some(exchange) = next else {
                let resolved = std::mem::take(resolved);
                return self.finish(Ok(Route::Exchanges(resolved)));
            };
            let mut lookup = AddressLookup::new(self.resolver, &exchange.name);
            match lookup.begin(&mut self.random) {
                Step::Ask(ask) => {
                    *current = Some((exchange, lookup));
                    return Step::Ask(ask);
                }
                Step::Done(addresses) => resolved.push(ResolvedExchange {
                    exchange,
                    addresses,
                }),
            }
        }
    }

    fn finish(&mut self, route: Result<Route, RouteError>) -> Step<Result<Route, RouteError>> {
        self.state = PlanState::Done;
        Step::Done(route)
    }

    /// The MX records (or why there are none) are in: the exchanges to resolve.
    fn mx_answered(
        &mut self,
        name: &str,
        records: Result<Vec<MxRecord>, DnsError>,
    ) -> Step<Result<Route, RouteError>> {
        match exchanges(name, records, &mut self.random) {
            Ok(list) => {
                self.state = PlanState::Exchanges {
                    resolved: Vec::with_capacity(list.len()),
                    left: list.into_iter(),
                    current: None,
                };
                self.next_exchange()
            }
            Err(error) => self.finish(Err(error)),
        }
    }
}

/// What a machine asked after it finished, or before it started, gets: never reached by a
/// driver that follows the steps.
fn no_route() -> RouteError {
    RouteError {
        reason: mxsend_core::mx::NoRoute::NoUsableExchange,
        dns: None,
    }
}

impl<F: FnMut() -> u64> Machine for PlanLookup<'_, F> {
    type Output = Result<Route, RouteError>;

    fn start(&mut self) -> Step<Self::Output> {
        let name = match mx::target(&self.domain) {
            Target::Address(address) => return self.finish(Ok(Route::Address(address))),
            Target::Mx(name) => name.to_string(),
        };
        let seed = (self.random)();
        match self.resolver.lookup(&name, QueryType::Mx, seed) {
            Ok(lookup) => {
                self.state = PlanState::Mx(name);
                Step::Ask(Box::new(lookup))
            }
            Err(error) => self.mx_answered(&name, Err(error)),
        }
    }

    fn answer(&mut self, answer: Result<Answer, DnsError>) -> Step<Self::Output> {
        match std::mem::replace(&mut self.state, PlanState::Done) {
            PlanState::Mx(name) => self.mx_answered(&name, answer.map(mx_records)),
            PlanState::Exchanges {
                left,
                mut resolved,
                current,
            } => {
                let Some((exchange, mut lookup)) = current else {
                    return self.finish(Err(no_route()));
                };
                match lookup.answered(answer, &mut self.random) {
                    Step::Ask(ask) => {
                        self.state = PlanState::Exchanges {
                            left,
                            resolved,
                            current: Some((exchange, lookup)),
                        };
                        Step::Ask(ask)
                    }
                    Step::Done(addresses) => {
                        resolved.push(ResolvedExchange {
                            exchange,
                            addresses,
                        });
                        self.state = PlanState::Exchanges {
                            left,
                            resolved,
                            current: None,
                        };
                        self.next_exchange()
                    }
                }
            }
            PlanState::Start | PlanState::Done => self.finish(Err(no_route())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn resolver() -> Resolver {
        Resolver::with_servers(vec!["127.0.0.1:53".parse().unwrap()])
    }

    /// Run `machine` against `answer`, which answers each question (name, type); the
    /// questions asked, in order, and the result.
    fn run<M: Machine>(
        mut machine: M,
        answer: impl Fn(&str, QueryType) -> Result<Answer, DnsError>,
    ) -> (Vec<(String, QueryType)>, M::Output) {
        let mut asked = Vec::new();
        let mut step = machine.start();
        loop {
            match step {
                Step::Done(output) => return (asked, output),
                Step::Ask(lookup) => {
                    let question = (lookup.name(), lookup.qtype());
                    let result = answer(&question.0, question.1);
                    asked.push(question);
                    step = machine.answer(result);
                }
            }
        }
    }

    fn nxdomain(name: &str) -> DnsError {
        DnsError::NoSuchDomain { name: name.into() }
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn mx(records: &[(u16, &str)]) -> Answer {
        Answer::Mx(
            records
                .iter()
                .map(|(preference, exchange)| MxRecord {
                    preference: *preference,
                    exchange: exchange.to_string(),
                })
                .collect(),
        )
    }

    #[test]
    fn an_address_literal_asks_nothing() {
        let resolver = resolver();
        let domain = Domain::parse("[192.0.2.7]").unwrap();
        let plan = PlanLookup::new(&resolver, &domain, || 1, AddressLimit::NONE);
        let (asked, route) = run(plan, |_, _| unreachable!());
        assert!(asked.is_empty());
        assert_eq!(route, Ok(Route::Address(v4(7))));
    }

    #[test]
    fn mx_then_each_exchange_aaaa_then_a() {
        let resolver = resolver();
        let domain = Domain::parse("example.test").unwrap();
        let plan = PlanLookup::new(&resolver, &domain, || 1, AddressLimit::NONE);
        let (asked, route) = run(plan, |name, qtype| match (name, qtype) {
            ("example.test.", QueryType::Mx) => {
                Ok(mx(&[(10, "a.example.test"), (20, "b.example.test")]))
            }
            ("a.example.test.", QueryType::Aaaa) => {
                Ok(Answer::Addresses(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]))
            }
            ("a.example.test.", QueryType::A) => Ok(Answer::Addresses(vec![v4(1)])),
            // NXDOMAIN for AAAA settles A: it is not asked.
            ("b.example.test.", QueryType::Aaaa) => Err(nxdomain(name)),
            other => panic!("unexpected question {other:?}"),
        });
        assert_eq!(
            asked,
            [
                ("example.test.".to_string(), QueryType::Mx),
                ("a.example.test.".to_string(), QueryType::Aaaa),
                ("a.example.test.".to_string(), QueryType::A),
                ("b.example.test.".to_string(), QueryType::Aaaa),
            ]
        );
        let Ok(Route::Exchanges(resolved)) = route else {
            panic!("{route:?}");
        };
        assert_eq!(
            resolved[0].addresses,
            Ok(vec![IpAddr::V6(Ipv6Addr::LOCALHOST), v4(1)])
        );
        assert_eq!(resolved[1].addresses, Err(nxdomain("b.example.test.")));
    }

    #[test]
    fn resolving_stops_at_the_address_limit() {
        let resolver = resolver();
        let domain = Domain::parse("example.test").unwrap();
        let limit = AddressLimit {
            order: mxsend_core::mx::FamilyOrder::Ipv4First,
            limit: 1,
        };
        let plan = PlanLookup::new(&resolver, &domain, || 1, limit);
        let (asked, route) = run(plan, |name, qtype| match qtype {
            QueryType::Mx => Ok(mx(&[(10, "a.example.test"), (20, "b.example.test")])),
            QueryType::Aaaa => Ok(Answer::Addresses(Vec::new())),
            QueryType::A if name == "a.example.test." => Ok(Answer::Addresses(vec![v4(1)])),
            other => panic!("unexpected question {name} {other:?}"),
        });
        assert_eq!(asked.len(), 3, "{asked:?}");
        let Ok(Route::Exchanges(resolved)) = route else {
            panic!("{route:?}");
        };
        assert_eq!(resolved.len(), 1);
    }

    #[test]
    fn a_failed_mx_lookup_is_the_route_error() {
        let resolver = resolver();
        let domain = Domain::parse("nx.test").unwrap();
        let plan = PlanLookup::new(&resolver, &domain, || 1, AddressLimit::NONE);
        let (asked, route) = run(plan, |name, _| Err(nxdomain(name)));
        assert_eq!(asked.len(), 1);
        let error = route.unwrap_err();
        assert!(error.reason.is_permanent(), "{error:?}");
        assert_eq!(error.dns, Some(nxdomain("nx.test.")));
    }

    #[test]
    fn one_family_failing_gives_the_other() {
        let resolver = resolver();
        let lookup = HostLookup::new(&resolver, "mx.example.test", || 1);
        let (asked, addresses) = run(lookup, |name, qtype| match qtype {
            QueryType::Aaaa => Err(DnsError::NoAnswer {
                name: name.into(),
                failures: Vec::new(),
            }),
            _ => Ok(Answer::Addresses(vec![v4(9)])),
        });
        assert_eq!(asked.len(), 2);
        assert_eq!(addresses, Ok(vec![v4(9)]));
    }
}
