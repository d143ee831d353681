//! `mxsend`: send an email from a terminal, a script or cron, by MX lookup or through a relay.
//!
//! This file is the command line's definition (clap, derive API) and nothing else: the help
//! text, completions and man page are generated from it. What the flags do lives in the
//! modules: [`run`] (the send command), [`compose`] (flags to a message), [`config`]
//! (accounts), [`sendmail`] (the sendmail personality), [`transcript`] (`-v`), [`report`]
//! (human and `--json` output), [`plan`] (`mxsend mx`, `--dry-run`), [`exit`] (sysexits).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compose;
mod config;
mod deliver;
mod dkim;
mod ehlo;
mod error;
mod exit;
mod hint;
mod local;
mod log;
mod password;
mod plan;
mod progress;
mod queue;
mod report;
mod run;
mod secure;
mod sendmail;
mod source;
mod tls;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Deserialize;

/// How a connection uses TLS (`--tls`, and `tls` in an account).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsArg {
    /// Plaintext; STARTTLS is never sent.
    None,
    /// STARTTLS when offered, any certificate accepted (default for MX delivery).
    Opportunistic,
    /// STARTTLS must succeed and the certificate must verify (default for a relay).
    Required,
    /// TLS from the first byte (default for a relay on port 465).
    Implicit,
}

const ABOUT: &str = "Send an email by MX lookup or through a relay, and see exactly what happened";

const LONG_ABOUT: &str = "\
Send an email by MX lookup or through a relay, and see exactly what happened.

Without --server, mxsend delivers like a mail server: it looks up each recipient domain's MX \
records, tries the exchanges in preference order (equal preferences shuffled, a null MX \
respected) and reports every recipient's outcome. With --server it submits to that relay \
(STARTTLS required by default, TLS on port 465, AUTH with --user).

Installed or linked as `sendmail` (or run as `mxsend sendmail`), it reads a message on \
standard input and takes sendmail's options, so cron, git send-email and mutt can use it.

Accounts live in $XDG_CONFIG_HOME/mxsend/config.toml (default: ~/.config/mxsend/config.toml):
  default = \"work\"
  timeout = 30                     # seconds at each step (global, or per account)
  log = \"syslog\"                 # the delivery log: syslog | none | /path/to/file
  default_domain = \"example.com\" # qualifies bare names: root -> root@example.com
  aliases = \"/etc/aliases\"       # root: admin@example.com
  [accounts.work]
  server = \"smtp.example.com\"      # without it: MX delivery
  port = 587
  tls = \"required\"                 # none | opportunistic | required | implicit
  user = \"alice\"
  password_command = \"pass show mail/work\"
  from = \"Alice <alice@example.com>\"
Flags override the account. An account applies to its own server only: --server naming \
another one leaves the default account (user, password, TLS, from) out, unless --account NAME \
is given too. Passwords never come from the command line: --password-env VAR, the account's \
password_command, or a prompt on the terminal.";

const EXAMPLES: &str = "\
Examples:
  mxsend --from me@example.com --to you@example.net --subject hi --body 'hello'
  mxsend -v --from me@example.com --subject report --attach report.pdf you@example.net < body.txt
  mxsend --server smtp.example.com --user me --password-env SMTP_PASSWORD --message mail.eml --to you@example.net
  mxsend --dry-run --from me@example.com --to you@example.net --subject test
  mxsend mx example.net
  echo 'Subject: hi' | mxsend sendmail -t -i";

