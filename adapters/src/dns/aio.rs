//! The async driver: [`Lookup`] over a [`UdpRuntime`]'s sockets, and the async [`Resolver`]
//! methods built on it. The same loops as `blocking.rs` (a lookup's, and the plan machines'
//! of `plan.rs`), each receive raced against the try's deadline.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use mxsend_core::address::Domain;
use mxsend_core::mx::MxRecord;

use super::plan::{HostLookup, Machine, MxLookup, PlanLookup, Step};
use super::{
    Action, AddressLimit, Answer, DnsError, Input, Lookup, Resolver, Route, RouteError, Transmit,
    Transport,
};
use crate::aio::{timeout_at, UdpRuntime};

/// Largest DNS message: UDP datagrams and TCP frames both top out at 64 KiB (RFC 1035 §4.2).
const MAX_MESSAGE: usize = 65_535;

enum Connection<R: UdpRuntime> {
    Udp(R::UdpSocket),
    Tcp(R::TcpStream),
}

impl<R: UdpRuntime> Connection<R> {
    /// A fresh socket per message: port 0 lets the OS pick a random source port.
    async fn open(t: &Transmit) -> io::Result<Connection<R>> {
        match t.transport {
            Transport::Udp => {
                let local: SocketAddr = match t.server {
                    SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                    SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
                };
                let socket = R::udp_connect(local, t.server).await?;
                R::udp_send(&socket, &t.bytes).await?;
                Ok(Connection::Udp(socket))
            }
            Transport::Tcp => {
                let mut stream = R::connect(t.server).await?;
                R::set_nodelay(&stream)?;
                stream.write_all(&t.bytes).await?;
                stream.flush().await?;
                Ok(Connection::Tcp(stream))
            }
        }
    }

    /// One message.
    async fn receive<'b>(&mut self, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        match self {
            Connection::Udp(socket) => {
                let n = R::udp_recv(socket, buf).await?;
                Ok(buf.get(..n).unwrap_or_default())
            }
            Connection::Tcp(stream) => {
                let mut prefix = [0u8; 2];
                stream.read_exact(&mut prefix).await?;
                let len = usize::from(u16::from_be_bytes(prefix));
                let message = buf.get_mut(..len).ok_or(io::ErrorKind::InvalidData)?;
                stream.read_exact(message).await?;
                Ok(message)
            }
        }
    }
}

/// Run `lookup` to completion on runtime `R`.
async fn run<R: UdpRuntime>(mut lookup: Lookup) -> Result<Answer, DnsError> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut current: Option<(Connection<R>, Instant)> = None;
    let mut action = lookup.start();
    loop {
        let received = match action {
            Action::Done(result) => return result,
            Action::Send(transmit) => {
                let deadline = Instant::now() + transmit.timeout;
                current = None;
                match timeout_at::<R, _>(deadline, Connection::open(&transmit)).await {
                    Ok(connection) => {
                        let (connection, deadline) = current.insert((connection, deadline));
                        timeout_at::<R, _>(*deadline, connection.receive(&mut buf)).await
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Wait => match &mut current {
                Some((connection, deadline)) => {
                    timeout_at::<R, _>(*deadline, connection.receive(&mut buf)).await
                }
                None => Err(io::ErrorKind::TimedOut.into()),
            },
        };
        let input = match &received {
            Ok(bytes) => Input::Response(bytes),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Input::Timeout,
            Err(e) => Input::Io(e.kind()),
        };
        action = lookup.handle(input);
    }
}

/// Run `machine` to completion on runtime `R`.
async fn resolve<R: UdpRuntime, M: Machine>(mut machine: M) -> M::Output {
    let mut step = machine.start();
    loop {
        match step {
            Step::Done(output) => return output,
            Step::Ask(lookup) => step = machine.answer(run::<R>(*lookup).await),
        }
    }
}

impl Resolver {
    /// [`Resolver::mx`](Resolver) on async runtime `R`: the MX records of `domain` (empty:
    /// NODATA, the implicit MX applies).
    pub async fn mx_async<R: UdpRuntime>(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        resolve::<R, _>(MxLookup::new(self, domain, fastrand::u64(..))).await
    }

    /// The addresses of `host` on async runtime `R`: AAAA records, then A records, combined
    /// as the blocking `ip_addrs` does.
    pub async fn ip_addrs_async<R: UdpRuntime>(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        resolve::<R, _>(HostLookup::new(self, host, || fastrand::u64(..))).await
    }

    /// Where to deliver mail for `domain`, on async runtime `R`: as the blocking `plan`.
    pub async fn plan_async<R: UdpRuntime>(
        &self,
        domain: &Domain,
        random: impl FnMut() -> u64,
    ) -> Result<Route, RouteError> {
        self.plan_up_to_async::<R>(domain, random, AddressLimit::NONE)
            .await
    }

    /// [`Resolver::plan_async`], resolving exchanges lazily until `limit` is reached, as the
    /// blocking `plan_up_to`.
    pub async fn plan_up_to_async<R: UdpRuntime>(
        &self,
        domain: &Domain,
        random: impl FnMut() -> u64,
        limit: AddressLimit,
    ) -> Result<Route, RouteError> {
        resolve::<R, _>(PlanLookup::new(self, domain, random, limit)).await
    }
}
