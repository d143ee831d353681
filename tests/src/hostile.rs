//! A scripted hostile SMTP server over real TCP on loopback (issue 9).
//!
//! [`HostileServer`] listens on 127.0.0.1 and plays one [`Script`] per connection, a list
//! of [`Step`]s: send bytes (whole, trickled or as an endless flood), read a command line and
//! check its start, read a message up to its final dot, sleep, close, or start server-side
//! TLS (rustls, certificates from [`pki`]). Whatever the client sends is recorded, byte for
//! byte, per connection ([`Record`]), so a test can assert on what left the client, and the
//! number of connections accepted is counted, so a test can assert that none was made.
//!
//! The scenarios that use it live in [`scenarios`] and are written once for every adapter
//! (`mxsend_tests::hostile_scenarios!(Blocking)`), like the shared end-to-end ones.

pub mod pki;
pub mod scenarios;

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How long the server waits for the client at any one read or write: a scenario that
/// leaves the client stuck fails on its own assertions long before this.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a connection's thread may take to end once the client is done.
const JOIN_TIMEOUT: Duration = Duration::from_secs(30);

/// One thing the server does on a connection.
#[derive(Clone)]
pub enum Step {
    /// Write these bytes in one `write_all`.
    Send(Vec<u8>),
    /// Read one line (up to LF) and check that it starts with this prefix, ASCII case
    /// ignored. A mismatch ends the script with an error in the record.
    Expect(&'static str),
    /// Read one line, whatever it is.
    ReadLine,
    /// Read one line and send what this function makes of it (for replies that depend on
    /// the client's words, like a SCRAM server-first message that must echo the nonce).
    Answer(fn(&[u8]) -> Vec<u8>),
    /// Read message content up to and including the final `.` line (CRLF `.` CRLF, or `.`
    /// CRLF as the first line).
    ReadUntilDot,
    /// Read about this many octets (or to the end of the stream), then go on.
    ReadBytes(usize),
    /// Read one `BDAT n [LAST]` command and exactly the `n` octets of its chunk (RFC 3030):
    /// a size that does not match what follows shows as the next step's mismatch.
    ReadBdat,
    /// Write these bytes one octet at a time, sleeping this long before each.
    Trickle(Vec<u8>, Duration),
    /// Write `unit` again and again, up to `total` octets or until the client stops reading
    /// (a write fails or times out). The bytes are never held in memory more than once.
    Flood {
        /// What to repeat.
        unit: Vec<u8>,
        /// The most octets to write.
        total: usize,
    },
    /// Do nothing for this long.
    Sleep(Duration),
    /// Close the connection now (both directions), without reading what is left.
    Close,
    /// Perform a server-side TLS handshake with this configuration; later steps go over TLS.
    /// A failed handshake ends the script (the record says why).
    StartTls(Arc<ServerConfig>),
}

/// The steps of one connection.
pub type Script = Vec<Step>;

/// What happened on one connection.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// Every octet the client sent: as is before TLS, decrypted after (TLS records
    /// themselves are not included).
    pub received: Vec<u8>,
    /// Where in `received` the TLS part starts, once a handshake succeeded.
    pub tls_from: Option<usize>,
    /// Why the server's TLS handshake failed, if it did.
    pub tls_error: Option<String>,
    /// The server name the client sent in its TLS ClientHello (SNI), if any.
    pub sni: Option<String>,
    /// Raw octets read from the socket after a failed handshake (alerts, or plaintext a
    /// careless client would send next).
    pub after_tls_failure: Vec<u8>,
    /// Why the script stopped early: an unexpected line, a read that failed.
    pub script_error: Option<String>,
    /// True when every step ran.
    pub completed: bool,
}

impl Record {
    /// The received octets as text (lossy), for messages and line checks.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.received).into_owned()
    }

    /// The received lines, without their line ends (split at LF; a CR before it dropped).
    pub fn lines(&self) -> Vec<String> {
        let text = self.text();
        let mut lines: Vec<String> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
            .collect();
        if text.ends_with('\n') || text.is_empty() {
            lines.pop();
        }
        lines
    }

    /// The received lines that start with `prefix` (ASCII case ignored).
    pub fn commands(&self, prefix: &str) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l.len() >= prefix.len()
                    && l.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
            })
            .collect()
    }
}

