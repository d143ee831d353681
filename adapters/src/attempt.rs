//! Everything about running a delivery that is not the loop moving bytes, shared by the
//! blocking adapter and the async driver.
//!
//! - before any connection: checking the messages ([`validate`]), the relay's addresses
//!   ([`relay_route`], [`relay_candidates`]), an MX domain's candidates
//!   ([`mx_candidates`]), the resolver ([`resolver`]);
//! - per connection: the transcript events of connecting and TLS ([`Tap`]), the session with
//!   the attempt's transactions queued ([`SessionRun`]), and what the pump does next
//!   ([`SessionRun::next`]), with what it read, wrote or failed to do fed back through
//!   [`SessionRun::received`], [`SessionRun::wrote`], [`SessionRun::body_read`];
//! - the clock ([`Clock`]).
//!
//! A runtime's pump then only moves bytes and time: it writes [`Next::Transmit`], reads on
//! [`Next::Receive`], reads the body on [`Next::Body`], performs the TLS handshake on
//! [`Next::StartTls`], and bounds each step by [`SessionRun::deadline`].

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::PoisonError;
use std::time::{Duration, Instant as StdInstant};

use mxsend_core::address::Domain;
use mxsend_core::command::BodyType;
use mxsend_core::session::{Envelope, Event, Session, SessionConfig, TransactionId, UsageError};
use mxsend_core::time::Instant;

use crate::config::{MxDelivery, Relay, Settings, TransactionEnd, TransactionHook, TranscriptHook};
use crate::delivery::{
    candidates, route_without_candidates, Attempt, AttemptResult, Candidate, Delivery,
    TransactionOutcomes,
};
use crate::dns::{Resolver, Route, RouteError};
use crate::error::{Error, HostLookupError};
use crate::tls::{to_ascii_host, TlsError, TlsMode};
use crate::transcript::{Transcript, TranscriptEvent, Wiretap};

/// How much of a message is read and handed to the session at a time. With the session's
/// [`mxsend_core::session::BODY_WATERMARK`] of the same size, at most about two chunks are in
/// memory per connection, whatever the message size.
pub(crate) const BODY_CHUNK: usize = 64 * 1024;

/// How long the QUIT after a failed session, and the TLS close_notify, may take to write:
/// they are a courtesy.
pub(crate) const QUIT_COURTESY: Duration = Duration::from_secs(1);

/// The caller's monotonic clock for the core: microseconds since the delivery started.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    origin: StdInstant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: StdInstant::now(),
        }
    }

    pub fn now(&self) -> Instant {
        let micros = u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(micros)
    }

    /// `instant` on the std clock, for a timer.
    pub fn std_instant(&self, instant: Instant) -> StdInstant {
        self.origin + Duration::from_micros(instant.as_micros())
    }
}

// ---------------------------------------------------------------------------------------------
// Before any connection

/// Check every message, and the credentials, before any connection: what the session would
/// refuse is the caller's mistake, reported as [`Error::InvalidMessage`] or
/// [`Error::Credentials`], never as a recipient's outcome or a server's fault.
pub(crate) fn validate<'a>(
    envelopes: impl IntoIterator<Item = &'a Envelope>,
    settings: &Settings,
) -> Result<(), Error> {
    if let Some(credentials) = &settings.credentials {
        credentials.check().map_err(Error::Credentials)?;
    }
    let chunking = settings.chunking;
    let Ok(name) = Domain::parse("validation.invalid") else {
        return Ok(());
    };
    let mut config = SessionConfig::new(name);
    config.chunking = chunking;
    config.window = settings.window;
    let mut session = Session::new(config, Instant::ZERO);
    for (m, envelope) in envelopes.into_iter().enumerate() {
        session
            .send_mail(envelope.clone(), Instant::ZERO)
            .map_err(|error| Error::InvalidMessage { message: m, error })?;
    }
    Ok(())
}

