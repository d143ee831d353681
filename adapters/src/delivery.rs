//! Where each recipient goes, and what happens when a server does not take it: the delivery
//! logic shared by every runtime, as a sans-IO state machine.
//!
//! RFC 5321 §5.1 (trying MX hosts and addresses in order), §4.5.4.1 (what to do when a
//! connection or session fails), RFC 7505 (null MX), RFC 3463 (the enhanced codes of the
//! replies made up here).
//!
//! [`Delivery`] is driven like the core's session: [`Delivery::poll`] says what to do next
//! ([`Action::Resolve`] a domain's route, [`Action::Attempt`] a connection and session,
//! or [`Action::Done`]); the runtime does it and reports back with [`Delivery::route_found`]
//! or [`Delivery::attempt_done`]. A runtime's driver is then one short loop, and the fallback
//! rules below are tested here once, without sockets.
//!
//! # The rules
//!
//! - **Grouping.** MX delivery groups recipients by domain ([`mxsend_core::mx::group_by_domain`]):
//!   one route and one set of connections per domain, the domains in order of first
//!   appearance. Relay delivery is the degenerate case: one group, the relay's addresses as its
//!   route, and (for [`Delivery::relay`]) any number of messages in one session.
//! - **No route.** A null MX (RFC 7505) or NXDOMAIN rejects the domain's recipients without any
//!   connection; a temporary DNS failure, or MX records that name no usable host, defers them.
//!   The [`Outcome`] then holds a reply made up here (see below), `host` and `addr` are `None`,
//!   and [`Unreached::Route`] holds the DNS error.
//! - **Moving on.** Candidates (addresses, in the plan's order, at most the plan's cap) are
//!   tried in turn. The next one is tried when a connection is refused or times out, a TLS
//!   handshake fails under `required`/`implicit`, or the session fails before a transaction
//!   ran (4xx/5xx greeting, EHLO refused, STARTTLS required and missing, 421, timeout, lost
//!   connection).
//! - **Final outcomes.** Once a server replied to a recipient, its outcome is final for that
//!   domain: delivered, rejected (5xx), deferred (4xx) and ambiguous (the end of data went out and
//!   no reply came: trying elsewhere could deliver twice, RFC 1047) are all kept. The exception,
//!   by decision: a recipient *deferred without a reply of its own* (the session died before its
//!   transaction ended, or it was still queued) or deferred by a 421 (the server closing down,
//!   a session-level answer rather than one about the recipient) goes on to the next candidate,
//!   as Postfix does for session-level failures. A 4xx to RCPT or to the end of data is the
//!   server's answer about that recipient and is kept, even when backup MX hosts exist: a backup
//!   would usually queue it only to meet the same 4xx later.
//! - **Opportunistic TLS.** A failed handshake under [`TlsMode::Opportunistic`] is retried once
//!   on a new connection to the same address in plaintext (Postfix's `smtp_tls_security_level =
//!   may` does the same): the alternative to plaintext there is not delivering at all.
//! - **Our own mistakes stop the search.** A session that ends because of the credentials
//!   (refused, no mechanism in common, AUTH not allowed without TLS) is not repeated elsewhere:
//!   every server would get the same credentials.
//! - **Every recipient ends exactly once**, with the host and address of the attempt that
//!   settled it (the last one tried, when none did).
//!
//! # Replies made up here
//!
//! When no server answered, the outcome still carries a [`Reply`], marked by `host: None` (DNS)
//! or by [`RecipientReport::unreached`]: `556 5.1.10` null MX (RFC 7505 §4.2), `550 5.1.2`
//! NXDOMAIN, `451 4.4.3` DNS temporary failure, `451 4.4.1` no connection could be made, `454
//! 4.7.0` TLS handshake failed.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mxsend_core::address::{Domain, Mailbox};
use mxsend_core::mx::{self, FamilyOrder, NoRoute};
use mxsend_core::reply::{Reply, ReplyCode};
use mxsend_core::session::{Failure, Outcome, SessionError};

use crate::dns::{Route, RouteError};
use crate::tls::TlsMode;

/// Where to connect, and the name that goes with it (for TLS, transcripts and reports).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// The relay host or MX exchange name (or the address, for an address literal).
    pub host: String,
    /// The address and port.
    pub addr: SocketAddr,
}

