//! Accounts: `$XDG_CONFIG_HOME/mxsend/config.toml` (or `~/.config/mxsend/config.toml`).
//!
//! ```toml
//! default = "work"                  # the account used when --account is not given
//! timeout = 30                      # seconds at each step, for accounts that set none
//! log = "syslog"                    # the delivery log: "syslog", "none" or a file (crate::log)
//! syslog_socket = "/dev/log"        # where syslog listens
//! default_domain = "example.com"    # qualifies bare names (crate::local)
//! aliases = "/etc/aliases"          # bare-name recipients to addresses (crate::local)
//!
//! [accounts.work]
//! server = "smtp.example.com"       # relay; without it the account delivers by MX lookup
//! port = 587
//! tls = "required"                  # none | opportunistic | required | implicit
//! user = "alice"
//! password_command = "pass show mail/work"   # run with sh -c; the first line of stdout
//! from = "Alice <alice@example.com>"
//! ca_file = "/etc/ssl/private-ca.pem"     # a private CA, or a self-signed server's own certificate
//! tls_fingerprint = "sha256:AB:CD:..."   # or pin exactly one certificate (spki-sha256: its key)
//! tls_cert = "/etc/mxsend/client.crt"    # a client certificate, with tls_key
//! tls_key = "/etc/mxsend/client.key"
//! tls_name = "smtp.example.com"          # verify the relay against this name (server given by address)
//! ehlo = "laptop.example.com"
//! dns = "127.0.0.1:5353"            # a DNS server instead of the system's (MX delivery)
//! timeout = 20                      # seconds at each step (connect, greeting, each reply, ...)
//! lmtp = true                       # speak LMTP to the server (e.g. server = "unix:/run/dovecot/lmtp")
//! ```
//!
//! Flags override the account's values field by field. An account belongs to its server: with
//! `--server` naming another one, the default account is not used (see `run::load_account`). Unknown keys are errors (a typo such as
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
    /// Where the delivery log goes: `"syslog"` (the default), `"none"`, or a file's path
    /// ([`crate::log`]).
    pub log: Option<String>,
    /// The syslog socket, when it is not `/dev/log`.
    pub syslog_socket: Option<PathBuf>,
    /// Seconds to wait for the server at each step, for every account that sets none.
    pub timeout: Option<u64>,
    /// The domain that qualifies bare names (`root` becomes `root@DOMAIN`), see
    /// [`crate::local`].
    pub default_domain: Option<String>,
    /// An aliases(5) file for bare-name recipients (`root: admin@example.com`).
    pub aliases: Option<PathBuf>,
    /// Accounts by name.
    #[serde(default)]
    pub accounts: BTreeMap<String, Account>,
    /// The queue directory (see [`crate::queue`]).
    pub queue_dir: Option<PathBuf>,
    /// The queue's retry schedule and notices.
    #[serde(default)]
    pub queue: QueueConfig,
}

/// `[queue]`: durations as `30s`, `5m`, `1h`, `5d` (see [`crate::queue`]).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The first retry delay (default 5m).
    pub min_backoff: Option<String>,
    /// The longest delay between attempts (default 1h).
    pub max_backoff: Option<String>,
    /// How long a message is retried before it is returned (default 5d).
    pub lifetime: Option<String>,
    /// Warn the sender after this long (default 4h; `off` for never).
    pub delay_warning: Option<String>,
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
    /// A certificate pin (`sha256:HEX` or `spki-sha256:HEX`), as msmtp's `tls_fingerprint`.
    pub tls_fingerprint: Option<String>,
    /// A client certificate file (PEM).
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's key file (PEM).
    pub tls_key: Option<PathBuf>,
    /// The name to verify the relay's certificate against.
    pub tls_name: Option<String>,
    /// The EHLO name.
    pub ehlo: Option<String>,
    /// A DNS server (`IP` or `IP:PORT`) for MX delivery instead of the system's.
    pub dns: Option<String>,
    /// Allow AUTH without TLS (a local test server).
    #[serde(default)]
    pub allow_plaintext_auth: bool,
    /// Seconds to wait for the server at each step (connect, greeting, each reply, each body
    /// write, the final reply).
    pub timeout: Option<u64>,
    /// Speak LMTP (RFC 2033) to the server.
    #[serde(default)]
    pub lmtp: bool,
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

/// The TOML error on one line: the line it points at, and its message; for an unquoted
/// word (`tls = none`, which TOML reads as a broken number or boolean), how to quote it.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span().and_then(|span| text.get(..span.start)) {
        Some(before) => {
            let number = before.matches('\n').count() + 1;
            let line = text.lines().nth(number - 1).unwrap_or_default();
            match unquoted_word(line) {
                Some((key, word)) => {
                    format!("line {number}: {message}; text values need quotes: {key} = \"{word}\"")
                }
                None => format!("line {number}: {message}"),
            }
        }
        None => message,
    }
}

/// `key = word` where the word is not a TOML value (no quotes, not a number, boolean,
/// array, table or date): the key and the word.
fn unquoted_word(line: &str) -> Option<(&str, &str)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    let value = value.split('#').next().unwrap_or_default().trim();
    let bare_key = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let word = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_./:@".contains(&b))
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/')
        && !matches!(value, "true" | "false" | "inf" | "nan");
    (bare_key && word).then_some((key, value))
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
    fn an_unquoted_word_is_explained_with_the_quoted_form() {
        for (value, key) in [
            ("none", "tls"),
            ("required", "tls"),
            ("smtp.example.com", "server"),
        ] {
            let text = format!("[accounts.a]\n{key} = {value}\n");
            let err = parse(&text, path()).unwrap_err().to_string();
            assert!(
                err.contains(&format!("text values need quotes: {key} = \"{value}\"")),
                "{err}"
            );
            assert!(err.contains("line 2"), "{err}");
        }
        // A real number or boolean error is not a quoting problem.
        let err = parse("[accounts.a]\nport = 58x7\n", path())
            .unwrap_err()
            .to_string();
        assert!(!err.contains("quotes"), "{err}");
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