/// Where the relay is: a literal address, or a name for the system resolver.
pub(crate) enum RelayRoute {
    /// The relay host is an address literal.
    Known(Vec<Candidate>),
    /// Look this name (A-labels) up with the system resolver (getaddrinfo: it knows
    /// /etc/hosts, as a relay name like `localhost` or `mail` often needs), then call
    /// [`relay_candidates`].
    Lookup(String),
}

/// The relay's route: see [`RelayRoute`].
pub(crate) fn relay_route(relay: &Relay) -> Result<RelayRoute, Error> {
    if let Some(path) = relay.unix_socket() {
        let candidate = Candidate::unix(relay.host.clone(), path.to_path_buf());
        return Ok(RelayRoute::Known(vec![candidate]));
    }
    if let Some(ip) = relay.literal() {
        return Ok(RelayRoute::Known(vec![Candidate {
            host: relay.host.clone(),
            addr: SocketAddr::new(ip, relay.port),
            unix: None,
        }]));
    }
    let ascii = to_ascii_host(&relay.host).map_err(|why| Error::RelayHost {
        host: relay.host.clone(),
        error: HostLookupError::InvalidName(why.to_string()),
    })?;
    Ok(RelayRoute::Lookup(ascii))
}

/// The system resolver's answer for `name`, blocking (the async driver runs it on the
/// blocking thread pool): getaddrinfo, so /etc/hosts counts, with its error kind kept.
pub(crate) fn lookup_host(name: &str, port: u16) -> Result<Vec<SocketAddr>, HostLookupError> {
    match dns_lookup::lookup_host(name) {
        Ok(ips) => Ok(ips.map(|ip| SocketAddr::new(ip, port)).collect()),
        Err(error) => Err(host_lookup_error(error)),
    }
}

/// getaddrinfo's error by its kind (EAI_AGAIN is temporary; EAI_NONAME, EAI_NODATA: no such
/// host), never by its English message.
fn host_lookup_error(error: dns_lookup::LookupError) -> HostLookupError {
    use dns_lookup::LookupErrorKind;
    let kind = error.kind();
    let error = io::Error::from(error);
    match kind {
        LookupErrorKind::Again => HostLookupError::Temporary(error),
        LookupErrorKind::NoName | LookupErrorKind::NoData => HostLookupError::NotFound(error),
        _ => HostLookupError::Other(error),
    }
}

/// The relay's candidates from the system resolver's answer.
pub(crate) fn relay_candidates(
    relay: &Relay,
    answer: Result<Vec<SocketAddr>, HostLookupError>,
) -> Result<Vec<Candidate>, Error> {
    let error = |error: HostLookupError| Error::RelayHost {
        host: relay.host.clone(),
        error,
    };
    let addrs = answer.map_err(error)?;
    if addrs.is_empty() {
        return Err(error(HostLookupError::NotFound(io::Error::new(
            io::ErrorKind::NotFound,
            "no address",
        ))));
    }
    Ok(addrs
        .into_iter()
        .map(|addr| Candidate {
            host: relay.host.clone(),
            addr,
            unix: None,
        })
        .collect())
}

/// The delivery machine for a relay and these messages' envelopes, once the relay's
/// candidates are known.
pub(crate) fn relay_delivery<'a>(
    relay: &Relay,
    candidates: Vec<Candidate>,
    envelopes: impl IntoIterator<Item = &'a Envelope>,
) -> Delivery {
    let recipients = envelopes
        .into_iter()
        .map(|e| e.recipients.clone())
        .collect();
    Delivery::relay(candidates, recipients, relay.tls)
}

/// The resolver MX delivery asks: the configured one, or the system's.
pub(crate) fn resolver(mx: &MxDelivery) -> Result<Resolver, Error> {
    match &mx.resolver {
        Some(resolver) => Ok(resolver.clone()),
        None => Resolver::from_system().map_err(Error::Resolver),
    }
}

