//! Budget periods in LiteLLM's vocabulary: `budget_duration` (`30s`, `1h`, `1d`, `7d`, `30d`,
//! `1mo`, `hourly`...), when a period ends (`budget_reset_at`), and the calendar arithmetic
//! behind both, in UTC milliseconds since the Unix epoch.
//!
//! Facts from LiteLLM 1.106.2 `litellm/litellm_core_utils/duration_parser.py`:
//! `duration_in_seconds` reads `<n>s|m|h|d|w|mo` (and the words `hourly`, `daily`, `weekly`,
//! `monthly`); a key, team or user budget then resets at `get_next_standardized_reset_time`,
//! aligned to the calendar rather than to the moment the budget was set: `1d` at the next
//! `budget_reset_time` (midnight by default), `7d`/`1w` on the next Monday, `30d`/`1mo` on the
//! first of the next month, `Nh`/`Nm`/`Ns` at the next multiple of N within the day (the count
//! restarting at midnight), other `Nd` at midnight N days from today. Durations LiteLLM refuses to
//! store (0, or more than one month, `2mo`) are refused here too.
//!
//! Time zone: LiteLLM resets in `litellm_settings.timezone` (default UTC). The filter has no time
//! zone database, so it resets in UTC; another zone is reported by the settings parser.

/// Milliseconds in a second, minute, hour and day.
const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// The unit of a [`BudgetDuration`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// `s`
    Second,
    /// `m`
    Minute,
    /// `h`
    Hour,
    /// `d`
    Day,
    /// `w`
    Week,
    /// `mo`
    Month,
}

/// A parsed `budget_duration`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BudgetDuration {
    /// The number before the unit (> 0).
    pub value: u32,
    /// The unit.
    pub unit: Unit,
}

impl BudgetDuration {
    /// Parses LiteLLM's syntax. The error is a sentence for the configuration error message.
    pub fn parse(text: &str) -> Result<BudgetDuration, String> {
        let normalized = match text.trim().to_ascii_lowercase().as_str() {
            "hourly" => "1h".to_owned(),
            "daily" => "24h".to_owned(),
            "weekly" => "7d".to_owned(),
            "monthly" => "30d".to_owned(),
            _ => text.to_owned(),
        };
        let invalid = || {
            format!("invalid budget_duration \"{text}\"; use a format like \"1h\", \"24h\", \"7d\", \"30d\" or \"1mo\"")
        };
        let digits_end = normalized
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(normalized.len());
        let (number, unit) = normalized.split_at(digits_end);
        let value: u32 = number.parse().map_err(|_| invalid())?;
        let unit = match unit {
            "s" => Unit::Second,
            "m" => Unit::Minute,
            "h" => Unit::Hour,
            "d" => Unit::Day,
            "w" => Unit::Week,
            "mo" => Unit::Month,
            _ => return Err(invalid()),
        };
        if value == 0 {
            // LiteLLM: a zero duration leaves the budget permanently due for a reset.
            return Err(format!(
                "invalid budget_duration \"{text}\"; it must be longer than 0"
            ));
        }
        if unit == Unit::Month && value != 1 {
            return Err(format!(
                "invalid budget_duration \"{text}\"; LiteLLM resets monthly budgets every month only (\"1mo\" or \"30d\")"
            ));
        }
        Ok(BudgetDuration { value, unit })
    }

    /// LiteLLM's `duration_in_seconds` at `now_ms`, in milliseconds: the length of a rolling
    /// window (provider budgets). A month runs to the same day and time next month (clamped to
    /// the month's last day).
    pub fn length_ms(self, now_ms: i64) -> i64 {
        let v = i64::from(self.value);
        match self.unit {
            Unit::Second => v * SECOND,
            Unit::Minute => v * MINUTE,
            Unit::Hour => v * HOUR,
            Unit::Day => v * DAY,
            Unit::Week => v * 7 * DAY,
            Unit::Month => add_months(now_ms, self.value).saturating_sub(now_ms),
        }
    }

