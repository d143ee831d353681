//! The fallback rules, deterministically, without sockets.

use super::*;
use mxsend_core::reply::{Reply, ReplyCode};
use mxsend_core::session::Phase;
use proptest::prelude::*;

fn mailbox(s: &str) -> Mailbox {
    Mailbox::parse(s).unwrap()
}

fn reply(code: u16, text: &str) -> Reply {
    Reply::new(ReplyCode::new(code).unwrap(), vec![text.to_string()])
}

fn candidate(host: &str, last: u8) -> Candidate {
    Candidate {
        host: host.to_string(),
        addr: SocketAddr::from(([127, 0, 0, last], 25)),
        unix: None,
    }
}

/// The attempt under way's result, with `outcomes` given per transaction in the attempt's
/// order and per recipient in its order (attributed here, by the transaction's indices).
fn ran_for(attempt: &Attempt, outcomes: Vec<Vec<Outcome>>) -> AttemptResult {
    AttemptResult::Ran(
        attempt
            .transactions
            .iter()
            .zip(outcomes)
            .map(|((m, rcpts), o)| TransactionOutcomes {
                message: *m,
                recipients: rcpts.iter().copied().zip(o).collect(),
            })
            .collect(),
    )
}

fn under_way(delivery: &Delivery, group: usize) -> Attempt {
    match &delivery.groups[group].stage {
        Stage::Routed(Current {
            attempt: Some(attempt),
            ..
        }) => attempt.clone(),
        other => panic!("no attempt under way: {other:?}"),
    }
}

fn ran(delivery: &Delivery, outcomes: Vec<Vec<Outcome>>) -> AttemptResult {
    let group = delivery
        .groups
        .iter()
        .position(|g| {
            matches!(
                g.stage,
                Stage::Routed(Current {
                    attempt: Some(_),
                    ..
                })
            )
        })
        .expect("an attempt under way");
    ran_for(&under_way(delivery, group), outcomes)
}

fn delivered() -> Outcome {
    Outcome::Delivered(reply(250, "2.0.0 ok"))
}

fn session_died() -> Outcome {
    Outcome::Deferred(Failure::Session(SessionError::ConnectionClosed(
        Phase::DataBlock,
    )))
}

fn refused() -> AttemptResult {
    AttemptResult::ConnectFailed(io::Error::from(io::ErrorKind::ConnectionRefused))
}

/// The attempt the machine asks for, or a panic naming what it asked for instead.
fn expect_attempt(delivery: &mut Delivery) -> Attempt {
    match delivery.poll() {
        Action::Attempt(attempt) => attempt,
        other => panic!("expected an attempt, got {other:?}"),
    }
}

fn expect_resolve(delivery: &mut Delivery) -> Domain {
    match delivery.poll() {
        Action::Resolve(domain) => domain,
        other => panic!("expected a resolve, got {other:?}"),
    }
}

fn mx_with(rcpts: &[&str], candidates: Vec<Candidate>) -> Delivery {
    let rcpts: Vec<Mailbox> = rcpts.iter().map(|s| mailbox(s)).collect();
    let mut delivery = Delivery::mx(&rcpts, TlsMode::Opportunistic);
    expect_resolve(&mut delivery);
    delivery.route_found(Ok(candidates));
    delivery
}

fn route_error(reason: NoRoute) -> RouteError {
    RouteError { reason, dns: None }
}

#[test]
fn null_mx_rejects_without_any_connection() {
    let mut delivery = Delivery::mx(&[mailbox("a@nullmx.test")], TlsMode::Opportunistic);
    expect_resolve(&mut delivery);
    delivery.route_found(Err(route_error(NoRoute::NullMx)));
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    // No server replied: no reply is made up, the report says why.
    assert_eq!(report.outcome, Outcome::Rejected(Failure::Unreached));
    assert_eq!(report.host, None);
    assert!(matches!(report.unreached, Some(Unreached::Route(_))));
}

#[test]
fn nxdomain_rejects_as_unreached() {
    let mut delivery = Delivery::mx(&[mailbox("a@nx.test")], TlsMode::Opportunistic);
    expect_resolve(&mut delivery);
    delivery.route_found(Err(route_error(NoRoute::NoSuchDomain)));
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(
        &report.outcome,
        Outcome::Rejected(Failure::Unreached)
    ));
}

