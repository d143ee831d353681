//! Where to send: the MX selection policy (RFC 5321 §5.1, RFC 7505).
//!
//! Pure policy, no DNS: the caller performs the MX query (the `mxsend` adapters have a stub
//! resolver) and hands over its outcome as an [`MxAnswer`]; random numbers come from the caller
//! too, so every decision here is deterministic under test.
//!
//! The steps, in the order a delivery takes them:
//!
//! 1. [`target`]: an address literal (`user@[192.0.2.1]`) is the address to connect to, with no
//!    DNS at all (RFC 5321 §5.1, last paragraph); a name needs an MX query.
//! 2. [`plan`]: the MX outcome becomes the ordered list of [`Exchange`]s to try, or a final
//!    [`NoRoute`] reason:
//!    - ascending preference; records of equal preference in a uniformly random order
//!      (RFC 5321 §5.1: "the sender-SMTP MUST randomize them to spread the load");
//!    - duplicate exchanges removed (ASCII case-insensitive, trailing dot ignored), keeping the
//!      best preference;
//!    - exchange names that are not host names (LDH labels, RFC 5321 §2.3.5, RFC 1123 §2.1,
//!      an all-numeric last label being an address in disguise, RFC 3696 §2) skipped;
//!    - no MX records (NODATA, or an empty answer): the implicit MX, the domain itself with
//!      preference 0 (RFC 5321 §5.1);
//!    - NXDOMAIN: [`NoRoute::NoSuchDomain`], permanent;
//!    - a null MX (RFC 7505 §3, a single `0 .`): [`NoRoute::NullMx`], permanent, and never a
//!      fallback to the domain's address records (RFC 7505 §4.1);
//!    - a temporary DNS failure: [`NoRoute::TemporaryFailure`], try again later.
//! 3. [`connection_plan`]: each exchange's resolved addresses become the ordered list of
//!    [`Attempt`]s, the address families interleaved so that a broken IPv6 (or IPv4) path cannot
//!    use up every attempt, duplicates removed, at most a caller-chosen number of them
//!    ([`MAX_ADDRESSES`] by default, like Postfix's `smtp_mx_address_limit`).
//! 4. [`group_by_domain`]: one plan per recipient domain, not one per recipient.
//!
//! Decisions where the RFCs leave room, and deliberate deviations:
//! - A `.` exchange among other MX records is not a null MX (RFC 7505 §3 defines the null MX as
//!   the *only* record, and says a domain publishing one "MUST NOT advertise any other MX RR"):
//!   the `.` names no host, so it is skipped and the real exchanges are used. When *every*
//!   record is `.`, whatever its preference, the domain has said it accepts no mail, so that is
//!   a null MX too: RFC 7505 asks for preference 0, but a `10 .` means the same thing and
//!   deferring mail for days to a domain that refuses all mail helps nobody.
//! - When MX records exist but none names a usable host, the result is
//!   [`NoRoute::NoUsableExchange`], which is *temporary*: there are MX records, so the implicit
//!   MX must not be used (RFC 5321 §5.1), and broken DNS data is an operator error that usually
//!   gets fixed, where a permanent failure would lose the mail over a typo.
//! - An MX record naming the same host twice with different preferences keeps the lower
//!   (better) preference, so the host is tried once, as early as its owner allowed.
//! - Uniform choices use Lemire's multiply-shift on a full `u64`: the bias is at most
//!   `n / 2^64` for a group of `n` records, far below anything a chi-square test could see, so
//!   no rejection loop (and no unbounded number of calls to the caller's generator) is needed.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::address::{AddressLiteral, Domain};

/// Default cap on the addresses one delivery tries, across all exchanges.
///
/// Postfix's `smtp_mx_address_limit` defaults to 5 as well: enough for the primary exchange
/// over both address families plus a backup or two, while bounding the worst case (every
/// attempt ending in a connect timeout, 30 s or more each, RFC 5321 §4.5.3.2 leaves the
/// initial-greeting wait at 5 minutes) to a few minutes before the caller hears "deferred".
pub const MAX_ADDRESSES: usize = 5;

/// Longest domain name in its text form without the trailing dot (RFC 1035 §2.3.4: 255 octets
/// on the wire, which is 253 characters of text).
pub const MAX_NAME_LEN: usize = 253;

/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

