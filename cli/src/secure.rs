//! The command's secure-delivery flags: MTA-STS for MX delivery (on unless `--no-mta-sts`;
//! policies cached in `$XDG_CACHE_HOME/mxsend/mta-sts`, else `~/.cache/mxsend/mta-sts`),
//! DANE (on unless `--no-dane`; the AD bit of a loopback resolver is trusted, see
//! [`mxsend::dane`]), `--require-tls` (REQUIRETLS, RFC 8689), and how a policy is shown
//! (the report, `mxsend mx`).
//!
//! The policy server is verified against Mozilla's roots, or against `--ca-file` when one is
//! given (a private deployment, or tests).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mxsend::dane::{Dane, DaneStatus};
use mxsend::mta_sts::{MtaSts, PolicySource, StsStatus};

use crate::error::CliError;

/// The secure-delivery flags, as given.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecureFlags<'a> {
    /// `--no-mta-sts`.
    pub no_mta_sts: bool,
    /// `--mta-sts-cache DIR`.
    pub cache: Option<&'a std::path::Path>,
    /// `--mta-sts-port N` (hidden: tests).
    pub port: Option<u16>,
    /// `--ca-file`.
    pub ca_file: Option<&'a std::path::Path>,
}

/// A delivery's secure-delivery flags: REQUIRETLS and, for MX delivery, MTA-STS and DANE.
/// A send, the sendmail personality and a queued entry's retry all go through
/// [`DeliveryFlags::apply`], and `--queue` keeps them with the entry
/// ([`DeliveryFlags::store`], [`DeliveryFlags::from_settings`]), so a retry is made under
/// the same policy as the first attempt, never silently opportunistic.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeliveryFlags<'a> {
    /// `--require-tls`.
    pub require_tls: bool,
    /// `--no-dane`.
    pub no_dane: bool,
    /// The MTA-STS flags.
    pub sts: SecureFlags<'a>,
}

impl<'a> DeliveryFlags<'a> {
    /// `tls` with these flags applied; MTA-STS and DANE only when `mx` (MX delivery).
    pub fn apply(&self, tls: &mut crate::tls::TlsSettings, mx: bool) -> Result<(), CliError> {
        tls.require_tls = self.require_tls;
        if mx {
            tls.mta_sts = mta_sts(self.sts)?;
            tls.dane = (!self.no_dane).then(Dane::new);
        }
        Ok(())
    }

    /// The flags as a queued entry keeps them (the CA file is kept with the TLS settings).
    pub fn store(&self, settings: &mut BTreeMap<String, String>) {
        let mut flag = |key: &str, on: bool| {
            if on {
                settings.insert(key.to_string(), "true".to_string());
            }
        };
        flag("require_tls", self.require_tls);
        flag("no_dane", self.no_dane);
        flag("no_mta_sts", self.sts.no_mta_sts);
        if let Some(dir) = self.sts.cache {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
            settings.insert("mta_sts_cache".into(), dir.display().to_string());
        }
        if let Some(port) = self.sts.port {
            settings.insert("mta_sts_port".into(), port.to_string());
        }
    }

    /// The flags a queued entry was submitted with (see [`DeliveryFlags::store`]); an entry
    /// without them (the sendmail personality's) gets the defaults: MTA-STS and DANE on.
    pub fn from_settings(
        settings: &'a BTreeMap<String, String>,
        ca_file: Option<&'a Path>,
    ) -> Result<DeliveryFlags<'a>, CliError> {
        let on = |key: &str| settings.get(key).is_some_and(|v| v == "true");
        let port = settings
            .get("mta_sts_port")
            .map(|v| {
                v.parse::<u16>().map_err(|_| {
                    CliError::config(format!("queued setting mta_sts_port = {v:?} is not a port"))
                })
            })
            .transpose()?;
        Ok(DeliveryFlags {
            require_tls: on("require_tls"),
            no_dane: on("no_dane"),
            sts: SecureFlags {
                no_mta_sts: on("no_mta_sts"),
                cache: settings.get("mta_sts_cache").map(Path::new),
                port,
                ca_file,
            },
        })
    }
}

/// Where MTA-STS policies are cached by default.
pub fn default_cache_dir() -> Option<PathBuf> {
    let from = |var: &str| {
        std::env::var_os(var)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("XDG_CACHE_HOME")
        .or_else(|| from("HOME").map(|home| home.join(".cache")))
        .map(|cache| cache.join("mxsend").join("mta-sts"))
}

/// The MTA-STS settings the flags ask for (`None`: `--no-mta-sts`).
pub fn mta_sts(flags: SecureFlags<'_>) -> Result<Option<MtaSts>, CliError> {
    if flags.no_mta_sts {
        return Ok(None);
    }
    let mut sts = match flags.cache.map(PathBuf::from).or_else(default_cache_dir) {
        Some(dir) => MtaSts::new(dir),
        None => MtaSts::without_cache(),
    };
    if let Some(path) = flags.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| CliError::usage(format!("--ca-file {}: {e}", path.display())))?;
        sts = sts
            .ca_pem(&pem)
            .map_err(|e| CliError::usage(format!("--ca-file {}: {e}", path.display())))?;
    }
    if let Some(port) = flags.port {
        sts = sts.port(port);
    }
    Ok(Some(sts))
}

