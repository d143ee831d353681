//! The sendmail personality: `mxsend` installed as `/usr/sbin/sendmail`, or `mxsend sendmail`.
//!
//! The interface is sendmail(8)'s as Postfix and msmtp implement it, as far as callers use it:
//!
//! | caller | command line |
//! |---|---|
//! | cron (Debian) | `sendmail -FCronDaemon -i -B8BITMIME -oem user` |
//! | git send-email | `sendmail -i [-f sender] addr...` |
//! | mutt | `sendmail -oem -oi -- addr...` (and `-N`, `-R`, `-B8BITMIME`, `-f` with options) |
//! | scripts, PHP `mail()` | `sendmail -t -i` |
//!
//! The message is read from standard input; a first line `From ...` (an mbox separator) is
//! dropped. Options (getopt style: clustered, values attached or in the next argument,
//! allowed anywhere before `--`):
//! - `-t`: recipients from To, Cc and Bcc (added to any given as arguments), or from
//!   Resent-To, Resent-Cc and Resent-Bcc when the message has Resent- fields (RFC 5322
//!   §3.6.6); Bcc and Resent-Bcc fields are removed from the message.
//! - `-i`, `-oi`: a line holding only `.` is ordinary text. Without them it ends the message,
//!   as in sendmail.
//! - `-f ADDR` (and its obsolete synonym `-r`): the envelope sender; `-f '<>'` the null sender.
//!   Without it: the account's `from`, else the message's From address, else
//!   `$USER@default_domain` or `$USER@host`.
//! - `-F NAME`: the full name for the From field added when the message has none (else the
//!   account's display name).
//! - `-v`: the SMTP conversation on standard error.
//! - `-N never|success,delay,failure`, `-R hdrs|full`, `-V envid`: DSN (RFC 3461), parsed
//!   and checked; sent when the server offers DSN.
//! - `-B 7BIT|8BITMIME`: accepted (mxsend looks at the octets itself).
//! - `-C FILE`: the mxsend configuration file to use.
//! - `--version`: the version, on one line.
//! - The queue ([`crate::queue`]): what cannot be delivered at once for a reason that may pass
//!   is queued (one line on standard error with the next attempt; exit 0). `-odq` queues
//!   without trying; `-q` runs the queue once (`-q30m`, with an interval, runs the queue
//!   daemon, which needs none); `-bp` (and `mailq`) lists it.
//! - Accepted and ignored, because mxsend has no aliases or error-mode choices: `-bm`, `-o*`
//!   other than `-oi` and `-odq` (`-oem`, `-odi`, `-om`, ...), `-O`, `-A`, `-h`, `-L`, `-X`,
//!   `-p`, `-G`, `-I`, `-U`, `-c`, `-m`, `-n`, `-x`.
//! - Refused (exit 64): other `-b` modes (`-bs`, `-bd`, `-bi`, ...): there is no SMTP
//!   server or alias database.
//!
//! Bare names (`root`) are resolved by the configuration's `aliases` and `default_domain`
//! ([`crate::local`]). What it prints and its exit status follow one rule: nothing and 0
//! when every recipient was delivered; recipients that ended temporarily (deferred,
//! ambiguous, server down) are queued, with one line on standard error naming the next
//! attempt, and count as done (0), since the message is now mxsend's responsibility; for
//! any other outcome, one line per recipient on standard error, the delivered ones
//! included, a line saying how many were delivered when only some were, and the status of
//! [`crate::exit`]'s table (the most urgent recipient's outcome wins). 75 only when a
//! message that was not delivered could not be queued either.

use std::ffi::OsString;
use std::io::Read;

use crate::error::CliError;

/// What a sendmail command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendmailArgs {
    /// `-t`.
    pub extract_recipients: bool,
    /// `-i` / `-oi`.
    pub ignore_dots: bool,
    /// `-f` / `-r`.
    pub sender: Option<String>,
    /// `-F`.
    pub full_name: Option<String>,
    /// `-v`.
    pub verbose: bool,
    /// `-C`.
    pub config: Option<String>,
    /// `-N`.
    pub notify: Option<String>,
    /// `-R`.
    pub ret: Option<String>,
    /// `-V`.
    pub envid: Option<String>,
    /// `-B`.
    pub body_type: Option<String>,
    /// Recipients given as arguments (comma lists split).
    pub recipients: Vec<String>,
    /// `--help`.
    pub help: bool,
    /// `--version` (msmtpq and scripts ask it).
    pub version: bool,
    /// `-odq`: queue without trying.
    pub queue_only: bool,
    /// `-q`: run the queue once.
    pub run_queue: bool,
    /// `-qINTERVAL`: run the queue daemon.
    pub queue_daemon: bool,
    /// `-bp`: list the queue.
    pub list_queue: bool,
}

