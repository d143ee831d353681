//! The blocking driver: [`Lookup`] over `std::net` sockets, and the blocking [`Resolver`]
//! methods built on it (each the plan machine of `plan.rs` run by [`resolve`]).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Instant;

use mxsend_core::address::Domain;
use mxsend_core::mx::MxRecord;

use super::plan::{HostLookup, Machine, MxLookup, PlanLookup, Step};
use super::{
    txt_records, Action, AddressLimit, Answer, DnsError, Input, Lookup, QueryType, Resolver, Route,
    RouteError, SourcedAnswer, Transmit, Transport,
};

/// Largest DNS message: UDP datagrams and TCP frames both top out at 64 KiB (RFC 1035 §4.2).
const MAX_MESSAGE: usize = 65_535;

enum Connection {
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Connection {
    /// A fresh socket per message: port 0 lets the OS pick a random source port.
    fn open(t: &Transmit, deadline: Instant) -> io::Result<Connection> {
        match t.transport {
            Transport::Udp => {
                let local: SocketAddr = match t.server {
                    SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                    SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
                };
                let socket = UdpSocket::bind(local)?;
                socket.connect(t.server)?;
                socket.send(&t.bytes)?;
                Ok(Connection::Udp(socket))
            }
            Transport::Tcp => {
                let mut stream = TcpStream::connect_timeout(&t.server, remaining(deadline)?)?;
                stream.set_nodelay(true)?;
                stream.write_all(&t.bytes)?;
                Ok(Connection::Tcp(stream))
            }
        }
    }

    /// One message, read before `deadline`.
    fn receive<'b>(&mut self, deadline: Instant, buf: &'b mut [u8]) -> io::Result<&'b [u8]> {
        match self {
            Connection::Udp(socket) => {
                socket.set_read_timeout(Some(remaining(deadline)?))?;
                let n = socket.recv(buf)?;
                Ok(buf.get(..n).unwrap_or_default())
            }
            Connection::Tcp(stream) => {
                let mut prefix = [0u8; 2];
                stream.set_read_timeout(Some(remaining(deadline)?))?;
                stream.read_exact(&mut prefix)?;
                let len = usize::from(u16::from_be_bytes(prefix));
                let message = buf.get_mut(..len).ok_or(io::ErrorKind::InvalidData)?;
                stream.set_read_timeout(Some(remaining(deadline)?))?;
                stream.read_exact(message)?;
                Ok(message)
            }
        }
    }
}

/// Time left before `deadline`, or a timeout error once it has passed (a zero read timeout
/// would mean "block forever" to `std`).
fn remaining(deadline: Instant) -> io::Result<std::time::Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// Run `lookup` to completion with blocking sockets.
pub(crate) fn run(mut lookup: Lookup) -> Result<Answer, DnsError> {
    run_in_place(&mut lookup)
}

/// [`run`], keeping the lookup (for [`Lookup::answered_by`]).
pub(crate) fn run_in_place(lookup: &mut Lookup) -> Result<Answer, DnsError> {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut current: Option<(Connection, Instant)> = None;
    let mut action = lookup.start();
    loop {
        let received = match action {
            Action::Done(result) => return result,
            Action::Send(transmit) => {
                let deadline = Instant::now() + transmit.timeout;
                current = None;
                match Connection::open(&transmit, deadline) {
                    Ok(connection) => {
                        let (connection, deadline) = current.insert((connection, deadline));
                        connection.receive(*deadline, &mut buf)
                    }
                    Err(e) => Err(e),
                }
            }
            Action::Wait => match &mut current {
                Some((connection, deadline)) => connection.receive(*deadline, &mut buf),
                None => Err(io::ErrorKind::TimedOut.into()),
            },
        };
        let input = match &received {
            Ok(bytes) => Input::Response(bytes),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Input::Timeout
            }
            Err(e) => Input::Io(e.kind()),
        };
        action = lookup.handle(input);
    }
}

/// Run `machine` to completion, each lookup it asks for with blocking sockets.
fn resolve<M: Machine>(mut machine: M) -> M::Output {
    let mut step = machine.start();
    loop {
        match step {
            Step::Done(output) => return output,
            Step::Ask(lookup) => step = machine.answer(run(*lookup)),
        }
    }
}

impl Resolver {
    /// The MX records of `domain` (empty: NODATA, the implicit MX applies).
    pub fn mx(&self, domain: &str) -> Result<Vec<MxRecord>, DnsError> {
        resolve(MxLookup::new(self, domain, fastrand::u64(..)))
    }

    /// The answer to `name`/`qtype` with the server that gave it and its AD bit
    /// ([`Lookup::answered_by`]): what DANE needs to tell secure answers from others.
    pub fn lookup_with_ad(
        &self,
        name: &str,
        qtype: QueryType,
    ) -> (Result<Answer, DnsError>, Option<(SocketAddr, bool)>) {
        let mut lookup = match self.lookup(name, qtype, fastrand::u64(..)) {
            Ok(lookup) => lookup,
            Err(e) => return (Err(e), None),
        };
        let answer = run_in_place(&mut lookup);
        (answer, lookup.answered_by())
    }

    /// The answer to `name`/`qtype` with the server that gave it, its AD bit and the end of
    /// its CNAME chain: what DANE needs to follow aliases securely (RFC 7672 §2.2.2).
    pub fn lookup_sourced(&self, name: &str, qtype: QueryType) -> SourcedAnswer {
        let mut lookup = match self.lookup(name, qtype, fastrand::u64(..)) {
            Ok(lookup) => lookup,
            Err(e) => {
                return SourcedAnswer {
                    answer: Err(e),
                    answered_by: None,
                    canonical_name: None,
                }
            }
        };
        let answer = run_in_place(&mut lookup);
        SourcedAnswer {
            answer,
            answered_by: lookup.answered_by(),
            canonical_name: lookup.canonical_name(),
        }
    }

    /// The TXT records at `name`, each record's strings joined (empty: NODATA).
    pub fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        run(self.lookup(name, QueryType::Txt, fastrand::u64(..))?).map(txt_records)
    }

    /// The addresses of `host`: AAAA records, then A records.
    ///
    /// One family failing temporarily while the other answers gives the other's addresses: a
    /// host reachable over one family is reachable. NXDOMAIN for either is NXDOMAIN.
    pub fn ip_addrs(&self, host: &str) -> Result<Vec<IpAddr>, DnsError> {
        resolve(HostLookup::new(self, host, || fastrand::u64(..)))
    }

    /// Where to deliver mail for `domain`: its MX records through [`mx::plan`] (`random` shuffles
    /// equal preferences and seeds every lookup), then each exchange's addresses. An address
    /// literal asks no DNS.
    ///
    /// [`mx::plan`]: mxsend_core::mx::plan
    pub fn plan(&self, domain: &Domain, random: impl FnMut() -> u64) -> Result<Route, RouteError> {
        self.plan_up_to(domain, random, AddressLimit::NONE)
    }

    /// [`Resolver::plan`], resolving exchanges lazily, in order, only until `limit` is
    /// reached ([`AddressLimit`]).
    pub fn plan_up_to(
        &self,
        domain: &Domain,
        random: impl FnMut() -> u64,
        limit: AddressLimit,
    ) -> Result<Route, RouteError> {
        resolve(PlanLookup::new(self, domain, random, limit))
    }
}
