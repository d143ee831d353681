//! The RFC 5322 §3.3 date-time, from a caller-supplied instant.
//!
//! The core reads no clock: the caller passes Unix seconds and the UTC offset of its local
//! time. The calendar is the proleptic Gregorian one, computed with the days-to-civil
//! algorithm (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms"). Output:
//! `Tue, 1 Jul 2003 10:52:37 +0200` (day without leading zero, as in RFC 5322 §A.1.1).
//! Deviations: leap seconds cannot be expressed (Unix time has none); an offset of zero is
//! written `+0000`, never `-0000` (which §3.3 reserves for "local time unknown").

use alloc::string::String;
use core::fmt::Write;

use super::MessageError;

/// Earliest year RFC 5322 §3.3 allows ("the year MUST be 1900 or later").
pub const MIN_YEAR: i64 = 1900;
/// Latest year with the four digits of RFC 5322 §3.3 `year = 4*DIGIT` kept to four.
pub const MAX_YEAR: i64 = 9999;
/// Largest UTC offset in minutes: `zone = ("+" / "-") 4DIGIT` as HHMM, kept within a day.
pub const MAX_UTC_OFFSET_MINUTES: i16 = 23 * 60 + 59;

const DAY_NAMES: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An instant and the UTC offset to show it in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix_seconds: i64,
    /// Minutes east of UTC (e.g. `120` for +0200, `-300` for -0500).
    pub utc_offset_minutes: i16,
}

/// (year, month 1–12, day 1–31) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, usize, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl DateTime {
    /// The `date-time` of RFC 5322 §3.3, e.g. `Thu, 1 Jan 1970 00:00:00 +0000`.
    pub fn format(&self) -> Result<String, MessageError> {
        let offset = self.utc_offset_minutes;
        if !(-MAX_UTC_OFFSET_MINUTES..=MAX_UTC_OFFSET_MINUTES).contains(&offset) {
            return Err(MessageError::InvalidUtcOffset(offset));
        }
        let local = self
            .unix_seconds
            .checked_add(i64::from(offset) * 60)
            .ok_or(MessageError::DateOutOfRange(self.unix_seconds))?;
        let days = local.div_euclid(86_400);
        let secs = local.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(MessageError::DateOutOfRange(self.unix_seconds));
        }
        // 1970-01-01 was a Thursday.
        let weekday = (days + 4).rem_euclid(7) as usize;
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.unsigned_abs();
        let mut out = String::with_capacity(31);
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{}, {} {} {:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            DAY_NAMES[weekday],
            day,
            MONTH_NAMES[month - 1],
            year,
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            sign,
            abs / 60,
            abs % 60
        );
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(unix_seconds: i64, utc_offset_minutes: i16) -> Result<String, MessageError> {
        DateTime {
            unix_seconds,
            utc_offset_minutes,
        }
        .format()
    }

    #[test]
    fn formats_the_epoch_in_utc() {
        assert_eq!(fmt(0, 0).unwrap(), "Thu, 1 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn applies_a_positive_offset_to_the_local_time() {
        // 2003-07-01T08:52:37Z
        assert_eq!(
            fmt(1_057_049_557, 120).unwrap(),
            "Tue, 1 Jul 2003 10:52:37 +0200"
        );
    }

    #[test]
    fn applies_a_negative_offset_across_midnight_and_year_end() {
        // 2000-01-01T02:00:00Z is still 1999 in New York.
        assert_eq!(
            fmt(946_692_000, -300).unwrap(),
            "Fri, 31 Dec 1999 21:00:00 -0500"
        );
    }

    #[test]
    fn writes_half_hour_negative_offsets() {
        assert_eq!(fmt(0, -210).unwrap(), "Wed, 31 Dec 1969 20:30:00 -0330");
    }

    #[test]
    fn knows_february_29_in_leap_years() {
        // 2024-02-29T12:00:00Z, and 2000 (divisible by 400) is a leap year too.
        assert_eq!(
            fmt(1_709_208_000, 0).unwrap(),
            "Thu, 29 Feb 2024 12:00:00 +0000"
        );
        assert_eq!(
            fmt(951_782_400, 0).unwrap(),
            "Tue, 29 Feb 2000 00:00:00 +0000"
        );
    }

    #[test]
    fn skips_february_29_in_century_years_not_divisible_by_400() {
        // 2100-02-28T00:00:00Z plus one day is March 1st.
        assert_eq!(
            fmt(4_107_456_000 + 86_400, 0).unwrap(),
            "Mon, 1 Mar 2100 00:00:00 +0000"
        );
    }

    #[test]
    fn formats_dates_before_1970() {
        assert_eq!(fmt(-1, 0).unwrap(), "Wed, 31 Dec 1969 23:59:59 +0000");
        // 1900-01-01T00:00:00Z was a Monday.
        assert_eq!(
            fmt(-2_208_988_800, 0).unwrap(),
            "Mon, 1 Jan 1900 00:00:00 +0000"
        );
    }

    #[test]
    fn refuses_years_before_1900() {
        assert_eq!(
            fmt(-2_208_988_801, 0),
            Err(MessageError::DateOutOfRange(-2_208_988_801))
        );
    }

    #[test]
    fn refuses_years_after_9999() {
        assert!(matches!(
            fmt(i64::MAX, 0),
            Err(MessageError::DateOutOfRange(_))
        ));
        assert!(matches!(
            fmt(253_402_300_800, 0),
            Err(MessageError::DateOutOfRange(_))
        ));
    }

    #[test]
    fn refuses_offsets_of_a_day_or_more() {
        assert_eq!(fmt(0, 1440), Err(MessageError::InvalidUtcOffset(1440)));
        assert_eq!(fmt(0, -1440), Err(MessageError::InvalidUtcOffset(-1440)));
    }
}
