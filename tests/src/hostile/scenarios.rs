//! The hostile-server scenarios of issue 9, written once for every adapter.
//!
//! Each scenario takes `&dyn Adapter` (see [`crate::scenarios`]) and asserts the exact
//! outcome of a delivery through the real adapter against a [`HostileServer`] (or Postfix's
//! smtp-sink with its fault flags), plus what the client did or did not send. A test file
//! instantiates a group with one macro call:
//!
//! - `hostile_scenarios!(Blocking)`: replies, disconnects, deadlines, STARTTLS, certificates,
//!   smuggling, caller injection;
//! - `hostile_memory_scenarios!(Blocking)`: endless replies and lines, with the process's peak
//!   memory checked (in a test binary of their own, so other tests do not disturb the
//!   measurement);
//! - `hostile_sink_scenarios!(Blocking)`: smtp-sink's `-A`, `-W`, `-w`, and the `-q`/`-Q`/
//!   `-r`/`-f` cases the shared sink suite does not have.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mxsend::protocol::address::{Domain, Mailbox, ReversePath};
use mxsend::protocol::message::{Body, DateTime, MailboxHeader, MessageSpec, MessageWriter};
use mxsend::protocol::reply::{ReplyError, MAX_LINES, MAX_LINE_LEN, MAX_REPLY_LEN};
use mxsend::protocol::sasl::SaslError;
use mxsend::protocol::session::{Failure, Outcome, Phase, SessionError, Timeouts, UsageError};
use mxsend::tls::Roots;
use mxsend::{Error, Relay, Report, TlsMode, Unreached};

use super::pki::{Pki, ServerCert};
use super::{peak_rss_kib, HostileServer, Record, Script, Step};
use crate::scenarios::{message, message_with_body, plain_relay, Adapter, Captured};
use crate::smtp_sink::SmtpSink;

/// Instantiate the hostile-server scenarios for an adapter.
#[macro_export]
macro_rules! hostile_scenarios {
    ($adapter:expr) => {
        $crate::hostile_scenario_tests!($adapter;
            wrong_code_class_at_each_command,
            service_closing_at_each_command,
            malformed_reply_at_each_command,
            empty_reply_at_each_command,
            bare_lf_replies_are_accepted_at_each_command,
            reply_glued_to_354_defers_and_sends_no_content,
            disconnect_after_each_command,
            disconnect_in_the_middle_of_the_body_defers,
            trickled_greeting_is_cut_off_at_the_greeting_deadline,
            trickled_ehlo_reply_is_cut_off_at_the_command_deadline,
            trickled_end_of_data_reply_is_ambiguous_at_the_deadline,
            required_tls_not_offered_sends_no_auth_and_no_mail,
            required_tls_refused_with_502_sends_no_auth_and_no_mail,
            required_tls_refused_with_454_sends_no_auth_and_no_mail,
            required_tls_answered_354_sends_no_auth_and_no_mail,
            starttls_reply_with_injected_plaintext_aborts,
            verifying_modes_accept_the_good_certificate,
            verifying_modes_refuse_bad_certificates,
            smuggling_vectors_in_the_body_leave_one_end_of_data,
            caller_cr_lf_nul_in_commands_is_refused_before_connecting,
            caller_nul_in_credentials_never_reaches_the_wire,
            caller_cr_lf_nul_in_headers_is_refused,
            scram_forged_server_signature_sends_nothing_but_cancel_and_quit,
        );
    };
}

/// Instantiate the memory-bound scenarios for an adapter (give them a test binary of their
/// own: they read the process's peak memory).
#[macro_export]
macro_rules! hostile_memory_scenarios {
    ($adapter:expr) => {
        $crate::hostile_scenario_tests!($adapter;
            endless_reply_fails_at_the_line_count_limit,
            endless_reply_of_long_lines_fails_at_the_reply_size_limit,
            endless_line_fails_at_the_line_length_limit,
        );
    };
}

/// Instantiate the smtp-sink fault scenarios for an adapter.
#[macro_export]
macro_rules! hostile_sink_scenarios {
    ($adapter:expr) => {
        $crate::hostile_scenario_tests!($adapter;
            sink_abort_after_data_rejects_the_message,
            sink_abort_after_data_with_a_large_body_ends_the_session,
            sink_delayed_mail_reply_past_the_deadline_defers,
            sink_delayed_rcpt_reply_within_the_deadline_delivers,
            sink_delayed_data_reply_past_the_deadline_defers,
            sink_delayed_end_of_data_reply_past_the_deadline_is_ambiguous,
            sink_out_of_order_replies_are_matched_in_order,
            sink_221_for_the_final_dot_is_ambiguous,
            sink_disconnect_at_ehlo_defers,
            sink_disconnect_at_rcpt_defers,
            sink_disconnect_at_data_defers,
            sink_service_closing_at_ehlo_defers,
            sink_service_closing_after_end_of_data_defers_with_421,
            sink_4xx_to_end_of_data_defers,
            sink_5xx_to_end_of_data_rejects,
        );
    };
}

/// `#[test]`s calling `mxsend_tests::hostile::scenarios::NAME(&adapter)`.
#[doc(hidden)]
#[macro_export]
macro_rules! hostile_scenario_tests {
    ($adapter:expr; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::hostile::scenarios::$name(&$adapter)
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// The conversation the scripts are cut from

const GREETING: &[u8] = b"220 hostile.example ESMTP\r\n";
/// No PIPELINING: the client goes lock-step, so each reply answers exactly one command.
const EHLO_REPLY: &[u8] = b"250-hostile.example\r\n250 8BITMIME\r\n";
/// STARTTLS and AUTH offered.
const EHLO_TLS: &[u8] =
    b"250-hostile.example\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
/// After TLS: AUTH offered.
const EHLO_AUTH: &[u8] = b"250-hostile.example\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n";
const PASSWORD: &str = "s3cret-hostile";

/// A command of the transaction, in the order sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Ehlo,
    Mail,
    Rcpt,
    Data,
    EndOfData,
}

const COMMANDS: [Cmd; 5] = [Cmd::Ehlo, Cmd::Mail, Cmd::Rcpt, Cmd::Data, Cmd::EndOfData];

impl Cmd {
    fn read(self) -> Step {
        match self {
            Cmd::Ehlo => Step::Expect("EHLO "),
            Cmd::Mail => Step::Expect("MAIL FROM:<"),
            Cmd::Rcpt => Step::Expect("RCPT TO:<"),
            Cmd::Data => Step::Expect("DATA"),
            Cmd::EndOfData => Step::ReadUntilDot,
        }
    }

    fn good_reply(self) -> &'static [u8] {
        match self {
            Cmd::Ehlo => EHLO_REPLY,
            Cmd::Mail => b"250 2.1.0 sender ok\r\n",
            Cmd::Rcpt => b"250 2.1.5 recipient ok\r\n",
            Cmd::Data => b"354 go ahead\r\n",
            Cmd::EndOfData => b"250 2.0.0 queued as HOSTILE\r\n",
        }
    }

    fn phase(self) -> Phase {
        match self {
            Cmd::Ehlo => Phase::Hello,
            Cmd::Mail => Phase::Mail,
            Cmd::Rcpt => Phase::Rcpt,
            Cmd::Data => Phase::DataInitiation,
            Cmd::EndOfData => Phase::DataTermination,
        }
    }

    /// The first line of the command on the wire, to find it in a record (the end of data
    /// is the lone dot).
    fn line_prefix(self) -> &'static str {
        match self {
            Cmd::Ehlo => "EHLO ",
            Cmd::Mail => "MAIL FROM:",
            Cmd::Rcpt => "RCPT TO:",
            Cmd::Data => "DATA",
            Cmd::EndOfData => ".",
        }
    }
}