/// `mxsend mx`'s MTA-STS part in `--json`.
#[derive(Debug, serde::Serialize)]
pub struct JsonMtaSts {
    /// `policy`, `none` (no policy published) or `unavailable`.
    pub status: &'static str,
    /// enforce / testing / none, for a policy.
    pub mode: Option<String>,
    /// The TXT record's id the policy belongs to.
    pub id: Option<String>,
    /// Seconds the policy may be cached.
    pub max_age: Option<u64>,
    /// The `mx` patterns.
    pub mx: Vec<String>,
    /// `fetched`, `cache` or `cache-after-failed-fetch`.
    pub source: Option<&'static str>,
    /// Why the policy is unavailable, or why the refetch failed.
    pub error: Option<String>,
}

impl From<&StsStatus> for JsonMtaSts {
    fn from(status: &StsStatus) -> JsonMtaSts {
        let mut json = JsonMtaSts {
            status: "none",
            mode: None,
            id: None,
            max_age: None,
            mx: Vec::new(),
            source: None,
            error: None,
        };
        match status {
            StsStatus::Policy { id, policy, source } => {
                json.status = "policy";
                json.mode = Some(policy.mode.to_string());
                json.id = Some(id.clone());
                json.max_age = Some(policy.max_age);
                json.mx = policy.mx.clone();
                json.source = Some(match source {
                    PolicySource::Fetched { .. } => "fetched",
                    PolicySource::Cache => "cache",
                    _ => "cache-after-failed-fetch",
                });
                if let PolicySource::CacheAfterFailedFetch(why) = source {
                    json.error = Some(why.clone());
                }
            }
            StsStatus::Unavailable(why) => {
                json.status = "unavailable";
                json.error = Some(why.clone());
            }
            _ => {}
        }
        json
    }
}

/// `mxsend mx`'s MTA-STS part as text: one line, then the patterns.
pub fn write_mta_sts(status: &StsStatus, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    match status {
        StsStatus::Policy { id, policy, source } => {
            writeln!(
                out,
                "MTA-STS: {} (id {id}, max_age {} s), {source}",
                policy.mode, policy.max_age
            )?;
            for pattern in &policy.mx {
                writeln!(out, "  mx: {pattern}")?;
            }
            Ok(())
        }
        other => writeln!(out, "MTA-STS: {other}"),
    }
}

/// The exchanges' DANE status for `mxsend mx` (blocking DNS; empty for an address literal).
pub fn dane_statuses(
    resolver: &mxsend::dns::Resolver,
    name: &str,
    exchanges: &[mxsend::dns::ResolvedExchange],
) -> Vec<(String, DaneStatus)> {
    let hosts: Vec<String> = exchanges.iter().map(|e| e.exchange.name.clone()).collect();
    if hosts.is_empty() {
        return Vec::new();
    }
    Dane::new().discover(resolver, name, &hosts)
}

/// One exchange's DANE status in `--json`.
#[derive(Debug, serde::Serialize)]
pub struct JsonDane {
    /// The exchange.
    pub host: String,
    /// `secure`, `secure-unusable`, `insecure`, `no-tlsa` or `failed`.
    pub status: &'static str,
    /// The TLSA records (`usage selector matching hex`), when secure.
    pub tlsa: Vec<String>,
    /// Where they were found (RFC 7672 §2.2.2): the exchange, or its secure CNAME expansion.
    pub base_domain: Option<String>,
    /// Why insecure or failed.
    pub reason: Option<String>,
}

impl JsonDane {
    /// The JSON form of `host`'s `status`.
    pub fn new(host: &str, status: &DaneStatus) -> JsonDane {
        let (name, reason) = match status {
            DaneStatus::Secure(_) => ("secure", None),
            DaneStatus::SecureUnusable(_) => ("secure-unusable", None),
            DaneStatus::Insecure(why) => ("insecure", Some(why.clone())),
            DaneStatus::NoTlsa => ("no-tlsa", None),
            DaneStatus::Failed(why) => ("failed", Some(why.clone())),
            _ => ("unknown", None),
        };
        JsonDane {
            host: host.to_string(),
            status: name,
            tlsa: status
                .records()
                .unwrap_or_default()
                .iter()
                .map(mxsend::dane::format_record)
                .collect(),
            base_domain: status.found().map(|found| found.base_domain.clone()),
            reason,
        }
    }
}

/// `mxsend mx`'s DANE part as text: one line per exchange.
pub fn write_dane(
    statuses: &[(String, DaneStatus)],
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    if statuses.is_empty() {
        return Ok(());
    }
    writeln!(out, "DANE (RFC 7672):")?;
    for (host, status) in statuses {
        writeln!(out, "  {host}: {status}")?;
    }
    Ok(())
}
