//! The async-std adapter (feature `async-std`, **legacy**): [`send`], [`send_all`] and
//! [`deliver`], async.
//!
//! async-std announced its discontinuation in 2025 in favour of smol, and its registry entry
//! now reads "Deprecated in favor of smol". The feature stays for the users who asked for it,
//! as thin as it can be: the driver is [`crate::aio`], shared with smol, and this module only
//! supplies async-std's sockets. Timers are async-io's, which async-std itself uses. New code
//! should prefer [`crate::smol`]; moving over is a change of module path.
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
//! let report = async_std::task::block_on(mxsend::async_std::send(&relay, &message))?;
//! assert!(report.all_delivered());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use async_std::net::{TcpStream, UdpSocket};

use crate::aio::{entry_points, futures_io_runtime, udp_runtime};

/// The async-std runtime, for [`crate::aio`]'s generic functions and
/// [`crate::dns::Resolver`]'s `*_async` methods.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

futures_io_runtime!(AsyncStd, TcpStream, async_std::os::unix::net::UnixStream);
udp_runtime!(AsyncStd, UdpSocket);
entry_points!(
    AsyncStd,
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
let reports = async_std::task::block_on(mxsend::async_std::send_all(&relay, &messages))?;
for report in &reports {
    for recipient in &report.recipients {
        println!("{recipient}");
    }
}
# Ok::<(), Box<dyn std::error::Error>>(())
```
"#
);
