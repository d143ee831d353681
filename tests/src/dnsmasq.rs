//! dnsmasq on loopback, serving the test zone in `peers/dnsmasq.conf`.
//!
//! Each [`Dnsmasq`] is a private instance: its own free port on 127.0.0.1, its own temporary
//! directory (pid file, query log), started in the foreground as our child so that dropping it
//! kills *and waits for* it (no `<defunct>` left behind: process 1 here does not reap orphans).
//! Queries under `timeout.test` are forwarded to a UDP socket the instance holds open and never
//! reads, so they go unanswered for as long as the instance lives.
//!
//! A missing dnsmasq is a failure, never a skip: the panic says how to install it.

use std::fs;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// How many A records `big.test` has: enough that the answer (16 octets a record) overflows a
/// 1232-octet EDNS(0) UDP payload and is truncated.
pub const BIG_RECORDS: u8 = 100;

/// The first of `big.test`'s addresses: 127.0.0.100, then consecutive.
pub const BIG_FIRST: u8 = 100;

/// How long dnsmasq gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where to look for the binary (`dnsmasq-base` installs it in /usr/sbin, often not on PATH).
const CANDIDATES: [&str; 3] = ["dnsmasq", "/usr/sbin/dnsmasq", "/usr/local/sbin/dnsmasq"];

/// A running dnsmasq, stopped on drop.
pub struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
    // Held so that nothing else takes the port and nothing ever answers on it.
    _black_hole: UdpSocket,
}

impl Dnsmasq {
    /// Start an instance serving the test zone.
    ///
    /// # Panics
    /// When dnsmasq is not installed or does not start: the tests cannot run without it.
    pub fn start() -> Dnsmasq {
        Dnsmasq::start_with(&[])
    }

    /// An instance serving the test zone and these TXT records too (name, text): DKIM keys.
    /// Texts longer than a DNS character-string (255 octets) are split into several, which
    /// verifiers join (RFC 6376 §3.6.2.2).
    pub fn start_with_txt(records: &[(String, String)]) -> Dnsmasq {
        let args: Vec<String> = records
            .iter()
            .map(|(name, text)| {
                let pieces: Vec<String> = text
                    .as_bytes()
                    .chunks(200)
                    .map(|piece| String::from_utf8_lossy(piece).into_owned())
                    .collect();
                // On the command line dnsmasq splits the value at commas and keeps quotes.
                format!("--txt-record={name},{}", pieces.join(","))
            })
            .collect();
        Dnsmasq::start_with(&args)
    }

    fn start_with(extra_args: &[String]) -> Dnsmasq {
        let binary = find_binary();
        let black_hole = UdpSocket::bind("127.0.0.1:0").expect("bind the unanswering upstream");
        let black_hole_port = black_hole.local_addr().expect("black hole address").port();
        let dir = temp_dir();
        let mut last_error = String::new();
        // The free port is found by binding and releasing it; another process can take it in
        // between, so a failed start is retried on a new port.
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new(&binary);
            command
                .arg(format!("--conf-file={}", zone_file().display()))
                .args([
                    "--keep-in-foreground",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                ])
                .args(["--no-resolv", "--no-hosts", "--no-poll", "--log-queries"])
                .arg(format!("--port={port}"))
                .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display()))
                .arg(format!(
                    "--log-facility={}",
                    dir.join("dnsmasq.log").display()
                ))
                .arg(format!(
                    "--server=/timeout.test/127.0.0.1#{black_hole_port}"
                ))
                .args(
                    (0..BIG_RECORDS)
                        .map(|i| format!("--host-record=big.test,127.0.0.{}", BIG_FIRST + i)),
                )
                .args(extra_args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let mut instance = Dnsmasq {
                child,
                addr,
                dir: dir.clone(),
                _black_hole: black_hole.try_clone().expect("clone the black hole socket"),
            };
            match instance.wait_until_listening() {
                Ok(()) => return instance,
                Err(why) => last_error = why,
            }
        }
        panic!("dnsmasq did not start: {last_error}");
    }

    /// The address it answers on (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A resolver asking only this instance, one try of 2 s (loopback answers at once).
    pub fn resolver(&self) -> mxsend::dns::Resolver {
        mxsend::dns::Resolver::new(mxsend::dns::ResolverConfig {
            timeout: Duration::from_secs(2),
            attempts: 1,
            ..mxsend::dns::ResolverConfig::with_servers(vec![self.addr])
        })
    }

    /// Its query log so far, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("dnsmasq.log")).unwrap_or_default()
    }

    /// Whether the pid file holds this child's process id.
    fn pid_file_names_the_child(&self) -> bool {
        fs::read_to_string(self.dir.join("dnsmasq.pid"))
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            == Some(self.child.id())
    }

    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(format!("dnsmasq exited with {status}: {}", stderr.trim()));
            }
            // The port answering is not enough: when another test's dnsmasq took the same free
            // port, ours exits on its failed bind while the other one answers. Ours is the
            // one listening once its pid file (written after its sockets are bound) names it.
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(100)).is_ok()
                && self.pid_file_names_the_child()
                && matches!(self.child.try_wait(), Ok(None))
            {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "dnsmasq not listening on {} after {START_TIMEOUT:?}",
            self.addr
        ))
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn find_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("DNSMASQ") {
        return PathBuf::from(path);
    }
    for candidate in CANDIDATES {
        let runs = Command::new(candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if matches!(runs, Ok(status) if status.success()) {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "dnsmasq is not installed (looked for {CANDIDATES:?} and $DNSMASQ): \
         run scripts/install-peers, which installs the dnsmasq-base package"
    );
}

fn zone_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/dnsmasq.conf")
}

fn free_port() -> u16 {
    // A port free for TCP is very likely free for UDP too; a clash shows as a failed start.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("ephemeral port").port()
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mxsend-dnsmasq-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    match fs::create_dir_all(&dir) {
        Ok(()) => dir,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => dir,
        Err(e) => panic!("cannot create {}: {e}", dir.display()),
    }
}
