//! Reply parsing throughput: mxsend's `ReplyParser` against smtp-proto's `ResponseReceiver`
//! on the same bytes (BENCHMARKS.md, "Micro"; target: at least 2x smtp-proto).
//!
//! Two lines per corpus against smtp-proto:
//! - `mxsend` (owned): `ReplyParser::parse`, every reply parsed to completion into an owned
//!   `Reply` holding the code, the enhanced status code and the text of every line: the
//!   same work as smtp-proto, which always produces an owned `Response<String>`.
//! - `mxsend-ref` (borrowed): `ReplyParser::parse_ref`, every reply parsed to completion
//!   into a `ReplyRef` (code, enhanced code, text borrowed from the input or the parser's
//!   reused buffer): what the session does for replies it does not keep. No allocation.
//!
//! Before timing, a check asserts that both forms and smtp-proto agree on every reply of
//! every corpus, so the comparison cannot drift into measuring different things.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mxsend_core::reply::{ReplyParser, ReplyRef, Status, StatusRef};
use smtp_proto::response::parser::ResponseReceiver;
use std::hint::black_box;
use std::time::Duration;

/// Replies of one line, as seen in a pipelined transaction, AUTH and QUIT (Postfix, Gmail,
/// Exim-style texts).
const SINGLE_LINE: &[&str] = &[
    "220 mx.google.com ESMTP a1b2c3d4e5f6-7g8h9i10j11.123 - gsmtp\r\n",
    "220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n",
    "250 2.1.0 Ok\r\n",
    "250 2.1.5 Ok\r\n",
    "250 2.1.5 OK a1-20020a170906000100b00a5b6c7d8e9si123456ejb.123 - gsmtp\r\n",
    "354 End data with <CR><LF>.<CR><LF>\r\n",
    "354  Go ahead a1-20020a170906000100b00a5b6c7d8e9si123456ejb.123 - gsmtp\r\n",
    "250 2.0.0 Ok: queued as 4F2B81C0A3E\r\n",
    "250 2.0.0 OK  1714060000 a1-20020a170906000100b00a5b6c7d8e9si123456ejb.123 - gsmtp\r\n",
    "334 VXNlcm5hbWU6\r\n",
    "334 UGFzc3dvcmQ6\r\n",
    "235 2.7.0 Authentication successful\r\n",
    "550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown in virtual mailbox table\r\n",
    "451 4.7.1 Service unavailable - try again later\r\n",
    "221 2.0.0 Bye\r\n",
];

/// Long multi-line EHLO replies: Postfix with everything on, and Gmail's MX.
const EHLO: &[&str] = &[
    "250-mail.example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
     250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n\
     250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
    "250-mx.google.com at your service, [203.0.113.5]\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n\
     250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
    "250-smtp.gmail.com at your service, [203.0.113.5]\r\n250-SIZE 35882577\r\n250-8BITMIME\r\n\
     250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH\r\n\
     250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
];

/// Multi-line replies with an enhanced code on every line (Gmail's unknown-user bounce).
const MULTI_LINE_ENHANCED: &[&str] = &[
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n\
     550-5.1.1 double-checking the recipient's email address for typos or\r\n\
     550-5.1.1 unnecessary spaces. For more information, go to\r\n\
     550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123456ejb.123 - gsmtp\r\n",
];

/// One corpus: the replies back to back, as a server's byte stream.
fn corpus(replies: &[&[&str]]) -> (Vec<u8>, usize) {
    let mut bytes = Vec::new();
    let mut count = 0;
    for set in replies {
        for reply in *set {
            bytes.extend_from_slice(reply.as_bytes());
            count += 1;
        }
    }
    (bytes, count)
}

/// A parsed reply in a form both parsers can be compared on.
#[derive(Debug, PartialEq)]
struct Parsed {
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    text: String,
}

