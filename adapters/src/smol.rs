//! The smol adapter (feature `smol`): [`send`], [`send_all`] and [`deliver`], async.
//!
//! The driver is [`crate::aio`], shared with async-std; this module only says how smol
//! connects and which UDP socket DNS uses (`async-net`, smol's `smol::net`). Timers are
//! async-io's, smol's own. The futures run on any executor; they need async-io's reactor,
//! which `smol::block_on` and smol's executors drive (and which otherwise runs on its own
//! thread).
//!
//! ```no_run
//! use mxsend::core::address::{Mailbox, ReversePath};
//! use mxsend::core::command::BodyType;
//! use mxsend::core::session::{DsnOptions, Envelope};
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

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_net::{TcpStream, UdpSocket};

use rustls_pki_types::ServerName;

use crate::aio::{entry_points, futures_tls_connect, Runtime, UdpRuntime};

/// The smol runtime, for [`crate::aio`]'s generic functions and [`crate::dns::Resolver`]'s
/// `*_async` methods.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

impl Runtime for Smol {
    type TcpStream = TcpStream;
    type TlsStream = futures_rustls::client::TlsStream<TcpStream>;

    async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect(addr).await
    }

    fn set_nodelay(stream: &TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)
    }

    fn local_addr(stream: &TcpStream) -> io::Result<SocketAddr> {
        stream.local_addr()
    }

    async fn tls_connect(
        stream: TcpStream,
        config: Arc<rustls::ClientConfig>,
        name: ServerName<'static>,
    ) -> io::Result<Self::TlsStream> {
        futures_tls_connect(stream, config, name).await
    }

    fn tls_connection(stream: &Self::TlsStream) -> &rustls::ClientConnection {
        stream.get_ref().1
    }

    async fn sleep_until(deadline: Instant) {
        async_io::Timer::at(deadline).await;
    }
}

impl UdpRuntime for Smol {
    type UdpSocket = UdpSocket;

    async fn udp_connect(local: SocketAddr, server: SocketAddr) -> io::Result<UdpSocket> {
        let socket = UdpSocket::bind(local).await?;
        socket.connect(server).await?;
        Ok(socket)
    }

    async fn udp_send(socket: &UdpSocket, datagram: &[u8]) -> io::Result<usize> {
        socket.send(datagram).await
    }

    async fn udp_recv(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<usize> {
        socket.recv(buf).await
    }
}

entry_points!(Smol);
