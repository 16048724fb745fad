//! Durations of the `within` rules, in restic's syntax: `1y2m7d3h`.

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};

/// A calendar duration of years, months, days and hours, as restic's `--keep-within*` take it.
///
/// Written `1y2m7d3h`: each part optional, in any order, each unit at most once. Years, months and
/// days are calendar units in the zone the policy is evaluated in; hours are exact hours. A zero
/// duration (`0d`) means the rule is not set, as in restic. In JSON it is stored as that string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeepSpan {
    /// Years.
    pub years: u32,
    /// Months.
    pub months: u32,
    /// Days.
    pub days: u32,
    /// Hours.
    pub hours: u32,
}

impl KeepSpan {
    /// True when every part is zero: a rule with this duration is not set.
    pub fn is_zero(&self) -> bool {
        *self == KeepSpan::default()
    }

    /// The instant this duration before `latest` is, as restic computes it: step back the years,
    /// months and days on the calendar of `tz` all at once (a day that does not exist rolls over
    /// into the next month, as Go's `AddDate` does: 31 March minus one month is 3 March, or
    /// 2 March in a leap year), then back the hours in exact time. A wall time that falls into a
    /// daylight saving gap is taken after the gap; one that occurs twice, the first time.
    ///
    /// `None` when the result is before the earliest time jiff represents: then every snapshot is
    /// within the duration.
    pub(crate) fn cutoff(&self, latest: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let dt = tz.to_datetime(latest);
        let months = i64::from(dt.month()) - 1 - i64::from(self.months);
        let year = i64::from(dt.year()) - i64::from(self.years) + months.div_euclid(12);
        let month = i8::try_from(months.rem_euclid(12) + 1).ok()?;
        let first = Date::new(i16::try_from(year).ok()?, month, 1).ok()?;
        let days = i64::from(dt.day()) - 1 - i64::from(self.days);
        let date = first
            .checked_add(jiff::Span::new().try_days(days).ok()?)
            .ok()?;
        let at = tz
            .to_ambiguous_timestamp(date.to_datetime(dt.time()))
            .compatible()
            .ok()?;
        at.checked_sub(SignedDuration::try_from_hours(i64::from(self.hours))?)
            .ok()
    }
}

impl fmt::Display for KeepSpan {
    /// restic's form: the non-zero parts in the order years, months, days, hours (`1y2m3d4h`);
    /// zero is `0h`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0h");
        }
        for (n, unit) in [
            (self.years, 'y'),
            (self.months, 'm'),
            (self.days, 'd'),
            (self.hours, 'h'),
        ] {
            if n != 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for KeepSpan {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_span(s)
    }
}

impl Serialize for KeepSpan {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeepSpan {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_span(&s).map_err(serde::de::Error::custom)
    }
}

