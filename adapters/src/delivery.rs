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
//! A driver that can wait on several things at once (the async adapters) asks instead with
//! [`Delivery::start_next`], which hands out a [`Task`] per group (recipient domain) that has
//! nothing under way, and reports with [`Delivery::route_found_for`] and
//! [`Delivery::attempt_done_for`]. Within a group everything stays sequential (an exchange is
//! tried only after the one before it failed); groups are independent, so the order in which
//! their tasks finish changes no outcome (a property tested below).
//!
//! # The rules
//!
//! - **Grouping.** MX delivery groups recipients by domain ([`mxsend_core::mx::group_by_domain`]):
//!   one route and one set of connections per domain, the domains in order of first
//!   appearance. Relay delivery is the degenerate case: one group, the relay's addresses as its
//!   route, and (for [`Delivery::relay`]) any number of messages in one session.
//! - **No route.** A null MX (RFC 7505) or NXDOMAIN rejects the domain's recipients without any
//!   connection; a temporary DNS failure, or MX records that name no usable host, defers them.
//!   The [`Outcome`] then holds [`Failure::Unreached`] (no server replied, so there is no
//!   reply), `host` and `addr` are `None`, and [`Unreached::Route`] holds the DNS error.
//! - **Moving on.** Candidates (addresses, in the plan's order, at most the plan's cap) are
//!   tried in turn. The next one is tried when a connection is refused or times out, a TLS
//!   handshake fails under `required`/`implicit`, or the session fails before a transaction
//!   ran (4xx/5xx greeting, EHLO refused, STARTTLS required and missing, 421, timeout, lost
//!   connection), or when MAIL FROM got a 4xx (the server's state, not the recipient's: Postfix
//!   moves on too). A 5xx to RCPT is the recipient's answer and never moves on.
//! - **Final outcomes.** Once a server replied to a recipient, its outcome is final for that
//!   domain: delivered, rejected (5xx), deferred (4xx) and ambiguous (the end of data went out and
//!   no reply came: trying elsewhere could deliver twice, RFC 1047) are all kept. The exception,
//!   by decision: a recipient *deferred without a reply of its own* (the session died before its
//!   transaction ended, or it was still queued) or deferred by a 421 (the server closing down,
//!   a session-level answer rather than one about the recipient) goes on to the next candidate,
//!   as Postfix does for session-level failures. A 4xx to RCPT or to the end of data is the
//!   server's answer about that recipient and is kept, even when backup MX hosts exist: a backup
//!   would usually queue it only to meet the same 4xx later. A session-level refusal that
//!   [`SessionError::is_permanent`] calls permanent (554 greeting) also moves on, and ends as
//!   rejected when every candidate refused so.
//! - **Opportunistic TLS.** A failed handshake under [`TlsMode::Opportunistic`] is retried once
//!   on a new connection to the same address in plaintext (Postfix's `smtp_tls_security_level =
//!   may` does the same): the alternative to plaintext there is not delivering at all.
//! - **Our own mistakes stop the search.** A session that ends because of the credentials
//!   (refused, no mechanism in common, AUTH not allowed without TLS) is not repeated elsewhere:
//!   every server would get the same credentials.
//! - **A message that cannot be read does not take the others down.** Its recipients end
//!   with [`Failure::Body`] (final: every server would meet the same content); when its
//!   session had to close for it (after DATA's 354), the messages it left unsent are sent on
//!   a new connection to the same candidate.
//! - **Every recipient ends exactly once**, with the host and address of the attempt that
//!   settled it (the last one tried, when none did). Outcomes come back keyed by message and
//!   recipient index ([`TransactionOutcomes`]), never matched up by position.
//!
//! # When no server answered
//!
//! The outcome holds [`Failure::Unreached`], never a reply shaped like a server's: rejected for
//! a null MX (RFC 7505) or NXDOMAIN, deferred otherwise; [`RecipientReport::unreached`] says
//! why (the DNS error, the connection error, the TLS error).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mxsend_core::address::{Domain, Mailbox};
use mxsend_core::mx::{self, FamilyOrder, NoRoute};
use mxsend_core::session::{Failure, Outcome, SessionError};

