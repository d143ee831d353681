//! The DNS stub resolver and the MX policy against a real DNS server: dnsmasq on loopback,
//! serving `tests/peers/dnsmasq.conf`. Each test starts its own instance.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use mxsend::dns::{
    connection_plan, AddressLimit, DnsError, Resolver, ResolverConfig, Route, RouteError,
    TryFailure,
};
use mxsend_core::address::{AddressLiteral, Domain};
use mxsend_core::mx::{Exchange, FamilyOrder, MxRecord, NoRoute, MAX_ADDRESSES};
use mxsend_tests::dnsmasq::{Dnsmasq, BIG_FIRST, BIG_RECORDS};

fn resolver(server: &Dnsmasq) -> Resolver {
    Resolver::new(ResolverConfig {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..ResolverConfig::with_servers(vec![server.addr()])
    })
}

fn name(domain: &str) -> Domain {
    Domain::parse(domain).expect("a domain")
}

fn v4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

fn seeded(seed: u64) -> impl FnMut() -> u64 {
    let mut rng = fastrand::Rng::with_seed(seed);
    move || rng.u64(..)
}

fn exchanges(route: Route) -> Vec<mxsend::dns::ResolvedExchange> {
    match route {
        Route::Exchanges(exchanges) => exchanges,
        Route::Address(address) => panic!("expected exchanges, got the address {address}"),
    }
}

fn route_error(result: Result<Route, RouteError>) -> RouteError {
    match result {
        Err(e) => e,
        Ok(route) => panic!("expected no route, got {route:?}"),
    }
}

#[test]
fn exchanges_come_in_preference_order_with_ties_shuffled() {
    let dns = Dnsmasq::start();
    let resolver = resolver(&dns);
    let mut tie_orders = BTreeSet::new();
    for seed in 0..12 {
        let plan = exchanges(resolver.plan(&name("example.test"), seeded(seed)).unwrap());
        let shape: Vec<(u16, &str)> = plan
            .iter()
            .map(|r| (r.exchange.preference, r.exchange.name.as_str()))
            .collect();
        assert_eq!(shape[0], (10, "mx1.example.test"), "{}", dns.log());
        assert_eq!(shape[4], (30, "mx3.example.test"));
        let ties: Vec<&str> = shape[1..4].iter().map(|&(_, n)| n).collect();
        assert!(shape[1..4].iter().all(|&(p, _)| p == 20));
        let mut sorted = ties.clone();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            [
                "mx2a.example.test",
                "mx2b.example.test",
                "mx2c.example.test"
            ]
        );
        tie_orders.insert(ties.join(","));
    }
    assert!(
        tie_orders.len() > 1,
        "12 seeds gave one order of the tie: {tie_orders:?}"
    );
}

#[test]
fn each_exchange_comes_with_its_addresses() {
    let dns = Dnsmasq::start();
    let plan = exchanges(
        resolver(&dns)
            .plan(&name("example.test"), seeded(1))
            .unwrap(),
    );
    let mx1 = &plan[0];
    assert_eq!(mx1.exchange.name, "mx1.example.test");
    assert_eq!(
        mx1.addresses,
        Ok(vec![IpAddr::V6(Ipv6Addr::LOCALHOST), v4(11)]),
        "AAAA first, then A"
    );
    let by_name = |n: &str| plan.iter().find(|r| r.exchange.name == n).unwrap();
    assert_eq!(by_name("mx2a.example.test").addresses, Ok(vec![v4(21)]));
    assert_eq!(by_name("mx2b.example.test").addresses, Ok(vec![v4(22)]));
    assert_eq!(by_name("mx2c.example.test").addresses, Ok(vec![v4(23)]));
}

#[test]
fn mx_target_that_does_not_resolve_is_left_out_of_the_connection_plan() {
    let dns = Dnsmasq::start();
    let plan = exchanges(
        resolver(&dns)
            .plan(&name("example.test"), seeded(1))
            .unwrap(),
    );
    let mx3 = plan
        .iter()
        .find(|r| r.exchange.name == "mx3.example.test")
        .unwrap();
    assert_eq!(
        mx3.addresses,
        Err(DnsError::NoSuchDomain {
            name: "mx3.example.test.".into()
        })
    );
    let attempts = connection_plan(&plan, FamilyOrder::Ipv6First, 100);
    assert_eq!(
        attempts.len(),
        5,
        "2 addresses for mx1, 1 each for mx2a..c, none for mx3"
    );
    assert!(attempts
        .iter()
        .all(|a| a.exchange.name != "mx3.example.test"));
}

