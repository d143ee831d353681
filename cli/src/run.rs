//! What each command does, in order: read the configuration, check every input, build the
//! message, then (and only then) connect.
//!
//! The order is the point: a malformed address, an unreadable attachment, a header with a
//! line break, a bad account or an unknown flag value all end the command before the first
//! DNS query or TCP connection, with one line naming the cause and the exit status from
//! [`crate::exit`].

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::CommandFactory;
use mxsend::dns::{DnsError, Resolver, DNS_PORT};
use mxsend_core::address::{Domain, Mailbox, ReversePath};
use mxsend_core::command::{BodyType, Notify, Ret};
use mxsend_core::message::raw::MAX_HEADER_BLOCK;
use mxsend_core::mx::group_by_domain;
use mxsend_core::sasl::{Credentials, Secret};
use mxsend_core::session::{DsnOptions, Envelope};

use crate::compose::{self, BodySource, ComposeInput};
use crate::config::{self, Account};
use crate::deliver::{self, Job, Route};
use crate::ehlo::{self, Ehlo};
use crate::error::CliError;
use crate::exit::Exit;
use crate::hint;
use crate::local::LocalNames;
use crate::log::DeliveryLog;
use crate::plan::{self, JsonPlan};
use crate::queue;
use crate::report::Report;
use crate::sendmail::{self, HeaderBlock, SendmailArgs};
use crate::source::{self, MessageSource, RawSource, Stored};
use crate::{Cli, Command, MxArgs, QueueArgs, QueueCommand, SendArgs, TlsArg};

/// The relay port without TLS from the first byte: submission (RFC 6409 §3.1).
const SUBMISSION_PORT: u16 = 587;
/// The relay port with implicit TLS (RFC 8314 §7.3).
pub(crate) const SUBMISSIONS_PORT: u16 = 465;
/// The SMTP port (MX delivery).
const SMTP_PORT: u16 = 25;

/// Report a command-line error from clap: help and version as asked (exit 0); anything else
/// on one line with where to look, exit 64 (sysexits' EX_USAGE, not clap's 2).
pub fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid command line");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            // clap puts the accepted values of an enum flag on a line of their own.
            let values = rendered
                .lines()
                .map(str::trim)
                .find(|l| l.starts_with("[possible values:"))
                .map(|l| format!(" {l}"))
                .unwrap_or_default();
            // clap's suggestion for a mistyped flag: "tip: a similar argument exists: '--server'".
            let tip = rendered
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix("tip: "))
                .map(|t| format!("; {t}"))
                .unwrap_or_default();
            eprintln!("mxsend: {first}{values}{tip}; see 'mxsend --help'");
            Exit::Usage.into()
        }
    }
}

/// `mxsend [flags]` and its subcommands.
pub fn main(cli: Cli) -> Result<Exit, CliError> {
    match cli.command {
        None => send(cli.send),
        Some(Command::Mx(args)) => mx(args),
        Some(Command::Dkim(command)) => crate::dkim::run(command),
        Some(Command::Sendmail(args)) => sendmail(&args.args),
        Some(Command::Queue(args)) => queue_command(&args),
        Some(Command::Completions { shell }) => {
            // Generated into memory: clap_complete panics on a failed write.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "mxsend", &mut script);
            write_stdout(&script, "writing the completion script")
        }
        Some(Command::Manpage) => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| CliError::io("rendering the man page", &e))?;
            write_stdout(&page, "writing the man page")
        }
    }
}

/// Write `bytes` to standard output. A closed pipe (`mxsend manpage | head`) is not an error:
/// the reader has what it wanted.
fn write_stdout(bytes: &[u8], what: &str) -> Result<Exit, CliError> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Ok),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        Err(e) => Err(CliError::io(what, &e)),
    }
}

/// The configuration file and the selected account.
struct Loaded {
    /// The account that applies (empty when none does), the global `timeout` folded in.
    account: Account,
    /// The selected account's name (`None` when no account applies, or it was set aside).
    account_name: Option<String>,
    /// The default account left out because `--server` names another server.
    set_aside: Option<String>,
    /// The whole file (global keys).
    config: config::Config,
    /// The file read; `None` when there was none.
    found: Option<PathBuf>,
    /// Where the file was looked for (`--config`, `-C`, or the default location).
    looked_at: Option<PathBuf>,
}

impl Loaded {
    /// The delivery log the configuration asks for.
    fn delivery_log(&self) -> DeliveryLog {
        DeliveryLog::for_config(&self.config)
    }
}

/// The hint for a common mistake ([`hint`]), on standard error after the report.
fn print_hint(report: &Report, job: &Job) {
    if let Some(hint) = hint::after_delivery(report, &job.route, job.tls) {
        eprintln!("mxsend: {hint}");
    }
}

/// Record the attempt in the delivery log; a log that cannot be written is a warning on
/// standard error, never a reason to report the delivery differently.
fn log_attempt(log: &DeliveryLog, report: &Report, route: &Route) {
    if let Err(e) = log.log_attempt(report, route) {
        eprintln!("mxsend: warning: {e}");
    }
}

/// Read the configuration and choose the account.
///
/// Credentials stay with their server: with `--server` naming a host other than the default
/// account's server (or another port of it), the account (its user, password_command, TLS
/// settings, from, port) is not used at all, since its password is for its own server.
/// `--account NAME` together with `--server` applies the account to that server on purpose.
fn load_account(
    explicit: Option<&Path>,
    name: Option<&str>,
    no_account: bool,
    server: Option<(&str, Option<u16>)>,
) -> Result<Loaded, CliError> {
    if no_account {
        // --no-account: no file at all, not even its global settings.
        return Ok(Loaded {
            account: Account::default(),
            account_name: None,
            set_aside: None,
            config: config::Config::default(),
            found: None,
            looked_at: None,
        });
    }
    let xdg = std::env::var("XDG_CONFIG_HOME").ok();
    let home = std::env::var("HOME").ok();
    let default = config::default_path(xdg.as_deref(), home.as_deref());
    let looked_at = explicit.map(Path::to_path_buf).or(default.clone());
    let (config, path) = config::load(explicit, default.as_deref())?;
    let selected = config.select(name, false, path.as_deref())?;
    let (mut account, account_name, set_aside) = match (selected, server) {
        (Some((chosen, account)), Some((server, port))) if name.is_none() => {
            if same_server(account, server, port)? {
                (account.clone(), Some(chosen.to_string()), None)
            } else {
                (Account::default(), None, Some(chosen.to_string()))
            }
        }
        (Some((chosen, account)), _) => (account.clone(), Some(chosen.to_string()), None),
        (None, _) => (Account::default(), None, None),
    };
    account.timeout = account.timeout.or(config.timeout);
    Ok(Loaded {
        account,
        account_name,
        set_aside,
        config,
        found: path,
        looked_at,
    })
}

