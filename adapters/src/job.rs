//! One send or delivery from start to finish, minus the I/O: written once for every runtime.
//!
//! A runtime's entry point is then three steps: prepare the job ([`Job::mx`], or
//! [`Job::relay`] and, for a relay named by host name, the system resolver's answer given to
//! [`RelayLookup::answered`]), drive its [`Delivery`] with the runtime's own loop (which
//! connects, resolves and moves bytes, asking [`Shared`] for every decision), and finish
//! ([`Job::into_reports`], [`Job::into_report`]).
//!
//! What is decided here: the checks before any connection (the messages and credentials,
//! [`validate`]; content that cannot go as text marked for BINARYMIME, [`Content::mark_binary`]), the TLS connector, the
//! relay's route, the delivery machine, an MX domain's candidates and the TLS policy that
//! applies to them, each attempt's session ([`Shared::session`], [`Shared::add_to`]), and the
//! reports with their verification failures.

use std::net::SocketAddr;

use mxsend_core::address::Domain;
use mxsend_core::command::BodyType;
use mxsend_core::session::Envelope;
use mxsend_core::transparency::ContentError;

use crate::attempt::{
    mx_candidates, relay_candidates, relay_delivery, relay_route, resolver, validate, Clock,
    RelayRoute, SessionRun,
};
use crate::config::{MxDelivery, Relay, Settings};
use crate::delivery::{Attempt, Candidate, Delivery, Report};
use crate::dns::{Resolver, Route, RouteError};
use crate::error::{Error, HostLookupError};
use crate::message::Message;
use crate::security::SecurityPlan;
use crate::tls::TlsConnector;

/// What a job asks of a message's content, whichever trait it implements
/// ([`crate::BodySource`] or [`crate::AsyncBodySource`]): its size, and whether it can go
/// out as text.
pub(crate) struct Content<B> {
    /// Its size when known (for SIZE=).
    pub size_hint: fn(&B) -> Option<u64>,
    /// Why it cannot go out as text, if it cannot.
    pub problem: fn(&B) -> Option<ContentError>,
}

impl<B> Clone for Content<B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B> Copy for Content<B> {}

impl<B> Content<B> {
    /// Settle, before any connection, what each message's content needs: content that
    /// cannot go out as text (a NUL, a line over 998 octets) goes as it is with
    /// `BODY=BINARYMIME` in BDAT (RFC 3030, [`Delivery::needs_binary`]), so it reaches a
    /// server that offers BINARYMIME whole and untouched, and one that does not refuses it
    /// before a byte of it is sent ([`mxsend_core::session::Failure::BinaryUnsupported`]).
    /// A message declared BINARYMIME needs nothing.
    pub fn mark_binary(self, delivery: &mut Delivery, messages: &[Message<B>]) {
        for (m, message) in messages.iter().enumerate() {
            if message.envelope.body != BodyType::BinaryMime
                && (self.problem)(&message.body).is_some()
            {
                delivery.needs_binary(m);
            }
        }
    }
}

#[cfg(feature = "blocking")]
impl<B: crate::BodySource> Content<B> {
    /// A blocking source's.
    pub fn blocking() -> Content<B> {
        Content {
            size_hint: <B as crate::BodySource>::size_hint,
            problem: <B as crate::BodySource>::content_problem,
        }
    }
}

#[cfg(feature = "aio")]
impl<B: crate::AsyncBodySource> Content<B> {
    /// An async source's.
    pub fn aio() -> Content<B> {
        Content {
            size_hint: <B as crate::AsyncBodySource>::size_hint,
            problem: <B as crate::AsyncBodySource>::content_problem,
        }
    }
}

/// A domain's candidates, with the TLS policy that applies to them.
pub(crate) type SecuredRoute = (Result<Vec<Candidate>, RouteError>, Option<SecurityPlan>);

/// Where groups get their routes.
pub(crate) enum Routes<'a> {
    /// A relay: the machine never asks.
    Relay,
    /// MX delivery: the domain's MX plan, then its candidates.
    Mx {
        mx: &'a MxDelivery,
        resolver: Resolver,
        /// The message says `TLS-Required: No` ([`crate::requiretls`]).
        tls_optional: bool,
    },
}

/// What every connection of one job reads.
pub(crate) struct Shared<'a, B> {
    pub settings: Settings,
    pub connector: TlsConnector,
    pub messages: &'a [Message<B>],
    pub routes: Routes<'a>,
    content: Content<B>,
}

