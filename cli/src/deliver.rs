//! The one place the command hands a message to the library (`mxsend::blocking`).
//!
//! Everything before this point is the command's business (flags, accounts, the message,
//! checks); everything after is the library's (DNS, connections, TLS, the session, fallback
//! between exchanges). The library's report comes back here and becomes the command's
//! [`Report`](crate::report::Report), whose outcomes decide the exit status.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use mxsend::dns::Resolver;
use mxsend::tls::{TlsConfigError, TlsMode};
use mxsend::transcript::Printer;
use mxsend::{blocking, BodySource, EhloName, Message, MxDelivery, Relay};
use mxsend::{RecipientReport, Unreached};
use mxsend_core::sasl::Credentials;
use mxsend_core::session::{Failure, Outcome};

use crate::ehlo::Ehlo;
use crate::error::{os_reason, CliError};
use crate::exit::{Cause, Exit, Status};
use crate::report::{RecipientOutcome, Report};
use crate::source::MessageSource;
use crate::TlsArg;

/// The deadline for each phase of a relay session unless `--timeout` or `timeout` says
/// otherwise: a submission server that has not answered in a minute is not going to, and
/// cron must not hang (msmtp and swaks wait about as long). MX delivery keeps RFC 5321
/// §4.5.3.2's minutes: a busy mail exchange may legitimately take them.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the message goes.
#[derive(Clone, Debug)]
pub enum Route {
    /// Submission to one server.
    Relay {
        /// Host name or address.
        host: String,
        /// Port.
        port: u16,
    },
    /// Each recipient domain's MX hosts.
    Mx {
        /// The port on every exchange (25 but in tests).
        port: u16,
        /// The resolver.
        resolver: Resolver,
    },
}

/// Everything a delivery needs, checked.
#[derive(Clone, Debug)]
pub struct Job {
    /// Where.
    pub route: Route,
    /// TLS mode; `None` for the library's default for the route.
    pub tls: Option<TlsArg>,
    /// A PEM file of further CA certificates.
    pub ca_file: Option<PathBuf>,
    /// Pins, client certificate, TLS name.
    pub tls_settings: crate::tls::TlsSettings,
    /// The EHLO name.
    pub ehlo: Ehlo,
    /// The one deadline for the connection and each phase of the session (`--timeout`, the
    /// `timeout` key); `None`: [`RELAY_TIMEOUT`] for a relay, RFC 5321's minimums for MX
    /// delivery.
    pub timeout: Option<Duration>,
    /// AUTH credentials.
    pub credentials: Option<Credentials>,
    /// AUTH without TLS allowed.
    pub allow_plaintext_auth: bool,
    /// LMTP instead of SMTP (relay only).
    pub lmtp: bool,
    /// The envelope.
    pub envelope: mxsend_core::session::Envelope,
    /// DKIM signers, applied to the message in order.
    pub dkim: Vec<mxsend::DkimSigner>,
}

/// The message as the library reads it: opened once per connection attempt, with a progress
/// bar when one is wanted.
struct Content<'a> {
    source: &'a MessageSource,
    progress: bool,
}

impl BodySource for Content<'_> {
    fn open(&self) -> io::Result<Box<dyn Read + '_>> {
        let reader = self.source.open()?;
        match (self.progress, self.source.size()) {
            (true, Some(size)) => Ok(crate::progress::wrap(reader, size, "sending")),
            _ => Ok(reader),
        }
    }

    fn size_hint(&self) -> Option<u64> {
        self.source.size()
    }
}

fn tls_mode(tls: TlsArg) -> TlsMode {
    match tls {
        TlsArg::None => TlsMode::None,
        TlsArg::Opportunistic => TlsMode::Opportunistic,
        TlsArg::Required => TlsMode::Required,
        TlsArg::Implicit => TlsMode::Implicit,
    }
}

fn ehlo_name(ehlo: &Ehlo) -> EhloName {
    match ehlo {
        Ehlo::Name(domain) => EhloName::Name(domain.clone()),
        Ehlo::LocalAddress => EhloName::Auto,
    }
}

/// The `-v` hook: the library's events, rendered on standard error.
fn transcript_hook() -> Printer<io::Stderr> {
    Printer::new(io::stderr())
}

