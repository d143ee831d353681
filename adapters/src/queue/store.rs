//! Where queue entries live: the narrow [`Store`] interface, and [`DirStore`], the spool
//! directory that implements it.
//!
//! The interface is what a runner needs and nothing more (add an entry, list, lock one,
//! read it, save its state, remove it, move it aside), so another backend (a database shared
//! by several senders) could take the directory's place.
//!
//! # The directory
//!
//! ```text
//! ROOT/entries/ID/message   the message as accepted (never changed)
//! ROOT/entries/ID/state     the state record (JSON, replaced as a whole)
//! ROOT/tmp/                 entries being written, and finished ones being deleted (done-ID)
//! ROOT/corrupt/ID/          damaged entries, moved aside with a `reason` file; never deleted
//! ```
//!
//! Writes are crash-safe in nullmailer's order: write a temporary file, fsync it, rename it
//! into place, fsync the directory. A new entry is built complete under `tmp/` (message and
//! state, both fsync'd) and appears in `entries/` by one rename, so a reader sees all of an
//! entry or none of it. A state update replaces `state` by rename, so a crash leaves either
//! the old record or the new one.
//!
//! # Locking
//!
//! A runner holds an exclusive `flock(2)` on the entry's directory while it sends
//! ([`Store::try_lock`]; `std::fs::File::try_lock`), so two runners (cron and the daemon, two
//! crons) never send the same entry at once: the second one skips it. The kernel drops the
//! lock when the process dies, so a killed runner leaves no stale lock.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, Mode, OFlags};

use super::record::{valid_id, EntryRecord};
use super::QueueError;

/// A temporary entry older than this under `tmp/` was left by a process that died while
/// queueing (its caller saw the failure); it is moved aside rather than left to pile up.
pub const STALE_TMP_AGE: Duration = Duration::from_secs(3600);

/// The prefix under `tmp/` of finished entries being deleted.
const DONE_PREFIX: &str = "done-";

/// An entry as listed: its id, and its record or why it cannot be read.
#[derive(Debug)]
pub struct Listed {
    /// The entry's id.
    pub id: String,
    /// The record, or why it is damaged.
    pub record: Result<EntryRecord, QueueError>,
    /// Which saved state the record was read from, when the store can tell
    /// ([`Store::unchanged`]).
    pub version: Option<StateVersion>,
}

/// Which saved state record was read: a runner that locks a listed entry and finds the same
/// version need not read it again.
///
/// For [`DirStore`], the state file's inode, change time and length: every save writes a new
/// file and renames it into place, so another runner's save (which it makes under the lock)
/// changes the inode and the change time, even when a freed inode number is reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateVersion {
    inode: u64,
    changed_ns: i128,
    len: u64,
}

impl StateVersion {
    fn of(meta: &fs::Metadata) -> StateVersion {
        use std::os::unix::fs::MetadataExt;
        StateVersion {
            inode: meta.ino(),
            changed_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            len: meta.len(),
        }
    }

    #[allow(clippy::unnecessary_cast)] // the stat fields' types differ between targets
    fn of_stat(stat: &rustix::fs::Stat) -> StateVersion {
        StateVersion {
            inode: stat.st_ino as u64,
            changed_ns: i128::from(stat.st_ctime as i64) * 1_000_000_000
                + i128::from(stat.st_ctime_nsec as i64),
            len: u64::try_from(stat.st_size).unwrap_or(0),
        }
    }
}

/// The storage of a queue (module docs).
pub trait Store {
    /// Proof that this process holds an entry's lock; dropping it releases the lock.
    type Lock;

    /// Store a new entry: `record` and the message read from `message` (at most
    /// `record.message_size` octets are expected; the count read is what is stored and
    /// recorded). Either the whole entry is stored, or nothing.
    fn add(&self, record: &mut EntryRecord, message: &mut dyn Read) -> Result<(), QueueError>;

    /// Every entry, with its record or why it cannot be read (damaged entries are listed,
    /// not moved; see [`Store::move_aside`]).
    fn list(&self) -> Result<Vec<Listed>, QueueError>;

