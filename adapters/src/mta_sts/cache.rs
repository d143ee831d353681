//! The policy cache on disk: one JSON file per domain holding the policy, the TXT `id` it
//! was fetched under and when (RFC 8461 §3.3, §5.1: a policy is used until its `max_age`
//! runs out, and refetched when the TXT record's `id` changes).
//!
//! Writes go to a temporary file renamed into place, so a reader never sees half a file; an
//! unreadable or damaged entry is treated as absent (the policy is fetched again).

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::policy::Policy;

/// One cached policy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CachedPolicy {
    /// The TXT record's `id` when the policy was fetched.
    pub id: String,
    /// When it was fetched, in seconds since the Unix epoch.
    pub fetched_at: u64,
    /// The policy.
    pub policy: Policy,
}

impl CachedPolicy {
    /// Still within `max_age` at `now` (seconds since the epoch)?
    pub fn is_fresh(&self, now: u64) -> bool {
        now < self.fetched_at.saturating_add(self.policy.max_age)
    }
}

/// The cache directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyCache {
    dir: PathBuf,
}

impl PolicyCache {
    /// A cache in `dir` (created on the first write).
    pub fn new(dir: impl Into<PathBuf>) -> PolicyCache {
        PolicyCache { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file for `domain` (lower case A-labels; nothing else reaches here, but the name
    /// is checked so a hostile domain cannot name a path).
    fn path(&self, domain: &str) -> Option<PathBuf> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let safe = !domain.is_empty()
            && !domain.starts_with('.')
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        safe.then(|| self.dir.join(format!("{domain}.json")))
    }

    /// The cached policy for `domain`, fresh or not; `None` when absent or unreadable.
    pub fn get(&self, domain: &str) -> Option<CachedPolicy> {
        let bytes = fs::read(self.path(domain)?).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Keep `entry` for `domain`.
    pub fn put(&self, domain: &str, entry: &CachedPolicy) -> io::Result<()> {
        let path = self
            .path(domain)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a domain name"))?;
        fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".{}.{}.tmp",
            path.file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("policy"),
            std::process::id()
        ));
        let json = serde_json::to_vec(entry).map_err(io::Error::other)?;
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mta_sts::policy::Mode;

    #[test]
    fn keeps_a_policy_and_its_age() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PolicyCache::new(dir.path().join("sts"));
        assert_eq!(cache.get("example.test"), None);
        let entry = CachedPolicy {
            id: "abc".into(),
            fetched_at: 1000,
            policy: Policy {
                mode: Mode::Enforce,
                max_age: 60,
                mx: vec!["mx.example.test".into()],
            },
        };
        cache.put("Example.TEST.", &entry).unwrap();
        assert_eq!(cache.get("example.test"), Some(entry.clone()));
        assert!(entry.is_fresh(1059));
        assert!(!entry.is_fresh(1060));
        assert!(cache.put("../etc", &entry).is_err());
        assert_eq!(cache.get("../etc"), None);
    }

    #[test]
    fn a_damaged_entry_is_absent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PolicyCache::new(dir.path());
        fs::write(dir.path().join("example.test.json"), b"{not json").unwrap();
        assert_eq!(cache.get("example.test"), None);
    }
}