/// A domain's candidates from its route, as [`Delivery::route_found`] wants them.
pub(crate) fn mx_candidates(
    mx: &MxDelivery,
    route: Result<Route, RouteError>,
) -> Result<Vec<Candidate>, RouteError> {
    let route = route?;
    let list = candidates(&route, mx.port, mx.family_order, mx.address_limit);
    if list.is_empty() {
        return Err(route_without_candidates(&route));
    }
    Ok(list)
}

/// The random numbers that shuffle MX records of equal preference (RFC 5321 §5.1).
pub(crate) fn mx_shuffle() -> u64 {
    fastrand::u64(..)
}

// ---------------------------------------------------------------------------------------------
// Per connection: the transcript

/// A transcript hook as a wiretap's sink. Each event takes the hook's lock on its own, so a
/// connection never holds it while waiting for the network: connections running at the same
/// time (MX delivery to several domains) interleave their lines, each line whole.
pub(crate) struct HookSink<'a>(pub Option<&'a TranscriptHook>);

impl Transcript for HookSink<'_> {
    fn event(&mut self, event: TranscriptEvent<'_>) {
        crate::trace::event(&event);
        if let Some(hook) = self.0 {
            hook.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .event(event);
        }
    }
}

/// What a finished handshake negotiated, for the transcript.
pub(crate) struct Negotiated {
    protocol: String,
    cipher: String,
}

impl Negotiated {
    pub fn of(connection: &rustls::CommonState) -> Negotiated {
        Negotiated {
            protocol: connection
                .protocol_version()
                .map(|v| format!("{v:?}"))
                .unwrap_or_default(),
            cipher: connection
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
        }
    }
}

/// One connection's wiretap, with the events every runtime reports the same way.
pub(crate) struct Tap<'t> {
    pub wire: Wiretap<'t>,
}

impl<'t> Tap<'t> {
    pub fn new(sink: &'t mut HookSink<'_>) -> Tap<'t> {
        let wire = if sink.0.is_some() || crate::trace::wanted() {
            Wiretap::new(sink)
        } else {
            Wiretap::disabled(sink)
        };
        Tap { wire }
    }

    pub fn connecting(&mut self, candidate: &Candidate) {
        match &candidate.unix {
            Some(path) => self.wire.event(TranscriptEvent::ConnectingUnix { path }),
            None => self.wire.event(TranscriptEvent::Connecting {
                host: &candidate.host,
                addr: candidate.addr,
            }),
        }
    }

    /// The connection failed: the attempt's result.
    pub fn connect_failed(&mut self, candidate: &Candidate, error: io::Error) -> AttemptResult {
        match &candidate.unix {
            Some(path) => self.wire.event(TranscriptEvent::ConnectUnixFailed {
                path,
                error: &error,
            }),
            None => self.wire.event(TranscriptEvent::ConnectFailed {
                addr: candidate.addr,
                error: &error,
            }),
        }
        AttemptResult::ConnectFailed(error)
    }

    pub fn connected(&mut self, local: SocketAddr, peer: SocketAddr) {
        self.wire.event(TranscriptEvent::Connected { local, peer });
    }

    pub fn tls_started(&mut self, negotiated: &Negotiated, mode: TlsMode) {
        self.wire.event(TranscriptEvent::TlsStarted {
            protocol: &negotiated.protocol,
            cipher: &negotiated.cipher,
            verified: mode.verifies(),
        });
    }

    pub fn tls_failed(&mut self, error: &TlsError) {
        self.wire.event(TranscriptEvent::TlsFailed {
            error: &error.to_string(),
        });
    }

    pub fn closed(&mut self) {
        self.wire.event(TranscriptEvent::Closed);
    }

    /// The connection is up: our address as the session names it, `local` being the
    /// socket's (`None` for a Unix domain socket, which has none and tells no event).
    pub fn connected_from(
        &mut self,
        candidate: &Candidate,
        local: Option<io::Result<SocketAddr>>,
    ) -> SocketAddr {
        match local {
            Some(local) => {
                let local = local_or_unspecified(local);
                self.connected(local, candidate.addr);
                local
            }
            None => local_or_unspecified(Err(io::ErrorKind::Unsupported.into())),
        }
    }

    /// The implicit TLS handshake's outcome: the secured stream, or the attempt's result
    /// (the connection is then closed).
    pub fn implicit_tls<S>(
        &mut self,
        handshake: Result<(S, Negotiated), TlsError>,
        mode: TlsMode,
    ) -> Result<S, AttemptResult> {
        match handshake {
            Ok((stream, negotiated)) => {
                self.tls_started(&negotiated, mode);
                Ok(stream)
            }
            Err(error) => {
                self.tls_failed(&error);
                self.closed();
                Err(AttemptResult::TlsFailed(error))
            }
        }
    }
}

