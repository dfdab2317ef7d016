//! Calendar rendering of millisecond timestamps.
//!
//! Strait keeps time as milliseconds since the Unix epoch everywhere (arrival times, iterator
//! issue times, shard creation times), because integers compare, subtract and serialize
//! without ambiguity. A few Kinesis messages quote a date in words, though: the
//! ExpiredIteratorException text prints both times the way Java's `Date.toString()` does,
//! `Thu Jan 22 01:22:02 UTC 2015`. Clients match that shape with regular expressions, so it
//! has to be exact.
//!
//! The conversion from a day count to a civil date is Howard Hinnant's `civil_from_days`
//! algorithm (proleptic Gregorian calendar, eras of 400 years), written out here so the crate
//! needs no date library and the result does not depend on the host's time zone: Strait
//! always renders UTC.

use std::fmt;

/// Milliseconds in one day.
const MS_PER_DAY: u64 = 86_400_000;

/// Three-letter English day names, indexed from Sunday as Java prints them.
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// Three-letter English month names, indexed from January.
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A UTC calendar date and time of day, derived from milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CivilDateTime {
    /// The year, e.g. 2015.
    pub year: i64,
    /// The month, 1 for January through 12 for December.
    pub month: u32,
    /// The day of the month, starting at 1.
    pub day: u32,
    /// The hour of the day, 0 through 23.
    pub hour: u32,
    /// The minute of the hour, 0 through 59.
    pub minute: u32,
    /// The second of the minute, 0 through 59 (Unix time has no leap seconds).
    pub second: u32,
    /// The millisecond of the second, 0 through 999.
    pub millisecond: u32,
    /// The day of the week, 0 for Sunday through 6 for Saturday.
    pub weekday: u32,
}

impl CivilDateTime {
    /// Converts milliseconds since the Unix epoch to a UTC calendar date and time.
    pub fn from_unix_ms(ms: u64) -> CivilDateTime {
        let days = ms / MS_PER_DAY;
        let ms_of_day = ms % MS_PER_DAY;
        // Every u64 day count fits an i64: u64::MAX / MS_PER_DAY is about 2.1e11.
        let (year, month, day) = civil_from_days(days as i64);
        CivilDateTime {
            year,
            month,
            day,
            hour: (ms_of_day / 3_600_000) as u32,
            minute: (ms_of_day / 60_000 % 60) as u32,
            second: (ms_of_day / 1_000 % 60) as u32,
            millisecond: (ms_of_day % 1_000) as u32,
            // 1970-01-01 was a Thursday.
            weekday: ((days + 4) % 7) as u32,
        }
    }

    /// Returns the three-letter English name of the weekday, as Java prints it.
    pub fn weekday_name(&self) -> &'static str {
        WEEKDAYS[self.weekday as usize % 7]
    }

    /// Returns the three-letter English name of the month, as Java prints it.
    pub fn month_name(&self) -> &'static str {
        MONTHS[(self.month as usize + 11) % 12]
    }
}

impl fmt::Display for CivilDateTime {
    /// Renders the time the way Java's `Date.toString()` does in the UTC zone, which is the
    /// form Kinesis quotes in its messages: `Thu Jan 22 01:22:02 UTC 2015`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
            self.weekday_name(),
            self.month_name(),
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

/// Renders milliseconds since the Unix epoch as Java's `Date.toString()` would in UTC,
/// e.g. `Thu Jan 22 01:22:02 UTC 2015`. Milliseconds are truncated, as Java does.
pub fn java_date_string(ms: u64) -> String {
    CivilDateTime::from_unix_ms(ms).to_string()
}

/// Converts a count of days since 1970-01-01 to a (year, month, day) civil date.
///
/// This is Hinnant's algorithm: shift the epoch to 0000-03-01 so that the leap day falls at
/// the end of the year, split into 400-year eras of 146097 days, then find the year of the
/// era, the day of that (March-based) year, and from it the month and day.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097); // [0, 146096]
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32; // [1, 31]
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32; // [1, 12]
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn epoch_is_a_thursday_in_1970() {
        assert_eq!(java_date_string(0), "Thu Jan 01 00:00:00 UTC 1970");
    }

    #[test]
    fn renders_the_kinesis_example_date() {
        // 2015-01-22T01:22:02Z, the time in the ExpiredIteratorException example.
        assert_eq!(
            java_date_string(1_421_889_722_000),
            "Thu Jan 22 01:22:02 UTC 2015"
        );
        // Milliseconds are truncated, not rounded.
        assert_eq!(
            java_date_string(1_421_889_722_999),
            "Thu Jan 22 01:22:02 UTC 2015"
        );
    }

    #[test]
    fn handles_leap_days_and_year_ends() {
        // 2000-02-29T12:00:00Z (a leap day in a century leap year).
        assert_eq!(java_date_string(951_825_600_000), "Tue Feb 29 12:00:00 UTC 2000");
        // 2024-12-31T23:59:59Z.
        assert_eq!(
            java_date_string(1_735_689_599_000),
            "Tue Dec 31 23:59:59 UTC 2024"
        );
        // 2100-03-01T00:00:00Z (2100 is not a leap year).
        assert_eq!(
            java_date_string(4_107_542_400_000),
            "Mon Mar 01 00:00:00 UTC 2100"
        );
    }

    #[test]
    fn does_not_overflow_at_the_largest_timestamp() {
        let civil = CivilDateTime::from_unix_ms(u64::MAX);
        assert!(civil.year > 500_000_000);
    }

    /// Counts days from 1970-01-01 to the given civil date, the inverse of
    /// `civil_from_days`, by Hinnant's `days_from_civil`.
    fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let month = i64::from(month);
        let day_of_year =
            (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    proptest! {
        #[test]
        fn civil_conversion_round_trips(ms in 0u64..=253_402_300_799_999) {
            let civil = CivilDateTime::from_unix_ms(ms);
            prop_assert!((1..=12).contains(&civil.month));
            prop_assert!((1..=31).contains(&civil.day));
            let days = days_from_civil(civil.year, civil.month, civil.day);
            prop_assert_eq!(days, (ms / MS_PER_DAY) as i64);
            let rebuilt = days as u64 * MS_PER_DAY
                + u64::from(civil.hour) * 3_600_000
                + u64::from(civil.minute) * 60_000
                + u64::from(civil.second) * 1_000
                + u64::from(civil.millisecond);
            prop_assert_eq!(rebuilt, ms);
        }

        #[test]
        fn consecutive_days_advance_the_weekday(day in 0u64..3_000_000) {
            let today = CivilDateTime::from_unix_ms(day * MS_PER_DAY);
            let tomorrow = CivilDateTime::from_unix_ms((day + 1) * MS_PER_DAY);
            prop_assert_eq!((today.weekday + 1) % 7, tomorrow.weekday);
        }
    }
}