/// The lock-step conversation, with `reply` instead of the good reply to `at`; the script
/// stops there (and records what the client sends until it hangs up) unless `go_on`.
fn lockstep(at: Option<(Cmd, &[u8])>, go_on: bool) -> Script {
    let mut script = vec![Step::Send(GREETING.to_vec())];
    for cmd in COMMANDS {
        script.push(cmd.read());
        match at {
            Some((hostile, reply)) if hostile == cmd => {
                script.push(Step::Send(reply.to_vec()));
                if !go_on {
                    return script;
                }
            }
            _ => script.push(Step::Send(cmd.good_reply().to_vec())),
        }
    }
    script.push(Step::Expect("QUIT"));
    script.push(Step::Send(b"221 2.0.0 bye\r\n".to_vec()));
    script
}

/// The good conversation after the greeting and EHLO, from MAIL to QUIT.
fn transaction_steps() -> Vec<Step> {
    let mut steps = Vec::new();
    for cmd in &COMMANDS[1..] {
        steps.push(cmd.read());
        steps.push(Step::Send(cmd.good_reply().to_vec()));
    }
    steps.push(Step::Expect("QUIT"));
    steps.push(Step::Send(b"221 2.0.0 bye\r\n".to_vec()));
    steps
}

/// A plaintext relay to the hostile server with every deadline at `timeout`.
fn relay(server: &HostileServer, captured: &Captured, timeout: Duration) -> Relay {
    let mut relay = plain_relay(server.addr(), captured);
    relay = relay.timeouts(all_timeouts(timeout));
    relay
}

fn all_timeouts(timeout: Duration) -> Timeouts {
    Timeouts {
        greeting: timeout,
        command: timeout,
        mail: timeout,
        rcpt: timeout,
        data_initiation: timeout,
        data_block: timeout,
        data_termination: timeout,
        quit: timeout,
    }
}

/// Send one message to `a@example.com`; the report of that one recipient.
fn send_one(adapter: &dyn Adapter, relay: &Relay) -> Report {
    let report = adapter
        .send(relay, &message(&["a@example.com"]))
        .unwrap_or_else(|e| panic!("{}: send failed: {e}", adapter.name()));
    assert_eq!(report.recipients.len(), 1);
    report
}

fn outcome(report: &Report) -> &Outcome {
    &report.recipients[0].outcome
}

fn reply_code(failure: &Failure) -> Option<u16> {
    match failure {
        Failure::Reply(r) | Failure::SenderRefused(r) => Some(r.code().get()),
        _ => None,
    }
}

/// The command lines the client sent: every line but the message content (from the line
/// after `DATA` to the lone dot, which is kept as the end-of-data "command").
fn command_lines(record: &Record) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_data = false;
    for line in record.lines() {
        if in_data {
            if line == "." {
                in_data = false;
                commands.push(line);
            }
            continue;
        }
        in_data = line == "DATA";
        commands.push(line);
    }
    commands
}

