//! Loopback ports: picking free ones and waiting until a peer listens on one.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// How often the `wait_*` helpers look again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// A port on `ip` that was free a moment ago: bind port 0, read what the kernel chose, let it go.
///
/// Another process can take it before the peer binds it, so peers that start on such a port retry with a
/// fresh one when they fail with "address already in use".
pub fn free_port(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind((ip, 0))
        .unwrap_or_else(|e| panic!("cannot bind {ip}:0 to find a free port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("local_addr of {ip}:0: {e}"))
        .port()
}

/// `127.0.0.1` with a free port.
pub fn free_loopback_addr() -> SocketAddr {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    SocketAddr::new(ip, free_port(ip))
}

/// Waits until a TCP connection to `addr` succeeds. Returns whether it did within `timeout`.
///
/// This opens (and closes) a real connection, which the peer sees as a session; peers started by this
/// harness are instead watched with [`wait_for_listener`], which does not touch them.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if TcpStream::connect_timeout(&addr, left.clamp(POLL_INTERVAL, Duration::from_secs(1)))
            .is_ok()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Whether some socket on this machine is listening on `addr` (read from `/proc/net/tcp{,6}`).
pub fn is_listening(addr: SocketAddr) -> bool {
    !listening_inodes(addr).is_empty()
}

/// Whether the socket listening on `addr` belongs to process `root` or one of its descendants.
///
/// A peer started on a port from [`free_port`] may lose that port to another test's listener; "something
/// listens there" would then be true while the peer has failed to bind. Asking who holds the socket
/// tells the two apart.
pub fn is_listening_under(root: u32, addr: SocketAddr) -> bool {
    let inodes = listening_inodes(addr);
    if inodes.is_empty() {
        return false;
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let Ok(procs) = fs::read_dir("/proc") else {
        return false;
    };
    procs
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| descends_from(pid, root))
        .any(|pid| holds_any(pid, &wanted))
}

/// The inodes of the sockets in state LISTEN on exactly `addr`.
fn listening_inodes(addr: SocketAddr) -> Vec<u64> {
    let table = match addr.ip() {
        IpAddr::V4(_) => "/proc/net/tcp",
        IpAddr::V6(_) => "/proc/net/tcp6",
    };
    let Ok(text) = fs::read_to_string(table) else {
        return Vec::new();
    };
    // Lines: "sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode ...", addresses
    // as HEXIP:HEXPORT, state 0A = LISTEN.
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (fields.get(1)?, fields.get(3)?, fields.get(9)?);
            (*state == "0A" && parse_proc_addr(local) == Some(addr))
                .then(|| inode.parse().ok())
                .flatten()
        })
        .collect()
}

/// Whether `pid` is `root` or a descendant of it (following `PPid:` in `/proc/PID/status`).
fn descends_from(mut pid: u32, root: u32) -> bool {
    for _ in 0..64 {
        if pid == root {
            return true;
        }
        if pid <= 1 {
            return false;
        }
        let Ok(status) = fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        let Some(parent) = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse().ok())
        else {
            return false;
        };
        pid = parent;
    }
    false
}

/// Whether one of `pid`'s open descriptors is one of the `wanted` links (`socket:[INODE]`).
fn holds_any(pid: u32, wanted: &[String]) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(Result::ok).any(|fd| {
        fs::read_link(fd.path())
            .ok()
            .and_then(|target| target.to_str().map(|t| wanted.iter().any(|w| w == t)))
            .unwrap_or(false)
    })
}

/// Waits until something listens on `addr`, without connecting to it. Returns whether it did in time.
pub fn wait_for_listener(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !is_listening(addr) {
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL_INTERVAL);
    }
    true
}

/// Parses `0100007F:1F90` (the kernel prints the address as native-endian 32-bit words).
fn parse_proc_addr(field: &str) -> Option<SocketAddr> {
    let (ip_hex, port_hex) = field.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let ip = match ip_hex.len() {
        8 => IpAddr::V4(Ipv4Addr::from(
            u32::from_str_radix(ip_hex, 16).ok()?.to_ne_bytes(),
        )),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                let word = u32::from_str_radix(ip_hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_listener_and_stops_seeing_it_when_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(is_listening(addr));
        drop(listener);
        // A child being forked by a parallel test may hold the socket until it execs: allow a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while is_listening(addr) && Instant::now() < deadline {
            thread::sleep(POLL_INTERVAL);
        }
        assert!(!is_listening(addr));
    }

    #[test]
    fn tells_whose_listener_it_is() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(is_listening_under(std::process::id(), addr));
        // Process 1 is no descendant of this test; this test is none of a child's.
        let child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert!(!is_listening_under(child.id(), addr));
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }

    #[test]
    fn parses_kernel_loopback_notation() {
        let expected: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(parse_proc_addr("0100007F:1F90"), Some(expected));
        }
    }
}
