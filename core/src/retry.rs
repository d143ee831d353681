//! When to try a queued message again, and when to give up: the retry schedule as a pure
//! function (the caller passes the clock and the random jitter in).
//!
//! RFC 5321 §4.5.4.1 asks a sender that keeps mail in a queue to wait between attempts (the
//! interval "SHOULD be at least 30 minutes", but sooner retries early on help against
//! greylisting and brief outages), to make "two attempts [...] during the first hour", and to
//! give up only after "at least 4-5 days". Postfix's defaults follow that letter loosely and
//! are what users expect: a first retry after 5 minutes (`minimal_backoff_time = 300s`),
//! doubling (`queue_run_delay`), capped at about an hour (`maximal_backoff_time = 4000s`), a
//! message lifetime of 5 days (`maximal_queue_lifetime`). [`RetrySchedule::default`] is that:
//! 5 min, 10, 20, 40, then every 60 min; the first two retries fall in the first hour, and
//! from the fifth on the interval is at least 30 minutes.
//!
//! Jitter spreads the retries of many messages that failed together (a server restart) so
//! they do not all come back in the same second: each delay is moved by up to
//! ±[`JITTER_PERCENT`] %, and always stays within `[min_backoff, max_backoff]`.
//!
//! Time is Unix time in whole seconds (a queue outlives processes and reboots, so the
//! monotonic [`crate::time::Instant`] does not fit).

use core::fmt;
use core::time::Duration;

/// How far jitter moves a delay, in percent of the delay, either way.
pub const JITTER_PERCENT: u64 = 10;

/// The default first retry delay (Postfix's `minimal_backoff_time`).
pub const DEFAULT_MIN_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// The default longest delay between attempts (about Postfix's `maximal_backoff_time`).
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60 * 60);
/// The default time after which a message is returned (RFC 5321 §4.5.4.1: 4-5 days;
/// Postfix's `maximal_queue_lifetime`).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(5 * 24 * 60 * 60);
/// The default age after which the sender is told a message is delayed (Postfix's
/// `delay_warning_time`, when enabled, and sendmail's `Timeout.queuewarn`: 4 hours).
pub const DEFAULT_DELAY_WARNING: Duration = Duration::from_secs(4 * 60 * 60);

/// The retry policy of a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The delay before the first retry; later delays double from it.
    pub min_backoff: Duration,
    /// The longest delay between two attempts.
    pub max_backoff: Duration,
    /// How long after it was queued a message is given up (and returned to its sender).
    pub lifetime: Duration,
}

/// What to do after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this Unix time (seconds).
    At(u64),
    /// The lifetime has passed: return the message to its sender.
    GiveUp,
}

/// A schedule that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScheduleError {
    /// `min_backoff` is zero: a failing message would be retried in a tight loop.
    ZeroMinBackoff,
    /// `max_backoff` is shorter than `min_backoff`.
    MaxBelowMin,
    /// `lifetime` is zero: nothing would ever be retried.
    ZeroLifetime,
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleError::ZeroMinBackoff => "min_backoff is zero: give at least one second",
            ScheduleError::MaxBelowMin => "max_backoff is shorter than min_backoff",
            ScheduleError::ZeroLifetime => "lifetime is zero: give at least one second",
        })
    }
}

impl Default for RetrySchedule {
    /// 5 minutes, doubling, capped at 1 hour, given up after 5 days (module docs).
    fn default() -> RetrySchedule {
        RetrySchedule {
            min_backoff: DEFAULT_MIN_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            lifetime: DEFAULT_LIFETIME,
        }
    }
}

