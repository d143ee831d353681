//! Address parsing on arbitrary UTF-8 (the input, lossily decoded).
//!
//! `Mailbox::parse`, `Mailbox::parse_path`, `Domain::parse` and `ReversePath::parse` all get
//! the same text. Checked for whatever parses:
//! - the display has no control character (so no CR, LF or NUL) and parses back to an equal
//!   value whose display is the same (canonical form);
//! - a mailbox keeps the RFC 5321 §4.5.3.1 limits (local part, domain, path) on what is sent,
//!   `needs_smtputf8` is exactly "the display is not ASCII", and its `<display>` parses as a
//!   path to the same mailbox;
//! - it encodes: `RCPT TO:<display>` CRLF and `MAIL FROM:<display>` (with SMTPUTF8 when
//!   needed) are accepted by the encoder, are exactly that, and have no CR, LF or NUL before
//!   the final CRLF; with the raw input as ORCPT= and ENVID= (xtext), any line the encoder
//!   accepts still has none;
//! - a domain encodes as `EHLO display` CRLF.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mxsend_core::address::{Domain, Mailbox, ReversePath, MAX_DOMAIN, MAX_LOCAL_PART, MAX_PATH};
use mxsend_core::command::{encode, Command, MailParams, Notify, RcptParams};
use mxsend_fuzz::show;

fn assert_clean(text: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "control character in {text:?}"
    );
}

/// One command line: ends with CRLF, and no CR, LF or NUL before it.
fn assert_one_line(line: &[u8]) {
    let body = line
        .strip_suffix(b"\r\n")
        .unwrap_or_else(|| panic!("no final CRLF: {}", show(line)));
    assert!(
        !body.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)),
        "CR, LF or NUL inside a command line: {}",
        show(line)
    );
}

fn check_mailbox(mailbox: &Mailbox, input: &str) {
    let shown = mailbox.to_string();
    assert_clean(&shown);
    let again = Mailbox::parse(&shown);
    assert_eq!(
        again.as_ref(),
        Ok(mailbox),
        "display {shown:?} does not parse back"
    );
    assert_eq!(again.map(|m| m.to_string()).as_deref(), Ok(shown.as_str()));
    assert_eq!(
        Mailbox::parse_path(&format!("<{shown}>")).as_ref(),
        Ok(mailbox)
    );
    assert_eq!(mailbox.needs_smtputf8(), !shown.is_ascii());
    assert!(mailbox.local_part().len() <= MAX_LOCAL_PART, "{shown:?}");
    assert!(
        mailbox.domain().to_string().len() <= MAX_DOMAIN,
        "{shown:?}"
    );
    assert!(shown.len() + 2 <= MAX_PATH, "{shown:?}");

    let mut out = Vec::new();
    let rcpt = encode(&Command::Rcpt(mailbox, &RcptParams::default()), &mut out);
    assert_eq!(
        rcpt,
        Ok(()),
        "a parsed mailbox must encode as RCPT TO: {shown:?}"
    );
    assert_eq!(out, format!("RCPT TO:<{shown}>\r\n").as_bytes());
    assert_one_line(&out);

    let path = ReversePath::Mailbox(mailbox.clone());
    let params = MailParams {
        smtputf8: mailbox.needs_smtputf8(),
        ..MailParams::default()
    };
    out.clear();
    let mail = encode(&Command::Mail(&path, &params), &mut out);
    assert_eq!(
        mail,
        Ok(()),
        "a parsed mailbox must encode as MAIL FROM: {shown:?}"
    );
    assert!(out.starts_with(format!("MAIL FROM:<{shown}>").as_bytes()));
    assert_one_line(&out);

    // Hostile parameter values: whatever the encoder accepts must still be one line.
    let rcpt_params = RcptParams {
        notify: Some(Notify::On {
            success: true,
            failure: true,
            delay: false,
        }),
        orcpt: Some(input.into()),
    };
    out.clear();
    if encode(&Command::Rcpt(mailbox, &rcpt_params), &mut out).is_ok() {
        assert_one_line(&out);
    } else {
        assert!(out.is_empty(), "a refused command left bytes behind");
    }
    let mail_params = MailParams {
        envid: Some(input.into()),
        size: Some(u64::MAX),
        ..params
    };
    out.clear();
    if encode(&Command::Mail(&path, &mail_params), &mut out).is_ok() {
        assert_one_line(&out);
    } else {
        assert!(out.is_empty(), "a refused command left bytes behind");
    }
}

fn check_domain(domain: &Domain) {
    let shown = domain.to_string();
    assert_clean(&shown);
    assert!(shown.len() <= MAX_DOMAIN, "{shown:?}");
    assert_eq!(
        Domain::parse(&shown).as_ref(),
        Ok(domain),
        "display {shown:?}"
    );
    assert_eq!(domain.is_ascii(), shown.is_ascii());
    let mut out = Vec::new();
    assert_eq!(
        encode(&Command::Ehlo(domain), &mut out),
        Ok(()),
        "{shown:?}"
    );
    assert_eq!(out, format!("EHLO {shown}\r\n").as_bytes());
    assert_one_line(&out);
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    let input = input.as_ref();

    if let Ok(mailbox) = Mailbox::parse(input) {
        check_mailbox(&mailbox, input);
    }
    if let Ok(mailbox) = Mailbox::parse_path(input) {
        check_mailbox(&mailbox, input);
    }
    if let Ok(domain) = Domain::parse(input) {
        check_domain(&domain);
    }
    if let Ok(path) = ReversePath::parse(input) {
        let shown = path.to_string();
        assert_clean(&shown);
        assert_eq!(
            ReversePath::parse(&shown).as_ref(),
            Ok(&path),
            "display {shown:?}"
        );
        if let ReversePath::Mailbox(mailbox) = &path {
            check_mailbox(mailbox, input);
        }
    }
});