/// The `mxsend` command line.
#[derive(Debug, Parser)]
#[command(
    name = "mxsend",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = exit::EXIT_STATUS_HELP,
    after_long_help = format!("{EXAMPLES}\n\n{}", exit::EXIT_STATUS_HELP),
    args_conflicts_with_subcommands = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Other things mxsend does.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The message and how to send it.
    #[command(flatten)]
    pub send: SendArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a domain's MX records, the order mxsend would try them in, and their addresses.
    Mx(MxArgs),
    /// Behave as sendmail: read a message on standard input (see `mxsend sendmail --help`).
    #[command(disable_help_flag = true)]
    Sendmail(SendmailCommand),
    /// Print a shell completion script (e.g. `mxsend completions bash > /etc/bash_completion.d/mxsend`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// DKIM keys: `mxsend dkim keygen --selector SEL --domain DOMAIN [--type rsa|ed25519]`.
    #[command(subcommand)]
    Dkim(dkim::DkimCommand),
    /// Print the man page (roff), e.g. `mxsend manpage > /usr/local/share/man/man1/mxsend.1`.
    Manpage,
    /// The queue of messages not delivered yet: run it, list it, flush or remove entries.
    Queue(QueueArgs),
}

/// `mxsend queue`.
#[derive(Debug, Args)]
pub struct QueueArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: QueueCommand,
    /// The queue directory [default: $MXSEND_QUEUE_DIR, the configuration's queue_dir, /var/spool/mxsend for root, else $XDG_STATE_HOME/mxsend/queue].
    #[arg(long, value_name = "DIR", global = true)]
    pub queue_dir: Option<PathBuf>,
    /// Read this configuration file instead of $XDG_CONFIG_HOME/mxsend/config.toml.
    #[arg(long, value_name = "PATH", env = "MXSEND_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Print every attempt (and the SMTP conversation's outcome) on standard error.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

/// `mxsend queue` subcommands.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// One pass over the entries that are due (for cron and systemd timers).
    Run,
    /// Stay up: run what is due, sleep until the next entry is due or a new one arrives.
    Daemon,
    /// List the entries: id, age, size, sender, next attempt, each recipient's state and last reply.
    List {
        /// One JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Show an entry's state record.
    Show {
        /// The entry's id.
        id: String,
    },
    /// Make an entry (or every entry) due now, and run the queue.
    Flush {
        /// The entry's id; without it, every entry.
        id: Option<String>,
    },
    /// Remove an entry without sending it.
    Remove {
        /// The entry's id.
        id: String,
    },
}

/// `mxsend mx`.
#[derive(Debug, Args)]
pub struct MxArgs {
    /// The domain (or an address: its domain is used).
    pub domain: String,
    /// Ask this DNS server instead of the system's (IP or IP:PORT).
    #[arg(long, value_name = "IP[:PORT]")]
    pub dns: Option<String>,
    /// The port connection attempts would use.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub port: u16,
    /// One JSON document on standard output.
    #[arg(long)]
    pub json: bool,
    /// Do not look up the domain's MTA-STS policy.
    #[arg(long)]
    pub no_mta_sts: bool,
    /// Do not look up the exchanges' DANE TLSA records.
    #[arg(long)]
    pub no_dane: bool,
    /// Cache MTA-STS policies here [default: $XDG_CACHE_HOME/mxsend/mta-sts].
    #[arg(long, value_name = "DIR")]
    pub mta_sts_cache: Option<PathBuf>,
    /// Verify the MTA-STS policy server against the CA certificates in this PEM file.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,
    /// Fetch MTA-STS policies from this port instead of 443 (tests).
    #[arg(long, value_name = "N", hide = true)]
    pub mta_sts_port: Option<u16>,
}

/// `mxsend sendmail ARGS...`: sendmail's own option syntax, parsed by [`sendmail`].
#[derive(Debug, Args)]
pub struct SendmailCommand {
    /// sendmail options and recipients (`-t`, `-i`, `-f ADDR`, `-F NAME`, `-v`, ...).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub args: Vec<OsString>,
}