impl RetrySchedule {
    /// Check that the schedule can work (see [`ScheduleError`]).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.min_backoff.as_secs() == 0 {
            return Err(ScheduleError::ZeroMinBackoff);
        }
        if self.max_backoff < self.min_backoff {
            return Err(ScheduleError::MaxBelowMin);
        }
        if self.lifetime.as_secs() == 0 {
            return Err(ScheduleError::ZeroLifetime);
        }
        Ok(())
    }

    /// The delay after the `failures`-th failed attempt (1 for the first), before jitter:
    /// `min_backoff · 2^(failures-1)`, capped at `max_backoff`.
    pub fn base_delay(&self, failures: u32) -> u64 {
        let min = self.min_backoff.as_secs().max(1);
        let max = self.max_backoff.as_secs().max(min);
        let doublings = failures.saturating_sub(1).min(63);
        min.checked_shl(doublings)
            .filter(|d| d >> doublings == min)
            .map_or(max, |d| d.min(max))
    }

    /// When to try again after the `failures`-th failed attempt (1 for the first), which
    /// ended at `now`, for a message queued at `queued_at`. `jitter` is a random number
    /// (any `u32`; the caller draws it) that moves the delay by up to ±[`JITTER_PERCENT`] %.
    ///
    /// The last attempt is made when the lifetime ends (an attempt due later is moved to
    /// that time); a failure at or after the end of the lifetime is final.
    pub fn after_failure(&self, failures: u32, queued_at: u64, now: u64, jitter: u32) -> Retry {
        let expires = queued_at.saturating_add(self.lifetime.as_secs());
        if now >= expires {
            return Retry::GiveUp;
        }
        let base = u128::from(self.base_delay(failures));
        let spread = base * u128::from(JITTER_PERCENT) / 100;
        // jitter / u32::MAX of the range [base - spread, base + spread].
        let offset = 2 * spread * u128::from(jitter) / u128::from(u32::MAX);
        let min = self.min_backoff.as_secs().max(1);
        let max = self.max_backoff.as_secs().max(min);
        let delay = u64::try_from(base - spread + offset)
            .unwrap_or(u64::MAX)
            .clamp(min, max);
        Retry::At(now.saturating_add(delay).min(expires))
    }

    /// The Unix time after which a message queued at `queued_at` is given up.
    pub fn expires_at(&self, queued_at: u64) -> u64 {
        queued_at.saturating_add(self.lifetime.as_secs())
    }
}

