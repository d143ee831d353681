//! What a delivery needs to know: [`Relay`] (submission to one server) and [`MxDelivery`]
//! (direct delivery to each recipient domain's mail exchangers), and the settings they share.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxsend_core::address::{AddressLiteral, Domain};
use mxsend_core::mx::{FamilyOrder, MAX_ADDRESSES};
use mxsend_core::sasl::{Credentials, Secret};
use mxsend_core::session::{Protocol, SessionConfig, Timeouts, TransactionWindow};

use crate::dkim::DkimSigner;
use crate::dns::Resolver;
use crate::mta_sts::MtaSts;
use crate::tls::{
    ClientCertificate, Fingerprint, Roots, TlsConfigError, TlsConnector, TlsMode, TlsOptions,
};
use crate::transcript::{Transcript, TranscriptEvent};

/// The SMTP port (RFC 5321 §4.5.4.1 via IANA): MX delivery.
pub const SMTP_PORT: u16 = 25;

/// The submission port (RFC 6409 §3.1).
pub const SUBMISSION_PORT: u16 = 587;

/// How long to wait for a TCP connection: 30 s, Postfix's `smtp_connect_timeout`. RFC 5321
/// sets no connect timeout; the greeting's 5 minutes start once connected.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How many recipient domains an async MX delivery works on at once (resolving or
/// connecting), by default: enough that one slow domain does not hold up the others, few
/// enough that one message's fan-out stays modest.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The name the client gives in EHLO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EhloName {
    /// The machine's host name when it is a fully qualified domain name (it has a dot and is
    /// a valid ASCII domain), else the address literal of the connection's local address
    /// (`[192.0.2.1]`), as RFC 5321 §4.1.4 asks of a client without a meaningful name.
    #[default]
    Auto,
    /// This name or literal.
    Name(Domain),
}

impl EhloName {
    /// The identity for a connection from `local`.
    pub fn resolve(&self, local: SocketAddr) -> Domain {
        match self {
            EhloName::Name(name) => name.clone(),
            EhloName::Auto => host_name().unwrap_or_else(|| address_literal(local.ip())),
        }
    }
}

/// The machine's host name, if it is usable as an EHLO name. Read from the kernel (Linux) or
/// /etc/hostname: std has no portable call for it and this saves a dependency.
fn host_name() -> Option<Domain> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| text.trim().to_string())
        .find(|name| !name.is_empty())
        .filter(|name| name.contains('.') && name.is_ascii())
        .and_then(|name| Domain::parse(&name).ok())
        .filter(|domain| matches!(domain, Domain::Name(_)))
}

fn address_literal(ip: IpAddr) -> Domain {
    match ip {
        IpAddr::V4(v4) => Domain::Literal(AddressLiteral::V4(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Domain::Literal(AddressLiteral::V4(v4)),
            None => Domain::Literal(AddressLiteral::V6(v6)),
        },
    }
}

/// A transcript hook shared by the connections of a delivery (see [`crate::transcript`]).
#[derive(Clone)]
pub struct TranscriptHook(pub Arc<Mutex<dyn Transcript + Send>>);

impl TranscriptHook {
    /// A hook around `transcript`.
    pub fn new(transcript: impl Transcript + Send + 'static) -> TranscriptHook {
        TranscriptHook(Arc::new(Mutex::new(transcript)))
    }
}

impl fmt::Debug for TranscriptHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TranscriptHook")
    }
}

/// One transaction's end, as [`TransactionHook`] is told it.
#[derive(Debug)]
pub struct TransactionEnd<'a> {
    /// The message's index in the caller's list (0 for a single message).
    pub message: usize,
    /// The indices, in the message's envelope, of the recipients this transaction carried.
    pub recipients: &'a [usize],
    /// Their outcomes in this transaction, in the same order. A delivered one is final; the
    /// others may still change (another exchange or address may be tried).
    pub outcomes: &'a [mxsend_core::session::Outcome],
}

/// Told the moment each transaction ends, before the connection does and before the call
/// returns its reports: a queue records delivered recipients here, so that a crash later in
/// a batch does not send them again.
#[derive(Clone)]
pub struct TransactionHook(pub Arc<Mutex<TransactionFn>>);

/// What a [`TransactionHook`] calls.
pub type TransactionFn = dyn FnMut(TransactionEnd<'_>) + Send;

impl TransactionHook {
    /// A hook around `f`.
    pub fn new(f: impl FnMut(TransactionEnd<'_>) + Send + 'static) -> TransactionHook {
        TransactionHook(Arc::new(Mutex::new(f)))
    }
}

impl fmt::Debug for TransactionHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransactionHook")
    }
}

