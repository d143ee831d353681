//! The queue over a real spool directory, with a scripted transport (the end-to-end tests in
//! `tests/tests/queue_*.rs` use real servers).

use std::cell::RefCell;
use std::io::Read;

use mxsend_core::address::{Mailbox, ReversePath};
use mxsend_core::command::BodyType;
use mxsend_core::reply::{Reply, ReplyCode};
use mxsend_core::session::{DsnOptions, Envelope, Failure, Outcome};

use super::*;
use crate::delivery::RecipientReport;

fn envelope(from: &str, to: &[&str]) -> Envelope {
    Envelope {
        from: if from.is_empty() {
            ReversePath::Null
        } else {
            ReversePath::parse(from).unwrap()
        },
        recipients: to.iter().map(|t| Mailbox::parse(t).unwrap()).collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    }
}

fn route() -> QueuedRoute {
    QueuedRoute {
        kind: RouteKind::Relay {
            host: "127.0.0.1".into(),
            port: 2525,
        },
        settings: Default::default(),
    }
}

fn reply(code: u16, text: &str) -> Reply {
    Reply::new(ReplyCode::new(code).unwrap(), vec![text.to_string()])
}

/// A transport that answers each recipient by its local part: `reject*` 550, `defer*` 451,
/// others 250; and records what it was given.
/// What the transport was given: sender, recipients, content.
type Sent = (String, Vec<String>, Vec<u8>);

struct Scripted {
    sent: RefCell<Vec<Sent>>,
}

impl Scripted {
    fn new() -> Scripted {
        Scripted {
            sent: RefCell::new(Vec::new()),
        }
    }
}

impl Transport for &Scripted {
    fn send(
        &mut self,
        _route: &QueuedRoute,
        messages: &[Message<EntryBody>],
        delivered: &Delivered,
    ) -> Vec<Result<Report, TransportError>> {
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let mut content = Vec::new();
                m.body.open().unwrap().read_to_end(&mut content).unwrap();
                self.sent.borrow_mut().push((
                    m.envelope.from.to_string(),
                    m.envelope
                        .recipients
                        .iter()
                        .map(|r| r.to_string())
                        .collect(),
                    content,
                ));
                let recipients = m
                    .envelope
                    .recipients
                    .iter()
                    .map(|r| {
                        let outcome = if r.local_part().starts_with("reject") {
                            Outcome::Rejected(Failure::Reply(reply(550, "5.1.1 no such user")))
                        } else if r.local_part().starts_with("defer") {
                            Outcome::Deferred(Failure::Reply(reply(451, "4.7.1 greylisted")))
                        } else {
                            Outcome::Delivered(reply(250, "2.0.0 OK"))
                        };
                        RecipientReport {
                            mailbox: r.clone(),
                            outcome,
                            host: Some("mx.example.test".into()),
                            addr: None,
                            unreached: None,
                            policy: None,
                        }
                    })
                    .collect::<Vec<RecipientReport>>();
                let done: Vec<usize> = recipients
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| matches!(r.outcome, Outcome::Delivered(_)))
                    .map(|(j, _)| j)
                    .collect();
                delivered.record(i, &done);
                Ok(Report { recipients })
            })
            .collect()
    }
}

fn queue(dir: &std::path::Path) -> Queue {
    Queue::open_dir(dir, QueueOptions::default()).unwrap()
}

fn enqueue(q: &Queue, from: &str, to: &[&str]) -> EntryRecord {
    let body: &[u8] = b"From: ann@example.test\r\nSubject: queued\r\n\r\nhello\r\n";
    q.enqueue(&Message::new(envelope(from, to), body), route())
        .unwrap()
}

fn run(q: &Queue, t: &Scripted, mode: RunMode) -> (RunSummary, Vec<String>) {
    let mut events = Vec::new();
    let summary = q
        .run(&mut &*t, mode, &mut |e| events.push(format!("{e:?}")))
        .unwrap();
    (summary, events)
}

#[test]
fn an_entry_is_stored_whole_and_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let record = enqueue(&q, "ann@example.test", &["bob@example.test"]);
    assert_eq!(q.store().list().unwrap().len(), 1);
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
    let t = Scripted::new();
    let (summary, _) = run(&q, &t, RunMode::Due);
    assert_eq!(summary.finished, 1);
    assert_eq!(t.sent.borrow().len(), 1);
    assert!(t.sent.borrow()[0].2.ends_with(b"hello\r\n"));
    assert!(q.store().read(&record.id).is_err());
    // Its files are deleted beside the sending, soon after.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_dir(dir.path().join("tmp")).unwrap().count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "tmp/ was never emptied"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Nothing left: a second pass sends nothing.
    run(&q, &t, RunMode::All);
    assert_eq!(t.sent.borrow().len(), 1);
}