/// Whether `--server` (and `--port`) name the account's own server: the same host, and the
/// same port when one is given (`127.0.0.1:2525` and `127.0.0.1:2526` are different servers).
fn same_server(account: &Account, server: &str, port_flag: Option<u16>) -> Result<bool, CliError> {
    let Some(account_server) = account.server.as_deref() else {
        return Ok(false);
    };
    let (flag_host, flag_port) = parse_server(server)?;
    let (account_host, account_port) = parse_server(account_server)
        .map_err(|e| CliError::config(format!("the account's server: {}", e.message)))?;
    let account_port =
        account_port
            .or(account.port)
            .unwrap_or(if account.tls == Some(TlsArg::Implicit) {
                SUBMISSIONS_PORT
            } else {
                SUBMISSION_PORT
            });
    let same_port = port_flag.or(flag_port).is_none_or(|p| p == account_port);
    Ok(flag_host.eq_ignore_ascii_case(&account_host) && same_port)
}

/// `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT`, a bare IPv6 address, or `unix:PATH`.
pub fn parse_server(text: &str) -> Result<(String, Option<u16>), CliError> {
    let bad = |why: &str| {
        CliError::usage(format!(
            "--server {text:?}: {why}; write HOST or HOST:PORT ([IPv6]:PORT for IPv6)"
        ))
    };
    if text.is_empty() {
        return Err(bad("empty"));
    }
    // A Unix domain socket: the rest is its path (no port).
    if let Some(path) = text.strip_prefix(mxsend::config::UNIX_PREFIX) {
        if path.is_empty() {
            return Err(bad("no path after unix:"));
        }
        return Ok((text.to_string(), None));
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("no closing ']'"))?;
        return match after {
            "" => Ok((host.to_string(), None)),
            _ => match after.strip_prefix(':').map(str::parse::<u16>) {
                Some(Ok(port)) => Ok((host.to_string(), Some(port))),
                _ => Err(bad("bad port")),
            },
        };
    }
    if text.parse::<IpAddr>().is_ok() {
        return Ok((text.to_string(), None));
    }
    match text.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) if !host.is_empty() => Ok((host.to_string(), Some(port))),
            _ => Err(bad("bad port")),
        },
        None => Ok((text.to_string(), None)),
    }
}

/// `--dns IP` or `IP:PORT` (`[V6]:PORT`).
pub fn parse_dns(text: &str) -> Result<SocketAddr, CliError> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DNS_PORT));
    }
    text.parse::<SocketAddr>().map_err(|_| {
        CliError::usage(format!(
            "--dns {text:?}: not an IP address or IP:PORT; e.g. --dns 127.0.0.1:5353"
        ))
    })
}

fn resolver(dns: Option<&str>) -> Result<Resolver, CliError> {
    match dns {
        Some(text) => Ok(Resolver::with_servers(vec![parse_dns(text)?])),
        None => Resolver::from_system().map_err(|e| match e {
            DnsError::Config { why } => CliError::config(format!(
                "cannot use the system's DNS configuration ({why}); pass --dns IP"
            )),
            other => CliError::config(format!("{other}; pass --dns IP")),
        }),
    }
}

/// Connection settings from the flags over the account.
#[derive(Debug)]
struct Connection {
    route: Route,
    tls: Option<TlsArg>,
    ca_file: Option<PathBuf>,
    ehlo: Ehlo,
    timeout: Option<Duration>,
    user: Option<String>,
    allow_plaintext_auth: bool,
    lmtp: bool,
}

impl Connection {
    /// LMTP when `flag` (`--lmtp`) or the account says so; only to a relay.
    fn lmtp(mut self, flag: bool) -> Result<Connection, CliError> {
        self.lmtp |= flag;
        if self.lmtp && matches!(self.route, Route::Mx { .. }) {
            return Err(CliError::usage(
                "--lmtp needs --server: LMTP goes to one delivery agent, e.g. --server unix:/run/dovecot/lmtp",
            ));
        }
        Ok(self)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        server: Option<&str>,
        port: Option<u16>,
        tls: Option<TlsArg>,
        ca_file: Option<PathBuf>,
        ehlo_flag: Option<&str>,
        dns: Option<&str>,
        timeout: Option<u64>,
        user: Option<String>,
        allow_plaintext_auth: bool,
        account: &Account,
    ) -> Result<Connection, CliError> {
        let tls = tls.or(account.tls);
        let route = match server.or(account.server.as_deref()) {
            Some(server) => {
                let (host, server_port) = parse_server(server)?;
                let port = port.or(server_port).or(account.port).unwrap_or(
                    if tls == Some(TlsArg::Implicit) {
                        SUBMISSIONS_PORT
                    } else {
                        SUBMISSION_PORT
                    },
                );
                Route::Relay { host, port }
            }
            None => Route::Mx {
                port: port.or(account.port).unwrap_or(SMTP_PORT),
                resolver: resolver(dns.or(account.dns.as_deref()))?,
            },
        };
        let ca_file = ca_file.or(account.ca_file.clone());
        if let Some(path) = &ca_file {
            std::fs::File::open(path).map_err(|e| CliError::no_input("--ca-file", path, &e))?;
        }
        let ehlo = match ehlo_flag.or(account.ehlo.as_deref()) {
            Some(name) => ehlo::parse(name)?,
            None => ehlo::default_ehlo(),
        };
        let timeout = match (timeout, account.timeout) {
            (Some(0), _) => {
                return Err(CliError::usage(
                    "--timeout 0: give the seconds to wait for the server at each step, at least 1",
                ))
            }
            (None, Some(0)) => {
                return Err(CliError::config(
                    "timeout = 0 in the configuration: give the seconds to wait for the server at each step, at least 1",
                ))
            }
            (Some(secs), _) | (None, Some(secs)) => Some(Duration::from_secs(secs)),
            (None, None) => None,
        };
        let user = user.or(account.user.clone());
        let allow_plaintext_auth = allow_plaintext_auth || account.allow_plaintext_auth;
        if user.is_some() && tls == Some(TlsArg::None) && !allow_plaintext_auth {
            return Err(CliError::usage(
                "--user with --tls none would send the password in plaintext; use --tls required (or implicit), or add --allow-plaintext-auth for a local test server",
            ));
        }
        if user.is_some() && matches!(route, Route::Mx { .. }) {
            return Err(CliError::usage(
                "--user needs --server: MX delivery does not authenticate; give the relay with --server HOST",
            ));
        }
        Ok(Connection {
            route,
            tls,
            ca_file,
            ehlo,
            timeout,
            user,
            allow_plaintext_auth,
            lmtp: account.lmtp,
        })
    }