    /// Lock the entry for sending; `Ok(None)` when another runner holds it or it is gone.
    fn try_lock(&self, id: &str) -> Result<Option<Self::Lock>, QueueError>;

    /// Read the entry's record.
    fn read(&self, id: &str) -> Result<EntryRecord, QueueError>;

    /// Whether the locked entry's saved record is still the `version` listed, so that
    /// record can be used without reading it again. `false` when unsure.
    fn unchanged(&self, lock: &Self::Lock, version: StateVersion) -> bool {
        let _ = (lock, version);
        false
    }

    /// Open the locked entry's message, checking its length against the record.
    fn open_message(&self, lock: &Self::Lock, record: &EntryRecord) -> Result<File, QueueError>;

    /// The first octets of the message, up to `limit` (for a notification's copy of the
    /// original header).
    fn message_head(&self, id: &str, limit: usize) -> Result<Vec<u8>, QueueError>;

    /// Save the entry's record, durably, before returning.
    fn update(&self, lock: &Self::Lock, record: &EntryRecord) -> Result<(), QueueError>;

    /// Save the entry's record at once without waiting for the disk: it survives the
    /// process being killed, and survives a system crash once [`Store::update`] or
    /// [`Store::sync`] has run.
    fn stage(&self, lock: &Self::Lock, record: &EntryRecord) -> Result<(), QueueError>;

    /// Remove an entry that is done (every recipient delivered or failed and notified).
    /// Durable once [`Store::sync`] returns.
    fn remove(&self, lock: Self::Lock) -> Result<(), QueueError>;

    /// Make every [`Store::remove`] so far durable.
    fn sync(&self) -> Result<(), QueueError>;

    /// A pass over the queue has ended: housekeeping that would slow the sending (for
    /// [`DirStore`], deleting finished entries' files) may start now, in the background.
    fn housekeep(&self) {}

    /// Wait up to `limit` for background housekeeping to end (a process about to exit).
    fn finish_housekeeping(&self, limit: Duration) {
        let _ = limit;
    }

    /// Move a damaged entry out of the queue, with the reason, without deleting anything.
    /// Returns where it went.
    fn move_aside(&self, id: &str, reason: &str) -> Result<String, QueueError>;

    /// Check that outcomes can be saved now (space, permissions, a read-only file system)
    /// before sending: a message sent whose outcome cannot be recorded would be sent again.
    fn check_writable(&self) -> Result<(), QueueError>;
}

/// What [`DirStore::check_writable`] writes: more than a state record takes.
const PROBE_SIZE: usize = 16 * 1024;

/// The spool directory (module docs).
#[derive(Clone, Debug)]
pub struct DirStore {
    root: PathBuf,
    /// `entries/` and `tmp/`, kept open so that each entry's files are looked up from them
    /// (`openat`), one or two path components instead of the whole path; opened again at
    /// every [`Store::list`], so a queue directory replaced under a long-running daemon is
    /// picked up at its next pass.
    dirs: Arc<Mutex<Arc<Dirs>>>,
    /// Finished entries renamed under `tmp/`, handed to the [`Reaper`] at the next
    /// [`Store::sync`].
    done: Arc<Mutex<Vec<PathBuf>>>,
    reaper: Arc<Reaper>,
}

/// The open directories of a [`DirStore`].
#[derive(Debug)]
struct Dirs {
    entries: OwnedFd,
    tmp: OwnedFd,
}

impl Dirs {
    fn open(root: &Path) -> Result<Dirs, QueueError> {
        let open = |sub: &str| {
            let path = root.join(sub);
            rustix::fs::open(
                &path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| QueueError::io("open", &path, e.into()))
        };
        Ok(Dirs {
            entries: open("entries")?,
            tmp: open("tmp")?,
        })
    }
}

/// Open `name` under `dir` for reading (a directory too).
fn open_at(dir: impl AsFd, name: &str) -> io::Result<File> {
    rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map(File::from)
        .map_err(io::Error::from)
}