/// Settings every connection of a delivery shares; what the runtimes' pumps read.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub ehlo: EhloName,
    pub credentials: Option<Credentials>,
    pub allow_plaintext_auth: bool,
    pub pipelining: bool,
    pub chunking: bool,
    pub window: TransactionWindow,
    pub timeouts: Timeouts,
    pub connect_timeout: Duration,
    pub transcript: Option<TranscriptHook>,
    pub protocol: Protocol,
    pub on_transaction: Option<TransactionHook>,
    /// REQUIRETLS on every transaction (RFC 8689).
    pub require_tls: bool,
    /// When the whole call must be over (see [`Relay::deadline`]), fixed when the call starts.
    pub deadline: Option<std::time::Instant>,
}

impl Settings {
    /// The overall deadline, counted from now (a new call, or a client's new batch).
    pub fn restart_deadline(&mut self, overall: Option<Duration>) {
        self.deadline = overall.map(|d| std::time::Instant::now() + d);
    }

    /// How long a connection attempt may take now: the connect timeout, cut short by the
    /// overall deadline.
    pub fn connect_limit(&self) -> Duration {
        match self.deadline {
            Some(deadline) => self
                .connect_timeout
                .min(deadline.saturating_duration_since(std::time::Instant::now())),
            None => self.connect_timeout,
        }
    }

    /// `at`, or the overall deadline when that comes first.
    pub fn bound(&self, at: std::time::Instant) -> std::time::Instant {
        match self.deadline {
            Some(deadline) => at.min(deadline),
            None => at,
        }
    }

    /// The core session's configuration for a connection from `local` in `tls` mode.
    pub fn session_config(&self, local: SocketAddr, tls: TlsMode) -> SessionConfig {
        let mut config = SessionConfig::new(self.ehlo.resolve(local));
        config.tls = tls.policy();
        config.credentials = self.credentials.clone();
        config.allow_plaintext_auth = self.allow_plaintext_auth;
        config.pipelining = self.pipelining;
        config.chunking = self.chunking;
        config.window = self.window;
        config.timeouts = self.timeouts;
        config.protocol = self.protocol;
        config.require_tls = self.require_tls;
        // A fresh nonce for each connection's SCRAM exchange (preferred over PLAIN).
        if self.credentials.is_some() {
            config.scram = crate::scram::setup();
        }
        config
    }
}