/// A hostile server on 127.0.0.1; stops (and unblocks its threads) when dropped.
pub struct HostileServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    records: Arc<Mutex<Vec<Arc<Mutex<Record>>>>>,
    handles: Arc<Mutex<Vec<JoinHandle<()>>>>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl HostileServer {
    /// A server playing `script` on its first connection; any later connection is closed
    /// at once.
    pub fn start(script: Script) -> HostileServer {
        HostileServer::start_many(vec![script])
    }

    /// A server playing `scripts[i]` on its connection `i`; connections beyond the list
    /// are closed at once.
    pub fn start_many(scripts: Vec<Script>) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let records = Arc::new(Mutex::new(Vec::new()));
        let handles = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (accepted, records, handles, stop) = (
                accepted.clone(),
                records.clone(),
                handles.clone(),
                stop.clone(),
            );
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let index = accepted.fetch_add(1, Ordering::SeqCst);
                    let script = scripts
                        .get(index)
                        .cloned()
                        .unwrap_or_else(|| vec![Step::Close]);
                    let record = Arc::new(Mutex::new(Record::default()));
                    lock(&records).push(record.clone());
                    let handle = thread::spawn(move || play(stream, script, &record));
                    lock(&handles).push(handle);
                }
            })
        };
        HostileServer {
            addr,
            accepted,
            records,
            handles,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Wait for every connection's script to end, then what happened on each, in order.
    ///
    /// # Panics
    /// When a connection's thread does not end within [`JOIN_TIMEOUT`].
    pub fn records(&self) -> Vec<Record> {
        let deadline = Instant::now() + JOIN_TIMEOUT;
        loop {
            let running = lock(&self.handles).iter().any(|h| !h.is_finished());
            if !running {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a hostile connection did not end"
            );
            thread::sleep(Duration::from_millis(10));
        }
        lock(&self.records)
            .iter()
            .map(|r| lock(r).clone())
            .collect()
    }

    /// The record of the only connection.
    ///
    /// # Panics
    /// When there was not exactly one connection.
    pub fn only_record(&self) -> Record {
        let records = self.records();
        assert_eq!(records.len(), 1, "connections: {records:#?}");
        records.into_iter().next().unwrap_or_default()
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor blocked in accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The connection, plaintext or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ServerConnection, TcpStream>>),
    Gone,
}

impl Stream {
    fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Stream::Plain(tcp) => Some(tcp),
            Stream::Tls(tls) => Some(&tls.sock),
            Stream::Gone => None,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.read(buf),
            Stream::Tls(tls) => tls.read(buf),
            Stream::Gone => Ok(0),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(tcp) => tcp.write(buf),
            Stream::Tls(tls) => tls.write(buf),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.flush(),
            Stream::Tls(tls) => tls.flush(),
            Stream::Gone => Ok(()),
        }
    }
}

/// One connection's state while its script plays.
struct Player<'a> {
    stream: Stream,
    /// Received and not yet consumed by a read step.
    pending: Vec<u8>,
    record: &'a Mutex<Record>,
}