/// Deletes finished entries (`tmp/done-ID`) on a thread of its own.
///
/// A delivered entry leaves the queue by one rename; deleting its files is only housekeeping,
/// and on some file systems it is slow: with ext4's `discard` option every freed extent waits
/// for the device (about 8 ms per entry on the disk BENCHMARKS.md measured), which inline
/// would cost a batch of 200 more than a second, and even on a thread of their own they land
/// in the journal commit that each batch's directory fsync waits for. So they wait for the end
/// of the pass ([`Store::housekeep`]) and then run in the background at the lowest CPU
/// priority; `mxsend queue run` waits for them before it exits
/// ([`Store::finish_housekeeping`]). If the process exits first, the next listing finds the
/// `done-` directories and they go with that pass's; nothing under `entries/` depends on them.
#[derive(Debug, Default)]
struct Reaper {
    /// The worker's queue, started with the first deletion; `None` until then (or when a
    /// thread could not be started: then deletions happen inline).
    sender: Mutex<Option<mpsc::Sender<PathBuf>>>,
    /// Paths handed over and not yet deleted, so a listing does not hand them over twice.
    pending: Arc<Mutex<HashSet<PathBuf>>>,
}

impl Reaper {
    /// Whether deletions handed over are still under way.
    fn busy(&self) -> bool {
        self.pending.lock().map(|p| !p.is_empty()).unwrap_or(false)
    }

    /// Delete `paths` soon, on the worker.
    fn delete(&self, paths: Vec<PathBuf>) {
        let Ok(mut sender) = self.sender.lock() else {
            paths.iter().for_each(|p| remove_done(p));
            return;
        };
        if sender.is_none() {
            let (tx, rx) = mpsc::channel::<PathBuf>();
            let pending = Arc::clone(&self.pending);
            let started = std::thread::Builder::new()
                .name("mxsend-queue-reaper".into())
                .spawn(move || {
                    lower_own_priority();
                    // Ends when the last clone of the store is dropped (the sender with it).
                    for path in rx {
                        remove_done(&path);
                        if let Ok(mut pending) = pending.lock() {
                            pending.remove(&path);
                        }
                    }
                });
            if started.is_ok() {
                *sender = Some(tx);
            }
        }
        for path in paths {
            let fresh = self
                .pending
                .lock()
                .map(|mut p| p.insert(path.clone()))
                .unwrap_or(true);
            if !fresh {
                continue;
            }
            match sender.as_ref() {
                Some(tx) => {
                    if let Err(mpsc::SendError(path)) = tx.send(path) {
                        remove_done(&path);
                    }
                }
                None => remove_done(&path),
            }
        }
    }
}

/// Give the calling thread the lowest CPU priority (nice 19), so the reaper's housekeeping
/// runs when the sending does not need the processor. Linux only: elsewhere
/// `setpriority(PRIO_PROCESS)` would name the whole process, which must keep its priority.
fn lower_own_priority() {
    #[cfg(target_os = "linux")]
    {
        // Best effort: a refusal leaves the thread at its priority.
        let _ = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19);
    }
}

/// Delete a finished entry's directory; a failure leaves it for the next listing.
fn remove_done(path: &Path) {
    let _ = fs::remove_dir_all(path);
}

/// The lock on one entry of a [`DirStore`].
#[derive(Debug)]
pub struct DirLock {
    id: String,
    dir: File,
    /// The state record's version when the lock was taken.
    state: StateVersion,
}

