//! Exit statuses: sysexits.h (BSD `sysexits(3)`), one table, one rule for mixed outcomes.
//!
//! Programs that call `sendmail` (cron, git send-email, mutt, scripts) branch on these numbers,
//! so every exit path of `mxsend` goes through [`Exit`], and the help text and the README are
//! generated from (or copied from) [`EXIT_STATUS_HELP`], written next to the table so the two
//! cannot drift.
//!
//! Before anything is sent, the first problem found decides: bad flags 64, a bad message 65,
//! an unreadable input file 66, a bad configuration 78. After a delivery, each recipient's
//! outcome maps to one status ([`for_recipient`]) and the run exits with the most urgent one
//! by [`PRECEDENCE`] ([`worst`]):
//!
//! 1. **75 (try again)** whenever any recipient was deferred or is ambiguous: retrying is the
//!    only thing that can still get that mail through, and what cron, a queue or a script
//!    should do. A down server, a refused connection or a DNS timeout is temporary (RFC 5321
//!    §4.5.4.1 has the sender retry, §4.2.1 makes 4yz transient), so it is 75 as well, not 69.
//!    An ambiguous outcome (the end of data was sent, its reply never came, RFC 1047) is 75
//!    too: the mail may be lost, and a duplicate is the lesser harm.
//! 2. Then problems a person must fix, the most general first: 76 (the server broke the
//!    protocol), 77 (authentication refused, or credentials that would go in plaintext), 69
//!    (the server refused the session for good: a 5xx greeting or EHLO), 65 (the message
//!    cannot be sent as it is: too large, needs 8BITMIME, SMTPUTF8 or BINARYMIME (a NUL or an
//!    over-long line) the server lacks), 68 (the domain does not exist or accepts no mail), 67 (a
//!    recipient refused).
//!
//! Temporary against permanent is the library's decision, made once
//! (`mxsend_core::session::SessionError::is_permanent`, RFC 5321 §4.2.1): this table never
//! turns a deferred outcome into a permanent status. A required TLS that is missing or fails
//! is deferred (75), as Postfix defers it: the server's administrator may fix it.
//! 3. 0 only when every recipient was delivered.

use std::fmt;

use mxsend_core::mx::NoRoute;
use mxsend_core::reply::Reply;
use mxsend_core::session::SessionError;

/// An exit status from sysexits.h.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// 0: every recipient was delivered (or, for other commands, success).
    Ok,
    /// 64 EX_USAGE: the command line is wrong (unknown flag, malformed address, bad value).
    Usage,
    /// 65 EX_DATAERR: the message is unusable (malformed, no recipients in its headers with
    /// `-t`, too large for the server, needs an extension the server lacks).
    DataErr,
    /// 66 EX_NOINPUT: an input file (body, attachment, message, CA file) cannot be read.
    NoInput,
    /// 67 EX_NOUSER: a recipient was refused by the server.
    NoUser,
    /// 68 EX_NOHOST: a recipient domain does not exist, or publishes a null MX.
    NoHost,
    /// 69 EX_UNAVAILABLE: the server refused the session, or cannot provide required TLS.
    Unavailable,
    /// 70 EX_SOFTWARE: a bug in mxsend.
    Software,
    /// 71 EX_OSERR: the operating system refused something (a temporary file, a process).
    OsErr,
    /// 74 EX_IOERR: reading the message from standard input, or writing output, failed.
    IoErr,
    /// 75 EX_TEMPFAIL: something was deferred or may not have arrived: try again later.
    TempFail,
    /// 76 EX_PROTOCOL: the server broke the SMTP protocol.
    Protocol,
    /// 77 EX_NOPERM: authentication failed, or would have sent credentials without TLS.
    NoPerm,
    /// 78 EX_CONFIG: the configuration file or an account is wrong, or no password source.
    Config,
}