/// Submission to one server (a relay, smarthost or submission service): all recipients go
/// there, whatever their domain. Configured with builder methods only.
///
/// Safe defaults:
/// - **TLS**: implicit TLS on port 465; on every other port STARTTLS is *required*
///   ([`TlsMode::for_relay_port`]): a server that does not offer it (or refuses it) gets
///   nothing but QUIT, and each recipient is deferred with the reason ("TLS is required but
///   the server does not offer STARTTLS"; the report adds that this is the relay default
///   and how to change it). A local test server without TLS needs
///   `.tls(TlsMode::None)`; a `unix:/path` socket has no TLS by default.
/// - **AUTH** only over TLS ([`Relay::allow_plaintext_auth`] to override), SCRAM-SHA-256
///   preferred; [`Relay::credentials`] (password) or [`Relay::oauth_token`] (XOAUTH2).
/// - **Timeouts**: RFC 5321's per-phase minimums ([`Timeouts::default`]) and a 30 s
///   connect timeout; [`Relay::timeout`] bounds every step by one figure, and
///   [`Relay::deadline`] the whole call.
/// - PIPELINING when offered, no CHUNKING, EHLO with the machine's name
///   ([`EhloName::Auto`]).
///
/// ```
/// use std::time::Duration;
/// use mxsend::{Relay, TlsMode, Timeouts};
///
/// let relay = Relay::new("smtp.example.com", 587).credentials("alice", "secret");
/// assert_eq!(relay.tls_mode(), TlsMode::Required); // the default on 587
/// let gmail = Relay::new("smtp.gmail.com", 465).oauth_token("alice@gmail.com", "ya29.token");
/// assert_eq!(gmail.tls_mode(), TlsMode::Implicit);
/// let local = Relay::new("127.0.0.1", 2525)
///     .tls(TlsMode::None)
///     .timeouts(Timeouts::uniform(Duration::from_secs(10)))
///     .connect_timeout(Duration::from_secs(2))
///     .deadline(Duration::from_secs(30));
/// assert_eq!(local.phase_timeouts().rcpt, Duration::from_secs(10));
/// // LMTP to a delivery agent on a Unix domain socket (no TLS by default there).
/// let lmtp = Relay::new("unix:/run/dovecot/lmtp", 0).lmtp(true);
/// assert_eq!(lmtp.tls_mode(), TlsMode::None);
/// ```
#[derive(Clone, Debug)]
pub struct Relay {
    /// Host name or IP address (an IPv6 address may be given in brackets), or
    /// `unix:/path` for a Unix domain socket (the port is then unused).
    pub(crate) host: String,
    /// Port.
    pub(crate) port: u16,
    /// TLS mode; by default [`TlsMode::for_relay_port`] (implicit on 465, required elsewhere).
    pub(crate) tls: TlsMode,
    /// Trust anchors for verifying the relay's certificate, pins, the client certificate.
    pub(crate) tls_options: TlsOptions,
    /// The name to verify the relay's certificate against and send as SNI, instead of
    /// [`Relay::host`] (a relay reached by address).
    pub(crate) tls_name: Option<String>,
    /// Credentials for AUTH.
    pub(crate) credentials: Option<Credentials>,
    /// Send credentials over a connection without TLS (off by default, and only for tests
    /// and trusted local networks).
    pub(crate) allow_plaintext_auth: bool,
    /// The EHLO name.
    pub(crate) ehlo: EhloName,
    /// Use PIPELINING when offered (on by default).
    pub(crate) pipelining: bool,
    /// Use BDAT for every message when CHUNKING is offered (off by default; streamed
    /// transactions use it anyway).
    pub(crate) chunking: bool,
    /// How many transactions [`crate::blocking::send_all`] (and the async runtimes') keep
    /// in flight when the server offers CHUNKING and PIPELINING ([`Relay::window`]).
    pub(crate) window: TransactionWindow,
    /// Per-phase deadlines (RFC 5321 §4.5.3.2).
    pub(crate) timeouts: Timeouts,
    /// How long to wait for each TCP connection.
    pub(crate) connect_timeout: Duration,
    /// Where the transcript goes, if anywhere.
    pub(crate) transcript: Option<TranscriptHook>,
    /// SMTP, or LMTP (RFC 2033) to a delivery agent such as Dovecot's or Cyrus'.
    pub(crate) protocol: Protocol,
    /// Told as each transaction ends (see [`TransactionHook`]).
    pub(crate) on_transaction: Option<TransactionHook>,
    /// DKIM signatures added to every message, in this order ([`crate::dkim`]).
    pub(crate) dkim: Vec<DkimSigner>,
    /// Send every message with REQUIRETLS (RFC 8689): only over TLS this relay's certificate
    /// verified on, to a server offering REQUIRETLS; otherwise the message is not sent.
    pub(crate) require_tls: bool,
    /// The bound on a whole call, if any.
    pub(crate) deadline: Option<Duration>,
}

/// The prefix of a relay host that names a Unix domain socket.
pub const UNIX_PREFIX: &str = "unix:";

impl Relay {
    /// A relay at `host:port` with the defaults for that port.
    /// A host `unix:/path` is a Unix domain socket, without TLS by default (the connection
    /// never leaves the machine).
    pub fn new(host: impl Into<String>, port: u16) -> Relay {
        let host = host.into();
        let tls = if host.starts_with(UNIX_PREFIX) {
            TlsMode::None
        } else {
            TlsMode::for_relay_port(port)
        };
        Relay {
            host,
            port,
            tls,
            tls_options: TlsOptions::default(),
            tls_name: None,
            credentials: None,
            allow_plaintext_auth: false,
            ehlo: EhloName::Auto,
            pipelining: true,
            chunking: false,
            window: TransactionWindow::DEFAULT,
            timeouts: Timeouts::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            transcript: None,
            protocol: Protocol::Smtp,
            on_transaction: None,
            dkim: Vec::new(),
            require_tls: false,
            deadline: None,
        }
    }

    /// Send every message with REQUIRETLS (RFC 8689 §4.2.1): see [`Relay::require_tls`].
    pub fn require_tls(mut self, on: bool) -> Relay {
        self.require_tls = on;
        self
    }

    /// Also sign every message with this DKIM signer (call again for more signatures, for
    /// example an RSA and an Ed25519 one).
    pub fn dkim(mut self, signer: DkimSigner) -> Relay {
        self.dkim.push(signer);
        self
    }

    /// With this TLS mode.
    pub fn tls(mut self, mode: TlsMode) -> Relay {
        self.tls = mode;
        self
    }