impl DirStore {
    /// Open (and create, mode 0700, when missing) the queue at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<DirStore, QueueError> {
        let root = root.into();
        for sub in ["", "entries", "tmp", "corrupt"] {
            let dir = root.join(sub);
            create_private_dir(&dir)
                .map_err(|e| QueueError::io("create the queue directory", &dir, e))?;
        }
        let dirs = Dirs::open(&root)?;
        Ok(DirStore {
            root,
            dirs: Arc::new(Mutex::new(Arc::new(dirs))),
            done: Arc::default(),
            reaper: Arc::default(),
        })
    }

    /// The open directories.
    fn dirs(&self) -> Arc<Dirs> {
        match self.dirs.lock() {
            Ok(dirs) => Arc::clone(&dirs),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Open the directories again (a pass starts).
    fn reopen_dirs(&self) -> Result<Arc<Dirs>, QueueError> {
        let fresh = Arc::new(Dirs::open(&self.root)?);
        match self.dirs.lock() {
            Ok(mut dirs) => *dirs = Arc::clone(&fresh),
            Err(poisoned) => *poisoned.into_inner() = Arc::clone(&fresh),
        }
        Ok(fresh)
    }

    /// Write `record` to the locked entry's `state.tmp` and rename it over `state`; with
    /// `durable`, fsync the file first and the entry's directory after (a staged state
    /// reaches the disk with the batch's [`Store::sync`]).
    fn replace_state(
        &self,
        lock: &DirLock,
        record: &EntryRecord,
        durable: bool,
    ) -> Result<(), QueueError> {
        let path = |name: &str| self.entries().join(&lock.id).join(name);
        let mut file = rustix::fs::openat(
            &lock.dir,
            "state.tmp",
            OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map(File::from)
        .map_err(|e| QueueError::io("create", &path("state.tmp"), e.into()))?;
        file.write_all(&record.encode())
            .map_err(|e| QueueError::io("write", &path("state.tmp"), e))?;
        if durable {
            file.sync_all()
                .map_err(|e| QueueError::io("fsync", &path("state.tmp"), e))?;
        }
        drop(file);
        rustix::fs::renameat(&lock.dir, "state.tmp", &lock.dir, "state")
            .map_err(|e| QueueError::io("rename into", &path("state"), e.into()))?;
        if durable {
            lock.dir
                .sync_all()
                .map_err(|e| QueueError::io("fsync", &self.entries().join(&lock.id), e))?;
        }
        Ok(())
    }

    /// The queue's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entries(&self) -> PathBuf {
        self.root.join("entries")
    }

    fn entry_dir(&self, id: &str) -> Result<PathBuf, QueueError> {
        if !valid_id(id) {
            return Err(QueueError::NoSuchEntry(id.to_string()));
        }
        Ok(self.entries().join(id))
    }

    /// The entry's record and the version of the state file it came from.
    fn read_versioned(&self, id: &str) -> (Result<EntryRecord, QueueError>, Option<StateVersion>) {
        self.read_versioned_in(&self.dirs(), id)
    }

    /// [`DirStore::read_versioned`] with the directories at hand.
    fn read_versioned_in(
        &self,
        dirs: &Dirs,
        id: &str,
    ) -> (Result<EntryRecord, QueueError>, Option<StateVersion>) {
        if !valid_id(id) {
            return (Err(QueueError::NoSuchEntry(id.to_string())), None);
        }
        let name = format!("{id}/state");
        let read = open_at(&dirs.entries, &name).and_then(|mut file| {
            let meta = file.metadata()?;
            let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
            file.read_to_end(&mut bytes)?;
            Ok((bytes, StateVersion::of(&meta)))
        });
        let (bytes, version) = match read {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let exists = rustix::fs::statat(&dirs.entries, id, AtFlags::empty()).is_ok();
                let error = match exists {
                    true => QueueError::Damaged {
                        id: id.to_string(),
                        why: "the entry has no state record".into(),
                    },
                    false => QueueError::NoSuchEntry(id.to_string()),
                };
                return (Err(error), None);
            }
            Err(e) => {
                let path = self.entries().join(&name);
                return (Err(QueueError::io("read", &path, e)), None);
            }
        };
        let record = EntryRecord::decode(id, &bytes).map_err(|e| QueueError::Damaged {
            id: id.to_string(),
            why: e.to_string(),
        });
        (record, Some(version))
    }

    /// Temporary entries left by processes that died while queueing, moved aside.
    fn sweep_stale_tmp(&self) {
        let Ok(dir) = fs::read_dir(self.root.join("tmp")) else {
            return;
        };
        let mut done = Vec::new();
        for item in dir.flatten() {
            let name = item.file_name().to_string_lossy().into_owned();
            if name.starts_with(DONE_PREFIX) {
                // A finished entry whose deletion is under way or was interrupted.
                done.push(item.path());
                continue;
            }
            let old = item
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age > STALE_TMP_AGE);
            if old {
                let target = self.root.join("corrupt").join(format!("tmp-{name}"));
                if fs::rename(item.path(), &target).is_ok() {
                    let _ = fs::write(
                        target.join("reason"),
                        "left under tmp/ by a process that died while queueing it\n",
                    );
                }
            }
        }
        if let Ok(mut list) = self.done.lock() {
            list.extend(done);
        }
    }
}

