//! A session kept open between transactions, for a long-lived client: when it is idle, and
//! the check before reusing it (RSET, RFC 5321 §4.1.1.5: harmless at any point outside a
//! transaction, and answered 250 by a server that still has the session).
//!
//! A server may close a connection that stayed idle (its own timeout, RFC 5321 §4.5.3.2.7,
//! with or without a 421). Nothing of a new transaction is sent until the check is
//! answered, so a connection found dead costs no recipient anything: the caller opens a
//! new one and sends there.

use super::{Expect, Session, State, UsageError};
use crate::command::{self, Command};
use crate::time::Instant;

impl Session {
    /// True when the session is established, nothing is queued, running or awaited, and
    /// nothing waits to be written: a connection that can sit unused (no deadline runs) and
    /// take a transaction later. False once QUIT was asked for.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Established)
            && !self.quit_requested
            && self.queued.is_empty()
            && self.continuations.is_empty()
            && self.running.is_empty()
            && self.expect.is_empty()
            && self.pending_transmit().is_empty()
    }

    /// Check an idle session before reusing it: RSET goes out, and the session is idle
    /// again once the server answered 250. Any other answer, a 421, the end of the
    /// stream or the deadline closes the session ([`super::Event::Closed`]), with no
    /// transaction lost: queue the next ones only once [`Session::is_idle`] is true again.
    ///
    /// ```
    /// # use mxsend_core::address::Domain;
    /// # use mxsend_core::session::{Session, SessionConfig, TlsPolicy};
    /// # use mxsend_core::time::Instant;
    /// let mut config = SessionConfig::new(Domain::parse("client.example")?);
    /// config.tls = TlsPolicy::Disabled;
    /// let now = Instant::ZERO;
    /// let mut session = Session::new(config, now);
    /// session.handle_input(b"220 mx.example ESMTP\r\n", now);
    /// let n = session.pending_transmit().len();
    /// session.advance_transmit(n); // EHLO
    /// session.handle_input(b"250 mx.example\r\n", now);
    /// assert!(session.is_idle());
    /// session.check_idle(now)?;
    /// assert_eq!(session.pending_transmit(), b"RSET\r\n");
    /// session.advance_transmit(6);
    /// assert!(!session.is_idle());
    /// session.handle_input(b"250 2.0.0 Ok\r\n", now);
    /// assert!(session.is_idle());
    /// # Ok::<(), Box<dyn core::error::Error>>(())
    /// ```
    pub fn check_idle(&mut self, now: Instant) -> Result<(), UsageError> {
        if !self.is_idle() {
            return Err(UsageError::NotIdle);
        }
        // RSET has no argument: it always encodes.
        command::encode(&Command::Rset, &mut self.transmit).map_err(UsageError::InvalidEnvelope)?;
        self.expect_reply(Expect::Rset, now);
        Ok(())
    }
}