    /// Keep up to this many transactions in flight when the server offers CHUNKING and
    /// PIPELINING: each message's MAIL, RCPT and BDAT LAST follow the previous one's
    /// without waiting for a reply, so a message costs no round trip of its own. A number
    /// bounds the transactions (within the default 1 MiB in flight); `1` turns streaming
    /// off (one round trip per message, as with DATA). See
    /// [`TransactionWindow`].
    ///
    /// ```
    /// use mxsend::{Relay, TransactionWindow};
    ///
    /// // Up to 64 transactions in flight:
    /// let relay = Relay::new("smtp.example.com", 587).window(64);
    /// assert_eq!(TransactionWindow::from(64).transactions, 64);
    /// // One round trip per message, as with DATA:
    /// let lock_step = Relay::new("smtp.example.com", 587).window(TransactionWindow::OFF);
    /// assert!(!TransactionWindow::OFF.streams());
    /// # let _ = (relay, lock_step);
    /// ```
    pub fn window(mut self, window: impl Into<TransactionWindow>) -> Relay {
        self.window = window.into();
        self
    }

    /// Speak LMTP (RFC 2033: LHLO, one reply per recipient after the message) instead of
    /// SMTP.
    pub fn lmtp(mut self, lmtp: bool) -> Relay {
        self.protocol = if lmtp { Protocol::Lmtp } else { Protocol::Smtp };
        self
    }

    /// The Unix domain socket the host names (`unix:/path`), if it names one.
    pub fn unix_socket(&self) -> Option<&Path> {
        self.host
            .strip_prefix(UNIX_PREFIX)
            .filter(|path| !path.is_empty())
            .map(Path::new)
    }

    /// Authenticate with this user name and password.
    pub fn credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Relay {
        self.credentials = Some(Credentials {
            username: username.into(),
            secret: Secret::Password(password.into()),
        });
        self
    }

    /// Authenticate with this user name and OAuth 2.0 bearer token (XOAUTH2, as Gmail
    /// and Microsoft 365 take it).
    pub fn oauth_token(mut self, username: impl Into<String>, token: impl Into<String>) -> Relay {
        self.credentials = Some(Credentials {
            username: username.into(),
            secret: Secret::OAuthToken(token.into()),
        });
        self
    }

    /// Authenticate with these credentials (a password or a token), or not at all.
    pub fn auth(mut self, credentials: Option<Credentials>) -> Relay {
        self.credentials = credentials;
        self
    }

    /// Allow credentials over a connection without TLS (default: off; for tests and
    /// trusted local networks only).
    pub fn allow_plaintext_auth(mut self, allow: bool) -> Relay {
        self.allow_plaintext_auth = allow;
        self
    }

    /// The host as given.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it speaks LMTP.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Bound the TCP connection and every phase of the session (greeting, each reply, each
    /// body write, the final reply) by `limit` instead of RFC 5321's per-command minimums
    /// ([`Timeouts::uniform`]).
    pub fn timeout(mut self, limit: Duration) -> Relay {
        self.connect_timeout = limit;
        self.timeouts = Timeouts::uniform(limit);
        self
    }

    /// Verify the relay's certificate against this name (and send it as SNI) instead of
    /// the host connected to.
    pub fn tls_name(mut self, name: impl Into<String>) -> Relay {
        self.tls_name = Some(name.into());
        self
    }

