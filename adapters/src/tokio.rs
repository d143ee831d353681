//! The tokio adapter (feature `tokio`): [`send`], [`send_all`] and [`deliver`], async, on
//! tokio's own sockets (`tokio::net`), timer (`tokio::time`) and TLS (tokio-rustls).
//!
//! The driver is [`crate::aio`], shared with smol and async-std; this module implements its
//! [`Runtime`] and [`UdpRuntime`](crate::aio::UdpRuntime) traits with tokio's types, bridged to the futures-io traits
//! the driver is written over by tokio-util's `compat` (a wrapper, no copy, no thread). No
//! other reactor runs: the futures must be polled inside a tokio runtime with I/O and time
//! enabled (`#[tokio::main]`, or a `Runtime` built with `enable_all`), current-thread or
//! multi-thread. A relay's host name is resolved with `tokio::task::spawn_blocking`.
//!
//! ```no_run
//! use mxsend::protocol::address::{Mailbox, ReversePath};
//! use mxsend::protocol::command::BodyType;
//! use mxsend::protocol::session::{DsnOptions, Envelope};
//! use mxsend::{Message, Relay};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
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
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let report = runtime.block_on(mxsend::tokio::send(&relay, &message))?;
//! assert!(report.all_delivered());
//! # Ok(())
//! # }
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use rustls_pki_types::ServerName;
use tokio::net::{TcpStream, UdpSocket};
use tokio_util::compat::{Compat, TokioAsyncReadCompatExt};

use crate::aio::{entry_points, udp_runtime, Runtime};
use crate::attempt::lookup_host;
use crate::error::HostLookupError;

/// The tokio runtime, for [`crate::aio`]'s generic functions and [`crate::dns::Resolver`]'s
/// `*_async` methods.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type TcpStream = Compat<TcpStream>;
    type TlsStream = Compat<tokio_rustls::client::TlsStream<TcpStream>>;
    type UnixStream = Compat<tokio::net::UnixStream>;

    async fn connect(addr: SocketAddr) -> io::Result<Self::TcpStream> {
        Ok(TcpStream::connect(addr).await?.compat())
    }

    async fn connect_unix(path: std::path::PathBuf) -> io::Result<Self::UnixStream> {
        Ok(tokio::net::UnixStream::connect(path).await?.compat())
    }

    fn set_nodelay(stream: &Self::TcpStream) -> io::Result<()> {
        stream.get_ref().set_nodelay(true)
    }

    fn local_addr(stream: &Self::TcpStream) -> io::Result<SocketAddr> {
        stream.get_ref().local_addr()
    }

    async fn tls_connect(
        stream: Self::TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Self::TlsStream> {
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, stream.into_inner())
            .await?;
        Ok(tls.compat())
    }

    fn tls_connection(stream: &Self::TlsStream) -> &rustls::ClientConnection {
        stream.get_ref().get_ref().1
    }

    async fn sleep_until(deadline: Instant) {
        tokio::time::sleep_until(deadline.into()).await;
    }

    async fn lookup_host(host: String, port: u16) -> Result<Vec<SocketAddr>, HostLookupError> {
        tokio::task::spawn_blocking(move || lookup_host(&host, port))
            .await
            .map_err(|e| HostLookupError::Other(io::Error::other(e)))?
    }
}

udp_runtime!(Tokio, UdpSocket);
entry_points!(
    Tokio,
    send_all_example = r#"
```no_run
use mxsend::protocol::address::{Mailbox, ReversePath};
use mxsend::protocol::session::Envelope;
use mxsend::{Message, Relay};

# fn main() -> Result<(), Box<dyn std::error::Error>> {
let relay = Relay::new("smtp.example.org", 587).credentials("alice", "secret");
let mut messages = Vec::new();
for to in ["bob@example.com", "carol@example.net"] {
    let envelope = Envelope::new(ReversePath::parse("alice@example.org")?, [Mailbox::parse(to)?]);
    let content = format!("To: {to}\r\nSubject: hello\r\n\r\nHi.\r\n");
    messages.push(Message::new(envelope, content.into_bytes()));
}
// One connection for both; one report per message, in the order given.
let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
let reports = runtime.block_on(mxsend::tokio::send_all(&relay, &messages))?;
for report in &reports {
    for recipient in &report.recipients {
        println!("{recipient}");
    }
}
# Ok(())
# }
```
"#
);
