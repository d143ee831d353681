//! One DNS question, asked until answered: the sans-IO state machine every runtime drives.
//!
//! The machine decides what to send where and what an answer means; a driver only moves
//! bytes and watches the clock. The protocol, per RFC 1035 §4.2 and §7.2, RFC 1123 §6.1.3.3
//! and RFC 7766 §5:
//! - tries go round the servers in order, `attempts` rounds (resolv.conf semantics: attempts
//!   counts rounds over all servers, not tries per server), each with its own timeout;
//! - a try ends with an answer, a timeout, an I/O error, or an error RCODE (SERVFAIL, REFUSED,
//!   …), and the last three move on to the next server;
//! - a truncated UDP answer repeats the same question to the same server over TCP, which is
//!   part of the same try;
//! - each message has a fresh random ID (from the caller's seed: the lookup draws no
//!   randomness itself, so it replays under test) and the drivers bind port 0, so the OS
//!   picks a random source port (RFC 5452 §4, §9.2);
//! - over UDP, a datagram that is not an answer to our question (wrong ID or question) is
//!   ignored and the driver keeps listening until the try's deadline, so a spoofer cannot
//!   cut a try short; over TCP the stream is ours, so such a message ends the try.
//!
//! Driving it, in any runtime:
//!
//! ```text
//! action = lookup.start()
//! loop:
//!     Done(result)  -> return result
//!     Send(t)       -> open t.transport to t.server, write t.bytes, deadline = now + t.timeout
//!     Wait          -> (keep the connection and deadline of the last Send)
//!     then receive one message (TCP: a 2-byte length, then that many bytes) until the deadline
//!     action = lookup.handle(Response(bytes) | Timeout | Io(kind))
//! ```

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::rr::Name;

use super::message::{check_response, encode_query, Verdict};
use super::{Answer, DnsError, QueryType, ResolverConfig, TryFailure};

/// How a message travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram (RFC 1035 §4.2.1).
    Udp,
    /// A TCP connection; the bytes already carry the 2-byte length prefix (RFC 1035 §4.2.2),
    /// and the answer is read the same way: a 2-byte big-endian length, then the message.
    Tcp,
}

/// A message for the driver to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub server: SocketAddr,
    /// How.
    pub transport: Transport,
    /// What to write, verbatim.
    pub bytes: Vec<u8>,
    /// How long to wait for the answer, from now (connecting included, for TCP).
    pub timeout: Duration,
}

/// What the driver tells the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// One received message (for TCP, without its length prefix).
    Response(&'a [u8]),
    /// The deadline of the last [`Transmit`] passed with no answer.
    Timeout,
    /// Connecting, sending or receiving failed.
    Io(io::ErrorKind),
}

/// What the machine wants next.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send this, on a new socket, and report what comes back.
    Send(Transmit),
    /// Keep listening on the current socket until the current deadline.
    Wait,
    /// Finished.
    Done(Result<Answer, DnsError>),
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    server: SocketAddr,
    transport: Transport,
    id: u16,
}

/// One question (name and type) asked of the configured servers until answered.
#[derive(Debug)]
pub struct Lookup {
    name: Name,
    qtype: QueryType,
    servers: Vec<SocketAddr>,
    timeout: Duration,
    edns_payload: Option<u16>,
    tries_left: usize,
    next_server: usize,
    in_flight: Option<InFlight>,
    failures: Vec<(SocketAddr, TryFailure)>,
    /// Where message IDs come from: the caller's seed, so a lookup replays exactly.
    ids: QueryIds,
    /// The server whose answer ended the lookup, and whether it set the AD bit.
    answered: Option<(SocketAddr, bool)>,
    /// The owner of the answer's records: the end of the CNAME chain.
    canonical: Option<Name>,
}

/// Message IDs from a caller's seed (splitmix64): the lookup itself draws no randomness, as
/// the core takes none, so tests replay it exactly. The caller seeds it from a good source
/// (the drivers use a fresh random seed per lookup; RFC 5452 §9.2).
#[derive(Clone, Copy, Debug)]
struct QueryIds(u64);

impl QueryIds {
    fn next(&mut self) -> u16 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) as u16
    }
}