    /// Call `f` with every transcript event: each line sent and received (AUTH secrets
    /// redacted), connections, TLS. The closure's argument type is inferred:
    ///
    /// ```
    /// use mxsend::{Relay, TranscriptEvent};
    ///
    /// let config = Relay::new("127.0.0.1", 2525).transcript(|event| {
    ///     if let TranscriptEvent::Sent(line) = event {
    ///         eprintln!("-> {}", String::from_utf8_lossy(line));
    ///     }
    /// });
    /// ```
    ///
    /// A [`Transcript`] that is not a closure (the swaks-style [`crate::transcript::Printer`])
    /// goes to [`Relay::transcript_to`].
    pub fn transcript(mut self, f: impl FnMut(TranscriptEvent<'_>) + Send + 'static) -> Relay {
        self.transcript = Some(TranscriptHook::new(f));
        self
    }

    /// Send every transcript event to `transcript` (a [`crate::transcript::Printer`], or a
    /// type of the caller's own).
    pub fn transcript_to(mut self, transcript: impl Transcript + Send + 'static) -> Relay {
        self.transcript = Some(TranscriptHook::new(transcript));
        self
    }

    /// The TLS configurations for this relay's connections.
    pub(crate) fn tls_connector(&self) -> Result<TlsConnector, TlsConfigError> {
        TlsConnector::new(&self.tls_options, self.tls)?.with_server_name(self.tls_name.as_deref())
    }

    /// Tell `f` as each transaction ends (see [`TransactionHook`]).
    pub fn on_transaction(mut self, f: impl FnMut(TransactionEnd<'_>) + Send + 'static) -> Relay {
        self.on_transaction = Some(TransactionHook::new(f));
        self
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            ehlo: self.ehlo.clone(),
            credentials: self.credentials.clone(),
            allow_plaintext_auth: self.allow_plaintext_auth,
            pipelining: self.pipelining,
            chunking: self.chunking,
            window: self.window,
            timeouts: self.timeouts,
            connect_timeout: self.connect_timeout,
            transcript: self.transcript.clone(),
            protocol: self.protocol,
            on_transaction: self.on_transaction.clone(),
            require_tls: self.require_tls,
            deadline: self.deadline.map(|d| std::time::Instant::now() + d),
        }
    }

    /// The relay's host as a literal address, if it is one (`192.0.2.1`, `[192.0.2.1]`,
    /// `::1`, `[::1]`, `[IPv6:::1]`).
    pub(crate) fn literal(&self) -> Option<IpAddr> {
        let bare = self
            .host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .map(|h| h.strip_prefix("IPv6:").unwrap_or(h))
            .unwrap_or(&self.host);
        bare.parse().ok()
    }
}

/// Direct delivery: each recipient domain's MX hosts, found in DNS. Configured with builder
/// methods only, the same ones as [`Relay`] where they apply.
///
/// Safe defaults: opportunistic STARTTLS (RFC 7435: encrypt when offered, any certificate,
/// plaintext otherwise, as mail servers do); RFC 5321's per-phase timeouts, which a mail
/// server should keep; the system resolver; port 25; at most [`MAX_ADDRESSES`] addresses per
/// domain; [`DEFAULT_CONCURRENCY`] domains at once on the async runtimes.
///
/// ```
/// use mxsend::MxDelivery;
/// use mxsend::dns::Resolver;
///
/// // Tests point it at their own DNS server and port.
/// let mx = MxDelivery::new()
///     .resolver(Resolver::with_servers(vec!["127.0.0.1:5353".parse().unwrap()]))
///     .port(2525);
/// assert_eq!(mx.tls_mode(), mxsend::TlsMode::Opportunistic);
/// ```
#[derive(Clone, Debug)]
pub struct MxDelivery {
    /// The resolver; `None` for the system's (/etc/resolv.conf).
    pub(crate) resolver: Option<Resolver>,
    /// The port to connect to on every exchange: 25, changed only by tests.
    pub(crate) port: u16,
    /// TLS mode: [`TlsMode::Opportunistic`] by default.
    pub(crate) tls: TlsMode,
    /// Trust anchors and pins (for `Required`), the client certificate.
    pub(crate) tls_options: TlsOptions,
    /// The EHLO name.
    pub(crate) ehlo: EhloName,
    /// Use PIPELINING when offered.
    pub(crate) pipelining: bool,
    /// Use BDAT for every message when CHUNKING is offered (streamed transactions use it
    /// anyway).
    pub(crate) chunking: bool,
    /// How many transactions stay in flight when the exchange offers CHUNKING and
    /// PIPELINING ([`MxDelivery::window`]).
    pub(crate) window: TransactionWindow,
    /// Per-phase deadlines.
    pub(crate) timeouts: Timeouts,
    /// How long to wait for each TCP connection.
    pub(crate) connect_timeout: Duration,
    /// At most this many addresses per domain ([`MAX_ADDRESSES`]).
    pub(crate) address_limit: usize,
    /// Which address family first.
    pub(crate) family_order: FamilyOrder,
    /// How many domains the async adapters work on at once ([`DEFAULT_CONCURRENCY`]; 0 is
    /// taken as 1). Each domain still has at most one connection at a time, its exchanges
    /// tried in order. The blocking adapter delivers one domain after another. The lines of
    /// connections running at the same time interleave in a transcript (each line whole, but
    /// not marked with its connection): 1 gives a transcript that reads connection by
    /// connection.
    pub(crate) concurrency: usize,
    /// Where the transcript goes, if anywhere.
    pub(crate) transcript: Option<TranscriptHook>,
    /// Told as each transaction ends (see [`TransactionHook`]).
    pub(crate) on_transaction: Option<TransactionHook>,
    /// DKIM signatures added to every message, in this order ([`crate::dkim`]).
    pub(crate) dkim: Vec<DkimSigner>,
    /// Consult each recipient domain's MTA-STS policy ([`crate::mta_sts`]); `None`: not.
    pub(crate) mta_sts: Option<MtaSts>,
    /// Authenticate exchanges by their DNSSEC-secure TLSA records ([`crate::dane`]); `None`:
    /// not.
    pub(crate) dane: Option<crate::dane::Dane>,
    /// Send with REQUIRETLS (RFC 8689 §4.2.1): each exchange only over TLS verified for its
    /// name (as the domain's policy says, else WebPKI), and only when it offers REQUIRETLS;
    /// otherwise the message is not sent to it and the next one is tried. A message's
    /// `TLS-Required: No` header is then ignored (§5).
    pub(crate) require_tls: bool,
    /// The bound on a whole call, if any.
    pub(crate) deadline: Option<Duration>,
}

impl Default for MxDelivery {
    fn default() -> MxDelivery {
        MxDelivery::new()
    }
}

impl MxDelivery {
    /// The defaults: system resolver, port 25, opportunistic TLS.
    pub fn new() -> MxDelivery {
        MxDelivery {
            resolver: None,
            port: SMTP_PORT,
            tls: TlsMode::Opportunistic,
            tls_options: TlsOptions::default(),
            ehlo: EhloName::Auto,
            pipelining: true,
            chunking: false,
            window: TransactionWindow::DEFAULT,
            timeouts: Timeouts::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            address_limit: MAX_ADDRESSES,
            family_order: FamilyOrder::default(),
            concurrency: DEFAULT_CONCURRENCY,
            transcript: None,
            on_transaction: None,
            dkim: Vec::new(),
            mta_sts: None,
            dane: None,
            require_tls: false,
            deadline: None,
        }
    }

