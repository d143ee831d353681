//! What a long-lived client does whatever its runtime: the part of [`crate::blocking::Client`]
//! and `aio::Client` that decides, shared so the two cannot drift.
//!
//! A client keeps one connection to its relay open between batches. Each batch goes through
//! the relay's delivery machine ([`crate::advanced::Delivery`], the same fallback rules as
//! [`crate::blocking::send_all`]); when the machine asks for an attempt on the candidate the
//! open connection already serves, with the same TLS mode, that connection is checked with
//! RSET ([`mxsend_core::session::Session::check_idle`]) and reused; when the check finds it
//! closed (the server's idle timeout, a 421, a reset), the attempt opens a new connection
//! instead: nothing of the batch was sent on the old one, so the reconnection is invisible
//! in the reports.

use crate::attempt::{relay_candidates, relay_delivery, relay_route, validate, RelayRoute};
use crate::config::{Relay, Settings};
use crate::delivery::{Action, Attempt, AttemptResult, Candidate, Delivery, Report};
use crate::dns::RouteError;
use crate::error::{Error, HostLookupError};
use crate::job::Content;
use crate::message::Message;
use crate::tls::{TlsConnector, TlsMode};

/// A client's fixed parts and its relay's addresses, once looked up.
#[derive(Clone, Debug)]
pub(crate) struct ClientSetup {
    pub relay: Relay,
    pub settings: Settings,
    pub connector: TlsConnector,
    /// The relay's candidates: looked up for the first batch, kept while they work.
    candidates: Option<Vec<Candidate>>,
}

/// How the relay's addresses are found: known already, or by this name.
pub(crate) enum Addresses {
    Known(Vec<Candidate>),
    Lookup(String),
}

impl ClientSetup {
    pub fn new(relay: Relay) -> Result<ClientSetup, Error> {
        let connector = relay.tls_connector()?;
        let settings = relay.settings();
        Ok(ClientSetup {
            relay,
            settings,
            connector,
            candidates: None,
        })
    }

    /// The batch's envelopes checked (nothing sent when one is unusable), then where the
    /// relay is: known, or a name the runtime looks up ([`ClientSetup::looked_up`]).
    pub fn begin<B>(&self, messages: &[Message<B>]) -> Result<Addresses, Error> {
        validate(messages.iter().map(|m| &m.envelope), &self.settings)?;
        if let Some(candidates) = &self.candidates {
            return Ok(Addresses::Known(candidates.clone()));
        }
        Ok(match relay_route(&self.relay)? {
            RelayRoute::Known(candidates) => Addresses::Known(candidates),
            RelayRoute::Lookup(name) => Addresses::Lookup(name),
        })
    }

    /// The system resolver's answer for the relay's name, kept for later batches.
    pub fn looked_up(
        &mut self,
        answer: Result<Vec<std::net::SocketAddr>, HostLookupError>,
    ) -> Result<Vec<Candidate>, Error> {
        let candidates = relay_candidates(&self.relay, answer)?;
        self.candidates = Some(candidates.clone());
        Ok(candidates)
    }

    /// A batch over these candidates: the relay's delivery machine, the overall deadline
    /// counted from now.
    pub fn batch<B>(
        &mut self,
        candidates: Vec<Candidate>,
        messages: &[Message<B>],
        content: Content<B>,
    ) -> Batch {
        self.settings.restart_deadline(self.relay.deadline);
        let envelopes = messages.iter().map(|m| &m.envelope);
        let mut delivery = relay_delivery(&self.relay, candidates, envelopes);
        content.mark_binary(&mut delivery, messages);
        Batch {
            delivery,
            reached: false,
        }
    }
}

/// One batch of a client: the attempts the delivery machine asks for, one after another.
pub(crate) struct Batch {
    delivery: Delivery,
    /// Some attempt ran a session (the addresses are worth keeping).
    reached: bool,
}

impl Batch {
    /// The next attempt to run, or `None` when every recipient has its outcome.
    pub fn next_attempt(&mut self) -> Option<Attempt> {
        loop {
            match self.delivery.poll() {
                Action::Done => return None,
                // A relay has no domain to resolve; the machine never asks.
                Action::Resolve(_) => self.delivery.route_found(Err(RouteError {
                    reason: mxsend_core::mx::NoRoute::NoUsableExchange,
                    dns: None,
                })),
                Action::Attempt(attempt) => return Some(attempt),
            }
        }
    }

    /// How the attempt from [`Batch::next_attempt`] ended.
    pub fn attempt_done(&mut self, result: AttemptResult) {
        self.reached |= matches!(result, AttemptResult::Ran(_));
        self.delivery.attempt_done(result);
    }

    /// The reports; when no candidate could be reached, the relay's name is looked up again
    /// next time (it may have moved).
    pub fn finish(self, setup: &mut ClientSetup) -> Vec<Report> {
        if !self.reached {
            setup.candidates = None;
        }
        self.delivery.into_reports()
    }
}

/// Where the open connection goes, to tell whether an attempt can reuse it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Serves {
    pub candidate: Candidate,
    pub tls: TlsMode,
}

impl Serves {
    pub fn of(attempt: &Attempt) -> Serves {
        Serves {
            candidate: attempt.candidate.clone(),
            tls: attempt.tls,
        }
    }

    /// Whether `attempt` may go over this connection.
    pub fn fits(&self, attempt: &Attempt) -> bool {
        self.candidate == attempt.candidate && self.tls == attempt.tls
    }
}

/// What a client has done, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Connections opened (the first, and every reconnection).
    pub connections: u64,
    /// Batches sent over a connection kept from an earlier batch, after its RSET check.
    pub reused: u64,
    /// Idle connections found closed by the check and replaced.
    pub reconnected: u64,
}
