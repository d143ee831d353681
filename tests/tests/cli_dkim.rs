//! The `mxsend` binary and DKIM: `mxsend dkim keygen` writes keys and prints their TXT
//! records; a send with `--dkim-key` (twice: RSA and Ed25519) or with an account's key list
//! (sendmail mode) is signed, and the message Postfix stored verifies with dkimpy and
//! OpenDKIM, the records served by the test dnsmasq. Bad flags stop before any connection.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use cli_support::{file, mxsend, scratch, Tripwire};
use mxsend::dkim::DkimKey;
use mxsend_tests::dkim::assert_verifies;
use mxsend_tests::dnsmasq::Dnsmasq;
use mxsend_tests::postfix::{Postfix, PostfixOptions};

const STORED: Duration = Duration::from_secs(30);

/// Run keygen in `dir`; the TXT record's name and text, joined from its quoted strings.
fn keygen(home: &Path, dir: &Path, selector: &str, kind: &str) -> (String, String) {
    let output = mxsend(home)
        .args([
            "dkim",
            "keygen",
            "--selector",
            selector,
            "--domain",
            "example.test",
        ])
        .args(["--type", kind, "-D"])
        .arg(dir)
        .output()
        .expect("run mxsend dkim keygen");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let name = text.split_whitespace().next().expect("a record name");
    let record: String = text
        .split('"')
        .skip(1)
        .step_by(2)
        .collect::<Vec<_>>()
        .concat();
    (name.trim_end_matches('.').to_string(), record)
}

#[test]
fn keygen_writes_a_private_key_mode_600_and_prints_the_txt_record() {
    let home = scratch();
    for (selector, kind, k) in [("r1", "rsa", "k=rsa;"), ("e1", "ed25519", "k=ed25519;")] {
        let (name, record) = keygen(home.path(), home.path(), selector, kind);
        assert_eq!(name, format!("{selector}._domainkey.example.test"));
        assert!(
            record.starts_with("v=DKIM1; ") && record.contains(k),
            "{record}"
        );
        let path = home.path().join(format!("{selector}.private"));
        let mode = std::fs::metadata(&path)
            .expect("key written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let key = DkimKey::from_pem_file(&path).expect("the key loads");
        assert_eq!(key.dns_record(), record);
    }
    // An existing key is never overwritten.
    mxsend(home.path())
        .args([
            "dkim",
            "keygen",
            "--selector",
            "r1",
            "--domain",
            "example.test",
            "-D",
        ])
        .arg(home.path())
        .assert()
        .failure();
}

#[test]
fn send_with_two_dkim_keys_is_stored_by_postfix_and_verifies() {
    let home = scratch();
    let rsa = keygen(home.path(), home.path(), "r1", "rsa");
    let ed = keygen(home.path(), home.path(), "e1", "ed25519");
    let dns = Dnsmasq::start_with_txt(&[rsa, ed]);
    let postfix = Postfix::start(PostfixOptions::default());
    let attachment = file(home.path(), "data.csv", b"a,b\n1,2   \n\n\n");
    mxsend(home.path())
        .args([
            "--no-account",
            "--server",
            &postfix.smtp_addr().to_string(),
            "--tls",
            "none",
        ])
        .args([
            "--from",
            "Alice <alice@example.test>",
            "--to",
            "bob@example.test",
        ])
        .args(["--subject", "signed", "--body", "hello  \n\n"])
        .arg("--attach")
        .arg(&attachment)
        .arg("--dkim-key")
        .arg(home.path().join("r1.private"))
        .args(["--dkim-selector", "r1"])
        .arg("--dkim-key")
        .arg(home.path().join("e1.private"))
        .args(["--dkim-selector", "e1", "--dkim-domain", "example.test"])
        .assert()
        .code(0);
    let stored = postfix.wait_for_message("bob@example.test", STORED);
    let path = file(home.path(), "stored.eml", &stored);
    assert_verifies(&path, dns.addr(), &["r1", "e1"]);
}

#[test]
fn sendmail_mode_signs_with_the_account_keys() {
    let home = scratch();
    let ed = keygen(home.path(), home.path(), "e2", "ed25519");
    let rsa = keygen(home.path(), home.path(), "r2", "rsa");
    let dns = Dnsmasq::start_with_txt(&[ed, rsa]);
    let postfix = Postfix::start(PostfixOptions::default());
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"relay\"\n[accounts.relay]\nserver = \"{}\"\ntls = \"none\"\n\
             [[accounts.relay.dkim]]\nkey = \"{}\"\nselector = \"e2\"\n\
             [[accounts.relay.dkim]]\nkey = \"{}\"\nselector = \"r2\"\ndomain = \"example.test\"\n",
            postfix.smtp_addr(),
            home.path().join("e2.private").display(),
            home.path().join("r2.private").display(),
        )
        .as_bytes(),
    );
    let message = "From: Alice <alice@example.test>\nTo: bob@example.test\n\
                   Bcc: alice@example.test\nSubject:  from cron \n\nline  \n\n";
    mxsend(home.path())
        .args(["sendmail", "-t", "-i", "-C"])
        .arg(&config)
        .write_stdin(message)
        .assert()
        .code(0)
        .stderr("");
    let stored = postfix.wait_for_message("bob@example.test", STORED);
    assert!(
        !String::from_utf8_lossy(&stored).contains("Bcc:"),
        "Bcc removed"
    );
    let path = file(home.path(), "stored.eml", &stored);
    assert_verifies(&path, dns.addr(), &["e2", "r2"]);
}