/// The candidates for a domain's route: the plan's addresses in order, at most `limit`, each
/// with `port`.
pub fn candidates(route: &Route, port: u16, order: FamilyOrder, limit: usize) -> Vec<Candidate> {
    match route {
        Route::Address(ip) => vec![Candidate {
            host: ip.to_string(),
            addr: SocketAddr::new(*ip, port),
        }],
        Route::Exchanges(exchanges) => crate::dns::connection_plan(exchanges, order, limit)
            .into_iter()
            .map(|attempt| Candidate {
                host: attempt.exchange.name.clone(),
                addr: SocketAddr::new(attempt.address, port),
            })
            .collect(),
    }
}

/// Why the route for a domain gave no candidate: the DNS answer, or every exchange failing
/// to resolve.
pub fn route_without_candidates(route: &Route) -> RouteError {
    let dns = match route {
        Route::Exchanges(exchanges) => exchanges.iter().find_map(|e| e.addresses.clone().err()),
        Route::Address(_) => None,
    };
    RouteError {
        reason: NoRoute::NoUsableExchange,
        dns,
    }
}

/// What the runtime should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Find the route for this domain (MX plan and addresses), then call
    /// [`Delivery::route_found`] with its candidates or the reason there are none.
    Resolve(Domain),
    /// Connect, run one session, then call [`Delivery::attempt_done`].
    Attempt(Attempt),
    /// Every recipient has its outcome: see [`Delivery::into_reports`].
    Done,
}

/// One connection and session to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// Where to connect.
    pub candidate: Candidate,
    /// How to use TLS on this connection.
    pub tls: TlsMode,
    /// The transactions to run, in order: each message's index (into the messages given to
    /// [`Delivery::relay`], or 0 for [`Delivery::mx`]) with the indices of its recipients to
    /// include, ascending. Messages with no recipient left are not listed.
    pub transactions: Vec<(usize, Vec<usize>)>,
}

/// How an attempt ended.
#[derive(Debug)]
pub enum AttemptResult {
    /// No TCP connection: refused, timed out, unreachable.
    ConnectFailed(io::Error),
    /// The TLS handshake failed (implicit TLS, or after STARTTLS); no transaction ran.
    TlsFailed(String),
    /// The session ran: for each transaction of the attempt, in order, one outcome per listed
    /// recipient, in order.
    Ran(Vec<Vec<Outcome>>),
}

/// Why no server answered for a recipient.
#[derive(Clone, Debug)]
pub enum Unreached {
    /// No route: null MX, NXDOMAIN, DNS failure, no usable exchange.
    Route(RouteError),
    /// The last connection attempt failed.
    Connect(Arc<io::Error>),
    /// The last TLS handshake failed.
    Tls(String),
}

impl std::fmt::Display for Unreached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreached::Route(e) => write!(f, "{e}"),
            Unreached::Connect(e) => write!(f, "connection failed: {e}"),
            Unreached::Tls(e) => write!(f, "TLS handshake failed: {e}"),
        }
    }
}

/// Where one recipient of one message ended.
#[derive(Clone, Debug)]
pub struct RecipientReport {
    /// The recipient.
    pub mailbox: Mailbox,
    /// Delivered, rejected, deferred or ambiguous, with the reply (made up here when no server
    /// answered; see the module documentation).
    pub outcome: Outcome,
    /// The host name of the server that settled it (or was tried last); `None` when there was
    /// no route at all.
    pub host: Option<String>,
    /// That server's address.
    pub addr: Option<SocketAddr>,
    /// Set when no server answered for this recipient in the end: why.
    pub unreached: Option<Unreached>,
}

/// One message's result: one entry per recipient, in envelope order.
#[derive(Clone, Debug)]
pub struct Report {
    /// Per recipient, in the order given.
    pub recipients: Vec<RecipientReport>,
}

impl Report {
    /// True when every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Delivered(_)))
    }

    /// The report for `mailbox`, if it was a recipient.
    pub fn recipient(&self, mailbox: &Mailbox) -> Option<&RecipientReport> {
        self.recipients.iter().find(|r| &r.mailbox == mailbox)
    }
}

/// The latest word on a recipient that may still be retried.
#[derive(Clone, Debug)]
struct Pending {
    outcome: Outcome,
    candidate: Option<Candidate>,
    unreached: Option<Unreached>,
}