impl Player<'_> {
    /// Read more into `pending` (and the record). `Ok(false)` at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        let n = loop {
            match self.stream.read(&mut buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        let bytes = &buf[..n];
        self.pending.extend_from_slice(bytes);
        lock(self.record).received.extend_from_slice(bytes);
        Ok(n > 0)
    }

    fn read_line(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(lf) = self.pending.iter().position(|&b| b == b'\n') {
                return Ok(self.pending.drain(..=lf).collect());
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Err("the client closed the connection".into()),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
    }

    fn read_until_dot(&mut self) -> Result<(), String> {
        let mut data: Vec<u8> = Vec::new();
        loop {
            let line = self.read_line()?;
            data.extend_from_slice(&line);
            if data == b".\r\n" || data.ends_with(b"\r\n.\r\n") {
                return Ok(());
            }
        }
    }

    fn read_bytes(&mut self, count: usize) -> Result<(), String> {
        while self.pending.len() < count {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
        let take = count.min(self.pending.len());
        self.pending.drain(..take);
        Ok(())
    }

    fn read_bdat(&mut self) -> Result<(), String> {
        let line = self.read_line()?;
        let text = String::from_utf8_lossy(&line);
        let size = text
            .trim_end()
            .strip_prefix("BDAT ")
            .and_then(|rest| rest.split(' ').next())
            .and_then(|size| size.parse::<usize>().ok())
            .ok_or_else(|| format!("expected \"BDAT n\", got {text:?}"))?;
        while self.pending.len() < size {
            match self.fill() {
                Ok(true) => {}
                Ok(false) => return Err(format!("the client closed within a {size}-octet chunk")),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
        self.pending.drain(..size);
        Ok(())
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush())
            .map_err(|e| format!("write failed: {e}"))
    }

    fn start_tls(&mut self, config: Arc<ServerConfig>) -> Result<(), String> {
        if !self.pending.is_empty() {
            return Err(format!(
                "the client sent {} octets after STARTTLS before the handshake",
                self.pending.len()
            ));
        }
        let Stream::Plain(mut tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err("StartTls on a connection already in TLS".into());
        };
        let mut conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            if let Err(error) = conn.complete_io(&mut tcp) {
                // Keep whatever the client sends next, raw: an alert, or plaintext it
                // should never send.
                let mut rest = Vec::new();
                let _ = tcp.read_to_end(&mut rest);
                let mut record = lock(self.record);
                record.tls_error = Some(error.to_string());
                record.after_tls_failure = rest;
                drop(record);
                self.stream = Stream::Plain(tcp);
                return Err(format!("TLS handshake failed: {error}"));
            }
        }
        let mut record = lock(self.record);
        record.tls_from = Some(record.received.len());
        record.sni = conn.server_name().map(str::to_string);
        drop(record);
        self.stream = Stream::Tls(Box::new(StreamOwned::new(conn, tcp)));
        Ok(())
    }

    fn step(&mut self, step: Step) -> Result<bool, String> {
        match step {
            Step::Send(bytes) => self.send(&bytes)?,
            Step::Expect(prefix) => {
                let line = self.read_line()?;
                let ok = line.len() >= prefix.len()
                    && line[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes());
                if !ok {
                    return Err(format!(
                        "expected {prefix:?}, got {:?}",
                        String::from_utf8_lossy(&line)
                    ));
                }
            }
            Step::ReadLine => {
                self.read_line()?;
            }
            Step::Answer(answer) => {
                let line = self.read_line()?;
                self.send(&answer(&line))?;
            }
            Step::ReadUntilDot => self.read_until_dot()?,
            Step::ReadBytes(count) => self.read_bytes(count)?,
            Step::ReadBdat => self.read_bdat()?,
            Step::Trickle(bytes, interval) => {
                for byte in bytes {
                    thread::sleep(interval);
                    self.send(&[byte])?;
                }
            }
            Step::Flood { unit, total } => {
                let mut sent = 0;
                while sent < total && !unit.is_empty() {
                    if self.stream.write_all(&unit).is_err() {
                        // The client stopped reading or hung up: that is the point.
                        break;
                    }
                    sent += unit.len();
                }
            }
            Step::Sleep(duration) => thread::sleep(duration),
            Step::Close => {
                if let Some(tcp) = self.stream.tcp() {
                    let _ = tcp.shutdown(Shutdown::Both);
                }
                return Ok(false);
            }
            Step::StartTls(config) => self.start_tls(config)?,
        }
        Ok(true)
    }

    /// After the script: record what the client still sends, up to its end of stream.
    fn drain(&mut self) {
        while let Ok(true) = self.fill() {}
    }
}

fn play(tcp: TcpStream, script: Script, record: &Mutex<Record>) {
    let _ = tcp.set_read_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_write_timeout(Some(IO_TIMEOUT));
    let _ = tcp.set_nodelay(true);
    let mut player = Player {
        stream: Stream::Plain(tcp),
        pending: Vec::new(),
        record,
    };
    for step in script {
        match player.step(step) {
            Ok(true) => {}
            Ok(false) => {
                lock(record).completed = true;
                return;
            }
            Err(error) => {
                lock(record).script_error = Some(error);
                player.drain();
                return;
            }
        }
    }
    lock(record).completed = true;
    player.drain();
    if let Stream::Tls(tls) = &mut player.stream {
        tls.conn.send_close_notify();
        let _ = tls.flush();
    }
}

/// The current process's peak resident set size (`VmHWM` in /proc/self/status), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
