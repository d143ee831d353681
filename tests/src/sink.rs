//! Postfix's smtp-sink on loopback, with its fault flags: a fast server that can be told to
//! answer chosen commands with 4xx (`-r`) or 5xx (`-f`), to hang up without a reply (`-q`) or
//! to send 421 and hang up (`-Q`). See `man smtp-sink`.
//!
//! Each [`Sink`] is our own child process, killed and reaped on drop.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Where `smtp-sink` lives (Debian's postfix package puts it in /usr/sbin, often not on PATH).
const CANDIDATES: [&str; 2] = ["/usr/sbin/smtp-sink", "smtp-sink"];

/// How long a sink may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running smtp-sink.
pub struct Sink {
    child: Child,
    addr: SocketAddr,
}

impl Sink {
    /// A sink on 127.0.0.1 on a free port, with these extra flags (`["-f", "RCPT"]`, ...).
    pub fn start(flags: &[&str]) -> Sink {
        Sink::start_on(IpAddr::V4(Ipv4Addr::LOCALHOST), None, flags)
    }

    /// A sink on `ip`, on `port` or a free one.
    ///
    /// # Panics
    /// When smtp-sink is missing or does not start: the tests cannot run without it.
    pub fn start_on(ip: IpAddr, port: Option<u16>, flags: &[&str]) -> Sink {
        let binary = binary();
        for _ in 0..5 {
            let port = port.unwrap_or_else(|| free_port(ip));
            let addr = SocketAddr::new(ip, port);
            let mut command = Command::new(&binary);
            command.args(["-u", "nobody"]);
            command.args(flags);
            command
                .arg(addr.to_string())
                .arg("100")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
            let mut sink = Sink { child, addr };
            if sink.wait_until_listening() {
                return sink;
            }
        }
        panic!("smtp-sink did not start on {ip}");
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn wait_until_listening(&mut self) -> bool {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return true;
            }
            sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_absolute() && p.exists())
        .unwrap_or_else(|| PathBuf::from(CANDIDATES[1]))
}

/// A port free on `ip` right now.
pub fn free_port(ip: IpAddr) -> u16 {
    TcpListener::bind(SocketAddr::new(ip, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
}
