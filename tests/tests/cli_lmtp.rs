//! The `mxsend` binary speaking LMTP to a real Dovecot: `--server unix:PATH --lmtp` and an
//! account with `lmtp = true` over TCP; each recipient's outcome in the exit status and
//! `--json`, and the mailboxes read back.

mod cli_support;

use std::time::Duration;

use cli_support::{file, mxsend, scratch};
use mxsend_tests::dovecot::{Dovecot, DovecotOptions};

/// How long Dovecot gets to store what it received.
const STORED: Duration = Duration::from_secs(10);

#[test]
fn lmtp_over_a_unix_socket_reports_each_recipient() {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let home = scratch();
    let server = format!("unix:{}", dovecot.lmtp_socket().display());
    let output = mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &server,
            "--lmtp",
            "--timeout",
            "5",
        ])
        .args([
            "--from",
            "ann@example.test",
            "--subject",
            "lmtp",
            "--body",
            "hello over LMTP",
        ])
        .args([
            "--json",
            "alice@example.test",
            "nobody@example.test",
            "full@example.test",
            "bob@example.test",
        ])
        .output()
        .expect("run mxsend");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // nobody: 550 5.1.1 at RCPT; full: 552 5.2.2 after the data, for full alone: both rejected.
    assert_eq!(output.status.code(), Some(67), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    let outcomes: Vec<(String, String, u64)> = doc["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap_or_default().to_string(),
                r["outcome"].as_str().unwrap_or_default().to_string(),
                r["reply"]["code"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    let expected = [
        ("alice@example.test", "delivered", 250),
        ("nobody@example.test", "rejected", 550),
        ("full@example.test", "rejected", 552),
        ("bob@example.test", "delivered", 250),
    ];
    assert_eq!(
        outcomes,
        expected.map(|(r, o, c)| (r.to_string(), o.to_string(), c)),
        "{doc:#}"
    );
    assert_eq!(doc["recipients"][0]["host"], server.as_str());
    for user in ["alice@example.test", "bob@example.test"] {
        let stored = dovecot.wait_for_messages(user, 1, STORED);
        assert!(String::from_utf8_lossy(&stored[0]).contains("hello over LMTP"));
    }
    assert!(dovecot.messages("full@example.test").is_empty());
}

#[test]
fn an_account_with_lmtp_true_delivers_over_tcp() {
    let dovecot = Dovecot::start(DovecotOptions::default());
    let home = scratch();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"lmtp\"\n[accounts.lmtp]\nserver = \"{}\"\ntls = \"none\"\nlmtp = true\nfrom = \"ann@example.test\"\n",
            dovecot.lmtp_addr()
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args([
            "-v",
            "--subject",
            "account",
            "--body",
            "x",
            "alice@example.test",
            "bob@example.test",
        ])
        .assert()
        .code(0)
        .stderr(predicates::str::contains("-> LHLO "));
    for user in ["alice@example.test", "bob@example.test"] {
        dovecot.wait_for_messages(user, 1, STORED);
    }
}

#[test]
fn lmtp_without_a_server_is_a_usage_error() {
    let home = scratch();
    mxsend(home.path())
        .args([
            "--no-account",
            "--lmtp",
            "--from",
            "ann@example.test",
            "--body",
            "x",
            "a@example.test",
        ])
        .assert()
        .code(64)
        .stderr(predicates::str::contains("--lmtp needs --server"));
}
