//! Bad input and a hostile file system: a truncated entry, an entry with a garbage state
//! record, a queue directory that cannot be written (a read-only bind mount: as root,
//! permissions would not stop the writes) and a full disk (a small tmpfs). Each gives a clear
//! error; nothing is lost (a message is either queued or its caller saw exit 75); the rest
//! of the queue still runs.

mod cli_support;
mod queue_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mxsend_tests::aiosmtpd::{Aiosmtpd, AiosmtpdOptions};
use mxsend_tests::free_loopback_addr;
use queue_support::{count_marker, message, text, Spool};

const SCHEDULE: &str = "min_backoff = \"1s\"\nmax_backoff = \"1s\"";

/// A mount, undone on drop.
struct Mount(PathBuf);

impl Mount {
    fn run(args: &[&str], what: &str) {
        let out = Command::new("mount")
            .args(args)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "{what} failed (these tests need root and mount(8)): {}",
            text(&out.stderr)
        );
    }

    fn tmpfs(dir: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(dir).unwrap();
        let opts = format!("size={size},mode=0700");
        Mount::run(
            &["-t", "tmpfs", "-o", &opts, "tmpfs", dir.to_str().unwrap()],
            "mounting a tmpfs",
        );
        Mount(dir.to_path_buf())
    }

    fn read_only(dir: &Path) -> Mount {
        let d = dir.to_str().unwrap();
        Mount::run(&["--bind", d, d], "a bind mount");
        let mount = Mount(dir.to_path_buf());
        Mount::run(&["-o", "remount,bind,ro", d], "remounting read-only");
        mount
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn entry_ids(spool: &Spool) -> Vec<String> {
    spool
        .list()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_truncated_entry_and_a_garbage_state_are_moved_aside_and_the_rest_is_delivered() {
    let server = Aiosmtpd::start(AiosmtpdOptions::default());
    let spool = Spool::new(server.addr(), SCHEDULE);
    for marker in ["truncated", "garbage", "good"] {
        let out = spool.submit(
            &["-odq", "-t", "-i"],
            &message("ann@example.test", "bob@example.test", marker),
        );
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let ids = entry_ids(&spool);
    assert_eq!(ids.len(), 3);
    let entries = spool.queue.join("entries");
    let truncated = entries.join(&ids[0]).join("message");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(entries.join(&ids[1]).join("state"), b"\x00garbage{{").unwrap();

    let out = spool.queue(&["run"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("queue entry {} moved aside", ids[0]))
            && stderr.contains("truncated"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("queue entry {} moved aside", ids[1]))
            && stderr.contains("does not parse"),
        "{stderr}"
    );
    let messages = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(count_marker(&messages, "good"), 1);
    assert!(spool.list().is_empty());
    // Nothing was deleted: both are in corrupt/ with their message and a reason.
    let corrupt = spool.corrupt();
    assert_eq!(corrupt.len(), 2, "{corrupt:?}");
    for dir in &corrupt {
        assert!(dir.join("message").exists() && dir.join("reason").exists());
    }
    assert_eq!(
        std::fs::read(corrupt[0].join("message")).unwrap().len(),
        bytes.len() / 2
    );
}

#[test]
fn an_unwritable_queue_directory_gives_exit_75_and_loses_nothing() {
    let addr = free_loopback_addr();
    let spool = Spool::new(addr, SCHEDULE);
    // Queued while the directory is writable.
    let out = spool.submit(
        &["-odq", "-t", "-i"],
        &message("ann@example.test", "bob@example.test", "queued-before"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let read_only = Mount::read_only(&spool.queue);

    // The server is down and the message cannot be stored: the caller keeps it (75).
    let out = spool.submit(
        &["-t", "-i"],
        &message("ann@example.test", "bob@example.test", "not-queued"),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("could not be queued"), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    let out = spool.submit(
        &["-odq", "-t"],
        &message("ann@example.test", "bob@example.test", "x"),
    );
    assert_eq!(out.status.code(), Some(75), "{}", text(&out.stderr));

    // The server is up, but an outcome could not be recorded: nothing is sent.
    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    let out = spool.queue(&["run"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("Read-only file system"), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.messages().is_empty());

    drop(read_only);
    spool.run_until_empty(Duration::from_secs(20));
    let messages = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(count_marker(&messages, "queued-before"), 1);
    assert_eq!(messages.len(), 1);
}

#[test]
fn a_full_disk_gives_exit_75_leaves_no_partial_entry_and_the_queue_runs_once_there_is_room() {
    let addr = free_loopback_addr();
    let home = cli_support::scratch();
    let queue = home.path().join("queue");
    let _tmpfs = Mount::tmpfs(&queue, "512k");
    let spool = Spool::with_queue_dir(home, queue.clone(), addr, SCHEDULE);
    let out = spool.submit(
        &["-odq", "-t", "-i"],
        &message("ann@example.test", "bob@example.test", "queued-before"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // Fill the disk.
    let filler = queue.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
    }
    // 64 KiB in lines of 76 octets (a line over 998 would be refused before queueing).
    let big_body = format!("{}\n", "x".repeat(76)).repeat(850);
    let out = spool.submit(
        &["-t", "-i"],
        &format!(
            "{}{big_body}\n",
            message("ann@example.test", "bob@example.test", "not-queued")
        ),
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(queue.join("tmp")).unwrap().count(),
        0,
        "a partial entry was left"
    );
    assert_eq!(spool.list().len(), 1);

    let server = Aiosmtpd::start(AiosmtpdOptions {
        addr: Some(addr),
        ..AiosmtpdOptions::default()
    });
    let out = spool.queue(&["run"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.messages().is_empty());

    std::fs::remove_file(&filler).unwrap();
    spool.run_until_empty(Duration::from_secs(20));
    let messages = server.wait_for_messages(1, Duration::from_secs(10));
    assert_eq!(count_marker(&messages, "queued-before"), 1);
    assert_eq!(messages.len(), 1);
}
