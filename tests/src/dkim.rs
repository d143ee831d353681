//! Two independent DKIM verifiers, run on a message file with keys fetched from the test
//! dnsmasq (never the system resolver): Python's dkimpy (`peers/dkimpy_verify.py`, dnspython
//! pointed at the dnsmasq) and OpenDKIM (`opendkim -t` in test mode, its libunbound resolver
//! configured to forward everything to the dnsmasq port: `ResolverConfiguration`, with
//! `do-not-query-localhost: no` and the `test.` zone freed from unbound's local default).
//!
//! Both installed by scripts/install-peers (pip dkimpy, pynacl, dnspython; Debian opendkim).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One signature's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// `s=`.
    pub selector: String,
    /// Whether the verifier said pass.
    pub pass: bool,
}

fn temp_dir() -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "mxsend-dkim-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// dkimpy's verdict on each signature of the message in `path`.
pub fn dkimpy(path: &Path, dns: SocketAddr) -> Vec<Verdict> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/dkimpy_verify.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(dns.ip().to_string())
        .arg(dns.port().to_string())
        .arg(path)
        .output()
        .expect("python3 must be on the PATH (scripts/install-peers)");
    assert!(
        output.status.success(),
        "dkimpy_verify.py failed (run scripts/install-peers): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON from dkimpy_verify.py");
    report["results"]
        .as_array()
        .map(|results| {
            results
                .iter()
                .map(|r| Verdict {
                    selector: r["s"].as_str().unwrap_or_default().to_string(),
                    pass: r["ok"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn opendkim_binary() -> &'static str {
    ["/usr/sbin/opendkim", "opendkim"]
        .into_iter()
        .find(|b| Command::new(b).arg("-V").output().is_ok())
        .expect("opendkim is not installed: run scripts/install-peers")
}

/// OpenDKIM's verdict on each signature of the message in `path`, from the
/// Authentication-Results it would add (`dkim=pass ... header.s=SEL`), with its output.
pub fn opendkim(path: &Path, dns: SocketAddr) -> (Vec<Verdict>, String) {
    let dir = temp_dir();
    let unbound = dir.join("unbound.conf");
    fs::write(
        &unbound,
        format!(
            "server:\n  do-not-query-localhost: no\n  local-zone: \"test.\" nodefault\n\
             forward-zone:\n  name: \".\"\n  forward-addr: {}@{}\n",
            dns.ip(),
            dns.port()
        ),
    )
    .expect("write unbound.conf");
    let conf = dir.join("opendkim.conf");
    fs::write(
        &conf,
        format!(
            "Mode v\nResolverConfiguration {}\nAlwaysAddARHeader yes\n",
            unbound.display()
        ),
    )
    .expect("write opendkim.conf");
    let output = Command::new(opendkim_binary())
        .arg("-x")
        .arg(&conf)
        .arg("-vv")
        .arg("-t")
        .arg(path)
        .output()
        .expect("run opendkim -t");
    let _ = fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts = text
        .split("dkim=")
        .skip(1)
        .filter_map(|part| {
            let result = part.split_whitespace().next()?;
            let selector = part
                .split("header.s=")
                .nth(1)?
                .split(|c: char| c.is_whitespace() || c == ';')
                .next()?;
            Some(Verdict {
                selector: selector.to_string(),
                pass: result == "pass",
            })
        })
        .collect();
    (verdicts, text)
}

/// Assert both verifiers pass exactly the signatures with `selectors` in the message at
/// `path`.
pub fn assert_verifies(path: &Path, dns: SocketAddr, selectors: &[&str]) {
    let mut expected: Vec<Verdict> = selectors
        .iter()
        .map(|s| Verdict {
            selector: s.to_string(),
            pass: true,
        })
        .collect();
    expected.sort_by(|a, b| a.selector.cmp(&b.selector));
    let mut python = dkimpy(path, dns);
    python.sort_by(|a, b| a.selector.cmp(&b.selector));
    assert_eq!(python, expected, "dkimpy on {}", path.display());
    let (mut open, text) = opendkim(path, dns);
    open.sort_by(|a, b| a.selector.cmp(&b.selector));
    assert_eq!(open, expected, "opendkim on {}:\n{text}", path.display());
}