    fn describe(&self) -> String {
        let protocol = if self.lmtp { "LMTP " } else { "" };
        match &self.route {
            Route::Relay { host, .. } if host.starts_with(mxsend::config::UNIX_PREFIX) => {
                let tls = self.tls.map_or("none", tls_name);
                format!("{protocol}relay {host} (Unix socket), TLS {tls}")
            }
            Route::Relay { host, port } => {
                let tls = match self.tls {
                    Some(t) => tls_name(t),
                    None if *port == SUBMISSIONS_PORT => "implicit",
                    None => "required",
                };
                format!("{protocol}relay {host} port {port}, TLS {tls}")
            }
            Route::Mx { port, .. } => {
                let tls = self.tls.map_or("opportunistic", tls_name);
                format!("MX delivery on port {port}, TLS {tls}")
            }
        }
    }
}

fn tls_name(tls: TlsArg) -> &'static str {
    match tls {
        TlsArg::None => "none",
        TlsArg::Opportunistic => "opportunistic",
        TlsArg::Required => "required",
        TlsArg::Implicit => "implicit",
    }
}

/// The send command.
fn send(args: SendArgs) -> Result<Exit, CliError> {
    let loaded = load_account(
        args.config.as_deref(),
        args.account.as_deref(),
        args.no_account,
        args.server.as_deref().map(|server| (server, args.port)),
    )?;
    if let (Some(name), true) = (&loaded.set_aside, args.verbose) {
        eprintln!(
            "*** Account {name:?} not used: --server names another server (give --account {name} to use it there)"
        );
    }
    let account = loaded.account.clone();
    let connection = Connection::build(
        args.server.as_deref(),
        args.port,
        args.tls,
        args.ca_file.clone(),
        args.ehlo.as_deref(),
        args.dns.as_deref(),
        args.timeout,
        args.user.clone(),
        args.allow_plaintext_auth,
        &account,
    )?
    .lmtp(args.lmtp)?;
    let tls_flags = crate::tls::TlsFlags {
        fingerprints: &args.tls_fingerprint,
        cert: args.tls_cert.as_deref(),
        key: args.tls_key.as_deref(),
        name: args.tls_name.as_deref(),
    };
    let mut tls_settings = crate::tls::settings(
        tls_flags,
        &account,
        connection.tls,
        matches!(connection.route, Route::Relay { .. }),
    )?;
    secure_flags(&args, connection.ca_file.as_deref()).apply(
        &mut tls_settings,
        matches!(connection.route, Route::Mx { .. }),
    )?;
    let local = local_names(&loaded.config)?;
    let from = args
        .from
        .clone()
        .or(account.from.clone())
        .map(|text| sendmail::rewrite_address_list(&text, |a| local.qualify(a)));
    let mut to = expand_local("--to", &args.to, &local)?;
    to.extend(expand_local("recipient", &args.recipients, &local)?);
    let cc = expand_local("--cc", &args.cc, &local)?;
    let bcc = expand_local("--bcc", &args.bcc, &local)?;

    let date = compose::now();
    let (message, sender, recipients, header) = match &args.message {
        Some(path) => ready_message(path, from.as_deref(), &to, &cc, &bcc, date)?,
        None => {
            let body = match (&args.body, &args.body_file) {
                (Some(text), _) => BodySource::Text(text.clone()),
                (None, Some(path)) => BodySource::File(path.clone()),
                (None, None) if io::stdin().is_terminal() => BodySource::Empty,
                (None, None) => {
                    let mut bytes = Vec::new();
                    io::stdin()
                        .read_to_end(&mut bytes)
                        .map_err(|e| CliError::io("reading the body from standard input", &e))?;
                    BodySource::Stdin(bytes)
                }
            };
            let input = ComposeInput {
                from,
                to,
                cc,
                bcc,
                reply_to: args.reply_to.clone(),
                subject: args.subject.clone(),
                html: args.html.clone(),
                attach: args.attach.clone(),
                headers: args.header.clone(),
            };
            let composed = compose::compose(input, body, date)?;
            let sender = composed.envelope.from.clone();
            let recipients = composed.envelope.recipients.clone();
            (
                MessageSource::Composed(Box::new(composed)),
                sender,
                recipients,
                None,
            )
        }
    };
    let envelope = envelope(sender, recipients, &message, DsnOptions::default());
    if args.dry_run {
        return dry_run(&connection, &envelope, &message, args.json);
    }
    let credentials = credentials(
        connection.user.as_deref(),
        args.password_env.as_deref(),
        &account,
    )?;
    let mut job = job(connection, credentials, envelope);
    job.tls_settings = tls_settings;
    job.dkim = crate::dkim::signers(&args.dkim, &account)?;
    let id = message_id(&message, header.as_ref());
    let log = loaded.delivery_log();
    let report = if args.queue {
        let dir = queue::queue_dir(args.queue_dir.as_deref(), &loaded.config)?;
        let settings = send_settings(&args, loaded.account_name.as_deref());
        queue::deliver_or_queue(
            &dir,
            &loaded.config,
            &job,
            &message,
            id,
            args.verbose,
            settings,
        )?
    } else {
        let report = deliver::deliver(&job, &message, id, args.verbose)?;
        log_attempt(&log, &report, &job.route);
        report
    };
    if args.json {
        report
            .write_json(&mut io::stdout().lock())
            .map_err(|e| CliError::io("writing the report", &e))?;
    } else {
        report
            .write_human(&mut io::stdout().lock(), false)
            .map_err(|e| CliError::io("writing the report", &e))?;
    }
    print_hint(&report, &job);
    Ok(report.exit())
}

/// `--message PATH|-`: a ready message; the envelope from the flags (sender: --from, the
/// account's from, else the message's From).
fn ready_message(
    path: &Path,
    from: Option<&str>,
    to: &[String],
    cc: &[String],
    bcc: &[String],
    date: mxsend_core::message::DateTime,
) -> Result<
    (
        MessageSource,
        ReversePath,
        Vec<Mailbox>,
        Option<HeaderBlock>,
    ),
    CliError,
> {
    let stored = if path == Path::new("-") {
        Stored::Spool(source::spool(&mut io::stdin().lock(), false)?)
    } else {
        source::check_readable(path)?;
        Stored::Path(path.to_path_buf())
    };
    let mut recipients: Vec<Mailbox> = Vec::new();
    for (flag, list) in [("--to", to), ("--cc", cc), ("--bcc", bcc)] {
        for text in list {
            let address = compose::parse_address(flag, text)?.envelope;
            if !recipients.contains(&address) {
                recipients.push(address);
            }
        }
    }
    if recipients.is_empty() {
        return Err(CliError::usage(
            "no recipients: with --message, give them with --to, --cc, --bcc or as arguments (or use `mxsend sendmail -t` to take them from the message)",
        ));
    }
    let header = read_header_block(&stored)?;
    let sender = match from {
        Some(text) => ReversePath::Mailbox(compose::parse_address("--from", text)?.envelope),
        None => match header_sender(&header, &LocalNames::default()) {
            Some(mailbox) => ReversePath::Mailbox(mailbox),
            None => {
                return Err(CliError::usage(
                    "no sender: the message has no usable From address; give --from ADDR",
                ))
            }
        },
    };
    let domain = message_id_domain(&sender);
    let raw = RawSource::new(stored, None, date, &domain)?;
    Ok((
        MessageSource::Raw(Box::new(raw)),
        sender,
        recipients,
        Some(header),
    ))
}

