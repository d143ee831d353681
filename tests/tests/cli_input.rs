//! Bad input fails before any connection is made, with one line naming the cause and the
//! sysexits status for it; `--dry-run` sends nothing; completions and the man page generate.
//!
//! Every test that could connect points `--server` at a [`Tripwire`]: a listener that fails
//! the test if anything connected to it.

mod cli_support;

use cli_support::{file, mxsend, scratch, Tripwire};
use predicates::prelude::*;

/// The flags of a message that would be sent to `server` in plaintext.
fn relay_args(server: &str) -> Vec<String> {
    [
        "--no-account",
        "--server",
        server,
        "--tls",
        "none",
        "--from",
        "ann@example.test",
        "--subject",
        "test",
        "--body",
        "hello",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// stderr is exactly one line starting with `mxsend: ` and containing every word in `words`.
fn one_line_naming(words: &'static [&'static str]) -> impl Predicate<str> {
    predicate::function(move |stderr: &str| {
        stderr.lines().count() == 1
            && stderr.starts_with("mxsend: ")
            && words.iter().all(|w| stderr.contains(w))
    })
}

#[test]
fn malformed_address_is_usage_error_before_connecting() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args(["--to", "bob.example.test"])
        .assert()
        .code(64)
        .stdout("")
        .stderr(one_line_naming(&[
            "--to",
            "bob.example.test",
            "local@domain",
        ]));
    trip.assert_untouched();
}

#[test]
fn header_with_a_newline_is_refused_before_connecting() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args([
            "--to",
            "bob@example.test",
            "--header",
            "X-Note: a\r\nBcc: eve@example.test",
        ])
        .assert()
        .code(64)
        .stderr(one_line_naming(&["X-Note", "injection"]));
    trip.assert_untouched();
}

#[test]
fn subject_with_a_newline_is_refused_before_connecting() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(["--no-account", "--server", &trip.server(), "--tls", "none"])
        .args(["--from", "ann@example.test", "--to", "bob@example.test"])
        .args(["--subject", "hi\nBcc: eve@example.test", "--body", "x"])
        .assert()
        .code(64)
        .stderr(one_line_naming(&["--subject", "line break"]));
    trip.assert_untouched();
}

#[test]
fn unknown_tls_mode_is_usage_error_listing_the_modes() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args([
            "--server",
            &trip.server(),
            "--tls",
            "sometimes",
            "bob@example.test",
        ])
        .assert()
        .code(64)
        .stderr(one_line_naming(&["sometimes", "opportunistic", "required"]));
    trip.assert_untouched();
}

#[test]
fn unreadable_attachment_is_noinput_before_connecting() {
    let home = scratch();
    let trip = Tripwire::new();
    let missing = home.path().join("missing.pdf");
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args(["--to", "bob@example.test", "--attach"])
        .arg(&missing)
        .assert()
        .code(66)
        .stderr(one_line_naming(&["attachment", "missing.pdf"]));
    trip.assert_untouched();
}

#[test]
fn missing_message_file_is_noinput() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(["--no-account", "--server", &trip.server(), "--tls", "none"])
        .args([
            "--from",
            "ann@example.test",
            "--to",
            "bob@example.test",
            "--message",
        ])
        .arg(home.path().join("nope.eml"))
        .assert()
        .code(66)
        .stderr(one_line_naming(&["nope.eml"]));
    trip.assert_untouched();
}

#[test]
fn unreadable_ca_file_is_noinput() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args([
            "--to",
            "bob@example.test",
            "--ca-file",
            "/nonexistent/ca.pem",
        ])
        .assert()
        .code(66)
        .stderr(one_line_naming(&["--ca-file", "/nonexistent/ca.pem"]));
    trip.assert_untouched();
}

#[test]
fn broken_config_file_is_config_error_naming_file_and_line() {
    let home = scratch();
    let trip = Tripwire::new();
    let config = file(home.path(), "config.toml", b"[accounts.a]\nserver = \n");
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args([
            "--server",
            &trip.server(),
            "--from",
            "a@example.test",
            "bob@example.test",
        ])
        .assert()
        .code(78)
        .stderr(one_line_naming(&["config.toml", "line 2"]));
    trip.assert_untouched();
}

#[test]
fn unknown_account_is_config_error_listing_accounts() {
    let home = scratch();
    let trip = Tripwire::new();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "[accounts.work]\nserver = \"{}\"\ntls = \"none\"\n",
            trip.server()
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .arg("--config")
        .arg(&config)
        .args([
            "--account",
            "home",
            "--from",
            "a@example.test",
            "bob@example.test",
        ])
        .assert()
        .code(78)
        .stderr(one_line_naming(&["\"home\"", "work"]));
    trip.assert_untouched();
}

