//! The library's `on_transaction` hook, which the queue records deliveries with: told once per
//! transaction, in order, as it ends (before `send_all` returns), with each recipient's
//! outcome; against aiosmtpd, one recipient refused.

use std::sync::{Arc, Mutex};

use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope, Outcome};
use mxsend::{blocking, Message, Relay, TlsMode};
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};

/// What the hook was told: message, recipients, which were delivered.
type Told = (usize, Vec<usize>, Vec<bool>);

#[test]
fn on_transaction_is_told_each_transaction_with_its_outcomes() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let envelope = |to: &[&str]| Envelope {
        from: ReversePath::parse("ann@example.test").unwrap(),
        recipients: to.iter().map(|t| Mailbox::parse(t).unwrap()).collect(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let body: &[u8] = b"Subject: hook\r\n\r\nhi\r\n";
    let messages = vec![
        Message::new(envelope(&["bob@example.test"]), body),
        Message::new(
            envelope(&["reject@example.test", "carol@example.test"]),
            body,
        ),
    ];
    let seen: Arc<Mutex<Vec<Told>>> = Arc::default();
    let log = Arc::clone(&seen);
    let relay = Relay::new(server.addr().ip().to_string(), server.addr().port())
        .tls(TlsMode::None)
        .on_transaction(move |end| {
            log.lock().unwrap().push((
                end.message,
                end.recipients.to_vec(),
                end.outcomes
                    .iter()
                    .map(|o| matches!(o, Outcome::Delivered(_)))
                    .collect(),
            ));
        });
    let reports = blocking::send_all(&relay, &messages).unwrap();
    assert_eq!(reports.len(), 2);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [(0, vec![0], vec![true]), (1, vec![0, 1], vec![false, true])]
    );
}