fn read_header_block(stored: &Stored) -> Result<HeaderBlock, CliError> {
    let mut reader: Box<dyn Read> = match stored {
        Stored::Path(path) => Box::new(
            std::fs::File::open(path).map_err(|e| CliError::no_input("the message", path, &e))?,
        ),
        Stored::Spool(file) => {
            let mut file = file
                .try_clone()
                .map_err(|e| CliError::io("reading the spooled message", &e))?;
            std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(0))
                .map_err(|e| CliError::io("reading the spooled message", &e))?;
            Box::new(file)
        }
    };
    HeaderBlock::read(&mut reader, MAX_HEADER_BLOCK)
}

/// The first address of the message's From field, when it is a usable mailbox (a bare name
/// qualified by the default domain).
fn header_sender(header: &HeaderBlock, local: &LocalNames) -> Option<Mailbox> {
    header
        .values("From")
        .flat_map(sendmail::address_list)
        .find_map(|a| Mailbox::parse(&local.qualify(&a).unwrap_or(a)).ok())
}

/// The fields `-t` takes recipients from: Resent-To, Resent-Cc and Resent-Bcc when the
/// message has been resent (it has Resent- fields, RFC 5322 §3.6.6), else To, Cc and Bcc.
fn extract_fields(header: &HeaderBlock) -> [&'static str; 3] {
    let resent = header
        .fields
        .iter()
        .any(|f| f.name.len() > 7 && f.name[..7].eq_ignore_ascii_case("Resent-"));
    if resent {
        ["Resent-To", "Resent-Cc", "Resent-Bcc"]
    } else {
        ["To", "Cc", "Bcc"]
    }
}

/// The display name of the account's `from` (`Alice <alice@example.com>`: `Alice`), for a
/// From field mxsend adds.
fn account_display_name(account: &Account) -> Option<String> {
    let from = account.from.as_deref()?;
    let address = compose::parse_address("from (account)", from).ok()?;
    address.header.display_name.filter(|n| !n.is_empty())
}

/// Recipients given to `flag`: a bare name becomes its alias targets or is qualified by the
/// default domain ([`crate::local`]); anything else is kept as written.
fn expand_local(flag: &str, list: &[String], local: &LocalNames) -> Result<Vec<String>, CliError> {
    let mut out = Vec::with_capacity(list.len());
    for text in list {
        if crate::local::is_bare(text.trim()) {
            let targets = local
                .recipients(text.trim())
                .map_err(|why| CliError::usage(format!("{flag} {why}")))?;
            out.extend(targets);
        } else {
            out.push(text.clone());
        }
    }
    Ok(out)
}

/// The configuration's `default_domain` and `aliases`.
fn local_names(config: &config::Config) -> Result<LocalNames, CliError> {
    LocalNames::load(config.default_domain.as_deref(), config.aliases.as_deref())
}

/// The domain for a Message-ID the filter adds: the sender's, else this host's name.
fn message_id_domain(sender: &ReversePath) -> String {
    match sender {
        ReversePath::Mailbox(m) => m.domain().to_string(),
        ReversePath::Null => match ehlo::default_ehlo() {
            Ehlo::Name(domain) => domain.to_string(),
            Ehlo::LocalAddress => "localhost".to_string(),
        },
    }
}

fn envelope(
    from: ReversePath,
    recipients: Vec<Mailbox>,
    message: &MessageSource,
    dsn: DsnOptions,
) -> Envelope {
    Envelope {
        utf8_headers: message.utf8_headers() || from.needs_smtputf8(),
        from,
        recipients,
        size: message.size(),
        body: if message.eight_bit() {
            BodyType::EightBitMime
        } else {
            BodyType::SevenBit
        },
        dsn,
    }
}

fn credentials(
    user: Option<&str>,
    password_env: Option<&str>,
    account: &Account,
) -> Result<Option<Credentials>, CliError> {
    let Some(user) = user else {
        if password_env.is_some() {
            return Err(CliError::usage(
                "--password-env without --user: give the user name with --user NAME",
            ));
        }
        return Ok(None);
    };
    let source = crate::password::source(password_env, account.password_command.as_deref());
    let password = crate::password::obtain(user, &source)?;
    Ok(Some(Credentials {
        username: user.to_string(),
        secret: Secret::Password(password),
    }))
}

fn job(connection: Connection, credentials: Option<Credentials>, envelope: Envelope) -> Job {
    Job {
        route: connection.route,
        tls: connection.tls,
        ca_file: connection.ca_file,
        tls_settings: crate::tls::TlsSettings::default(),
        ehlo: connection.ehlo,
        timeout: connection.timeout,
        credentials,
        allow_plaintext_auth: connection.allow_plaintext_auth,
        lmtp: connection.lmtp,
        envelope,
        dkim: Vec::new(),
    }
}

/// The Message-ID the recipients will see, for the report.
fn message_id(message: &MessageSource, header: Option<&HeaderBlock>) -> Option<String> {
    match message {
        MessageSource::Composed(composed) => Some(composed.body.message_id().to_string()),
        // The message's own, or the one the filter added when the header block had none.
        MessageSource::Raw(raw) => header
            .and_then(|h| h.values("Message-ID").next().map(str::to_string))
            .or_else(|| raw.added_message_id().map(str::to_string)),
    }
}

/// `--dry-run`: the delivery plan, then the message, on standard output; nothing is sent
/// (DNS is asked, to show the plan).
fn dry_run(
    connection: &Connection,
    envelope: &Envelope,
    message: &MessageSource,
    json: bool,
) -> Result<Exit, CliError> {
    let out_err = |e: io::Error| CliError::io("writing to standard output", &e);
    let plans: Vec<plan::DomainPlan> = match &connection.route {
        Route::Relay { .. } => Vec::new(),
        Route::Mx { port, resolver } => {
            group_by_domain(envelope.recipients.iter().map(Mailbox::domain))
                .into_iter()
                .map(|group| plan::plan_domain(resolver, &group.domain, *port))
                .collect()
        }
    };
    let mut out = io::stdout().lock();
    if json {
        let mut content = Vec::new();
        message.write_to(&mut content)?;
        let doc = serde_json::json!({
            "dry_run": true,
            "route": connection.describe(),
            "envelope": {
                "from": envelope.from.to_string(),
                "recipients": envelope.recipients.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "size": envelope.size,
            },
            "plans": plans.iter().map(JsonPlan::from).collect::<Vec<_>>(),
            "message": String::from_utf8_lossy(&content),
        });
        serde_json::to_writer_pretty(&mut out, &doc).map_err(|e| out_err(e.into()))?;
        writeln!(out).map_err(out_err)?;
        return Ok(Exit::Ok);
    }
    writeln!(out, "Dry run: nothing is sent.").map_err(out_err)?;
    writeln!(out, "Route: {}", connection.describe()).map_err(out_err)?;
    let recipients: Vec<String> = envelope
        .recipients
        .iter()
        .map(ToString::to_string)
        .collect();
    writeln!(
        out,
        "Envelope: MAIL FROM:<{}> RCPT TO:<{}>",
        envelope.from,
        recipients.join(">, <")
    )
    .map_err(out_err)?;
    for p in &plans {
        plan::write_plan(p, &mut out).map_err(out_err)?;
    }
    match envelope.size {
        Some(size) => writeln!(out, "Message ({size} octets):").map_err(out_err)?,
        None => writeln!(out, "Message:").map_err(out_err)?,
    }
    message.write_to(&mut out)?;
    out.flush().map_err(out_err)?;
    Ok(Exit::Ok)
}

