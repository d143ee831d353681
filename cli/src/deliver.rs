//! The one place the command hands a message to the library (`mxsend::blocking`).
//!
//! Everything before this point is the command's business (flags, accounts, the message,
//! checks); everything after is the library's (DNS, connections, TLS, the session, fallback
//! between exchanges). The library's report comes back here and becomes the command's
//! [`Report`](crate::report::Report), whose outcomes decide the exit status.

use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use mxsend::delivery::{RecipientReport, Unreached};
use mxsend::dns::Resolver;
use mxsend::tls::{TlsConfigError, TlsMode};
use mxsend::transcript::Printer;
use mxsend::{blocking, BodySource, EhloName, Message, MxDelivery, Relay};
use mxsend_core::sasl::Credentials;
use mxsend_core::session::{Failure, Outcome};

use crate::ehlo::Ehlo;
use crate::error::{os_reason, CliError};
use crate::exit::{Cause, Exit, Status};
use crate::report::{RecipientOutcome, Report};
use crate::source::MessageSource;
use crate::TlsArg;

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
    /// The EHLO name.
    pub ehlo: Ehlo,
    /// Per-connection timeout; `None` for the library's default.
    pub connect_timeout: Option<Duration>,
    /// AUTH credentials.
    pub credentials: Option<Credentials>,
    /// AUTH without TLS allowed.
    pub allow_plaintext_auth: bool,
    /// The envelope.
    pub envelope: mxsend_core::session::Envelope,
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
    let result = match &job.route {
        Route::Relay { host, port } => {
            let mut relay = Relay::new(host.clone(), *port);
            if let Some(tls) = job.tls {
                relay = relay.tls(tls_mode(tls));
            }
            if let Some(path) = &job.ca_file {
                relay = relay.ca_file(path.clone());
            }
            relay.credentials = job.credentials.clone();
            relay.allow_plaintext_auth = job.allow_plaintext_auth;
            relay.ehlo = ehlo_name(&job.ehlo);
            if let Some(timeout) = job.connect_timeout {
                relay.connect_timeout = timeout;
            }
            if verbose {
                relay = relay.transcript(transcript_hook());
            }
            blocking::send(&relay, &message_in)
        }
        Route::Mx { port, resolver } => {
            let mut mx = MxDelivery::new().resolver(resolver.clone()).port(*port);
            if let Some(tls) = job.tls {
                mx = mx.tls(tls_mode(tls));
            }
            if let Some(path) = &job.ca_file {
                mx.tls_options.ca_files.push(path.clone());
            }
            mx.ehlo = ehlo_name(&job.ehlo);
            if let Some(timeout) = job.connect_timeout {
                mx.connect_timeout = timeout;
            }
            if verbose {
                mx = mx.transcript(transcript_hook());
            }
            blocking::deliver(&mx, &message_in)
        }
    };
    let report = result.map_err(library_error)?;
    Ok(Report {
        message_id,
        recipients: report.recipients.iter().map(recipient).collect(),
    })
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
        (Some(Unreached::Tls(why)), _) => Cause::Tls(why.clone()),
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
        (None, Ok(other)) => Cause::Unsendable(format!("{other:?}")),
    };
    RecipientOutcome {
        recipient: r.mailbox.to_string(),
        status,
        cause,
        host: r.host.clone(),
        address: r.addr,
    }
}

/// What stops a delivery as a whole, as the user should see it.
fn library_error(e: mxsend::Error) -> CliError {
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
        mxsend::Error::Credentials(error) => CliError::new(
            Exit::Usage,
            format!("the credentials cannot be used: {error}"),
        ),
        other => CliError::new(Exit::Software, other.to_string()),
    }
}