/// One MX resource record as the resolver returned it (RFC 1035 §3.3.9).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MxRecord {
    /// Lower is preferred.
    pub preference: u16,
    /// The exchange host name, as received (a trailing dot is allowed; `.` or the empty string
    /// is the root, as in a null MX).
    pub exchange: String,
}

/// The outcome of the MX query for a recipient domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MxAnswer {
    /// The MX records found (possibly empty, which counts as [`MxAnswer::NoRecords`]).
    Records(Vec<MxRecord>),
    /// The domain exists but has no MX records (NODATA): the implicit MX applies.
    NoRecords,
    /// The domain does not exist (NXDOMAIN, RCODE 3).
    NoSuchDomain,
    /// No answer could be had now (SERVFAIL, timeouts, a malformed answer): try later.
    TemporaryFailure,
}

/// A host to deliver to, in the order [`plan`] chose.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Exchange {
    /// The host name: ASCII lowercase, no trailing dot. For the implicit MX, the recipient
    /// domain as given (lowercased).
    pub name: String,
    /// The MX preference (0 for the implicit MX).
    pub preference: u16,
    /// True for the implicit MX (no MX records: the domain itself, RFC 5321 §5.1).
    pub implicit: bool,
}

/// Why a domain gets no delivery attempt at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoRoute {
    /// The domain publishes a null MX: it accepts no mail (RFC 7505 §3). Permanent; RFC 7505
    /// §4.2 suggests reporting it with enhanced status code 5.1.10.
    NullMx,
    /// The domain does not exist (NXDOMAIN). Permanent (enhanced status 5.1.2).
    NoSuchDomain,
    /// DNS could not answer now. Temporary (enhanced status 4.4.3).
    TemporaryFailure,
    /// There are MX records but none names a usable host. Temporary, see the module docs
    /// (enhanced status 4.4.3).
    NoUsableExchange,
}

impl NoRoute {
    /// True when retrying later cannot help: report the recipients as failed, not deferred.
    pub fn is_permanent(self) -> bool {
        matches!(self, NoRoute::NullMx | NoRoute::NoSuchDomain)
    }
}

impl fmt::Display for NoRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoRoute::NullMx => "the domain accepts no mail (null MX, RFC 7505)",
            NoRoute::NoSuchDomain => "the domain does not exist (NXDOMAIN)",
            NoRoute::TemporaryFailure => "temporary DNS failure looking up MX records",
            NoRoute::NoUsableExchange => "no MX record names a usable host",
        })
    }
}

/// What a recipient domain needs before a connection: an MX query, or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// An address literal: connect to this address, no DNS (RFC 5321 §5.1).
    Address(IpAddr),
    /// A domain name: query its MX records, then call [`plan`] with this name.
    Mx(&'a str),
}

/// Whether `domain` is an address to connect to or a name to look up.
pub fn target(domain: &Domain) -> Target<'_> {
    match domain {
        Domain::Literal(AddressLiteral::V4(v4)) => Target::Address(IpAddr::V4(*v4)),
        Domain::Literal(AddressLiteral::V6(v6)) => Target::Address(IpAddr::V6(*v6)),
        Domain::Name(name) => Target::Mx(name),
    }
}

/// The exchanges to try for `domain`, in order, given the outcome of its MX query.
///
/// `random` is called once per swap of the equal-preference shuffle (Fisher-Yates, at most one
/// call per record) and must return uniformly distributed `u64`s; pass a seeded generator in
/// tests and a real one (for example `fastrand::u64(..)`) in production.
pub fn plan(
    domain: &str,
    answer: &MxAnswer,
    mut random: impl FnMut() -> u64,
) -> Result<Vec<Exchange>, NoRoute> {
    let records = match answer {
        MxAnswer::NoSuchDomain => return Err(NoRoute::NoSuchDomain),
        MxAnswer::TemporaryFailure => return Err(NoRoute::TemporaryFailure),
        MxAnswer::NoRecords => return Ok(alloc::vec![implicit_mx(domain)]),
        MxAnswer::Records(records) if records.is_empty() => {
            return Ok(alloc::vec![implicit_mx(domain)]);
        }
        MxAnswer::Records(records) => records,
    };
    if records.iter().all(|r| normalise(&r.exchange).is_empty()) {
        return Err(NoRoute::NullMx);
    }

    let mut exchanges: Vec<Exchange> = Vec::with_capacity(records.len());
    for record in records {
        let name = normalise(&record.exchange);
        if !is_host_name(&name) {
            continue;
        }
        match exchanges.iter_mut().find(|e| e.name == name) {
            Some(seen) => seen.preference = seen.preference.min(record.preference),
            None => exchanges.push(Exchange {
                name,
                preference: record.preference,
                implicit: false,
            }),
        }
    }
    if exchanges.is_empty() {
        return Err(NoRoute::NoUsableExchange);
    }

    // Stable sort keeps the received order inside a group, so the shuffle below is the only
    // source of order there: what the proptests check.
    exchanges.sort_by_key(|e| e.preference);
    let mut start = 0;
    while start < exchanges.len() {
        let preference = exchanges[start].preference;
        let len = exchanges[start..]
            .iter()
            .take_while(|e| e.preference == preference)
            .count();
        shuffle(&mut exchanges[start..start + len], &mut random);
        start += len;
    }
    Ok(exchanges)
}

