//! The queue from the command line: `mxsend queue run|daemon|list|show|flush|remove`,
//! sendmail's `-q`, `-bp` (and `mailq`) and `-odq`, and "try at once, queue what stays
//! temporary" for `mxsend sendmail` and `mxsend --queue`. The queue itself is the library's
//! [`mxsend::queue`]; this module chooses its directory and schedule, rebuilds each entry's
//! connection from the settings kept with it, and prints.
//!
//! The directory: `--queue-dir`, else `$MXSEND_QUEUE_DIR`, else the configuration's
//! `queue_dir`, else `/var/spool/mxsend` for root and `$XDG_STATE_HOME/mxsend/queue`
//! (`~/.local/state/mxsend/queue`) for anyone else.
//!
//! The schedule, in the configuration's `[queue]` table: `min_backoff` (5m), `max_backoff`
//! (1h), `lifetime` (5d), `delay_warning` (4h, or `off`).
//!
//! What is kept with an entry to send it later is the route's settings: the account's name
//! and the configuration file (never a password: the account's `password_command` or the
//! `--password-env` variable is asked again at each attempt), and for `mxsend --queue` the
//! connection flags as given.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mxsend::queue::{
    notice::format_time, AttemptOutcome, AttemptReport, BlockingTransport, EntryRecord, Pending,
    Queue, QueueError, QueueEvent, QueueOptions, QueuedRoute, RecipientState, RouteKind, RunMode,
    RunSummary, TransportError, Wakeup,
};
use mxsend::{BodySource, Message};
use mxsend_core::address::Mailbox;
use mxsend_core::retry::RetrySchedule;

use crate::config::{Config, QueueConfig};
use crate::deliver::{self, Job, Route};
use crate::error::CliError;
use crate::exit::{Exit, Status};
use crate::log::DeliveryLog;
use crate::report::Report;
use crate::source::MessageSource;
use crate::QueueCommand;

/// The queue directory for root.
pub const ROOT_QUEUE_DIR: &str = "/var/spool/mxsend";

/// The directory (module docs).
pub fn queue_dir(flag: Option<&Path>, config: &Config) -> Result<PathBuf, CliError> {
    if let Some(dir) = flag {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("MXSEND_QUEUE_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = &config.queue_dir {
        return Ok(dir.clone());
    }
    if is_root() {
        return Ok(PathBuf::from(ROOT_QUEUE_DIR));
    }
    let absolute = |v: &std::ffi::OsString| Path::new(v).is_absolute();
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(absolute) {
        return Ok(Path::new(&state).join("mxsend/queue"));
    }
    match std::env::var_os("HOME").filter(absolute) {
        Some(home) => Ok(Path::new(&home).join(".local/state/mxsend/queue")),
        None => Err(CliError::config(
            "no queue directory: HOME is not set; give --queue-dir DIR or queue_dir in the configuration",
        )),
    }
}

fn is_root() -> bool {
    // The owner of /proc/self is the effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// `30s`, `5m`, `1h`, `5d` (or plain seconds).
pub fn parse_duration(key: &str, text: &str) -> Result<Duration, CliError> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let scale = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if scale > 0 => Ok(Duration::from_secs(n.saturating_mul(scale))),
        _ => Err(CliError::config(format!(
            "[queue] {key} = {text:?}: give a duration such as 30s, 5m, 1h or 5d"
        ))),
    }
}

/// The queue's options from the configuration's `[queue]` table.
pub fn options(config: &QueueConfig) -> Result<QueueOptions, CliError> {
    let mut schedule = RetrySchedule::default();
    if let Some(v) = &config.min_backoff {
        schedule.min_backoff = parse_duration("min_backoff", v)?;
    }
    if let Some(v) = &config.max_backoff {
        schedule.max_backoff = parse_duration("max_backoff", v)?;
    }
    if let Some(v) = &config.lifetime {
        schedule.lifetime = parse_duration("lifetime", v)?;
    }
    schedule
        .validate()
        .map_err(|e| CliError::config(format!("[queue]: {e}")))?;
    let mut options = QueueOptions {
        schedule,
        reporting_mta: reporting_mta(),
        ..QueueOptions::default()
    };
    match config.delay_warning.as_deref().map(str::trim) {
        None => {}
        Some("off" | "never" | "0") => options.delay_warning = None,
        Some(v) => options.delay_warning = Some(parse_duration("delay_warning", v)?),
    }
    Ok(options)
}