/// When the attempt's TLS handshake must be done if it comes before the greeting (implicit
/// TLS); `None` when the session starts in plaintext.
pub(crate) fn implicit_tls_deadline(attempt: &Attempt, settings: &Settings) -> Option<StdInstant> {
    (attempt.tls == TlsMode::Implicit)
        .then(|| settings.bound(StdInstant::now() + settings.timeouts.greeting))
}

/// The local address when the socket cannot tell (it always can once connected): only the
/// automatic EHLO name uses it.
pub(crate) fn local_or_unspecified(local: io::Result<SocketAddr>) -> SocketAddr {
    local.unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
}

// ---------------------------------------------------------------------------------------------
// Per connection: the session

/// What the pump does next; see [`SessionRun::next`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Start TLS on the connection now, then call [`SessionRun::tls_done`]. The deadline is
    /// [`SessionRun::deadline`].
    StartTls,
    /// The session is over: write [`Session::pending_transmit`] (a QUIT) as a courtesy within
    /// [`QUIT_COURTESY`], errors ignored, then close.
    Closed,
    /// Read the next chunk of message `message`'s content (from a reader opened anew when
    /// `open`, dropping any other), within [`SessionRun::deadline`], and give it (or the
    /// error, a timeout included) to [`SessionRun::body_read`].
    Body {
        /// The message's index in the caller's list.
        message: usize,
        /// Open its content from the start.
        open: bool,
    },
    /// Write [`Session::pending_transmit`] in one call, then [`SessionRun::wrote`].
    Transmit,
    /// Read from the server, then [`SessionRun::received`].
    Receive,
    /// The session is established and has nothing to do (a long-lived connection between
    /// batches, never a run that asked for QUIT): stop pumping and keep the connection.
    Idle,
}

/// One session carrying an attempt's transactions.
#[derive(Debug)]
pub(crate) struct SessionRun {
    pub session: Session,
    /// Each session transaction's message index and the recipients it carries (indices into
    /// that message's envelope), so an outcome is attributed by its transaction's id, never
    /// by position.
    transactions: HashMap<TransactionId, (usize, Vec<usize>)>,
    /// What the session reported, as it reported it.
    outcomes: Vec<TransactionOutcomes>,
    /// Told as each transaction ends.
    hook: Option<TransactionHook>,
    /// The transaction whose body the pump holds open.
    body_open: Option<TransactionId>,
    closed: bool,
    /// The fallback deadline for steps the session set none for.
    command_timeout: Duration,
    /// The call's overall deadline ([`crate::Relay::deadline`]), if any: every wait ends by
    /// then, and the session is abandoned when it passes.
    overall: Option<StdInstant>,
}

impl SessionRun {
    /// A session with the attempt's transactions queued, then QUIT. `envelope(m, rcpts)` is
    /// message `m`'s envelope for those recipients (exactly those, in that order).
    pub fn start(
        config: SessionConfig,
        clock: &Clock,
        attempt: &Attempt,
        envelope: impl Fn(usize, &[usize]) -> Option<Envelope>,
    ) -> Result<SessionRun, Error> {
        let mut run = SessionRun::open(config, clock);
        run.add(clock, attempt, None, envelope)?;
        run.session.quit(clock.now());
        Ok(run)
    }