/// Parses a duration in restic's syntax: a number followed by a unit, `y` (years), `m` (months),
/// `d` (days) or `h` (hours), repeated, e.g. `1y2m7d3h`, `30d`, `36h`; surrounding white space is
/// ignored.
///
/// Stricter than restic where restic would silently do something else: negative parts (restic
/// refuses them too, later), a unit given twice (restic keeps the last), `w` (restic rejects it as
/// an unknown unit; the message here suggests `7d`), and `unlimited` (a `within` rule has no
/// unlimited form: `--keep-last unlimited` keeps everything) are [`ErrorKind::InvalidInput`].
pub fn parse_span(s: &str) -> Result<KeepSpan> {
    let invalid = |why: String| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("invalid duration {s:?}: {why}"),
        )
    };
    let text = s.trim();
    if text.is_empty() {
        return Err(invalid(
            "it is empty; give a number and a unit, e.g. 7d or 1y6m".into(),
        ));
    }
    if text == "unlimited" {
        return Err(invalid(
            "a `within` rule takes a duration; to keep every snapshot use a count of `unlimited`, \
             e.g. --keep-last unlimited"
                .into(),
        ));
    }
    let mut span = KeepSpan::default();
    let mut seen = [false; 4];
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with('-') {
            return Err(invalid("durations cannot be negative".into()));
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid(format!(
                "expected a number at {rest:?} (the form is e.g. 1y2m7d3h)"
            )));
        }
        let (number, after) = rest.split_at(digits);
        let n: u32 = number
            .parse()
            .map_err(|_| invalid(format!("{number} is too large")))?;
        let mut chars = after.chars();
        let (slot, field) = match chars.next() {
            Some('y') => (0, &mut span.years),
            Some('m') => (1, &mut span.months),
            Some('d') => (2, &mut span.days),
            Some('h') => (3, &mut span.hours),
            Some('w') => {
                return Err(invalid(format!(
                    "weeks are not a unit; give days instead ({}d)",
                    u64::from(n) * 7
                )))
            }
            Some(c) => {
                return Err(invalid(format!(
                    "unknown unit {c:?} after {n}; units are y, m, d and h"
                )))
            }
            None => {
                return Err(invalid(format!(
                    "no unit after {n}; units are y, m, d and h"
                )))
            }
        };
        if seen[slot] {
            return Err(invalid("a unit is given twice".into()));
        }
        seen[slot] = true;
        *field = n;
        rest = chars.as_str();
    }
    Ok(span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(years: u32, months: u32, days: u32, hours: u32) -> KeepSpan {
        KeepSpan {
            years,
            months,
            days,
            hours,
        }
    }

    #[test]
    fn parses_restic_syntax() {
        for (text, want) in [
            ("1y2m7d3h", span(1, 2, 7, 3)),
            ("30d", span(0, 0, 30, 0)),
            ("36h", span(0, 0, 0, 36)),
            ("3h1y", span(1, 0, 0, 3)),
            (" 1m14d ", span(0, 1, 14, 0)),
            ("0d", span(0, 0, 0, 0)),
            ("007d", span(0, 0, 7, 0)),
        ] {
            assert_eq!(parse_span(text).unwrap(), want, "{text}");
        }
        assert!(parse_span("0d").unwrap().is_zero());
    }

    #[test]
    fn rejects_malformed_durations() {
        for (text, hint) in [
            ("", "empty"),
            ("   ", "empty"),
            ("7", "no unit"),
            ("d", "expected a number"),
            ("1w", "(7d)"),
            ("1x", "unknown unit"),
            ("-1d", "negative"),
            ("1d-2h", "negative"),
            ("1d2d", "twice"),
            ("1 d", "unknown unit"),
            ("1D", "unknown unit"),
            ("99999999999d", "too large"),
            ("unlimited", "--keep-last unlimited"),
            ("1y 2m", "expected a number"),
            ("٣d", "expected a number"),
        ] {
            let e = parse_span(text).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{text}");
            assert!(e.to_string().contains(hint), "{text}: {e}");
        }
    }

    #[test]
    fn displays_and_serialises_as_restic_writes_it() {
        assert_eq!(span(1, 2, 3, 4).to_string(), "1y2m3d4h");
        assert_eq!(span(0, 0, 7, 0).to_string(), "7d");
        assert_eq!(span(0, 0, 0, 0).to_string(), "0h");
        assert_eq!(parse_span("3h1y").unwrap().to_string(), "1y3h");
        let json = serde_json::to_string(&span(0, 1, 14, 0)).unwrap();
        assert_eq!(json, r#""1m14d""#);
        let back: KeepSpan = serde_json::from_str(&json).unwrap();
        assert_eq!(back, span(0, 1, 14, 0));
        assert!(serde_json::from_str::<KeepSpan>(r#""1w""#).is_err());
        assert!(serde_json::from_str::<KeepSpan>("7").is_err());
        for s in [span(0, 0, 0, 0), span(5, 0, 0, 1), span(0, 11, 0, 0)] {
            assert_eq!(parse_span(&s.to_string()).unwrap(), s);
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn cutoff_steps_the_calendar_like_go_add_date() {
        let utc = TimeZone::UTC;
        for (latest, d, want) in [
            // Plain steps.
            ("2024-06-15T12:00:00Z", "7d", "2024-06-08T12:00:00Z"),
            ("2024-06-15T12:00:00Z", "1y2m3d4h", "2023-04-12T08:00:00Z"),
            ("2024-01-15T00:30:00Z", "1h", "2024-01-14T23:30:00Z"),
            // Across a year boundary backwards.
            ("2024-02-10T00:00:00Z", "3m", "2023-11-10T00:00:00Z"),
            ("2024-02-10T00:00:00Z", "14m", "2022-12-10T00:00:00Z"),
            // A day that does not exist rolls over, as in Go: 31 March - 1 month = 31 February.
            ("2024-03-31T10:00:00Z", "1m", "2024-03-02T10:00:00Z"),
            ("2023-03-31T10:00:00Z", "1m", "2023-03-03T10:00:00Z"),
            // Leap day minus a year is 29 February 2023, which is 1 March.
            ("2024-02-29T10:00:00Z", "1y", "2023-03-01T10:00:00Z"),
            ("2028-02-29T10:00:00Z", "4y", "2024-02-29T10:00:00Z"),
            // Days are applied together with months, not after them.
            ("2024-03-01T10:00:00Z", "1m1d", "2024-01-31T10:00:00Z"),
        ] {
            let got = parse_span(d).unwrap().cutoff(at(latest), &utc).unwrap();
            assert_eq!(got, at(want), "{latest} - {d}");
        }
    }

    #[test]
    fn cutoff_counts_days_on_the_local_calendar() {
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        // 31 March 2024, 12:00 CEST (10:00 UTC). One day earlier on the wall clock is 30 March,
        // 12:00 CET = 11:00 UTC: 23 hours earlier, since the night had one hour less.
        let got = parse_span("1d")
            .unwrap()
            .cutoff(at("2024-03-31T10:00:00Z"), &berlin)
            .unwrap();
        assert_eq!(got, at("2024-03-30T11:00:00Z"));
        // Hours stay exact: 24h is 24 hours even over the change.
        let got = parse_span("24h")
            .unwrap()
            .cutoff(at("2024-03-31T10:00:00Z"), &berlin)
            .unwrap();
        assert_eq!(got, at("2024-03-30T10:00:00Z"));
        // A wall time in the gap (31 March 02:30 does not exist) is taken after the gap.
        let got = parse_span("1d")
            .unwrap()
            .cutoff(at("2024-04-01T00:30:00Z"), &berlin)
            .unwrap();
        assert_eq!(got, at("2024-03-31T01:30:00Z"));
    }

    #[test]
    fn cutoff_out_of_range_means_everything_is_within() {
        let d = span(u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(d.cutoff(at("2024-01-01T00:00:00Z"), &TimeZone::UTC), None);
        assert_eq!(
            span(20_000, 0, 0, 0).cutoff(at("2024-01-01T00:00:00Z"), &TimeZone::UTC),
            None
        );
    }
}
