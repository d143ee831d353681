//! The `tracing` feature against aiosmtpd (AUTH PLAIN without TLS, allowed for the test): a span per call and per connection, a debug
//! event per command and reply with the AUTH secret redacted, and an event per recipient's
//! outcome. The subscriber is the test's own (no subscriber crate needed to see them).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mxsend::{MessageBuilder, Relay, TlsMode};
use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions, AUTH_PASSWORD, AUTH_USER};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Every span name and every event's fields, as text, in order.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    next_id: Arc<Mutex<u64>>,
}

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target().starts_with("mxsend")
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(String::new());
        span.record(&mut fields);
        self.lines
            .lock()
            .unwrap()
            .push(format!("span {}{}", span.metadata().name(), fields.0));
        let mut id = self.next_id.lock().unwrap();
        *id += 1;
        Id::from_u64(*id)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.lines
            .lock()
            .unwrap()
            .push(format!("{}{}", event.metadata().level(), fields.0));
    }

    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_delivery_is_traced_with_spans_commands_replies_and_outcomes_secrets_redacted() {
    let server = Aiosmtpd::start(AiosmtpdOptions {
        auth_require_tls: false,
        ..AiosmtpdOptions::default().with_auth()
    });
    let addr = server.addr();
    let password = AUTH_PASSWORD;
    let relay = Relay::new(addr.ip().to_string(), addr.port())
        .tls(TlsMode::None)
        .credentials(AUTH_USER, password)
        .allow_plaintext_auth(true)
        .timeout(Duration::from_secs(20));
    let message = MessageBuilder::new()
        .from("app@example.org")
        .to("bob@example.test")
        .subject("traced")
        .text("body line")
        .build()
        .unwrap();
    let recorder = Recorder::default();
    let report = tracing::subscriber::with_default(recorder.clone(), || {
        mxsend::blocking::send(&relay, &message).unwrap()
    });
    assert!(report.all_delivered(), "{report}");
    let lines = recorder.lines.lock().unwrap().clone();
    let text = lines.join("\n");
    let find = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in:\n{text}"))
    };
    let call = find("span mxsend.send messages=1");
    let connection = find(&format!("span mxsend.connection host={}", addr.ip()));
    let connected = find("connected");
    let mail = find("command=MAIL FROM:<app@example.org>");
    let reply = find("reply=250");
    let outcome = find("outcome=\"delivered\"");
    assert!(call < connection && connection < connected && connected < mail && mail < outcome);
    assert!(reply > connected);
    assert!(
        lines[outcome].contains("recipient=bob@example.test"),
        "{}",
        lines[outcome]
    );
    // The AUTH line is there, redacted: neither the password nor its base64 form.
    let auth = find("command=AUTH");
    assert!(lines[auth].contains("[redacted]"), "{}", lines[auth]);
    let mut encoded = Vec::new();
    mxsend_core::base64::encode(
        format!("\0{AUTH_USER}\0{password}").as_bytes(),
        &mut encoded,
    );
    let encoded = String::from_utf8(encoded).unwrap();
    assert!(
        !text.contains(password) && !text.contains(&encoded),
        "{text}"
    );
    // Message content only at trace level, which this subscriber takes too: not at debug.
    assert!(lines
        .iter()
        .all(|l| !(l.starts_with("DEBUG") && l.contains("body line"))));
}