    /// A session with no transaction and no QUIT: a long-lived connection, established
    /// once the pump reaches [`Next::Idle`].
    pub fn open(config: SessionConfig, clock: &Clock) -> SessionRun {
        let command_timeout = config.timeouts.command;
        SessionRun {
            session: Session::new(config, clock.now()),
            transactions: HashMap::new(),
            outcomes: Vec::new(),
            hook: None,
            body_open: None,
            closed: false,
            command_timeout,
            overall: None,
        }
    }

    /// Bound every wait by the call's overall deadline (`None`: no bound).
    pub fn with_deadline(mut self, overall: Option<StdInstant>) -> SessionRun {
        self.overall = overall;
        self
    }

    /// As [`SessionRun::with_deadline`], for a long-lived session's next batch.
    pub fn set_deadline(&mut self, overall: Option<StdInstant>) {
        self.overall = overall;
    }

    /// When the overall deadline has passed: abandon the session (each open transaction
    /// deferred, or ambiguous past its end of data) and say so.
    fn overall_passed(&mut self, clock: &Clock) -> bool {
        match self.overall {
            Some(deadline) if StdInstant::now() >= deadline => {
                self.session.abort(clock.now());
                true
            }
            _ => false,
        }
    }

    /// Queue an attempt's transactions on an idle session (see [`SessionRun::start`] for
    /// `envelope`), told to `hook` as each ends; the outcomes of earlier ones are dropped.
    pub fn add(
        &mut self,
        clock: &Clock,
        attempt: &Attempt,
        hook: Option<TransactionHook>,
        envelope: impl Fn(usize, &[usize]) -> Option<Envelope>,
    ) -> Result<(), Error> {
        let now = clock.now();
        self.outcomes.clear();
        self.hook = hook;
        for (m, rcpts) in &attempt.transactions {
            let Some(mut envelope) = envelope(*m, rcpts) else {
                continue;
            };
            if attempt.binary.binary_search(m).is_ok() {
                envelope.body = BodyType::BinaryMime;
            }
            let id = self
                .session
                .send_mail(envelope, now)
                .map_err(|error| Error::InvalidMessage { message: *m, error })?;
            self.transactions.insert(id, (*m, rcpts.clone()));
        }
        Ok(())
    }

    /// True once the session has closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// The outcomes reported since the last [`SessionRun::add`], as an attempt's result.
    pub fn take_result(&mut self) -> AttemptResult {
        AttemptResult::Ran(std::mem::take(&mut self.outcomes))
    }

    /// Tell `hook` as each transaction ends.
    pub fn with_hook(mut self, hook: Option<TransactionHook>) -> SessionRun {
        self.hook = hook;
        self
    }