/// A set of (message, recipient) jobs sharing one route.
#[derive(Debug)]
struct Group {
    /// The domain to resolve; `None` when the route is already known (relay).
    domain: Option<Domain>,
    jobs: Vec<(usize, usize)>,
}

#[derive(Debug)]
struct Current {
    jobs: Vec<(usize, usize)>,
    candidates: VecDeque<(Candidate, TlsMode)>,
    /// The attempt under way, if any.
    attempt: Option<Attempt>,
    /// Candidates already retried in plaintext after a failed opportunistic handshake.
    retried_plain: Vec<SocketAddr>,
}

/// The delivery state machine: see the module documentation.
#[derive(Debug)]
pub struct Delivery {
    /// Each message's recipients.
    recipients: Vec<Vec<Mailbox>>,
    /// Final results, per message and recipient.
    done: Vec<Vec<Option<RecipientReport>>>,
    /// The latest non-final word per message and recipient.
    pending: Vec<Vec<Option<Pending>>>,
    groups: VecDeque<Group>,
    current: Option<Current>,
    tls: TlsMode,
    /// Candidates for groups whose route is known up front (relay).
    known: Vec<Candidate>,
}

/// A reply code from a constant; an invalid one fails the build, not the program.
const fn code(n: u16) -> ReplyCode {
    match ReplyCode::new(n) {
        Some(code) => code,
        None => panic!("not a reply code"),
    }
}

/// `556 5.1.10`: the domain accepts no mail (RFC 7505 §4.2).
const NULL_MX: ReplyCode = code(556);
/// `550 5.1.2`: the domain does not exist (RFC 3463 X.1.2).
const NO_SUCH_DOMAIN: ReplyCode = code(550);
/// `451 4.4.x`: DNS trouble (4.4.3) or no answer from the host (4.4.1), RFC 3463.
const LOCAL_TEMPORARY: ReplyCode = code(451);
/// `454 4.7.0`: TLS not available (RFC 3207 §4 uses 454 for it).
const TLS_UNAVAILABLE: ReplyCode = code(454);

fn made_up(code: ReplyCode, text: String) -> Reply {
    Reply::new(code, vec![text])
}

/// The outcome for recipients of a domain with no route.
fn no_route_outcome(error: &RouteError) -> Outcome {
    match error.reason {
        NoRoute::NullMx => {
            Outcome::Rejected(Failure::Reply(made_up(NULL_MX, format!("5.1.10 {error}"))))
        }
        NoRoute::NoSuchDomain => Outcome::Rejected(Failure::Reply(made_up(
            NO_SUCH_DOMAIN,
            format!("5.1.2 {error}"),
        ))),
        NoRoute::TemporaryFailure | NoRoute::NoUsableExchange => Outcome::Deferred(Failure::Reply(
            made_up(LOCAL_TEMPORARY, format!("4.4.3 {error}")),
        )),
    }
}

/// May this recipient try the next candidate? See "Final outcomes" in the module docs.
fn retryable(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Deferred(Failure::Session(_)) => true,
        Outcome::Deferred(Failure::Reply(reply)) => reply.code().get() == 421,
        _ => false,
    }
}

/// Is this a failure of our own credentials, the same at every server?
fn client_side(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Deferred(Failure::Session(
            SessionError::AuthFailed(_)
                | SessionError::AuthRequiresTls
                | SessionError::AuthUnavailable { .. }
                | SessionError::Sasl(_)
        ))
    )
}

impl Delivery {
    /// MX delivery of one message: its recipients grouped by domain, each domain resolved in
    /// turn. `tls` applies to every connection ([`TlsMode::Opportunistic`] is the usual choice).
    pub fn mx(recipients: &[Mailbox], tls: TlsMode) -> Delivery {
        let groups = mx::group_by_domain(recipients.iter().map(Mailbox::domain))
            .into_iter()
            .map(|group| Group {
                domain: Some(group.domain),
                jobs: group.recipients.into_iter().map(|r| (0, r)).collect(),
            })
            .collect::<VecDeque<Group>>();
        Delivery::new(vec![recipients.to_vec()], groups, tls, Vec::new())
    }

    /// Relay delivery of any number of messages over one session at a time: the relay's
    /// addresses are the candidates, tried in order; messages not settled by one session go
    /// to the next address.
    pub fn relay(
        candidates: Vec<Candidate>,
        messages: Vec<Vec<Mailbox>>,
        tls: TlsMode,
    ) -> Delivery {
        let jobs = messages
            .iter()
            .enumerate()
            .flat_map(|(m, rcpts)| (0..rcpts.len()).map(move |r| (m, r)))
            .collect();
        let groups = VecDeque::from([Group { domain: None, jobs }]);
        Delivery::new(messages, groups, tls, candidates)
    }