/// `mxsend mx DOMAIN`.
fn mx(args: MxArgs) -> Result<Exit, CliError> {
    let text = args
        .domain
        .rsplit_once('@')
        .map_or(args.domain.as_str(), |(_, d)| d);
    let domain = Domain::parse(text).map_err(|e| {
        CliError::usage(format!(
            "{:?} is not a domain ({e}); e.g. mxsend mx example.com",
            args.domain
        ))
    })?;
    let resolver = resolver(args.dns.as_deref())?;
    let plan = plan::plan_domain(&resolver, &domain, args.port);
    let sts = crate::secure::mta_sts(crate::secure::SecureFlags {
        no_mta_sts: args.no_mta_sts,
        cache: args.mta_sts_cache.as_deref(),
        port: args.mta_sts_port,
        ca_file: args.ca_file.as_deref(),
    })?;
    // An address literal has no domain to publish a policy.
    let sts_status = match (&sts, mxsend_core::mx::target(&domain)) {
        (Some(sts), mxsend_core::mx::Target::Mx(name)) => Some(sts.discover(name, &resolver)),
        _ => None,
    };
    let dane = match (&plan.exchanges, mxsend_core::mx::target(&domain)) {
        (Ok(exchanges), mxsend_core::mx::Target::Mx(name)) if !args.no_dane => {
            crate::secure::dane_statuses(&resolver, name, exchanges)
        }
        _ => Vec::new(),
    };
    let mut out = io::stdout().lock();
    let written = if args.json {
        #[derive(serde::Serialize)]
        struct WithPolicy {
            #[serde(flatten)]
            plan: JsonPlan,
            #[serde(skip_serializing_if = "Option::is_none")]
            mta_sts: Option<crate::secure::JsonMtaSts>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            dane: Vec<crate::secure::JsonDane>,
        }
        let document = WithPolicy {
            plan: JsonPlan::from(&plan),
            mta_sts: sts_status.as_ref().map(crate::secure::JsonMtaSts::from),
            dane: dane
                .iter()
                .map(|(host, status)| crate::secure::JsonDane::new(host, status))
                .collect(),
        };
        serde_json::to_writer_pretty(&mut out, &document)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        plan::write_plan(&plan, &mut out)
            .and_then(|()| match &sts_status {
                Some(status) => crate::secure::write_mta_sts(status, &mut out),
                None => Ok(()),
            })
            .and_then(|()| crate::secure::write_dane(&dane, &mut out))
    };
    written.map_err(|e| CliError::io("writing to standard output", &e))?;
    Ok(plan.exit())
}

