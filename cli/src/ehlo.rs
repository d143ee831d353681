//! The name mxsend gives in EHLO (RFC 5321 §4.1.1.1, §4.1.4).
//!
//! RFC 5321 asks for the client's fully qualified domain name, or an address literal when it
//! has none. Default: this host's name (`gethostname`) when it is a valid domain with at
//! least one dot; otherwise (a bare `laptop`, which many servers refuse as a HELO name,
//! Postfix `reject_non_fqdn_helo_hostname`) the address literal of the local end of each
//! connection, which is what the server sees anyway (the library picks it per connection).
//! `--ehlo NAME` overrides.

use mxsend_core::address::Domain;

use crate::error::CliError;

/// The EHLO identity to use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ehlo {
    /// This name.
    Name(Domain),
    /// The address literal of the connection's local address.
    LocalAddress,
}

/// `--ehlo NAME`: a domain or an address literal (exit 64 when neither).
pub fn parse(name: &str) -> Result<Ehlo, CliError> {
    Domain::parse(name).map(Ehlo::Name).map_err(|e| {
        CliError::usage(format!(
            "--ehlo {name:?}: not a domain name or address literal ({e}); give this host's fully qualified name, e.g. --ehlo host.example.com"
        ))
    })
}

/// The default: a fully qualified host name, else [`Ehlo::LocalAddress`].
pub fn default_ehlo() -> Ehlo {
    let host = gethostname::gethostname();
    from_hostname(host.to_str())
}

/// The choice for a host name (`None`: not UTF-8).
fn from_hostname(host: Option<&str>) -> Ehlo {
    match host.map(|h| (h, Domain::parse(h))) {
        Some((h, Ok(domain @ Domain::Name(_)))) if h.trim_end_matches('.').contains('.') => {
            Ehlo::Name(domain)
        }
        _ => Ehlo::LocalAddress,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fully_qualified_host_name_is_used() {
        assert_eq!(
            from_hostname(Some("mail.example.com")),
            Ehlo::Name(Domain::parse("mail.example.com").unwrap())
        );
    }

    #[test]
    fn bare_host_name_falls_back_to_the_address_literal() {
        assert_eq!(from_hostname(Some("laptop")), Ehlo::LocalAddress);
    }

    #[test]
    fn invalid_host_name_falls_back_to_the_address_literal() {
        assert_eq!(from_hostname(Some("bad_host.example")), Ehlo::LocalAddress);
        assert_eq!(from_hostname(None), Ehlo::LocalAddress);
    }

    #[test]
    fn ehlo_flag_refuses_a_non_domain() {
        assert_eq!(
            parse("not a name").unwrap_err().exit,
            crate::exit::Exit::Usage
        );
        assert!(parse("[127.0.0.1]").is_ok());
    }
}
