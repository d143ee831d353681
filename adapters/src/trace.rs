//! The `tracing` feature: what a delivery does, as spans and events for the application's
//! subscriber (target `mxsend`).
//!
//! - a span per call (`mxsend.send`: `send`/`send_all`/a client's batch, `mxsend.deliver`)
//!   and per connection (`mxsend.connection`, with the host and address);
//! - debug events for connecting, the connection, TLS, and each command sent and reply line
//!   received, taken from the transcript's wiretap, so secrets are redacted exactly as in
//!   the transcript (AUTH responses, SASL exchanges) and message content is not logged
//!   (only at trace level, line by line);
//! - an info event per recipient with its outcome and the server that settled it.
//!
//! Without the feature every function here is an empty inline one.

use crate::delivery::{Candidate, RecipientReport};
use crate::transcript::TranscriptEvent;

/// Whether anyone listens at debug level: the wiretap cuts bytes into lines only then.
#[inline]
pub(crate) fn wanted() -> bool {
    #[cfg(feature = "tracing")]
    {
        tracing::enabled!(target: "mxsend", tracing::Level::DEBUG)
    }
    #[cfg(not(feature = "tracing"))]
    {
        false
    }
}

/// One transcript event as a tracing event.
#[inline]
pub(crate) fn event(event: &TranscriptEvent<'_>) {
    #[cfg(feature = "tracing")]
    {
        use tracing::{debug, trace};
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        match event {
            TranscriptEvent::Connecting { host, addr } => {
                debug!(target: "mxsend", %host, %addr, "connecting")
            }
            TranscriptEvent::Connected { local, peer } => {
                debug!(target: "mxsend", %local, %peer, "connected")
            }
            TranscriptEvent::ConnectFailed { addr, error } => {
                debug!(target: "mxsend", %addr, %error, "connection failed")
            }
            TranscriptEvent::ConnectingUnix { path } => {
                debug!(target: "mxsend", path = %path.display(), "connecting")
            }
            TranscriptEvent::ConnectUnixFailed { path, error } => {
                debug!(target: "mxsend", path = %path.display(), %error, "connection failed")
            }
            TranscriptEvent::Received(line) => {
                debug!(target: "mxsend", reply = %text(line), "received")
            }
            TranscriptEvent::Sent(line) => debug!(target: "mxsend", command = %text(line), "sent"),
            TranscriptEvent::SentBody(line) => {
                trace!(target: "mxsend", content = %text(line), "sent content")
            }
            TranscriptEvent::TlsStarted {
                protocol,
                cipher,
                verified,
            } => debug!(target: "mxsend", %protocol, %cipher, verified, "TLS started"),
            TranscriptEvent::TlsFailed { error } => {
                debug!(target: "mxsend", %error, "TLS handshake failed")
            }
            TranscriptEvent::Closed => debug!(target: "mxsend", "closed"),
            TranscriptEvent::Policy { domain, policy } => {
                debug!(target: "mxsend", %domain, %policy, "TLS policy")
            }
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = event;
}

/// Each recipient's outcome, as the call returns it.
#[inline]
pub(crate) fn outcomes<'a>(reports: impl IntoIterator<Item = &'a RecipientReport>) {
    #[cfg(feature = "tracing")]
    for r in reports {
        tracing::info!(
            target: "mxsend",
            recipient = %r.mailbox,
            outcome = r.outcome.name(),
            detail = %r.outcome,
            host = r.host.as_deref().unwrap_or("-"),
            "recipient settled"
        );
    }
    #[cfg(not(feature = "tracing"))]
    let _ = reports.into_iter();
}

/// The span of one connection (entered by the blocking adapter for the attempt).
pub(crate) struct Span(#[cfg(feature = "tracing")] tracing::Span);

impl Span {
    /// A connection to `candidate`.
    #[inline]
    pub fn connection(candidate: &Candidate) -> Span {
        #[cfg(feature = "tracing")]
        {
            Span(tracing::info_span!(
                target: "mxsend",
                "mxsend.connection",
                host = %candidate.host,
                addr = %candidate.addr
            ))
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = candidate;
            Span()
        }
    }

    /// A call: `name` is `mxsend.send` or `mxsend.deliver`, over `messages` messages.
    #[inline]
    pub fn call(name: &'static str, messages: usize) -> Span {
        #[cfg(feature = "tracing")]
        {
            let span = match name {
                "mxsend.deliver" => {
                    tracing::info_span!(target: "mxsend", "mxsend.deliver", messages)
                }
                _ => tracing::info_span!(target: "mxsend", "mxsend.send", messages),
            };
            Span(span)
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = (name, messages);
            Span()
        }
    }

    /// Run `f` inside the span (blocking code).
    #[cfg(feature = "blocking")]
    #[inline]
    pub fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        #[cfg(feature = "tracing")]
        {
            self.0.in_scope(f)
        }
        #[cfg(not(feature = "tracing"))]
        {
            f()
        }
    }

    /// `future` inside the span each time it is polled (async code).
    #[cfg(feature = "aio")]
    #[inline]
    pub fn instrument<F: std::future::Future>(
        self,
        future: F,
    ) -> impl std::future::Future<Output = F::Output> {
        #[cfg(feature = "tracing")]
        {
            tracing::Instrument::instrument(future, self.0)
        }
        #[cfg(not(feature = "tracing"))]
        {
            future
        }
    }
}
