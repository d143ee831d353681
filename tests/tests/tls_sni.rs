//! SNI (RFC 6066 §3) on the wire: the hostile server (rustls) records the server name each
//! ClientHello carries. A relay reached by address literal sends none; with a TLS name, that
//! name is sent (and verified). Names reached by name are covered in the library's unit
//! tests (`tls::verification_tests`).

use std::time::Duration;

use mxsend::{Relay, TlsMode};
use mxsend_tests::hostile::pki::{Pki, ServerCert};
use mxsend_tests::hostile::{HostileServer, Step};

fn script() -> Vec<Step> {
    vec![
        Step::StartTls(Pki::get().server_config(ServerCert::Good)),
        Step::Send(b"554 5.3.2 no service, the test is over\r\n".to_vec()),
        Step::ReadLine,
    ]
}

fn relay(server: &HostileServer) -> Relay {
    let mut relay = Relay::new(server.addr().ip().to_string(), server.addr().port())
        .tls(TlsMode::Implicit)
        .roots(mxsend::tls::Roots::Empty)
        .ca_file(&Pki::get().ca_file);
    relay = relay.connect_timeout(Duration::from_secs(5));
    relay
}

#[test]
fn no_sni_for_an_address_literal_and_the_tls_name_when_given() {
    let server = HostileServer::start_many(vec![script(), script()]);
    let message = mxsend_tests::scenarios::message(&["bob@example.test"]);
    mxsend::blocking::send(&relay(&server), &message).expect("send");
    mxsend::blocking::send(&relay(&server).tls_name("mx.example.test"), &message).expect("send");
    let records = server.records();
    assert_eq!(records.len(), 2, "{records:#?}");
    assert!(records.iter().all(|r| r.tls_from.is_some()), "{records:#?}");
    assert_eq!(records[0].sni, None, "{records:#?}");
    assert_eq!(
        records[1].sni.as_deref(),
        Some("mx.example.test"),
        "{records:#?}"
    );
}
