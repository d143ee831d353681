//! A real HTTPS server for MTA-STS policies (`tests/peers/mta_sts_server.py`: python's
//! http.server behind its ssl module), on a free port of 127.0.0.1, serving the test PKI's
//! `mta-sts.sts.test` certificate. Stopped (and reaped) on drop, or by [`PolicyServer::stop`].

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::pki::TestPki;
use crate::process::{kill_and_reap, peer_tempdir, peers_dir, python};

/// How long the server gets to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A running policy server.
pub struct PolicyServer {
    child: Option<Child>,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl PolicyServer {
    /// Serve `policy` as `/.well-known/mta-sts.txt`.
    ///
    /// # Panics
    /// When python3 is missing or the server does not start.
    pub fn start(pki: &TestPki, policy: &str) -> PolicyServer {
        let dir = peer_tempdir("mxsend-mta-sts-");
        PolicyServer::write_policy_in(dir.path(), policy);
        let script = peers_dir().join("mta_sts_server.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg("--cert")
            .arg(&pki.mta_sts.cert)
            .arg("--key")
            .arg(&pki.mta_sts.key)
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let port: u16 = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line.trim().parse().unwrap_or(0),
            Err(_) => 0,
        };
        if port == 0 {
            kill_and_reap(&mut child);
            panic!("the MTA-STS policy server did not start");
        }
        PolicyServer {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        }
    }

    fn write_policy_in(dir: &Path, policy: &str) {
        let well_known = dir.join(".well-known");
        fs::create_dir_all(&well_known).expect("create .well-known");
        // Written aside and renamed, so a request never sees half a policy.
        let part = well_known.join("mta-sts.txt.part");
        fs::write(&part, policy).expect("write the policy");
        fs::rename(&part, well_known.join("mta-sts.txt")).expect("install the policy");
    }

    /// Serve `policy` from now on.
    pub fn set_policy(&self, policy: &str) {
        PolicyServer::write_policy_in(self.dir.path(), policy);
    }

    /// Answer every request with a 301 redirect to `target`.
    pub fn redirect_to(&self, target: &str) {
        fs::write(self.dir.path().join("redirect"), target).expect("write the redirect");
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many requests it has had.
    pub fn requests(&self) -> usize {
        fs::read_to_string(self.dir.path().join("requests.log"))
            .map(|log| log.lines().count())
            .unwrap_or(0)
    }

    /// Stop serving (the port then refuses connections).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.stop();
    }
}
