//! `spend_reports`: spend per team and per tag, sent every `spend_report_frequency` (default
//! `7d`), as LiteLLM's `send_weekly_spend_report` writes it (LiteLLM 1.106.2,
//! `integrations/SlackAlerting/slack_alerting.py`; the window and grouping from
//! `get_spend_report_for_time_range`):
//!
//! ```text
//! *💸 Spend Report for `11-25-2026 - 12-02-2026` (7 days)*
//!
//! *Team Spend Report:*
//! Team: `Team One` | Spend: `$1.2346`
//!
//! *Tag Spend Report:*
//! Tag: `prod` | Spend: `$0.5`
//! ```
//!
//! The window runs from `today − N days` to today, both whole UTC days (so N + 1 days of spend);
//! teams are grouped by alias (`None` for spend without a team or a team without an alias), tags
//! by each request tag; both sorted by spend, largest first; amounts `round(spend, 4)` as Python
//! prints it. Nothing is sent when no spend was recorded in the window. LiteLLM's monthly report
//! (`*💸 Monthly Spend Report for ...`) is [`monthly_report`]; LiteLLM schedules it at midnight on
//! the 1st for the month just starting, so it finds no spend and sends nothing.

use hashbrown::HashMap;

use super::money::pico_to_usd;
use super::period::{civil_from_days, days_from_civil, days_in_month, us_date, DAY_MS};
use crate::alerts::text::py_round;

/// `spend_report_frequency`: a whole number of days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportFrequency {
    /// Days between reports, and the report's window.
    pub days: u32,
}

impl ReportFrequency {
    /// LiteLLM's rule: `<N>d` with N > 0 (`1d`, `7d`, `30d`).
    pub fn parse(text: &str) -> Result<ReportFrequency, String> {
        let days = text
            .strip_suffix(['d', 'D'])
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|d| *d > 0 && *d <= 3_660);
        days.map(|days| ReportFrequency { days }).ok_or_else(|| {
            format!("invalid spend_report_frequency \"{text}\"; it must be a positive number of days, e.g. \"1d\", \"7d\"")
        })
    }
}

impl Default for ReportFrequency {
    fn default() -> ReportFrequency {
        ReportFrequency { days: 7 }
    }
}

/// Spend per team alias (`None`: no team or no alias), largest first.
pub type TeamTotals = Vec<(Option<String>, u64)>;
/// Spend per tag, largest first.
pub type TagTotals = Vec<(String, u64)>;

/// Distinct team and tag entries the book keeps across all its days; later ones are counted in
/// [`SpendReportBook::dropped`], so a client inventing tags cannot grow it.
pub const MAX_REPORT_ENTRIES: usize = 4_096;

/// Spend per UTC day, per team alias and per tag: what a report sums. Bounded in days (the
/// longest window) and in entries.
#[derive(Debug)]
pub struct SpendReportBook {
    /// Day number (days since 1970-01-01) → totals.
    days: Vec<(i64, DayTotals)>,
    keep_days: i64,
    entries: usize,
    /// Costs not attributed to a team or tag because the book was full.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct DayTotals {
    teams: HashMap<Option<String>, u64>,
    tags: HashMap<String, u64>,
}

impl SpendReportBook {
    /// A book for reports every `frequency` (it keeps the window's N + 1 days, and at least a
    /// month for [`monthly_report`]).
    pub fn new(frequency: ReportFrequency) -> SpendReportBook {
        SpendReportBook {
            days: Vec::new(),
            keep_days: i64::from(frequency.days).max(31) + 1,
            entries: 0,
            dropped: 0,
        }
    }

    /// Records one request's cost for its team alias (`None`: no team, or no alias) and its
    /// request tags.
    pub fn record(&mut self, now_ms: i64, team_alias: Option<&str>, tags: &[&str], cost: u64) {
        let day = now_ms.div_euclid(DAY_MS);
        if self.days.last().is_none_or(|(d, _)| *d < day) {
            self.days.push((day, DayTotals::default()));
            let oldest = day - self.keep_days;
            let before = self.days.len();
            let mut freed = 0;
            self.days.retain(|(d, t)| {
                let keep = *d > oldest;
                if !keep {
                    freed += t.teams.len() + t.tags.len();
                }
                keep
            });
            if self.days.len() < before {
                self.entries = self.entries.saturating_sub(freed);
            }
        }
        // A clock that went back lands in the latest day.
        let Some((_, totals)) = self.days.last_mut() else {
            return;
        };
        let mut add_team = true;
        let team_key = team_alias.map(str::to_owned);
        if !totals.teams.contains_key(&team_key) {
            if self.entries >= MAX_REPORT_ENTRIES {
                self.dropped = self.dropped.saturating_add(cost);
                add_team = false;
            } else {
                self.entries += 1;
            }
        }
        if add_team {
            let t = totals.teams.entry(team_key).or_insert(0);
            *t = t.saturating_add(cost);
        }
        for tag in tags {
            if !totals.tags.contains_key(*tag) {
                if self.entries >= MAX_REPORT_ENTRIES {
                    self.dropped = self.dropped.saturating_add(cost);
                    continue;
                }
                self.entries += 1;
            }
            let t = totals.tags.entry((*tag).to_owned()).or_insert(0);
            *t = t.saturating_add(cost);
        }
    }