/// The usage text of `mxsend sendmail --help`.
pub const USAGE: &str = "\
usage: sendmail [-t] [-i] [-f sender] [-F name] [-v] [-N dsn] [-R ret] [-V envid] [-C config] [--] [recipient ...]
Reads a message on standard input and delivers it (mxsend's sendmail personality).
  -t         also take recipients from To, Cc and Bcc; remove Bcc from the message
  -i, -oi    a line holding only '.' does not end the message
  -f ADDR    envelope sender ('<>' for none)
  -F NAME    full name for the From field added when the message has none
  -v         show the SMTP conversation on standard error
  -N DSN     never, or a list of success, delay, failure
  -R RET     hdrs or full
  -V ENVID   envelope identifier for DSN
  -C FILE    mxsend configuration file
  --version  print the version
  -odq       queue the message without trying to deliver it now
  -q         run the queue once (-qINTERVAL: run the queue daemon)
  -bp        list the queue (as mailq does)
Ignored: -bm -oem -odi -om -oX... -O -B -A -h -L -X -p -G -I -U -c -m -n -x";

/// What `sendmail --version` prints.
pub fn version_line() -> String {
    format!(
        "mxsend {} (sendmail personality)",
        env!("CARGO_PKG_VERSION")
    )
}

/// Whether a command line given to `mxsend` itself is really a sendmail command line: it
/// holds an option only sendmail has (`-i`, `-t`, `-oi`, `-oem`, `-B8BITMIME`, `-FName`, ...),
/// as when `git send-email --smtp-server=/usr/bin/mxsend` runs `mxsend -i -f FROM TO...`, or
/// starts with `--` (mutt: `mxsend -- TO...`).
/// mxsend's own short flags (`-f`, `-v`, `-s`, `-a`, `-H`, `-u`, `-n`, `-V`, `-h`) do not
/// decide it; `--` ends the search.
pub fn looks_like_sendmail(args: &[OsString]) -> bool {
    // mutt with `set sendmail=/usr/bin/mxsend` runs `mxsend -- addr...`.
    if args.first().is_some_and(|a| a == "--") {
        return true;
    }
    let mut value_next = false;
    for arg in args {
        let Some(arg) = arg.to_str() else {
            return false;
        };
        if std::mem::take(&mut value_next) {
            continue;
        }
        if arg == "--" || !arg.starts_with('-') {
            // Options come first in every caller's command line; a subcommand or recipient
            // ends the search.
            return false;
        }
        let Some(letters) = arg.strip_prefix('-').filter(|l| !l.starts_with('-')) else {
            // A long option of mxsend's: its value follows unless attached with '='.
            value_next = !arg.contains('=');
            continue;
        };
        if letters.starts_with(['o', 'B', 'F', 'N', 'R', 'b', 'q']) {
            return true;
        }
        if letters.chars().all(|c| FLAGS.contains(c)) && letters.contains(['i', 't']) {
            return true;
        }
        // `-f ADDR`, `-s TEXT`...: the value is the next argument (`-v`, `-n`, `-h`, `-V`
        // and sendmail's flags take none).
        value_next = letters.len() == 1
            && !letters.contains(['v', 'n', 'h', 'V'])
            && !FLAGS.contains(letters);
    }
    false
}

/// getopt letters that take a value (attached, or the next argument).
const WITH_VALUE: &str = "ABCFLNOQRVXbefhopqr";
/// getopt letters without a value.
const FLAGS: &str = "GIUcimntvx";

/// Parse a sendmail command line (without argv\[0\]).
pub fn parse_args(args: &[OsString]) -> Result<SendmailArgs, CliError> {
    let mut parsed = SendmailArgs::default();
    let mut args = args.iter().map(|a| {
        a.to_str().map(str::to_string).ok_or_else(|| {
            CliError::usage(format!(
                "argument {a:?} is not valid UTF-8; addresses and options must be text"
            ))
        })
    });
    let mut only_recipients = false;
    while let Some(arg) = args.next() {
        let arg = arg?;
        if only_recipients || !arg.starts_with('-') || arg == "-" {
            add_recipients(&mut parsed.recipients, &arg);
            continue;
        }
        if arg == "--" {
            only_recipients = true;
            continue;
        }
        if arg == "--help" {
            parsed.help = true;
            continue;
        }
        if arg == "--version" {
            parsed.version = true;
            continue;
        }
        if arg.starts_with("--") {
            return Err(CliError::usage(format!(
                "sendmail: unknown option {arg}; see 'mxsend sendmail --help'"
            )));
        }
        for (i, letter) in arg[1..].char_indices() {
            if FLAGS.contains(letter) {
                match letter {
                    't' => parsed.extract_recipients = true,
                    'i' => parsed.ignore_dots = true,
                    'v' => parsed.verbose = true,
                    _ => {}
                }
                continue;
            }
            if letter == 'q' {
                // -q alone runs the queue; -q30m (sendmail: at intervals) the daemon.
                let attached = &arg[1 + i + 1..];
                match attached.chars().next() {
                    Some(c) if c.is_ascii_digit() => parsed.queue_daemon = true,
                    _ => parsed.run_queue = true,
                }
                break;
            }
            if !WITH_VALUE.contains(letter) {
                return Err(CliError::usage(format!(
                    "sendmail: unknown option -{letter}; see 'mxsend sendmail --help'"
                )));
            }
            let attached = &arg[1 + i + letter.len_utf8()..];
            let value = if attached.is_empty() {
                args.next()
                    .transpose()?
                    .ok_or_else(|| CliError::usage(format!("sendmail: -{letter} needs a value")))?
            } else {
                attached.to_string()
            };
            apply(&mut parsed, letter, value)?;
            break;
        }
    }
    Ok(parsed)
}

/// One option with its value.
fn apply(parsed: &mut SendmailArgs, letter: char, value: String) -> Result<(), CliError> {
    match letter {
        'f' | 'r' => parsed.sender = Some(value),
        'F' => parsed.full_name = Some(value),
        'C' => parsed.config = Some(value),
        'N' => parsed.notify = Some(value),
        'R' => parsed.ret = Some(value),
        'V' => parsed.envid = Some(value),
        'B' => {
            if !value.eq_ignore_ascii_case("7BIT") && !value.eq_ignore_ascii_case("8BITMIME") {
                return Err(CliError::usage(format!(
                    "sendmail: -B {value}: the body type is 7BIT or 8BITMIME"
                )));
            }
            parsed.body_type = Some(value);
        }
        'o' if value == "i" => parsed.ignore_dots = true,
        'o' if value == "dq" => parsed.queue_only = true,
        'b' if value == "m" => {}
        'b' if value == "p" => parsed.list_queue = true,
        'b' => {
            return Err(CliError::usage(format!(
                "sendmail: -b{value} is not supported: mxsend delivers a message from standard input (-bm) and lists its queue (-bp); it has no SMTP server or alias database"
            )))
        }
        // -o (other), -O, -A, -h, -L, -Q, -X, -p, -e: accepted and ignored (module docs).
        _ => {}
    }
    Ok(())
}

/// Add the addresses in `text` (a comma list is several).
fn add_recipients(recipients: &mut Vec<String>, text: &str) {
    recipients.extend(address_list(text));
}

/// The addresses in an RFC 5322 address-list (§3.4): mailboxes, `Name <addr>`, groups
/// (`team: a@x, b@y;`, `undisclosed-recipients:;`), comments in parentheses, quoted display
/// names. Returns the bare `local@domain` of each. Obsolete forms (§4.4) beyond comments and
/// white space are not handled: a value that yields an unusable address is caught when the
/// address is parsed.
pub fn address_list(value: &str) -> Vec<String> {
    address_spans(value)
        .into_iter()
        .map(|span| span.address)
        .collect()
}

/// Rewrite the addresses of an address-list with `change` (which returns the new address,
/// or `None` to keep it), leaving display names, comments and punctuation as they are:
/// `root (Cron Daemon)` can become `root@example.com (Cron Daemon)`.
pub fn rewrite_address_list(value: &str, change: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(value.len() + 32);
    let mut at = 0;
    for span in address_spans(value) {
        let Some(range) = span.range else { continue };
        let Some(new) = change(&span.address) else {
            continue;
        };
        out.push_str(value.get(at..range.start).unwrap_or_default());
        out.push_str(&new);
        at = range.end;
    }
    out.push_str(value.get(at..).unwrap_or_default());
    out
}

/// One address of an address-list and where it sits in the value.
struct AddressSpan {
    /// The address, trimmed.
    address: String,
    /// Its octets in the value, when it is written there in one piece (no comment inside).
    range: Option<std::ops::Range<usize>>,
}

fn address_spans(value: &str) -> Vec<AddressSpan> {
    let mut spans = Vec::new();
    let mut current = String::new();
    // The octets from the first to the last non-blank character of the address; when a
    // comment sits inside, the slice differs from the address and no range is given.
    let mut extent: Option<(usize, usize)> = None;
    let mut angle: Option<String> = None;
    let (mut in_quotes, mut in_angle, mut depth) = (false, false, 0usize);
    let mut chars = value.char_indices();
    let mut finish =
        |current: &mut String, angle: &mut Option<String>, extent: &mut Option<(usize, usize)>| {
            let address = match angle.take() {
                Some(a) => a,
                None => current.trim().to_string(),
            };
            let address = address.trim().to_string();
            let range = extent
                .take()
                .map(|(start, end)| start..end)
                .filter(|r| value.get(r.clone()) == Some(address.as_str()));
            if !address.is_empty() {
                spans.push(AddressSpan { address, range });
            }
            current.clear();
        };
    let grow = |extent: &mut Option<(usize, usize)>, i: usize, c: char| {
        if !c.is_whitespace() {
            let end = i + c.len_utf8();
            *extent = Some(extent.map_or((i, end), |(start, _)| (start, end)));
        }
    };
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if in_quotes || depth > 0 => {
                chars.next();
            }
            '"' if depth == 0 && !in_angle => in_quotes = !in_quotes,
            _ if in_quotes => {}
            '(' if !in_angle => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            '<' if !in_angle => {
                in_angle = true;
                angle = Some(String::new());
                // What came before was a display name.
                extent = None;
            }
            '>' if in_angle => in_angle = false,
            _ if in_angle => {
                if let Some(a) = &mut angle {
                    a.push(c);
                }
                grow(&mut extent, i, c);
            }
            // A group's display name ends at ':'; its end ';' ends the last member.
            ':' => {
                current.clear();
                extent = None;
            }
            ',' | ';' => finish(&mut current, &mut angle, &mut extent),
            c => {
                if angle.is_none() {
                    current.push(c);
                    grow(&mut extent, i, c);
                }
            }
        }
    }
    finish(&mut current, &mut angle, &mut extent);
    spans
}

