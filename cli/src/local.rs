//! Local and unqualified addresses: what `root` means (cron mails `root`, logwatch mails
//! `root`, `From: root (Cron Daemon)`), as dma and nullmailer answer it.
//!
//! Two settings in the configuration, both global:
//! - `aliases = "/etc/aliases"`: a file in aliases(5) format. `name: target, target...`, one
//!   entry per line, continuation lines start with white space, `#` starts a comment, names
//!   are matched without regard to case. A bare-name recipient with an entry is replaced by
//!   its targets; a target that is itself a bare name is looked up again (a loop is an
//!   error). Only addresses are supported as targets: `:include:`, `|command` and `/file`
//!   targets are refused when they are used, since mxsend delivers nothing locally.
//! - `default_domain = "example.com"`: a bare name that no alias covers becomes
//!   `name@example.com`, in the envelope (sender and recipients) and in the From, To and Cc
//!   fields of a message that mxsend passes on (sendmail mode).
//!
//! A bare name with neither setting is refused, naming both. Qualified addresses are never
//! changed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mxsend_core::address::Domain;

use crate::error::CliError;

/// How deep alias targets may refer to further aliases.
const MAX_ALIAS_DEPTH: usize = 16;

/// The `aliases` file, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aliases {
    /// Lower-cased name to its targets, as written.
    entries: HashMap<String, Vec<String>>,
}

impl Aliases {
    /// Parse aliases(5) text (`path` is named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Aliases, CliError> {
        let mut entries = HashMap::new();
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let content = line.split('#').next().unwrap_or_default();
            if content.trim().is_empty() {
                continue;
            }
            match (line.starts_with([' ', '\t']), logical.last_mut()) {
                (true, Some((_, entry))) => {
                    entry.push(' ');
                    entry.push_str(content.trim());
                }
                _ => logical.push((number + 1, content.trim().to_string())),
            }
        }
        for (number, entry) in logical {
            let Some((name, targets)) = entry.split_once(':') else {
                return Err(CliError::config(format!(
                    "{} line {number}: no colon; write entries as `name: address, address`",
                    path.display()
                )));
            };
            let name = name.trim().trim_matches('"').to_ascii_lowercase();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(CliError::config(format!(
                    "{} line {number}: {name:?} is not an alias name",
                    path.display()
                )));
            }
            let targets: Vec<String> = targets
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            entries.insert(name, targets);
        }
        Ok(Aliases { entries })
    }

    fn get(&self, name: &str) -> Option<&[String]> {
        self.entries
            .get(&name.to_ascii_lowercase())
            .map(Vec::as_slice)
    }
}

/// What to do with bare names: the configuration's `aliases` and `default_domain`.
#[derive(Clone, Debug, Default)]
pub struct LocalNames {
    default_domain: Option<String>,
    aliases: Option<(PathBuf, Aliases)>,
}

/// True for a bare name: no `@`, nothing but what a local part may hold.
pub fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && !text.contains('@')
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
}

