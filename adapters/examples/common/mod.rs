//! What the three examples share: the command line, the message, the report. Only the line
//! that sends differs between runtimes.

use std::error::Error;

use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::command::BodyType;
use mxsend::protocol::session::{DsnOptions, Envelope};
use mxsend::transcript::Printer;
use mxsend::{Message, Relay, Report, TlsMode};

/// A message with its content in memory.
pub type Email = Message<Vec<u8>>;

/// `HOST PORT FROM TO [none|opportunistic|required|implicit]`, credentials from
/// `MXSEND_USER` and `MXSEND_PASSWORD`, a further CA to trust from `MXSEND_CA_FILE`: the relay
/// (its transcript on stderr) and the message.
pub fn from_args(program: &str) -> Result<(Relay, Email), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, from, to, rest @ ..] = args.as_slice() else {
        return Err(format!(
            "usage: {program} HOST PORT FROM TO [none|opportunistic|required|implicit]"
        )
        .into());
    };
    let port: u16 = port.parse()?;
    let mut relay = Relay::new(host.as_str(), port).transcript_to(Printer::new(std::io::stderr()));
    if let Some(mode) = rest.first() {
        relay = relay.tls(match mode.as_str() {
            "none" => TlsMode::None,
            "opportunistic" => TlsMode::Opportunistic,
            "required" => TlsMode::Required,
            "implicit" => TlsMode::Implicit,
            other => return Err(format!("unknown TLS mode {other:?}").into()),
        });
    }
    if let (Ok(user), Ok(password)) = (
        std::env::var("MXSEND_USER"),
        std::env::var("MXSEND_PASSWORD"),
    ) {
        relay = relay.credentials(user, password);
    }
    if let Ok(ca_file) = std::env::var("MXSEND_CA_FILE") {
        relay = relay.ca_file(ca_file);
    }
    let envelope = Envelope {
        from: ReversePath::parse(from)?,
        recipients: vec![Mailbox::parse(to)?],
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let body = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: mxsend {program}\r\n\r\nSent by the {program} example.\r\n"
    );
    Ok((relay, Message::new(envelope, body.into_bytes())))
}

/// Print each recipient's outcome; an error unless all were delivered.
pub fn print(report: &Report) -> Result<(), Box<dyn Error>> {
    for recipient in &report.recipients {
        println!(
            "{}: {:?} (host {:?}, address {:?})",
            recipient.mailbox, recipient.outcome, recipient.host, recipient.addr
        );
    }
    if report.all_delivered() {
        Ok(())
    } else {
        Err("not every recipient was delivered".into())
    }
}