/// The sendmail personality: `sendmail ARGS` or `mxsend sendmail ARGS`.
pub fn sendmail(args: &[OsString]) -> Result<Exit, CliError> {
    let args = sendmail::parse_args(args)?;
    if args.help {
        return write_stdout(
            format!("{}\n", sendmail::USAGE).as_bytes(),
            "writing the usage",
        );
    }
    if args.version {
        return write_stdout(
            format!("{}\n", sendmail::version_line()).as_bytes(),
            "writing the version",
        );
    }
    let loaded = load_account(args.config.as_deref().map(Path::new), None, false, None)?;
    if args.run_queue || args.queue_daemon || args.list_queue {
        let command = match (args.list_queue, args.queue_daemon) {
            (true, _) => QueueCommand::List { json: false },
            (false, true) => QueueCommand::Daemon,
            (false, false) => QueueCommand::Run,
        };
        let dir = queue::queue_dir(None, &loaded.config)?;
        return queue::command(&command, &dir, &loaded.config, &queued_job, args.verbose);
    }
    if loaded.found.is_none() {
        // Said once per run, on standard error: cron mails it, so the owner learns that
        // mail goes out by MX lookup from this host rather than through their relay.
        match &loaded.looked_at {
            Some(path) => eprintln!(
                "mxsend: no configuration at {}: delivering directly by MX lookup",
                path.display()
            ),
            None => eprintln!(
                "mxsend: no configuration (neither $XDG_CONFIG_HOME nor $HOME is set): delivering directly by MX lookup"
            ),
        }
    }
    let account = loaded.account.clone();
    let connection = Connection::build(
        None, None, None, None, None, None, None, None, false, &account,
    )?
    .lmtp(false)?;
    let mut tls_settings = crate::tls::settings(
        crate::tls::TlsFlags::default(),
        &account,
        connection.tls,
        matches!(connection.route, Route::Relay { .. }),
    )?;
    // sendmail has no flags for them: MTA-STS and DANE as the defaults say.
    crate::secure::DeliveryFlags {
        sts: crate::secure::SecureFlags {
            ca_file: connection.ca_file.as_deref(),
            ..Default::default()
        },
        ..Default::default()
    }
    .apply(
        &mut tls_settings,
        matches!(connection.route, Route::Mx { .. }),
    )?;
    let stored = Stored::Spool(source::spool(&mut io::stdin().lock(), !args.ignore_dots)?);
    let header = read_header_block(&stored)?;

    let local = local_names(&loaded.config)?;

    let mut recipients: Vec<Mailbox> = Vec::new();
    let mut add = |text: &str, from_header: bool| -> Result<(), CliError> {
        let expanded = local.recipients(text).map_err(|why| {
            if from_header {
                CliError::data(format!("recipient in the message's headers: {why}"))
            } else {
                CliError::usage(format!("recipient {why}"))
            }
        })?;
        for text in expanded {
            let mailbox = Mailbox::parse(&text).map_err(|e| {
                if from_header {
                    CliError::data(format!(
                        "recipient {text:?} in the message's headers is not an email address ({e}); fix the To/Cc/Bcc fields"
                    ))
                } else {
                    CliError::usage(format!(
                        "recipient {text:?} is not an email address ({e}); give user@domain"
                    ))
                }
            })?;
            if !recipients.contains(&mailbox) {
                recipients.push(mailbox);
            }
        }
        Ok(())
    };
    for r in &args.recipients {
        add(r, false)?;
    }
    if args.extract_recipients {
        for name in extract_fields(&header) {
            for value in header.values(name) {
                for address in sendmail::address_list(value) {
                    add(&address, true)?;
                }
            }
        }
    }
    if recipients.is_empty() {
        return Err(if args.extract_recipients {
            CliError::data(format!(
                "no recipients: the message has no {} addresses and none were given",
                extract_fields(&header).join(", ")
            ))
        } else {
            CliError::usage(
                "no recipients: give them as arguments, or use -t to take them from the message",
            )
        });
    }

    let sender = sendmail_sender(&args, &account, &header, &local)?;
    let mut added = Vec::new();
    if !header.has("From") {
        if let ReversePath::Mailbox(m) = &sender {
            let full_name = args
                .full_name
                .clone()
                .or_else(|| account_display_name(&account));
            added.push(sendmail::from_field(full_name.as_deref(), &m.to_string()));
        }
    }
    // Bcc never goes out in the message, -t or not (sendmail and Postfix agree). Bare names
    // in From, To and Cc are qualified when a default domain is set.
    let block = header.rewrite(&["Bcc", "Resent-Bcc"], &added, |field| {
        let qualified = ["From", "To", "Cc", "Resent-From", "Resent-To", "Resent-Cc"]
            .iter()
            .any(|n| field.name.eq_ignore_ascii_case(n));
        if !qualified {
            return None;
        }
        let value = sendmail::rewrite_address_list(&field.value, |a| local.qualify(a));
        (value != field.value).then_some(value)
    });
    let body_offset = header.raw.len() as u64;
    let domain = message_id_domain(&sender);
    let raw = RawSource::new(stored, Some((block, body_offset)), compose::now(), &domain)?;
    let message = MessageSource::Raw(Box::new(raw));
    let dsn = dsn_options(&args)?;
    let envelope = envelope(sender, recipients, &message, dsn);
    let credentials = credentials(connection.user.as_deref(), None, &account)?;
    let mut job = job(connection, credentials, envelope);
    job.tls_settings = tls_settings;
    job.dkim = crate::dkim::signers(&crate::dkim::DkimArgs::default(), &account)?;
    let id = message_id(&message, Some(&header));
    let dir = queue::queue_dir(None, &loaded.config)?;
    let mut settings = BTreeMap::new();
    if let Some(name) = &loaded.account_name {
        settings.insert("account".to_string(), name.clone());
    } else {
        settings.insert("no_account".to_string(), "true".to_string());
    }
    if let Some(path) = &args.config {
        settings.insert("config".to_string(), absolute(Path::new(path)));
    }
    if args.queue_only {
        let queue = queue::open(&dir, &loaded.config)?;
        queue::store(&queue, &job, &message, settings, &[]).map_err(|e| {
            CliError::new(
                Exit::TempFail,
                format!("the message could not be queued: {e}"),
            )
        })?;
        return Ok(Exit::Ok);
    }
    let report = queue::deliver_or_queue(
        &dir,
        &loaded.config,
        &job,
        &message,
        id,
        args.verbose,
        settings,
    )?;
    // Silence on success: cron mails whatever a job prints.
    report
        .write_human(&mut io::stderr().lock(), true)
        .map_err(|e| CliError::io("writing the report", &e))?;
    print_hint(&report, &job);
    Ok(report.exit())
}

/// `mxsend queue ...`.
fn queue_command(args: &QueueArgs) -> Result<Exit, CliError> {
    let xdg = std::env::var("XDG_CONFIG_HOME").ok();
    let home = std::env::var("HOME").ok();
    let default = config::default_path(xdg.as_deref(), home.as_deref());
    let (config, _) = config::load(args.config.as_deref(), default.as_deref())?;
    let dir = queue::queue_dir(args.queue_dir.as_deref(), &config)?;
    queue::command(&args.command, &dir, &config, &queued_job, args.verbose)
}

/// `path` made absolute (a queued entry is sent from another working directory).
fn absolute(path: &Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// The send's secure-delivery flags (`ca_file`: the one the connection uses).
fn secure_flags<'a>(
    args: &'a SendArgs,
    ca_file: Option<&'a Path>,
) -> crate::secure::DeliveryFlags<'a> {
    crate::secure::DeliveryFlags {
        require_tls: args.require_tls,
        no_dane: args.no_dane,
        sts: crate::secure::SecureFlags {
            no_mta_sts: args.no_mta_sts,
            cache: args.mta_sts_cache.as_deref(),
            port: args.mta_sts_port,
            ca_file,
        },
    }
}

/// What `mxsend --queue` keeps with an entry to rebuild its connection: the flags as given
/// (paths made absolute) and the account's name; never a password.
fn send_settings(args: &SendArgs, account_name: Option<&str>) -> BTreeMap<String, String> {
    let mut s = BTreeMap::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            s.insert(key.to_string(), value);
        }
    };
    put("server", args.server.clone());
    put("port", args.port.map(|p| p.to_string()));
    put("tls", args.tls.map(|t| tls_name(t).to_string()));
    put("ca_file", args.ca_file.as_deref().map(absolute));
    put("ehlo", args.ehlo.clone());
    put("dns", args.dns.clone());
    put("timeout", args.timeout.map(|t| t.to_string()));
    put("user", args.user.clone());
    put("password_env", args.password_env.clone());
    put("config", args.config.as_deref().map(absolute));
    put(
        "allow_plaintext_auth",
        args.allow_plaintext_auth.then(|| "true".to_string()),
    );
    put("lmtp", args.lmtp.then(|| "true".to_string()));
    put(
        "tls_fingerprint",
        (!args.tls_fingerprint.is_empty()).then(|| args.tls_fingerprint.join(" ")),
    );
    put("tls_cert", args.tls_cert.as_deref().map(absolute));
    put("tls_key", args.tls_key.as_deref().map(absolute));
    put("tls_name", args.tls_name.clone());
    // DKIM flags, one value a line (paths absolute): the entry is signed at each attempt.
    let lines = |values: Vec<String>| (!values.is_empty()).then(|| values.join("\n"));
    put(
        "dkim_key",
        lines(args.dkim.dkim_key.iter().map(|p| absolute(p)).collect()),
    );
    put("dkim_selector", lines(args.dkim.dkim_selector.clone()));
    put("dkim_domain", lines(args.dkim.dkim_domain.clone()));
    match account_name {
        Some(name) => put("account", Some(name.to_string())),
        None => put("no_account", Some("true".to_string())),
    }
    secure_flags(args, None).store(&mut s);
    s
}

