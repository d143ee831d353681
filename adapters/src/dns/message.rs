//! DNS messages: building a query and judging an answer (RFC 1035 §4, RFC 2181 §10.1).
//!
//! hickory-proto does the wire format; this module decides whether an answer belongs to our
//! question and what it says. An answer must carry our ID, the QR bit, opcode QUERY, and
//! exactly our question (name compared case-insensitively, RFC 4343; type; class IN), or it is
//! not ours (RFC 5452 §9.1: a resolver must match all of them before accepting an answer).

use std::net::IpAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use mxsend_core::mx::MxRecord;

use super::{Answer, QueryType};

/// Longest CNAME chain followed inside one answer. RFC 1034 §3.6.2 lets servers chain aliases
/// but sets no bound; 8 is what BIND's resolver and Unbound allow a chain to grow to before
/// declaring it broken, and no legitimate mail host sits behind more.
pub const MAX_CNAME_CHAIN: usize = 8;

/// What an answer says about our question.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// NOERROR: the records (empty for NODATA), and the name that owns them: the end of the
    /// question's CNAME chain, the question's name when there is none.
    Answer(Answer, Name),
    /// NXDOMAIN (RCODE 3), for the question's name or the end of its CNAME chain (RFC 6604 §2).
    NoSuchDomain,
    /// The TC bit: retry over TCP (RFC 1035 §4.2.1, RFC 7766 §5).
    Truncated,
    /// Any other RCODE (SERVFAIL, REFUSED, FORMERR, NOTIMP…): ask another server.
    ServerError(u16),
    /// Not an answer to our question (other ID, other question, not a response): ignore it.
    NotOurs(&'static str),
    /// Our answer, but unusable.
    Malformed(String),
}

fn record_type(qtype: QueryType) -> RecordType {
    match qtype {
        QueryType::Mx => RecordType::MX,
        QueryType::A => RecordType::A,
        QueryType::Aaaa => RecordType::AAAA,
        QueryType::Txt => RecordType::TXT,
        QueryType::Tlsa => RecordType::TLSA,
        QueryType::Cname => RecordType::CNAME,
    }
}

/// The query message for `name`/`qtype` with `id`, recursion desired (we are a stub, RFC 1123
/// §6.1.3.1), and an EDNS(0) OPT record advertising `edns_payload` when given (RFC 6891).
pub(crate) fn encode_query(
    id: u16,
    name: &Name,
    qtype: QueryType,
    edns_payload: Option<u16>,
) -> Result<Vec<u8>, String> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    // Ask for the AD bit in the answer (RFC 6840 §5.7): DANE trusts a validating resolver's.
    message.metadata.authentic_data = true;
    let mut query = Query::query(name.clone(), record_type(qtype));
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    if let Some(payload) = edns_payload {
        let mut edns = Edns::new();
        edns.set_max_payload(payload);
        message.set_edns(edns);
    }
    message.to_vec().map_err(|e| e.to_string())
}

/// Judge `bytes` as the answer to query `id` for `name`/`qtype`.
pub(crate) fn check_response(bytes: &[u8], id: u16, name: &Name, qtype: QueryType) -> Verdict {
    let message = match Message::from_vec(bytes) {
        Ok(message) => message,
        // Garbage carrying our ID came from the server we asked (or from someone who knows the
        // ID, who could as well have sent a valid message); anything else is noise.
        Err(e) if bytes.get(..2) == Some(&id.to_be_bytes()[..]) => {
            return Verdict::Malformed(format!("undecodable answer: {e}"));
        }
        Err(_) => return Verdict::NotOurs("undecodable datagram without our query ID"),
    };
    let meta = &message.metadata;
    if meta.id != id {
        return Verdict::NotOurs("wrong query ID");
    }
    if meta.message_type != MessageType::Response {
        return Verdict::NotOurs("not a response (QR bit clear)");
    }
    if meta.op_code != OpCode::Query {
        return Verdict::NotOurs("opcode is not QUERY");
    }
    let question_matches = match message.queries.as_slice() {
        [q] => {
            q.name().eq_ignore_root(name)
                && q.query_type() == record_type(qtype)
                && q.query_class() == DNSClass::IN
        }
        _ => false,
    };
    if !question_matches {
        return Verdict::NotOurs("question section does not repeat our question");
    }
    if meta.truncation {
        return Verdict::Truncated;
    }
    match meta.response_code {
        ResponseCode::NoError => {}
        ResponseCode::NXDomain => return Verdict::NoSuchDomain,
        other => return Verdict::ServerError(u16::from(other)),
    }
    match follow_chain(&message, name, qtype) {
        Ok((answer, owner)) => Verdict::Answer(answer, owner),
        Err(why) => Verdict::Malformed(why),
    }
}