impl Store for DirStore {
    type Lock = DirLock;

    fn add(&self, record: &mut EntryRecord, message: &mut dyn Read) -> Result<(), QueueError> {
        let tmp = self.root.join("tmp").join(&record.id);
        let result = (|| {
            fs::create_dir(&tmp).map_err(|e| QueueError::io("create", &tmp, e))?;
            let path = tmp.join("message");
            let mut file = File::create(&path).map_err(|e| QueueError::io("create", &path, e))?;
            let size =
                io::copy(message, &mut file).map_err(|e| QueueError::io("write", &path, e))?;
            file.sync_all()
                .map_err(|e| QueueError::io("fsync", &path, e))?;
            record.message_size = size;
            write_synced(&tmp.join("state"), &record.encode())?;
            sync_dir(&tmp)?;
            let target = self.entries().join(&record.id);
            fs::rename(&tmp, &target).map_err(|e| QueueError::io("rename into", &target, e))?;
            sync_dir(&self.entries())
        })();
        if result.is_err() {
            // Nothing of it is in the queue; the caller reports the failure.
            let _ = fs::remove_dir_all(&tmp);
        }
        result
    }

    fn list(&self) -> Result<Vec<Listed>, QueueError> {
        let dirs = self.reopen_dirs()?;
        self.sweep_stale_tmp();
        let entries = self.entries();
        let dir = fs::read_dir(&entries).map_err(|e| QueueError::io("read", &entries, e))?;
        let mut listed = Vec::new();
        for item in dir {
            let item = item.map_err(|e| QueueError::io("read", &entries, e))?;
            let id = item.file_name().to_string_lossy().into_owned();
            if !valid_id(&id) {
                listed.push(Listed {
                    record: Err(QueueError::Damaged {
                        id: id.clone(),
                        why: "not a queue entry (bad name)".into(),
                    }),
                    id,
                    version: None,
                });
                continue;
            }
            let (record, version) = self.read_versioned_in(&dirs, &id);
            // Removed by another runner between read_dir and now: not an entry any more.
            if matches!(record, Err(QueueError::NoSuchEntry(_))) {
                continue;
            }
            listed.push(Listed {
                id,
                record,
                version,
            });
        }
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(listed)
    }