fn reporting_mta() -> String {
    match crate::ehlo::default_ehlo() {
        crate::ehlo::Ehlo::Name(domain) => domain.to_string(),
        crate::ehlo::Ehlo::LocalAddress => "localhost".to_string(),
    }
}

/// Open the queue.
pub fn open(dir: &Path, config: &Config) -> Result<Queue, CliError> {
    let options = options(&config.queue)?;
    Queue::open_dir(dir, options).map_err(|e| queue_error(&e))
}

/// A queue error as the user sees it: temporary (75) for the file system, the rest by kind.
pub fn queue_error(e: &QueueError) -> CliError {
    match e {
        QueueError::NoSuchEntry(_) => CliError::usage(format!("{e}; see 'mxsend queue list'")),
        QueueError::Locked(_) => CliError::new(Exit::TempFail, format!("{e}; try again")),
        QueueError::Io { .. } => CliError::new(Exit::TempFail, e.to_string()),
        _ => CliError::new(Exit::Software, e.to_string()),
    }
}

/// The message as the library reads it, for queueing.
struct Content<'a>(&'a MessageSource);

impl BodySource for Content<'_> {
    fn open(&self) -> io::Result<Box<dyn io::Read + '_>> {
        Ok(Box::new(self.0.open()?))
    }

    fn size_hint(&self) -> Option<u64> {
        self.0.size()
    }
}

fn route_kind(route: &Route) -> RouteKind {
    match route {
        Route::Relay { host, port } => RouteKind::Relay {
            host: host.clone(),
            port: *port,
        },
        Route::Mx { port, .. } => RouteKind::Mx { port: *port },
    }
}

/// Store `message` for `pending` (or every recipient of `job`, with `first_attempt` false
/// and `pending` empty), and wake a waiting daemon.
pub fn store(
    queue: &Queue,
    job: &Job,
    message: &MessageSource,
    settings: BTreeMap<String, String>,
    pending: &[Pending],
) -> Result<EntryRecord, QueueError> {
    let route = QueuedRoute {
        kind: route_kind(&job.route),
        settings,
    };
    let content = Content(message);
    let message = Message::new(job.envelope.clone(), &content);
    let record = if pending.is_empty() {
        queue.enqueue(&message, route)?
    } else {
        queue.enqueue_pending(&message, route, pending)?
    };
    queue.wake_runner();
    Ok(record)
}

/// Deliver now and queue whatever ended temporarily (sendmail, `--queue`), saying so on
/// standard error with the next attempt. Returns the report of the recipients that were not
/// queued. Exits 75 only when the message could not be stored.
pub fn deliver_or_queue(
    queue_dir: &Path,
    config: &Config,
    job: &Job,
    message: &MessageSource,
    message_id: Option<String>,
    verbose: bool,
    settings: BTreeMap<String, String>,
) -> Result<Report, CliError> {
    let log = DeliveryLog::for_config(config);
    let (report, pending) = match deliver::deliver(job, message, message_id.clone(), verbose) {
        Ok(report) => {
            // Every recipient of the attempt is logged, the ones about to be queued too.
            if let Err(e) = log.log_attempt(&report, &job.route) {
                eprintln!("mxsend: warning: {e}");
            }
            let (queued, kept): (Vec<_>, Vec<_>) = report
                .recipients
                .into_iter()
                .partition(|r| matches!(r.status, Status::Deferred | Status::Ambiguous));
            let pending: Vec<Pending> = queued
                .iter()
                .filter_map(|r| {
                    Some(Pending {
                        mailbox: Mailbox::parse(&r.recipient).ok()?,
                        last_reply: Some(describe(r)),
                        last_host: r.host.clone(),
                        ambiguous: r.status == Status::Ambiguous,
                    })
                })
                .collect();
            let kept = Report {
                message_id: report.message_id,
                recipients: kept,
            };
            (kept, pending)
        }
        // The whole attempt failed for a reason that may pass (the relay's name does not
        // resolve now): every recipient is queued.
        Err(e) if e.exit == Exit::TempFail => {
            let pending = job
                .envelope
                .recipients
                .iter()
                .map(|m| Pending {
                    mailbox: m.clone(),
                    last_reply: Some(e.message.clone()),
                    last_host: None,
                    ambiguous: false,
                })
                .collect();
            let report = Report {
                message_id,
                recipients: Vec::new(),
            };
            (report, pending)
        }
        Err(e) => return Err(e),
    };
    if pending.is_empty() {
        return Ok(report);
    }
    let queued = open(queue_dir, config)
        .and_then(|queue| {
            store(&queue, job, message, settings, &pending).map_err(|e| queue_error(&e))
        })
        .map_err(|e| {
            CliError::new(
                Exit::TempFail,
                format!(
                    "{} recipient(s) not delivered now, and the message could not be queued: {}",
                    pending.len(),
                    e.message
                ),
            )
        })?;
    eprintln!("{}", queued_line(&queued));
    Ok(report)
}