impl<'a, B> Shared<'a, B> {
    /// A relay's, for a long-lived client's batch.
    pub fn relay(
        settings: Settings,
        connector: TlsConnector,
        messages: &'a [Message<B>],
        content: Content<B>,
    ) -> Shared<'a, B> {
        Shared {
            settings,
            connector,
            messages,
            routes: Routes::Relay,
            content,
        }
    }

    /// Message `m`'s envelope for these recipients (indices into its envelope).
    pub fn envelope(&self, m: usize, rcpts: &[usize]) -> Option<Envelope> {
        let message = self.messages.get(m)?;
        message.envelope_for(rcpts, (self.content.size_hint)(&message.body))
    }

    /// Message `m`'s content.
    pub fn body(&self, m: usize) -> Option<&'a B> {
        self.messages.get(m).map(|message| &message.body)
    }

    /// The session for an attempt over a connection just made from `local`: its
    /// transactions queued, then QUIT, told to the transaction hook, bounded by the call's
    /// deadline.
    pub fn session(
        &self,
        attempt: &Attempt,
        local: SocketAddr,
        clock: &Clock,
    ) -> Result<SessionRun, Error> {
        let config = self.settings.session_config(local, attempt.tls);
        Ok(
            SessionRun::start(config, clock, attempt, |m, rcpts| self.envelope(m, rcpts))?
                .with_hook(self.settings.on_transaction.clone())
                .with_deadline(self.settings.deadline),
        )
    }

    /// Queue an attempt's transactions on a long-lived session that is idle, bounded by the
    /// call's deadline. An `Err` is an envelope the batch's validation let through: nothing
    /// of it was sent, the connection stays usable.
    pub fn add_to(
        &self,
        run: &mut SessionRun,
        clock: &Clock,
        attempt: &Attempt,
    ) -> Result<(), Error> {
        run.set_deadline(self.settings.deadline);
        let hook = self.settings.on_transaction.clone();
        run.add(clock, attempt, hook, |m, rcpts| self.envelope(m, rcpts))
    }

    /// What a relay's groups get if they ever ask for a route (they never do).
    pub fn relay_route() -> SecuredRoute {
        let none = Err(RouteError {
            reason: mxsend_core::mx::NoRoute::NoUsableExchange,
            dns: None,
        });
        (none, None)
    }

    /// An MX domain's candidates from its route, and whether a TLS policy must be looked
    /// up for them ([`crate::security::plan_for`], blocking DNS and HTTPS). `None` for a
    /// relay.
    pub fn mx_candidates(
        &self,
        route: Result<Route, RouteError>,
    ) -> Option<(Result<Vec<Candidate>, RouteError>, bool)> {
        let Routes::Mx { mx, .. } = &self.routes else {
            return None;
        };
        let candidates = mx_candidates(mx, route);
        let policy = candidates.is_ok() && (mx.mta_sts.is_some() || mx.dane.is_some());
        Some((candidates, policy))
    }

    /// The TLS policy for `domain`'s candidates, blocking (DNS and HTTPS): `None` when no
    /// policy is consulted.
    #[cfg(feature = "blocking")]
    pub fn policy(&self, domain: &Domain, candidates: &[Candidate]) -> Option<SecurityPlan> {
        let Routes::Mx {
            mx,
            resolver,
            tls_optional,
        } = &self.routes
        else {
            return None;
        };
        crate::security::plan_for(mx, resolver, domain, candidates, *tls_optional)
    }

    /// [`Shared::policy`] as a job of its own, to run where blocking is allowed (an async
    /// runtime's blocking pool): `None` for a relay.
    #[cfg(feature = "aio")]
    pub fn policy_query(&self, domain: &Domain, candidates: &[Candidate]) -> Option<PolicyQuery> {
        let Routes::Mx {
            mx,
            resolver,
            tls_optional,
        } = &self.routes
        else {
            return None;
        };
        Some(PolicyQuery {
            mx: (*mx).clone(),
            resolver: resolver.clone(),
            domain: domain.clone(),
            candidates: candidates.to_vec(),
            tls_optional: *tls_optional,
        })
    }

    /// The domain's route as the delivery machine takes it, the policy prepared for its
    /// candidates (told to the transcript, its TLS pins set up).
    pub fn secured(
        &self,
        domain: &Domain,
        route: Result<Vec<Candidate>, RouteError>,
        plan: Option<SecurityPlan>,
    ) -> SecuredRoute {
        if let (Some(plan), Ok(candidates), Routes::Mx { mx, .. }) = (&plan, &route, &self.routes) {
            plan.prepare(
                &domain.to_string(),
                &self.connector,
                candidates,
                mx.transcript.as_ref(),
            );
        }
        (route, plan)
    }
}

/// What [`crate::security::plan_for`] needs for one domain, owned, so that it can run on
/// another thread.
#[cfg(feature = "aio")]
pub(crate) struct PolicyQuery {
    mx: MxDelivery,
    resolver: Resolver,
    domain: Domain,
    candidates: Vec<Candidate>,
    tls_optional: bool,
}