use crate::dns::{Route, RouteError};
use crate::security::{DeliveryPolicy, SecurityPlan};
use crate::tls::{TlsError, TlsMode};

/// Where to connect, and the name that goes with it (for TLS, transcripts and reports).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// The relay host or MX exchange name (or the address, for an address literal).
    pub host: String,
    /// The address and port (unused, the unspecified address, for a Unix socket).
    pub addr: SocketAddr,
    /// A Unix domain socket to connect to instead of `addr` (a relay `unix:/path`).
    pub unix: Option<std::path::PathBuf>,
}

impl Candidate {
    /// The one candidate for a Unix domain socket: `host` is the relay host as given.
    pub fn unix(host: String, path: std::path::PathBuf) -> Candidate {
        Candidate {
            host,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            unix: Some(path),
        }
    }

    /// The TCP address, unless this is a Unix domain socket.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.unix.is_none().then_some(self.addr)
    }
}

/// The candidates for a domain's route: the plan's addresses in order, at most `limit`, each
/// with `port`.
pub fn candidates(route: &Route, port: u16, order: FamilyOrder, limit: usize) -> Vec<Candidate> {
    match route {
        Route::Address(ip) => vec![Candidate {
            host: ip.to_string(),
            addr: SocketAddr::new(*ip, port),
            unix: None,
        }],
        Route::Exchanges(exchanges) => crate::dns::connection_plan(exchanges, order, limit)
            .into_iter()
            .map(|attempt| Candidate {
                host: attempt.exchange.name.clone(),
                addr: SocketAddr::new(attempt.address, port),
                unix: None,
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
#[non_exhaustive]
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
    /// The messages (by index, ascending) whose content needs BINARYMIME (RFC 3030): their
    /// transactions go with `BODY=BINARYMIME` in BDAT ([`Delivery::needs_binary`]).
    pub binary: Vec<usize>,
}

/// How an attempt ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttemptResult {
    /// No TCP connection: refused, timed out, unreachable.
    ConnectFailed(io::Error),
    /// The TLS handshake failed (implicit TLS, or after STARTTLS); no transaction ran.
    TlsFailed(TlsError),
    /// The session ran: the outcomes it settled, each with its message and recipient
    /// indices. A job not reported keeps its previous word and may be tried again.
    Ran(Vec<TransactionOutcomes>),
}

/// The outcomes of one transaction of an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionOutcomes {
    /// The message's index.
    pub message: usize,
    /// Each recipient's index in the message's envelope, with its outcome.
    pub recipients: Vec<(usize, Outcome)>,
}

/// Why no server answered for a recipient.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Unreached {
    /// No route: null MX, NXDOMAIN, DNS failure, no usable exchange.
    Route(RouteError),
    /// The last connection attempt failed.
    Connect(Arc<io::Error>),
    /// The last TLS handshake failed.
    Tls(TlsError),
    /// The domain's TLS policy allows none of its exchanges (MTA-STS `enforce` with no MX
    /// host matching the policy): nothing was tried.
    Policy(DeliveryPolicy),
}

impl std::fmt::Display for Unreached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreached::Route(e) => write!(f, "{e}"),
            Unreached::Connect(e) => write!(f, "connection failed: {e}"),
            Unreached::Tls(e) => write!(f, "TLS handshake failed: {e}"),
            Unreached::Policy(p) => write!(f, "no MX host allowed by the TLS policy: {p}"),
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
    /// The TLS policy that governed its domain (MX delivery with a policy source, such as
    /// MTA-STS, configured); `None` otherwise.
    pub policy: Option<DeliveryPolicy>,
}

impl RecipientReport {
    /// True when the server took the message for this recipient.
    pub fn is_delivered(&self) -> bool {
        self.outcome.is_delivered()
    }

    /// True when retrying cannot help (rejected).
    pub fn is_permanent(&self) -> bool {
        self.outcome.is_permanent()
    }

    /// The server's reply that decided the outcome, when a server gave one.
    pub fn reply(&self) -> Option<&mxsend_core::reply::Reply> {
        self.outcome.reply()
    }
}

