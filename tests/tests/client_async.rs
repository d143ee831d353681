//! The long-lived async client and pool (`mxsend::aio::Client` / `Pool`, one implementation
//! generic over `aio::Runtime`) on smol, async-std and tokio, against real servers: one
//! connection reused after an RSET check, a transparent reconnection when Postfix closed
//! the idle connection (`smtpd_timeout`), and a pool that never opens more connections than
//! its limit while many sends run at once.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use mxsend::{MessageBuilder, Relay, TlsMode};
use mxsend_tests::commands::command_log;
use mxsend_tests::postfix::{Postfix, PostfixOptions};
use mxsend_tests::smtp_sink::SmtpSink;

fn message(to: &str, n: usize) -> mxsend::Message<mxsend::ComposedBody> {
    MessageBuilder::new()
        .from("app@example.org")
        .to(to)
        .subject(format!("message {n}"))
        .text(format!("This is message {n}."))
        .build()
        .expect("a valid message")
}

/// Every future of `futures` run at once in the calling task; their outputs in order.
async fn join_all<T>(mut futures: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut outputs: Vec<Option<T>> = futures.iter().map(|_| None).collect();
    futures_lite::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

macro_rules! client_tests {
    ($name:ident, $runtime:path, $block_on:expr) => {
        mod $name {
            use super::*;
            use $runtime as rt;

            fn block_on<T>(future: impl Future<Output = T>) -> T {
                ($block_on)(future)
            }

            #[test]
            fn messages_sent_over_time_share_one_connection_checked_with_rset() {
                let sink = SmtpSink::start(&[], None);
                let (log, relay) = command_log(
                    Relay::new(sink.addr.ip().to_string(), sink.addr.port())
                        .tls(TlsMode::None)
                        .timeout(Duration::from_secs(20)),
                );
                let mut client = rt::Client::new(relay).unwrap();
                block_on(async {
                    let first = client.send(&message("a@example.test", 1)).await.unwrap();
                    assert!(first.all_delivered(), "{first}");
                    let batch = [message("b@example.test", 2), message("c@example.test", 3)];
                    let reports = client.send_all(&batch).await.unwrap();
                    assert!(reports.iter().all(|r| r.all_delivered()));
                    client.close().await;
                });
                let stats = client.stats();
                assert_eq!((stats.connections, stats.reused), (1, 1), "{stats:?}");
                let commands = log.lock().unwrap().clone();
                assert_eq!(
                    commands,
                    [
                        "CONNECT", "EHLO", "MAIL", "RCPT", "DATA", ".", "RSET", "MAIL", "RCPT",
                        "DATA", ".", "MAIL", "RCPT", "DATA", ".", "QUIT",
                    ],
                    "{commands:?}"
                );
                assert_eq!(sink.wait_for_dumps(3, Duration::from_secs(10)).len(), 3);
            }

            #[test]
            fn a_connection_the_server_closed_while_idle_is_reopened_transparently() {
                let postfix = Postfix::start(PostfixOptions {
                    main_cf: vec![("smtpd_timeout".into(), "1s".into())],
                    ..PostfixOptions::default()
                });
                let addr = postfix.smtp_addr();
                let (log, relay) = command_log(
                    Relay::new(addr.ip().to_string(), addr.port())
                        .ca_file(&postfix.pki().ca_cert)
                        .timeout(Duration::from_secs(20)),
                );
                let mut client = rt::Client::new(relay).unwrap();
                let first = block_on(client.send(&message("alice@example.test", 1))).unwrap();
                assert!(first.all_delivered(), "{first}");
                std::thread::sleep(Duration::from_secs(3));
                let second = block_on(client.send(&message("bob@example.test", 2))).unwrap();
                assert!(second.all_delivered(), "{second}");
                let stats = client.stats();
                assert_eq!((stats.connections, stats.reconnected), (2, 1), "{stats:?}");
                let commands = log.lock().unwrap().clone();
                let reconnect = commands.iter().rposition(|c| c == "CONNECT").unwrap();
                assert_eq!(commands[reconnect - 1], "RSET", "{commands:?}");
                let wait = Duration::from_secs(20);
                assert_eq!(
                    postfix
                        .wait_for_messages("alice@example.test", 1, wait)
                        .len(),
                    1
                );
                assert_eq!(
                    postfix.wait_for_messages("bob@example.test", 1, wait).len(),
                    1
                );
            }

            #[test]
            fn the_pool_never_opens_more_connections_than_its_limit() {
                // DATA answered after a delay, so the sends overlap.
                let sink = SmtpSink::start(&["-w", "1"], None);
                let (log, relay) = command_log(
                    Relay::new(sink.addr.ip().to_string(), sink.addr.port())
                        .tls(TlsMode::None)
                        .timeout(Duration::from_secs(20)),
                );
                let pool = rt::Pool::new(relay, 2).unwrap();
                let messages: Vec<_> = (0..6).map(|n| message("a@example.test", n)).collect();
                let reports = block_on(join_all(
                    messages
                        .iter()
                        .map(|m| {
                            Box::pin(pool.send(m))
                                as Pin<
                                    Box<
                                        dyn Future<Output = Result<mxsend::Report, mxsend::Error>>
                                            + Send,
                                    >,
                                >
                        })
                        .collect(),
                ));
                assert_eq!(reports.len(), 6);
                for report in &reports {
                    assert!(report.as_ref().unwrap().all_delivered(), "{reports:?}");
                }
                let stats = block_on(pool.stats());
                assert_eq!(stats.connections, 2, "{stats:?}");
                assert_eq!(stats.reused, 4, "{stats:?}");
                assert_eq!(block_on(pool.idle_clients()), 2);
                let connects = log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|c| *c == "CONNECT")
                    .count();
                assert_eq!(connects, 2);
                block_on(pool.close());
                assert_eq!(sink.wait_for_dumps(6, Duration::from_secs(10)).len(), 6);
            }
        }
    };
}

client_tests!(on_smol, mxsend::smol, ::smol::block_on);
client_tests!(on_async_std, mxsend::async_std, ::async_std::task::block_on);
/// One current-thread tokio runtime per test thread, kept across calls: a client's
/// connection belongs to the runtime it was opened on.
fn tokio_block_on<T>(future: impl Future<Output = T>) -> T {
    thread_local! {
        static RUNTIME: ::tokio::runtime::Runtime = ::tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
    }
    RUNTIME.with(|runtime| runtime.block_on(future))
}

client_tests!(on_tokio, mxsend::tokio, tokio_block_on);