fn describe(r: &crate::report::RecipientOutcome) -> String {
    let mut text = Vec::new();
    let one = Report {
        message_id: None,
        recipients: vec![r.clone()],
    };
    let _ = one.write_human(&mut text, false);
    let line = String::from_utf8_lossy(&text).trim().to_string();
    // "addr: deferred by host: reply" -> the part after the status.
    line.split_once(": ")
        .map_or(line.clone(), |(_, rest)| rest.to_string())
}

/// The one line on standard error after queueing.
pub fn queued_line(record: &EntryRecord) -> String {
    let pending = record
        .recipients
        .iter()
        .filter(|r| r.state == RecipientState::Pending)
        .count();
    let why = record
        .recipients
        .iter()
        .find_map(|r| r.last_reply.as_deref())
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "mxsend: {pending} recipient(s) not delivered yet{why}; queued as {}, next attempt {}",
        record.id,
        format_time(record.next_attempt)
    )
}

/// Rebuilds an entry's job from its settings (see [`crate::run::queued_job`]).
pub type JobBuilder = dyn Fn(&BTreeMap<String, String>) -> Result<Job, CliError>;

/// The transport of `queue run` and the daemon: each batch's connection rebuilt from the
/// route's settings.
fn transport<'a>(
    build: &'a JobBuilder,
    verbose: bool,
) -> BlockingTransport<
    impl FnMut(&QueuedRoute) -> Result<mxsend::queue::Connection, TransportError> + 'a,
> {
    BlockingTransport::new(move |route: &QueuedRoute| {
        let job = build(&route.settings).map_err(|e| TransportError {
            permanent: false,
            reason: e.message,
        })?;
        Ok(deliver::connection(&job, verbose))
    })
}

