//! Accounts: `$XDG_CONFIG_HOME/mxsend/config.toml` (or `~/.config/mxsend/config.toml`).
//!
//! ```toml
//! default = "work"                  # the account used when --account is not given
//!
//! [accounts.work]
//! server = "smtp.example.com"       # relay; without it the account delivers by MX lookup
//! port = 587
//! tls = "required"                  # none | opportunistic | required | implicit
//! user = "alice"
//! password_command = "pass show mail/work"   # run with sh -c; the first line of stdout
//! from = "Alice <alice@example.com>"
//! ca_file = "/etc/ssl/private-ca.pem"
//! ehlo = "laptop.example.com"
//! dns = "127.0.0.1:5353"            # a DNS server instead of the system's (MX delivery)
//! ```
//!
//! Flags override the account's values field by field. Unknown keys are errors (a typo such as
//! `pasword_command` must not silently mean "prompt every time"). A missing file at the
//! default location means no accounts; a missing file named by `--config` is an error. There
//! is deliberately no `password` key: secrets in a config file end up in backups and dotfile
//! repositories; `password_command` can read them from a keyring or a password manager.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::TlsArg;

/// The file's name inside the configuration directory.
pub const CONFIG_FILE: &str = "mxsend/config.toml";

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The account to use when `--account` is not given.
    pub default: Option<String>,
    /// Accounts by name.
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
}

/// One account: where and how to send, and as whom.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Account {
    /// Relay host (`HOST` or `HOST:PORT`); without it, MX delivery.
    pub server: Option<String>,
    /// Port (relay, or the MX port in tests).
    pub port: Option<u16>,
    /// TLS mode.
    pub tls: Option<TlsArg>,
    /// AUTH user name.
    pub user: Option<String>,
    /// A shell command printing the password on its first line of output.
    pub password_command: Option<String>,
    /// The sender: `addr` or `Name <addr>`.
    pub from: Option<String>,
    /// A PEM file of CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// The EHLO name.
    pub ehlo: Option<String>,
    /// A DNS server (`IP` or `IP:PORT`) for MX delivery instead of the system's.
    pub dns: Option<String>,
    /// Allow AUTH without TLS (a local test server).
    #[serde(default)]
    pub allow_plaintext_auth: bool,
    /// DKIM keys to sign with (`[[accounts.NAME.dkim]]`: key, selector, domain).
    #[serde(default)]
    pub dkim: Vec<crate::dkim::DkimKeyConfig>,
}

/// Why the configuration cannot be used (exit 78).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The file exists (or was named) but cannot be read.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The OS's reason.
        why: String,
    },
    /// The file is not valid TOML for this schema.
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message, on one line.
        why: String,
    },
    /// `--account NAME` (or `default`) names no account in the file.
    UnknownAccount {
        /// The name asked for.
        name: String,
        /// The file searched, if any.
        path: Option<PathBuf>,
        /// The accounts there are.
        known: Vec<String>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Unreadable { path, why } => write!(
                f,
                "cannot read the configuration file {}: {why}; fix its permissions or pass --config PATH",
                path.display()
            ),
            ConfigError::Invalid { path, why } => {
                write!(f, "{}: {why}; fix the file (see mxsend --help for the keys)", path.display())
            }
            ConfigError::UnknownAccount { name, path, known } => {
                write!(f, "no account {name:?}")?;
                if let Some(path) = path {
                    write!(f, " in {}", path.display())?;
                }
                if known.is_empty() {
                    f.write_str("; the configuration defines no accounts")
                } else {
                    write!(f, "; known accounts: {}", known.join(", "))
                }
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// The default location: `$XDG_CONFIG_HOME/mxsend/config.toml`, else
/// `$HOME/.config/mxsend/config.toml` (XDG Base Directory Specification); `None` when
/// neither variable is set to an absolute path.
pub fn default_path(xdg_config_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    // The spec says relative values are invalid and must be ignored.
    let absolute = |v: &&str| Path::new(v).is_absolute();
    if let Some(dir) = xdg_config_home.filter(absolute) {
        return Some(Path::new(dir).join(CONFIG_FILE));
    }
    home.filter(absolute)
        .map(|home| Path::new(home).join(".config").join(CONFIG_FILE))
}

/// Parse configuration text read from `path` (named in errors).
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        why: one_line(&e, text),
    })
}

/// The TOML error on one line: the line it points at, and its message.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => format!("line {}: {message}", before.matches('\n').count() + 1),
        None => message,
    }
}

