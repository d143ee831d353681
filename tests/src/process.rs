//! Finding peer programs, and stopping the processes the harness started.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

/// How long a peer gets to exit after being asked before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The message every "peer not installed" panic ends with.
pub const INSTALL_HINT: &str = "run scripts/install-peers (as root) to install the test peers";

/// The full path of `program`, searched in `$PATH` and the sbin directories (Postfix lives in
/// `/usr/sbin`, which a non-login shell may not have in `$PATH`). Panics with [`INSTALL_HINT`] if absent.
pub fn require_program(program: &str) -> PathBuf {
    find_program(program).unwrap_or_else(|| panic!("`{program}` is not installed: {INSTALL_HINT}"))
}

/// The full path of `program`, if it is installed.
pub fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The directory holding the peer scripts (`tests/peers/`).
pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// The Python interpreter for aiosmtpd: `$MXSEND_PYTHON`, else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("MXSEND_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| require_program("python3"))
}

/// Whether `pid` names a process that has not exited. A zombie counts as exited: process 1 on these
/// machines does not always reap orphans, so `kill -0` alone would say "alive" forever.
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": comm may contain spaces and parentheses, the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z') | Some('X'))
}

/// Waits until `child` exits (reaping it), up to `timeout`; kills it if it is still running then.
pub fn wait_or_kill(child: &mut Child, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() >= deadline => break,
            Ok(None) => thread::sleep(Duration::from_millis(10)),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Kills `child` at once and reaps it.
pub fn kill_and_reap(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The contents of a log file for a panic message, or a note that it could not be read.
pub fn read_log(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

/// A temporary directory that the unprivileged users of the peers (`postfix`, `nobody`) can enter.
pub fn peer_tempdir(prefix: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path().display()));
    dir
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive() {
        assert!(is_alive(std::process::id()));
    }

    #[test]
    fn a_reaped_child_is_not_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }
}