/// The order in which outcomes of a delivery decide the exit status: earlier wins.
/// See the module documentation for why.
pub const PRECEDENCE: [Exit; 8] = [
    Exit::TempFail,
    Exit::Protocol,
    Exit::NoPerm,
    Exit::Unavailable,
    Exit::DataErr,
    Exit::NoHost,
    Exit::NoUser,
    Exit::Ok,
];

/// The exit status table as shown by `--help` and in the README.
pub const EXIT_STATUS_HELP: &str = "\
Exit status (sysexits.h):
   0  every recipient was delivered
  64  usage error: unknown flag, malformed address, bad value
  65  the message is unusable (malformed, too large for the server, needs 8BITMIME/SMTPUTF8)
  66  an input file (body, attachment, --message, CA file) cannot be read
  67  a recipient was rejected by the server
  68  a recipient domain does not exist (NXDOMAIN) or accepts no mail (null MX)
  69  the server refused the session for good (5xx greeting or EHLO)
  70  internal error (a bug in mxsend)
  71  operating system error (temporary file, password command)
  74  I/O error reading standard input or writing output
  75  temporary failure: deferred, server down, DNS timeout, required TLS failed, or outcome
      unknown; try again later
  76  the server broke the SMTP protocol
  77  authentication failed, or credentials would be sent without TLS
  78  configuration error (config file, account, password source)
With several recipients the most urgent status wins, in this order:
  75, 76, 77, 69, 65, 68, 67, 0
so 75 means: retry, something was not delivered for a reason that may pass. Problems found
before connecting (64, 65, 66, 78) stop mxsend before anything is sent.";

impl Exit {
    /// The number.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Usage => 64,
            Exit::DataErr => 65,
            Exit::NoInput => 66,
            Exit::NoUser => 67,
            Exit::NoHost => 68,
            Exit::Unavailable => 69,
            Exit::Software => 70,
            Exit::OsErr => 71,
            Exit::IoErr => 74,
            Exit::TempFail => 75,
            Exit::Protocol => 76,
            Exit::NoPerm => 77,
            Exit::Config => 78,
        }
    }

    /// The sysexits.h name, for `--json`.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Ok => "EX_OK",
            Exit::Usage => "EX_USAGE",
            Exit::DataErr => "EX_DATAERR",
            Exit::NoInput => "EX_NOINPUT",
            Exit::NoUser => "EX_NOUSER",
            Exit::NoHost => "EX_NOHOST",
            Exit::Unavailable => "EX_UNAVAILABLE",
            Exit::Software => "EX_SOFTWARE",
            Exit::OsErr => "EX_OSERR",
            Exit::IoErr => "EX_IOERR",
            Exit::TempFail => "EX_TEMPFAIL",
            Exit::Protocol => "EX_PROTOCOL",
            Exit::NoPerm => "EX_NOPERM",
            Exit::Config => "EX_CONFIG",
        }
    }

    /// Position in [`PRECEDENCE`]; statuses outside it (pre-delivery errors) come first,
    /// since they stop everything.
    fn rank(self) -> usize {
        PRECEDENCE
            .iter()
            .position(|&e| e == self)
            .map_or(0, |p| p + 1)
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(exit.code())
    }
}

/// The most urgent of `statuses` by [`PRECEDENCE`]; [`Exit::Ok`] for none.
pub fn worst(statuses: impl IntoIterator<Item = Exit>) -> Exit {
    statuses
        .into_iter()
        .min_by_key(|e| e.rank())
        .unwrap_or(Exit::Ok)
}

/// Where a recipient ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The server took responsibility for the message.
    Delivered,
    /// Refused for good.
    Rejected,
    /// Not delivered this time; may succeed later.
    Deferred,
    /// The end of data was sent and no reply came: it may or may not have been delivered.
    Ambiguous,
}