    /// LiteLLM's `get_next_standardized_reset_time`: when a period that is running at `now_ms`
    /// ends, in UTC; `time_of_day_ms` is `budget_reset_time` (ms after midnight) for day, week and
    /// month durations.
    pub fn next_reset(self, now_ms: i64, time_of_day_ms: i64) -> i64 {
        let midnight = now_ms.div_euclid(DAY) * DAY;
        let since_midnight = now_ms - midnight;
        let v = i64::from(self.value);
        match self.unit {
            Unit::Day => day_reset(now_ms, midnight, v, time_of_day_ms),
            Unit::Week => day_reset(now_ms, midnight, v * 7, time_of_day_ms),
            Unit::Month => month_reset(now_ms, midnight, time_of_day_ms),
            // `current + value - current % value` of the hour, minute or second field, carried
            // into the larger fields; past midnight it lands on the next day, at that hour of it.
            Unit::Hour => {
                let hour = since_midnight / HOUR;
                let next = hour + v - hour % v;
                if next >= 24 {
                    midnight + DAY + (next % 24) * HOUR
                } else {
                    midnight + next * HOUR
                }
            }
            Unit::Minute => {
                let (hour, minute) = (since_midnight / HOUR, since_midnight % HOUR / MINUTE);
                let next = minute + v - minute % v;
                let hour = hour + next / 60;
                let at = (hour % 24) * HOUR + (next % 60) * MINUTE;
                if hour >= 24 {
                    midnight + DAY + at
                } else {
                    midnight + at
                }
            }
            Unit::Second => {
                let (hour, minute, second) = (
                    since_midnight / HOUR,
                    since_midnight % HOUR / MINUTE,
                    since_midnight % MINUTE / SECOND,
                );
                let next = second + v - second % v;
                let minute = minute + next / 60;
                let hour = hour + minute / 60;
                let at = (hour % 24) * HOUR + (minute % 60) * MINUTE + (next % 60) * SECOND;
                if hour >= 24 {
                    midnight + DAY + at
                } else {
                    midnight + at
                }
            }
        }
    }

    /// LiteLLM's `get_budget_window_start`: when the period that ends at `reset_ms` began
    /// (`30d` and `1mo` span calendar months).
    pub fn window_start(self, reset_ms: i64) -> i64 {
        let v = i64::from(self.value);
        match self.unit {
            Unit::Month => sub_months(reset_ms, self.value),
            Unit::Day if self.value == 30 => sub_months(reset_ms, 1),
            Unit::Day => reset_ms - v * DAY,
            Unit::Week => reset_ms - v * 7 * DAY,
            Unit::Hour => reset_ms - v * HOUR,
            Unit::Minute => reset_ms - v * MINUTE,
            Unit::Second => reset_ms - v * SECOND,
        }
    }
}

/// `_handle_day_reset`.
fn day_reset(now_ms: i64, midnight: i64, days: i64, time_of_day_ms: i64) -> i64 {
    match days {
        // The next `budget_reset_time`, today's if it is still ahead.
        1 => next_occurrence(midnight, time_of_day_ms, now_ms, DAY),
        // The coming Monday (today if it is one and the time is still ahead).
        7 => {
            let until_monday = (7 - weekday(now_ms)) % 7;
            next_occurrence(
                midnight + until_monday * DAY,
                time_of_day_ms,
                now_ms,
                7 * DAY,
            )
        }
        30 => month_reset(now_ms, midnight, time_of_day_ms),
        // N days from the start of today, whatever the time now.
        n => midnight + n * DAY + time_of_day_ms,
    }
}

/// `_next_occurrence`: `boundary + time_of_day`, or one `period` later if that is not ahead.
fn next_occurrence(boundary: i64, time_of_day_ms: i64, now_ms: i64, period: i64) -> i64 {
    let candidate = boundary + time_of_day_ms;
    if candidate <= now_ms {
        candidate + period
    } else {
        candidate
    }
}

/// `_handle_month_reset`: the first of this month at the reset time if still ahead, else the
/// first of next month.
fn month_reset(now_ms: i64, midnight: i64, time_of_day_ms: i64) -> i64 {
    let (y, m, _) = civil_from_days(midnight.div_euclid(DAY));
    let first = days_from_civil(y, m, 1) * DAY + time_of_day_ms;
    if first <= now_ms {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        days_from_civil(ny, nm, 1) * DAY + time_of_day_ms
    } else {
        first
    }
}

