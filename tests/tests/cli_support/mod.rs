//! Shared by the `cli_*` end-to-end tests: the built `mxsend` binary, a scratch directory and
//! a listener that proves no connection was made.
//!
//! The binary belongs to another package (`mxsend-cli`), so cargo does not build it for this
//! one's tests; [`mxsend`] builds it once per test binary with the same cargo (a no-op when
//! it is up to date) and runs it with a clean environment: no user configuration, no
//! `MXSEND_CONFIG`, the system resolver never asked (every test passes `--dns` or uses
//! address literals and relays on loopback).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The path of the built binary.
pub fn binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut command = Command::new(cargo);
        // What cargo set for this test (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...) must not reach
        // the nested build: build scripts track such variables, and seeing them change would
        // rebuild half the dependency tree for every test binary.
        for (name, _) in std::env::vars_os() {
            let keep = ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_BUILD_JOBS"];
            if let Some(name) = name.to_str() {
                if name.starts_with("CARGO_") && !keep.contains(&name) {
                    command.env_remove(name);
                }
            }
        }
        let status = command
            .args([
                "build",
                "--quiet",
                "-p",
                "mxsend-cli",
                "--bin",
                "mxsend",
                "--manifest-path",
            ])
            .arg(&manifest)
            .status()
            .expect("run cargo to build mxsend");
        assert!(status.success(), "cargo build -p mxsend-cli failed");
        // tests/target/debug/deps/cli_x-HASH -> target/debug/mxsend
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target/debug directory");
        let binary = dir.join("mxsend");
        assert!(binary.exists(), "{} was not built", binary.display());
        binary
    })
}

/// `mxsend` with no user configuration: HOME and XDG_CONFIG_HOME point at an empty
/// directory, MXSEND_CONFIG is unset.
pub fn mxsend(home: &Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(binary());
    command
        .env_remove("MXSEND_CONFIG")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        // What sendmail mode queues stays in the scratch home, never in /var/spool/mxsend.
        .env("MXSEND_QUEUE_DIR", home.join("queue"))
        .timeout(std::time::Duration::from_secs(60));
    command
}

/// A scratch directory, deleted on drop.
pub fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// A TCP listener on loopback that nobody should connect to.
pub struct Tripwire {
    listener: TcpListener,
}

impl Tripwire {
    /// Listen on a free port of 127.0.0.1.
    pub fn new() -> Tripwire {
        Tripwire::on("127.0.0.1")
    }

    /// Listen on a free port of this loopback address (any of 127.0.0.0/8 works on Linux).
    pub fn on(ip: &str) -> Tripwire {
        let listener = TcpListener::bind((ip, 0)).expect("bind a loopback port");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        Tripwire { listener }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("listener address")
    }

    /// `HOST:PORT` for `--server`.
    pub fn server(&self) -> String {
        self.addr().to_string()
    }

    /// Panic if anyone connected.
    pub fn assert_untouched(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("a connection was made from {peer}"),
            Err(e) => panic!("checking the listener: {e}"),
        }
    }
}

/// Write `text` to `dir/name` and return the path.
pub fn file(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a test file");
    path
}

/// A TCP server on loopback that accepts every connection and never says a word (a hung
/// server, or a TLS port spoken to in plaintext waiting for a ClientHello).
pub struct Silent {
    addr: SocketAddr,
    /// The connections accepted so far, held open until the server is dropped.
    accepted: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Silent {
    /// Listen on a free port of this loopback address.
    pub fn on(ip: &str) -> Silent {
        let listener = TcpListener::bind((ip, 0)).expect("bind a loopback port");
        let addr = listener.local_addr().expect("listener address");
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = std::sync::Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Ok(mut list) = held.lock() {
                    list.push(stream);
                }
            }
        });
        Silent { addr, accepted }
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.accepted.lock().map_or(0, |list| list.len())
    }
}
