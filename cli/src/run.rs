//! What each command does, in order: read the configuration, check every input, build the
//! message, then (and only then) connect.
//!
//! The order is the point: a malformed address, an unreadable attachment, a header with a
//! line break, a bad account or an unknown flag value all end the command before the first
//! DNS query or TCP connection, with one line naming the cause and the exit status from
//! [`crate::exit`].

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
use crate::plan::{self, JsonPlan};
use crate::sendmail::{self, HeaderBlock, SendmailArgs};
use crate::source::{self, MessageSource, RawSource, Stored};
use crate::{Cli, Command, MxArgs, SendArgs, TlsArg};

/// The relay port without TLS from the first byte: submission (RFC 6409 §3.1).
const SUBMISSION_PORT: u16 = 587;
/// The relay port with implicit TLS (RFC 8314 §7.3).
const SUBMISSIONS_PORT: u16 = 465;
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
            eprintln!("mxsend: {first}{values}; see 'mxsend --help'");
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
    account: Account,
}

fn load_account(
    explicit: Option<&Path>,
    name: Option<&str>,
    no_account: bool,
) -> Result<Loaded, CliError> {
    let xdg = std::env::var("XDG_CONFIG_HOME").ok();
    let home = std::env::var("HOME").ok();
    let default = config::default_path(xdg.as_deref(), home.as_deref());
    let (config, path) = config::load(explicit, default.as_deref())?;
    let account = config
        .select(name, no_account, path.as_deref())?
        .map(|(_, a)| a.clone())
        .unwrap_or_default();
    Ok(Loaded { account })
}