/// A message's header block, as read from the start of the stored message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderBlock {
    /// The raw octets of the block, the empty line that ends it included (when there is one).
    pub raw: Vec<u8>,
    /// The fields: name, value (continuation lines unfolded), and the octet range of the
    /// field in `raw`.
    pub fields: Vec<Field>,
    /// The line ending used, for lines that are added.
    pub crlf: bool,
}

/// One header field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name, as written.
    pub name: String,
    /// The value, unfolded, leading white space removed.
    pub value: String,
    /// Where the field (continuation lines included) sits in [`HeaderBlock::raw`].
    pub range: std::ops::Range<usize>,
}

impl HeaderBlock {
    /// Read the header block from `input` (at most `limit` octets: exit 65 beyond). Ends at
    /// the first empty line, or at the end of input for a message without a body.
    pub fn read(input: &mut dyn Read, limit: usize) -> Result<HeaderBlock, CliError> {
        let mut raw = Vec::new();
        let mut reader = std::io::BufReader::new(input);
        loop {
            let before = raw.len();
            let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut raw)
                .map_err(|e| CliError::io("reading the message", &e))?;
            if raw.len() > limit {
                return Err(CliError::data(format!(
                    "the message's header block is longer than {limit} octets; is it really an email message?"
                )));
            }
            let line = raw.get(before..).unwrap_or_default();
            if n == 0 || line == b"\n" || line == b"\r\n" {
                break;
            }
        }
        let crlf = raw
            .iter()
            .position(|&b| b == b'\n')
            .is_some_and(|lf| lf > 0 && raw.get(lf - 1) == Some(&b'\r'));
        let fields = parse_fields(&raw);
        Ok(HeaderBlock { raw, fields, crlf })
    }

    /// The values of every field named `name` (case-insensitive).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_str())
    }

    /// True when a field named `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.values(name).next().is_some()
    }

    /// The block without the fields named in `drop`, with `add` (complete lines without
    /// line ending) inserted first, and each field for which `replace` returns a new value
    /// written again as `Name: value` (on one line).
    pub fn rewrite(
        &self,
        drop: &[&str],
        add: &[String],
        replace: impl Fn(&Field) -> Option<String>,
    ) -> Vec<u8> {
        let eol: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let mut out = Vec::with_capacity(self.raw.len() + 128);
        for line in add {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(eol);
        }
        let mut at = 0;
        for field in &self.fields {
            if drop.iter().any(|d| field.name.eq_ignore_ascii_case(d)) {
                out.extend_from_slice(self.raw.get(at..field.range.start).unwrap_or_default());
                at = field.range.end;
            } else if let Some(value) = replace(field) {
                out.extend_from_slice(self.raw.get(at..field.range.start).unwrap_or_default());
                out.extend_from_slice(format!("{}: {value}", field.name).as_bytes());
                out.extend_from_slice(eol);
                at = field.range.end;
            }
        }
        out.extend_from_slice(self.raw.get(at..).unwrap_or_default());
        out
    }
}