    fn new(
        recipients: Vec<Vec<Mailbox>>,
        groups: impl Into<VecDeque<Group>>,
        tls: TlsMode,
        known: Vec<Candidate>,
    ) -> Delivery {
        let done = recipients.iter().map(|r| vec![None; r.len()]).collect();
        let pending = recipients.iter().map(|r| vec![None; r.len()]).collect();
        Delivery {
            recipients,
            done,
            pending,
            groups: groups.into(),
            current: None,
            tls,
            known,
        }
    }

    /// What to do next.
    pub fn poll(&mut self) -> Action {
        loop {
            if let Some(current) = &mut self.current {
                if let Some(attempt) = &current.attempt {
                    return Action::Attempt(attempt.clone());
                }
                let jobs: Vec<(usize, usize)> = current.jobs.clone();
                if jobs.is_empty() {
                    self.current = None;
                    continue;
                }
                let Some((candidate, tls)) = current.candidates.pop_front() else {
                    // Out of candidates: the latest word on each job is final.
                    self.current = None;
                    for (m, r) in jobs {
                        self.finish_pending(m, r);
                    }
                    continue;
                };
                let attempt = Attempt {
                    candidate,
                    tls,
                    transactions: transactions(&jobs),
                };
                current.attempt = Some(attempt.clone());
                return Action::Attempt(attempt);
            }
            let Some(group) = self.groups.front() else {
                return Action::Done;
            };
            match &group.domain {
                Some(domain) => return Action::Resolve(domain.clone()),
                None => {
                    let candidates = self.known.clone();
                    self.route_found(Ok(candidates));
                }
            }
        }
    }

    /// The route for the domain of the last [`Action::Resolve`]: its candidates in order, or
    /// why there is none. An empty list is taken as "no usable exchange".
    pub fn route_found(&mut self, route: Result<Vec<Candidate>, RouteError>) {
        let Some(group) = self.groups.pop_front() else {
            return;
        };
        let candidates = match route {
            Ok(candidates) if !candidates.is_empty() => candidates,
            Ok(_) => {
                self.no_route(
                    &group.jobs,
                    RouteError {
                        reason: NoRoute::NoUsableExchange,
                        dns: None,
                    },
                );
                return;
            }
            Err(error) => {
                self.no_route(&group.jobs, error);
                return;
            }
        };
        let tls = self.tls;
        self.current = Some(Current {
            jobs: group.jobs,
            candidates: candidates.into_iter().map(|c| (c, tls)).collect(),
            attempt: None,
            retried_plain: Vec::new(),
        });
    }

    fn no_route(&mut self, jobs: &[(usize, usize)], error: RouteError) {
        let outcome = no_route_outcome(&error);
        for &(m, r) in jobs {
            self.finish(
                m,
                r,
                Pending {
                    outcome: outcome.clone(),
                    candidate: None,
                    unreached: Some(Unreached::Route(error.clone())),
                },
            );
        }
    }