/// Why a recipient ended where it did: what the exit status depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The server's reply decided (250 to the end of data, or the 4yz/5yz that refused).
    Reply(Reply),
    /// No delivery attempt: DNS says where (not) to go.
    NoRoute(NoRoute),
    /// The session ended first.
    Session(SessionError),
    /// No connection could be made to any address (refused, unreachable, timed out).
    Connect(String),
    /// The TLS handshake that was required failed (typically: the certificate does not
    /// verify for the host name): the explanation, and whether the server answered in
    /// something other than TLS (a plaintext port).
    Tls {
        /// The cause and its fix, in flags.
        explained: String,
        /// The server's answer to the ClientHello was not TLS.
        not_tls: bool,
    },
    /// Refused by mxsend before sending: the message is larger than the server's SIZE, or
    /// needs 8BITMIME, SMTPUTF8 or BINARYMIME which the server lacks.
    Unsendable(String),
}

/// The exit status one recipient's outcome calls for. The library's outcome decides
/// temporary against permanent (its one rule: `SessionError::is_permanent`): deferred and
/// ambiguous are 75, whatever the cause, except a server that broke the protocol (76); a
/// rejection maps by its cause.
pub fn for_recipient(status: Status, cause: &Cause) -> Exit {
    match (status, cause) {
        (Status::Delivered, _) => Exit::Ok,
        (_, Cause::Session(e)) if e.is_protocol_violation() => Exit::Protocol,
        (Status::Deferred | Status::Ambiguous, _) => Exit::TempFail,
        (Status::Rejected, Cause::Reply(reply)) => for_rejecting_reply(reply),
        (Status::Rejected, Cause::NoRoute(_)) => Exit::NoHost,
        (Status::Rejected, Cause::Session(e)) if e.is_credentials_problem() => Exit::NoPerm,
        (Status::Rejected, Cause::Session(_) | Cause::Connect(_) | Cause::Tls { .. }) => {
            Exit::Unavailable
        }
        (Status::Rejected, Cause::Unsendable(_)) => Exit::DataErr,
    }
}