impl LocalNames {
    /// From the configuration's values; reads and parses the aliases file (exit 78 when it
    /// cannot be read or parsed: a broken aliases file must not silently send root's mail
    /// nowhere).
    pub fn load(
        default_domain: Option<&str>,
        aliases: Option<&Path>,
    ) -> Result<LocalNames, CliError> {
        let default_domain = match default_domain.map(str::trim) {
            None => None,
            Some(text) => match Domain::parse(text) {
                Ok(Domain::Name(_)) => Some(text.to_string()),
                _ => {
                    return Err(CliError::config(format!(
                        "default_domain = {text:?} is not a domain name; e.g. default_domain = \"example.com\""
                    )))
                }
            },
        };
        let aliases = match aliases {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CliError::config(format!(
                        "cannot read the aliases file {}: {}; fix the path in `aliases`",
                        path.display(),
                        crate::error::os_reason(&e)
                    ))
                })?;
                Some((path.to_path_buf(), Aliases::parse(&text, path)?))
            }
        };
        Ok(LocalNames {
            default_domain,
            aliases,
        })
    }

    /// `name@default_domain` for a bare name, when a default domain is set.
    pub fn qualify(&self, text: &str) -> Option<String> {
        let domain = self.default_domain.as_deref()?;
        is_bare(text).then(|| format!("{text}@{domain}"))
    }

    /// The envelope recipients for one recipient as written: itself when qualified; for a
    /// bare name, its alias targets (expanded again while bare), else the name qualified by
    /// the default domain, else an error naming both settings.
    pub fn recipients(&self, text: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        self.expand(text, 0, &mut out)?;
        Ok(out)
    }

    fn expand(&self, text: &str, depth: usize, out: &mut Vec<String>) -> Result<(), String> {
        if !is_bare(text) {
            out.push(text.to_string());
            return Ok(());
        }
        if let Some((path, aliases)) = &self.aliases {
            if let Some(targets) = aliases.get(text) {
                if depth >= MAX_ALIAS_DEPTH {
                    return Err(format!(
                        "the alias {text:?} in {} refers to itself (a loop of aliases); fix the file",
                        path.display()
                    ));
                }
                for target in targets {
                    if target.starts_with([':', '|', '/']) {
                        return Err(format!(
                            "the alias {text:?} in {} delivers to {target:?}: mxsend only forwards to addresses; give an address",
                            path.display()
                        ));
                    }
                    // `root: root@example.com` and `admin: \admin` style self-references.
                    let target = target.trim_start_matches('\\');
                    if target.eq_ignore_ascii_case(text) {
                        match self.qualify(target) {
                            Some(q) => out.push(q),
                            None => return Err(self.unqualified(target)),
                        }
                        continue;
                    }
                    self.expand(target, depth + 1, out)?;
                }
                return Ok(());
            }
        }
        match self.qualify(text) {
            Some(q) => {
                out.push(q);
                Ok(())
            }
            None => Err(self.unqualified(text)),
        }
    }

    fn unqualified(&self, text: &str) -> String {
        format!(
            "{text:?} is a local name and mxsend does no local delivery: set default_domain = \"example.com\" or an aliases file (aliases = \"/etc/aliases\" with `{text}: you@example.com`) in the configuration, or write the address as local@domain"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(aliases: &str, domain: Option<&str>) -> LocalNames {
        LocalNames {
            default_domain: domain.map(str::to_string),
            aliases: Some((
                PathBuf::from("/etc/aliases"),
                Aliases::parse(aliases, Path::new("/etc/aliases")).unwrap(),
            )),
        }
    }

    #[test]
    fn an_alias_replaces_a_bare_name() {
        let n = names("# system\nroot: admin@example.com\n", None);
        assert_eq!(n.recipients("root").unwrap(), ["admin@example.com"]);
        assert_eq!(n.recipients("ROOT").unwrap(), ["admin@example.com"]);
    }

    #[test]
    fn aliases_chain_and_continue_on_indented_lines() {
        let n = names(
            "postmaster: root\nroot: admin@example.com,\n  ops@example.com\n",
            None,
        );
        assert_eq!(
            n.recipients("postmaster").unwrap(),
            ["admin@example.com", "ops@example.com"]
        );
    }

    #[test]
    fn the_default_domain_qualifies_what_no_alias_covers() {
        let n = names("root: admin@example.com\n", Some("example.org"));
        assert_eq!(n.recipients("www-data").unwrap(), ["www-data@example.org"]);
        assert_eq!(
            n.recipients("bob@example.net").unwrap(),
            ["bob@example.net"]
        );
    }

    #[test]
    fn a_bare_name_with_neither_setting_names_both() {
        let err = LocalNames::default().recipients("root").unwrap_err();
        assert!(
            err.contains("default_domain") && err.contains("aliases"),
            "{err}"
        );
    }

    #[test]
    fn a_loop_is_an_error_not_a_hang() {
        let err = names("a: b\nb: a\n", None).recipients("a").unwrap_err();
        assert!(err.contains("loop"), "{err}");
    }

    #[test]
    fn program_and_include_targets_are_refused() {
        let n = names("logs: |/usr/bin/logger\nlist: :include:/etc/list\n", None);
        assert!(n.recipients("logs").unwrap_err().contains("only forwards"));
        assert!(n.recipients("list").unwrap_err().contains("only forwards"));
    }

    #[test]
    fn a_line_without_a_colon_names_the_line() {
        let err = Aliases::parse("root: a@x.y\nbroken\n", Path::new("/etc/aliases")).unwrap_err();
        assert!(err.message.contains("line 2"), "{}", err.message);
    }

    #[test]
    fn default_domain_must_be_a_domain_name() {
        assert!(LocalNames::load(Some("[127.0.0.1]"), None).is_err());
        assert!(LocalNames::load(Some("example.com"), None).is_ok());
    }
}
