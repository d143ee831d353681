//! The server is down when the mail is submitted and up later: messages from `sendmail -t`,
//! mutt, mailx (bsd-mailx) and git send-email, each calling mxsend as its sendmail, all
//! arrive exactly once after the server returns, and every caller saw exit 0.

mod cli_support;
mod queue_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use mxsend_tests::free_loopback_addr;
use queue_support::{message, text, Spool};

fn count(messages: &[Vec<u8>], needle: &str) -> usize {
    messages
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains(needle))
        .count()
}

fn run(mut command: Command, stdin: &str, who: &str) {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {who}: {e} (scripts/install-peers installs it)"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{who} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

#[test]
fn mail_from_sendmail_mutt_mailx_and_git_send_email_arrives_once_after_the_server_returns() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, "min_backoff = \"1s\"\nmax_backoff = \"1s\"");
    let home = spool.home.path();
    let sendmail = spool.sendmail();

    // sendmail -t (scripts, PHP mail()).
    let out = spool.submit(
        &["-t", "-i"],
        &message("ann@example.test", "bob@example.test", "from-sendmail-t"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("queued as"));

    // mutt in batch mode.
    let mut mutt = Command::new("mutt");
    spool.environment(&mut mutt);
    mutt.args(["-n", "-F", "/dev/null"])
        .arg("-e")
        .arg(format!("set sendmail=\"{} -oem -oi\"", sendmail.display()))
        .args(["-e", "set from=ann@example.test", "-e", "set use_from=yes"])
        .args(["-e", "set record=\"\"", "-e", "set copy=no"])
        .args(["-s", "from mutt", "bob@example.test"]);
    run(mutt, "body from-mutt\n", "mutt");

    // mailx (bsd-mailx): sendmail from a mailrc.
    let mailrc = home.join("mailrc");
    std::fs::write(&mailrc, format!("set sendmail={}\n", sendmail.display())).expect("mailrc");
    let mut mailx = Command::new("bsd-mailx");
    spool.environment(&mut mailx);
    mailx.env("MAILRC", &mailrc).args([
        "-s",
        "from mailx",
        "-r",
        "ann@example.test",
        "bob@example.test",
    ]);
    run(mailx, "body from-mailx\n", "mailx");

    // git send-email with a sendmail-like program as its "SMTP server".
    let repo = home.join("repo");
    std::fs::create_dir_all(&repo).expect("repo dir");
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        spool.environment(&mut c);
        c.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Ann")
            .env("GIT_AUTHOR_EMAIL", "ann@example.test")
            .env("GIT_COMMITTER_NAME", "Ann")
            .env("GIT_COMMITTER_EMAIL", "ann@example.test")
            .current_dir(&repo)
            .args(args);
        c
    };
    run(git(&["init", "-q"]), "", "git init");
    std::fs::write(repo.join("file.txt"), "from-git-send-email\n").expect("file");
    run(git(&["add", "file.txt"]), "", "git add");
    run(
        git(&["commit", "-q", "-m", "from-git-send-email"]),
        "",
        "git commit",
    );
    run(
        git(&["format-patch", "-q", "-1", "-o", "patches"]),
        "",
        "git format-patch",
    );
    let patches: Vec<_> = std::fs::read_dir(repo.join("patches"))
        .expect("patches")
        .flatten()
        .map(|e| e.path())
        .collect();
    let mut send = git(&[
        "send-email",
        "--quiet",
        "--confirm=never",
        "--suppress-cc=all",
    ]);
    send.arg(format!("--smtp-server={}", sendmail.display()))
        .args(["--from", "ann@example.test", "--to", "bob@example.test"])
        .args(&patches);
    run(send, "", "git send-email");

    assert_eq!(spool.list().len(), 4, "{:#?}", spool.list());

    // The server comes back.
    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    let log = spool.run_until_empty(Duration::from_secs(30));
    let messages = server.wait_for_messages(4, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let messages = if server.messages().len() > messages.len() {
        server.messages()
    } else {
        messages
    };
    for needle in [
        "body of from-sendmail-t",
        "body from-mutt",
        "body from-mailx",
        "from-git-send-email",
    ] {
        assert_eq!(count(&messages, needle), 1, "{needle}: {log}");
    }
    assert_eq!(messages.len(), 4);
}