/// Split a header block into fields. Lines without a colon (garbage, an mbox `From ` line)
/// are kept in the raw block but are not fields.
fn parse_fields(raw: &[u8]) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let mut start = 0;
    while start < raw.len() {
        let end = raw
            .get(start..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
            .map_or(raw.len(), |p| start + p + 1);
        let line = raw.get(start..end).unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        let content = text.trim_end_matches(['\r', '\n']);
        if content.is_empty() {
            break;
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            if let Some(last) = fields.last_mut() {
                last.value.push(' ');
                last.value.push_str(content.trim());
                last.range.end = end;
            }
        } else if let Some((name, value)) = content.split_once(':') {
            fields.push(Field {
                name: name.trim_end().to_string(),
                value: value.trim().to_string(),
                range: start..end,
            });
        }
        start = end;
    }
    fields
}

/// A `From:` field for `address` with the `-F` full name: quoted when ASCII, an RFC 2047
/// B encoded-word otherwise (safe in a phrase, RFC 2047 §5 (3)).
pub fn from_field(full_name: Option<&str>, address: &str) -> String {
    let name = full_name.map(str::trim).filter(|n| !n.is_empty());
    match name {
        None => format!("From: {address}"),
        Some(name) if name.bytes().all(|b| (0x20..0x7f).contains(&b)) => {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("From: \"{escaped}\" <{address}>")
        }
        Some(name) => {
            let mut encoded = Vec::new();
            mxsend_core::base64::encode(name.as_bytes(), &mut encoded);
            format!(
                "From: =?utf-8?B?{}?= <{address}>",
                String::from_utf8_lossy(&encoded)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<SendmailArgs, CliError> {
        let list: Vec<OsString> = list.iter().map(OsString::from).collect();
        parse_args(&list)
    }

    #[test]
    fn cron_command_line() {
        let a = args(&["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"]).unwrap();
        assert_eq!(a.full_name.as_deref(), Some("CronDaemon"));
        assert!(a.ignore_dots);
        assert_eq!(a.body_type.as_deref(), Some("8BITMIME"));
        assert_eq!(a.recipients, ["root"]);
        assert!(!a.extract_recipients);
    }

    #[test]
    fn git_send_email_command_line() {
        let a = args(&[
            "-i",
            "-f",
            "ann@example.com",
            "bob@example.net",
            "carol@example.org",
        ])
        .unwrap();
        assert!(a.ignore_dots);
        assert_eq!(a.sender.as_deref(), Some("ann@example.com"));
        assert_eq!(a.recipients, ["bob@example.net", "carol@example.org"]);
    }

    #[test]
    fn mutt_command_line() {
        let a = args(&["-oem", "-oi", "--", "bob@example.net"]).unwrap();
        assert!(a.ignore_dots);
        assert_eq!(a.recipients, ["bob@example.net"]);
    }

    #[test]
    fn extract_with_clustered_flags() {
        let a = args(&["-ti"]).unwrap();
        assert!(a.extract_recipients);
        assert!(a.ignore_dots);
    }

    #[test]
    fn options_after_recipients_still_count() {
        let a = args(&["bob@example.net", "-v"]).unwrap();
        assert!(a.verbose);
        assert_eq!(a.recipients, ["bob@example.net"]);
    }

    #[test]
    fn after_double_dash_everything_is_a_recipient() {
        let a = args(&["--", "-v"]).unwrap();
        assert!(!a.verbose);
        assert_eq!(a.recipients, ["-v"]);
    }

    #[test]
    fn dsn_options_are_kept() {
        let a = args(&["-N", "success,failure", "-Rhdrs", "-V", "id1", "x@y.z"]).unwrap();
        assert_eq!(a.notify.as_deref(), Some("success,failure"));
        assert_eq!(a.ret.as_deref(), Some("hdrs"));
        assert_eq!(a.envid.as_deref(), Some("id1"));
    }

    #[test]
    fn r_is_a_synonym_for_f() {
        assert_eq!(
            args(&["-r", "a@b.c"]).unwrap().sender.as_deref(),
            Some("a@b.c")
        );
    }

    #[test]
    fn option_value_may_be_the_next_argument() {
        assert!(args(&["-o", "i"]).unwrap().ignore_dots);
        assert_eq!(
            args(&["-F", "Cron Daemon"]).unwrap().full_name.as_deref(),
            Some("Cron Daemon")
        );
    }

    #[test]
    fn missing_value_is_a_usage_error() {
        let err = args(&["-f"]).unwrap_err();
        assert_eq!(err.exit, crate::exit::Exit::Usage);
        assert!(err.message.contains("-f needs a value"), "{}", err.message);
    }

    #[test]
    fn ignored_options_are_accepted() {
        let a = args(&["-bm", "-odi", "-om", "-Ooption=x", "-U", "-m", "x@y.z"]).unwrap();
        assert_eq!(a.recipients, ["x@y.z"]);
    }

    #[test]
    fn queue_modes_are_parsed() {
        assert!(args(&["-q"]).unwrap().run_queue);
        assert!(args(&["-q30m"]).unwrap().queue_daemon);
        assert!(args(&["-bp"]).unwrap().list_queue);
        let a = args(&["-odq", "-i", "x@y.z"]).unwrap();
        assert!(a.queue_only && a.ignore_dots);
        assert_eq!(a.recipients, ["x@y.z"]);
        // -q takes no value from the next argument.
        assert_eq!(args(&["-q", "x@y.z"]).unwrap().recipients, ["x@y.z"]);
    }

    #[test]
    fn server_and_alias_modes_are_refused() {
        for mode in ["-bs", "-bd", "-bi"] {
            assert_eq!(
                args(&[mode]).unwrap_err().exit,
                crate::exit::Exit::Usage,
                "{mode}"
            );
        }
    }

    #[test]
    fn queue_options_run_the_daemon_or_list_the_queue() {
        let run = args(&["-q"]).unwrap();
        assert!(run.run_queue && !run.queue_daemon && !run.list_queue);
        let daemon = args(&["-q15m"]).unwrap();
        assert!(daemon.queue_daemon && !daemon.run_queue);
        assert!(args(&["-bp"]).unwrap().list_queue);
        assert!(args(&["-odq", "bob@example.net"]).unwrap().queue_only);
    }

    #[test]
    fn version_is_an_option() {
        assert!(args(&["--version"]).unwrap().version);
    }

    #[test]
    fn sendmail_command_lines_are_recognised_and_mxsend_ones_are_not() {
        let yes: &[&[&str]] = &[
            &["-i", "-f", "a@x.y", "b@x.y"],
            &["-f", "a@x.y", "-i", "b@x.y"],
            &["-v", "-i", "b@x.y"],
            &["-oem", "-oi", "--", "b@x.y"],
            &["-t", "-i"],
            &["-ti"],
            &["-FCronDaemon", "root"],
            &["--", "b@x.y"],
        ];
        for line in yes {
            let list: Vec<OsString> = line.iter().map(OsString::from).collect();
            assert!(looks_like_sendmail(&list), "{line:?}");
        }
        let no: &[&[&str]] = &[
            &["-f", "a@x.y", "-s", "hi", "b@x.y"],
            &["--from", "a@x.y", "b@x.y", "-t"],
            &["-v", "--to", "b@x.y"],
            &["-v", "--", "-i"],
            &["sendmail", "-t"],
            &["-V"],
        ];
        for line in no {
            let list: Vec<OsString> = line.iter().map(OsString::from).collect();
            assert!(!looks_like_sendmail(&list), "{line:?}");
        }
    }

    #[test]
    fn unknown_option_is_a_usage_error() {
        assert!(args(&["-K"]).unwrap_err().message.contains("-K"));
    }

    #[test]
    fn bad_body_type_is_a_usage_error() {
        assert!(args(&["-BBINARY"]).is_err());
    }

    #[test]
    fn comma_separated_recipient_argument_is_split() {
        let a = args(&["a@x.y, b@x.y"]).unwrap();
        assert_eq!(a.recipients, ["a@x.y", "b@x.y"]);
    }

    #[test]
    fn address_list_handles_names_groups_and_comments() {
        assert_eq!(
            address_list(
                "\"Doe, Jane\" <jane@x.y>, bob@x.y (Bob, the builder), team: a@x.y, B <b@x.y>;, undisclosed-recipients:;"
            ),
            ["jane@x.y", "bob@x.y", "a@x.y", "b@x.y"]
        );
    }

    #[test]
    fn rewrite_address_list_keeps_names_comments_and_groups() {
        let qualify = |a: &str| (!a.contains('@')).then(|| format!("{a}@example.com"));
        assert_eq!(
            rewrite_address_list("root (Cron Daemon)", qualify),
            "root@example.com (Cron Daemon)"
        );
        assert_eq!(
            rewrite_address_list("\"Admin, root\" <root>, bob@x.y, team: carol;", qualify),
            "\"Admin, root\" <root@example.com>, bob@x.y, team: carol@example.com;"
        );
        assert_eq!(
            rewrite_address_list(" root ", qualify),
            " root@example.com "
        );
        // A comment inside an address: left alone rather than guessed at.
        assert_eq!(rewrite_address_list("ro(x)ot", qualify), "ro(x)ot");
    }

    #[test]
    fn address_list_of_a_bare_address() {
        assert_eq!(address_list(" root "), ["root"]);
    }

    fn block(text: &str) -> HeaderBlock {
        HeaderBlock::read(&mut text.as_bytes(), 1 << 20).unwrap()
    }

    #[test]
    fn header_block_ends_at_the_empty_line() {
        let b = block("To: a@x.y\nSubject: hi\n\nbody\n");
        assert_eq!(b.raw, b"To: a@x.y\nSubject: hi\n\n");
        assert_eq!(b.values("subject").collect::<Vec<_>>(), ["hi"]);
        assert!(!b.crlf);
    }

    #[test]
    fn folded_fields_are_unfolded() {
        let b = block("To: a@x.y,\r\n  b@x.y\r\nCc: c@x.y\r\n\r\n");
        assert_eq!(b.values("to").collect::<Vec<_>>(), ["a@x.y, b@x.y"]);
        assert!(b.crlf);
    }

    #[test]
    fn rewrite_drops_bcc_with_its_continuation_lines() {
        let b = block("To: a@x.y\nBcc: secret@x.y,\n  other@x.y\nSubject: s\n\n");
        assert_eq!(
            b.rewrite(&["Bcc"], &[], |_| None),
            b"To: a@x.y\nSubject: s\n\n"
        );
    }

    #[test]
    fn rewrite_adds_lines_first_with_the_blocks_line_ending() {
        let b = block("Subject: s\r\n\r\n");
        assert_eq!(
            b.rewrite(&[], &["From: a@x.y".into()], |_| None),
            b"From: a@x.y\r\nSubject: s\r\n\r\n"
        );
    }

    #[test]
    fn message_without_body_is_all_header() {
        let b = block("Subject: s\n");
        assert_eq!(b.raw, b"Subject: s\n");
    }

    #[test]
    fn header_block_beyond_the_limit_is_dataerr() {
        let text = "X: y\n".repeat(100);
        let err = HeaderBlock::read(&mut text.as_bytes(), 64).unwrap_err();
        assert_eq!(err.exit, crate::exit::Exit::DataErr);
    }

    #[test]
    fn from_field_quotes_or_encodes_the_full_name() {
        assert_eq!(from_field(None, "a@x.y"), "From: a@x.y");
        assert_eq!(
            from_field(Some("Cron \"D\""), "a@x.y"),
            "From: \"Cron \\\"D\\\"\" <a@x.y>"
        );
        assert_eq!(
            from_field(Some("Zoë"), "a@x.y"),
            "From: =?utf-8?B?Wm/Dqw==?= <a@x.y>"
        );
    }
}