    /// Spend per team alias and per tag over days `first..=last` (day numbers), largest first
    /// (ties by name, for a stable text).
    pub fn totals(&self, first: i64, last: i64) -> (TeamTotals, TagTotals) {
        let mut teams: HashMap<&Option<String>, u64> = HashMap::new();
        let mut tags: HashMap<&String, u64> = HashMap::new();
        for (_, t) in self.days.iter().filter(|(d, _)| (first..=last).contains(d)) {
            for (k, v) in &t.teams {
                *teams.entry(k).or_insert(0) += v;
            }
            for (k, v) in &t.tags {
                *tags.entry(k).or_insert(0) += v;
            }
        }
        let mut teams: TeamTotals = teams.into_iter().map(|(k, v)| (k.clone(), v)).collect();
        teams.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut tags: TagTotals = tags.into_iter().map(|(k, v)| (k.clone(), v)).collect();
        tags.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        (teams, tags)
    }
}

/// `$1.2346`: `round(float(total_spend), 4)` as Python prints it.
fn amount(pico: u64) -> String {
    py_round(pico_to_usd(pico), 4)
}

fn sections(teams: &TeamTotals, tags: &TagTotals) -> String {
    let mut out = String::from("\n*Team Spend Report:*\n");
    for (alias, spend) in teams {
        out.push_str(&format!(
            "Team: `{}` | Spend: `${}`\n",
            alias.as_deref().unwrap_or("None"),
            amount(*spend)
        ));
    }
    out.push_str("\n*Tag Spend Report:*\n");
    for (tag, spend) in tags {
        out.push_str(&format!("Tag: `{tag}` | Spend: `${}`\n", amount(*spend)));
    }
    out
}

/// The report LiteLLM sends every `frequency` at `now_ms`, and the de-duplication key it sets
/// (`weekly_spend_report_sent_<start>_<end>`); `None` when the window holds no spend.
pub fn frequency_report(
    book: &SpendReportBook,
    frequency: ReportFrequency,
    now_ms: i64,
) -> Option<(String, String)> {
    let today = now_ms.div_euclid(DAY_MS);
    let start = today - i64::from(frequency.days);
    let (teams, tags) = book.totals(start, today);
    if teams.is_empty() && tags.is_empty() {
        return None;
    }
    let (s, e) = (start * DAY_MS, today * DAY_MS);
    let text = format!(
        "*💸 Spend Report for `{} - {}` ({} days)*\n{}",
        us_date(s),
        us_date(e),
        frequency.days,
        sections(&teams, &tags)
    );
    let key = format!(
        "weekly_spend_report_sent_{}_{}",
        super::period::iso_date(s),
        super::period::iso_date(e)
    );
    Some((text, key))
}