    /// How the attempt from the last [`Action::Attempt`] ended.
    pub fn attempt_done(&mut self, result: AttemptResult) {
        let Some(current) = &mut self.current else {
            return;
        };
        let Some(attempt) = current.attempt.take() else {
            return;
        };
        let candidate = attempt.candidate.clone();
        let mut settled: Vec<(usize, usize, Pending)> = Vec::new();
        let mut retry: Vec<(usize, usize, Pending)> = Vec::new();
        let mut stop = false;
        match result {
            AttemptResult::ConnectFailed(error) => {
                let outcome = Outcome::Deferred(Failure::Reply(made_up(
                    LOCAL_TEMPORARY,
                    format!(
                        "4.4.1 connect to {} ({}): {error}",
                        candidate.host, candidate.addr
                    ),
                )));
                let unreached = Unreached::Connect(Arc::new(error));
                for &(m, r) in &current.jobs {
                    retry.push((
                        m,
                        r,
                        Pending {
                            outcome: outcome.clone(),
                            candidate: Some(candidate.clone()),
                            unreached: Some(unreached.clone()),
                        },
                    ));
                }
            }
            AttemptResult::TlsFailed(error) => {
                let outcome = Outcome::Deferred(Failure::Reply(made_up(
                    TLS_UNAVAILABLE,
                    format!(
                        "4.7.0 TLS handshake with {} failed: {error}",
                        candidate.host
                    ),
                )));
                for &(m, r) in &current.jobs {
                    retry.push((
                        m,
                        r,
                        Pending {
                            outcome: outcome.clone(),
                            candidate: Some(candidate.clone()),
                            unreached: Some(Unreached::Tls(error.clone())),
                        },
                    ));
                }
                if attempt.tls == TlsMode::Opportunistic
                    && !current.retried_plain.contains(&candidate.addr)
                {
                    current.retried_plain.push(candidate.addr);
                    current
                        .candidates
                        .push_front((candidate.clone(), TlsMode::None));
                }
            }
            AttemptResult::Ran(outcomes) => {
                for ((m, rcpts), outcomes) in attempt.transactions.iter().zip(outcomes) {
                    for (&r, outcome) in rcpts.iter().zip(outcomes) {
                        stop |= client_side(&outcome);
                        let word = Pending {
                            candidate: Some(candidate.clone()),
                            unreached: None,
                            outcome,
                        };
                        if retryable(&word.outcome) {
                            retry.push((*m, r, word));
                        } else {
                            settled.push((*m, r, word));
                        }
                    }
                }
                // A job the runtime did not report on (it should not happen) keeps its
                // previous word and is retried.
            }
        }
        if stop {
            current.candidates.clear();
        }
        current
            .jobs
            .retain(|job| !settled.iter().any(|(m, r, _)| (*m, *r) == *job));
        for (m, r, word) in settled {
            self.finish(m, r, word);
        }
        for (m, r, word) in retry {
            if let Some(slot) = self.pending.get_mut(m).and_then(|p| p.get_mut(r)) {
                *slot = Some(word);
            }
        }
    }

    fn finish_pending(&mut self, m: usize, r: usize) {
        let word = self
            .pending
            .get_mut(m)
            .and_then(|p| p.get_mut(r))
            .and_then(Option::take);
        let word = word.unwrap_or_else(|| Pending {
            // Unreachable in practice: a job only runs out of candidates after an attempt.
            outcome: Outcome::Deferred(Failure::Reply(made_up(
                LOCAL_TEMPORARY,
                "4.4.1 no address to connect to".to_string(),
            ))),
            candidate: None,
            unreached: None,
        });
        self.finish(m, r, word);
    }

    fn finish(&mut self, m: usize, r: usize, word: Pending) {
        let Some(mailbox) = self.recipients.get(m).and_then(|rcpts| rcpts.get(r)) else {
            return;
        };
        let report = RecipientReport {
            mailbox: mailbox.clone(),
            outcome: word.outcome,
            host: word.candidate.as_ref().map(|c| c.host.clone()),
            addr: word.candidate.as_ref().map(|c| c.addr),
            unreached: word.unreached,
        };
        if let Some(slot) = self.done.get_mut(m).and_then(|d| d.get_mut(r)) {
            if slot.is_none() {
                *slot = Some(report);
            }
        }
    }

    /// One report per message, once [`Action::Done`] was returned. A recipient the runtime
    /// abandoned early (it stopped driving the machine) is reported deferred.
    pub fn into_reports(mut self) -> Vec<Report> {
        let jobs: Vec<(usize, usize)> = self
            .done
            .iter()
            .enumerate()
            .flat_map(|(m, d)| {
                d.iter()
                    .enumerate()
                    .filter(|(_, slot)| slot.is_none())
                    .map(move |(r, _)| (m, r))
            })
            .collect();
        for (m, r) in jobs {
            self.finish_pending(m, r);
        }
        self.done
            .into_iter()
            .map(|reports| Report {
                recipients: reports.into_iter().flatten().collect(),
            })
            .collect()
    }
}

/// The jobs as transactions: per message, its recipients, in order of first appearance.
fn transactions(jobs: &[(usize, usize)]) -> Vec<(usize, Vec<usize>)> {
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    for &(m, r) in jobs {
        match out.iter_mut().find(|(message, _)| *message == m) {
            Some((_, rcpts)) => rcpts.push(r),
            None => out.push((m, vec![r])),
        }
    }
    for (_, rcpts) in &mut out {
        rcpts.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests;