#[cfg(feature = "aio")]
impl PolicyQuery {
    /// The policy (blocking: DNS and HTTPS).
    pub fn run(self) -> Option<SecurityPlan> {
        crate::security::plan_for(
            &self.mx,
            &self.resolver,
            &self.domain,
            &self.candidates,
            self.tls_optional,
        )
    }
}

/// A send or delivery: its delivery machine, and what its connections share.
pub(crate) struct Job<'a, B> {
    pub delivery: Delivery,
    pub shared: Shared<'a, B>,
}

/// A relay job waiting for the system resolver's answer for the relay's name.
pub(crate) struct RelayLookup<'a, B> {
    relay: &'a Relay,
    /// The name to look up (A-labels), and the port.
    pub name: String,
    pub port: u16,
    connector: TlsConnector,
    messages: &'a [Message<B>],
    content: Content<B>,
}

/// A relay job, ready or waiting for its relay's addresses.
pub(crate) enum RelayStart<'a, B> {
    /// Boxed: a job is large, and this is one allocation per call.
    Ready(Box<Job<'a, B>>),
    Lookup(RelayLookup<'a, B>),
}

impl<'a, B> RelayLookup<'a, B> {
    /// The job, once the relay's name is looked up.
    pub fn answered(
        self,
        answer: Result<Vec<SocketAddr>, HostLookupError>,
    ) -> Result<Job<'a, B>, Error> {
        let candidates = relay_candidates(self.relay, answer)?;
        Ok(Job::relay_with(
            self.relay,
            candidates,
            self.connector,
            self.messages,
            self.content,
        ))
    }
}

impl<'a, B> Job<'a, B> {
    /// Send `messages` through `relay`: checked, then the relay's route (an address, or a
    /// name to look up).
    pub fn relay(
        relay: &'a Relay,
        messages: &'a [Message<B>],
        content: Content<B>,
    ) -> Result<RelayStart<'a, B>, Error> {
        validate(messages.iter().map(|m| &m.envelope), &relay.settings())?;
        let connector = relay.tls_connector()?;
        Ok(match relay_route(relay)? {
            RelayRoute::Known(candidates) => RelayStart::Ready(Box::new(Job::relay_with(
                relay, candidates, connector, messages, content,
            ))),
            RelayRoute::Lookup(name) => RelayStart::Lookup(RelayLookup {
                relay,
                name,
                port: relay.port,
                connector,
                messages,
                content,
            }),
        })
    }

    fn relay_with(
        relay: &Relay,
        candidates: Vec<Candidate>,
        connector: TlsConnector,
        messages: &'a [Message<B>],
        content: Content<B>,
    ) -> Job<'a, B> {
        let mut delivery = relay_delivery(relay, candidates, messages.iter().map(|m| &m.envelope));
        content.mark_binary(&mut delivery, messages);
        Job {
            delivery,
            shared: Shared::relay(relay.settings(), connector, messages, content),
        }
    }

    /// Deliver `message` to its recipients' MX hosts. `tls_optional`: the message says
    /// `TLS-Required: No` ([`crate::requiretls`]).
    pub fn mx(
        mx: &'a MxDelivery,
        message: &'a Message<B>,
        content: Content<B>,
        tls_optional: bool,
    ) -> Result<Job<'a, B>, Error> {
        validate([&message.envelope], &mx.settings())?;
        let connector = TlsConnector::new(&mx.tls_options, mx.connector_mode())?;
        let resolver = resolver(mx)?;
        let mut delivery = Delivery::mx(&message.envelope.recipients, mx.exchange_mode());
        content.mark_binary(&mut delivery, std::slice::from_ref(message));
        Ok(Job {
            delivery,
            shared: Shared {
                settings: mx.settings(),
                connector,
                messages: std::slice::from_ref(message),
                routes: Routes::Mx {
                    mx,
                    resolver,
                    tls_optional,
                },
                content,
            },
        })
    }

    /// A relay job's reports, one per message in order.
    pub fn into_reports(self) -> Vec<Report> {
        self.delivery.into_reports()
    }

    /// An MX job's report, with the certificate verification failures the connections met.
    pub fn into_report(self) -> Report {
        let mut report = first_report(self.delivery.into_reports());
        crate::security::add_verification_failures(&mut report.recipients, &self.shared.connector);
        report
    }
}

/// The one report of a one-message call (empty if there was none).
pub(crate) fn first_report(mut reports: Vec<Report>) -> Report {
    reports.pop().unwrap_or(Report {
        recipients: Vec::new(),
    })
}