    /// Use DANE (RFC 7672): an exchange with DNSSEC-secure TLSA records gets TLS
    /// authenticated by them alone, and nothing without; DANE wins over MTA-STS.
    pub fn dane(mut self, settings: crate::dane::Dane) -> MxDelivery {
        self.dane = Some(settings);
        self
    }

    /// Send with REQUIRETLS: see [`MxDelivery::require_tls`].
    pub fn require_tls(mut self, on: bool) -> MxDelivery {
        self.require_tls = on;
        self
    }

    /// The TLS mode for exchanges no policy speaks about: the delivery's own, or a
    /// verifying one under REQUIRETLS.
    pub(crate) fn exchange_mode(&self) -> TlsMode {
        match (self.tls, self.require_tls) {
            (TlsMode::Opportunistic | TlsMode::None, true) => TlsMode::Required,
            (mode, _) => mode,
        }
    }

    /// Consult each recipient domain's MTA-STS policy (RFC 8461) before connecting: under
    /// `enforce`, only MX hosts the policy names, over TLS verified for the MX name against
    /// this delivery's trust anchors ([`MxDelivery::ca_file`] adds to Mozilla's roots).
    pub fn mta_sts(mut self, settings: MtaSts) -> MxDelivery {
        self.mta_sts = Some(settings);
        self
    }

    /// The mode the TLS connector is built for: one that verifies whenever a policy may
    /// demand verified TLS of some exchange.
    pub(crate) fn connector_mode(&self) -> TlsMode {
        let policy = self.mta_sts.is_some() || self.dane.is_some();
        match self.exchange_mode() {
            TlsMode::Opportunistic | TlsMode::None if policy => TlsMode::Required,
            mode => mode,
        }
    }

    /// Also sign every message with this DKIM signer (call again for more signatures).
    pub fn dkim(mut self, signer: DkimSigner) -> MxDelivery {
        self.dkim.push(signer);
        self
    }

    /// Keep up to this many transactions in flight on a connection whose exchange offers
    /// CHUNKING and PIPELINING (see [`Relay::window`]).
    pub fn window(mut self, window: impl Into<TransactionWindow>) -> MxDelivery {
        self.window = window.into();
        self
    }

    /// Work on at most this many domains at once (async adapters).
    pub fn concurrency(mut self, domains: usize) -> MxDelivery {
        self.concurrency = domains;
        self
    }

    /// Ask this resolver.
    pub fn resolver(mut self, resolver: Resolver) -> MxDelivery {
        self.resolver = Some(resolver);
        self
    }

    /// Connect to this port on every exchange (tests).
    pub fn port(mut self, port: u16) -> MxDelivery {
        self.port = port;
        self
    }

    /// Bound each TCP connection and every phase of each session by `limit` instead of
    /// RFC 5321's per-command minimums (which a mail server should keep: see
    /// [`Timeouts::default`]).
    pub fn timeout(mut self, limit: Duration) -> MxDelivery {
        self.connect_timeout = limit;
        self.timeouts = Timeouts::uniform(limit);
        self
    }

    /// With this TLS mode.
    pub fn tls(mut self, mode: TlsMode) -> MxDelivery {
        self.tls = mode;
        self
    }

