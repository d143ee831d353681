//! A progress bar on standard error while a large message goes out, only when standard error
//! is a terminal (never in cron mail, logs or pipes) and `-v` is off (the transcript would
//! tear it apart).

use std::io::{self, IsTerminal, Read};

use indicatif::{ProgressBar, ProgressStyle};

/// Messages smaller than this go out without a bar: they take less time than reading it.
pub const PROGRESS_THRESHOLD: u64 = 1024 * 1024;

/// Whether a bar would be shown for a message of `size` octets.
pub fn wanted(size: Option<u64>, verbose: bool) -> bool {
    !verbose && size.is_some_and(|s| s >= PROGRESS_THRESHOLD) && io::stderr().is_terminal()
}

/// `reader`, counting into a bar of `size` octets labelled `label`.
pub fn wrap(reader: Box<dyn Read + Send>, size: u64, label: &str) -> Box<dyn Read + Send> {
    let bar = ProgressBar::new(size);
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_string());
    Box::new(Progress { reader, bar })
}

struct Progress {
    reader: Box<dyn Read + Send>,
    bar: ProgressBar,
}

impl Read for Progress {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        if n == 0 {
            self.bar.finish_and_clear();
        } else {
            self.bar.inc(n as u64);
        }
        Ok(n)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An aborted delivery must not leave a half-drawn bar behind.
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}