#[test]
fn password_for_plaintext_relay_is_refused_before_connecting() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args([
            "--to",
            "bob@example.test",
            "--user",
            "ann",
            "--password-env",
            "PW",
        ])
        .env("PW", "hunter2")
        .assert()
        .code(64)
        .stderr(one_line_naming(&["--allow-plaintext-auth"]));
    trip.assert_untouched();
}

#[test]
fn unset_password_variable_is_config_error_before_connecting() {
    let home = scratch();
    let trip = Tripwire::new();
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args(["--allow-plaintext-auth", "--to", "bob@example.test"])
        .args([
            "--user",
            "ann",
            "--password-env",
            "MXSEND_TEST_UNSET_PASSWORD",
        ])
        .env_remove("MXSEND_TEST_UNSET_PASSWORD")
        .assert()
        .code(78)
        .stderr(one_line_naming(&["MXSEND_TEST_UNSET_PASSWORD"]));
    trip.assert_untouched();
}

#[test]
fn sendmail_t_without_recipients_is_dataerr() {
    let home = scratch();
    let trip = Tripwire::new();
    let config = file(
        home.path(),
        "config.toml",
        format!(
            "default = \"t\"\n[accounts.t]\nserver = \"{}\"\ntls = \"none\"\n",
            trip.server()
        )
        .as_bytes(),
    );
    mxsend(home.path())
        .args(["sendmail", "-t", "-i", "-C"])
        .arg(&config)
        .write_stdin("From: ann@example.test\nSubject: nobody\n\nhello\n")
        .assert()
        .code(65)
        .stderr(one_line_naming(&["no recipients"]));
    trip.assert_untouched();
}

#[test]
fn sendmail_daemon_mode_is_refused() {
    let home = scratch();
    mxsend(home.path())
        .args(["sendmail", "-bd"])
        .assert()
        .code(64)
        .stderr(one_line_naming(&["-bd"]));
}

#[test]
fn dry_run_prints_message_and_plan_and_sends_nothing() {
    let home = scratch();
    let trip = Tripwire::new();
    let attachment = file(home.path(), "notes.txt", b"attached text\n");
    mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args([
            "--to",
            "Bob <bob@example.test>",
            "--bcc",
            "eve@example.test",
            "--dry-run",
        ])
        .arg("--attach")
        .arg(&attachment)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("Dry run: nothing is sent.")
                .and(predicate::str::contains(format!(
                    "relay 127.0.0.1 port {}",
                    trip.addr().port()
                )))
                .and(predicate::str::contains(
                    "RCPT TO:<bob@example.test>, <eve@example.test>",
                ))
                .and(predicate::str::contains("To: Bob <bob@example.test>"))
                .and(predicate::str::contains("filename=\"notes.txt\""))
                // Bcc is in the envelope only.
                .and(predicate::str::contains("Bcc:").not()),
        );
    trip.assert_untouched();
}

#[test]
fn dry_run_json_is_one_document() {
    let home = scratch();
    let trip = Tripwire::new();
    let output = mxsend(home.path())
        .args(relay_args(&trip.server()))
        .args(["--to", "bob@example.test", "--dry-run", "--json"])
        .output()
        .expect("run mxsend");
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(doc["dry_run"], true);
    assert_eq!(
        doc["envelope"]["recipients"],
        serde_json::json!(["bob@example.test"])
    );
    assert!(doc["message"].as_str().unwrap().contains("Subject: test"));
    trip.assert_untouched();
}

#[test]
fn completions_generate_for_each_shell() {
    let home = scratch();
    for (shell, marker) in [
        ("bash", "_mxsend()"),
        ("zsh", "#compdef mxsend"),
        ("fish", "complete -c mxsend"),
    ] {
        mxsend(home.path())
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains(marker).and(predicate::str::contains("dry-run")));
    }
}

#[test]
fn man_page_generates() {
    let home = scratch();
    mxsend(home.path())
        .arg("manpage")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(".ie").and(predicate::str::contains(".TH mxsend 1")));
}

#[test]
fn help_documents_the_exit_statuses_and_the_rule_for_mixed_outcomes() {
    let home = scratch();
    mxsend(home.path()).arg("--help").assert().success().stdout(
        predicate::str::contains("Exit status (sysexits.h)")
            .and(predicate::str::contains("75, 76, 77, 69, 65, 68, 67, 0")),
    );
}