    /// Call `f` with every transcript event: each line sent and received (AUTH secrets
    /// redacted), connections, TLS. The closure's argument type is inferred:
    ///
    /// ```
    /// use mxsend::{MxDelivery, TranscriptEvent};
    ///
    /// let config = MxDelivery::new().transcript(|event| {
    ///     if let TranscriptEvent::Sent(line) = event {
    ///         eprintln!("-> {}", String::from_utf8_lossy(line));
    ///     }
    /// });
    /// ```
    ///
    /// A [`Transcript`] that is not a closure (the swaks-style [`crate::transcript::Printer`])
    /// goes to [`MxDelivery::transcript_to`].
    pub fn transcript(mut self, f: impl FnMut(TranscriptEvent<'_>) + Send + 'static) -> MxDelivery {
        self.transcript = Some(TranscriptHook::new(f));
        self
    }

    /// Send every transcript event to `transcript` (a [`crate::transcript::Printer`], or a
    /// type of the caller's own).
    pub fn transcript_to(mut self, transcript: impl Transcript + Send + 'static) -> MxDelivery {
        self.transcript = Some(TranscriptHook::new(transcript));
        self
    }

    /// Tell `f` as each transaction ends (see [`TransactionHook`]).
    pub fn on_transaction(
        mut self,
        f: impl FnMut(TransactionEnd<'_>) + Send + 'static,
    ) -> MxDelivery {
        self.on_transaction = Some(TransactionHook::new(f));
        self
    }

    /// How far the resolver needs to go for one domain: [`MxDelivery::address_limit`]
    /// attempts in [`MxDelivery::family_order`].
    pub(crate) fn address_limit(&self) -> crate::dns::AddressLimit {
        crate::dns::AddressLimit {
            order: self.family_order,
            limit: self.address_limit,
        }
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            ehlo: self.ehlo.clone(),
            credentials: None,
            allow_plaintext_auth: false,
            pipelining: self.pipelining,
            chunking: self.chunking,
            window: self.window,
            timeouts: self.timeouts,
            connect_timeout: self.connect_timeout,
            transcript: self.transcript.clone(),
            protocol: Protocol::Smtp,
            on_transaction: self.on_transaction.clone(),
            require_tls: self.require_tls,
            deadline: self.deadline.map(|d| std::time::Instant::now() + d),
        }
    }
}

/// The TLS builder methods [`Relay`] and [`MxDelivery`] share, over their `tls_options`.
macro_rules! tls_builder_methods {
    ($type:ty) => {
        impl $type {
            /// Also trust the CA certificates in this PEM file. A server certificate in it that the
            /// server presents itself is pinned (a self-signed server: see [`crate::tls`]).
            pub fn ca_file(mut self, path: impl Into<PathBuf>) -> $type {
                self.tls_options = self.tls_options.ca_file(path);
                self
            }

            /// Also trust the CA certificates in this PEM text (in memory).
            pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> $type {
                self.tls_options = self.tls_options.ca_pem(pem);
                self
            }

            /// Verify against these built-in roots.
            pub fn roots(mut self, roots: Roots) -> $type {
                self.tls_options = self.tls_options.roots(roots);
                self
            }

            /// Accept only a server certificate matching this fingerprint (or another one given
            /// the same way), in the verifying modes: see [`crate::tls::pin`].
            pub fn tls_fingerprint(mut self, pin: Fingerprint) -> $type {
                self.tls_options = self.tls_options.fingerprint(pin);
                self
            }

            /// Present this client certificate when the server asks for one.
            pub fn client_certificate(mut self, identity: ClientCertificate) -> $type {
                self.tls_options = self.tls_options.client_certificate(identity);
                self
            }

            /// Use this rustls configuration, as given, for every TLS connection (its verifier,
            /// roots and client authentication); the other TLS options are then ignored.
            pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> $type {
                self.tls_options = self.tls_options.client_config(config);
                self
            }
        }
    };
}

tls_builder_methods!(Relay);
tls_builder_methods!(MxDelivery);

/// The builder methods [`Relay`] and [`MxDelivery`] share: EHLO name, ESMTP extensions,
/// timeouts and the overall deadline, the transcript and the transaction hook.
macro_rules! session_builder_methods {
    ($type:ty) => {
        impl $type {
            /// Give this name in EHLO (default: [`EhloName::Auto`], the machine's name when
            /// it is a fully qualified domain name, else the address literal).
            pub fn ehlo(mut self, name: EhloName) -> $type {
                self.ehlo = name;
                self
            }

            /// Use PIPELINING when the server offers it (default: on).
            pub fn pipelining(mut self, on: bool) -> $type {
                self.pipelining = on;
                self
            }

            /// Use BDAT when the server offers CHUNKING (default: off).
            pub fn chunking(mut self, on: bool) -> $type {
                self.chunking = on;
                self
            }

            /// These per-phase deadlines (RFC 5321 §4.5.3.2; [`Timeouts::uniform`] for one
            /// bound everywhere). The default: RFC 5321's minimums ([`Timeouts::default`]).
            pub fn timeouts(mut self, timeouts: Timeouts) -> $type {
                self.timeouts = timeouts;
                self
            }

            /// Wait at most this long for each TCP connection (default:
            /// [`DEFAULT_CONNECT_TIMEOUT`]).
            pub fn connect_timeout(mut self, limit: Duration) -> $type {
                self.connect_timeout = limit;
                self
            }

            /// End every call (`send`, `send_all`, `deliver`, a client's batch) within
            /// `limit` from its start, whatever the per-phase timeouts allow: at the deadline
            /// the connection is abandoned and each recipient not settled yet is deferred
            /// (ambiguous when its end of data went out unanswered). Default: none.
            pub fn deadline(mut self, limit: Duration) -> $type {
                self.deadline = Some(limit);
                self
            }

            /// Sign every message with these DKIM signers, in this order, instead of those
            /// given so far.
            pub fn dkim_signers(mut self, signers: Vec<DkimSigner>) -> $type {
                self.dkim = signers;
                self
            }

            /// Tell this hook as each transaction ends (see [`TransactionHook`]), instead of
            /// any given so far; `None` for none.
            pub fn transaction_hook(mut self, hook: Option<TransactionHook>) -> $type {
                self.on_transaction = hook;
                self
            }

            /// The TLS mode in effect.
            pub fn tls_mode(&self) -> TlsMode {
                self.tls
            }

            /// The per-phase deadlines in effect.
            pub fn phase_timeouts(&self) -> Timeouts {
                self.timeouts
            }

            /// The connect timeout in effect.
            pub fn connect_limit(&self) -> Duration {
                self.connect_timeout
            }

            /// The overall deadline of each call, if one is set.
            pub fn overall_deadline(&self) -> Option<Duration> {
                self.deadline
            }
        }
    };
}

session_builder_methods!(Relay);
session_builder_methods!(MxDelivery);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_ehlo_name_is_used_as_given() {
        let name = Domain::parse("client.example").unwrap();
        let local = SocketAddr::from(([127, 0, 0, 1], 4000));
        assert_eq!(EhloName::Name(name.clone()).resolve(local), name);
    }

