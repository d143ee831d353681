//! The one error type of the command: a line for the user and the exit status it calls for.
//!
//! Every failure before or around a delivery ends up here, printed as `mxsend: <message>` on
//! one line, where the message names the cause and what to do about it.

use std::fmt;
use std::io;
use std::path::Path;

use crate::exit::Exit;

/// A failure that ends the command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CliError {
    /// The exit status.
    pub exit: Exit,
    /// One line: the cause, and what to do.
    pub message: String,
}

impl CliError {
    /// A failure with this status and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> CliError {
        CliError {
            exit,
            message: message.into(),
        }
    }

    /// 64: the command line is wrong.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::new(Exit::Usage, message)
    }

    /// 65: the message is unusable.
    pub fn data(message: impl Into<String>) -> CliError {
        CliError::new(Exit::DataErr, message)
    }

    /// 78: the configuration is wrong.
    pub fn config(message: impl Into<String>) -> CliError {
        CliError::new(Exit::Config, message)
    }

    /// An input file that cannot be read: 66, naming the file, what it was for and the
    /// OS's reason.
    pub fn no_input(what: &str, path: &Path, error: &io::Error) -> CliError {
        CliError::new(
            Exit::NoInput,
            format!(
                "cannot read {what} {}: {}; check the path and its permissions",
                path.display(),
                os_reason(error)
            ),
        )
    }

    /// Reading standard input or writing output failed: 74.
    pub fn io(what: &str, error: &io::Error) -> CliError {
        CliError::new(Exit::IoErr, format!("{what}: {}", os_reason(error)))
    }
}

/// The OS's message without Rust's " (os error N)" suffix.
pub fn os_reason(error: &io::Error) -> String {
    let text = error.to_string();
    match text.find(" (os error ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<crate::config::ConfigError> for CliError {
    fn from(e: crate::config::ConfigError) -> CliError {
        CliError::config(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_file_names_the_file_and_the_reason() {
        let err = std::fs::File::open("/nonexistent/report.pdf").unwrap_err();
        let e = CliError::no_input("attachment", Path::new("/nonexistent/report.pdf"), &err);
        assert_eq!(e.exit, Exit::NoInput);
        assert_eq!(
            e.message,
            "cannot read attachment /nonexistent/report.pdf: No such file or directory; \
             check the path and its permissions"
        );
    }
}