#[test]
fn temporary_dns_failure_defers() {
    let mut delivery = Delivery::mx(&[mailbox("a@timeout.test")], TlsMode::Opportunistic);
    expect_resolve(&mut delivery);
    delivery.route_found(Err(route_error(NoRoute::TemporaryFailure)));
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(
        &report.outcome,
        Outcome::Deferred(Failure::Unreached)
    ));
}

#[test]
fn an_empty_route_defers_as_no_usable_exchange() {
    let mut delivery = mx_with(&["a@example.test"], Vec::new());
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(&report.outcome, Outcome::Deferred(_)));
    assert!(matches!(
        &report.unreached,
        Some(Unreached::Route(RouteError {
            reason: NoRoute::NoUsableExchange,
            ..
        }))
    ));
}

#[test]
fn falls_back_to_next_address_on_refused_connection() {
    let mut delivery = mx_with(
        &["a@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    let first = expect_attempt(&mut delivery);
    assert_eq!(first.candidate.host, "mx1.example.test");
    delivery.attempt_done(refused());
    let second = expect_attempt(&mut delivery);
    assert_eq!(second.candidate.host, "mx2.example.test");
    delivery.attempt_done(ran(&delivery, vec![vec![delivered()]]));
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(report.outcome, Outcome::Delivered(_)));
    assert_eq!(report.host.as_deref(), Some("mx2.example.test"));
    assert_eq!(report.addr, Some(candidate("x", 21).addr));
    assert!(report.unreached.is_none());
}

#[test]
fn all_addresses_down_defers_with_the_last_one_tried() {
    let mut delivery = mx_with(
        &["a@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    expect_attempt(&mut delivery);
    delivery.attempt_done(refused());
    expect_attempt(&mut delivery);
    delivery.attempt_done(refused());
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(
        &report.outcome,
        Outcome::Deferred(Failure::Unreached)
    ));
    assert_eq!(report.host.as_deref(), Some("mx2.example.test"));
    assert!(matches!(report.unreached, Some(Unreached::Connect(_))));
}

#[test]
fn a_refused_greeting_moves_on_to_the_next_address() {
    let mut delivery = mx_with(
        &["a@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    expect_attempt(&mut delivery);
    let greeting = SessionError::GreetingRefused(reply(554, "no service"));
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![Outcome::Deferred(Failure::Session(greeting))]],
    ));
    assert_eq!(
        expect_attempt(&mut delivery).candidate.host,
        "mx2.example.test"
    );
}

#[test]
fn replies_about_a_recipient_are_final_for_the_domain() {
    let mut delivery = mx_with(
        &["a@example.test", "b@example.test", "c@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    expect_attempt(&mut delivery);
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![
            Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 unknown"))),
            Outcome::Deferred(Failure::Reply(reply(450, "4.2.0 try later"))),
            delivered(),
        ]],
    ));
    assert_eq!(delivery.poll(), Action::Done);
    let reports = &delivery.into_reports()[0].recipients;
    assert!(matches!(reports[0].outcome, Outcome::Rejected(_)));
    assert!(matches!(
        reports[1].outcome,
        Outcome::Deferred(Failure::Reply(_))
    ));
    assert!(matches!(reports[2].outcome, Outcome::Delivered(_)));
    assert!(reports
        .iter()
        .all(|r| r.host.as_deref() == Some("mx1.example.test")));
}

#[test]
fn recipients_deferred_by_a_dying_session_go_to_the_next_address() {
    let mut delivery = mx_with(
        &["a@example.test", "b@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    expect_attempt(&mut delivery);
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![
            Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 unknown"))),
            session_died(),
        ]],
    ));
    let second = expect_attempt(&mut delivery);
    assert_eq!(second.transactions, vec![(0, vec![1])]);
    delivery.attempt_done(ran(&delivery, vec![vec![delivered()]]));
    let reports = &delivery.into_reports()[0].recipients;
    assert_eq!(reports[0].host.as_deref(), Some("mx1.example.test"));
    assert_eq!(reports[1].host.as_deref(), Some("mx2.example.test"));
    assert!(matches!(reports[1].outcome, Outcome::Delivered(_)));
}

