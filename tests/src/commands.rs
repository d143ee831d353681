//! The commands a client sent, from its transcript: each line's verb (`EHLO`, `RSET`, `MAIL`,
//! `.`) and `CONNECT` for each connection, in order, for tests that check what went over
//! which connection (the long-lived clients).

use std::sync::{Arc, Mutex};

use mxsend::{Relay, TranscriptEvent};

/// `relay` with a transcript that logs command verbs and connections into the returned list.
pub fn command_log(relay: Relay) -> (Arc<Mutex<Vec<String>>>, Relay) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let relay = relay.transcript(move |event| {
        let entry = match event {
            TranscriptEvent::Sent(line) => {
                let line = String::from_utf8_lossy(line);
                line.split([' ', ':'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
            TranscriptEvent::Connected { .. } => "CONNECT".to_string(),
            _ => return,
        };
        sink.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    });
    (log, relay)
}