/// Monday = 0 ... Sunday = 6 (Python's `weekday()`).
pub fn weekday(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday (3).
    (ms.div_euclid(DAY) + 3).rem_euclid(7)
}

/// The same day and time `months` later, the day clamped to that month's length.
fn add_months(ms: i64, months: u32) -> i64 {
    let day = ms.div_euclid(DAY);
    let time = ms - day * DAY;
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + i64::from(m) - 1 + i64::from(months);
    let (ty, tm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    days_from_civil(ty, tm, d.min(days_in_month(ty, tm))) * DAY + time
}

/// `_subtract_months`.
fn sub_months(ms: i64, months: u32) -> i64 {
    let day = ms.div_euclid(DAY);
    let time = ms - day * DAY;
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + i64::from(m) - 1 - i64::from(months);
    let (ty, tm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
    days_from_civil(ty, tm, d.min(days_in_month(ty, tm))) * DAY + time
}

/// Days in month `m` of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01: (year, month 1-12, day 1-31).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `YYYY-MM-DD` of the UTC day holding `ms` (Python's `str(date)`).
pub fn iso_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY));
    format!("{y:04}-{m:02}-{d:02}")
}

/// `MM-DD-YYYY` of the UTC day holding `ms` (`strftime('%m-%d-%Y')`).
pub fn us_date(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(DAY));
    format!("{m:02}-{d:02}-{y:04}")
}

/// Start (ms) of the UTC day holding `ms`.
pub fn day_start(ms: i64) -> i64 {
    ms.div_euclid(DAY) * DAY
}

/// One day in milliseconds.
pub const DAY_MS: i64 = DAY;

/// `budget_reset_time`: `HH:MM` or `HH:MM:SS` (24-hour) → ms after midnight.
pub fn parse_time_of_day(text: &str) -> Result<i64, String> {
    let invalid = || {
        format!("invalid budget_reset_time \"{text}\"; expected a 24-hour \"HH:MM\" or \"HH:MM:SS\" string, e.g. \"12:00\"")
    };
    let parts: Vec<&str> = text.split(':').collect();
    let field = |s: &str, max: i64| -> Option<i64> {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
            .filter(|v| *v <= max)
    };
    let (h, m, s) = match parts.as_slice() {
        [h, m] => (field(h, 23), field(m, 59), Some(0)),
        [h, m, s] => (field(h, 23), field(m, 59), field(s, 59)),
        _ => return Err(invalid()),
    };
    match (h, m, s) {
        (Some(h), Some(m), Some(s)) => Ok(h * HOUR + m * MINUTE + s * SECOND),
        _ => Err(invalid()),
    }
}