/// A queued entry's job rebuilt from its settings (see [`send_settings`]): the same checks
/// and account lookup as when it was submitted; the envelope is the queue's business.
pub(crate) fn queued_job(settings: &BTreeMap<String, String>) -> Result<Job, CliError> {
    let get = |key: &str| settings.get(key).map(String::as_str);
    let number = |key: &str| -> Result<Option<u64>, CliError> {
        get(key)
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    CliError::config(format!("queued setting {key} = {v:?} is not a number"))
                })
            })
            .transpose()
    };
    let tls = get("tls")
        .map(|v| {
            <TlsArg as clap::ValueEnum>::from_str(v, true)
                .map_err(|_| CliError::config(format!("queued setting tls = {v:?} is unknown")))
        })
        .transpose()?;
    let loaded = load_account(
        get("config").map(Path::new),
        get("account"),
        get("no_account") == Some("true"),
        None,
    )?;
    let port = number("port")?
        .map(|p| {
            u16::try_from(p)
                .map_err(|_| CliError::config(format!("queued setting port = {p} is out of range")))
        })
        .transpose()?;
    let connection = Connection::build(
        get("server"),
        port,
        tls,
        get("ca_file").map(PathBuf::from),
        get("ehlo"),
        get("dns"),
        number("timeout")?,
        get("user").map(str::to_string),
        get("allow_plaintext_auth") == Some("true"),
        &loaded.account,
    )?
    .lmtp(get("lmtp") == Some("true"))?;
    let fingerprints: Vec<String> = get("tls_fingerprint")
        .map(|v| v.split(' ').map(str::to_string).collect())
        .unwrap_or_default();
    let mut tls_settings = crate::tls::settings(
        crate::tls::TlsFlags {
            fingerprints: &fingerprints,
            cert: get("tls_cert").map(Path::new),
            key: get("tls_key").map(Path::new),
            name: get("tls_name"),
        },
        &loaded.account,
        connection.tls,
        matches!(connection.route, Route::Relay { .. }),
    )?;
    crate::secure::DeliveryFlags::from_settings(settings, connection.ca_file.as_deref())?.apply(
        &mut tls_settings,
        matches!(connection.route, Route::Mx { .. }),
    )?;
    let credentials = credentials(
        connection.user.as_deref(),
        get("password_env"),
        &loaded.account,
    )?;
    let envelope = Envelope {
        from: ReversePath::Null,
        recipients: Vec::new(),
        size: None,
        body: BodyType::SevenBit,
        utf8_headers: false,
        dsn: DsnOptions::default(),
    };
    let lines = |key: &str| -> Vec<String> {
        get(key)
            .map(|v| v.split('\n').map(str::to_string).collect())
            .unwrap_or_default()
    };
    let dkim = crate::dkim::DkimArgs {
        dkim_key: lines("dkim_key").into_iter().map(PathBuf::from).collect(),
        dkim_selector: lines("dkim_selector"),
        dkim_domain: lines("dkim_domain"),
    };
    let mut job = job(connection, credentials, envelope);
    job.tls_settings = tls_settings;
    job.dkim = crate::dkim::signers(&dkim, &loaded.account)?;
    Ok(job)
}

