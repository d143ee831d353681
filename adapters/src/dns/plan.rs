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
    /// Run this lookup and give its result to [`Machine::answer`].
    Ask(Lookup),
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
            Ok(lookup) => Step::Ask(lookup),
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
            Ok(lookup) => Step::Ask(lookup),
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
                    Ok(lookup) => Step::Ask(lookup),
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
                Step::Ask(lookup)
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