/// An ISO 8601 date or date-time (`2026-01-01`, `2026-01-01T00:00:00Z`,
/// `2026-01-01 08:30:00.5+05:30`), as LiteLLM stores `budget_reset_at`; without an offset, UTC.
pub fn parse_datetime(text: &str) -> Result<i64, String> {
    let invalid = || {
        format!("invalid date-time \"{text}\"; expected ISO 8601, e.g. \"2026-01-01T00:00:00Z\"")
    };
    let num = |s: Option<&str>, len: usize| -> Option<i64> {
        let s = s?;
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mut dp = date.split('-');
    let (y, mo, d) = (num(dp.next(), 4), num(dp.next(), 2), num(dp.next(), 2));
    let (Some(y), Some(mo), Some(d), None) = (y, mo, d, dp.next()) else {
        return Err(invalid());
    };
    let mo = u32::try_from(mo).map_err(|_| invalid())?;
    let d = u32::try_from(d).map_err(|_| invalid())?;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return Err(invalid());
    }
    let mut ms = days_from_civil(y, mo, d) * DAY;
    let Some(rest) = rest else {
        return Ok(ms);
    };
    // Split the offset off: `Z`, `+HH:MM`, `-HHMM`.
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, o) = rest.split_at(i);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let digits: String = o[1..].chars().filter(|c| *c != ':').collect();
        let (oh, om) = (num(digits.get(..2), 2), num(digits.get(2..), 2));
        match (oh, om, digits.len()) {
            (Some(h), Some(m), 4) if h < 24 && m < 60 => (c, sign * (h * HOUR + m * MINUTE)),
            _ => return Err(invalid()),
        }
    } else {
        (rest, 0)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (a, f),
        Some(_) => return Err(invalid()),
        None => (clock, ""),
    };
    let mut cp = hms.split(':');
    let (h, m, s) = (num(cp.next(), 2), num(cp.next(), 2), cp.next());
    let s = match s {
        Some(s) => num(Some(s), 2),
        None => Some(0),
    };
    let (Some(h), Some(m), Some(s), None) = (h, m, s, cp.next()) else {
        return Err(invalid());
    };
    if h > 23 || m > 59 || s > 59 {
        return Err(invalid());
    }
    let frac_ms: i64 = format!("{frac:0<3}")
        .get(..3)
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    ms += h * HOUR + m * MINUTE + s * SECOND + frac_ms - offset;
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// UTC date-time → ms, for readable tests.
    fn at(text: &str) -> i64 {
        parse_datetime(text).unwrap()
    }

    fn next(duration: &str, now: &str) -> String {
        let ms = BudgetDuration::parse(duration)
            .unwrap()
            .next_reset(at(now), 0);
        let (clock, date) = (ms.rem_euclid(DAY), iso_date(ms));
        format!(
            "{date}T{:02}:{:02}:{:02}",
            clock / HOUR,
            clock % HOUR / MINUTE,
            clock % MINUTE / SECOND
        )
    }

    #[test]
    fn parses_litellm_durations() {
        let d = |s: &str| BudgetDuration::parse(s).map(|d| (d.value, d.unit));
        assert_eq!(d("30s"), Ok((30, Unit::Second)));
        assert_eq!(d("15m"), Ok((15, Unit::Minute)));
        assert_eq!(d("1h"), Ok((1, Unit::Hour)));
        assert_eq!(d("1d"), Ok((1, Unit::Day)));
        assert_eq!(d("7d"), Ok((7, Unit::Day)));
        assert_eq!(d("2w"), Ok((2, Unit::Week)));
        assert_eq!(d("30d"), Ok((30, Unit::Day)));
        assert_eq!(d("1mo"), Ok((1, Unit::Month)));
        assert_eq!(d(" Daily "), Ok((24, Unit::Hour)));
        assert_eq!(d("monthly"), Ok((30, Unit::Day)));
        for bad in ["", "d", "1y", "10", "1.5h", "-1d", "1 d", "30days"] {
            assert!(d(bad).unwrap_err().contains("use a format like"), "{bad}");
        }
        assert!(d("0d").unwrap_err().contains("longer than 0"));
        assert!(d("2mo").unwrap_err().contains("every month only"));
    }

    #[test]
    fn resets_align_to_the_calendar_as_litellm() {
        // 2026-12-02 is a Wednesday.
        let now = "2026-12-02T13:47:05";
        assert_eq!(next("30s", now), "2026-12-02T13:47:30");
        assert_eq!(next("45s", now), "2026-12-02T13:47:45");
        assert_eq!(next("15m", now), "2026-12-02T14:00:00");
        assert_eq!(next("1h", now), "2026-12-02T14:00:00");
        assert_eq!(next("5h", now), "2026-12-02T15:00:00");
        assert_eq!(next("1d", now), "2026-12-03T00:00:00");
        assert_eq!(next("daily", now), "2026-12-03T00:00:00");
        assert_eq!(next("7d", now), "2026-12-07T00:00:00");
        assert_eq!(next("1w", now), "2026-12-07T00:00:00");
        assert_eq!(next("3d", now), "2026-12-05T00:00:00");
        assert_eq!(next("30d", now), "2027-01-01T00:00:00");
        assert_eq!(next("1mo", "2026-02-10T10:00:00"), "2026-03-01T00:00:00");
        // Past midnight: the next day, at the carried hour.
        assert_eq!(next("5h", "2026-12-02T22:10:00"), "2026-12-03T01:00:00");
        assert_eq!(next("48h", "2026-12-02T22:10:00"), "2026-12-03T00:00:00");
        assert_eq!(next("1h", "2026-12-31T23:59:59"), "2027-01-01T00:00:00");
        assert_eq!(next("10m", "2026-12-31T23:55:00"), "2027-01-01T00:00:00");
        assert_eq!(next("25m", "2026-12-02T10:55:00"), "2026-12-02T11:15:00");
        assert_eq!(next("30s", "2026-12-31T23:59:45"), "2027-01-01T00:00:00");
        assert_eq!(next("90s", "2026-12-02T10:00:10"), "2026-12-02T10:01:30");
        // Exactly on a boundary: the next one.
        assert_eq!(next("1h", "2026-12-02T14:00:00"), "2026-12-02T15:00:00");
        assert_eq!(next("1d", "2026-12-03T00:00:00"), "2026-12-04T00:00:00");
        // A Monday before its reset time keeps today; at midnight exactly, next week.
        assert_eq!(next("7d", "2026-12-07T00:00:00"), "2026-12-14T00:00:00");
        assert_eq!(next("30d", "2026-12-01T00:00:00"), "2027-01-01T00:00:00");
    }

    #[test]
    fn reset_time_of_day_applies_to_days_weeks_months() {
        let noon = parse_time_of_day("12:00").unwrap();
        let d = |s: &str| BudgetDuration::parse(s).unwrap();
        let now = at("2026-12-02T09:00:00");
        assert_eq!(d("1d").next_reset(now, noon), at("2026-12-02T12:00:00"));
        assert_eq!(
            d("1d").next_reset(at("2026-12-02T12:00:00"), noon),
            at("2026-12-03T12:00:00")
        );
        assert_eq!(d("7d").next_reset(now, noon), at("2026-12-07T12:00:00"));
        assert_eq!(d("1mo").next_reset(now, noon), at("2027-01-01T12:00:00"));
        assert_eq!(
            d("1mo").next_reset(at("2026-12-01T11:00:00"), noon),
            at("2026-12-01T12:00:00")
        );
        assert_eq!(d("1h").next_reset(now, noon), at("2026-12-02T10:00:00"));
        assert_eq!(parse_time_of_day("23:59:59"), Ok(86_399_000));
        for bad in ["24:00", "12", "1:00", "12:60", "12:00:00:00", "noon"] {
            assert!(parse_time_of_day(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rolling_lengths_and_window_starts() {
        let d = |s: &str| BudgetDuration::parse(s).unwrap();
        assert_eq!(d("1d").length_ms(0), 86_400_000);
        assert_eq!(d("2w").length_ms(0), 14 * 86_400_000);
        // A month from 31 January is 28 February (2026 is not a leap year).
        let jan31 = at("2026-01-31T10:00:00");
        assert_eq!(jan31 + d("1mo").length_ms(jan31), at("2026-02-28T10:00:00"));
        assert_eq!(
            d("30d").window_start(at("2027-01-01T00:00:00")),
            at("2026-12-01T00:00:00")
        );
        assert_eq!(
            d("1mo").window_start(at("2026-03-31T00:00:00")),
            at("2026-02-28T00:00:00")
        );
        assert_eq!(
            d("7d").window_start(at("2026-12-07T00:00:00")),
            at("2026-11-30T00:00:00")
        );
        assert_eq!(
            d("1h").window_start(at("2026-12-02T14:00:00")),
            at("2026-12-02T13:00:00")
        );
    }

    #[test]
    fn dates_and_datetimes() {
        assert_eq!(at("1970-01-01"), 0);
        assert_eq!(at("2026-12-02T13:08:11Z"), 1_796_216_891_000);
        assert_eq!(at("2026-12-02 18:38:11.250+05:30"), 1_796_216_891_250);
        assert_eq!(at("2026-12-02T08:08:11-0500"), 1_796_216_891_000);
        assert_eq!(at("2024-02-29T00:00"), days_from_civil(2024, 2, 29) * DAY);
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-1-01",
            "2026-12-02T25:00",
            "x",
            "2026-12-02T10:00+5",
        ] {
            assert!(parse_datetime(bad).is_err(), "{bad}");
        }
        assert_eq!(iso_date(at("2026-12-02T23:59:59")), "2026-12-02");
        assert_eq!(us_date(at("2026-03-05T01:00:00")), "03-05-2026");
        assert_eq!(weekday(at("2026-12-07")), 0);
        assert_eq!(weekday(at("2026-12-06")), 6);
        for z in [-1_000_000, -1, 0, 59, 19_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