fn parse_mxsend(corpus: &[u8], sink: &mut impl FnMut(mxsend_core::reply::Reply)) {
    let mut parser = ReplyParser::new();
    let mut rest = corpus;
    while !rest.is_empty() {
        match parser.parse(rest) {
            Ok(Status::Complete(reply, used)) => {
                sink(reply);
                rest = rest.get(used..).unwrap_or_default();
            }
            other => panic!("corpus reply did not parse: {other:?}"),
        }
    }
}

fn parse_mxsend_ref(corpus: &[u8], sink: &mut impl FnMut(ReplyRef<'_>)) {
    let mut parser = ReplyParser::new();
    let mut rest = corpus;
    while !rest.is_empty() {
        match parser.parse_ref(rest) {
            Ok(StatusRef::Complete(reply, used)) => {
                sink(reply);
                rest = rest.get(used..).unwrap_or_default();
            }
            other => panic!("corpus reply did not parse: {other:?}"),
        }
    }
}

fn parse_smtp_proto(corpus: &[u8], sink: &mut impl FnMut(smtp_proto::Response<String>)) {
    let mut receiver = ResponseReceiver::default();
    let mut rest = corpus.iter();
    while !rest.as_slice().is_empty() {
        match receiver.parse(&mut rest) {
            Ok(response) => {
                sink(response);
                receiver.reset();
            }
            Err(e) => panic!("corpus reply did not parse: {e:?}"),
        }
    }
}

/// Both parsers see the same replies: same count, codes, enhanced codes and text.
fn check_agreement(name: &str, corpus: &[u8], count: usize) {
    let mut ours = Vec::new();
    parse_mxsend(corpus, &mut |reply| {
        ours.push(Parsed {
            code: reply.code().get(),
            enhanced: reply.enhanced().map(|e| (e.class, e.subject, e.detail)),
            text: reply.text(),
        })
    });
    let mut borrowed = Vec::new();
    parse_mxsend_ref(corpus, &mut |reply| {
        borrowed.push(Parsed {
            code: reply.code().get(),
            enhanced: reply.enhanced().map(|e| (e.class, e.subject, e.detail)),
            text: reply.to_reply().text(),
        })
    });
    assert_eq!(ours, borrowed, "{name}: parse and parse_ref");
    let mut theirs = Vec::new();
    parse_smtp_proto(corpus, &mut |response| {
        let [class, subject, detail] = response.esc;
        theirs.push(Parsed {
            code: response.code,
            enhanced: (class != 0).then_some((class, subject.into(), detail.into())),
            // smtp-proto keeps the blank that follows an enhanced code on a line of its own.
            text: response.message,
        })
    });
    assert_eq!(ours.len(), count, "{name}: mxsend reply count");
    assert_eq!(theirs.len(), count, "{name}: smtp-proto reply count");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.code, b.code, "{name}");
        assert_eq!(a.enhanced, b.enhanced, "{name}");
        assert_eq!(
            a.text.split_whitespace().collect::<Vec<_>>(),
            b.text.split_whitespace().collect::<Vec<_>>(),
            "{name}"
        );
    }
}

fn reply_parse(c: &mut Criterion) {
    let corpora = [
        ("single_line", corpus(&[SINGLE_LINE])),
        ("ehlo", corpus(&[EHLO])),
        ("mixed", corpus(&[SINGLE_LINE, EHLO, MULTI_LINE_ENHANCED])),
    ];
    for (name, (bytes, count)) in &corpora {
        check_agreement(name, bytes, *count);
        let mut group = c.benchmark_group(format!("reply_parse/{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("mxsend", |b| {
            b.iter(|| parse_mxsend(black_box(bytes), &mut |reply| drop(black_box(reply))))
        });
        group.bench_function("mxsend-ref", |b| {
            b.iter(|| {
                parse_mxsend_ref(black_box(bytes), &mut |reply| {
                    black_box(reply);
                })
            })
        });
        group.bench_function("smtp-proto", |b| {
            b.iter(|| parse_smtp_proto(black_box(bytes), &mut |r| drop(black_box(r))))
        });
        group.finish();
    }
}

/// Short runs: the machine is small and shared; `cargo bench -- --measurement-time N`
/// overrides these.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = reply_parse
}
criterion_main!(benches);