fn implicit_mx(domain: &str) -> Exchange {
    Exchange {
        name: normalise(domain),
        preference: 0,
        implicit: true,
    }
}

/// Lowercase ASCII, drop one trailing dot: `MX1.Example.` and `mx1.example` are one host.
fn normalise(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

/// A host name fit to connect to: LDH labels (RFC 1123 §2.1), lengths within RFC 1035 §2.3.4,
/// and a last label that is not all digits (RFC 3696 §2), which rules out `192.0.2.1` posing as
/// a name. Expects [`normalise`]d input.
fn is_host_name(name: &str) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    let ldh = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    let last_is_numeric = name
        .rsplit('.')
        .next()
        .is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit()));
    name.split('.').all(ldh) && !last_is_numeric
}

/// A uniform number in `0..n` from one `u64` (Lemire's multiply-shift; bias at most `n / 2^64`).
fn below(n: usize, random: &mut impl FnMut() -> u64) -> usize {
    // `n` fits in a u64 on every platform Rust supports, and the product shifted right by 64 is
    // below `n`, so both conversions are lossless.
    let wide = u128::from(random()) * n as u128;
    (wide >> 64) as usize
}

/// Fisher-Yates (Durstenfeld): every permutation equally likely given uniform input.
fn shuffle<T>(items: &mut [T], random: &mut impl FnMut() -> u64) {
    for i in (1..items.len()).rev() {
        let j = below(i + 1, random);
        items.swap(i, j);
    }
}

/// Which address family goes first when an exchange has both.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FamilyOrder {
    /// IPv6, then IPv4, alternating (RFC 8305 §4 prefers IPv6 first).
    #[default]
    Ipv6First,
    /// IPv4, then IPv6, alternating.
    Ipv4First,
    /// IPv4 addresses only.
    Ipv4Only,
    /// IPv6 addresses only.
    Ipv6Only,
}

/// One connection to attempt: which exchange, at which address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Attempt<'a> {
    /// The exchange (its name is the TLS server name and the one to report).
    pub exchange: &'a Exchange,
    /// The address to connect to.
    pub address: IpAddr,
}

/// The addresses to try, in order, at most `limit` of them.
///
/// `resolved` holds each exchange with its addresses (A and AAAA, in the order the resolver gave
/// them), in [`plan`] order; an exchange that did not resolve comes with no addresses and is
/// passed over. Within one exchange the families alternate per `order` until one runs out, so
/// a dead IPv6 route costs one attempt before IPv4 gets a turn, not all of them. Exchanges stay
/// in plan order: all of the best exchange's addresses come before the next exchange's, as
/// RFC 5321 §5.1 asks. An address already planned (two MX names for one host) is not repeated.
/// The limit counts addresses, like Postfix's `smtp_mx_address_limit`: pass [`MAX_ADDRESSES`]
/// unless the caller asked for something else. Unspecified, loopback-free checks are not made
/// here: which addresses are acceptable is the caller's policy.
pub fn connection_plan<'a>(
    resolved: impl IntoIterator<Item = (&'a Exchange, &'a [IpAddr])>,
    order: FamilyOrder,
    limit: usize,
) -> Vec<Attempt<'a>> {
    let mut attempts: Vec<Attempt<'a>> = Vec::new();
    for (exchange, addresses) in resolved {
        let v6 = addresses.iter().filter(|a| a.is_ipv6());
        let v4 = addresses.iter().filter(|a| a.is_ipv4());
        let (mut first, mut second): (Vec<&IpAddr>, Vec<&IpAddr>) = match order {
            FamilyOrder::Ipv6First => (v6.collect(), v4.collect()),
            FamilyOrder::Ipv4First => (v4.collect(), v6.collect()),
            FamilyOrder::Ipv4Only => (v4.collect(), Vec::new()),
            FamilyOrder::Ipv6Only => (v6.collect(), Vec::new()),
        };
        first.reverse();
        second.reverse();
        loop {
            let next = first.pop();
            let after = second.pop();
            if next.is_none() && after.is_none() {
                break;
            }
            for address in next.into_iter().chain(after) {
                if attempts.len() >= limit {
                    return attempts;
                }
                if !attempts.iter().any(|a| a.address == *address) {
                    attempts.push(Attempt {
                        exchange,
                        address: *address,
                    });
                }
            }
        }
    }
    attempts
}