/// Read the configuration: from `explicit` (must exist) or the default location (may be
/// absent: no accounts).
pub fn load(
    explicit: Option<&Path>,
    default: Option<&Path>,
) -> Result<(Config, Option<PathBuf>), ConfigError> {
    let (path, required) = match (explicit, default) {
        (Some(path), _) => (path, true),
        (None, Some(path)) => (path, false),
        (None, None) => return Ok((Config::default(), None)),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((parse(&text, path)?, Some(path.to_path_buf()))),
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
            Ok((Config::default(), None))
        }
        Err(e) => Err(ConfigError::Unreadable {
            path: path.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

impl Config {
    /// The account to use: the one named, else the file's default, else none. With
    /// `no_account`, none (ignoring the default).
    pub fn select(
        &self,
        name: Option<&str>,
        no_account: bool,
        path: Option<&Path>,
    ) -> Result<Option<(&str, &Account)>, ConfigError> {
        if no_account {
            return Ok(None);
        }
        let Some(name) = name.or(self.default.as_deref()) else {
            return Ok(None);
        };
        match self.accounts.get_key_value(name) {
            Some((name, account)) => Ok(Some((name.as_str(), account))),
            None => Err(ConfigError::UnknownAccount {
                name: name.to_string(),
                path: path.map(Path::to_path_buf),
                known: self.accounts.keys().cloned().collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
default = "work"

[accounts.work]
server = "smtp.example.com"
port = 587
tls = "required"
user = "alice"
password_command = "pass show mail/work"
from = "Alice <alice@example.com>"

[accounts.local]
server = "127.0.0.1:2525"
tls = "none"
allow_plaintext_auth = true
"#;

    fn path() -> &'static Path {
        Path::new("/home/alice/.config/mxsend/config.toml")
    }

    #[test]
    fn parses_every_account_field() {
        let config = parse(EXAMPLE, path()).unwrap();
        let work = &config.accounts["work"];
        assert_eq!(work.server.as_deref(), Some("smtp.example.com"));
        assert_eq!(work.port, Some(587));
        assert_eq!(work.tls, Some(TlsArg::Required));
        assert_eq!(work.user.as_deref(), Some("alice"));
        assert_eq!(
            work.password_command.as_deref(),
            Some("pass show mail/work")
        );
        assert_eq!(work.from.as_deref(), Some("Alice <alice@example.com>"));
        assert!(config.accounts["local"].allow_plaintext_auth);
    }

    #[test]
    fn the_default_account_applies_without_account_flag() {
        let config = parse(EXAMPLE, path()).unwrap();
        let (name, _) = config.select(None, false, None).unwrap().unwrap();
        assert_eq!(name, "work");
    }

    #[test]
    fn account_flag_overrides_the_default() {
        let config = parse(EXAMPLE, path()).unwrap();
        let (name, account) = config.select(Some("local"), false, None).unwrap().unwrap();
        assert_eq!(name, "local");
        assert_eq!(account.tls, Some(TlsArg::None));
    }

    #[test]
    fn no_account_ignores_the_default() {
        let config = parse(EXAMPLE, path()).unwrap();
        assert_eq!(config.select(None, true, None).unwrap(), None);
    }

    #[test]
    fn unknown_account_lists_the_known_ones() {
        let config = parse(EXAMPLE, path()).unwrap();
        let err = config
            .select(Some("home"), false, Some(path()))
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"home\""), "{text}");
        assert!(text.contains("local, work"), "{text}");
        assert!(text.contains("config.toml"), "{text}");
    }

    #[test]
    fn misspelt_key_is_an_error_naming_the_line() {
        let err = parse("[accounts.a]\npasword_command = \"x\"\n", path()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("pasword_command"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }

    #[test]
    fn a_password_key_is_refused() {
        assert!(parse("[accounts.a]\npassword = \"hunter2\"\n", path()).is_err());
    }

    #[test]
    fn unknown_tls_mode_is_an_error() {
        let err = parse("[accounts.a]\ntls = \"sometimes\"\n", path()).unwrap_err();
        assert!(err.to_string().contains("sometimes"), "{err}");
    }

    #[test]
    fn empty_file_has_no_accounts() {
        let config = parse("", path()).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(config.select(None, false, None).unwrap(), None);
    }

    #[test]
    fn default_path_prefers_xdg_config_home() {
        assert_eq!(
            default_path(Some("/x"), Some("/home/a")),
            Some(PathBuf::from("/x/mxsend/config.toml"))
        );
        assert_eq!(
            default_path(None, Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/mxsend/config.toml"))
        );
    }

    #[test]
    fn relative_xdg_config_home_is_ignored() {
        assert_eq!(
            default_path(Some("rel"), Some("/home/a")),
            Some(PathBuf::from("/home/a/.config/mxsend/config.toml"))
        );
        assert_eq!(default_path(None, None), None);
    }

    #[test]
    fn missing_default_file_means_no_accounts() {
        let (config, found) =
            load(None, Some(Path::new("/nonexistent/mxsend/config.toml"))).unwrap();
        assert_eq!(config, Config::default());
        assert_eq!(found, None);
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = load(Some(Path::new("/nonexistent/config.toml")), None).unwrap_err();
        assert!(matches!(err, ConfigError::Unreadable { .. }), "{err}");
    }
}
