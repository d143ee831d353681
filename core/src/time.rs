//! Time as an input.
//!
//! The core never reads a clock. Callers pass an [`Instant`]: a monotonic count of
//! microseconds from an origin of their choosing (an adapter takes `std::time::Instant`
//! at start-up as its origin; a test starts at zero and moves the clock by hand).
//! Durations are `core::time::Duration`.

pub use core::time::Duration;

/// A point on the caller's monotonic clock, in microseconds from the caller's origin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the caller's clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant(micros)
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// `self + duration`, saturating at the end of time rather than wrapping.
    pub fn saturating_add(self, duration: Duration) -> Instant {
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(micros))
    }

    /// How long after `earlier` this instant is; zero if it is not after it.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturating_add_does_not_wrap() {
        let end = Instant::from_micros(u64::MAX - 1).saturating_add(Duration::from_secs(1));
        assert_eq!(end.as_micros(), u64::MAX);
    }

    #[test]
    fn duration_since_a_later_instant_is_zero() {
        let a = Instant::from_micros(10);
        let b = Instant::from_micros(20);
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
        assert_eq!(b.saturating_duration_since(a), Duration::from_micros(10));
    }
}
