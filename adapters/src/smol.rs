//! The smol adapter (feature `smol`): [`send`], [`send_all`] and [`deliver`], async.
//!
//! The driver is [`crate::aio`], shared with async-std; this module only says how smol
//! connects and which UDP socket DNS uses (`async-net`, smol's `smol::net`). Timers are
//! async-io's, smol's own. The futures run on any executor; they need async-io's reactor,
//! which `smol::block_on` and smol's executors drive (and which otherwise runs on its own
//! thread).
//!
//! ```no_run
//! use mxsend::protocol::address::{Mailbox, ReversePath};
//! use mxsend::protocol::command::BodyType;
//! use mxsend::protocol::session::{DsnOptions, Envelope};
//! use mxsend::{Message, Relay};
//!
//! let envelope = Envelope {
//!     from: ReversePath::parse("alice@example.org")?,
//!     recipients: vec![Mailbox::parse("bob@example.com")?],
//!     size: None,
//!     body: BodyType::SevenBit,
//!     utf8_headers: false,
//!     dsn: DsnOptions::default(),
//! };
//! let message = Message::new(envelope, b"Subject: hello\r\n\r\nHi Bob.\r\n".to_vec());
//! let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
//! let report = smol::block_on(mxsend::smol::send(&relay, &message))?;
//! assert!(report.all_delivered());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use async_net::{TcpStream, UdpSocket};

use crate::aio::{entry_points, futures_io_runtime, udp_runtime};

/// The smol runtime, for [`crate::aio`]'s generic functions and [`crate::dns::Resolver`]'s
/// `*_async` methods.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

futures_io_runtime!(Smol, TcpStream, async_net::unix::UnixStream);
udp_runtime!(Smol, UdpSocket);
entry_points!(
    Smol,
    send_all_example = r#"
```no_run
use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::session::Envelope;
use mxsend::{Message, Relay};

let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
let mut messages = Vec::new();
for to in ["bob@example.com", "carol@example.net"] {
    let envelope = Envelope::new(ReversePath::parse("alice@example.org")?, [Mailbox::parse(to)?]);
    let content = format!("To: {to}\r\nSubject: hello\r\n\r\nHi.\r\n");
    messages.push(Message::new(envelope, content.into_bytes()));
}
// One connection for both; one report per message, in the order given.
let reports = smol::block_on(mxsend::smol::send_all(&relay, &messages))?;
for report in &reports {
    for recipient in &report.recipients {
        println!("{recipient}");
    }
}
# Ok::<(), Box<dyn std::error::Error>>(())
```
"#
);