impl std::fmt::Display for RecipientReport {
    /// `bob@example.com: rejected: 550 5.1.1 unknown user (mx.example.com [192.0.2.25]:25)`:
    /// the recipient, the outcome with its reply (or, when no server answered, why), and the
    /// server that settled it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.unreached, &self.outcome) {
            (Some(why), Outcome::Rejected(Failure::Unreached))
            | (Some(why), Outcome::Deferred(Failure::Unreached)) => {
                write!(f, "{}: {}: {why}", self.mailbox, self.outcome.name())?
            }
            _ => write!(f, "{}: {}", self.mailbox, self.outcome)?,
        }
        if let Some(hint) = self.outcome.failure().and_then(tls_required_hint) {
            write!(f, " ({hint})")?;
        }
        match (&self.host, self.addr) {
            (Some(host), Some(addr)) if addr.port() != 0 => {
                write!(f, " ({host} [{}]:{})", addr.ip(), addr.port())
            }
            (Some(host), _) => write!(f, " ({host})"),
            (None, _) => Ok(()),
        }
    }
}

/// What to say when a session ended because TLS was required and the server would not
/// start it: required STARTTLS is what a relay does by default on any port but 465.
fn tls_required_hint(failure: &Failure) -> Option<&'static str> {
    match failure.session_error()? {
        SessionError::StartTlsUnavailable
        | SessionError::StartTlsRefused(_)
        | SessionError::EhloRequiredForTls(_) => Some(
            "STARTTLS is required: the default for a relay on any port but 465; \
             Relay::tls(TlsMode::Opportunistic) or TlsMode::None allows plaintext",
        ),
        _ => None,
    }
}

/// One message's result: one entry per recipient, in envelope order.
///
/// ```
/// use mxsend::{Failure, Mailbox, Outcome, RecipientReport, Reply, Report};
///
/// let reply = |code, text: &str| Reply::new(mxsend::ReplyCode::new(code).unwrap(), vec![text.into()]);
/// let recipient = |address: &str, outcome| RecipientReport {
///     mailbox: Mailbox::parse(address).unwrap(),
///     outcome,
///     host: Some("smtp.example.org".into()),
///     addr: Some("192.0.2.25:587".parse().unwrap()),
///     unreached: None,
///     policy: None,
/// };
/// let report = Report {
///     recipients: vec![
///         recipient("bob@example.com", Outcome::Delivered(reply(250, "2.0.0 Ok"))),
///         recipient("eve@example.com", Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 unknown")))),
///     ],
/// };
/// assert!(!report.all_delivered());
/// assert_eq!(report.delivered().count(), 1);
/// assert!(report.recipients[1].is_permanent());
/// assert_eq!(
///     report.recipients[1].to_string(),
///     "eve@example.com: rejected: 550 5.1.1 unknown (smtp.example.org [192.0.2.25]:587)"
/// );
/// assert_eq!(report.to_string().lines().count(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct Report {
    /// Per recipient, in the order given.
    pub recipients: Vec<RecipientReport>,
}

impl std::fmt::Display for Report {
    /// One line per recipient, as [`RecipientReport`]'s `Display`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, recipient) in self.recipients.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{recipient}")?;
        }
        Ok(())
    }
}

impl<'a> IntoIterator for &'a Report {
    type Item = &'a RecipientReport;
    type IntoIter = std::slice::Iter<'a, RecipientReport>;

    fn into_iter(self) -> Self::IntoIter {
        self.recipients.iter()
    }
}

impl Report {
    /// True when every recipient was delivered.
    pub fn all_delivered(&self) -> bool {
        self.recipients.iter().all(RecipientReport::is_delivered)
    }

    /// The recipients that were delivered.
    pub fn delivered(&self) -> impl Iterator<Item = &RecipientReport> {
        self.recipients.iter().filter(|r| r.is_delivered())
    }