/// Recipients that share a domain: one plan, one set of connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainGroup {
    /// The domain as the first recipient in the group spelled it.
    pub domain: Domain,
    /// Indices into the caller's recipient list, ascending.
    pub recipients: Vec<usize>,
}

/// Group recipients by domain, groups in order of first appearance.
///
/// Pass the recipients' domains, for example `group_by_domain(rcpts.iter().map(Mailbox::domain))`.
/// Names compare case-insensitively with a trailing dot ignored (DNS names are
/// case-insensitive, RFC 4343); U-labels are lowercased with Unicode's simple case mapping,
/// which is what IDNA's mapping does for the cases that matter in practice. Address literals
/// compare by address, so `[IPv6:::1]` spelled two ways is one group.
pub fn group_by_domain<'a>(domains: impl IntoIterator<Item = &'a Domain>) -> Vec<DomainGroup> {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        Name(String),
        V4(Ipv4Addr),
        V6(Ipv6Addr),
    }
    let mut index: BTreeMap<Key, usize> = BTreeMap::new();
    let mut groups: Vec<DomainGroup> = Vec::new();
    for (position, domain) in domains.into_iter().enumerate() {
        let key = match domain {
            Domain::Name(name) => Key::Name(
                name.strip_suffix('.')
                    .unwrap_or(name.as_str())
                    .to_lowercase(),
            ),
            Domain::Literal(AddressLiteral::V4(v4)) => Key::V4(*v4),
            Domain::Literal(AddressLiteral::V6(v6)) => Key::V6(*v6),
        };
        let group = *index.entry(key).or_insert_with(|| {
            groups.push(DomainGroup {
                domain: domain.clone(),
                recipients: Vec::new(),
            });
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(group) {
            group.recipients.push(position);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use proptest::prelude::*;

    fn mx(preference: u16, exchange: &str) -> MxRecord {
        MxRecord {
            preference,
            exchange: exchange.to_string(),
        }
    }

    /// A fixed-seed xorshift64*: deterministic "randomness" for the tests.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        state |= 1;
        move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn names(exchanges: &[Exchange]) -> Vec<&str> {
        exchanges.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn orders_exchanges_by_ascending_preference() {
        let answer = MxAnswer::Records(vec![mx(30, "c.test"), mx(10, "a.test"), mx(20, "b.test")]);
        let plan = plan("example.test", &answer, xorshift(1)).unwrap();
        assert_eq!(names(&plan), ["a.test", "b.test", "c.test"]);
        assert!(plan.iter().all(|e| !e.implicit));
    }

    #[test]
    fn no_mx_records_means_the_domain_itself() {
        for answer in [MxAnswer::NoRecords, MxAnswer::Records(vec![])] {
            let plan = plan("Example.TEST.", &answer, xorshift(1)).unwrap();
            assert_eq!(
                plan,
                [Exchange {
                    name: "example.test".to_string(),
                    preference: 0,
                    implicit: true
                }]
            );
        }
    }

    #[test]
    fn nxdomain_is_a_permanent_failure() {
        let result = plan("nx.test", &MxAnswer::NoSuchDomain, xorshift(1));
        assert_eq!(result, Err(NoRoute::NoSuchDomain));
        assert!(NoRoute::NoSuchDomain.is_permanent());
    }

    #[test]
    fn temporary_dns_failure_defers() {
        let result = plan("slow.test", &MxAnswer::TemporaryFailure, xorshift(1));
        assert_eq!(result, Err(NoRoute::TemporaryFailure));
        assert!(!NoRoute::TemporaryFailure.is_permanent());
    }

    #[test]
    fn null_mx_is_a_permanent_failure_without_fallback() {
        for exchange in [".", ""] {
            let answer = MxAnswer::Records(vec![mx(0, exchange)]);
            assert_eq!(
                plan("nullmx.test", &answer, xorshift(1)),
                Err(NoRoute::NullMx)
            );
        }
        assert!(NoRoute::NullMx.is_permanent());
    }

    #[test]
    fn only_root_exchanges_count_as_null_mx_whatever_the_preference() {
        let answer = MxAnswer::Records(vec![mx(10, "."), mx(0, ".")]);
        assert_eq!(
            plan("nullmx.test", &answer, xorshift(1)),
            Err(NoRoute::NullMx)
        );
    }

    #[test]
    fn root_exchange_among_real_ones_is_skipped() {
        let answer = MxAnswer::Records(vec![mx(0, "."), mx(10, "mx.test")]);
        let plan = plan("mixed.test", &answer, xorshift(1)).unwrap();
        assert_eq!(names(&plan), ["mx.test"]);
    }

    #[test]
    fn removes_duplicates_case_insensitively_keeping_the_best_preference() {
        let answer = MxAnswer::Records(vec![
            mx(20, "MX.example.test."),
            mx(10, "mx.example.test"),
            mx(15, "other.test"),
        ]);
        let plan = plan("example.test", &answer, xorshift(1)).unwrap();
        assert_eq!(names(&plan), ["mx.example.test", "other.test"]);
        assert_eq!(plan[0].preference, 10);
    }

    #[test]
    fn skips_malformed_exchange_names() {
        let answer = MxAnswer::Records(vec![
            mx(10, "bad..test"),
            mx(10, "-bad.test"),
            mx(10, "under_score.test"),
            mx(10, "192.0.2.1"),
            mx(10, &"a".repeat(64)),
            mx(20, "good.test"),
        ]);
        let plan = plan("example.test", &answer, xorshift(1)).unwrap();
        assert_eq!(names(&plan), ["good.test"]);
    }

    #[test]
    fn all_exchanges_malformed_is_a_temporary_failure_not_an_implicit_mx() {
        let answer = MxAnswer::Records(vec![mx(10, "bad..test"), mx(20, "192.0.2.1")]);
        let result = plan("example.test", &answer, xorshift(1));
        assert_eq!(result, Err(NoRoute::NoUsableExchange));
        assert!(!NoRoute::NoUsableExchange.is_permanent());
    }

    #[test]
    fn address_literal_needs_no_dns() {
        let v4 = Domain::Literal(AddressLiteral::V4(Ipv4Addr::new(127, 0, 0, 2)));
        let v6 = Domain::Literal(AddressLiteral::V6(Ipv6Addr::LOCALHOST));
        let name = Domain::parse("example.test").unwrap();
        assert_eq!(
            target(&v4),
            Target::Address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        );
        assert_eq!(
            target(&v6),
            Target::Address(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        assert_eq!(target(&name), Target::Mx("example.test"));
    }

    fn exchange(name: &str, preference: u16) -> Exchange {
        Exchange {
            name: name.to_string(),
            preference,
            implicit: false,
        }
    }

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    fn v6(last: u16) -> IpAddr {
        IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, last))
    }

    fn addresses(attempts: &[Attempt<'_>]) -> Vec<IpAddr> {
        attempts.iter().map(|a| a.address).collect()
    }

    #[test]
    fn connection_plan_alternates_families_within_an_exchange() {
        let a = exchange("a.test", 10);
        let addrs = [v4(1), v4(2), v4(3), v6(1), v6(2)];
        let plan = connection_plan([(&a, &addrs[..])], FamilyOrder::Ipv6First, 10);
        assert_eq!(addresses(&plan), [v6(1), v4(1), v6(2), v4(2), v4(3)]);
        let plan = connection_plan([(&a, &addrs[..])], FamilyOrder::Ipv4First, 10);
        assert_eq!(addresses(&plan), [v4(1), v6(1), v4(2), v6(2), v4(3)]);
    }

    #[test]
    fn connection_plan_can_use_a_single_family() {
        let a = exchange("a.test", 10);
        let addrs = [v4(1), v6(1), v4(2)];
        let plan = connection_plan([(&a, &addrs[..])], FamilyOrder::Ipv4Only, 10);
        assert_eq!(addresses(&plan), [v4(1), v4(2)]);
        let plan = connection_plan([(&a, &addrs[..])], FamilyOrder::Ipv6Only, 10);
        assert_eq!(addresses(&plan), [v6(1)]);
    }

    #[test]
    fn connection_plan_keeps_exchange_order_and_skips_unresolved_ones() {
        let (a, b, c) = (
            exchange("a.test", 10),
            exchange("b.test", 20),
            exchange("c.test", 30),
        );
        let (aa, bb, cc) = ([v4(1)], [], [v4(3), v6(3)]);
        let plan = connection_plan(
            [(&a, &aa[..]), (&b, &bb[..]), (&c, &cc[..])],
            FamilyOrder::Ipv6First,
            MAX_ADDRESSES,
        );
        let hosts: Vec<&str> = plan.iter().map(|a| a.exchange.name.as_str()).collect();
        assert_eq!(hosts, ["a.test", "c.test", "c.test"]);
        assert_eq!(addresses(&plan), [v4(1), v6(3), v4(3)]);
    }

    #[test]
    fn connection_plan_stops_at_the_address_limit() {
        let (a, b) = (exchange("a.test", 10), exchange("b.test", 20));
        let (aa, bb) = ([v4(1), v4(2), v4(3), v4(4)], [v4(5), v4(6)]);
        let plan = connection_plan([(&a, &aa[..]), (&b, &bb[..])], FamilyOrder::Ipv6First, 5);
        assert_eq!(addresses(&plan), [v4(1), v4(2), v4(3), v4(4), v4(5)]);
    }

    #[test]
    fn connection_plan_does_not_repeat_an_address_shared_by_two_exchanges() {
        let (a, b) = (exchange("a.test", 10), exchange("b.test", 20));
        let (aa, bb) = ([v4(1)], [v4(1), v4(2)]);
        let plan = connection_plan([(&a, &aa[..]), (&b, &bb[..])], FamilyOrder::Ipv6First, 5);
        assert_eq!(addresses(&plan), [v4(1), v4(2)]);
        assert_eq!(plan[1].exchange.name, "b.test");
    }

    #[test]
    fn groups_recipients_by_domain_case_insensitively() {
        let domains = [
            Domain::parse("Example.test").unwrap(),
            Domain::parse("other.test").unwrap(),
            Domain::parse("EXAMPLE.TEST.").unwrap(),
            Domain::Literal(AddressLiteral::V4(Ipv4Addr::new(127, 0, 0, 2))),
            Domain::parse("other.test").unwrap(),
            Domain::Literal(AddressLiteral::V4(Ipv4Addr::new(127, 0, 0, 2))),
        ];
        let groups = group_by_domain(&domains);
        let shape: Vec<(String, Vec<usize>)> = groups
            .iter()
            .map(|g| (g.domain_label(), g.recipients.clone()))
            .collect();
        assert_eq!(
            shape,
            [
                ("Example.test".to_string(), vec![0, 2]),
                ("other.test".to_string(), vec![1, 4]),
                ("127.0.0.2".to_string(), vec![3, 5]),
            ]
        );
    }

    impl DomainGroup {
        /// The group's domain in a form the test can compare without `Domain`'s `Display`
        /// (being written in parallel).
        fn domain_label(&self) -> String {
            match &self.domain {
                Domain::Name(name) => name.to_string(),
                Domain::Literal(AddressLiteral::V4(a)) => a.to_string(),
                Domain::Literal(AddressLiteral::V6(a)) => a.to_string(),
            }
        }
    }

    fn arb_records() -> impl Strategy<Value = Vec<MxRecord>> {
        // Few preferences and few names, so ties and duplicates are common.
        prop::collection::vec(
            (
                0u16..4,
                prop::sample::select(vec!["a", "b", "c", "d", "e", "f", "g", "h"]),
            )
                .prop_map(|(p, n)| mx(p * 10, &alloc::format!("{n}.test"))),
            1..12,
        )
    }

    /// The input with duplicates resolved as `plan` documents: the best preference per name.
    fn expected_groups(records: &[MxRecord]) -> BTreeMap<u16, Vec<String>> {
        let mut best: BTreeMap<String, u16> = BTreeMap::new();
        for r in records {
            let p = best.entry(r.exchange.clone()).or_insert(r.preference);
            *p = (*p).min(r.preference);
        }
        let mut groups: BTreeMap<u16, Vec<String>> = BTreeMap::new();
        for (name, p) in best {
            groups.entry(p).or_default().push(name);
        }
        groups
    }

    proptest! {
        #[test]
        fn plan_is_sorted_by_preference(records in arb_records(), seed in any::<u64>()) {
            let plan = plan("example.test", &MxAnswer::Records(records), xorshift(seed)).unwrap();
            prop_assert!(plan.windows(2).all(|w| w[0].preference <= w[1].preference));
        }

        #[test]
        fn each_equal_preference_group_is_a_permutation_of_its_input(
            records in arb_records(),
            seed in any::<u64>(),
        ) {
            let expected = expected_groups(&records);
            let plan = plan("example.test", &MxAnswer::Records(records), xorshift(seed)).unwrap();
            let mut got: BTreeMap<u16, Vec<String>> = BTreeMap::new();
            for e in &plan {
                got.entry(e.preference).or_default().push(e.name.clone());
            }
            for names in got.values_mut() {
                names.sort();
            }
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn null_mx_and_nxdomain_never_yield_a_host(
            copies in 1usize..4,
            preference in any::<u16>(),
            seed in any::<u64>(),
        ) {
            let null = MxAnswer::Records(vec![mx(preference, "."); copies]);
            prop_assert_eq!(plan("nullmx.test", &null, xorshift(seed)), Err(NoRoute::NullMx));
            prop_assert_eq!(
                plan("nx.test", &MxAnswer::NoSuchDomain, xorshift(seed)),
                Err(NoRoute::NoSuchDomain)
            );
        }

        #[test]
        fn connection_plan_never_exceeds_its_limit_nor_repeats_an_address(
            counts in prop::collection::vec((0u8..6, 0u16..6), 1..5),
            limit in 0usize..12,
        ) {
            let exchanges: Vec<Exchange> =
                (0..counts.len()).map(|i| exchange(&alloc::format!("{i}.test"), 10)).collect();
            let addrs: Vec<Vec<IpAddr>> = counts
                .iter()
                .map(|&(n4, n6)| (0..n4).map(v4).chain((0..n6).map(v6)).collect())
                .collect();
            let plan = connection_plan(
                exchanges.iter().zip(addrs.iter().map(Vec::as_slice)),
                FamilyOrder::Ipv6First,
                limit,
            );
            prop_assert!(plan.len() <= limit);
            for (i, a) in plan.iter().enumerate() {
                prop_assert!(plan[..i].iter().all(|b| b.address != a.address));
            }
        }
    }

    /// Over many seeds, each of the 4! orders of a four-way tie appears equally often:
    /// chi-square with 23 degrees of freedom below the 0.999 quantile (49.73).
    #[test]
    fn shuffle_is_uniform() {
        const RUNS: usize = 24_000;
        let answer = MxAnswer::Records(vec![
            mx(10, "a.test"),
            mx(10, "b.test"),
            mx(10, "c.test"),
            mx(10, "d.test"),
        ]);
        let mut seeds = xorshift(0x5eed);
        let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        for _ in 0..RUNS {
            let plan = plan("example.test", &answer, xorshift(seeds())).unwrap();
            *counts
                .entry(plan.into_iter().map(|e| e.name).collect())
                .or_default() += 1;
        }
        assert_eq!(counts.len(), 24, "every permutation must occur");
        let expected = RUNS as f64 / 24.0;
        let chi_square: f64 = counts
            .values()
            .map(|&observed| {
                let d = observed as f64 - expected;
                d * d / expected
            })
            .sum();
        assert!(chi_square < 49.73, "chi-square {chi_square} too high");
    }

    #[test]
    fn shuffle_uses_the_callers_randomness() {
        let answer = MxAnswer::Records(vec![mx(10, "a.test"), mx(10, "b.test")]);
        // Fisher-Yates picks the record for the last place with `below(2, r)`, the top bit of
        // `r`: 0 brings the first record there, u64::MAX leaves the order alone.
        let swapped = plan("example.test", &answer, || 0).unwrap();
        let kept = plan("example.test", &answer, || u64::MAX).unwrap();
        assert_eq!(names(&kept), ["a.test", "b.test"]);
        assert_eq!(names(&swapped), ["b.test", "a.test"]);
    }
}