#[test]
fn connection_plan_interleaves_families_and_stops_at_the_limit() {
    let dns = Dnsmasq::start();
    let plan = exchanges(
        resolver(&dns)
            .plan(&name("example.test"), seeded(1))
            .unwrap(),
    );
    let attempts = connection_plan(&plan, FamilyOrder::Ipv4First, 3);
    let addresses: Vec<IpAddr> = attempts.iter().map(|a| a.address).collect();
    assert_eq!(addresses[..2], [v4(11), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[2].exchange.preference, 20);
    assert!(connection_plan(&plan, FamilyOrder::Ipv6First, MAX_ADDRESSES).len() <= MAX_ADDRESSES);
}

#[test]
fn null_mx_is_a_permanent_failure_without_falling_back_to_the_a_record() {
    let dns = Dnsmasq::start();
    let resolver = resolver(&dns);
    // The domain does have an address: the null MX must win over it.
    assert_eq!(resolver.ip_addrs("nullmx.test"), Ok(vec![v4(41)]));
    let error = route_error(resolver.plan(&name("nullmx.test"), seeded(1)));
    assert_eq!(error.reason, NoRoute::NullMx);
    assert!(error.reason.is_permanent());
}

#[test]
fn domain_without_mx_records_is_its_own_exchange() {
    let dns = Dnsmasq::start();
    let resolver = resolver(&dns);
    assert_eq!(resolver.mx("nomx.test"), Ok(vec![]), "NODATA");
    let plan = exchanges(resolver.plan(&name("nomx.test"), seeded(1)).unwrap());
    assert_eq!(plan.len(), 1);
    assert_eq!(
        plan[0].exchange,
        Exchange {
            name: "nomx.test".into(),
            preference: 0,
            implicit: true
        }
    );
    assert_eq!(plan[0].addresses, Ok(vec![v4(51)]));
}

#[test]
fn nonexistent_domain_is_a_permanent_failure() {
    let dns = Dnsmasq::start();
    let error = route_error(resolver(&dns).plan(&name("nx.test"), seeded(1)));
    assert_eq!(error.reason, NoRoute::NoSuchDomain);
    assert!(error.reason.is_permanent());
    assert_eq!(
        error.dns,
        Some(DnsError::NoSuchDomain {
            name: "nx.test.".into()
        })
    );
}

#[test]
fn mx_target_that_is_a_cname_is_followed_to_its_address() {
    let dns = Dnsmasq::start();
    let plan = exchanges(resolver(&dns).plan(&name("cname.test"), seeded(1)).unwrap());
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].exchange.name, "alias.cname.test");
    assert_eq!(plan[0].addresses, Ok(vec![v4(61)]), "{}", dns.log());
}

#[test]
fn unanswered_queries_time_out_as_a_temporary_failure_naming_the_server() {
    let dns = Dnsmasq::start();
    let resolver = Resolver::new(ResolverConfig {
        timeout: Duration::from_millis(300),
        attempts: 2,
        ..ResolverConfig::with_servers(vec![dns.addr()])
    });
    let started = Instant::now();
    let error = route_error(resolver.plan(&name("timeout.test"), seeded(1)));
    let elapsed = started.elapsed();
    assert_eq!(error.reason, NoRoute::TemporaryFailure);
    assert!(!error.reason.is_permanent());
    match &error.dns {
        Some(DnsError::NoAnswer { name, failures }) => {
            assert_eq!(name, "timeout.test.");
            assert_eq!(
                failures,
                &[
                    (dns.addr(), TryFailure::Timeout),
                    (dns.addr(), TryFailure::Timeout)
                ]
            );
        }
        other => panic!("expected NoAnswer, got {other:?}"),
    }
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_secs(3),
        "two 300 ms tries took {elapsed:?}"
    );
    assert!(
        error.to_string().contains(&dns.addr().to_string()),
        "{error}"
    );
}

#[test]
fn truncated_udp_answer_is_repeated_over_tcp() {
    let dns = Dnsmasq::start();
    let addresses = resolver(&dns).ip_addrs("big.test").unwrap();
    let got: BTreeSet<IpAddr> = addresses.into_iter().collect();
    let expected: BTreeSet<IpAddr> = (0..BIG_RECORDS).map(|i| v4(BIG_FIRST + i)).collect();
    assert_eq!(
        got, expected,
        "all {BIG_RECORDS} records, more than UDP could carry"
    );
    // dnsmasq logs each query it receives: the A question once over UDP (truncated), and again
    // over TCP (answered by a forked dnsmasq process, so under another PID).
    let log = dns.log();
    assert_eq!(log.matches("query[A] big.test").count(), 2, "{log}");
}

#[test]
fn internationalised_domain_is_asked_in_a_labels() {
    let dns = Dnsmasq::start();
    assert_eq!(
        resolver(&dns).mx("bücher.test"),
        Ok(vec![MxRecord {
            preference: 10,
            exchange: "mx.xn--bcher-kva.test.".into()
        }])
    );
}

#[test]
fn address_literal_needs_no_dns() {
    // No servers at all: any query would fail with NoServers.
    let resolver = Resolver::new(ResolverConfig::with_servers(vec![]));
    let literal = Domain::Literal(AddressLiteral::V4(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(
        resolver.plan(&literal, seeded(1)),
        Ok(Route::Address(v4(2)))
    );
}

#[test]
fn a_dead_server_is_passed_over_for_the_next_one() {
    let dns = Dnsmasq::start();
    // A port that was just free: nothing listens, so the query is refused at once.
    let dead: SocketAddr = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let resolver = Resolver::new(ResolverConfig {
        timeout: Duration::from_secs(2),
        attempts: 1,
        ..ResolverConfig::with_servers(vec![dead, dns.addr()])
    });
    assert_eq!(resolver.ip_addrs("nomx.test"), Ok(vec![v4(51)]));
}

/// Exchanges are resolved lazily, in order, until the address limit is met: example.test's
/// first exchange (mx1: one IPv4 address) is enough for a limit of 1, so mx2a/b/c and mx3
/// are never looked up; without a limit, every one is.
#[test]
fn exchanges_are_resolved_only_up_to_the_address_limit() {
    let dns = Dnsmasq::start();
    let resolver = resolver(&dns);
    let limit = AddressLimit {
        order: FamilyOrder::Ipv4Only,
        limit: 1,
    };
    let lazy = exchanges(
        resolver
            .plan_up_to(&name("example.test"), seeded(1), limit)
            .unwrap(),
    );
    assert_eq!(lazy.len(), 1, "{lazy:?}");
    assert_eq!(lazy[0].exchange.name, "mx1.example.test");
    let all = exchanges(resolver.plan(&name("example.test"), seeded(1)).unwrap());
    assert_eq!(all.len(), 5, "{all:?}");
}