/// Whether a delay warning is due for a message queued at `queued_at`, at `now`: the
/// message has waited `warn_after` or longer (`None`: warnings are off). The caller sends at
/// most one per message.
pub fn delay_warning_due(queued_at: u64, now: u64, warn_after: Option<Duration>) -> bool {
    warn_after.is_some_and(|after| now >= queued_at.saturating_add(after.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: u64 = 3600;

    fn at(retry: Retry) -> u64 {
        match retry {
            Retry::At(t) => t,
            Retry::GiveUp => panic!("gave up"),
        }
    }

    /// The attempt times (queued at 0, each attempt failing at once) until giving up.
    fn attempts(schedule: &RetrySchedule, jitter: u32) -> alloc::vec::Vec<u64> {
        let mut times = alloc::vec![0];
        let mut now = 0;
        let mut failures = 1;
        while let Retry::At(next) = schedule.after_failure(failures, 0, now, jitter) {
            times.push(next);
            now = next;
            failures += 1;
        }
        times
    }

    #[test]
    fn default_schedule_doubles_from_five_minutes_to_an_hour() {
        let s = RetrySchedule::default();
        let delays: alloc::vec::Vec<u64> = (1..=7).map(|n| s.base_delay(n)).collect();
        assert_eq!(delays, [300, 600, 1200, 2400, 3600, 3600, 3600]);
    }

    #[test]
    fn default_schedule_tries_twice_in_the_first_hour() {
        // RFC 5321 §4.5.4.1: "two attempts [...] during the first hour"; with the largest
        // jitter too.
        for jitter in [0, u32::MAX / 2, u32::MAX] {
            let times = attempts(&RetrySchedule::default(), jitter);
            let retries_in_first_hour = times.iter().skip(1).filter(|&&t| t <= HOUR).count();
            assert!(retries_in_first_hour >= 2, "{times:?}");
        }
    }

    #[test]
    fn default_schedule_gives_up_after_five_days_with_a_last_attempt_at_the_end() {
        let times = attempts(&RetrySchedule::default(), 0);
        assert_eq!(times.last().copied(), Some(5 * 24 * HOUR));
        let s = RetrySchedule::default();
        assert_eq!(s.after_failure(99, 0, 5 * 24 * HOUR, 0), Retry::GiveUp);
    }

    #[test]
    fn later_intervals_are_at_least_thirty_minutes() {
        let times = attempts(&RetrySchedule::default(), 0);
        // From the fifth retry on (and but for the last, clipped to the lifetime).
        for pair in times.windows(2).skip(4).take(times.len().saturating_sub(6)) {
            assert!(pair[1] - pair[0] >= 30 * 60, "{pair:?}");
        }
    }

    #[test]
    fn validate_names_each_unusable_schedule() {
        let ok = RetrySchedule::default();
        assert_eq!(ok.validate(), Ok(()));
        let zero = Duration::from_secs(0);
        assert_eq!(
            RetrySchedule {
                min_backoff: zero,
                ..ok
            }
            .validate(),
            Err(ScheduleError::ZeroMinBackoff)
        );
        assert_eq!(
            RetrySchedule {
                max_backoff: Duration::from_secs(1),
                ..ok
            }
            .validate(),
            Err(ScheduleError::MaxBelowMin)
        );
        assert_eq!(
            RetrySchedule {
                lifetime: zero,
                ..ok
            }
            .validate(),
            Err(ScheduleError::ZeroLifetime)
        );
    }

    #[test]
    fn delay_warning_after_four_hours_or_never() {
        let four = Some(DEFAULT_DELAY_WARNING);
        assert!(!delay_warning_due(1000, 1000 + 4 * HOUR - 1, four));
        assert!(delay_warning_due(1000, 1000 + 4 * HOUR, four));
        assert!(!delay_warning_due(0, u64::MAX, None));
    }

    #[test]
    fn huge_failure_counts_and_times_do_not_overflow() {
        let s = RetrySchedule {
            min_backoff: Duration::from_secs(u64::MAX / 2),
            max_backoff: Duration::from_secs(u64::MAX),
            lifetime: Duration::from_secs(u64::MAX),
        };
        assert_eq!(s.base_delay(u32::MAX), u64::MAX);
        assert!(matches!(
            s.after_failure(u32::MAX, u64::MAX - 1, u64::MAX - 1, u32::MAX),
            Retry::At(_) | Retry::GiveUp
        ));
    }

    fn schedule() -> impl Strategy<Value = RetrySchedule> {
        (1u64..10_000, 0u64..100_000, 1u64..10_000_000).prop_map(|(min, extra, life)| {
            RetrySchedule {
                min_backoff: Duration::from_secs(min),
                max_backoff: Duration::from_secs(min + extra),
                lifetime: Duration::from_secs(life),
            }
        })
    }

    proptest! {
        #[test]
        fn next_attempt_is_later_than_now_and_never_past_the_lifetime(
            s in schedule(), failures in 1u32..100, queued in 0u64..1 << 40,
            elapsed in 0u64..20_000_000, jitter in any::<u32>(),
        ) {
            let now = queued + elapsed;
            match s.after_failure(failures, queued, now, jitter) {
                Retry::At(t) => {
                    prop_assert!(t > now);
                    prop_assert!(t <= s.expires_at(queued));
                }
                Retry::GiveUp => prop_assert!(now >= s.expires_at(queued)),
            }
        }

        #[test]
        fn delay_stays_within_min_and_max_backoff(
            s in schedule(), failures in 1u32..100, jitter in any::<u32>(),
        ) {
            // Far from the end of the lifetime, so no clipping.
            let long = RetrySchedule { lifetime: Duration::from_secs(u64::MAX / 4), ..s };
            let delay = at(long.after_failure(failures, 0, 1000, jitter)) - 1000;
            prop_assert!(delay >= s.min_backoff.as_secs());
            prop_assert!(delay <= s.max_backoff.as_secs());
        }

        #[test]
        fn base_delay_never_shrinks_with_more_failures(s in schedule(), failures in 1u32..200) {
            prop_assert!(s.base_delay(failures + 1) >= s.base_delay(failures));
        }

        #[test]
        fn jitter_moves_the_delay_by_at_most_ten_percent(
            s in schedule(), failures in 1u32..100, jitter in any::<u32>(),
        ) {
            let long = RetrySchedule { lifetime: Duration::from_secs(u64::MAX / 4), ..s };
            let base = s.base_delay(failures);
            let delay = at(long.after_failure(failures, 0, 0, jitter));
            prop_assert!(delay.abs_diff(base) <= base / 10 + 1);
        }

        #[test]
        fn attempts_end_and_the_last_is_at_the_lifetime(s in schedule(), jitter in any::<u32>()) {
            let times = attempts(&s, jitter);
            prop_assert_eq!(times.last().copied(), Some(s.lifetime.as_secs()));
            prop_assert!(times.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