    /// The recipients that were not delivered (rejected, deferred or ambiguous).
    pub fn failed(&self) -> impl Iterator<Item = &RecipientReport> {
        self.recipients.iter().filter(|r| !r.is_delivered())
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

/// A set of (message, recipient) jobs sharing one route: a recipient domain, or the relay.
#[derive(Debug)]
struct Group {
    /// The domain to resolve; `None` when the route is already known (relay).
    domain: Option<Domain>,
    /// The jobs not settled yet.
    jobs: Vec<(usize, usize)>,
    stage: Stage,
}

/// Where a group is. Each group has at most one task out at a time (its candidates are tried
/// in order, never in parallel); different groups may have one each.
#[derive(Debug)]
enum Stage {
    /// Its route is not known and nobody was asked to find it.
    Unresolved,
    /// A [`Task::Resolve`] is out.
    Resolving,
    /// The route is known: candidates are being tried.
    Routed(Current),
    /// Every job has its final outcome.
    Finished,
}

#[derive(Debug)]
struct Current {
    candidates: VecDeque<(Candidate, TlsMode)>,
    /// The attempt under way, if any.
    attempt: Option<Attempt>,
    /// Candidates already retried in plaintext after a failed opportunistic handshake.
    retried_plain: Vec<SocketAddr>,
}

/// Which group a [`Task`] belongs to: a recipient domain (MX delivery) or the relay. Handed
/// out with each task and given back with its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupId(usize);

/// Work for a driver that runs several groups at once (see [`Delivery::start_next`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Task {
    /// Find this domain's route, then call [`Delivery::route_found_for`].
    Resolve(GroupId, Domain),
    /// Run this attempt, then call [`Delivery::attempt_done_for`].
    Attempt(GroupId, Attempt),
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
    /// In order of first appearance; a [`GroupId`] is an index here.
    groups: Vec<Group>,
    tls: TlsMode,
    /// Candidates for groups whose route is known up front (relay).
    known: Vec<Candidate>,
    /// The TLS policy of each (message, recipient) job whose domain has one.
    policies: HashMap<(usize, usize), DeliveryPolicy>,
    /// Messages whose content needs BINARYMIME, ascending.
    binary: Vec<usize>,
}

/// The outcome for recipients of a domain with no route: no server replied.
fn no_route_outcome(error: &RouteError) -> Outcome {
    if error.reason.is_permanent() {
        Outcome::Rejected(Failure::Unreached)
    } else {
        Outcome::Deferred(Failure::Unreached)
    }
}

/// May this recipient try the next candidate? See "Final outcomes" in the module docs.
fn retryable(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Deferred(Failure::Session(_)) => true,
        // A session-level refusal (554 greeting, 5xx EHLO): another server may serve.
        Outcome::Rejected(Failure::Session(e)) => !e.is_credentials_problem(),
        // REQUIRETLS not possible at this server (RFC 8689 §4.2.1): try the next MX host.
        Outcome::Rejected(Failure::RequireTlsUnavailable { .. }) => true,
        // 4xx to MAIL: about the server's state, not the recipient (Postfix moves on too).
        Outcome::Deferred(Failure::SenderRefused(_)) => true,
        Outcome::Deferred(Failure::Reply(reply)) => reply.code().get() == 421,
        _ => false,
    }
}

/// Is this a failure of our own credentials, the same at every server?
fn client_side(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Deferred(Failure::Session(e)) | Outcome::Rejected(Failure::Session(e)) => {
            e.is_credentials_problem()
        }
        _ => false,
    }
}

/// Did a message's content fail to go out in this outcome (the caller's content)?
fn body_failure(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Deferred(Failure::Body(_)) | Outcome::Rejected(Failure::Body(_))
    )
}