/// Print what a run does: attempts with `-v` (and always in the daemon), problems always;
/// every attempt goes to the delivery log.
fn printer(verbose: bool, log: &DeliveryLog) -> impl FnMut(QueueEvent<'_>) + '_ {
    move |event| {
        if let QueueEvent::Attempt(a) = &event {
            if let Err(e) = log.log_queued_attempt(a) {
                eprintln!("mxsend: warning: {e}");
            }
        }
        let mut err = io::stderr().lock();
        let _ = match event {
            QueueEvent::Attempt(a) if verbose => writeln!(err, "{}", attempt_line(a)),
            QueueEvent::Attempt(_) => Ok(()),
            QueueEvent::MovedAside { id, why, to } => {
                writeln!(err, "mxsend: queue entry {id} moved aside to {to}: {why}")
            }
            QueueEvent::Notified {
                id,
                kind,
                notice_id,
            } if verbose => writeln!(
                err,
                "mxsend: {id}: {} notice to the sender queued as {notice_id}",
                match kind {
                    mxsend::queue::notice::NoticeKind::Failure => "failure",
                    mxsend::queue::notice::NoticeKind::Delay => "delay",
                }
            ),
            QueueEvent::Notified { .. } => Ok(()),
            QueueEvent::NotNotified { id } if verbose => writeln!(
                err,
                "mxsend: {id}: recipients failed; no notice (null sender or a notice itself)"
            ),
            QueueEvent::NotNotified { .. } => Ok(()),
            QueueEvent::Error { id, error } => writeln!(err, "mxsend: queue entry {id}: {error}"),
        };
    }
}

/// One line per recipient per attempt (the delivery log's shape).
pub fn attempt_line(a: &AttemptReport) -> String {
    let outcome = match a.outcome {
        AttemptOutcome::Delivered => "delivered",
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::Deferred => "deferred",
        AttemptOutcome::Ambiguous => "ambiguous",
        AttemptOutcome::Expired => "expired",
    };
    let mut line = format!(
        "mxsend: {} attempt {} from <{}> to <{}>: {outcome}",
        a.id, a.attempt, a.sender, a.recipient
    );
    if let Some(host) = &a.host {
        line.push_str(&format!(" by {host}"));
    }
    if let Some(reply) = &a.reply {
        line.push_str(&format!(": {reply}"));
    }
    if let Some(next) = a.next_attempt {
        line.push_str(&format!("; next attempt {}", format_time(next)));
    }
    line
}

/// `mxsend queue ...`.
pub fn command(
    command: &QueueCommand,
    dir: &Path,
    config: &Config,
    build: &JobBuilder,
    verbose: bool,
) -> Result<Exit, CliError> {
    let queue = open(dir, config)?;
    let log = &DeliveryLog::for_config(config);
    match command {
        QueueCommand::Run => run_once(&queue, build, RunMode::Due, verbose, log),
        QueueCommand::Daemon => daemon(&queue, dir, build, verbose, log),
        QueueCommand::List { json } => list(&queue, *json),
        QueueCommand::Show { id } => show(&queue, id),
        QueueCommand::Flush { id } => {
            let changed = queue.flush(id.as_deref()).map_err(|e| queue_error(&e))?;
            queue.wake_runner();
            if verbose {
                eprintln!(
                    "mxsend: {changed} entr{} due now",
                    if changed == 1 { "y" } else { "ies" }
                );
            }
            run_once(&queue, build, RunMode::Due, verbose, log)
        }
        QueueCommand::Remove { id } => {
            let record = queue.remove(id).map_err(|e| queue_error(&e))?;
            eprintln!(
                "mxsend: removed {} (from <{}>, {} recipient(s)); nothing was sent or notified",
                record.id,
                record.sender,
                record.recipients.len()
            );
            Ok(Exit::Ok)
        }
    }
}

/// How long a one-shot pass waits, before exiting, for its finished entries' files to be
/// deleted; what is left then goes with the next pass's.
const HOUSEKEEPING_LIMIT: Duration = Duration::from_secs(30);

/// One pass (`queue run`, sendmail's `-q`). Exit 0 when the pass ran, whatever the
/// recipients' outcomes (they are the queue's business now); 75 when entries could not be
/// handled.
pub fn run_once(
    queue: &Queue,
    build: &JobBuilder,
    mode: RunMode,
    verbose: bool,
    log: &DeliveryLog,
) -> Result<Exit, CliError> {
    let summary = pass(queue, build, mode, verbose, log)?;
    // The finished entries' files are deleted after the sending, not during it.
    queue.finish_housekeeping(HOUSEKEEPING_LIMIT);
    Ok(if summary.errors > 0 {
        Exit::TempFail
    } else {
        Exit::Ok
    })
}

fn pass(
    queue: &Queue,
    build: &JobBuilder,
    mode: RunMode,
    verbose: bool,
    log: &DeliveryLog,
) -> Result<RunSummary, CliError> {
    let mut transport = transport(build, verbose);
    let mut on_event = printer(verbose, log);
    queue
        .run(&mut transport, mode, &mut on_event)
        .map_err(|e| queue_error(&e))
}

/// `queue daemon`: a pass, then sleep until the next entry is due or a new one arrives.
fn daemon(
    queue: &Queue,
    dir: &Path,
    build: &JobBuilder,
    verbose: bool,
    log: &DeliveryLog,
) -> Result<Exit, CliError> {
    let wakeup = Wakeup::bind(dir).map_err(|e| {
        CliError::new(
            Exit::TempFail,
            format!("cannot listen on {}: {e}", Wakeup::path(dir).display()),
        )
    })?;
    eprintln!("mxsend: queue daemon on {}", dir.display());
    loop {
        let summary = pass(queue, build, RunMode::Due, true, log).or_else(|e| {
            // A queue that cannot be listed now (a full or read-only disk) is retried.
            eprintln!("mxsend: {}", e.message);
            Ok::<_, CliError>(RunSummary::default())
        })?;
        let now = mxsend::queue::unix_now();
        let sleep = summary.next_due.map_or(Wakeup::MAX_SLEEP, |t| {
            Duration::from_secs(t.saturating_sub(now))
        });
        if verbose {
            eprintln!("mxsend: sleeping up to {}s", sleep.as_secs());
        }
        wakeup
            .wait(sleep)
            .map_err(|e| CliError::io("waiting on the queue's wake-up socket", &e))?;
    }
}

fn age(seconds: u64) -> String {
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn state_name(state: RecipientState) -> &'static str {
    match state {
        RecipientState::Pending => "pending",
        RecipientState::Delivered => "delivered",
        RecipientState::Failed => "failed",
    }
}

fn list(queue: &Queue, json: bool) -> Result<Exit, CliError> {
    use mxsend::queue::Store;
    let entries = queue.store().list().map_err(|e| queue_error(&e))?;
    let now = mxsend::queue::unix_now();
    let mut out = io::stdout().lock();
    let werr = |e: io::Error| CliError::io("writing to standard output", &e);
    if json {
        let docs: Vec<serde_json::Value> = entries
            .iter()
            .map(|l| match &l.record {
                Ok(r) => serde_json::json!({
                    "id": r.id,
                    "age_seconds": now.saturating_sub(r.queued_at),
                    "queued_at": r.queued_at,
                    "sender": r.sender,
                    "size": r.message_size,
                    "attempts": r.attempts,
                    "next_attempt": r.next_attempt,
                    "route": r.route.to_string(),
                    "kind": match r.kind { mxsend::queue::EntryKind::Message => "message", mxsend::queue::EntryKind::Notification => "notification" },
                    "recipients": r.recipients.iter().map(|x| serde_json::json!({
                        "address": x.address,
                        "state": state_name(x.state),
                        "last_reply": x.last_reply,
                        "last_host": x.last_host,
                    })).collect::<Vec<_>>(),
                }),
                Err(e) => serde_json::json!({ "id": l.id, "damaged": e.to_string() }),
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &docs).map_err(|e| werr(e.into()))?;
        writeln!(out).map_err(werr)?;
        return Ok(Exit::Ok);
    }
    if entries.is_empty() {
        writeln!(out, "Mail queue is empty").map_err(werr)?;
        return Ok(Exit::Ok);
    }
    for l in &entries {
        match &l.record {
            Ok(r) => {
                let sender = if r.sender.is_empty() { "<>" } else { &r.sender };
                writeln!(
                    out,
                    "{}  {:>5}  {:>8}  <{sender}>  next attempt {}",
                    r.id,
                    age(now.saturating_sub(r.queued_at)),
                    r.message_size,
                    format_time(r.next_attempt)
                )
                .map_err(werr)?;
                for x in &r.recipients {
                    write!(out, "    <{}> {}", x.address, state_name(x.state)).map_err(werr)?;
                    if let Some(reply) = &x.last_reply {
                        write!(out, ": {reply}").map_err(werr)?;
                    }
                    writeln!(out).map_err(werr)?;
                }
            }
            Err(e) => writeln!(out, "{}  damaged: {e}", l.id).map_err(werr)?,
        }
    }
    writeln!(
        out,
        "-- {} entr{}",
        entries.len(),
        if entries.len() == 1 { "y" } else { "ies" }
    )
    .map_err(werr)?;
    Ok(Exit::Ok)
}

fn show(queue: &Queue, id: &str) -> Result<Exit, CliError> {
    use mxsend::queue::Store;
    let record = queue.store().read(id).map_err(|e| queue_error(&e))?;
    let mut out = io::stdout().lock();
    let werr = |e: io::Error| CliError::io("writing to standard output", &e);
    out.write_all(&record.encode()).map_err(werr)?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("k", "30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("k", "5m").unwrap(), Duration::from_secs(300));
        assert_eq!(
            parse_duration("k", "5d").unwrap(),
            Duration::from_secs(432_000)
        );
        assert_eq!(parse_duration("k", "7").unwrap(), Duration::from_secs(7));
        assert_eq!(
            parse_duration("k", "5 weeks").unwrap_err().exit,
            Exit::Config
        );
    }

    #[test]
    fn schedule_from_the_configuration_is_checked() {
        let config = QueueConfig {
            min_backoff: Some("1h".into()),
            max_backoff: Some("5m".into()),
            ..QueueConfig::default()
        };
        assert!(options(&config)
            .unwrap_err()
            .message
            .contains("max_backoff"));
        let off = QueueConfig {
            delay_warning: Some("off".into()),
            ..QueueConfig::default()
        };
        assert_eq!(options(&off).unwrap().delay_warning, None);
    }

    #[test]
    fn the_queue_dir_flag_wins() {
        let config = Config {
            queue_dir: Some("/from/config".into()),
            ..Config::default()
        };
        assert_eq!(
            queue_dir(Some(Path::new("/from/flag")), &config).unwrap(),
            Path::new("/from/flag")
        );
    }
}