/// A 5yz reply: the enhanced code X.1.2 (bad destination system) and X.1.10 (null MX,
/// RFC 7505 §4.2) speak of the domain (68); anything else of the recipient (67).
fn for_rejecting_reply(reply: &Reply) -> Exit {
    match reply.enhanced() {
        Some(e) if e.subject == 1 && matches!(e.detail, 2 | 10) => Exit::NoHost,
        _ => Exit::NoUser,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mxsend_core::reply::ReplyCode;
    use mxsend_core::session::Phase;

    fn reply(code: u16, text: &str) -> Reply {
        Reply::new(ReplyCode::new(code).unwrap(), vec![text.to_string()])
    }

    #[test]
    fn every_status_has_a_distinct_code() {
        let all = [
            Exit::Ok,
            Exit::Usage,
            Exit::DataErr,
            Exit::NoInput,
            Exit::NoUser,
            Exit::NoHost,
            Exit::Unavailable,
            Exit::Software,
            Exit::OsErr,
            Exit::IoErr,
            Exit::TempFail,
            Exit::Protocol,
            Exit::NoPerm,
            Exit::Config,
        ];
        let mut codes: Vec<u8> = all.iter().map(|e| e.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn help_text_lists_every_code_in_the_precedence() {
        for exit in PRECEDENCE {
            assert!(
                EXIT_STATUS_HELP.contains(&format!("{:>4}  ", exit.code())),
                "{exit} missing from the help table"
            );
        }
        let order: Vec<String> = PRECEDENCE.iter().map(|e| e.code().to_string()).collect();
        assert!(EXIT_STATUS_HELP.contains(&order.join(", ")));
    }

    #[test]
    fn delivered_is_zero() {
        let cause = Cause::Reply(reply(250, "2.0.0 Ok: queued"));
        assert_eq!(for_recipient(Status::Delivered, &cause), Exit::Ok);
    }

    #[test]
    fn rejected_recipient_is_nouser() {
        let cause = Cause::Reply(reply(550, "5.1.1 <nobody@example.test>: unknown user"));
        assert_eq!(for_recipient(Status::Rejected, &cause), Exit::NoUser);
    }

    #[test]
    fn rejection_naming_the_destination_system_is_nohost() {
        let cause = Cause::Reply(reply(556, "5.1.10 domain does not accept mail"));
        assert_eq!(for_recipient(Status::Rejected, &cause), Exit::NoHost);
    }

    #[test]
    fn deferred_reply_is_tempfail() {
        let cause = Cause::Reply(reply(451, "4.3.0 try later"));
        assert_eq!(for_recipient(Status::Deferred, &cause), Exit::TempFail);
    }

    #[test]
    fn ambiguous_is_tempfail() {
        let cause = Cause::Session(SessionError::ConnectionClosed(Phase::DataTermination));
        assert_eq!(for_recipient(Status::Ambiguous, &cause), Exit::TempFail);
    }

    #[test]
    fn refused_connections_everywhere_are_tempfail() {
        let cause = Cause::Connect("connection refused".into());
        assert_eq!(for_recipient(Status::Deferred, &cause), Exit::TempFail);
    }

    #[test]
    fn null_mx_and_nxdomain_are_nohost() {
        for reason in [NoRoute::NullMx, NoRoute::NoSuchDomain] {
            let cause = Cause::NoRoute(reason);
            assert_eq!(for_recipient(Status::Rejected, &cause), Exit::NoHost);
        }
    }

    #[test]
    fn dns_trouble_is_tempfail() {
        let cause = Cause::NoRoute(NoRoute::TemporaryFailure);
        assert_eq!(for_recipient(Status::Deferred, &cause), Exit::TempFail);
    }

    #[test]
    fn protocol_violation_is_protocol_even_when_deferred() {
        let cause = Cause::Session(SessionError::UnsolicitedReply(reply(250, "what")));
        assert_eq!(for_recipient(Status::Deferred, &cause), Exit::Protocol);
    }

    #[test]
    fn refused_credentials_are_noperm() {
        let cause = Cause::Session(SessionError::AuthFailed(reply(535, "5.7.8 bad")));
        assert_eq!(for_recipient(Status::Rejected, &cause), Exit::NoPerm);
        let cause = Cause::Session(SessionError::AuthRequiresTls);
        assert_eq!(for_recipient(Status::Rejected, &cause), Exit::NoPerm);
    }

    #[test]
    fn a_deferred_outcome_is_tempfail_whatever_its_cause() {
        // No compensation: the library's outcome decides temporary against permanent.
        for cause in [
            Cause::Session(SessionError::StartTlsUnavailable),
            Cause::Session(SessionError::AuthFailed(reply(454, "4.7.0 try later"))),
            Cause::Tls {
                explained: "invalid peer certificate: UnknownIssuer".into(),
                not_tls: false,
            },
        ] {
            assert_eq!(
                for_recipient(Status::Deferred, &cause),
                Exit::TempFail,
                "{cause:?}"
            );
        }
    }

    #[test]
    fn a_refused_session_is_unavailable() {
        let cause = Cause::Session(SessionError::GreetingRefused(reply(554, "5.3.2 no")));
        assert_eq!(for_recipient(Status::Rejected, &cause), Exit::Unavailable);
    }

    #[test]
    fn message_too_large_is_dataerr() {
        let cause = Cause::Unsendable("too large".into());
        assert_eq!(for_recipient(Status::Rejected, &cause), Exit::DataErr);
    }

    #[test]
    fn any_deferral_makes_the_run_tempfail() {
        assert_eq!(
            worst([Exit::Ok, Exit::NoUser, Exit::TempFail, Exit::NoHost]),
            Exit::TempFail
        );
    }

    #[test]
    fn a_rejection_among_deliveries_is_nouser() {
        assert_eq!(worst([Exit::Ok, Exit::NoUser, Exit::Ok]), Exit::NoUser);
    }

    #[test]
    fn unknown_domain_beats_unknown_user() {
        assert_eq!(worst([Exit::NoUser, Exit::NoHost]), Exit::NoHost);
    }

    #[test]
    fn no_recipients_is_ok() {
        assert_eq!(worst([]), Exit::Ok);
    }
}