    fn try_lock(&self, id: &str) -> Result<Option<DirLock>, QueueError> {
        let path = self.entry_dir(id)?;
        let dir = match open_at(&self.dirs().entries, id) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(QueueError::io("open", &path, e)),
        };
        match dir.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Ok(None),
            Err(fs::TryLockError::Error(e)) => return Err(QueueError::io("lock", &path, e)),
        }
        // Removed by the runner that held the lock before us.
        let Ok(state) = rustix::fs::statat(&dir, "state", AtFlags::empty()) else {
            return Ok(None);
        };
        Ok(Some(DirLock {
            id: id.to_string(),
            dir,
            state: StateVersion::of_stat(&state),
        }))
    }

    fn read(&self, id: &str) -> Result<EntryRecord, QueueError> {
        self.read_versioned(id).0
    }

    fn unchanged(&self, lock: &DirLock, version: StateVersion) -> bool {
        lock.state == version
    }

    fn open_message(&self, lock: &DirLock, record: &EntryRecord) -> Result<File, QueueError> {
        let path = || self.entries().join(&lock.id).join("message");
        let file = match open_at(&lock.dir, "message") {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(QueueError::Damaged {
                    id: record.id.clone(),
                    why: "the message file is missing".into(),
                })
            }
            Err(e) => return Err(QueueError::io("open", &path(), e)),
        };
        let len = file
            .metadata()
            .map_err(|e| QueueError::io("read", &path(), e))?
            .len();
        if len != record.message_size {
            return Err(QueueError::Damaged {
                id: record.id.clone(),
                why: format!(
                    "the message file has {len} octets; {} were queued (truncated or altered)",
                    record.message_size
                ),
            });
        }
        Ok(file)
    }

    fn message_head(&self, id: &str, limit: usize) -> Result<Vec<u8>, QueueError> {
        let path = self.entry_dir(id)?.join("message");
        let file = File::open(&path).map_err(|e| QueueError::io("open", &path, e))?;
        let mut head = Vec::new();
        file.take(limit as u64)
            .read_to_end(&mut head)
            .map_err(|e| QueueError::io("read", &path, e))?;
        Ok(head)
    }

    fn update(&self, lock: &DirLock, record: &EntryRecord) -> Result<(), QueueError> {
        self.replace_state(lock, record, true)
    }

    fn stage(&self, lock: &DirLock, record: &EntryRecord) -> Result<(), QueueError> {
        self.replace_state(lock, record, false)
    }

    fn remove(&self, lock: DirLock) -> Result<(), QueueError> {
        let dir = self.entry_dir(&lock.id)?;
        let dirs = self.dirs();
        // One rename takes the entry out of the queue (a crash cannot leave half an entry
        // behind); what is under tmp/done-* is deleted now or by the next listing.
        let name = format!("{DONE_PREFIX}{}", lock.id);
        rustix::fs::renameat(&dirs.entries, lock.id.as_str(), &dirs.tmp, name.as_str())
            .map_err(|e| QueueError::io("remove", &dir, e.into()))?;
        drop(lock);
        let done = self.root.join("tmp").join(name);
        match self.done.lock() {
            Ok(mut list) => list.push(done),
            Err(_) => remove_done(&done),
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), QueueError> {
        sync_dir(&self.entries())
    }

    fn housekeep(&self) {
        let done = self.done.lock().map(|mut l| std::mem::take(&mut *l));
        self.reaper.delete(done.unwrap_or_default());
    }

    fn finish_housekeeping(&self, limit: Duration) {
        let deadline = std::time::Instant::now() + limit;
        while self.reaper.busy() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn move_aside(&self, id: &str, reason: &str) -> Result<String, QueueError> {
        let from = self.entries().join(id);
        // A damaged name may hold anything: the target name is made safe.
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .take(super::record::MAX_ID_LEN)
            .collect();
        let corrupt = self.root.join("corrupt");
        let mut target = corrupt.join(&safe);
        let mut n = 1;
        while target.exists() {
            target = corrupt.join(format!("{safe}-{n}"));
            n += 1;
        }
        fs::rename(&from, &target).map_err(|e| QueueError::io("move aside", &from, e))?;
        let _ = sync_dir(&self.entries());
        if target.is_dir() {
            let _ = fs::write(target.join("reason"), format!("{reason}\n"));
        }
        Ok(target.display().to_string())
    }

    fn check_writable(&self) -> Result<(), QueueError> {
        let path = self.root.join("tmp").join(format!(
            "probe-{}-{:08x}",
            std::process::id(),
            fastrand::u32(..)
        ));
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&[0u8; PROBE_SIZE]).and_then(|()| f.flush()));
        let _ = fs::remove_file(&path);
        result.map_err(|e| QueueError::io("write to the queue (nothing was sent)", &path, e))
    }
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(path)
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write `bytes` to a new file at `path` and fsync it.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), QueueError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| QueueError::io("create", path, e))?;
    file.write_all(bytes)
        .map_err(|e| QueueError::io("write", path, e))?;
    file.sync_all()
        .map_err(|e| QueueError::io("fsync", path, e))
}

/// fsync a directory, so the renames and removals in it are durable.
fn sync_dir(path: &Path) -> Result<(), QueueError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| QueueError::io("fsync", path, e))
}