/// Deliver `message` as `job` says, reporting each recipient's outcome. `message_id` goes
/// into the report as is.
pub fn deliver(
    job: &Job,
    message: &MessageSource,
    message_id: Option<String>,
    verbose: bool,
) -> Result<Report, CliError> {
    let content = Content {
        source: message,
        progress: crate::progress::wanted(message.size(), verbose),
    };
    let message_in = Message::new(job.envelope.clone(), content);
    let result = match connection(job, verbose) {
        mxsend::queue::Connection::Relay(relay) => blocking::send(&relay, &message_in),
        mxsend::queue::Connection::Mx(mx) => blocking::deliver(&mx, &message_in),
    };
    let report = result.map_err(|e| library_error(e, message))?;
    Ok(Report {
        message_id,
        recipients: report.recipients.iter().map(recipient).collect(),
    })
}

/// The library's relay or MX delivery for `job` (also what the queue runner sends with).
pub fn connection(job: &Job, verbose: bool) -> mxsend::queue::Connection {
    match &job.route {
        Route::Relay { host, port } => {
            let mut relay = relay(job, host, *port);
            if verbose {
                relay = relay.transcript_to(transcript_hook());
            }
            mxsend::queue::Connection::Relay(relay)
        }
        Route::Mx { port, resolver } => {
            let mut mx = MxDelivery::new().resolver(resolver.clone()).port(*port);
            if let Some(tls) = job.tls {
                mx = mx.tls(tls_mode(tls));
            }
            if let Some(path) = &job.ca_file {
                mx = mx.ca_file(path.clone());
            }
            mx = job.tls_settings.mx(mx);
            mx = mx.ehlo(ehlo_name(&job.ehlo));
            mx = mx.dkim_signers(job.dkim.clone());
            if let Some(timeout) = job.timeout {
                mx = mx.timeout(timeout);
            }
            if verbose {
                mx = mx.transcript_to(transcript_hook());
            }
            mxsend::queue::Connection::Mx(mx)
        }
    }
}

/// The library's relay settings for `job`.
fn relay(job: &Job, host: &str, port: u16) -> Relay {
    let mut relay = Relay::new(host, port);
    if let Some(tls) = job.tls {
        relay = relay.tls(tls_mode(tls));
    }
    if let Some(path) = &job.ca_file {
        relay = relay.ca_file(path.clone());
    }
    relay = relay.auth(job.credentials.clone());
    relay = relay.allow_plaintext_auth(job.allow_plaintext_auth);
    relay = relay.lmtp(job.lmtp);
    relay = relay.ehlo(ehlo_name(&job.ehlo));
    relay = relay.dkim_signers(job.dkim.clone());
    relay = job.tls_settings.relay(relay);
    relay.timeout(job.timeout.unwrap_or(RELAY_TIMEOUT))
}

/// One recipient's report in the command's terms.
fn recipient(r: &RecipientReport) -> RecipientOutcome {
    let (status, failure) = match &r.outcome {
        Outcome::Delivered(reply) => (Status::Delivered, Err(reply)),
        Outcome::Rejected(f) => (Status::Rejected, Ok(f)),
        Outcome::Deferred(f) => (Status::Deferred, Ok(f)),
        Outcome::Ambiguous(f) => (Status::Ambiguous, Ok(f)),
    };
    let cause = match (&r.unreached, failure) {
        // No server answered: the library's made-up reply is not shown as one.
        (Some(Unreached::Route(e)), _) => Cause::NoRoute(e.reason),
        (Some(Unreached::Connect(e)), _) => Cause::Connect(os_reason(e)),
        (Some(Unreached::Tls(why)), _) => Cause::Tls {
            explained: crate::tls::explain(why),
            not_tls: matches!(why.problem(), mxsend::tls::Problem::NotTls),
        },
        (Some(other), _) => Cause::Connect(other.to_string()),
        (None, Err(reply)) => Cause::Reply(reply.clone()),
        (None, Ok(Failure::Reply(reply) | Failure::SenderRefused(reply))) => {
            Cause::Reply(reply.clone())
        }
        (None, Ok(Failure::Session(e))) => Cause::Session(e.clone()),
        (None, Ok(Failure::TooLarge { size, limit })) => Cause::Unsendable(format!(
            "the message ({size} octets) is larger than the server accepts ({limit} octets)"
        )),
        (None, Ok(Failure::EightBitUnsupported)) => Cause::Unsendable(
            "the message has 8-bit content and the server does not offer 8BITMIME".into(),
        ),
        (None, Ok(Failure::Utf8Unsupported)) => {
            Cause::Unsendable("the message needs SMTPUTF8 and the server does not offer it".into())
        }
        (None, Ok(Failure::BinaryUnsupported)) => Cause::Unsendable(
            "the message is binary and the server does not offer BINARYMIME".into(),
        ),
        (None, Ok(Failure::Body(why))) => Cause::Unsendable(why.to_string()),
        (None, Ok(Failure::RequireTlsUnavailable { verified_tls, .. })) => {
            Cause::Unsendable(if *verified_tls {
                "REQUIRETLS: the server does not offer REQUIRETLS (RFC 8689); not sent".into()
            } else {
                "REQUIRETLS: no TLS verified for the server's name (RFC 8689); not sent".into()
            })
        }
        (None, Ok(other)) => Cause::Unsendable(format!("{other:?}")),
    };
    RecipientOutcome {
        recipient: r.mailbox.to_string(),
        status,
        cause,
        host: r.host.clone(),
        address: r.addr,
        policy: r.policy.as_ref().and_then(shown_policy),
    }
}

