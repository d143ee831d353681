//! A DNSSEC-validating resolver on loopback for the DANE tests: NSD (authoritative) serving
//! zones signed at test time with ldns-signzone (`tests/peers/dnssec.sh`), behind unbound
//! holding their keys as trust anchors. Unsigned zones are served too, as insecure.
//!
//! Both run in the foreground as children of the test, in their own temporary directory,
//! on free ports of 127.0.0.1; dropping the [`DnssecResolver`] kills and reaps them.

use std::fs;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::{free_port, wait_for_listener};
use crate::process::{kill_and_reap, peer_tempdir, peers_dir, read_log, require_program};

/// How long NSD and unbound get to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A zone: its origin (`dane.test`) and its records after the SOA and NS, one per line,
/// relative to the origin (`mx IN A 127.0.0.1`).
#[derive(Clone, Debug)]
pub struct Zone {
    /// The origin, without the final dot.
    pub origin: String,
    /// The records.
    pub records: Vec<String>,
    /// Signed (secure) or not (insecure).
    pub signed: bool,
}

impl Zone {
    /// A zone whose MX is `mx.ORIGIN` at 127.0.0.1, with `_25._tcp.mx` TLSA `3 1 1 TLSA`
    /// (DANE-EE, the SHA-256 of a key: see [`spki_sha256`]).
    pub fn mx_with_tlsa(origin: &str, tlsa: &str, signed: bool) -> Zone {
        Zone {
            origin: origin.into(),
            records: vec![
                "@ IN MX 10 mx".into(),
                "mx IN A 127.0.0.1".into(),
                format!("_25._tcp.mx IN TLSA 3 1 1 {tlsa}"),
            ],
            signed,
        }
    }
}

/// A running NSD + unbound pair.
pub struct DnssecResolver {
    nsd: Child,
    unbound: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl DnssecResolver {
    /// Sign the signed zones, start NSD and unbound.
    ///
    /// # Panics
    /// When a program is missing (run scripts/install-peers) or a server does not start.
    pub fn start(zones: &[Zone]) -> DnssecResolver {
        for program in ["nsd", "unbound", "ldns-signzone", "ldns-keygen"] {
            require_program(program);
        }
        let dir = peer_tempdir("mxsend-dnssec-");
        for zone in zones {
            write_zone(dir.path(), zone);
        }
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (nsd_port, unbound_port) = (free_port(ip), free_port(ip));
        let output = Command::new("bash")
            .arg(peers_dir().join("dnssec.sh"))
            .arg(dir.path())
            .arg(nsd_port.to_string())
            .arg(unbound_port.to_string())
            .output()
            .expect("run tests/peers/dnssec.sh");
        assert!(
            output.status.success(),
            "dnssec.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let spawn = |program: &str, conf: &str| {
            Command::new(program)
                .args(["-d", "-c"])
                .arg(dir.path().join(conf))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
        };
        let nsd = spawn("nsd", "nsd.conf");
        let unbound = spawn("unbound", "unbound.conf");
        let addr = SocketAddr::new(ip, unbound_port);
        let mut resolver = DnssecResolver {
            nsd,
            unbound,
            addr,
            dir,
        };
        let nsd_addr = SocketAddr::new(ip, nsd_port);
        if !(wait_for_listener(nsd_addr, START_TIMEOUT) && wait_for_listener(addr, START_TIMEOUT)) {
            let logs = resolver.logs();
            resolver.stop();
            panic!("NSD or unbound did not start:\n{logs}");
        }
        resolver
    }

    /// Where unbound answers (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The servers' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "nsd:\n{}\nunbound:\n{}",
            read_log(&self.dir.path().join("nsd.log")),
            read_log(&self.dir.path().join("unbound.log"))
        )
    }

    fn stop(&mut self) {
        kill_and_reap(&mut self.unbound);
        kill_and_reap(&mut self.nsd);
    }
}

impl Drop for DnssecResolver {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_zone(dir: &Path, zone: &Zone) {
    let sub = dir.join(if zone.signed { "signed" } else { "unsigned" });
    fs::create_dir_all(&sub).expect("zone directory");
    let origin = &zone.origin;
    let mut text = format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.{origin}. hostmaster.{origin}. 1 3600 600 86400 300\n@ IN NS ns.{origin}.\nns IN A 127.0.0.1\n"
    );
    for record in &zone.records {
        text.push_str(record);
        text.push('\n');
    }
    fs::write(sub.join(format!("{origin}.zone")), text).expect("write the zone");
}

/// The TLSA `3 1 1` data (SHA-256 of the SubjectPublicKeyInfo) of a PEM certificate, in hex,
/// by the openssl CLI.
pub fn spki_sha256(cert: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r",
        cert.display()
    );
    let output = Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("run openssl");
    let text = String::from_utf8_lossy(&output.stdout);
    let hex = text
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(hex.len(), 64, "openssl gave {text:?}");
    hex
}