#[test]
fn a_421_defers_to_the_next_address() {
    let mut delivery = mx_with(
        &["a@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    expect_attempt(&mut delivery);
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![Outcome::Deferred(Failure::Reply(reply(
            421,
            "4.3.2 shutting down",
        )))]],
    ));
    assert_eq!(
        expect_attempt(&mut delivery).candidate.host,
        "mx2.example.test"
    );
}

#[test]
fn an_ambiguous_recipient_is_never_sent_again() {
    let mut delivery = mx_with(
        &["a@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    expect_attempt(&mut delivery);
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![Outcome::Ambiguous(Failure::Session(
            SessionError::ConnectionClosed(Phase::DataTermination),
        ))]],
    ));
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(report.outcome, Outcome::Ambiguous(_)));
}

#[test]
fn failed_opportunistic_handshake_retries_the_same_address_in_plaintext_once() {
    let mut delivery = mx_with(
        &["a@example.test"],
        vec![
            candidate("mx1.example.test", 11),
            candidate("mx2.example.test", 21),
        ],
    );
    let first = expect_attempt(&mut delivery);
    assert_eq!(first.tls, TlsMode::Opportunistic);
    delivery.attempt_done(AttemptResult::TlsFailed(TlsError::Handshake(
        rustls::Error::DecryptError,
    )));
    let retry = expect_attempt(&mut delivery);
    assert_eq!(retry.candidate, first.candidate);
    assert_eq!(retry.tls, TlsMode::None);
    delivery.attempt_done(refused());
    let next = expect_attempt(&mut delivery);
    assert_eq!(next.candidate.host, "mx2.example.test");
    assert_eq!(next.tls, TlsMode::Opportunistic);
}

#[test]
fn failed_required_handshake_moves_on_without_plaintext() {
    let rcpts = vec![mailbox("a@example.test")];
    let mut delivery = Delivery::relay(
        vec![
            candidate("smtp.example.test", 1),
            candidate("smtp.example.test", 2),
        ],
        vec![rcpts],
        TlsMode::Required,
    );
    expect_attempt(&mut delivery);
    delivery.attempt_done(AttemptResult::TlsFailed(TlsError::TimedOut));
    let next = expect_attempt(&mut delivery);
    assert_eq!(next.candidate.addr, candidate("x", 2).addr);
    assert_eq!(next.tls, TlsMode::Required);
    delivery.attempt_done(AttemptResult::TlsFailed(TlsError::TimedOut));
    assert_eq!(delivery.poll(), Action::Done);
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(
        &report.outcome,
        Outcome::Deferred(Failure::Unreached)
    ));
    assert!(matches!(report.unreached, Some(Unreached::Tls(_))));
}

#[test]
fn refused_credentials_stop_the_search() {
    let mut delivery = Delivery::relay(
        vec![
            candidate("smtp.example.test", 1),
            candidate("smtp.example.test", 2),
        ],
        vec![vec![mailbox("a@example.test")]],
        TlsMode::Required,
    );
    expect_attempt(&mut delivery);
    let auth = SessionError::AuthFailed(reply(535, "5.7.8 bad credentials"));
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![Outcome::Deferred(Failure::Session(auth))]],
    ));
    assert_eq!(delivery.poll(), Action::Done);
}

#[test]
fn recipients_are_grouped_by_domain_in_order_of_first_appearance() {
    let rcpts = [
        mailbox("a@one.test"),
        mailbox("b@two.test"),
        mailbox("c@ONE.test"),
    ];
    let mut delivery = Delivery::mx(&rcpts, TlsMode::Opportunistic);
    assert_eq!(expect_resolve(&mut delivery).to_string(), "one.test");
    delivery.route_found(Ok(vec![candidate("mx.one.test", 1)]));
    let attempt = expect_attempt(&mut delivery);
    assert_eq!(attempt.transactions, vec![(0, vec![0, 2])]);
    delivery.attempt_done(ran(&delivery, vec![vec![delivered(), delivered()]]));
    assert_eq!(expect_resolve(&mut delivery).to_string(), "two.test");
    delivery.route_found(Err(route_error(NoRoute::NullMx)));
    assert_eq!(delivery.poll(), Action::Done);
    let reports = &delivery.into_reports()[0].recipients;
    let hosts: Vec<Option<&str>> = reports.iter().map(|r| r.host.as_deref()).collect();
    assert_eq!(hosts, [Some("mx.one.test"), None, Some("mx.one.test")]);
}