/// The policy as the report shows it: only when the domain has one (an MTA-STS policy, or
/// an exchange DANE applies to).
fn shown_policy(policy: &mxsend::security::DeliveryPolicy) -> Option<String> {
    use mxsend::security::DeliveryPolicy;
    match policy {
        DeliveryPolicy::MtaSts {
            status: mxsend::mta_sts::StsStatus::NoPolicy,
            ..
        } => None,
        DeliveryPolicy::Dane {
            exchanges, mta_sts, ..
        } if !exchanges.iter().any(|(_, s)| s.applies()) => {
            mta_sts.as_deref().and_then(shown_policy)
        }
        other => Some(other.to_string()),
    }
}

/// What stops a delivery as a whole, as the user should see it.
fn library_error(e: mxsend::Error, message: &MessageSource) -> CliError {
    match e {
        mxsend::Error::InvalidMessage { error, .. } => {
            CliError::data(format!("the message cannot be sent: {error}"))
        }
        mxsend::Error::Tls(TlsConfigError::CaFile { .. }) => {
            CliError::new(Exit::NoInput, format!("{e}; check the --ca-file path"))
        }
        mxsend::Error::Tls(error) => CliError::config(format!("TLS configuration: {error}")),
        // getaddrinfo's EAI_AGAIN: the resolver could not answer now.
        mxsend::Error::RelayHost { host, error } if error.is_temporary() => CliError::new(
            Exit::TempFail,
            format!("cannot resolve the relay {host} now ({error}); try again later"),
        ),
        mxsend::Error::RelayHost { host, error } => CliError::new(
            Exit::NoHost,
            format!("cannot resolve the relay {host} ({error}); check --server"),
        ),
        mxsend::Error::Resolver(error) => {
            CliError::config(format!("DNS resolver: {error}; pass --dns IP"))
        }
        mxsend::Error::Dkim { error, .. } => crate::dkim::library_error(&error, message),
        mxsend::Error::Credentials(error) => CliError::new(
            Exit::Usage,
            format!("the credentials cannot be used: {error}"),
        ),
        other => CliError::new(Exit::Software, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::address::{Mailbox, ReversePath};
    use mxsend_core::command::BodyType;
    use mxsend_core::session::{DsnOptions, Envelope};

    fn job(timeout: Option<Duration>) -> Job {
        Job {
            route: Route::Relay {
                host: "smtp.example.com".into(),
                port: 587,
            },
            tls: None,
            ca_file: None,
            tls_settings: Default::default(),
            ehlo: Ehlo::LocalAddress,
            timeout,
            credentials: None,
            allow_plaintext_auth: false,
            lmtp: false,
            dkim: Vec::new(),
            envelope: Envelope {
                from: ReversePath::Null,
                recipients: vec![Mailbox::parse("bob@example.net").unwrap()],
                size: None,
                body: BodyType::SevenBit,
                utf8_headers: false,
                dsn: DsnOptions::default(),
            },
        }
    }

    #[test]
    fn a_relay_waits_sixty_seconds_at_each_step_by_default() {
        let relay = relay(&job(None), "smtp.example.com", 587);
        assert_eq!(relay.connect_limit(), RELAY_TIMEOUT);
        assert_eq!(relay.phase_timeouts().greeting, RELAY_TIMEOUT);
        assert_eq!(relay.phase_timeouts().data_termination, RELAY_TIMEOUT);
    }

    #[test]
    fn the_timeout_setting_replaces_every_relay_deadline() {
        let relay = relay(&job(Some(Duration::from_secs(5))), "smtp.example.com", 587);
        assert_eq!(relay.connect_limit(), Duration::from_secs(5));
        assert_eq!(relay.phase_timeouts().rcpt, Duration::from_secs(5));
    }
}
