//! How a long-running queue runner sleeps until the next entry is due and still notices a new
//! entry at once, without polling: a Unix datagram socket, `ROOT/wakeup`, that the runner
//! binds and waits on (with a timeout: the time until the next due entry), and that every
//! process that adds or flushes an entry sends one datagram to.
//!
//! Why a socket and not inotify: it needs nothing outside std (no inotify crate, no `unsafe`),
//! costs the submitter one `sendto` that fails harmlessly when no runner listens, and the
//! runner wakes only when something was queued, not on every file the queue writes itself.
//! An entry that arrives by other means (copied in by hand, or queued while the socket was
//! unreachable) is still found at the next rescan, which the runner bounds by
//! [`Wakeup::MAX_SLEEP`].

use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bound wake-up socket.
#[derive(Debug)]
pub struct Wakeup {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Wakeup {
    /// The longest a runner sleeps without rescanning the queue.
    pub const MAX_SLEEP: Duration = Duration::from_secs(5 * 60);

    /// The socket's path in the queue directory `root`.
    pub fn path(root: &Path) -> PathBuf {
        root.join("wakeup")
    }

    /// Bind the socket of the queue at `root`. A socket left by a runner that died is
    /// replaced; one a live runner holds is an error (`AddrInUse`).
    pub fn bind(root: &Path) -> io::Result<Wakeup> {
        let path = Wakeup::path(root);
        let socket = match UnixDatagram::bind(&path) {
            Ok(socket) => socket,
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                // Alive if something still receives on it.
                let probe = UnixDatagram::unbound()?;
                if probe.connect(&path).is_ok() {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!(
                            "another queue daemon is running on this queue ({} is in use)",
                            path.display()
                        ),
                    ));
                }
                std::fs::remove_file(&path)?;
                UnixDatagram::bind(&path)?
            }
            Err(e) => return Err(e),
        };
        Ok(Wakeup { socket, path })
    }

    /// Wait until a wake-up arrives or `timeout` passes (capped at [`Wakeup::MAX_SLEEP`]).
    /// Returns whether one arrived. Several wake-ups sent meanwhile count as one.
    pub fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let timeout = timeout.clamp(Duration::from_millis(1), Wakeup::MAX_SLEEP);
        self.socket.set_read_timeout(Some(timeout))?;
        let mut buf = [0u8; 16];
        let woken = match self.socket.recv(&mut buf) {
            Ok(_) => true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                false
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(e) => return Err(e),
        };
        // Drain what else came meanwhile.
        self.socket.set_nonblocking(true)?;
        while self.socket.recv(&mut buf).is_ok() {}
        self.socket.set_nonblocking(false)?;
        Ok(woken)
    }

    /// Wake the runner of the queue at `root`, if one waits (errors are ignored: without a
    /// runner there is nobody to tell).
    pub fn notify(root: &Path) {
        if let Ok(socket) = UnixDatagram::unbound() {
            let _ = socket.set_nonblocking(true);
            let _ = socket.send_to(b"!", Wakeup::path(root));
        }
    }
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