impl Lookup {
    /// A lookup of `name` (U-labels are converted to A-labels, RFC 5891 §4) for `qtype`;
    /// its message IDs are drawn from `seed`.
    pub fn new(
        name: &str,
        qtype: QueryType,
        config: &ResolverConfig,
        seed: u64,
    ) -> Result<Lookup, DnsError> {
        if config.servers.is_empty() {
            return Err(DnsError::NoServers);
        }
        let name = to_wire_name(name)?;
        Ok(Lookup {
            name,
            qtype,
            servers: config.servers.clone(),
            timeout: config.timeout,
            edns_payload: config.edns_payload,
            tries_left: config
                .servers
                .len()
                .saturating_mul(config.attempts.max(1) as usize),
            next_server: 0,
            in_flight: None,
            failures: Vec::new(),
            ids: QueryIds(seed),
            answered: None,
            canonical: None,
        })
    }

    /// The name as it goes on the wire (A-labels, fully qualified).
    pub fn name(&self) -> String {
        self.name.to_ascii()
    }

    /// The question's type.
    #[cfg(test)]
    pub(crate) fn qtype(&self) -> QueryType {
        self.qtype
    }

    /// Once done with an answer (NXDOMAIN included): the server that gave it, and whether
    /// it set the AD bit (RFC 4035 §3.2.3: the data was DNSSEC-validated by that server).
    /// Only a validating resolver the caller trusts makes that bit mean anything.
    pub fn answered_by(&self) -> Option<(SocketAddr, bool)> {
        self.answered
    }

    /// Once done with a NOERROR answer: the name that owns its records, the end of the
    /// question's CNAME chain (RFC 1034 §3.6.2), the question's name when there is none.
    /// DANE's TLSA base domain is the CNAME-expanded name (RFC 7672 §2.2.2).
    pub fn canonical_name(&self) -> Option<String> {
        self.canonical.as_ref().map(Name::to_ascii)
    }

    /// The first message to send.
    pub fn start(&mut self) -> Action {
        self.next_try()
    }

    /// Feed what became of the last [`Action::Send`] (or [`Action::Wait`]).
    pub fn handle(&mut self, input: Input<'_>) -> Action {
        let Some(flight) = self.in_flight else {
            return self.next_try();
        };
        let failure = match input {
            Input::Timeout => TryFailure::Timeout,
            Input::Io(kind) => TryFailure::Io(kind),
            Input::Response(bytes) => {
                // The AD bit: octet 3, 0x20 (RFC 4035 §3.2.3; RFC 1035 §4.1.1 header).
                let authentic = bytes.get(3).is_some_and(|b| b & 0x20 != 0);
                match check_response(bytes, flight.id, &self.name, self.qtype) {
                    Verdict::Answer(answer, owner) => {
                        self.answered = Some((flight.server, authentic));
                        self.canonical = Some(owner);
                        return Action::Done(Ok(answer));
                    }
                    Verdict::NoSuchDomain => {
                        self.answered = Some((flight.server, authentic));
                        return Action::Done(Err(DnsError::NoSuchDomain { name: self.name() }));
                    }
                    Verdict::Truncated if flight.transport == Transport::Udp => {
                        return self.send(flight.server, Transport::Tcp);
                    }
                    Verdict::Truncated => TryFailure::Malformed("truncated answer over TCP".into()),
                    Verdict::NotOurs(_) if flight.transport == Transport::Udp => {
                        return Action::Wait
                    }
                    Verdict::NotOurs(why) => TryFailure::Malformed(why.into()),
                    Verdict::ServerError(rcode) => TryFailure::ServerFailure(rcode),
                    Verdict::Malformed(why) => TryFailure::Malformed(why),
                }
            }
        };
        self.failures.push((flight.server, failure));
        self.next_try()
    }

    fn next_try(&mut self) -> Action {
        self.in_flight = None;
        let Some(server) = self
            .servers
            .get(self.next_server % self.servers.len().max(1))
            .copied()
        else {
            return Action::Done(Err(DnsError::NoServers));
        };
        if self.tries_left == 0 {
            return Action::Done(Err(self.give_up()));
        }
        self.tries_left -= 1;
        self.next_server += 1;
        self.send(server, Transport::Udp)
    }

