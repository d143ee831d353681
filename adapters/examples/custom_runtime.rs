//! A runtime of your own for the async driver: [`mxsend::aio::Runtime`] implemented over
//! async-io's `Async<std::net::TcpStream>` (any reactor would do), for relays only, so
//! without [`mxsend::aio::UdpRuntime`]: `send` and `send_all` work, `deliver` (MX, which
//! needs DNS over UDP) does not compile for it.
//!
//! ```text
//! cargo run -p mxsend --no-default-features --features aio --example custom_runtime -- HOST PORT FROM TO [TLS mode]
//! ```
//!
//! Only the `aio` feature is needed: the driver, TLS configuration, the session, fallback
//! and reports are mxsend's; the runtime supplies sockets, a TLS handshake and a timer.

mod common;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use async_io::{Async, Timer};
use mxsend::aio::{futures_tls_connect, Runtime};
use rustls_pki_types::ServerName;

/// async-io's reactor and timer, used directly.
struct AsyncIo;

impl Runtime for AsyncIo {
    type TcpStream = Async<TcpStream>;
    // futures-rustls over the same stream: what any futures-io runtime can use.
    type TlsStream = futures_rustls::client::TlsStream<Async<TcpStream>>;
    type UnixStream = Async<UnixStream>;

    async fn connect(addr: SocketAddr) -> io::Result<Self::TcpStream> {
        // No timeout here: the driver races this against `sleep_until`.
        Async::<TcpStream>::connect(addr).await
    }

    async fn connect_unix(path: PathBuf) -> io::Result<Self::UnixStream> {
        Async::<UnixStream>::connect(path).await
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
        futures_tls_connect(stream, config, name).await
    }

    fn tls_connection(stream: &Self::TlsStream) -> &rustls::ClientConnection {
        stream.get_ref().1
    }

    async fn sleep_until(deadline: Instant) {
        Timer::at(deadline).await;
    }

    // `lookup_host` keeps its default: getaddrinfo on the `blocking` thread pool.
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (relay, message) = common::from_args("custom_runtime")?;
    let report = async_io::block_on(mxsend::aio::send::<AsyncIo, _>(&relay, &message))?;
    common::print(&report)
}
