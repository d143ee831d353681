//! The two texts of MTA-STS: the `_mta-sts` TXT record (RFC 8461 §3.1) and the policy file
//! (§3.2), parsed strictly; and the MX host patterns of a policy matched against an exchange
//! name (§4.1).

use std::fmt;

/// Longest `max_age` a policy may ask for: 31557600 s, one year (RFC 8461 §3.2).
pub const MAX_MAX_AGE: u64 = 31_557_600;

/// The `_mta-sts` TXT record: `v=STSv1; id=...` (RFC 8461 §3.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy's identifier: 1 to 32 letters and digits; a change means a new policy.
    pub id: String,
}

/// What a policy asks of senders (RFC 8461 §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Deliver only to matching MX hosts over verified TLS; otherwise defer.
    Enforce,
    /// Deliver as usual; report what would have failed.
    Testing,
    /// The domain has withdrawn its policy.
    None,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        })
    }
}

/// A policy file's content (RFC 8461 §3.2).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Policy {
    /// `mode`.
    pub mode: Mode,
    /// `max_age`, in seconds: how long the policy may be cached.
    pub max_age: u64,
    /// The `mx` patterns, in the file's order, lower case, without a trailing dot.
    pub mx: Vec<String>,
}

/// Why a record or policy text is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// No TXT record at `_mta-sts` starts with `v=STSv1`.
    NoRecord,
    /// More than one does: RFC 8461 §3.1 says to treat that as no policy.
    SeveralRecords,
    /// The record's `id` is missing or not 1-32 letters and digits.
    BadRecordId(String),
    /// The policy's first line is not `version: STSv1`.
    BadVersion(String),
    /// `mode` is missing or not enforce/testing/none.
    BadMode(String),
    /// `max_age` is missing, not a number, or above [`MAX_MAX_AGE`].
    BadMaxAge(String),
    /// An enforce or testing policy names no `mx` pattern.
    NoMx,
    /// An `mx` value is not a host name or `*.` wildcard.
    BadMx(String),
    /// A line is not `key: value`.
    BadLine(String),
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::NoRecord => f.write_str("no v=STSv1 TXT record"),
            PolicyError::SeveralRecords => {
                f.write_str("several v=STSv1 TXT records (RFC 8461 §3.1: no policy)")
            }
            PolicyError::BadRecordId(id) => {
                write!(f, "TXT record id {id:?} is not 1-32 letters and digits")
            }
            PolicyError::BadVersion(v) => write!(f, "policy version {v:?} is not STSv1"),
            PolicyError::BadMode(m) => {
                write!(f, "policy mode {m:?} is not enforce, testing or none")
            }
            PolicyError::BadMaxAge(a) => write!(f, "policy max_age {a:?} is not 0..={MAX_MAX_AGE}"),
            PolicyError::NoMx => f.write_str("policy names no mx pattern"),
            PolicyError::BadMx(m) => write!(f, "policy mx {m:?} is not a host name or *.domain"),
            PolicyError::BadLine(l) => write!(f, "policy line {l:?} is not key: value"),
        }
    }
}

impl std::error::Error for PolicyError {}

/// The STS record among the texts at `_mta-sts.DOMAIN`: those not starting with `v=STSv1`
/// are ignored; exactly one must remain (RFC 8461 §3.1).
pub fn parse_record(texts: &[String]) -> Result<StsRecord, PolicyError> {
    let mut sts = texts
        .iter()
        .filter(|t| t.starts_with("v=STSv1") && field_end(t, "v=STSv1".len()));
    let record = sts.next().ok_or(PolicyError::NoRecord)?;
    if sts.next().is_some() {
        return Err(PolicyError::SeveralRecords);
    }
    // sts-text-record = sts-version 1*(*WSP %x3B *WSP sts-field) [%x3B]
    let id = record
        .split(';')
        .skip(1)
        .map(str::trim)
        .find_map(|field| field.strip_prefix("id="))
        .unwrap_or_default();
    let valid = (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid {
        return Err(PolicyError::BadRecordId(id.to_string()));
    }
    Ok(StsRecord { id: id.to_string() })
}

/// True when `text` has no more characters of the first field at `at` (`v=STSv1x` is not
/// version STSv1).
fn field_end(text: &str, at: usize) -> bool {
    matches!(text.as_bytes().get(at), None | Some(b';' | b' ' | b'\t'))
}

/// The policy in a policy file's text (RFC 8461 §3.2): `key: value` lines ending in CRLF or
/// LF, `version: STSv1` first, unknown keys ignored.
pub fn parse_policy(text: &str) -> Result<Policy, PolicyError> {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty());
    let pair = |line: &str| -> Result<(String, String), PolicyError> {
        let (key, value) = line
            .split_once(':')
            .ok_or_else(|| PolicyError::BadLine(line.to_string()))?;
        Ok((key.trim().to_string(), value.trim().to_string()))
    };
    let (key, version) = pair(lines.next().unwrap_or_default())
        .map_err(|_| PolicyError::BadVersion(String::new()))?;
    if key != "version" || version != "STSv1" {
        return Err(PolicyError::BadVersion(version));
    }
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for line in lines {
        let (key, value) = pair(line)?;
        match key.as_str() {
            "mode" => {
                mode = Some(match value.as_str() {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    _ => return Err(PolicyError::BadMode(value)),
                })
            }
            "max_age" => {
                let age = (value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| value.parse::<u64>().ok())
                    .flatten()
                    .filter(|age| *age <= MAX_MAX_AGE)
                    .ok_or_else(|| PolicyError::BadMaxAge(value.clone()))?;
                max_age = Some(age);
            }
            "mx" => {
                let pattern = value.trim_end_matches('.').to_ascii_lowercase();
                if !valid_pattern(&pattern) {
                    return Err(PolicyError::BadMx(value));
                }
                mx.push(pattern);
            }
            _ => {}
        }
    }
    let mode = mode.ok_or_else(|| PolicyError::BadMode(String::new()))?;
    let max_age = max_age.ok_or_else(|| PolicyError::BadMaxAge(String::new()))?;
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::NoMx);
    }
    Ok(Policy { mode, max_age, mx })
}