/// The envelope sender in sendmail mode: `-f`, else the account's from, else the message's
/// From, else `$USER@host`.
fn sendmail_sender(
    args: &SendmailArgs,
    account: &Account,
    header: &HeaderBlock,
    local: &LocalNames,
) -> Result<ReversePath, CliError> {
    if let Some(text) = &args.sender {
        let text = text.trim();
        if text.is_empty() || text == "<>" {
            return Ok(ReversePath::Null);
        }
        let bare = text
            .strip_prefix('<')
            .and_then(|t| t.strip_suffix('>'))
            .unwrap_or(text);
        let qualified = local.qualify(bare);
        return compose::parse_address("-f", qualified.as_deref().unwrap_or(bare))
            .map(|a| ReversePath::Mailbox(a.envelope));
    }
    if let Some(text) = &account.from {
        return compose::parse_address("from (account)", text)
            .map(|a| ReversePath::Mailbox(a.envelope))
            .map_err(|e| CliError::config(e.message));
    }
    if let Some(mailbox) = header_sender(header, local) {
        return Ok(ReversePath::Mailbox(mailbox));
    }
    let user = std::env::var("LOGNAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "root".to_string());
    if let Some(address) = local.qualify(&user) {
        return Mailbox::parse(&address)
            .map(ReversePath::Mailbox)
            .map_err(|e| CliError::usage(format!("no usable sender ({e}); give -f ADDR")));
    }
    let host = match ehlo::default_ehlo() {
        Ehlo::Name(domain) => domain.to_string(),
        Ehlo::LocalAddress => {
            return Err(CliError::usage(format!(
                "no sender: this host's name is not fully qualified, so {user}@host would bounce; give -f ADDR, or set `from` in the account or default_domain in the configuration"
            )))
        }
    };
    Mailbox::parse(&format!("{user}@{host}"))
        .map(ReversePath::Mailbox)
        .map_err(|e| CliError::usage(format!("no usable sender ({e}); give -f ADDR")))
}

/// `-N`, `-R`, `-V` as DSN options (RFC 3461).
fn dsn_options(args: &SendmailArgs) -> Result<DsnOptions, CliError> {
    let notify = match args.notify.as_deref() {
        None => None,
        Some(text) if text.eq_ignore_ascii_case("never") => Some(Notify::Never),
        Some(text) => {
            let (mut success, mut failure, mut delay) = (false, false, false);
            for word in text.split(',').map(str::trim) {
                match word.to_ascii_lowercase().as_str() {
                    "success" => success = true,
                    "failure" => failure = true,
                    "delay" => delay = true,
                    _ => {
                        return Err(CliError::usage(format!(
                            "-N {text}: give never, or a list of success, delay, failure"
                        )))
                    }
                }
            }
            Some(Notify::On {
                success,
                failure,
                delay,
            })
        }
    };
    let ret = match args.ret.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("hdrs") => Some(Ret::Headers),
        Some("full") => Some(Ret::Full),
        Some(other) => return Err(CliError::usage(format!("-R {other}: give hdrs or full"))),
    };
    Ok(DsnOptions {
        ret,
        envid: args.envid.clone(),
        notify,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mxsend").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn positional_recipients_and_repeated_flags_are_collected() {
        let cli = parse(&["--from", "a@x.y", "--to", "b@x.y", "--to", "c@x.y", "d@x.y"]).unwrap();
        assert_eq!(cli.send.to, ["b@x.y", "c@x.y"]);
        assert_eq!(cli.send.recipients, ["d@x.y"]);
    }

    #[test]
    fn unknown_tls_mode_is_refused_by_the_parser() {
        let err = parse(&["--tls", "sometimes"]).unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
    }

    #[test]
    fn message_conflicts_with_compose_flags() {
        assert!(parse(&["--message", "m.eml", "--subject", "x", "a@x.y"]).is_err());
        assert!(parse(&["--message", "m.eml", "--attach", "f", "a@x.y"]).is_err());
        assert!(parse(&["--message", "-", "--to", "a@x.y"]).is_ok());
    }

    #[test]
    fn body_and_body_file_conflict() {
        assert!(parse(&["--body", "x", "--body-file", "f"]).is_err());
    }

    #[test]
    fn sendmail_subcommand_takes_sendmail_options_verbatim() {
        let cli = parse(&["sendmail", "-t", "-oi", "-f", "a@x.y"]).unwrap();
        match cli.command {
            Some(Command::Sendmail(s)) => assert_eq!(s.args, ["-t", "-oi", "-f", "a@x.y"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mx_subcommand_parses_its_flags() {
        let cli = parse(&["mx", "example.test", "--dns", "127.0.0.1:5353", "--json"]).unwrap();
        match cli.command {
            Some(Command::Mx(m)) => {
                assert_eq!(m.domain, "example.test");
                assert!(m.json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unix_socket_servers() {
        assert_eq!(
            parse_server("unix:/run/dovecot/lmtp").unwrap(),
            ("unix:/run/dovecot/lmtp".into(), None)
        );
        assert!(parse_server("unix:").is_err());
    }

    #[test]
    fn server_forms() {
        assert_eq!(parse_server("smtp.x.y").unwrap(), ("smtp.x.y".into(), None));
        assert_eq!(
            parse_server("smtp.x.y:2525").unwrap(),
            ("smtp.x.y".into(), Some(2525))
        );
        assert_eq!(
            parse_server("[::1]:2525").unwrap(),
            ("::1".into(), Some(2525))
        );
        assert_eq!(parse_server("::1").unwrap(), ("::1".into(), None));
        assert_eq!(
            parse_server("127.0.0.1").unwrap(),
            ("127.0.0.1".into(), None)
        );
        assert_eq!(parse_server("h:99999").unwrap_err().exit, Exit::Usage);
        assert_eq!(parse_server("[::1").unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn dns_forms() {
        assert_eq!(
            parse_dns("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_dns("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_dns("[::1]:5353").unwrap(),
            "[::1]:5353".parse().unwrap()
        );
        assert_eq!(parse_dns("dns.example").unwrap_err().exit, Exit::Usage);
    }

    fn relay_account() -> Account {
        Account {
            server: Some("smtp.x.y".into()),
            ..Account::default()
        }
    }

    #[test]
    fn relay_port_defaults_to_submission_or_465_for_implicit_tls() {
        let build = |tls| {
            Connection::build(
                None,
                None,
                tls,
                None,
                Some("c.x.y"),
                None,
                None,
                None,
                false,
                &relay_account(),
            )
            .unwrap()
            .route
        };
        assert!(matches!(build(None), Route::Relay { port: 587, .. }));
        assert!(matches!(
            build(Some(TlsArg::Implicit)),
            Route::Relay { port: 465, .. }
        ));
    }

    #[test]
    fn flags_override_the_account() {
        let c = Connection::build(
            Some("other.x.y:2525"),
            None,
            Some(TlsArg::None),
            None,
            Some("c.x.y"),
            None,
            None,
            None,
            false,
            &relay_account(),
        )
        .unwrap();
        assert!(matches!(c.route, Route::Relay { ref host, port: 2525 } if host == "other.x.y"));
        assert_eq!(c.tls, Some(TlsArg::None));
    }

    #[test]
    fn password_over_plaintext_is_refused_before_connecting() {
        let err = Connection::build(
            Some("127.0.0.1:2525"),
            None,
            Some(TlsArg::None),
            None,
            Some("c.x.y"),
            None,
            None,
            Some("alice".into()),
            false,
            &Account::default(),
        )
        .unwrap_err();
        assert_eq!(err.exit, Exit::Usage);
        assert!(
            err.message.contains("--allow-plaintext-auth"),
            "{}",
            err.message
        );
    }

    #[test]
    fn user_without_server_is_refused() {
        let err = Connection::build(
            None,
            None,
            None,
            None,
            Some("c.x.y"),
            Some("127.0.0.1"),
            None,
            Some("alice".into()),
            false,
            &Account::default(),
        )
        .unwrap_err();
        assert!(err.message.contains("--server"), "{}", err.message);
    }

    #[test]
    fn unreadable_ca_file_is_noinput() {
        let err = Connection::build(
            Some("h.x.y"),
            None,
            None,
            Some("/nonexistent/ca.pem".into()),
            Some("c.x.y"),
            None,
            None,
            None,
            false,
            &Account::default(),
        )
        .unwrap_err();
        assert_eq!(err.exit, Exit::NoInput);
    }

    #[test]
    fn dsn_flags_become_dsn_options() {
        let args = SendmailArgs {
            notify: Some("success,delay".into()),
            ret: Some("HDRS".into()),
            envid: Some("e1".into()),
            ..SendmailArgs::default()
        };
        assert_eq!(
            dsn_options(&args).unwrap(),
            DsnOptions {
                ret: Some(Ret::Headers),
                envid: Some("e1".into()),
                notify: Some(Notify::On {
                    success: true,
                    failure: false,
                    delay: true
                }),
            }
        );
    }

    #[test]
    fn bad_dsn_notify_is_a_usage_error() {
        let args = SendmailArgs {
            notify: Some("sometimes".into()),
            ..SendmailArgs::default()
        };
        assert_eq!(dsn_options(&args).unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn dash_f_null_sender() {
        let args = SendmailArgs {
            sender: Some("<>".into()),
            ..SendmailArgs::default()
        };
        let header = HeaderBlock::read(&mut &b"\n"[..], 100).unwrap();
        assert_eq!(
            sendmail_sender(&args, &Account::default(), &header, &LocalNames::default()).unwrap(),
            ReversePath::Null
        );
    }

    #[test]
    fn sendmail_sender_falls_back_to_the_from_field() {
        let header = HeaderBlock::read(&mut &b"From: Ann <ann@x.y>\n\n"[..], 100).unwrap();
        assert_eq!(
            sendmail_sender(
                &SendmailArgs::default(),
                &Account::default(),
                &header,
                &LocalNames::default()
            )
            .unwrap(),
            ReversePath::Mailbox(Mailbox::parse("ann@x.y").unwrap())
        );
    }

    #[test]
    fn account_from_beats_the_from_field() {
        let header = HeaderBlock::read(&mut &b"From: Ann <ann@x.y>\n\n"[..], 100).unwrap();
        let account = Account {
            from: Some("Bob <bob@x.y>".into()),
            ..Account::default()
        };
        assert_eq!(
            sendmail_sender(
                &SendmailArgs::default(),
                &account,
                &header,
                &LocalNames::default()
            )
            .unwrap(),
            ReversePath::Mailbox(Mailbox::parse("bob@x.y").unwrap())
        );
    }
}