/// The commands the client sent after the first command starting with `after` (the end of
/// data is the lone dot, `.`).
fn commands_after(record: &Record, after: &str) -> Vec<String> {
    let commands = command_lines(record);
    let at = commands.iter().position(|l| {
        if after == "." {
            l == "."
        } else {
            l.starts_with(after)
        }
    });
    match at {
        Some(at) => commands[at + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The offset of the first CR not followed by LF, or LF not preceded by CR.
fn first_bare_cr_or_lf(bytes: &[u8]) -> Option<usize> {
    bytes.iter().enumerate().position(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    })
}

/// Collects the mismatches of a table-driven scenario and fails once with all of them.
#[derive(Default)]
struct Table(Vec<String>);

impl Table {
    fn check(&mut self, ok: bool, case: impl FnOnce() -> String) {
        if !ok {
            self.0.push(case());
        }
    }

    fn finish(self, adapter: &dyn Adapter) {
        assert!(
            self.0.is_empty(),
            "{}: {} case(s) failed:\n{}",
            adapter.name(),
            self.0.len(),
            self.0.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Wrong replies, table-driven over EHLO, MAIL, RCPT, DATA and the end of data

/// Runs the lock-step conversation with `reply(cmd)` at each command, checks the outcome
/// with `expect`, and that nothing but QUIT followed the failed command (unless `go_on`).
fn each_command(
    adapter: &dyn Adapter,
    kind: &str,
    reply: impl Fn(Cmd) -> Vec<u8>,
    go_on: bool,
    expect: impl Fn(Cmd, &Outcome) -> bool,
) {
    let mut table = Table::default();
    for cmd in COMMANDS {
        let hostile = reply(cmd);
        let server = HostileServer::start(lockstep(Some((cmd, &hostile)), go_on));
        let captured = Captured::default();
        let report = send_one(adapter, &relay(&server, &captured, Duration::from_secs(5)));
        let record = server.only_record();
        let got = outcome(&report);
        table.check(expect(cmd, got), || {
            format!(
                "{kind} at {cmd:?}: outcome {got:?}\n  sent: {:?}",
                record.text()
            )
        });
        if !go_on {
            let after = commands_after(&record, cmd.line_prefix());
            table.check(after.iter().all(|c| c == "QUIT"), || {
                format!("{kind} at {cmd:?}: sent after the failed command: {after:?}")
            });
        }
        if cmd == Cmd::Data && !go_on {
            // No DATA go-ahead, so no message content.
            table.check(!record.text().contains("Hello."), || {
                format!("{kind} at DATA: message content sent: {:?}", record.text())
            });
        }
    }
    table.finish(adapter);
}

/// A reply from the wrong class (354 to EHLO, MAIL, RCPT and the end of data; 250 to
/// DATA): a protocol violation, deferred with the reply; after the whole message went out
/// (end of data) the message may have been taken, so ambiguous.
pub fn wrong_code_class_at_each_command(adapter: &dyn Adapter) {
    each_command(
        adapter,
        "wrong code class",
        |cmd| match cmd {
            Cmd::Data => b"250 2.0.0 ok\r\n".to_vec(),
            _ => b"354 go ahead\r\n".to_vec(),
        },
        false,
        |cmd, got| match (cmd, got) {
            (Cmd::EndOfData, Outcome::Ambiguous(failure)) => reply_code(failure) == Some(354),
            (
                _,
                Outcome::Deferred(Failure::Session(SessionError::UnexpectedReply { phase, reply })),
            ) => {
                *phase == cmd.phase()
                    && reply.code().get() == if cmd == Cmd::Data { 250 } else { 354 }
            }
            _ => false,
        },
    );
}

/// 421 at any command: deferred with the 421 (at EHLO, where no transaction runs yet,
/// deferred by the session's `ServiceClosing`); even after the end of data, a 421 says the
/// message was not taken.
pub fn service_closing_at_each_command(adapter: &dyn Adapter) {
    each_command(
        adapter,
        "421",
        |_| b"421 4.3.2 service shutting down\r\n".to_vec(),
        false,
        |cmd, got| match (cmd, got) {
            (Cmd::Ehlo, Outcome::Deferred(Failure::Session(SessionError::ServiceClosing(r)))) => {
                r.code().get() == 421
            }
            (Cmd::Ehlo, _) => false,
            (_, Outcome::Deferred(failure)) => reply_code(failure) == Some(421),
            _ => false,
        },
    );
}

fn malformed_outcome(cmd: Cmd, got: &Outcome) -> bool {
    let failure = match (cmd, got) {
        (Cmd::EndOfData, Outcome::Ambiguous(failure)) => failure,
        (Cmd::EndOfData, _) => return false,
        (_, Outcome::Deferred(failure)) => failure,
        _ => return false,
    };
    matches!(
        failure,
        Failure::Session(SessionError::MalformedReply(ReplyError::MalformedCode(_)))
    )
}

/// A line that does not start with a code (`2x0 ...`): a malformed reply, deferred, or
/// ambiguous after the end of data.
pub fn malformed_reply_at_each_command(adapter: &dyn Adapter) {
    each_command(
        adapter,
        "malformed",
        |_| b"2x0 what is this\r\n".to_vec(),
        false,
        malformed_outcome,
    );
}

/// An empty line as the reply: malformed, like any line without a code.
pub fn empty_reply_at_each_command(adapter: &dyn Adapter) {
    each_command(
        adapter,
        "empty",
        |_| b"\r\n".to_vec(),
        false,
        malformed_outcome,
    );
}

/// The right reply ended by bare LFs: accepted (a documented leniency of the reply
/// parser), so the message is delivered.
pub fn bare_lf_replies_are_accepted_at_each_command(adapter: &dyn Adapter) {
    each_command(
        adapter,
        "bare LF",
        |cmd| {
            String::from_utf8_lossy(cmd.good_reply())
                .replace("\r\n", "\n")
                .into_bytes()
        },
        true,
        |_, got| matches!(got, Outcome::Delivered(r) if r.code().get() == 250),
    );
}

/// DATA answered by 354 and a 550 in the same write, before any body could be sent: the
/// 550 answers no command yet (a protocol violation, `UnsolicitedReply`): deferred, and not
/// one octet of the message goes out.
pub fn reply_glued_to_354_defers_and_sends_no_content(adapter: &dyn Adapter) {
    let mut script = vec![Step::Send(GREETING.to_vec())];
    for cmd in &COMMANDS[..3] {
        script.push(cmd.read());
        script.push(Step::Send(cmd.good_reply().to_vec()));
    }
    script.push(Cmd::Data.read());
    script.push(Step::Send(
        b"354 go ahead\r\n550 5.7.0 changed my mind\r\n".to_vec(),
    ));
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let report = send_one(adapter, &relay(&server, &captured, Duration::from_secs(5)));
    let record = server.only_record();
    assert!(
        matches!(
            outcome(&report),
            Outcome::Deferred(Failure::Session(SessionError::UnsolicitedReply(r))) if r.code().get() == 550
        ),
        "{}: {report:?}",
        adapter.name()
    );
    assert!(
        !record.text().contains("Hello."),
        "{}: content sent: {:?}",
        adapter.name(),
        record.text()
    );
    assert_eq!(
        commands_after(&record, "DATA"),
        Vec::<String>::new(),
        "{}",
        adapter.name()
    );
}

// ---------------------------------------------------------------------------------------------
// Disconnects

/// The server hangs up right after reading each command (and before the greeting): deferred
/// with the phase, except after the final dot, where the message may have been taken:
/// ambiguous.
pub fn disconnect_after_each_command(adapter: &dyn Adapter) {
    let mut table = Table::default();
    let mut cases: Vec<(Option<Cmd>, Script)> = vec![(None, vec![Step::Close])];
    for cmd in COMMANDS {
        let mut script = vec![Step::Send(GREETING.to_vec())];
        for earlier in COMMANDS.iter().take_while(|c| **c != cmd) {
            script.push(earlier.read());
            script.push(Step::Send(earlier.good_reply().to_vec()));
        }
        script.push(cmd.read());
        script.push(Step::Close);
        cases.push((Some(cmd), script));
    }
    for (cmd, script) in cases {
        let server = HostileServer::start(script);
        let captured = Captured::default();
        let report = send_one(adapter, &relay(&server, &captured, Duration::from_secs(5)));
        let got = outcome(&report);
        let phase = cmd.map_or(Phase::Greeting, Cmd::phase);
        let closed = Failure::Session(SessionError::ConnectionClosed(phase));
        let ok = match cmd {
            Some(Cmd::EndOfData) => *got == Outcome::Ambiguous(closed),
            _ => *got == Outcome::Deferred(closed),
        };
        table.check(ok, || format!("disconnect after {cmd:?}: outcome {got:?}"));
    }
    table.finish(adapter);
}

/// The server reads a little of a large body and hangs up: deferred (the end of data never
/// went out), in the body's phase.
pub fn disconnect_in_the_middle_of_the_body_defers(adapter: &dyn Adapter) {
    let mut script = vec![Step::Send(GREETING.to_vec())];
    for cmd in &COMMANDS[..4] {
        script.push(cmd.read());
        script.push(Step::Send(cmd.good_reply().to_vec()));
    }
    script.push(Step::ReadBytes(1000));
    script.push(Step::Close);
    let server = HostileServer::start(script);
    let body: Vec<u8> = (0..200_000u32)
        .flat_map(|i| {
            format!("line {i:08} of a body the server will not finish reading\r\n").into_bytes()
        })
        .collect();
    let captured = Captured::default();
    let report = adapter
        .send(
            &relay(&server, &captured, Duration::from_secs(5)),
            &message_with_body(&["a@example.com"], body),
        )
        .expect("send");
    let got = outcome(&report);
    assert_eq!(
        *got,
        Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(
            Phase::DataBlock
        ))),
        "{}",
        adapter.name()
    );
}

// ---------------------------------------------------------------------------------------------
// Deadlines: a server that trickles one octet per second

const DEADLINE: Duration = Duration::from_secs(2);
/// Time allowed past a deadline: scheduling, the QUIT courtesy write, closing.
const SLACK: Duration = Duration::from_millis(1500);

fn trickle_case(adapter: &dyn Adapter, script: Script, expected: Outcome) {
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let relay = relay(&server, &captured, DEADLINE);
    let started = Instant::now();
    let report = send_one(adapter, &relay);
    let elapsed = started.elapsed();
    assert_eq!(*outcome(&report), expected, "{}", adapter.name());
    assert!(
        elapsed >= DEADLINE && elapsed <= DEADLINE + SLACK,
        "{}: cut off after {elapsed:?}, deadline {DEADLINE:?}",
        adapter.name()
    );
}

fn trickle(bytes: &[u8]) -> Step {
    Step::Trickle(bytes.to_vec(), Duration::from_secs(1))
}

/// The greeting at one octet per second: cut off at the greeting deadline (2 s), although
/// octets keep arriving (partial input never extends a deadline).
pub fn trickled_greeting_is_cut_off_at_the_greeting_deadline(adapter: &dyn Adapter) {
    trickle_case(
        adapter,
        vec![trickle(GREETING)],
        Outcome::Deferred(Failure::Session(SessionError::Timeout(Phase::Greeting))),
    );
}

/// EHLO's reply at one octet per second: cut off at the command deadline.
pub fn trickled_ehlo_reply_is_cut_off_at_the_command_deadline(adapter: &dyn Adapter) {
    trickle_case(
        adapter,
        vec![
            Step::Send(GREETING.to_vec()),
            Step::Expect("EHLO"),
            trickle(EHLO_REPLY),
        ],
        Outcome::Deferred(Failure::Session(SessionError::Timeout(Phase::Hello))),
    );
}

/// The reply to the final dot at one octet per second: cut off at the end-of-data deadline,
/// and ambiguous (the whole message went out).
pub fn trickled_end_of_data_reply_is_ambiguous_at_the_deadline(adapter: &dyn Adapter) {
    let mut script = vec![Step::Send(GREETING.to_vec())];
    for cmd in &COMMANDS[..4] {
        script.push(cmd.read());
        script.push(Step::Send(cmd.good_reply().to_vec()));
    }
    script.push(Step::ReadUntilDot);
    script.push(trickle(Cmd::EndOfData.good_reply()));
    trickle_case(
        adapter,
        script,
        Outcome::Ambiguous(Failure::Session(SessionError::Timeout(
            Phase::DataTermination,
        ))),
    );
}

// ---------------------------------------------------------------------------------------------
// STARTTLS under `required`, with credentials: no AUTH, no MAIL ever leaves the client

fn required_tls_relay(server: &HostileServer, captured: &Captured) -> Relay {
    relay(server, captured, Duration::from_secs(5))
        .tls(TlsMode::Required)
        .credentials("alice", PASSWORD)
        .roots(Roots::Empty)
        .ca_file(Pki::get().ca_file.clone())
}

/// Nothing in `record` carries credentials or a transaction.
fn assert_no_auth_no_mail(adapter: &dyn Adapter, record: &Record) {
    for forbidden in ["AUTH", "MAIL", "RCPT", "DATA"] {
        assert!(
            record.commands(forbidden).is_empty(),
            "{}: {forbidden} sent: {:?}",
            adapter.name(),
            record.text()
        );
    }
    assert!(
        !record.text().contains(PASSWORD),
        "{}: password sent",
        adapter.name()
    );
}

fn starttls_refusal(
    adapter: &dyn Adapter,
    ehlo: &[u8],
    starttls_reply: Option<&[u8]>,
) -> (Outcome, Record) {
    let mut script = vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO"),
        Step::Send(ehlo.to_vec()),
    ];
    if let Some(reply) = starttls_reply {
        script.push(Step::Expect("STARTTLS"));
        script.push(Step::Send(reply.to_vec()));
    }
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let report = send_one(adapter, &required_tls_relay(&server, &captured));
    let record = server.only_record();
    assert_no_auth_no_mail(adapter, &record);
    assert_eq!(
        server.accepted(),
        1,
        "{}: no second connection",
        adapter.name()
    );
    (outcome(&report).clone(), record)
}

/// STARTTLS not offered: deferred (`StartTlsUnavailable`); only EHLO and QUIT sent.
pub fn required_tls_not_offered_sends_no_auth_and_no_mail(adapter: &dyn Adapter) {
    let (got, record) = starttls_refusal(adapter, EHLO_AUTH, None);
    assert_eq!(
        got,
        Outcome::Deferred(Failure::Session(SessionError::StartTlsUnavailable))
    );
    let commands: Vec<String> = record.lines().iter().map(|l| l[..4].to_string()).collect();
    assert_eq!(commands, ["EHLO", "QUIT"], "{}", adapter.name());
}

fn assert_refused_with(got: &Outcome, code: u16) {
    assert!(
        matches!(got, Outcome::Deferred(Failure::Session(SessionError::StartTlsRefused(r))) if r.code().get() == code),
        "{got:?}"
    );
}

/// STARTTLS answered 502: deferred (`StartTlsRefused`).
pub fn required_tls_refused_with_502_sends_no_auth_and_no_mail(adapter: &dyn Adapter) {
    let (got, _) = starttls_refusal(adapter, EHLO_TLS, Some(b"502 5.5.1 not implemented\r\n"));
    assert_refused_with(&got, 502);
}

/// STARTTLS answered 454: deferred (`StartTlsRefused`).
pub fn required_tls_refused_with_454_sends_no_auth_and_no_mail(adapter: &dyn Adapter) {
    let (got, _) = starttls_refusal(adapter, EHLO_TLS, Some(b"454 4.7.0 TLS not available\r\n"));
    assert_refused_with(&got, 454);
}

/// STARTTLS answered 354: a protocol violation, deferred.
pub fn required_tls_answered_354_sends_no_auth_and_no_mail(adapter: &dyn Adapter) {
    let (got, _) = starttls_refusal(adapter, EHLO_TLS, Some(b"354 go ahead\r\n"));
    assert!(
        matches!(
            &got,
            Outcome::Deferred(Failure::Session(SessionError::UnexpectedReply { phase: Phase::StartTls, reply }))
                if reply.code().get() == 354
        ),
        "{}: {got:?}",
        adapter.name()
    );
}

/// STARTTLS's 220 with plaintext injected behind it in the same write (CVE-2011-0411
/// class): the session aborts with `DataAfterStartTls`; not one more octet leaves the
/// client after the STARTTLS line: no handshake, no AUTH, no MAIL, not even QUIT.
pub fn starttls_reply_with_injected_plaintext_aborts(adapter: &dyn Adapter) {
    let (got, record) = starttls_refusal(
        adapter,
        EHLO_TLS,
        Some(b"220 go ahead\r\n250-injected\r\n250 AUTH PLAIN LOGIN\r\n"),
    );
    let sent_after_starttls = record
        .text()
        .split_once("STARTTLS\r\n")
        .map(|(_, rest)| rest.len());
    assert_eq!(
        sent_after_starttls,
        Some(0),
        "{}: octets after STARTTLS: {:?}",
        adapter.name(),
        record.text()
    );
    let text = record.text();
    let ehlo_end = text.find("\r\n").map_or(0, |i| i + 2);
    assert_eq!(
        &text[ehlo_end..],
        "STARTTLS\r\n",
        "{}: {text:?}",
        adapter.name()
    );
    assert_eq!(
        got,
        Outcome::Deferred(Failure::Session(SessionError::DataAfterStartTls)),
        "{}",
        adapter.name(),
    );
}

// ---------------------------------------------------------------------------------------------
// Certificates under the verifying modes

fn tls_script(mode: TlsMode, cert: ServerCert) -> Script {
    let config = Pki::get().server_config(cert);
    let mut script = match mode {
        TlsMode::Implicit => vec![Step::StartTls(config), Step::Send(GREETING.to_vec())],
        _ => vec![
            Step::Send(GREETING.to_vec()),
            Step::Expect("EHLO"),
            Step::Send(EHLO_TLS.to_vec()),
            Step::Expect("STARTTLS"),
            Step::Send(b"220 2.0.0 ready to start TLS\r\n".to_vec()),
            Step::StartTls(config),
        ],
    };
    script.extend([
        Step::Expect("EHLO"),
        Step::Send(EHLO_AUTH.to_vec()),
        Step::Expect("AUTH PLAIN "),
        Step::Send(b"235 2.7.0 authenticated\r\n".to_vec()),
    ]);
    script.extend(transaction_steps());
    script
}

fn tls_relay(server: &HostileServer, captured: &Captured, mode: TlsMode) -> Relay {
    let mut relay = required_tls_relay(server, captured).tls(mode);
    relay = relay.tls(mode);
    relay
}

/// Control for the refusals below: the test CA's certificate for 127.0.0.1 is accepted
/// under `required` and `implicit`, and the message is delivered (with AUTH inside TLS).
pub fn verifying_modes_accept_the_good_certificate(adapter: &dyn Adapter) {
    for mode in [TlsMode::Required, TlsMode::Implicit] {
        let server = HostileServer::start(tls_script(mode, ServerCert::Good));
        let captured = Captured::default();
        let report = send_one(adapter, &tls_relay(&server, &captured, mode));
        let record = server.only_record();
        assert!(
            report.all_delivered(),
            "{} {mode}: {report:?}\n{record:#?}",
            adapter.name()
        );
        assert!(record.completed, "{mode}: {record:#?}");
        let tls_from = record.tls_from.expect("TLS started");
        let before_tls = String::from_utf8_lossy(&record.received[..tls_from]).into_owned();
        assert!(!before_tls.contains("AUTH"), "{mode}: AUTH before TLS");
        assert!(captured.lines().contains(&"tls verified=true".to_string()));
    }
}

/// Self-signed, unknown CA, wrong host name, expired: each refused under `required` and
/// `implicit`; deferred with the TLS failure, one connection only (no plaintext retry), and
/// not one octet of SMTP after the handshake started.
pub fn verifying_modes_refuse_bad_certificates(adapter: &dyn Adapter) {
    let mut table = Table::default();
    for mode in [TlsMode::Required, TlsMode::Implicit] {
        for cert in ServerCert::BAD {
            let server = HostileServer::start(tls_script(mode, cert));
            let captured = Captured::default();
            let report = send_one(adapter, &tls_relay(&server, &captured, mode));
            let record = server.only_record();
            let r = &report.recipients[0];
            let case = format!("{mode} {cert:?}");
            table.check(
                matches!(&r.outcome, Outcome::Deferred(Failure::Unreached))
                    && matches!(r.unreached, Some(Unreached::Tls(_))),
                || format!("{case}: {r:?}"),
            );
            table.check(
                record.tls_error.is_some() && record.tls_from.is_none(),
                || format!("{case}: the server's handshake did not fail: {record:?}"),
            );
            let expected_plain = match mode {
                TlsMode::Implicit => String::new(),
                _ => format!(
                    "{}STARTTLS\r\n",
                    record
                        .lines()
                        .first()
                        .map_or(String::new(), |l| format!("{l}\r\n"))
                ),
            };
            table.check(record.text() == expected_plain, || {
                format!("{case}: plaintext sent: {:?}", record.text())
            });
            let after = String::from_utf8_lossy(&record.after_tls_failure).into_owned();
            table.check(
                !["EHLO", "AUTH", "MAIL", "QUIT", PASSWORD]
                    .iter()
                    .any(|w| after.contains(w)),
                || format!("{case}: SMTP after the failed handshake: {after:?}"),
            );
            table.check(server.accepted() == 1, || {
                format!("{case}: {} connections", server.accepted())
            });
        }
    }
    table.finish(adapter);
}

// ---------------------------------------------------------------------------------------------
// Smuggling

/// The SMTP smuggling vectors: line ends a lenient server might take for the end of data.
pub const SMUGGLING_VECTORS: [&[u8]; 7] = [
    b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\r\n", b"\r\n.\r", b"\r\r\n",
];

/// A body carrying each smuggling vector, followed by a whole smuggled transaction: the
/// server receives no bare CR or LF, exactly one end-of-data line, and after it only QUIT.
pub fn smuggling_vectors_in_the_body_leave_one_end_of_data(adapter: &dyn Adapter) {
    let mut table = Table::default();
    for vector in SMUGGLING_VECTORS {
        let mut body = b"From: alice@example.org\r\nSubject: smuggling\r\n\r\nfirst line".to_vec();
        body.extend_from_slice(vector);
        body.extend_from_slice(
            b"MAIL FROM:<mallory@example.net>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nsmuggled",
        );
        body.extend_from_slice(vector);
        body.extend_from_slice(b"last line\r\n");
        let server = HostileServer::start(lockstep(None, true));
        let captured = Captured::default();
        let report = adapter
            .send(
                &relay(&server, &captured, Duration::from_secs(5)),
                &message_with_body(&["a@example.com"], body),
            )
            .expect("send");
        let record = server.only_record();
        let case = format!("vector {:?}", String::from_utf8_lossy(vector));
        table.check(report.all_delivered() && record.completed, || {
            format!("{case}: {report:?} {record:?}")
        });
        let bare = first_bare_cr_or_lf(&record.received);
        table.check(bare.is_none(), || {
            format!("{case}: bare CR or LF at {bare:?} in {:?}", record.text())
        });
        let lines = record.lines();
        let dots = lines.iter().filter(|l| *l == ".").count();
        table.check(dots == 1, || format!("{case}: {dots} end-of-data lines"));
        let after = commands_after(&record, ".");
        table.check(after == ["QUIT"], || {
            format!("{case}: after the end of data: {after:?}")
        });
        let commands = command_lines(&record);
        table.check(
            commands
                .iter()
                .map(|c| &c[..4.min(c.len())])
                .eq(["EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT"]),
            || format!("{case}: commands {commands:?}"),
        );
    }
    table.finish(adapter);
}

// ---------------------------------------------------------------------------------------------
// CR, LF and NUL from the caller

/// What a caller might slip into a value to start a command or header of its own.
pub const INJECTIONS: [&str; 5] = ["\r", "\n", "\0", "\r\nRSET", "\nRCPT TO:<x@example.net>"];

/// CR, LF or NUL in what becomes a command: addresses, the EHLO name and the DSN envelope
/// id are refused before any connection (the server never sees one).
pub fn caller_cr_lf_nul_in_commands_is_refused_before_connecting(adapter: &dyn Adapter) {
    for bad in INJECTIONS {
        // Addresses and names cannot even be built.
        assert!(Mailbox::parse(&format!("a{bad}@example.com")).is_err());
        assert!(Mailbox::parse(&format!("a@example.com{bad}")).is_err());
        assert!(ReversePath::parse(&format!("a{bad}@example.org")).is_err());
        assert!(Domain::parse(&format!("client{bad}.example")).is_err());

        let server = HostileServer::start(lockstep(None, true));
        let captured = Captured::default();
        let mut message = message(&["a@example.com"]);
        message.envelope.dsn.envid = Some(format!("id{bad}1"));
        let result = adapter.send(&relay(&server, &captured, Duration::from_secs(5)), &message);
        assert!(
            matches!(
                result,
                Err(Error::InvalidMessage {
                    message: 0,
                    error: UsageError::InvalidEnvelope(_)
                })
            ),
            "{} envid {bad:?}: {result:?}",
            adapter.name()
        );
        assert_eq!(
            server.accepted(),
            0,
            "{}: a connection was made",
            adapter.name()
        );
        assert!(captured.starting_with("connect").is_empty());
    }
}

/// A NUL in the user name would shift SASL PLAIN's fields (RFC 4616 §2): the caller's
/// mistake, found before connecting ([`Error::Credentials`]), never blamed on the server.
pub fn caller_nul_in_credentials_never_reaches_the_wire(adapter: &dyn Adapter) {
    let mut script = vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO"),
        Step::Send(EHLO_AUTH.to_vec()),
    ];
    script.push(Step::Expect("AUTH"));
    script.push(Step::Send(b"235 2.7.0 authenticated\r\n".to_vec()));
    script.extend(transaction_steps());
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let mut relay =
        relay(&server, &captured, Duration::from_secs(5)).credentials("alice\0admin", PASSWORD);
    relay = relay.allow_plaintext_auth(true);
    let result = adapter.send(&relay, &message(&["a@example.com"]));
    if std::env::var_os("MXSEND_HOSTILE_TRACE").is_some() {
        eprintln!("NUL in credentials: {result:?}");
    }
    let record = server.records();
    let sent_auth = record.iter().any(|r| !r.commands("AUTH").is_empty());
    assert!(!sent_auth, "{}: AUTH sent: {record:?}", adapter.name());
    assert_eq!(server.accepted(), 0, "{}: connected", adapter.name());
    assert!(
        matches!(
            result,
            Err(Error::Credentials(SaslError::ForbiddenOctet { .. }))
        ),
        "{}: {result:?}",
        adapter.name()
    );
}

/// CR, LF or NUL in a subject, a display name, an extra header's value or an attachment's
/// file name: the message writer refuses, naming the header, so no message exists to send.
pub fn caller_cr_lf_nul_in_headers_is_refused(_adapter: &dyn Adapter) {
    let spec = || MessageSpec {
        from: MailboxHeader::with_name("Alice", "alice@example.org"),
        to: vec![MailboxHeader::new("bob@example.com")],
        cc: vec![],
        reply_to: vec![],
        subject: Some("hello".into()),
        date: DateTime {
            unix_seconds: 1_700_000_000,
            utc_offset_minutes: 0,
        },
        message_id_random: 1,
        boundary_random: 2,
        extra_headers: vec![],
        body: Body::Plain("hi\n".into()),
        attachments: vec![],
        allow_eight_bit: false,
    };
    assert!(MessageWriter::new(spec()).is_ok(), "control");
    for bad in INJECTIONS {
        let mut s = spec();
        s.subject = Some(format!("hello{bad}Bcc: eve@example.net"));
        assert!(MessageWriter::new(s).is_err(), "subject {bad:?}");
        let mut s = spec();
        s.to = vec![MailboxHeader::with_name(
            &format!("Bob{bad}"),
            "bob@example.com",
        )];
        assert!(MessageWriter::new(s).is_err(), "display name {bad:?}");
        let mut s = spec();
        s.extra_headers = vec![("X-Note".into(), format!("a{bad}b"))];
        assert!(MessageWriter::new(s).is_err(), "extra header {bad:?}");
        let mut s = spec();
        s.extra_headers = vec![(format!("X-No{bad}te"), "a".into())];
        assert!(MessageWriter::new(s).is_err(), "extra header name {bad:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Endless replies: an error at the named limit, quickly, with memory bounded

/// Serialises the memory scenarios: they read the process's peak memory.
static MEMORY: Mutex<()> = Mutex::new(());

/// What the server floods: far more than any limit, so a client that kept it would show.
const FLOOD: usize = 48 * 1024 * 1024;
/// The most the peak resident memory may grow during one scenario.
const MEMORY_BOUND_KIB: u64 = 16 * 1024;
/// How long the client may take to give up.
const QUICKLY: Duration = Duration::from_secs(5);

fn flood_case(adapter: &dyn Adapter, mut script: Script, expected: ReplyError, limit: usize) {
    let _serial = MEMORY.lock().unwrap_or_else(|e| e.into_inner());
    let before = peak_rss_kib().expect("VmHWM");
    script.insert(0, Step::Send(GREETING.to_vec()));
    script.insert(1, Step::Expect("EHLO"));
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let started = Instant::now();
    let report = send_one(adapter, &relay(&server, &captured, Duration::from_secs(30)));
    let elapsed = started.elapsed();
    drop(server);
    let after = peak_rss_kib().expect("VmHWM");
    let got = outcome(&report);
    assert_eq!(
        *got,
        Outcome::Deferred(Failure::Session(SessionError::MalformedReply(expected))),
        "{}",
        adapter.name()
    );
    if let Outcome::Deferred(Failure::Session(error)) = got {
        assert!(error.to_string().contains(&limit.to_string()), "{error}");
    }
    assert!(elapsed < QUICKLY, "{}: took {elapsed:?}", adapter.name());
    assert!(
        after.saturating_sub(before) < MEMORY_BOUND_KIB,
        "{}: peak memory grew from {before} KiB to {after} KiB",
        adapter.name()
    );
}

/// EHLO answered by megabytes of short continuation lines: `TooManyLines` at 256.
pub fn endless_reply_fails_at_the_line_count_limit(adapter: &dyn Adapter) {
    flood_case(
        adapter,
        vec![Step::Flood {
            unit: b"250-a continuation line of a reply that never ends\r\n".to_vec(),
            total: FLOOD,
        }],
        ReplyError::TooManyLines(MAX_LINES),
        MAX_LINES,
    );
}

/// EHLO answered by megabytes of 4000-octet continuation lines: `ReplyTooLong` at 64 KiB.
pub fn endless_reply_of_long_lines_fails_at_the_reply_size_limit(adapter: &dyn Adapter) {
    let mut unit = b"250-".to_vec();
    unit.extend(std::iter::repeat_n(b'x', 4000));
    unit.extend_from_slice(b"\r\n");
    flood_case(
        adapter,
        vec![Step::Flood { unit, total: FLOOD }],
        ReplyError::ReplyTooLong(MAX_REPLY_LEN),
        MAX_REPLY_LEN,
    );
}

/// EHLO answered by one line that never ends: `LineTooLong` at 8 KiB.
pub fn endless_line_fails_at_the_line_length_limit(adapter: &dyn Adapter) {
    flood_case(
        adapter,
        vec![
            Step::Send(b"250-".to_vec()),
            Step::Flood {
                unit: vec![b'x'; 4096],
                total: FLOOD,
            },
        ],
        ReplyError::LineTooLong(MAX_LINE_LEN),
        MAX_LINE_LEN,
    );
}

// ---------------------------------------------------------------------------------------------
// Postfix's smtp-sink fault flags not covered by the shared sink suite

/// What a sink scenario changes in the client.
struct SinkClient {
    timeouts: Timeouts,
    pipelining: bool,
    body: Option<Vec<u8>>,
}

impl SinkClient {
    fn new() -> SinkClient {
        SinkClient {
            timeouts: all_timeouts(secs(5)),
            pipelining: true,
            body: None,
        }
    }

    /// Lock-step: smtp-sink's `-W`/`-w` delays meet one command at a time (see
    /// [`sink_out_of_order_replies_are_matched_in_order`] for what they do to a pipelined batch).
    fn lockstep(mut self) -> SinkClient {
        self.pipelining = false;
        self
    }

    fn timeouts(mut self, f: impl FnOnce(&mut Timeouts)) -> SinkClient {
        f(&mut self.timeouts);
        self
    }
}

fn sink_send(adapter: &dyn Adapter, flags: &[&str], client: SinkClient) -> (Outcome, Duration) {
    let (outcome, elapsed, _) = sink_send_captured(adapter, flags, client);
    (outcome, elapsed)
}

fn sink_send_captured(
    adapter: &dyn Adapter,
    flags: &[&str],
    client: SinkClient,
) -> (Outcome, Duration, Captured) {
    let SinkClient {
        timeouts,
        pipelining,
        body,
    } = client;
    let sink = SmtpSink::start(flags, None);
    let captured = Captured::default();
    let mut relay = plain_relay(sink.addr, &captured);
    relay = relay.timeouts(timeouts);
    relay = relay.pipelining(pipelining);
    let message = match body {
        Some(body) => message_with_body(&["a@example.com"], body),
        None => message(&["a@example.com"]),
    };
    let started = Instant::now();
    let report = adapter
        .send(&relay, &message)
        .unwrap_or_else(|e| panic!("{}: {e}", adapter.name()));
    let elapsed = started.elapsed();
    if std::env::var_os("MXSEND_HOSTILE_TRACE").is_some() {
        eprintln!("{flags:?} after {elapsed:?}: {:#?}", captured.lines());
    }
    (report.recipients[0].outcome.clone(), elapsed, captured)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `-A 0`: smtp-sink answers DATA with 354, then at once 550 and stops reading: the message
/// is refused (rejected, or deferred as a protocol violation, depending on how the replies
/// are split into reads).
pub fn sink_abort_after_data_rejects_the_message(adapter: &dyn Adapter) {
    let (got, _) = sink_send(adapter, &["-A", "0"], SinkClient::new());
    // When the 550 comes in the same read as the 354, no command awaits it yet (the body
    // is handed over after that read): `UnsolicitedReply`, deferred. In a later read it
    // answers the queued final dot: rejected. Never delivered, never ambiguous.
    assert!(
        matches!(&got, Outcome::Rejected(f) if reply_code(f) == Some(550))
            || matches!(
                &got,
                Outcome::Deferred(Failure::Session(SessionError::UnsolicitedReply(r))) if r.code().get() == 550
            ),
        "{}: {got:?}",
        adapter.name()
    );
}

/// `-A 0` with a 16 MB body that cannot fit in the socket buffers: the sink's 550 and
/// hang-up meet the client in the middle of the body; deferred at once (well within the
/// body deadline), never delivered.
pub fn sink_abort_after_data_with_a_large_body_ends_the_session(adapter: &dyn Adapter) {
    let body: Vec<u8> = (0..320_000u32)
        .flat_map(|i| format!("line {i:08} of a large message, fifty octets long\n").into_bytes())
        .collect();
    let mut client = SinkClient::new().timeouts(|t| t.data_block = DEADLINE);
    client.body = Some(body);
    let (got, elapsed) = sink_send(adapter, &["-A", "0"], client);
    // Two orders are possible, both deferring: the client reads the 550 first (it answers
    // no command yet, since the final dot is not queued: `UnsolicitedReply`), or its write
    // fails first on the reset connection (`ConnectionClosed` in the body phase).
    assert!(
        matches!(
            &got,
            Outcome::Deferred(Failure::Session(SessionError::UnsolicitedReply(r))) if r.code().get() == 550
        ) || got
            == Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(
                Phase::DataBlock
            ))),
        "{}: {got:?}",
        adapter.name()
    );
    assert!(
        elapsed <= DEADLINE + SLACK,
        "{}: took {elapsed:?}",
        adapter.name()
    );
}

/// `-W MAIL:3` under PIPELINING: smtp-sink answers the pipelined RCPT and DATA *before*
/// the delayed MAIL (503 "need MAIL command", 503 "need RCPT command", then MAIL's 250).
/// Replies are matched to commands in order, as RFC 2920 §3.1 requires, so MAIL is taken
/// as refused with 503: rejected, and no message content goes out.
pub fn sink_out_of_order_replies_are_matched_in_order(adapter: &dyn Adapter) {
    let (got, _, captured) = sink_send_captured(adapter, &["-W", "MAIL:3"], SinkClient::new());
    assert!(
        matches!(&got, Outcome::Rejected(f) if reply_code(f) == Some(503)),
        "{}: {got:?}",
        adapter.name()
    );
    assert!(
        captured.starting_with("body").is_empty(),
        "{:#?}",
        captured.lines()
    );
}

/// `-W .:3` under PIPELINING (QUIT pipelined after the final dot): smtp-sink answers QUIT
/// with 221 before the dot's reply. A 221 is no answer to the end of data: ambiguous, at
/// once.
pub fn sink_221_for_the_final_dot_is_ambiguous(adapter: &dyn Adapter) {
    let (got, elapsed) = sink_send(adapter, &["-W", ".:3"], SinkClient::new());
    assert!(
        matches!(&got, Outcome::Ambiguous(f) if reply_code(f) == Some(221)),
        "{}: {got:?}",
        adapter.name()
    );
    assert!(elapsed < secs(1), "{elapsed:?}");
}

/// `-W MAIL:3` with a 1 s MAIL deadline: deferred with the timeout, after about 1 s.
pub fn sink_delayed_mail_reply_past_the_deadline_defers(adapter: &dyn Adapter) {
    let client = SinkClient::new().lockstep().timeouts(|t| t.mail = secs(1));
    let (got, elapsed) = sink_send(adapter, &["-W", "MAIL:3"], client);
    assert_eq!(
        got,
        Outcome::Deferred(Failure::Session(SessionError::Timeout(Phase::Mail))),
        "{}",
        adapter.name()
    );
    assert!(
        elapsed >= secs(1) && elapsed < secs(1) + SLACK,
        "{elapsed:?}"
    );
}

/// `-W RCPT:1` with a 5 s RCPT deadline: a slow server within the deadline delivers.
pub fn sink_delayed_rcpt_reply_within_the_deadline_delivers(adapter: &dyn Adapter) {
    let (got, elapsed) = sink_send(adapter, &["-W", "RCPT:1"], SinkClient::new().lockstep());
    assert!(
        matches!(got, Outcome::Delivered(_)),
        "{}: {got:?}",
        adapter.name()
    );
    assert!(elapsed >= secs(1), "{elapsed:?}");
}

/// `-w 3` (DATA's reply delayed 3 s) with a 1 s DATA deadline: deferred with the timeout.
pub fn sink_delayed_data_reply_past_the_deadline_defers(adapter: &dyn Adapter) {
    let client = SinkClient::new()
        .lockstep()
        .timeouts(|t| t.data_initiation = secs(1));
    let (got, elapsed) = sink_send(adapter, &["-w", "3"], client);
    assert_eq!(
        got,
        Outcome::Deferred(Failure::Session(SessionError::Timeout(
            Phase::DataInitiation
        ))),
        "{}",
        adapter.name()
    );
    assert!(elapsed < secs(1) + SLACK, "{elapsed:?}");
}

/// `-W .:3` with a 1 s end-of-data deadline: ambiguous (the message went out whole).
pub fn sink_delayed_end_of_data_reply_past_the_deadline_is_ambiguous(adapter: &dyn Adapter) {
    let client = SinkClient::new()
        .lockstep()
        .timeouts(|t| t.data_termination = secs(1));
    let (got, elapsed) = sink_send(adapter, &["-W", ".:3"], client);
    assert_eq!(
        got,
        Outcome::Ambiguous(Failure::Session(SessionError::Timeout(
            Phase::DataTermination
        ))),
        "{}",
        adapter.name()
    );
    assert!(elapsed < secs(1) + SLACK, "{elapsed:?}");
}

fn sink_closed_case(adapter: &dyn Adapter, command: &str, phase: Phase) {
    let (got, _) = sink_send(adapter, &["-q", command], SinkClient::new());
    assert_eq!(
        got,
        Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(phase))),
        "{} -q {command}",
        adapter.name()
    );
}

/// `-q EHLO`: hang-up without a reply at EHLO: deferred.
pub fn sink_disconnect_at_ehlo_defers(adapter: &dyn Adapter) {
    sink_closed_case(adapter, "EHLO", Phase::Hello);
}

/// `-q RCPT` (MAIL, RCPT and DATA pipelined): deferred at RCPT.
pub fn sink_disconnect_at_rcpt_defers(adapter: &dyn Adapter) {
    sink_closed_case(adapter, "RCPT", Phase::Rcpt);
}

/// `-q DATA`: deferred at DATA; the message never went out.
pub fn sink_disconnect_at_data_defers(adapter: &dyn Adapter) {
    sink_closed_case(adapter, "DATA", Phase::DataInitiation);
}

/// `-Q EHLO`: 421 to EHLO: deferred by the service closing.
pub fn sink_service_closing_at_ehlo_defers(adapter: &dyn Adapter) {
    let (got, _) = sink_send(adapter, &["-Q", "EHLO"], SinkClient::new());
    assert!(
        matches!(&got, Outcome::Deferred(Failure::Session(SessionError::ServiceClosing(r))) if r.code().get() == 421),
        "{}: {got:?}",
        adapter.name()
    );
}

/// `-Q .`: 421 to the final dot: deferred with the 421 (not taken), not ambiguous.
pub fn sink_service_closing_after_end_of_data_defers_with_421(adapter: &dyn Adapter) {
    let (got, _) = sink_send(adapter, &["-Q", "."], SinkClient::new());
    assert!(
        matches!(&got, Outcome::Deferred(f) if reply_code(f) == Some(421)),
        "{}: {got:?}",
        adapter.name()
    );
}

/// `-r .`: 4xx to the final dot: deferred with it.
pub fn sink_4xx_to_end_of_data_defers(adapter: &dyn Adapter) {
    let (got, _) = sink_send(adapter, &["-r", "."], SinkClient::new());
    assert!(
        matches!(&got, Outcome::Deferred(f) if reply_code(f).is_some_and(|c| (400..500).contains(&c))),
        "{}: {got:?}",
        adapter.name()
    );
}

/// `-f .`: 5xx to the final dot: rejected with it.
pub fn sink_5xx_to_end_of_data_rejects(adapter: &dyn Adapter) {
    let (got, _) = sink_send(adapter, &["-f", "."], SinkClient::new());
    assert!(
        matches!(&got, Outcome::Rejected(f) if reply_code(f).is_some_and(|c| (500..600).contains(&c))),
        "{}: {got:?}",
        adapter.name()
    );
}

// ---------------------------------------------------------------------------------------------
// SCRAM-SHA-256: a server that cannot prove it knows the password

/// The server-first message for the client-first in `auth_line` (`AUTH SCRAM-SHA-256 b64`):
/// the client's nonce extended, a salt, 4096 iterations; as a 334 challenge.
fn scram_server_first(auth_line: &[u8]) -> Vec<u8> {
    let line = String::from_utf8_lossy(auth_line);
    let encoded = line.trim().rsplit(' ').next().unwrap_or_default();
    let client_first = mxsend::protocol::base64::decode(encoded.as_bytes()).unwrap_or_default();
    let client_first = String::from_utf8_lossy(&client_first).into_owned();
    let nonce = client_first
        .split(',')
        .find_map(|field| field.strip_prefix("r="))
        .unwrap_or("missing");
    let server_first = format!("r={nonce}hostileNonce,s=QSXCR+Q6sek8bf92,i=4096");
    let mut reply = b"334 ".to_vec();
    mxsend::protocol::base64::encode(server_first.as_bytes(), &mut reply);
    reply.extend_from_slice(b"\r\n");
    reply
}

/// The server answers the client's proof with a signature it made up (it does not know the
/// password): the client fails with the signature mismatch and sends nothing after it but
/// the cancel (`*`) and QUIT; no MAIL.
pub fn scram_forged_server_signature_sends_nothing_but_cancel_and_quit(adapter: &dyn Adapter) {
    let config = Pki::get().server_config(ServerCert::Good);
    let mut forged = b"334 ".to_vec();
    mxsend::protocol::base64::encode(
        b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        &mut forged,
    );
    forged.extend_from_slice(b"\r\n");
    let script = vec![
        Step::Send(GREETING.to_vec()),
        Step::Expect("EHLO"),
        Step::Send(EHLO_TLS.to_vec()),
        Step::Expect("STARTTLS"),
        Step::Send(b"220 2.0.0 ready to start TLS\r\n".to_vec()),
        Step::StartTls(config),
        Step::Expect("EHLO"),
        Step::Send(
            b"250-hostile.example\r\n250-AUTH PLAIN LOGIN SCRAM-SHA-256\r\n250 8BITMIME\r\n"
                .to_vec(),
        ),
        Step::Answer(scram_server_first),
        // The client-final message, with the proof.
        Step::ReadLine,
        Step::Send(forged),
        // The client cancels (`*`, RFC 4954 §4) and waits for the answer to it.
        Step::ReadLine,
        Step::Send(b"501 5.7.0 Authentication cancelled\r\n".to_vec()),
        // Whatever the client sends now, to the end of the connection.
        Step::ReadBytes(64 * 1024),
    ];
    let server = HostileServer::start(script);
    let captured = Captured::default();
    let report = send_one(adapter, &required_tls_relay(&server, &captured));
    let record = server.only_record();
    let name = adapter.name();
    assert_eq!(
        outcome(&report),
        &Outcome::Deferred(Failure::Session(SessionError::Sasl(SaslError::Scram(
            mxsend::protocol::scram::ScramError::ServerSignatureMismatch
        )))),
        "{name}: {record:#?}"
    );
    let lines = record.lines();
    let auth = lines
        .iter()
        .position(|l| l.starts_with("AUTH SCRAM-SHA-256 "))
        .unwrap_or_else(|| panic!("{name}: SCRAM not chosen over PLAIN: {lines:?}"));
    // AUTH, the client-final, then only the cancel and QUIT.
    let after: Vec<&str> = lines[auth + 2..].iter().map(String::as_str).collect();
    assert!(
        after.iter().all(|l| *l == "*" || *l == "QUIT"),
        "{name}: sent after the forged signature: {after:?}"
    );
    assert!(record.commands("MAIL").is_empty(), "{name}: MAIL sent");
    assert!(!record.text().contains(PASSWORD), "{name}: password sent");
}
