//! Building [`Timeouts`]: RFC 5321 §4.5.3.2's per-command minimums by default
//! ([`Timeouts::default`]), or one bound for every phase ([`Timeouts::uniform`]).

use super::Timeouts;
use crate::time::Duration;

impl Timeouts {
    /// One deadline for every phase of a session: the greeting, each command's reply, each
    /// write of body data and the final reply (swaks' and msmtp's single `--timeout`).
    /// QUIT's reply keeps its own short wait when that is shorter.
    ///
    /// ```
    /// use mxsend_core::session::Timeouts;
    /// use mxsend_core::time::Duration;
    ///
    /// let t = Timeouts::uniform(Duration::from_secs(20));
    /// assert_eq!(t.greeting, Duration::from_secs(20));
    /// assert_eq!(t.data_termination, Duration::from_secs(20));
    /// ```
    pub fn uniform(limit: Duration) -> Timeouts {
        Timeouts {
            greeting: limit,
            command: limit,
            mail: limit,
            rcpt: limit,
            data_initiation: limit,
            data_block: limit,
            data_termination: limit,
            quit: limit.min(Timeouts::default().quit),
        }
    }
}