/// A host name, or `*.` and a host name (RFC 8461 §3.2 `mx-pattern`).
fn valid_pattern(pattern: &str) -> bool {
    let host = pattern.strip_prefix("*.").unwrap_or(pattern);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl Policy {
    /// Does the exchange `host` match one of the `mx` patterns? Exact names compare without
    /// case or trailing dot; `*.example.com` matches one more label on the left, never
    /// `example.com` itself nor two labels (RFC 8461 §4.1).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent),
                None => *pattern == host,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn the_record_needs_exactly_one_sts_text_with_an_id() {
        assert_eq!(
            parse_record(&texts(&["v=spf1 -all", "v=STSv1; id=20160831085700Z;"])),
            Ok(StsRecord {
                id: "20160831085700Z".into()
            })
        );
        assert_eq!(
            parse_record(&texts(&["v=spf1 -all"])),
            Err(PolicyError::NoRecord)
        );
        assert_eq!(
            parse_record(&texts(&["v=STSv1; id=a", "v=STSv1; id=b"])),
            Err(PolicyError::SeveralRecords)
        );
        assert!(matches!(
            parse_record(&texts(&["v=STSv1; id=has-dash"])),
            Err(PolicyError::BadRecordId(_))
        ));
        assert!(matches!(
            parse_record(&texts(&["v=STSv1"])),
            Err(PolicyError::BadRecordId(_))
        ));
        assert_eq!(
            parse_record(&texts(&["v=STSv10; id=a"])),
            Err(PolicyError::NoRecord)
        );
    }

    #[test]
    fn parses_the_rfc_example_policy() {
        let text = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n";
        assert_eq!(
            parse_policy(text),
            Ok(Policy {
                mode: Mode::Enforce,
                max_age: 604_800,
                mx: vec![
                    "mail.example.com".into(),
                    "*.example.net".into(),
                    "backupmx.example.com".into()
                ],
            })
        );
    }

    #[test]
    fn refuses_policies_that_break_the_grammar() {
        assert!(matches!(
            parse_policy("mode: enforce\nversion: STSv1\n"),
            Err(PolicyError::BadVersion(_))
        ));
        assert!(matches!(
            parse_policy("version: STSv1\nmode: strict\nmx: a.test\nmax_age: 1\n"),
            Err(PolicyError::BadMode(_))
        ));
        assert!(matches!(
            parse_policy("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n"),
            Err(PolicyError::BadMaxAge(_))
        ));
        assert_eq!(
            parse_policy("version: STSv1\nmode: testing\nmax_age: 1\n"),
            Err(PolicyError::NoMx)
        );
        assert!(parse_policy("version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
        assert!(matches!(
            parse_policy("version: STSv1\nmode: enforce\nmx: *.*.test\nmax_age: 1\n"),
            Err(PolicyError::BadMx(_))
        ));
    }

    #[test]
    fn wildcards_match_exactly_one_label() {
        let policy = parse_policy(
            "version: STSv1\nmode: enforce\nmx: mail.example.com.\nmx: *.example.net\nmax_age: 60\n",
        )
        .unwrap();
        assert!(policy.matches("MAIL.example.com."));
        assert!(policy.matches("mx1.example.net"));
        assert!(!policy.matches("example.net"));
        assert!(!policy.matches("a.b.example.net"));
        assert!(!policy.matches("other.example.com"));
    }
}