#[test]
fn relay_sends_only_unsettled_messages_to_the_next_address() {
    let messages = vec![
        vec![mailbox("a@example.test")],
        vec![mailbox("b@example.test"), mailbox("c@example.test")],
    ];
    let mut delivery = Delivery::relay(
        vec![
            candidate("smtp.example.test", 1),
            candidate("smtp.example.test", 2),
        ],
        messages,
        TlsMode::None,
    );
    let first = expect_attempt(&mut delivery);
    assert_eq!(first.transactions, vec![(0, vec![0]), (1, vec![0, 1])]);
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![delivered()], vec![session_died(), session_died()]],
    ));
    let second = expect_attempt(&mut delivery);
    assert_eq!(second.transactions, vec![(1, vec![0, 1])]);
    delivery.attempt_done(ran(&delivery, vec![vec![delivered(), delivered()]]));
    assert_eq!(delivery.poll(), Action::Done);
    let reports = delivery.into_reports();
    assert!(reports.iter().all(Report::all_delivered));
    assert_eq!(reports[0].recipients[0].addr, Some(candidate("x", 1).addr));
    assert_eq!(reports[1].recipients[1].addr, Some(candidate("x", 2).addr));
}

#[test]
fn a_message_settled_before_sending_is_left_out_of_every_attempt() {
    let messages = vec![
        vec![mailbox("a@example.test")],
        vec![mailbox("b@example.test"), mailbox("c@example.test")],
    ];
    let mut delivery = Delivery::relay(
        vec![candidate("smtp.example.test", 1)],
        messages,
        TlsMode::None,
    );
    let nul = mxsend_core::transparency::ContentError::Nul { offset: 3 };
    let refused = Outcome::Rejected(Failure::Body(mxsend_core::session::BodyError::Content(nul)));
    delivery.settle_message(0, &refused);
    let attempt = expect_attempt(&mut delivery);
    assert_eq!(attempt.transactions, vec![(1, vec![0, 1])]);
    delivery.attempt_done(ran(&delivery, vec![vec![delivered(), delivered()]]));
    assert_eq!(delivery.poll(), Action::Done);
    let reports = delivery.into_reports();
    assert_eq!(reports[0].recipients[0].outcome, refused);
    assert_eq!(reports[0].recipients[0].host, None);
    assert!(reports[1].all_delivered());
}

#[test]
fn a_message_that_needs_binarymime_says_so_in_every_attempt() {
    let messages = vec![
        vec![mailbox("a@example.test")],
        vec![mailbox("b@example.test")],
        vec![mailbox("c@example.test")],
    ];
    let mut delivery = Delivery::relay(
        vec![candidate("smtp.example.test", 1)],
        messages,
        TlsMode::None,
    );
    delivery.needs_binary(2);
    delivery.needs_binary(0);
    delivery.needs_binary(2);
    let attempt = expect_attempt(&mut delivery);
    assert_eq!(attempt.binary, vec![0, 2]);
    assert_eq!(attempt.transactions.len(), 3);
}

#[test]
fn settling_every_message_before_sending_connects_nowhere_and_resolves_nothing() {
    let mut delivery = Delivery::mx(
        &[mailbox("a@one.test"), mailbox("b@two.test")],
        TlsMode::None,
    );
    let refused = Outcome::Rejected(Failure::Body(mxsend_core::session::BodyError::Content(
        mxsend_core::transparency::ContentError::LineTooLong { line: 2 },
    )));
    delivery.settle_message(0, &refused);
    assert_eq!(delivery.poll(), Action::Done);
    let reports = delivery.into_reports();
    assert!(reports[0].recipients.iter().all(|r| r.outcome == refused));
}

/// Any attempt result the runtime could report.
fn any_result(recipients: usize) -> impl Strategy<Value = AttemptResultSpec> {
    prop_oneof![
        Just(AttemptResultSpec::Refused),
        Just(AttemptResultSpec::Tls),
        proptest::collection::vec(0u8..5, recipients).prop_map(AttemptResultSpec::Ran),
    ]
}