/// `HOST`, `HOST:PORT`, `[V6]`, `[V6]:PORT` or a bare IPv6 address.
pub fn parse_server(text: &str) -> Result<(String, Option<u16>), CliError> {
    let bad = |why: &str| {
        CliError::usage(format!(
            "--server {text:?}: {why}; write HOST or HOST:PORT ([IPv6]:PORT for IPv6)"
        ))
    };
    if text.is_empty() {
        return Err(bad("empty"));
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
    connect_timeout: Option<Duration>,
    user: Option<String>,
    allow_plaintext_auth: bool,
}

impl Connection {
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
        let connect_timeout = match timeout {
            Some(0) => {
                return Err(CliError::usage(
                    "--timeout 0: give the seconds to wait for a connection, at least 1",
                ))
            }
            Some(secs) => Some(Duration::from_secs(secs)),
            None => None,
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
            connect_timeout,
            user,
            allow_plaintext_auth,
        })
    }

    fn describe(&self) -> String {
        match &self.route {
            Route::Relay { host, port } => {
                let tls = match self.tls {
                    Some(t) => tls_name(t),
                    None if *port == SUBMISSIONS_PORT => "implicit",
                    None => "required",
                };
                format!("relay {host} port {port}, TLS {tls}")
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
    )?;
    let account = loaded.account;
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
    )?;
    let from = args.from.clone().or(account.from.clone());
    let mut to = args.to.clone();
    to.extend(args.recipients.iter().cloned());

    let date = compose::now();
    let (message, sender, recipients, header) = match &args.message {
        Some(path) => ready_message(path, from.as_deref(), &to, &args.cc, &args.bcc, date)?,
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
                cc: args.cc.clone(),
                bcc: args.bcc.clone(),
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
    job.dkim = crate::dkim::signers(&args.dkim, &account)?;
    let report = deliver::deliver(
        &job,
        &message,
        message_id(&message, header.as_ref()),
        args.verbose,
    )?;
    if args.json {
        report
            .write_json(&mut io::stdout().lock())
            .map_err(|e| CliError::io("writing the report", &e))?;
    } else {
        report
            .write_human(&mut io::stdout().lock(), false)
            .map_err(|e| CliError::io("writing the report", &e))?;
    }
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
        None => match header_sender(&header) {
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
    Ok((MessageSource::Raw(raw), sender, recipients, Some(header)))
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

/// The first address of the message's From field, when it is a usable mailbox.
fn header_sender(header: &HeaderBlock) -> Option<Mailbox> {
    header
        .values("From")
        .flat_map(sendmail::address_list)
        .find_map(|a| Mailbox::parse(&a).ok())
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
        ehlo: connection.ehlo,
        connect_timeout: connection.connect_timeout,
        credentials,
        allow_plaintext_auth: connection.allow_plaintext_auth,
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
    let mut out = io::stdout().lock();
    let written = if args.json {
        serde_json::to_writer_pretty(&mut out, &JsonPlan::from(&plan))
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        plan::write_plan(&plan, &mut out)
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
    let loaded = load_account(args.config.as_deref().map(Path::new), None, false)?;
    let account = loaded.account;
    let connection = Connection::build(
        None, None, None, None, None, None, None, None, false, &account,
    )?;
    let stored = Stored::Spool(source::spool(&mut io::stdin().lock(), !args.ignore_dots)?);
    let header = read_header_block(&stored)?;

    let mut recipients: Vec<Mailbox> = Vec::new();
    let mut add = |text: &str, from_header: bool| -> Result<(), CliError> {
        let mailbox = Mailbox::parse(text).map_err(|e| {
            let what = if from_header {
                CliError::data(format!(
                    "recipient {text:?} in the message's headers is not an email address ({e}); fix the To/Cc/Bcc fields"
                ))
            } else {
                CliError::usage(format!(
                    "recipient {text:?} is not an email address ({e}); mxsend does no local delivery: give user@domain"
                ))
            };
            what
        })?;
        if !recipients.contains(&mailbox) {
            recipients.push(mailbox);
        }
        Ok(())
    };
    for r in &args.recipients {
        add(r, false)?;
    }
    if args.extract_recipients {
        for name in ["To", "Cc", "Bcc"] {
            for value in header.values(name) {
                for address in sendmail::address_list(value) {
                    add(&address, true)?;
                }
            }
        }
    }
    if recipients.is_empty() {
        return Err(if args.extract_recipients {
            CliError::data(
                "no recipients: the message has no To, Cc or Bcc addresses and none were given",
            )
        } else {
            CliError::usage(
                "no recipients: give them as arguments, or use -t to take them from the message",
            )
        });
    }

    let sender = sendmail_sender(&args, &account, &header)?;
    let mut added = Vec::new();
    if !header.has("From") {
        if let ReversePath::Mailbox(m) = &sender {
            added.push(sendmail::from_field(
                args.full_name.as_deref(),
                &m.to_string(),
            ));
        }
    }
    // Bcc never goes out in the message, -t or not (sendmail and Postfix agree).
    let block = header.rewrite(&["Bcc", "Resent-Bcc"], &added);
    let body_offset = header.raw.len() as u64;
    let domain = message_id_domain(&sender);
    let raw = RawSource::new(stored, Some((block, body_offset)), compose::now(), &domain)?;
    let message = MessageSource::Raw(raw);
    let dsn = dsn_options(&args)?;
    let envelope = envelope(sender, recipients, &message, dsn);
    let credentials = credentials(connection.user.as_deref(), None, &account)?;
    let mut job = job(connection, credentials, envelope);
    job.dkim = crate::dkim::signers(&crate::dkim::DkimArgs::default(), &account)?;
    let id = message_id(&message, Some(&header));
    let report = deliver::deliver(&job, &message, id, args.verbose)?;
    // Silence on success: cron mails whatever a job prints.
    report
        .write_human(&mut io::stderr().lock(), true)
        .map_err(|e| CliError::io("writing the report", &e))?;
    Ok(report.exit())
}

/// The envelope sender in sendmail mode: `-f`, else the account's from, else the message's
/// From, else `$USER@host`.
fn sendmail_sender(
    args: &SendmailArgs,
    account: &Account,
    header: &HeaderBlock,
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
        return compose::parse_address("-f", bare).map(|a| ReversePath::Mailbox(a.envelope));
    }
    if let Some(text) = &account.from {
        return compose::parse_address("from (account)", text)
            .map(|a| ReversePath::Mailbox(a.envelope))
            .map_err(|e| CliError::config(e.message));
    }
    if let Some(mailbox) = header_sender(header) {
        return Ok(ReversePath::Mailbox(mailbox));
    }
    let user = std::env::var("LOGNAME")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "root".to_string());
    let host = match ehlo::default_ehlo() {
        Ehlo::Name(domain) => domain.to_string(),
        Ehlo::LocalAddress => {
            return Err(CliError::usage(format!(
                "no sender: this host's name is not fully qualified, so {user}@host would bounce; give -f ADDR or set `from` in the account"
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
            sendmail_sender(&args, &Account::default(), &header).unwrap(),
            ReversePath::Null
        );
    }

    #[test]
    fn sendmail_sender_falls_back_to_the_from_field() {
        let header = HeaderBlock::read(&mut &b"From: Ann <ann@x.y>\n\n"[..], 100).unwrap();
        assert_eq!(
            sendmail_sender(&SendmailArgs::default(), &Account::default(), &header).unwrap(),
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
            sendmail_sender(&SendmailArgs::default(), &account, &header).unwrap(),
            ReversePath::Mailbox(Mailbox::parse("bob@x.y").unwrap())
        );
    }
}
