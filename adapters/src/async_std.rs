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
//! let report = async_std::task::block_on(mxsend::async_std::send(&relay, &message))?;
//! assert!(report.all_delivered());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use async_std::net::{TcpStream, UdpSocket};

use rustls_pki_types::ServerName;

use crate::aio::{entry_points, futures_tls_connect, Runtime, UdpRuntime};

/// The async-std runtime, for [`crate::aio`]'s generic functions and
/// [`crate::dns::Resolver`]'s `*_async` methods.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncStd;

impl Runtime for AsyncStd {
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

impl UdpRuntime for AsyncStd {
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

entry_points!(AsyncStd);