#[test]
fn a_deferred_recipient_waits_for_its_next_attempt_and_the_delivered_one_is_not_resent() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let record = enqueue(
        &q,
        "ann@example.test",
        &["bob@example.test", "defer@example.test"],
    );
    let t = Scripted::new();
    let (summary, _) = run(&q, &t, RunMode::Due);
    assert_eq!(summary.finished, 0);
    let saved = q.store().read(&record.id).unwrap();
    assert_eq!(saved.recipients[0].state, RecipientState::Delivered);
    assert_eq!(saved.recipients[1].state, RecipientState::Pending);
    assert_eq!(saved.attempts, 1);
    assert!(
        saved.next_attempt >= unix_now() + 270,
        "{}",
        saved.next_attempt
    );
    assert!(saved.recipients[1]
        .last_reply
        .as_deref()
        .unwrap()
        .contains("451"));
    // Not due: a pass leaves it alone.
    run(&q, &t, RunMode::Due);
    assert_eq!(t.sent.borrow().len(), 1);
    // Flushed: only the pending recipient is tried.
    run(&q, &t, RunMode::All);
    assert_eq!(t.sent.borrow()[1].1, ["defer@example.test"]);
}

#[test]
fn a_refused_recipient_gets_the_sender_a_notice_through_the_same_route() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    enqueue(&q, "ann@example.test", &["reject@example.test"]);
    let t = Scripted::new();
    let (summary, events) = run(&q, &t, RunMode::Due);
    // The notice was queued and sent in the same pass; nothing is left.
    assert_eq!(summary.finished, 2, "{events:?}");
    let sent = t.sent.borrow();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].0, "");
    assert_eq!(sent[1].1, ["ann@example.test"]);
    let notice = String::from_utf8_lossy(&sent[1].2);
    assert!(notice.contains("Final-Recipient: rfc822; reject@example.test"));
    assert!(notice.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user"));
    assert!(q.store().list().unwrap().is_empty());
}

#[test]
fn the_null_sender_and_a_failed_notice_get_no_notice() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    enqueue(&q, "", &["reject@example.test"]);
    // A notice to a sender that is itself refused: its failure is not bounced again.
    enqueue(&q, "reject-sender@example.test", &["reject@example.test"]);
    let t = Scripted::new();
    let (_, events) = run(&q, &t, RunMode::Due);
    let sent = t.sent.borrow();
    // The two messages and one notice (to reject-sender), no notice of the notice.
    assert_eq!(sent.len(), 3, "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e.contains("NotNotified")).count(),
        2
    );
    assert!(q.store().list().unwrap().is_empty());
}

#[test]
fn a_truncated_entry_and_a_garbage_state_are_moved_aside_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let truncated = enqueue(&q, "ann@example.test", &["bob@example.test"]);
    let garbage = enqueue(&q, "ann@example.test", &["bob@example.test"]);
    enqueue(&q, "ann@example.test", &["carol@example.test"]);
    let entries = dir.path().join("entries");
    let message = entries.join(&truncated.id).join("message");
    let bytes = std::fs::read(&message).unwrap();
    std::fs::write(&message, &bytes[..10]).unwrap();
    std::fs::write(
        entries.join(&garbage.id).join("state"),
        b"{\"version\": 1, garb",
    )
    .unwrap();
    let t = Scripted::new();
    let (summary, events) = run(&q, &t, RunMode::Due);
    assert_eq!(summary.moved_aside, 2, "{events:?}");
    assert_eq!(summary.finished, 1);
    assert_eq!(t.sent.borrow()[0].1, ["carol@example.test"]);
    let corrupt = dir.path().join("corrupt");
    for id in [&truncated.id, &garbage.id] {
        let reason = std::fs::read_to_string(corrupt.join(id).join("reason")).unwrap();
        assert!(!reason.is_empty());
        // Nothing deleted.
        assert!(corrupt.join(id).join("message").exists());
    }
    let reason = std::fs::read_to_string(corrupt.join(&truncated.id).join("reason")).unwrap();
    assert!(reason.contains("truncated"), "{reason}");
}

#[test]
fn an_entry_locked_by_another_runner_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let record = enqueue(&q, "ann@example.test", &["bob@example.test"]);
    let held = q.store().try_lock(&record.id).unwrap().unwrap();
    assert!(q.store().try_lock(&record.id).unwrap().is_none());
    let t = Scripted::new();
    let (summary, _) = run(&q, &t, RunMode::Due);
    assert_eq!(summary.skipped_locked, 1);
    assert!(t.sent.borrow().is_empty());
    drop(held);
    run(&q, &t, RunMode::Due);
    assert_eq!(t.sent.borrow().len(), 1);
}