    fn send(&mut self, server: SocketAddr, transport: Transport) -> Action {
        let id = self.ids.next();
        let message = match encode_query(id, &self.name, self.qtype, self.edns_payload) {
            Ok(message) => message,
            Err(why) => {
                return Action::Done(Err(DnsError::InvalidName {
                    name: self.name(),
                    why,
                }))
            }
        };
        let bytes = match transport {
            Transport::Udp => message,
            Transport::Tcp => {
                // A query is far below 64 KiB: a name is at most 255 octets.
                let len = u16::try_from(message.len()).unwrap_or(u16::MAX);
                let mut framed = Vec::with_capacity(message.len() + 2);
                framed.extend_from_slice(&len.to_be_bytes());
                framed.extend_from_slice(&message);
                framed
            }
        };
        self.in_flight = Some(InFlight {
            server,
            transport,
            id,
        });
        Action::Send(Transmit {
            server,
            transport,
            bytes,
            timeout: self.timeout,
        })
    }

    /// Every try failed: a server's unusable answer is the most telling cause, else the list.
    fn give_up(&mut self) -> DnsError {
        let failures = std::mem::take(&mut self.failures);
        let malformed = failures.iter().find_map(|(server, failure)| match failure {
            TryFailure::Malformed(why) => Some((*server, why.clone())),
            _ => None,
        });
        match malformed {
            Some((server, why)) => DnsError::Malformed {
                name: self.name(),
                server,
                why,
            },
            None => DnsError::NoAnswer {
                name: self.name(),
                failures,
            },
        }
    }
}