/// Did the session end because the client abandoned it (for a body it could not send)?
fn abandoned(outcome: &Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Deferred(Failure::Session(SessionError::Aborted))
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
                stage: Stage::Unresolved,
            })
            .collect();
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
        let groups = vec![Group {
            domain: None,
            jobs,
            stage: Stage::Unresolved,
        }];
        Delivery::new(messages, groups, tls, candidates)
    }

    fn new(
        recipients: Vec<Vec<Mailbox>>,
        groups: Vec<Group>,
        tls: TlsMode,
        known: Vec<Candidate>,
    ) -> Delivery {
        let done = recipients.iter().map(|r| vec![None; r.len()]).collect();
        let pending = recipients.iter().map(|r| vec![None; r.len()]).collect();
        Delivery {
            recipients,
            done,
            pending,
            groups,
            tls,
            known,
            policies: HashMap::new(),
            binary: Vec::new(),
        }
    }

    /// Message `message`'s content cannot go out as text (a NUL, a line over 998 octets)
    /// but may go as it is with `BODY=BINARYMIME` in BDAT (RFC 3030): every attempt says so
    /// ([`Attempt::binary`]), and a server that does not offer BINARYMIME and CHUNKING
    /// refuses it without seeing it ([`mxsend_core::session::Failure::BinaryUnsupported`]).
    /// Call before the first [`Delivery::poll`] or [`Delivery::start_next`].
    pub fn needs_binary(&mut self, message: usize) {
        if let Err(at) = self.binary.binary_search(&message) {
            self.binary.insert(at, message);
        }
    }

    /// Settle every recipient of `message` with `outcome` before any connection (its
    /// content cannot be sent, say): its jobs leave their groups, and a group left without
    /// jobs is finished without resolving or connecting. Call before the first
    /// [`Delivery::poll`] or [`Delivery::start_next`].
    pub fn settle_message(&mut self, message: usize, outcome: &Outcome) {
        let count = self.recipients.get(message).map_or(0, Vec::len);
        for r in 0..count {
            self.finish(
                message,
                r,
                Pending {
                    outcome: outcome.clone(),
                    candidate: None,
                    unreached: None,
                },
            );
        }
        for group in &mut self.groups {
            group.jobs.retain(|&(m, _)| m != message);
            if group.jobs.is_empty() && matches!(group.stage, Stage::Unresolved) {
                group.stage = Stage::Finished;
            }
        }
    }

    /// What to do next, for a driver that does one thing at a time: the task under way again
    /// until its result is reported, else the next one, else [`Action::Done`].
    pub fn poll(&mut self) -> Action {
        for group in &self.groups {
            match &group.stage {
                Stage::Resolving => {
                    if let Some(domain) = &group.domain {
                        return Action::Resolve(domain.clone());
                    }
                }
                Stage::Routed(Current {
                    attempt: Some(attempt),
                    ..
                }) => return Action::Attempt(attempt.clone()),
                _ => {}
            }
        }
        match self.start_next() {
            Some(Task::Resolve(_, domain)) => Action::Resolve(domain),
            Some(Task::Attempt(_, attempt)) => Action::Attempt(attempt),
            None => Action::Done,
        }
    }

    /// The next task that can start now, for a driver that runs several at once: the
    /// earliest group with nothing out gets its next attempt, or its resolution. `None` when
    /// every group either has a task out or is finished; the driver then waits for a result
    /// (or, when it has none out, the delivery is over: see [`Delivery::is_done`]).
    ///
    /// The rules are the same as for [`Delivery::poll`]: groups are independent (a domain's
    /// fallback never depends on another's), so running them concurrently changes only the
    /// order of connections, never an outcome.
    pub fn start_next(&mut self) -> Option<Task> {
        for i in 0..self.groups.len() {
            loop {
                let group = self.groups.get_mut(i)?;
                match &mut group.stage {
                    Stage::Unresolved => match &group.domain {
                        Some(domain) => {
                            let domain = domain.clone();
                            group.stage = Stage::Resolving;
                            return Some(Task::Resolve(GroupId(i), domain));
                        }
                        None => {
                            // The relay: its route is known; try again in the routed stage.
                            let candidates = self.known.clone();
                            self.route_found_for(GroupId(i), Ok(candidates));
                        }
                    },
                    Stage::Routed(current) if current.attempt.is_none() => {
                        if let Some(attempt) = self.next_attempt(i) {
                            return Some(Task::Attempt(GroupId(i), attempt));
                        }
                        break;
                    }
                    Stage::Resolving | Stage::Routed(_) | Stage::Finished => break,
                }
            }
        }
        None
    }

    /// True once every recipient has its final outcome.
    pub fn is_done(&self) -> bool {
        self.groups
            .iter()
            .all(|g| matches!(g.stage, Stage::Finished))
    }

    /// The group's next attempt, marked as under way; `None` (and the group finished) when
    /// its jobs are all settled or its candidates are used up.
    fn next_attempt(&mut self, i: usize) -> Option<Attempt> {
        let group = self.groups.get_mut(i)?;
        let Stage::Routed(current) = &mut group.stage else {
            return None;
        };
        let next = if group.jobs.is_empty() {
            None
        } else {
            current.candidates.pop_front()
        };
        let Some((candidate, tls)) = next else {
            // Settled, or out of candidates: the latest word on each job is final.
            group.stage = Stage::Finished;
            let jobs = std::mem::take(&mut group.jobs);
            for (m, r) in jobs {
                self.finish_pending(m, r);
            }
            return None;
        };
        let attempt = Attempt {
            candidate,
            tls,
            transactions: transactions(&group.jobs),
            binary: self.binary.clone(),
        };
        current.attempt = Some(attempt.clone());
        Some(attempt)
    }

    /// The route for the domain of the last [`Action::Resolve`]: its candidates in order, or
    /// why there is none. An empty list is taken as "no usable exchange".
    pub fn route_found(&mut self, route: Result<Vec<Candidate>, RouteError>) {
        let resolving = self
            .groups
            .iter()
            .position(|g| matches!(g.stage, Stage::Resolving));
        if let Some(i) = resolving {
            self.route_found_for(GroupId(i), route);
        }
    }

    /// The route for the group of a [`Task::Resolve`]; see [`Delivery::route_found`].
    pub fn route_found_for(&mut self, group: GroupId, route: Result<Vec<Candidate>, RouteError>) {
        let tls = self.tls;
        let Some(g) = self.groups.get_mut(group.0) else {
            return;
        };
        if !matches!(g.stage, Stage::Unresolved | Stage::Resolving) {
            return;
        }
        let error = match route {
            Ok(candidates) if !candidates.is_empty() => {
                g.stage = Stage::Routed(Current {
                    candidates: candidates.into_iter().map(|c| (c, tls)).collect(),
                    attempt: None,
                    retried_plain: Vec::new(),
                });
                return;
            }
            Ok(_) => RouteError {
                reason: NoRoute::NoUsableExchange,
                dns: None,
            },
            Err(error) => error,
        };
        g.stage = Stage::Finished;
        let jobs = std::mem::take(&mut g.jobs);
        self.no_route(&jobs, error);
    }

    /// [`Delivery::route_found`] with the domain's TLS policy: only the candidates the plan
    /// allows are tried, each with the TLS mode it says; none allowed defers the domain's
    /// recipients ([`Unreached::Policy`]). `None` is [`Delivery::route_found`].
    pub fn route_secured(
        &mut self,
        route: Result<Vec<Candidate>, RouteError>,
        plan: Option<SecurityPlan>,
    ) {
        let resolving = self
            .groups
            .iter()
            .position(|g| matches!(g.stage, Stage::Resolving));
        if let Some(i) = resolving {
            self.route_secured_for(GroupId(i), route, plan);
        }
    }

    /// [`Delivery::route_secured`] for the group of a [`Task::Resolve`].
    pub fn route_secured_for(
        &mut self,
        group: GroupId,
        route: Result<Vec<Candidate>, RouteError>,
        plan: Option<SecurityPlan>,
    ) {
        let Some(plan) = plan else {
            return self.route_found_for(group, route);
        };
        let tls = self.tls;
        let Some(g) = self.groups.get_mut(group.0) else {
            return;
        };
        if !matches!(g.stage, Stage::Unresolved | Stage::Resolving) {
            return;
        }
        for job in &g.jobs {
            self.policies.insert(*job, plan.policy.clone());
        }
        let candidates = match route {
            Ok(candidates) if !candidates.is_empty() => candidates,
            other => return self.route_found_for(group, other),
        };
        let allowed: VecDeque<(Candidate, TlsMode)> = candidates
            .into_iter()
            .filter_map(|c| plan.tls_for(&c.host, tls).map(|mode| (c, mode)))
            .collect();
        if !allowed.is_empty() {
            g.stage = Stage::Routed(Current {
                candidates: allowed,
                attempt: None,
                retried_plain: Vec::new(),
            });
            return;
        }
        g.stage = Stage::Finished;
        let jobs = std::mem::take(&mut g.jobs);
        for (m, r) in jobs {
            self.finish(
                m,
                r,
                Pending {
                    outcome: Outcome::Deferred(Failure::Unreached),
                    candidate: None,
                    unreached: Some(Unreached::Policy(plan.policy.clone())),
                },
            );
        }
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
        let under_way = self.groups.iter().position(|g| {
            matches!(
                g.stage,
                Stage::Routed(Current {
                    attempt: Some(_),
                    ..
                })
            )
        });
        if let Some(i) = under_way {
            self.attempt_done_for(GroupId(i), result);
        }
    }

    /// How the attempt of a [`Task::Attempt`] ended; see [`Delivery::attempt_done`].
    pub fn attempt_done_for(&mut self, group: GroupId, result: AttemptResult) {
        let Some(g) = self.groups.get_mut(group.0) else {
            return;
        };
        let Stage::Routed(current) = &mut g.stage else {
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
                let outcome = Outcome::Deferred(Failure::Unreached);
                let unreached = Unreached::Connect(Arc::new(error));
                for &(m, r) in &g.jobs {
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
                let outcome = Outcome::Deferred(Failure::Unreached);
                for &(m, r) in &g.jobs {
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
            AttemptResult::Ran(transactions) => {
                let mut body_failed = false;
                let mut left_unsent = false;
                let jobs: HashSet<(usize, usize)> = g.jobs.iter().copied().collect();
                for TransactionOutcomes {
                    message: m,
                    recipients,
                } in transactions
                {
                    for (r, outcome) in recipients {
                        if !jobs.contains(&(m, r)) {
                            continue;
                        }
                        stop |= client_side(&outcome);
                        body_failed |= body_failure(&outcome);
                        left_unsent |= abandoned(&outcome);
                        let word = Pending {
                            candidate: Some(candidate.clone()),
                            unreached: None,
                            outcome,
                        };
                        if retryable(&word.outcome) {
                            retry.push((m, r, word));
                        } else {
                            settled.push((m, r, word));
                        }
                    }
                }
                // The session closed for a message it could not send: the server is fine,
                // so the messages left unsent try the same candidate again. Each such
                // attempt settles that message for good, so this ends.
                if body_failed && left_unsent && !stop {
                    current
                        .candidates
                        .push_front((candidate.clone(), attempt.tls));
                }
                // A job the runtime did not report on (it should not happen) keeps its
                // previous word and is retried.
            }
        }
        if stop {
            current.candidates.clear();
        }
        let settled_jobs: HashSet<(usize, usize)> =
            settled.iter().map(|(m, r, _)| (*m, *r)).collect();
        g.jobs.retain(|job| !settled_jobs.contains(job));
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
        // None is unreachable in practice: a job only runs out of candidates after an attempt.
        let word = word.unwrap_or(Pending {
            outcome: Outcome::Deferred(Failure::Unreached),
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
            addr: word.candidate.as_ref().and_then(Candidate::tcp_addr),
            unreached: word.unreached,
            policy: self.policies.get(&(m, r)).cloned(),
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
        let reports: Vec<Report> = self
            .done
            .into_iter()
            .map(|reports| Report {
                recipients: reports.into_iter().flatten().collect(),
            })
            .collect();
        crate::trace::outcomes(reports.iter().flat_map(|r| &r.recipients));
        reports
    }
}

/// The jobs as transactions: per message, its recipients, in order of first appearance.
fn transactions(jobs: &[(usize, usize)]) -> Vec<(usize, Vec<usize>)> {
    let mut out: Vec<(usize, Vec<usize>)> = Vec::new();
    // Each message's place in `out`: a send_all of thousands of messages is one attempt.
    let mut place: HashMap<usize, usize> = HashMap::new();
    for &(m, r) in jobs {
        match place.get(&m).and_then(|&i| out.get_mut(i)) {
            Some((_, rcpts)) => rcpts.push(r),
            None => {
                place.insert(m, out.len());
                out.push((m, vec![r]));
            }
        }
    }
    for (_, rcpts) in &mut out {
        rcpts.sort_unstable();
    }
    out
}

#[cfg(test)]
mod tests;