/// LiteLLM's monthly report for the month holding `now_ms` (first to last day); `None` when that
/// month holds no spend.
pub fn monthly_report(book: &SpendReportBook, now_ms: i64) -> Option<String> {
    let today = now_ms.div_euclid(DAY_MS);
    let (y, m, _) = civil_from_days(today);
    let first = days_from_civil(y, m, 1);
    let last = first + i64::from(days_in_month(y, m)) - 1;
    let (teams, tags) = book.totals(first, last);
    if teams.is_empty() && tags.is_empty() {
        return None;
    }
    Some(format!(
        "*💸 Monthly Spend Report for `{} - {}` *\n{}",
        us_date(first * DAY_MS),
        us_date(last * DAY_MS),
        sections(&teams, &tags)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spend::money::PICO_PER_USD;
    use crate::spend::period::parse_datetime;

    fn at(s: &str) -> i64 {
        parse_datetime(s).unwrap()
    }

    #[test]
    fn frequency_parses_as_litellm() {
        assert_eq!(
            ReportFrequency::parse("7d"),
            Ok(ReportFrequency { days: 7 })
        );
        assert_eq!(
            ReportFrequency::parse("1D"),
            Ok(ReportFrequency { days: 1 })
        );
        for bad in ["0d", "7", "1w", "d", "-1d", "1.5d", "24h"] {
            assert!(
                ReportFrequency::parse(bad)
                    .unwrap_err()
                    .contains("positive number of days"),
                "{bad}"
            );
        }
        assert_eq!(ReportFrequency::default().days, 7);
    }

    #[test]
    fn weekly_report_text_as_litellm_sends_it() {
        let mut book = SpendReportBook::new(ReportFrequency::default());
        // 8 days of window: 2026-11-25 .. 2026-12-02 inclusive.
        book.record(
            at("2026-11-24T23:59:59Z"),
            Some("Team One"),
            &["prod"],
            999 * PICO_PER_USD,
        );
        book.record(
            at("2026-11-25T00:00:00Z"),
            Some("Team One"),
            &["prod", "team-a"],
            1_234_560_000_000,
        );
        book.record(at("2026-12-01T10:00:00Z"), None, &["prod"], 500_000_000_000);
        book.record(at("2026-12-02T09:00:00Z"), Some("Zeta"), &[], 50_000_000);
        book.record(
            at("2026-12-02T09:30:00Z"),
            Some("Team One"),
            &[],
            10_000_000,
        );
        let (text, key) = frequency_report(
            &book,
            ReportFrequency::default(),
            at("2026-12-02T12:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            text,
            "*💸 Spend Report for `11-25-2026 - 12-02-2026` (7 days)*\n\
             \n*Team Spend Report:*\n\
             Team: `Team One` | Spend: `$1.2346`\n\
             Team: `None` | Spend: `$0.5`\n\
             Team: `Zeta` | Spend: `$0.0001`\n\
             \n*Tag Spend Report:*\n\
             Tag: `prod` | Spend: `$1.7346`\n\
             Tag: `team-a` | Spend: `$1.2346`\n"
        );
        assert_eq!(key, "weekly_spend_report_sent_2026-11-25_2026-12-02");
        // Nothing spent in the window: nothing sent.
        assert_eq!(
            frequency_report(
                &book,
                ReportFrequency { days: 1 },
                at("2027-01-10T00:00:00Z")
            ),
            None
        );
    }

    #[test]
    fn monthly_report_text() {
        let mut book = SpendReportBook::new(ReportFrequency::default());
        book.record(
            at("2026-02-03T00:00:00Z"),
            Some("t"),
            &["x"],
            2 * PICO_PER_USD,
        );
        assert_eq!(
            monthly_report(&book, at("2026-02-28T00:00:00Z")).unwrap(),
            "*💸 Monthly Spend Report for `02-01-2026 - 02-28-2026` *\n\n*Team Spend Report:*\nTeam: `t` | Spend: `$2.0`\n\n*Tag Spend Report:*\nTag: `x` | Spend: `$2.0`\n"
        );
        // At midnight on the 1st (LiteLLM's schedule) the new month is empty.
        assert_eq!(monthly_report(&book, at("2026-03-01T00:00:00Z")), None);
    }

    #[test]
    fn the_book_is_bounded_in_days_and_entries() {
        let mut book = SpendReportBook::new(ReportFrequency { days: 7 });
        let day0 = at("2026-01-01T00:00:00Z");
        for d in 0..40 {
            book.record(day0 + d * DAY_MS, Some("t"), &[], 1);
        }
        assert_eq!(book.days.len(), 32, "31 days and today");
        assert_eq!(book.entries, 32);
        let today = (day0 + 39 * DAY_MS).div_euclid(DAY_MS);
        assert_eq!(
            book.totals(today - 100, today).0,
            vec![(Some("t".to_owned()), 32)]
        );
        // A flood of invented tags stops at the bound and is counted.
        let mut flood = SpendReportBook::new(ReportFrequency::default());
        let tags: Vec<String> = (0..MAX_REPORT_ENTRIES + 10)
            .map(|i| format!("tag-{i}"))
            .collect();
        let refs: Vec<&str> = tags.iter().map(String::as_str).collect();
        flood.record(day0, None, &refs, 3);
        assert_eq!(flood.entries, MAX_REPORT_ENTRIES);
        assert_eq!(flood.dropped, 11 * 3);
    }
}