/// `name` as a fully qualified wire name in A-labels (IDNA2008 via UTS #46, RFC 5891 §4).
fn to_wire_name(name: &str) -> Result<Name, DnsError> {
    let invalid = |why: String| DnsError::InvalidName {
        name: name.to_string(),
        why,
    };
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(invalid("empty name".into()));
    }
    let ascii = idna::domain_to_ascii(trimmed).map_err(|e| invalid(format!("IDNA: {e}")))?;
    Name::from_ascii(format!("{ascii}.")).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record, RecordType};
    use std::net::{IpAddr, Ipv4Addr};

    fn config(servers: &[&str], attempts: u32) -> ResolverConfig {
        ResolverConfig {
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            timeout: Duration::from_millis(100),
            attempts,
            edns_payload: None,
        }
    }

    fn sent(action: Action) -> Transmit {
        match action {
            Action::Send(t) => t,
            other => panic!("expected a Send, got {other:?}"),
        }
    }

    /// The query inside a transmit (TCP framing removed).
    fn query_of(t: &Transmit) -> Message {
        let bytes = match t.transport {
            Transport::Udp => &t.bytes[..],
            Transport::Tcp => &t.bytes[2..],
        };
        Message::from_vec(bytes).unwrap()
    }

    /// An answer to `query` with one A record, spoiled by `edit`.
    fn answer(query: &Message, edit: impl FnOnce(&mut Message)) -> Vec<u8> {
        let mut m = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        let q = query.queries[0].clone();
        let owner = q.name().clone();
        m.add_query(q);
        m.add_answer(Record::from_rdata(
            owner,
            60,
            RData::A(A(Ipv4Addr::new(127, 0, 0, 9))),
        ));
        edit(&mut m);
        m.to_vec().unwrap()
    }

    fn addr_answer() -> Answer {
        Answer::Addresses(vec![IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9))])
    }

    #[test]
    fn sends_a_udp_query_for_the_name_and_type() {
        let mut lookup = Lookup::new(
            "example.test",
            QueryType::A,
            &config(&["127.0.0.1:53"], 1),
            7,
        )
        .unwrap();
        let t = sent(lookup.start());
        assert_eq!(t.transport, Transport::Udp);
        assert_eq!(t.server, "127.0.0.1:53".parse().unwrap());
        let q = query_of(&t);
        assert_eq!(q.queries[0].name().to_ascii(), "example.test.");
        assert_eq!(q.queries[0].query_type(), RecordType::A);
    }

    #[test]
    fn the_ad_bit_is_asked_for_and_kept_with_the_server_that_answered() {
        let mut lookup = Lookup::new(
            "example.test",
            QueryType::A,
            &config(&["127.0.0.1:53"], 1),
            7,
        )
        .unwrap();
        let q = query_of(&sent(lookup.start()));
        assert!(
            q.metadata.authentic_data,
            "RFC 6840 §5.7: AD set in the query"
        );
        assert_eq!(lookup.answered_by(), None);
        let bytes = answer(&q, |m| m.metadata.authentic_data = true);
        assert_eq!(
            lookup.handle(Input::Response(&bytes)),
            Action::Done(Ok(addr_answer()))
        );
        assert_eq!(
            lookup.answered_by(),
            Some(("127.0.0.1:53".parse().unwrap(), true))
        );

        let mut plain = Lookup::new(
            "example.test",
            QueryType::A,
            &config(&["127.0.0.1:53"], 1),
            8,
        )
        .unwrap();
        let q = query_of(&sent(plain.start()));
        plain.handle(Input::Response(&answer(&q, |_| {})));
        assert_eq!(
            plain.answered_by(),
            Some(("127.0.0.1:53".parse().unwrap(), false))
        );
    }

    #[test]
    fn query_ids_vary() {
        let cfg = config(&["127.0.0.1:53"], 1);
        let ids: std::collections::BTreeSet<u16> = (0..16)
            .map(|seed| {
                query_of(&sent(
                    Lookup::new("a.test", QueryType::A, &cfg, seed)
                        .unwrap()
                        .start(),
                ))
                .metadata
                .id
            })
            .collect();
        assert!(ids.len() > 1, "16 lookups all used ID {ids:?}");
    }

    #[test]
    fn sends_internationalised_names_as_a_labels() {
        let mut lookup = Lookup::new(
            "bücher.test",
            QueryType::Mx,
            &config(&["127.0.0.1:53"], 1),
            7,
        )
        .unwrap();
        assert_eq!(lookup.name(), "xn--bcher-kva.test.");
        let q = query_of(&sent(lookup.start()));
        assert_eq!(q.queries[0].name().to_ascii(), "xn--bcher-kva.test.");
    }

    #[test]
    fn an_answer_finishes_the_lookup() {
        let mut lookup =
            Lookup::new("a.test", QueryType::A, &config(&["127.0.0.1:53"], 1), 7).unwrap();
        let q = query_of(&sent(lookup.start()));
        let action = lookup.handle(Input::Response(&answer(&q, |_| {})));
        assert_eq!(action, Action::Done(Ok(addr_answer())));
    }

    #[test]
    fn keeps_listening_after_a_udp_answer_with_the_wrong_id() {
        let mut lookup =
            Lookup::new("a.test", QueryType::A, &config(&["127.0.0.1:53"], 1), 7).unwrap();
        let q = query_of(&sent(lookup.start()));
        let spoofed = answer(&q, |m| m.metadata.id = q.metadata.id.wrapping_add(1));
        assert_eq!(lookup.handle(Input::Response(&spoofed)), Action::Wait);
        let action = lookup.handle(Input::Response(&answer(&q, |_| {})));
        assert_eq!(action, Action::Done(Ok(addr_answer())));
    }

    #[test]
    fn keeps_listening_after_a_udp_answer_to_another_question() {
        let mut lookup =
            Lookup::new("a.test", QueryType::A, &config(&["127.0.0.1:53"], 1), 7).unwrap();
        let q = query_of(&sent(lookup.start()));
        let other = answer(&q, |m| {
            m.queries[0] = Query::query(Name::from_ascii("b.test.").unwrap(), RecordType::A);
        });
        assert_eq!(lookup.handle(Input::Response(&other)), Action::Wait);
    }

    #[test]
    fn retries_a_truncated_answer_over_tcp_to_the_same_server() {
        let mut lookup = Lookup::new(
            "a.test",
            QueryType::A,
            &config(&["127.0.0.1:53", "127.0.0.2:53"], 1),
            7,
        )
        .unwrap();
        let udp = sent(lookup.start());
        let truncated = answer(&query_of(&udp), |m| m.metadata.truncation = true);
        let tcp = sent(lookup.handle(Input::Response(&truncated)));
        assert_eq!(tcp.transport, Transport::Tcp);
        assert_eq!(tcp.server, udp.server);
        let length = u16::from_be_bytes([tcp.bytes[0], tcp.bytes[1]]) as usize;
        assert_eq!(
            length,
            tcp.bytes.len() - 2,
            "TCP query carries its length prefix"
        );
        let q = query_of(&tcp);
        let action = lookup.handle(Input::Response(&answer(&q, |_| {})));
        assert_eq!(action, Action::Done(Ok(addr_answer())));
    }

    #[test]
    fn moves_to_the_next_server_on_timeout_servfail_and_io_error() {
        let servers = [
            "127.0.0.1:53",
            "127.0.0.2:53",
            "127.0.0.3:53",
            "127.0.0.4:53",
        ];
        let mut lookup = Lookup::new("a.test", QueryType::A, &config(&servers, 1), 7).unwrap();
        let first = sent(lookup.start());
        let second = sent(lookup.handle(Input::Timeout));
        let servfail = answer(&query_of(&second), |m| {
            m.metadata.response_code = ResponseCode::ServFail;
            m.answers.clear();
        });
        let third = sent(lookup.handle(Input::Response(&servfail)));
        let fourth = sent(lookup.handle(Input::Io(io::ErrorKind::ConnectionRefused)));
        let order: Vec<SocketAddr> = [&first, &second, &third, &fourth]
            .iter()
            .map(|t| t.server)
            .collect();
        let expected: Vec<SocketAddr> = servers.iter().map(|s| s.parse().unwrap()).collect();
        assert_eq!(order, expected);
    }

    #[test]
    fn gives_up_after_attempts_rounds_naming_every_failed_try() {
        let mut lookup = Lookup::new(
            "a.test",
            QueryType::A,
            &config(&["127.0.0.1:53", "127.0.0.2:53"], 2),
            7,
        )
        .unwrap();
        let mut servers = vec![sent(lookup.start()).server];
        let result = loop {
            match lookup.handle(Input::Timeout) {
                Action::Send(t) => servers.push(t.server),
                Action::Done(result) => break result,
                Action::Wait => panic!("no socket to wait on"),
            }
        };
        assert_eq!(servers.len(), 4, "2 servers x 2 attempts");
        match result {
            Err(DnsError::NoAnswer { name, failures }) => {
                assert_eq!(name, "a.test.");
                let tried: Vec<SocketAddr> = failures.iter().map(|(s, _)| *s).collect();
                assert_eq!(tried, servers);
                assert!(failures.iter().all(|(_, f)| *f == TryFailure::Timeout));
            }
            other => panic!("expected NoAnswer, got {other:?}"),
        }
    }

    #[test]
    fn nxdomain_ends_the_lookup_at_once() {
        let mut lookup = Lookup::new(
            "nx.test",
            QueryType::Mx,
            &config(&["127.0.0.1:53", "127.0.0.2:53"], 2),
            7,
        )
        .unwrap();
        let q = query_of(&sent(lookup.start()));
        let nx = answer(&q, |m| {
            m.metadata.response_code = ResponseCode::NXDomain;
            m.answers.clear();
        });
        assert_eq!(
            lookup.handle(Input::Response(&nx)),
            Action::Done(Err(DnsError::NoSuchDomain {
                name: "nx.test.".into()
            }))
        );
    }

    #[test]
    fn a_malformed_answer_everywhere_is_reported_as_malformed() {
        let mut lookup =
            Lookup::new("a.test", QueryType::A, &config(&["127.0.0.1:53"], 1), 7).unwrap();
        let q = query_of(&sent(lookup.start()));
        let id = q.metadata.id.to_be_bytes();
        let garbage = [id[0], id[1], 0x81, 0x80, 0, 1];
        match lookup.handle(Input::Response(&garbage)) {
            Action::Done(Err(DnsError::Malformed { server, .. })) => {
                assert_eq!(server, "127.0.0.1:53".parse().unwrap());
            }
            other => panic!("expected Malformed, got {other:?}"),
        }
    }

    #[test]
    fn refuses_to_start_without_servers() {
        let err = Lookup::new("a.test", QueryType::A, &config(&[], 1), 7).unwrap_err();
        assert_eq!(err, DnsError::NoServers);
    }

    #[test]
    fn rejects_names_that_cannot_be_sent() {
        let cfg = config(&["127.0.0.1:53"], 1);
        for bad in ["", ".", "a..b.test", &format!("{}.test", "a".repeat(64))] {
            let err = Lookup::new(bad, QueryType::A, &cfg, 7).unwrap_err();
            assert!(
                matches!(err, DnsError::InvalidName { .. }),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_queries_and_another_seed_other_ids() {
        let cfg = config(&["127.0.0.1:53"], 2);
        let first = |seed| {
            let mut lookup = Lookup::new("a.test", QueryType::A, &cfg, seed).unwrap();
            let one = sent(lookup.start()).bytes;
            let two = sent(lookup.handle(Input::Timeout)).bytes;
            (one, two)
        };
        assert_eq!(first(7), first(7));
        assert_ne!(first(7).0[..2], first(8).0[..2]);
        // Each try gets a new ID.
        assert_ne!(first(7).0[..2], first(7).1[..2]);
    }
}