    #[test]
    fn auto_ehlo_name_is_a_fqdn_or_the_local_address_literal() {
        let local = SocketAddr::from(([127, 0, 0, 9], 4000));
        match EhloName::Auto.resolve(local) {
            Domain::Name(name) => assert!(name.contains('.')),
            Domain::Literal(literal) => assert_eq!(literal.to_string(), "[127.0.0.9]"),
        }
    }

    #[test]
    fn ipv4_mapped_local_address_gives_an_ipv4_literal() {
        let ip: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_literal(ip).to_string(), "[192.0.2.1]");
    }

    #[test]
    fn one_timeout_bounds_the_connection_and_every_phase() {
        let limit = Duration::from_secs(7);
        let relay = Relay::new("smtp.example.com", 587).timeout(limit);
        assert_eq!(relay.connect_timeout, limit);
        let t = relay.timeouts;
        for phase in [
            t.greeting,
            t.command,
            t.mail,
            t.rcpt,
            t.data_initiation,
            t.data_block,
            t.data_termination,
            t.quit,
        ] {
            assert_eq!(phase, limit);
        }
        let mx = MxDelivery::new().timeout(Duration::from_secs(600));
        assert_eq!(mx.timeouts.data_termination, Duration::from_secs(600));
        assert_eq!(mx.timeouts.quit, Timeouts::default().quit);
    }

    #[test]
    fn relay_host_literals_are_recognised_in_every_spelling() {
        for host in ["192.0.2.1", "[192.0.2.1]", "::1", "[::1]", "[IPv6:::1]"] {
            assert!(Relay::new(host, 25).literal().is_some(), "{host}");
        }
        assert!(Relay::new("smtp.example.com", 25).literal().is_none());
    }

    #[test]
    fn a_unix_host_names_a_socket_path() {
        let relay = Relay::new("unix:/run/dovecot/lmtp", 0);
        assert_eq!(relay.unix_socket(), Some(Path::new("/run/dovecot/lmtp")));
        assert_eq!(relay.tls, TlsMode::None);
        assert!(relay.literal().is_none());
        assert_eq!(Relay::new("unix:", 0).unix_socket(), None);
        assert_eq!(Relay::new("smtp.example.com", 587).unix_socket(), None);
    }
}
