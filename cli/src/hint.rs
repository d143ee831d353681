//! Hints where the mistake is common: one line after the report naming the likely fix.
//!
//! - STARTTLS (`--tls required`, `opportunistic`, `none`) against a port that speaks TLS from
//!   the first byte: both sides wait, the server for a ClientHello, the client for a
//!   greeting, until the greeting's deadline. Hint: `--tls implicit`.
//! - `--tls implicit` against a port that speaks plaintext SMTP first: the client's
//!   ClientHello is answered by a `220` greeting, which the TLS stack reports as a record of
//!   an invalid content type. Hint: `--tls required`.
//!
//! Only relays get them: an MX exchange's port 25 always speaks plaintext first (RFC 8314
//! implicit TLS is for submission).

use mxsend_core::session::{Phase, SessionError};

use crate::deliver::Route;
use crate::exit::Cause;
use crate::report::Report;
use crate::TlsArg;

/// The hint for this outcome of a delivery through `route` with the TLS mode `tls` (`None`:
/// the port's default), if one of the common mistakes explains it.
pub fn after_delivery(report: &Report, route: &Route, tls: Option<TlsArg>) -> Option<String> {
    let Route::Relay { port, .. } = route else {
        return None;
    };
    let implicit = match tls {
        Some(mode) => mode == TlsArg::Implicit,
        None => *port == crate::run::SUBMISSIONS_PORT,
    };
    report
        .recipients
        .iter()
        .find_map(|r| hint_for(&r.cause, implicit, *port))
}

fn hint_for(cause: &Cause, implicit: bool, port: u16) -> Option<String> {
    match cause {
        Cause::Session(SessionError::Timeout(Phase::Greeting)) if !implicit => Some(format!(
            "hint: the server on port {port} never sent its greeting; if it expects TLS from the first byte (as port 465 does), use --tls implicit"
        )),
        Cause::Tls { not_tls: true, .. } if implicit => {
            Some(format!(
                "hint: the server on port {port} answered in plaintext, not TLS; if it offers STARTTLS (as port 587 does), use --tls required"
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::Status;
    use crate::report::RecipientOutcome;

    fn report(cause: Cause) -> Report {
        Report {
            message_id: None,
            recipients: vec![RecipientOutcome {
                recipient: "bob@example.net".into(),
                status: Status::Deferred,
                cause,
                host: None,
                address: None,
                policy: None,
            }],
        }
    }

    fn relay(port: u16) -> Route {
        Route::Relay {
            host: "smtp.example.com".into(),
            port,
        }
    }

    #[test]
    fn a_silent_server_suggests_implicit_tls() {
        let r = report(Cause::Session(SessionError::Timeout(Phase::Greeting)));
        let hint = after_delivery(&r, &relay(465), Some(TlsArg::Required)).unwrap();
        assert!(hint.contains("--tls implicit"), "{hint}");
        assert_eq!(after_delivery(&r, &relay(465), None), None);
    }

    #[test]
    fn a_plaintext_answer_to_implicit_tls_suggests_starttls() {
        let r = report(Cause::Tls {
            explained: "the server did not answer in TLS".into(),
            not_tls: true,
        });
        let hint = after_delivery(&r, &relay(587), Some(TlsArg::Implicit)).unwrap();
        assert!(hint.contains("--tls required"), "{hint}");
        assert_eq!(
            after_delivery(&r, &relay(587), Some(TlsArg::Required)),
            None
        );
    }

    #[test]
    fn mx_delivery_gets_no_tls_port_hints() {
        let r = report(Cause::Session(SessionError::Timeout(Phase::Greeting)));
        let mx = Route::Mx {
            port: 25,
            resolver: mxsend::dns::Resolver::with_servers(vec!["127.0.0.1:53".parse().unwrap()]),
        };
        assert_eq!(after_delivery(&r, &mx, None), None);
    }
}