/// The send command's flags.
#[derive(Debug, Default, Args)]
pub struct SendArgs {
    /// Recipients (added to To).
    #[arg(value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// The sender: ADDR or 'Name <ADDR>' (envelope and From).
    #[arg(long, short = 'f', value_name = "ADDR", help_heading = "Message")]
    pub from: Option<String>,
    /// A To recipient (repeatable).
    #[arg(long, value_name = "ADDR", help_heading = "Message")]
    pub to: Vec<String>,
    /// A Cc recipient (repeatable).
    #[arg(long, value_name = "ADDR", help_heading = "Message")]
    pub cc: Vec<String>,
    /// A Bcc recipient: in the envelope only, never in the message (repeatable).
    #[arg(long, value_name = "ADDR", help_heading = "Message")]
    pub bcc: Vec<String>,
    /// A Reply-To address (repeatable).
    #[arg(long, value_name = "ADDR", help_heading = "Message")]
    pub reply_to: Vec<String>,
    /// The subject.
    #[arg(long, short = 's', value_name = "TEXT", help_heading = "Message")]
    pub subject: Option<String>,
    /// The body text (default: standard input when it is not a terminal).
    #[arg(
        long,
        value_name = "TEXT",
        conflicts_with = "body_file",
        help_heading = "Message"
    )]
    pub body: Option<String>,
    /// Read the body text from a file.
    #[arg(long, value_name = "PATH", help_heading = "Message")]
    pub body_file: Option<PathBuf>,
    /// An HTML version of the body, from a file (the text body becomes its plain alternative).
    #[arg(long, value_name = "PATH", help_heading = "Message")]
    pub html: Option<PathBuf>,
    /// Attach a file (repeatable).
    #[arg(long, short = 'a', value_name = "PATH", help_heading = "Message")]
    pub attach: Vec<PathBuf>,
    /// An extra header, 'Name: value' (repeatable).
    #[arg(
        long,
        short = 'H',
        value_name = "'NAME: VALUE'",
        help_heading = "Message"
    )]
    pub header: Vec<String>,
    /// Send a ready RFC 5322 message from a file ('-': standard input) instead of composing one;
    /// recipients come from --to/--cc/--bcc and arguments only.
    #[arg(
        long,
        value_name = "PATH|-",
        conflicts_with_all = ["subject", "body", "body_file", "html", "attach", "header", "reply_to"],
        help_heading = "Message"
    )]
    pub message: Option<PathBuf>,

    /// Relay through this server instead of delivering by MX lookup (unix:PATH: a Unix domain socket).
    #[arg(
        long,
        value_name = "HOST[:PORT]|unix:PATH",
        help_heading = "Connection"
    )]
    pub server: Option<String>,
    /// Speak LMTP (RFC 2033) to the --server, a delivery agent such as Dovecot's: one outcome per recipient.
    #[arg(long, help_heading = "Connection")]
    pub lmtp: bool,
    /// Port (relay default: 587, 465 with --tls implicit; MX delivery: 25, changed for tests).
    #[arg(long, value_name = "N", help_heading = "Connection")]
    pub port: Option<u16>,
    /// TLS mode [default: opportunistic for MX delivery; required for a relay, implicit on 465].
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Connection")]
    pub tls: Option<TlsArg>,
    /// Also trust the CA certificates in this PEM file.
    #[arg(long, value_name = "PATH", help_heading = "Connection")]
    pub ca_file: Option<PathBuf>,
    /// Accept only the server certificate with this SHA-256 fingerprint (sha256:HEX, as openssl
    /// x509 -fingerprint -sha256 prints it), or the one with this public key (spki-sha256:HEX);
    /// repeatable. Needs a verifying TLS mode; CA files and roots are then not consulted.
    #[arg(long, value_name = "sha256:HEX", help_heading = "Connection")]
    pub tls_fingerprint: Vec<String>,
    /// Present this client certificate (PEM) when the server asks for one; with --tls-key.
    #[arg(long, value_name = "PATH", help_heading = "Connection")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "PATH", help_heading = "Connection")]
    pub tls_key: Option<PathBuf>,
    /// Verify the relay's certificate against this name (and send it as SNI) instead of the
    /// host given to --server: a relay reached by address.
    #[arg(long, value_name = "NAME", help_heading = "Connection")]
    pub tls_name: Option<String>,
    /// Send with REQUIRETLS (RFC 8689): only to servers offering it over TLS verified for
    /// their name (DANE, MTA-STS or WebPKI); otherwise the message is not sent to that host.
    #[arg(long, help_heading = "Connection")]
    pub require_tls: bool,
    /// MX delivery: do not consult the recipient domains' MTA-STS policies (RFC 8461).
    #[arg(long, help_heading = "Connection")]
    pub no_mta_sts: bool,
    /// MX delivery: do not use DANE (RFC 7672: TLSA records the resolver validated).
    #[arg(long, help_heading = "Connection")]
    pub no_dane: bool,
    /// Cache MTA-STS policies here [default: $XDG_CACHE_HOME/mxsend/mta-sts].
    #[arg(long, value_name = "DIR", help_heading = "Connection")]
    pub mta_sts_cache: Option<PathBuf>,
    /// Fetch MTA-STS policies from this port instead of 443 (tests).
    #[arg(long, value_name = "N", hide = true)]
    pub mta_sts_port: Option<u16>,
    /// The name to give in EHLO [default: this host's name if fully qualified, else its address literal].
    #[arg(long, value_name = "NAME", help_heading = "Connection")]
    pub ehlo: Option<String>,
    /// Ask this DNS server instead of the system's.
    #[arg(long, value_name = "IP[:PORT]", help_heading = "Connection")]
    pub dns: Option<String>,
    /// Seconds to wait for the server at each step: the connection, the greeting, each reply,
    /// each body write, the final reply [default: 60 for a relay; RFC 5321's minutes for MX
    /// delivery].
    #[arg(long, value_name = "SECS", help_heading = "Connection")]
    pub timeout: Option<u64>,

    /// Authenticate as this user (the password: --password-env, the account's password_command, or a prompt).
    #[arg(
        long,
        short = 'u',
        value_name = "NAME",
        help_heading = "Authentication"
    )]
    pub user: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", help_heading = "Authentication")]
    pub password_env: Option<String>,
    /// Allow AUTH over a connection without TLS (a local test server only).
    #[arg(long, help_heading = "Authentication")]
    pub allow_plaintext_auth: bool,

    /// Use this account from the configuration file.
    #[arg(long, value_name = "NAME", help_heading = "Configuration")]
    pub account: Option<String>,
    /// Read no configuration file at all: no account, no global settings.
    #[arg(long, conflicts_with = "account", help_heading = "Configuration")]
    pub no_account: bool,
    /// Read this configuration file instead of $XDG_CONFIG_HOME/mxsend/config.toml.
    #[arg(
        long,
        value_name = "PATH",
        env = "MXSEND_CONFIG",
        help_heading = "Configuration"
    )]
    pub config: Option<PathBuf>,

    /// Show the SMTP conversation on standard error.
    #[arg(long, short = 'v', help_heading = "Output")]
    pub verbose: bool,
    /// Print one JSON document with each recipient's outcome on standard output.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Print the message and the delivery plan; send nothing.
    #[arg(long, short = 'n', help_heading = "Output")]
    pub dry_run: bool,

    /// Queue what cannot be delivered now (deferred, server down, no reply) and retry it later, exit 0.
    #[arg(long, help_heading = "Queue")]
    pub queue: bool,
    /// The queue directory (see `mxsend queue --help`).
    #[arg(long, value_name = "DIR", help_heading = "Queue")]
    pub queue_dir: Option<PathBuf>,
    /// DKIM signing.
    #[command(flatten)]
    pub dkim: dkim::DkimArgs,
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let invoked_as = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|n| n.to_str())
        .unwrap_or("mxsend");
    let rest = args.get(1..).unwrap_or_default();
    // As `sendmail` (a link), or given a sendmail command line by its own name, as
    // `git send-email --smtp-server=/usr/bin/mxsend` does: the sendmail personality.
    let outcome = if invoked_as == "sendmail" || sendmail::looks_like_sendmail(rest) {
        run::sendmail(rest)
    } else if invoked_as == "mailq" {
        run::sendmail(&[OsString::from("-bp")])
    } else {
        match Cli::try_parse_from(&args) {
            Ok(cli) => run::main(cli),
            Err(e) => return run::clap_error(&e),
        }
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("mxsend: {e}");
            e.exit.into()
        }
    }
}
