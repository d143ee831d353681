//! The one place the command hands a message to the adapter (`mxsend::blocking`).
//!
//! Everything before this point is the command's business (flags, accounts, the message,
//! checks); everything after is the library's (DNS, connections, TLS, the session). The
//! adapter's report comes back here and is turned into the command's
//! [`Report`](crate::report::Report), whose outcomes decide the exit status.

use std::path::PathBuf;
use std::time::Duration;

use mxsend::dns::Resolver;
use mxsend_core::sasl::Credentials;
use mxsend_core::session::Envelope;

use crate::ehlo::Ehlo;
use crate::error::CliError;
use crate::exit::Exit;
use crate::report::Report;
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
    /// TLS mode; `None` for the adapter's default for the route.
    pub tls: Option<TlsArg>,
    /// A PEM file of further CA certificates.
    pub ca_file: Option<PathBuf>,
    /// The EHLO name.
    pub ehlo: Ehlo,
    /// Per-connection timeout; `None` for the adapter's default.
    pub connect_timeout: Option<Duration>,
    /// AUTH credentials.
    pub credentials: Option<Credentials>,
    /// AUTH without TLS allowed.
    pub allow_plaintext_auth: bool,
    /// The envelope.
    pub envelope: Envelope,
}

/// Deliver `message` as `job` says, reporting each recipient's outcome.
pub fn deliver(
    job: &Job,
    message: &MessageSource,
    message_id: Option<String>,
    verbose: bool,
) -> Result<Report, CliError> {
    // The blocking adapter (mxsend::blocking::{send, deliver}) is not on main yet; until it
    // is, the command stops here rather than pretend to send.
    let _ = (job, message, message_id, verbose);
    Err(CliError::new(
        Exit::Software,
        "this build cannot send yet: the blocking adapter (mxsend::blocking) is not merged; use --dry-run",
    ))
}