#[derive(Clone, Debug)]
enum AttemptResultSpec {
    Refused,
    Tls,
    Ran(Vec<u8>),
}

fn outcome_of(kind: u8) -> Outcome {
    match kind {
        0 => delivered(),
        1 => Outcome::Rejected(Failure::Reply(reply(550, "no"))),
        2 => Outcome::Deferred(Failure::Reply(reply(450, "later"))),
        3 => session_died(),
        _ => Outcome::Ambiguous(Failure::Session(SessionError::Timeout(
            Phase::DataTermination,
        ))),
    }
}

proptest! {
    #[test]
    fn every_recipient_ends_exactly_once_within_the_candidate_budget(
        candidates in 1usize..5,
        script in proptest::collection::vec(any_result(4), 0..12),
    ) {
        let rcpts: Vec<String> = (0..4).map(|i| format!("r{i}@example.test")).collect();
        let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
        let list = (0..candidates).map(|i| candidate("mx.example.test", i as u8 + 1)).collect();
        let mut delivery = mx_with(&rcpts, list);
        let mut script = script.into_iter();
        let mut attempts = 0;
        while let Action::Attempt(attempt) = delivery.poll() {
            attempts += 1;
            // Each candidate once, plus at most one plaintext retry each.
            prop_assert!(attempts <= 2 * candidates);
            let result = match script.next().unwrap_or(AttemptResultSpec::Refused) {
                AttemptResultSpec::Refused => refused(),
                AttemptResultSpec::Tls => AttemptResult::TlsFailed(TlsError::TimedOut),
                AttemptResultSpec::Ran(kinds) => ran_for(
                    &attempt,
                    attempt
                        .transactions
                        .iter()
                        .map(|(_, rcpts)| {
                            rcpts.iter().map(|&r| outcome_of(kinds[r])).collect()
                        })
                        .collect(),
                ),
            };
            delivery.attempt_done(result);
        }
        let reports = delivery.into_reports();
        prop_assert_eq!(reports.len(), 1);
        let names: Vec<String> = reports[0].recipients.iter().map(|r| r.mailbox.to_string()).collect();
        prop_assert_eq!(names, rcpts.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        for report in &reports[0].recipients {
            prop_assert!(report.host.is_some());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Several groups at once (the async drivers' `start_next`).

fn tasks_until_blocked(delivery: &mut Delivery) -> Vec<Task> {
    std::iter::from_fn(|| delivery.start_next()).collect()
}

#[test]
fn start_next_hands_out_one_task_per_domain_at_once() {
    let rcpts = [
        mailbox("a@one.test"),
        mailbox("b@two.test"),
        mailbox("c@one.test"),
        mailbox("d@three.test"),
    ];
    let mut delivery = Delivery::mx(&rcpts, TlsMode::Opportunistic);
    let domains: Vec<String> = tasks_until_blocked(&mut delivery)
        .into_iter()
        .map(|task| match task {
            Task::Resolve(_, domain) => domain.to_string(),
            other => panic!("expected a resolve, got {other:?}"),
        })
        .collect();
    assert_eq!(domains, ["one.test", "two.test", "three.test"]);
    assert!(!delivery.is_done());
}

#[test]
fn concurrent_attempts_fall_back_per_domain_in_any_completion_order() {
    let rcpts = [mailbox("a@one.test"), mailbox("b@two.test")];
    let mut delivery = Delivery::mx(&rcpts, TlsMode::Opportunistic);
    let resolves = tasks_until_blocked(&mut delivery);
    let ids: Vec<GroupId> = resolves
        .iter()
        .map(|t| match t {
            Task::Resolve(id, _) => *id,
            Task::Attempt(id, _) => *id,
        })
        .collect();
    // Routes arrive in reverse order.
    delivery.route_found_for(
        ids[1],
        Ok(vec![
            candidate("mx1.two.test", 21),
            candidate("mx2.two.test", 22),
        ]),
    );
    delivery.route_found_for(ids[0], Ok(vec![candidate("mx.one.test", 11)]));
    let attempts = tasks_until_blocked(&mut delivery);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(delivery.start_next().is_none());
    // two.test's first exchange refuses: its next exchange is handed out, one.test untouched.
    delivery.attempt_done_for(ids[1], refused());
    let Some(Task::Attempt(id, next)) = delivery.start_next() else {
        panic!("expected two.test's next attempt");
    };
    assert_eq!((id, next.candidate.host.as_str()), (ids[1], "mx2.two.test"));
    delivery.attempt_done_for(
        ids[1],
        ran_for(&under_way(&delivery, ids[1].0), vec![vec![delivered()]]),
    );
    assert!(!delivery.is_done());
    delivery.attempt_done_for(
        ids[0],
        ran_for(&under_way(&delivery, ids[0].0), vec![vec![delivered()]]),
    );
    assert!(delivery.start_next().is_none());
    assert!(delivery.is_done());
    let reports = &delivery.into_reports()[0].recipients;
    let hosts: Vec<Option<&str>> = reports.iter().map(|r| r.host.as_deref()).collect();
    assert_eq!(hosts, [Some("mx.one.test"), Some("mx2.two.test")]);
    assert!(reports
        .iter()
        .all(|r| matches!(r.outcome, Outcome::Delivered(_))));
}

/// The result of an attempt as a pure function of where it went and what it carried, so
/// sequential and concurrent drivers can be compared on equal terms.
fn scripted_result(kinds: &[u8], attempt: &Attempt) -> AttemptResult {
    let last = match attempt.candidate.addr.ip() {
        std::net::IpAddr::V4(v4) => v4.octets()[3],
        std::net::IpAddr::V6(_) => 0,
    };
    let kind = |r: usize| kinds[(usize::from(last) * 7 + r) % kinds.len()];
    match kind(99) % 6 {
        0 => refused(),
        1 if attempt.tls == TlsMode::Opportunistic => AttemptResult::TlsFailed(TlsError::TimedOut),
        _ => ran_for(
            attempt,
            attempt
                .transactions
                .iter()
                .map(|(_, rcpts)| rcpts.iter().map(|&r| outcome_of(kind(r))).collect())
                .collect(),
        ),
    }
}

fn summary(reports: Vec<Report>) -> Vec<String> {
    reports[0]
        .recipients
        .iter()
        .map(|r| format!("{} {:?} {:?} {:?}", r.mailbox, r.outcome, r.host, r.addr))
        .collect()
}

fn multi_domain(rcpts: &[String]) -> Delivery {
    let rcpts: Vec<Mailbox> = rcpts.iter().map(|s| mailbox(s)).collect();
    Delivery::mx(&rcpts, TlsMode::Opportunistic)
}

/// Each domain `dN.test` has N+1 candidates at 127.0.0.(10N + k).
fn route_of(domain: &Domain) -> Vec<Candidate> {
    let n: u8 = domain.to_string()[1..2].parse().unwrap();
    (0..=n)
        .map(|k| candidate(&format!("mx{k}.{domain}"), 10 * n + k + 1))
        .collect()
}

proptest! {
    #[test]
    fn concurrent_driving_reports_exactly_what_sequential_driving_does(
        domains in proptest::collection::vec(0u8..4, 1..8),
        kinds in proptest::collection::vec(0u8..5, 1..16),
        order in proptest::collection::vec(any::<prop::sample::Index>(), 64),
        limit in 1usize..5,
    ) {
        let rcpts: Vec<String> = domains
            .iter()
            .enumerate()
            .map(|(i, d)| format!("r{i}@d{d}.test"))
            .collect();

        let mut sequential = multi_domain(&rcpts);
        loop {
            match sequential.poll() {
                Action::Done => break,
                Action::Resolve(domain) => sequential.route_found(Ok(route_of(&domain))),
                Action::Attempt(attempt) => {
                    sequential.attempt_done(scripted_result(&kinds, &attempt))
                }
            }
        }

        let mut concurrent = multi_domain(&rcpts);
        let mut out: Vec<Task> = Vec::new();
        let mut order = order.into_iter().cycle();
        loop {
            while out.len() < limit {
                match concurrent.start_next() {
                    Some(task) => out.push(task),
                    None => break,
                }
            }
            if out.is_empty() {
                break;
            }
            let pick = order.next().map_or(0, |i| i.index(out.len()));
            match out.swap_remove(pick) {
                Task::Resolve(id, domain) => concurrent.route_found_for(id, Ok(route_of(&domain))),
                Task::Attempt(id, attempt) => {
                    concurrent.attempt_done_for(id, scripted_result(&kinds, &attempt))
                }
            }
        }
        prop_assert!(concurrent.is_done());
        prop_assert_eq!(summary(concurrent.into_reports()), summary(sequential.into_reports()));
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 13: outcomes that never lie.

fn two_exchanges(rcpts: &[&str]) -> Delivery {
    mx_with(
        rcpts,
        vec![
            candidate("mx1.example.test", 1),
            candidate("mx2.example.test", 2),
        ],
    )
}

#[test]
fn a_4xx_to_mail_moves_on_to_the_next_exchange() {
    let mut delivery = two_exchanges(&["a@example.test"]);
    expect_attempt(&mut delivery);
    let busy = Outcome::Deferred(Failure::SenderRefused(reply(451, "4.3.0 busy")));
    delivery.attempt_done(ran(&delivery, vec![vec![busy]]));
    let next = expect_attempt(&mut delivery);
    assert_eq!(next.candidate.host, "mx2.example.test");
    delivery.attempt_done(ran(&delivery, vec![vec![delivered()]]));
    let report = &delivery.into_reports()[0].recipients[0];
    assert!(matches!(report.outcome, Outcome::Delivered(_)));
}

#[test]
fn a_5xx_to_rcpt_does_not_move_on() {
    let mut delivery = two_exchanges(&["a@example.test"]);
    expect_attempt(&mut delivery);
    let unknown = Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 unknown")));
    delivery.attempt_done(ran(&delivery, vec![vec![unknown.clone()]]));
    assert_eq!(delivery.poll(), Action::Done);
    assert_eq!(delivery.into_reports()[0].recipients[0].outcome, unknown);
}

#[test]
fn a_554_greeting_at_every_exchange_ends_rejected() {
    let mut delivery = two_exchanges(&["a@example.test"]);
    let refused_session = Outcome::Rejected(Failure::Session(SessionError::GreetingRefused(
        reply(554, "5.3.2 no service"),
    )));
    expect_attempt(&mut delivery);
    delivery.attempt_done(ran(&delivery, vec![vec![refused_session.clone()]]));
    let next = expect_attempt(&mut delivery);
    assert_eq!(next.candidate.host, "mx2.example.test");
    delivery.attempt_done(ran(&delivery, vec![vec![refused_session.clone()]]));
    assert_eq!(delivery.poll(), Action::Done);
    assert_eq!(
        delivery.into_reports()[0].recipients[0].outcome,
        refused_session
    );
}

#[test]
fn an_unreadable_body_settles_its_message_and_the_others_try_the_same_server_again() {
    let mut delivery = Delivery::relay(
        vec![candidate("smtp.example.test", 1)],
        vec![
            vec![mailbox("a@example.test")],
            vec![mailbox("b@example.test")],
            vec![mailbox("c@example.test")],
        ],
        TlsMode::None,
    );
    expect_attempt(&mut delivery);
    let unreadable = Outcome::Deferred(Failure::Body(mxsend_core::session::BodyError::Unreadable(
        "gone".into(),
    )));
    let aborted = Outcome::Deferred(Failure::Session(SessionError::Aborted));
    delivery.attempt_done(ran(
        &delivery,
        vec![vec![delivered()], vec![unreadable.clone()], vec![aborted]],
    ));
    // The same (only) server again, for the message left unsent only.
    let again = expect_attempt(&mut delivery);
    assert_eq!(again.candidate.host, "smtp.example.test");
    assert_eq!(again.transactions, vec![(2, vec![0])]);
    delivery.attempt_done(ran(&delivery, vec![vec![delivered()]]));
    assert_eq!(delivery.poll(), Action::Done);
    let reports = delivery.into_reports();
    assert!(matches!(
        reports[0].recipients[0].outcome,
        Outcome::Delivered(_)
    ));
    assert_eq!(reports[1].recipients[0].outcome, unreadable);
    assert!(matches!(
        reports[2].recipients[0].outcome,
        Outcome::Delivered(_)
    ));
}

#[test]
fn outcomes_are_attributed_by_their_indices_not_by_position() {
    let mut delivery = Delivery::relay(
        vec![candidate("smtp.example.test", 1)],
        vec![
            vec![mailbox("a@example.test")],
            vec![mailbox("b@example.test")],
        ],
        TlsMode::None,
    );
    expect_attempt(&mut delivery);
    // Message 0 was never run (no outcome), message 1 was rejected: reported out of order.
    let rejected = Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 unknown")));
    delivery.attempt_done(AttemptResult::Ran(vec![TransactionOutcomes {
        message: 1,
        recipients: vec![(0, rejected.clone())],
    }]));
    assert_eq!(delivery.poll(), Action::Done);
    let reports = delivery.into_reports();
    assert_eq!(reports[1].recipients[0].outcome, rejected);
    assert_ne!(reports[0].recipients[0].outcome, rejected);
}

/// An MTA-STS plan with this policy text.
fn sts_plan(text: &str, unmatched: &[&str]) -> SecurityPlan {
    let policy = crate::mta_sts::parse_policy(text).unwrap();
    SecurityPlan {
        policy: DeliveryPolicy::MtaSts {
            status: crate::mta_sts::StsStatus::Policy {
                id: "1".into(),
                policy,
                source: crate::mta_sts::PolicySource::Cache,
            },
            unmatched: unmatched.iter().map(|h| h.to_string()).collect(),
            set_aside: false,
            unverified: Vec::new(),
        },
    }
}

#[test]
fn an_enforced_policy_tries_only_matching_exchanges_with_verified_tls() {
    let mut d = Delivery::mx(&[mailbox("a@example.test")], TlsMode::Opportunistic);
    assert!(matches!(d.poll(), Action::Resolve(_)));
    let plan = sts_plan(
        "version: STSv1\nmode: enforce\nmx: mx2.example.test\nmax_age: 60\n",
        &["mx1.example.test"],
    );
    d.route_secured(
        Ok(vec![
            candidate("mx1.example.test", 1),
            candidate("mx2.example.test", 2),
        ]),
        Some(plan.clone()),
    );
    let Action::Attempt(attempt) = d.poll() else {
        panic!("no attempt");
    };
    assert_eq!(attempt.candidate.host, "mx2.example.test");
    assert_eq!(attempt.tls, TlsMode::Required);
    d.attempt_done(refused());
    assert_eq!(d.poll(), Action::Done);
    let report = d.into_reports().pop().unwrap();
    assert_eq!(report.recipients[0].policy, Some(plan.policy));
    assert!(matches!(
        report.recipients[0].unreached,
        Some(Unreached::Connect(_))
    ));
}

#[test]
fn an_enforced_policy_matching_no_exchange_defers_without_an_attempt() {
    let mut d = Delivery::mx(&[mailbox("a@example.test")], TlsMode::Opportunistic);
    assert!(matches!(d.poll(), Action::Resolve(_)));
    let plan = sts_plan(
        "version: STSv1\nmode: enforce\nmx: other.test\nmax_age: 60\n",
        &["mx1.example.test"],
    );
    d.route_secured(Ok(vec![candidate("mx1.example.test", 1)]), Some(plan));
    assert_eq!(d.poll(), Action::Done);
    let report = d.into_reports().pop().unwrap();
    let r = &report.recipients[0];
    assert_eq!(r.outcome, Outcome::Deferred(Failure::Unreached));
    assert!(matches!(r.unreached, Some(Unreached::Policy(_))));
    assert_eq!(r.host, None);
}

#[test]
fn a_testing_policy_keeps_every_exchange_and_the_delivery_mode() {
    let mut d = Delivery::mx(&[mailbox("a@example.test")], TlsMode::Opportunistic);
    assert!(matches!(d.poll(), Action::Resolve(_)));
    let plan = sts_plan(
        "version: STSv1\nmode: testing\nmx: other.test\nmax_age: 60\n",
        &["mx1.example.test"],
    );
    d.route_secured(Ok(vec![candidate("mx1.example.test", 1)]), Some(plan));
    let Action::Attempt(attempt) = d.poll() else {
        panic!("no attempt");
    };
    assert_eq!(attempt.tls, TlsMode::Opportunistic);
}
