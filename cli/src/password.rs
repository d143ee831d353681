//! Where the AUTH password comes from: never the command line (other users see it in `ps`,
//! and it lands in shell history).
//!
//! In order: `--password-env VAR`; the account's `password_command`, run with `sh -c`, its
//! first line of output (a password manager or keyring: `pass show mail/work`,
//! `secret-tool lookup ...`); a prompt on the terminal (`/dev/tty`, without echo). With none
//! of these available, exit 78 before any connection.

use std::process::{Command, Stdio};

use crate::error::{os_reason, CliError};
use crate::exit::Exit;

/// A way to get the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// `--password-env VAR`.
    Env(String),
    /// The account's `password_command`.
    Command(String),
    /// Ask on the terminal.
    Prompt,
}

/// The source to use: the flag, else the account's command, else the prompt.
pub fn source(env: Option<&str>, command: Option<&str>) -> PasswordSource {
    match (env, command) {
        (Some(var), _) => PasswordSource::Env(var.to_string()),
        (None, Some(cmd)) => PasswordSource::Command(cmd.to_string()),
        (None, None) => PasswordSource::Prompt,
    }
}

/// Get the password for `user`.
pub fn obtain(user: &str, source: &PasswordSource) -> Result<String, CliError> {
    match source {
        PasswordSource::Env(var) => match std::env::var(var) {
            Ok(value) if !value.is_empty() => Ok(value),
            Ok(_) => Err(CliError::config(format!(
                "--password-env {var}: the variable is empty; export the password in it"
            ))),
            Err(std::env::VarError::NotPresent) => Err(CliError::config(format!(
                "--password-env {var}: the variable is not set; export the password in it"
            ))),
            Err(std::env::VarError::NotUnicode(_)) => Err(CliError::config(format!(
                "--password-env {var}: the value is not valid UTF-8"
            ))),
        },
        PasswordSource::Command(command) => run_command(command),
        PasswordSource::Prompt => rpassword::prompt_password(format!("Password for {user}: "))
            .map_err(|e| {
                CliError::config(format!(
                    "no password for {user}: no terminal to ask on ({}); use --password-env VAR or set password_command in the account",
                    os_reason(&e)
                ))
            }),
    }
}

/// Run `sh -c command`; the first line of its standard output is the password.
fn run_command(command: &str) -> Result<String, CliError> {
    // Standard input may hold the message; the command must not read it.
    let output = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| {
            CliError::new(
                Exit::OsErr,
                format!("cannot run password_command with sh: {}", os_reason(&e)),
            )
        })?;
    if !output.status.success() {
        return Err(CliError::config(format!(
            "password_command `{command}` failed ({}); run it by hand to see why",
            output.status
        )));
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| {
        CliError::config(format!(
            "password_command `{command}` printed something that is not UTF-8"
        ))
    })?;
    match stdout.lines().next() {
        Some(line) if !line.is_empty() => Ok(line.to_string()),
        _ => Err(CliError::config(format!(
            "password_command `{command}` printed no password on its first line"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_command() {
        assert_eq!(
            source(Some("PW"), Some("pass x")),
            PasswordSource::Env("PW".into())
        );
        assert_eq!(
            source(None, Some("pass x")),
            PasswordSource::Command("pass x".into())
        );
        assert_eq!(source(None, None), PasswordSource::Prompt);
    }

    #[test]
    fn command_gives_its_first_line() {
        let pw = obtain(
            "a",
            &PasswordSource::Command("printf 'hunter2\\nsecond\\n'".into()),
        );
        assert_eq!(pw.unwrap(), "hunter2");
    }

    #[test]
    fn failing_command_is_a_config_error() {
        let err = obtain("a", &PasswordSource::Command("exit 3".into())).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert!(err.message.contains("exit status: 3"), "{}", err.message);
    }

    #[test]
    fn command_with_empty_output_is_a_config_error() {
        let err = obtain("a", &PasswordSource::Command("true".into())).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
    }

    #[test]
    fn unset_variable_is_a_config_error_naming_it() {
        let err = obtain("a", &PasswordSource::Env("MXSEND_TEST_SURELY_UNSET".into())).unwrap_err();
        assert_eq!(err.exit, Exit::Config);
        assert!(
            err.message.contains("MXSEND_TEST_SURELY_UNSET"),
            "{}",
            err.message
        );
    }
}
