//! Reading messages back from a Maildir (`new/`), the form in which Postfix and aiosmtpd store them.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// How often [`wait_for_messages`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// The messages in `maildir/new/`, oldest first (by modification time, then name). Empty if the Maildir
/// does not exist yet (Postfix creates it at the first delivery).
pub fn messages(maildir: &Path) -> Vec<Vec<u8>> {
    files(&maildir.join("new"))
        .into_iter()
        .filter_map(|path| fs::read(path).ok())
        .collect()
}

/// Waits until `maildir/new/` holds at least `count` messages and returns them all, or `None` on timeout.
/// Maildir writers rename a finished file into `new/`, so a message seen here is complete.
pub fn wait_for_messages(maildir: &Path, count: usize, timeout: Duration) -> Option<Vec<Vec<u8>>> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = messages(maildir);
        if found.len() >= count {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// Regular files in `dir`, oldest first.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            meta.is_file().then(|| {
                (
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    entry.path(),
                )
            })
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, path)| path).collect()
}