/// The records of `qtype` owned by the end of `name`'s CNAME chain in the answer section, and
/// that end.
///
/// A recursive server follows aliases itself and puts the whole chain in the answer
/// (RFC 1034 §4.3.2 step 3a); records owned by any other name are ignored (RFC 2181 §5.4.1:
/// they were not asked for). A chain that ends without records is NODATA. A CNAME question
/// is answered by the name's own CNAME record: nothing is followed.
fn follow_chain(
    message: &Message,
    name: &Name,
    qtype: QueryType,
) -> Result<(Answer, Name), String> {
    let mut owner = name.clone();
    for _ in 0..=MAX_CNAME_CHAIN {
        let owned = || {
            message
                .answers
                .iter()
                .filter(|r| r.dns_class == DNSClass::IN && r.name.eq_ignore_root(&owner))
        };
        let answer = match qtype {
            QueryType::Mx => Answer::Mx(
                owned()
                    .filter_map(|r| match &r.data {
                        RData::MX(mx) => Some(MxRecord {
                            preference: mx.preference,
                            exchange: mx.exchange.to_ascii(),
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            QueryType::Txt => Answer::Txt(
                owned()
                    .filter_map(|r| match &r.data {
                        RData::TXT(txt) => Some(
                            txt.txt_data
                                .iter()
                                .map(|piece| String::from_utf8_lossy(piece))
                                .collect(),
                        ),
                        _ => None,
                    })
                    .collect(),
            ),
            QueryType::Tlsa => Answer::Tlsa(
                owned()
                    .filter_map(|r| match &r.data {
                        RData::TLSA(tlsa) => Some(super::TlsaRecord {
                            usage: u8::from(tlsa.cert_usage),
                            selector: u8::from(tlsa.selector),
                            matching: u8::from(tlsa.matching),
                            data: tlsa.cert_data.to_vec(),
                        }),
                        _ => None,
                    })
                    .collect(),
            ),
            QueryType::A | QueryType::Aaaa => Answer::Addresses(
                owned()
                    .filter_map(|r| match (&r.data, qtype) {
                        (RData::A(a), QueryType::A) => Some(IpAddr::V4(a.0)),
                        (RData::AAAA(a), QueryType::Aaaa) => Some(IpAddr::V6(a.0)),
                        _ => None,
                    })
                    .collect(),
            ),
            QueryType::Cname => Answer::Alias(
                owned()
                    .filter_map(|r| match &r.data {
                        RData::CNAME(target) => Some(target.0.to_ascii()),
                        _ => None,
                    })
                    .collect(),
            ),
        };
        if !answer.is_empty() {
            return Ok((answer, owner));
        }
        let alias = owned().find_map(|r| match &r.data {
            RData::CNAME(target) => Some(target.0.clone()),
            _ => None,
        });
        match alias {
            Some(target) => owner = target,
            None => return Ok((answer, owner)),
        }
    }
    Err(format!(
        "CNAME chain for {name} longer than {MAX_CNAME_CHAIN} links"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::{A, AAAA, CNAME, MX};
    use hickory_proto::rr::Record;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// A well-formed answer to `id`/`qname`/`qtype` with `answers`; callers then spoil it.
    fn response(id: u16, qname: &str, qtype: RecordType, answers: Vec<Record>) -> Message {
        let mut m = Message::new(id, MessageType::Response, OpCode::Query);
        m.add_query(Query::query(name(qname), qtype));
        m.add_answers(answers);
        m
    }

    fn bytes(m: &Message) -> Vec<u8> {
        m.to_vec().unwrap()
    }

    fn mx(owner: &str, preference: u16, exchange: &str) -> Record {
        Record::from_rdata(
            name(owner),
            60,
            RData::MX(MX::new(preference, name(exchange))),
        )
    }

    fn a(owner: &str, last: u8) -> Record {
        Record::from_rdata(name(owner), 60, RData::A(A(Ipv4Addr::new(127, 0, 0, last))))
    }

    fn cname(owner: &str, target: &str) -> Record {
        Record::from_rdata(name(owner), 60, RData::CNAME(CNAME(name(target))))
    }

    #[test]
    fn query_repeats_id_name_type_and_asks_for_recursion() {
        let wire = encode_query(0xbeef, &name("example.test."), QueryType::Mx, Some(1232)).unwrap();
        let m = Message::from_vec(&wire).unwrap();
        assert_eq!(m.metadata.id, 0xbeef);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries[0].name(), &name("example.test."));
        assert_eq!(m.queries[0].query_type(), RecordType::MX);
        assert_eq!(m.edns.map(|e| e.max_payload()), Some(1232));
    }

    #[test]
    fn accepts_mx_records_for_our_question() {
        let m = response(
            7,
            "example.test.",
            RecordType::MX,
            vec![mx("example.test.", 10, "mx.example.test.")],
        );
        let verdict = check_response(&bytes(&m), 7, &name("Example.TEST."), QueryType::Mx);
        assert_eq!(
            verdict,
            Verdict::Answer(
                Answer::Mx(vec![MxRecord {
                    preference: 10,
                    exchange: "mx.example.test.".to_string()
                }]),
                name("example.test.")
            )
        );
    }

    #[test]
    fn ignores_an_answer_with_the_wrong_id() {
        let m = response(8, "example.test.", RecordType::MX, vec![]);
        let verdict = check_response(&bytes(&m), 7, &name("example.test."), QueryType::Mx);
        assert_eq!(verdict, Verdict::NotOurs("wrong query ID"));
    }

    #[test]
    fn ignores_an_answer_to_another_name() {
        let m = response(
            7,
            "other.test.",
            RecordType::MX,
            vec![mx("other.test.", 1, "mx.test.")],
        );
        let verdict = check_response(&bytes(&m), 7, &name("example.test."), QueryType::Mx);
        assert!(matches!(verdict, Verdict::NotOurs(_)), "{verdict:?}");
    }

    #[test]
    fn ignores_an_answer_to_another_type() {
        let m = response(
            7,
            "example.test.",
            RecordType::A,
            vec![a("example.test.", 1)],
        );
        let verdict = check_response(&bytes(&m), 7, &name("example.test."), QueryType::Mx);
        assert!(matches!(verdict, Verdict::NotOurs(_)), "{verdict:?}");
    }

    #[test]
    fn ignores_a_query_sent_back_at_us() {
        let mut m = response(7, "example.test.", RecordType::MX, vec![]);
        m.metadata.message_type = MessageType::Query;
        let verdict = check_response(&bytes(&m), 7, &name("example.test."), QueryType::Mx);
        assert_eq!(verdict, Verdict::NotOurs("not a response (QR bit clear)"));
    }

    #[test]
    fn truncated_answer_asks_for_tcp() {
        let mut m = response(
            7,
            "example.test.",
            RecordType::A,
            vec![a("example.test.", 1)],
        );
        m.metadata.truncation = true;
        let verdict = check_response(&bytes(&m), 7, &name("example.test."), QueryType::A);
        assert_eq!(verdict, Verdict::Truncated);
    }

    #[test]
    fn nxdomain_and_servfail_are_told_apart() {
        let mut m = response(7, "nx.test.", RecordType::MX, vec![]);
        m.metadata.response_code = ResponseCode::NXDomain;
        assert_eq!(
            check_response(&bytes(&m), 7, &name("nx.test."), QueryType::Mx),
            Verdict::NoSuchDomain
        );
        m.metadata.response_code = ResponseCode::ServFail;
        assert_eq!(
            check_response(&bytes(&m), 7, &name("nx.test."), QueryType::Mx),
            Verdict::ServerError(2)
        );
    }

    #[test]
    fn txt_strings_are_joined_per_record_and_tlsa_fields_kept() {
        use hickory_proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
        use hickory_proto::rr::rdata::{TLSA, TXT};
        let m = response(
            7,
            "_mta-sts.example.test.",
            RecordType::TXT,
            vec![Record::from_rdata(
                name("_mta-sts.example.test."),
                60,
                RData::TXT(TXT::new(vec!["v=STSv1; ".into(), "id=1;".into()])),
            )],
        );
        assert_eq!(
            check_response(
                &bytes(&m),
                7,
                &name("_mta-sts.example.test."),
                QueryType::Txt
            ),
            Verdict::Answer(
                Answer::Txt(vec!["v=STSv1; id=1;".into()]),
                name("_mta-sts.example.test.")
            )
        );
        let m = response(
            8,
            "_25._tcp.mx.example.test.",
            RecordType::TLSA,
            vec![Record::from_rdata(
                name("_25._tcp.mx.example.test."),
                60,
                RData::TLSA(TLSA::new(
                    CertUsage::DaneEe,
                    Selector::Spki,
                    Matching::Sha256,
                    vec![1, 2, 3],
                )),
            )],
        );
        assert_eq!(
            check_response(
                &bytes(&m),
                8,
                &name("_25._tcp.mx.example.test."),
                QueryType::Tlsa
            ),
            Verdict::Answer(
                Answer::Tlsa(vec![super::super::TlsaRecord {
                    usage: 3,
                    selector: 1,
                    matching: 1,
                    data: vec![1, 2, 3],
                }]),
                name("_25._tcp.mx.example.test.")
            )
        );
    }

    #[test]
    fn no_records_of_the_type_is_nodata() {
        let m = response(
            7,
            "example.test.",
            RecordType::MX,
            vec![a("example.test.", 1)],
        );
        let verdict = check_response(&bytes(&m), 7, &name("example.test."), QueryType::Mx);
        assert_eq!(
            verdict,
            Verdict::Answer(Answer::Mx(vec![]), name("example.test."))
        );
    }

    #[test]
    fn follows_a_cname_chain_and_ignores_records_for_other_names() {
        let m = response(
            7,
            "alias.test.",
            RecordType::AAAA,
            vec![
                cname("alias.test.", "middle.test."),
                cname("middle.test.", "host.test."),
                Record::from_rdata(
                    name("unrelated.test."),
                    60,
                    RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
                ),
                Record::from_rdata(
                    name("host.test."),
                    60,
                    RData::AAAA(AAAA(Ipv6Addr::LOCALHOST)),
                ),
            ],
        );
        let verdict = check_response(&bytes(&m), 7, &name("alias.test."), QueryType::Aaaa);
        assert_eq!(
            verdict,
            Verdict::Answer(
                Answer::Addresses(vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]),
                name("host.test.")
            )
        );
    }

    #[test]
    fn a_chain_that_ends_without_records_is_nodata_owned_by_its_end() {
        let m = response(
            7,
            "alias.test.",
            RecordType::TLSA,
            vec![cname("alias.test.", "target.test.")],
        );
        let verdict = check_response(&bytes(&m), 7, &name("alias.test."), QueryType::Tlsa);
        assert_eq!(
            verdict,
            Verdict::Answer(Answer::Tlsa(vec![]), name("target.test."))
        );
    }

    #[test]
    fn a_cname_question_is_answered_by_the_alias_itself() {
        let m = response(
            7,
            "alias.test.",
            RecordType::CNAME,
            vec![
                cname("alias.test.", "middle.test."),
                cname("middle.test.", "host.test."),
            ],
        );
        let verdict = check_response(&bytes(&m), 7, &name("alias.test."), QueryType::Cname);
        assert_eq!(
            verdict,
            Verdict::Answer(
                Answer::Alias(vec!["middle.test.".into()]),
                name("alias.test.")
            )
        );
    }

    #[test]
    fn rejects_a_cname_chain_longer_than_the_limit() {
        let mut records: Vec<Record> = (0..=MAX_CNAME_CHAIN)
            .map(|i| cname(&format!("c{i}.test."), &format!("c{}.test.", i + 1)))
            .collect();
        records.push(a(&format!("c{}.test.", MAX_CNAME_CHAIN + 1), 1));
        let m = response(7, "c0.test.", RecordType::A, records);
        let verdict = check_response(&bytes(&m), 7, &name("c0.test."), QueryType::A);
        assert!(matches!(verdict, Verdict::Malformed(_)), "{verdict:?}");
    }

    #[test]
    fn a_cname_loop_is_malformed_not_endless() {
        let m = response(
            7,
            "a.test.",
            RecordType::A,
            vec![cname("a.test.", "b.test."), cname("b.test.", "a.test.")],
        );
        let verdict = check_response(&bytes(&m), 7, &name("a.test."), QueryType::A);
        assert!(matches!(verdict, Verdict::Malformed(_)), "{verdict:?}");
    }

    #[test]
    fn garbage_with_our_id_is_malformed_and_without_it_is_noise() {
        assert!(matches!(
            check_response(&[0, 7, 0x80], 7, &name("a.test."), QueryType::A),
            Verdict::Malformed(_)
        ));
        assert!(matches!(
            check_response(&[0, 8, 0x80], 7, &name("a.test."), QueryType::A),
            Verdict::NotOurs(_)
        ));
    }
}