    /// Handle the session's events and say what the pump does next.
    ///
    /// The body comes before writing: the transmit buffer is filled up to the session's
    /// watermark first, so that the end of a body, the final dot and what follows leave in
    /// one write.
    pub fn next(&mut self) -> Next {
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::StartTls => return Next::StartTls,
                Event::TransactionDone(id) => {
                    if let Some((message, rcpts)) = self.transactions.remove(&id) {
                        // Lent by the session until the next poll_event: the report keeps
                        // owned outcomes (those delivered share one reply text).
                        let outcomes = self
                            .session
                            .outcomes(id)
                            .map(|o| o.to_vec())
                            .unwrap_or_default();
                        if let Some(hook) = &self.hook {
                            if let Ok(mut f) = hook.0.lock() {
                                f(TransactionEnd {
                                    message,
                                    recipients: &rcpts,
                                    outcomes: &outcomes,
                                });
                            }
                        }
                        // Outcome i is the envelope's recipient i (`RecipientOutcome::index`),
                        // and the envelope was built from exactly `rcpts`, in its order.
                        let recipients = rcpts.into_iter().zip(outcomes).collect();
                        self.outcomes.push(TransactionOutcomes {
                            message,
                            recipients,
                        });
                    }
                }
                Event::Closed(_) => self.closed = true,
                _ => {}
            }
        }
        if self.closed {
            return Next::Closed;
        }
        if self.session.wants_body() {
            let id = self.session.body_transaction();
            if let Some(message) = id.and_then(|id| self.transactions.get(&id)).map(|t| t.0) {
                let open = self.body_open != id;
                self.body_open = id;
                return Next::Body { message, open };
            }
        }
        if self.transactions.is_empty() && self.session.is_idle() {
            Next::Idle
        } else if self.session.pending_transmit().is_empty() {
            Next::Receive
        } else {
            Next::Transmit
        }
    }

    /// When the current step must be over: the session's deadline, or the command timeout
    /// from now when it has none.
    pub fn deadline(&self, clock: &Clock) -> StdInstant {
        let step = match self.session.poll_timeout() {
            Some(deadline) => clock.std_instant(deadline),
            None => StdInstant::now() + self.command_timeout,
        };
        match self.overall {
            Some(overall) => step.min(overall),
            None => step,
        }
    }

    /// The outcome of reading the current message's content: a chunk, its end (empty), or
    /// an error (a timeout included). An error, or content that cannot go out as text (a
    /// NUL, a line over 998 octets), settles that message's recipients and the session
    /// recovers ([`Session::body_failed`]); the delivery goes on.
    pub fn body_read(&mut self, read: io::Result<&[u8]>, clock: &Clock) {
        let now = clock.now();
        // `next` said a body is wanted, so neither `finish_body` nor `send_body` refuses
        // for want of one.
        match read {
            Ok([]) => {
                let _ = self.session.finish_body(now);
                self.body_open = None;
            }
            Ok(chunk) => {
                if let Err(UsageError::Content(_)) = self.session.send_body(chunk, now) {
                    self.body_open = None;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if self.overall_passed(clock) => self.body_open = None,
            Err(error) => {
                let why = match error.kind() {
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                        "reading it took longer than the session's deadline".to_string()
                    }
                    _ => error.to_string(),
                };
                self.session.body_failed(why, now);
                self.body_open = None;
            }
        }
    }

    /// The outcome of opening message content on [`Next::Body`] with `open`: the reader, or
    /// (the message being gone, or its content unreadable) the message settled as
    /// [`SessionRun::body_read`] settles a failed read.
    pub fn body_opened<T>(&mut self, opened: Option<io::Result<T>>, clock: &Clock) -> Option<T> {
        match opened {
            Some(Ok(reader)) => Some(reader),
            Some(Err(error)) => {
                self.body_read(Err(error), clock);
                None
            }
            None => {
                self.body_read(Err(io::ErrorKind::NotFound.into()), clock);
                None
            }
        }
    }

    /// What to write as a courtesy once the session is over ([`Next::Closed`], or a
    /// long-lived client closing): the QUIT it queued, if any, within [`QUIT_COURTESY`].
    pub fn courtesy(&self) -> Option<&[u8]> {
        Some(self.session.pending_transmit()).filter(|pending| !pending.is_empty())
    }

    /// `n` octets of [`SessionRun::courtesy`] went out (errors are ignored).
    pub fn courtesy_written(&self, n: usize, tap: &mut Tap<'_>) {
        let pending = self.session.pending_transmit();
        let spans = self.session.pending_transmit_spans();
        tap.wire.sent(pending.get(..n).unwrap_or(pending), spans);
    }

    /// A long-lived session idle since its last batch is about to carry the next one,
    /// bounded by `overall`: true when it may (it queued the RSET that checks the
    /// connection; the pump then runs until [`SessionRun::still_idle`] says).
    pub fn resume(&mut self, overall: Option<StdInstant>, clock: &Clock) -> bool {
        self.set_deadline(overall);
        self.session.check_idle(clock.now()).is_ok()
    }

    /// After the pump stopped (`tls_error` what it returned): true when the session is
    /// established and idle, so the connection can carry more.
    pub fn still_idle(&mut self, tls_error: &Option<TlsError>) -> bool {
        tls_error.is_none() && self.next() == Next::Idle
    }

    /// A long-lived session's batch is over (`tls_error` what the pump returned): its
    /// result, and whether the connection is kept (idle again) or closed.
    pub fn batch_done(&mut self, tls_error: Option<TlsError>) -> (AttemptResult, bool) {
        let result = match tls_error {
            Some(error) => AttemptResult::TlsFailed(error),
            None => self.take_result(),
        };
        let keep = !self.is_closed() && self.next() == Next::Idle;
        (result, keep)
    }

    /// The outcome of writing [`Session::pending_transmit`].
    pub fn wrote(&mut self, written: io::Result<usize>, tap: &mut Tap<'_>, clock: &Clock) {
        match written {
            Ok(0) => self.session.handle_eof(clock.now()),
            Ok(n) => {
                let pending = self.session.pending_transmit();
                let spans = self.session.pending_transmit_spans();
                tap.wire.sent(pending.get(..n).unwrap_or(pending), spans);
                self.session.advance_transmit(n);
            }
            Err(error) => self.io_failed(&error, clock),
        }
    }

    /// The outcome of reading from the server: bytes, or the end of the stream (empty).
    pub fn received(&mut self, read: io::Result<&[u8]>, tap: &mut Tap<'_>, clock: &Clock) {
        match read {
            Ok([]) => self.session.handle_eof(clock.now()),
            Ok(bytes) => {
                tap.wire.received(bytes);
                self.session.handle_input(bytes, clock.now());
            }
            Err(error) => self.io_failed(&error, clock),
        }
    }

    /// A read, write or flush failed: a timeout is the session's deadline (it decides whether
    /// it has passed), anything else ends the connection.
    pub fn io_failed(&mut self, error: &io::Error, clock: &Clock) {
        match error.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                if !self.overall_passed(clock) {
                    self.session.handle_timeout(clock.now())
                }
            }
            _ => self.session.handle_eof(clock.now()),
        }
    }

    /// The STARTTLS handshake's outcome. `Some(error)` ends the attempt as
    /// [`AttemptResult::TlsFailed`] (under `opportunistic` the delivery then retries the
    /// address in plaintext).
    pub fn tls_done(
        &mut self,
        handshake: Result<Negotiated, TlsError>,
        mode: TlsMode,
        tap: &mut Tap<'_>,
        clock: &Clock,
    ) -> Option<TlsError> {
        match handshake {
            Ok(negotiated) => {
                tap.tls_started(&negotiated, mode);
                self.session.tls_established(clock.now());
                None
            }
            Err(error) => {
                tap.tls_failed(&error);
                self.session.tls_failed(error.to_string(), clock.now());
                Some(error)
            }
        }
    }

    /// The attempt's result once the pump is over: `Some(error)` when a handshake failed.
    pub fn finish(self, tls_error: Option<TlsError>) -> AttemptResult {
        match tls_error {
            Some(error) => AttemptResult::TlsFailed(error),
            None => AttemptResult::Ran(self.outcomes),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn getaddrinfo_errors_are_classified_by_kind_not_text() {
        // glibc's EAI_AGAIN and EAI_NONAME.
        assert!(host_lookup_error(dns_lookup::LookupError::new(-3)).is_temporary());
        assert!(matches!(
            host_lookup_error(dns_lookup::LookupError::new(-2)),
            HostLookupError::NotFound(_)
        ));
    }
}