#[test]
fn bad_dkim_flags_stop_before_any_connection() {
    let home = scratch();
    let tripwire = Tripwire::new();
    let key = home.path().join("k.private");
    std::fs::write(&key, "not a key").expect("write");
    let send = |extra: &[&std::ffi::OsStr]| {
        let mut command = mxsend(home.path());
        command
            .args([
                "--no-account",
                "--server",
                &tripwire.server(),
                "--tls",
                "none",
            ])
            .args([
                "--from",
                "a@example.test",
                "--to",
                "b@example.test",
                "--body",
                "x",
            ])
            .args(extra);
        command
    };
    // A key without its selector: usage.
    send(&["--dkim-key".as_ref(), key.as_os_str()])
        .assert()
        .code(64);
    // A missing key file: no input.
    send(&[
        "--dkim-key".as_ref(),
        home.path().join("missing").as_os_str(),
        "--dkim-selector".as_ref(),
        "s".as_ref(),
    ])
    .assert()
    .code(66);
    // Not a key: configuration.
    let output = send(&[
        "--dkim-key".as_ref(),
        key.as_os_str(),
        "--dkim-selector".as_ref(),
        "s".as_ref(),
    ])
    .output()
    .expect("run");
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DKIM key"));
    tripwire.assert_untouched();
}

#[test]
fn a_queued_message_is_signed_when_the_queue_delivers_it() {
    let home = scratch();
    let ed = keygen(home.path(), home.path(), "q1", "ed25519");
    let dns = Dnsmasq::start_with_txt(&[ed]);
    let postfix = Postfix::start(PostfixOptions::default());
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"relay\"\n[accounts.relay]\nserver = \"{}\"\ntls = \"none\"\n\
             [[accounts.relay.dkim]]\nkey = \"{}\"\nselector = \"q1\"\n",
            postfix.smtp_addr(),
            home.path().join("q1.private").display(),
        )
        .as_bytes(),
    );
    // -odq: into the queue without an attempt, so the queue's own run is what signs it.
    mxsend(home.path())
        .args(["sendmail", "-odq", "-t", "-i", "-C"])
        .arg(&config)
        .write_stdin(
            "From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: later\n\nqueued  \n",
        )
        .assert()
        .code(0);
    assert!(postfix.messages("bob@example.test").is_empty());
    mxsend(home.path())
        .args(["queue", "run", "--config"])
        .arg(&config)
        .assert()
        .code(0);
    let stored = postfix.wait_for_message("bob@example.test", STORED);
    let path = file(home.path(), "stored.eml", &stored);
    assert_verifies(&path, dns.addr(), &["q1"]);
}