#[test]
fn the_lifetime_ends_with_a_failure_notice() {
    let dir = tempfile::tempdir().unwrap();
    let options = QueueOptions {
        schedule: mxsend_core::retry::RetrySchedule {
            min_backoff: std::time::Duration::from_secs(1),
            max_backoff: std::time::Duration::from_secs(1),
            lifetime: std::time::Duration::from_secs(1),
        },
        ..QueueOptions::default()
    };
    let q = Queue::open_dir(dir.path(), options).unwrap();
    enqueue(&q, "ann@example.test", &["defer@example.test"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let t = Scripted::new();
    let (_, events) = run(&q, &t, RunMode::Due);
    assert!(events.iter().any(|e| e.contains("Expired")), "{events:?}");
    let notice = String::from_utf8_lossy(&t.sent.borrow()[1].2).into_owned();
    assert!(
        notice.contains("Action: failed\r\nStatus: 5.7.1"),
        "{notice}"
    );
}

#[test]
fn a_delay_warning_is_sent_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = QueueOptions {
        delay_warning: Some(std::time::Duration::ZERO),
        ..QueueOptions::default()
    };
    let q = Queue::open_dir(dir.path(), options).unwrap();
    let record = enqueue(&q, "ann@example.test", &["defer@example.test"]);
    let t = Scripted::new();
    run(&q, &t, RunMode::Due);
    run(&q, &t, RunMode::All);
    let sent = t.sent.borrow();
    let warnings = sent
        .iter()
        .filter(|s| String::from_utf8_lossy(&s.2).contains("Action: delayed"))
        .count();
    assert_eq!(warnings, 1);
    assert!(q.store().read(&record.id).unwrap().warned);
}

#[test]
fn an_unwritable_queue_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"").unwrap();
    let err = Queue::open_dir(file.join("queue"), QueueOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot create the queue directory"),
        "{err}"
    );
}

#[test]
fn a_delivery_is_recorded_when_its_transaction_ends_not_when_the_batch_does() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let first = enqueue(
        &q,
        "ann@example.test",
        &["bob@example.test", "defer@example.test"],
    );
    enqueue(&q, "ann@example.test", &["carol@example.test"]);
    let store = q.store().clone();
    let id = first.id.clone();
    let mut seen = None;
    let mut transport =
        |route: &QueuedRoute, messages: &[Message<EntryBody>], delivered: &Delivered| {
            let results = (&Scripted::new()).send(route, messages, delivered);
            // Before the batch returns, the first message's delivered recipient is on disk.
            seen = Some(store.read(&id).unwrap().recipients[0].state);
            results
        };
    q.run(&mut transport, RunMode::Due, &mut |_| {}).unwrap();
    assert_eq!(seen, Some(RecipientState::Delivered));
}

#[test]
fn the_queue_sends_through_any_library_transport_and_records_as_each_transaction_ends() {
    // The queue's routes go through the library's Transport: here a stub that greylists
    // one recipient once, wrapped in a recorder.
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let record = enqueue(
        &q,
        "ann@example.test",
        &["bob@example.test", "grey@example.test"],
    );
    let outbox = crate::RecordingTransport::wrap(crate::StubTransport::new().defer_then_deliver(
        "grey@example.test",
        451,
        "4.7.1 greylisted",
    ));
    let mut routes = Vec::new();
    let mut transport = BlockingTransport::new(|route: &QueuedRoute| {
        routes.push(route.clone());
        Ok(outbox.clone())
    });
    q.run(&mut transport, RunMode::Due, &mut |_| {}).unwrap();
    let saved = q.store().read(&record.id).unwrap();
    assert_eq!(saved.recipients[0].state, RecipientState::Delivered);
    assert_eq!(saved.recipients[1].state, RecipientState::Pending);
    assert!(saved.recipients[1]
        .last_reply
        .as_deref()
        .unwrap()
        .contains("4.7.1 greylisted"));
    q.run(&mut transport, RunMode::All, &mut |_| {}).unwrap();
    assert!(q.store().read(&record.id).is_err(), "finished and removed");
    assert_eq!(routes, [route(), route()]);
    let sent = outbox.messages();
    assert_eq!(sent.len(), 2);
    // The second attempt carried only the recipient still pending.
    assert_eq!(sent[1].envelope.recipients.len(), 1);
    assert_eq!(
        sent[1].envelope.recipients[0].to_string(),
        "grey@example.test"
    );
    assert!(sent[1].text().ends_with("hello\r\n"));
}

#[test]
fn content_that_cannot_go_as_text_is_queued_to_go_as_binarymime() {
    let dir = tempfile::tempdir().unwrap();
    let q = queue(dir.path());
    let body: &[u8] = b"Subject: binary\r\n\r\n\0\x01\r\n";
    let binary = q
        .enqueue(
            &Message::new(envelope("ann@example.test", &["bob@example.test"]), body),
            route(),
        )
        .unwrap();
    let text = enqueue(&q, "ann@example.test", &["bob@example.test"]);
    let stored = |id: &str| q.store().read(id).unwrap().pending_envelope().unwrap().body;
    assert_eq!(stored(&binary.id), BodyType::BinaryMime);
    assert_eq!(stored(&text.id), BodyType::SevenBit);
}
