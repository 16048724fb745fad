//! Retention policies: which snapshots of a group to keep, with restic's `forget` semantics.
//!
//! [`apply`] takes the snapshots of one group (see [`group`]) and a [`KeepPolicy`] and decides for
//! each snapshot whether to keep it and why. The rules are restic's (`restic forget --keep-*`, as
//! of restic 0.17), so restic users get what they expect:
//!
//! - Snapshots are considered newest first. A snapshot is kept when any rule keeps it; its
//!   reasons are every rule that did.
//! - `last n` keeps the n newest snapshots.
//! - `hourly`/`daily`/`weekly`/`monthly`/`yearly n` keep, for each of the n most recent hours (days,
//!   ISO weeks, months, years) that have a snapshot, the newest snapshot in it. Periods without
//!   snapshots do not count. Periods are calendar periods in the time zone given to [`apply`].
//! - While a counting rule still has counts left when it reaches the oldest snapshot of the
//!   group, that snapshot is kept too, even if its period already has one (reason `oldest daily
//!   snapshot` and so on): this keeps the longest history the counts allow.
//! - [`Count::Unlimited`] keeps one snapshot per period, however many periods there are.
//! - `within d` keeps every snapshot taken less than `d` before the newest snapshot of the group
//!   (not before now); `within_daily d` and the like keep the newest snapshot of each day (and so
//!   on) within `d` of the newest snapshot, plus the oldest such snapshot of the group. Snapshots
//!   in the future are not taken as the newest (a host with a wrong clock cannot make every
//!   other snapshot "old"); they are always within.
//! - `tags` keeps every snapshot that has all tags of any one of the lists; a list of the empty
//!   tag (`--keep-tag ''`) matches snapshots without tags.
//!
//! An empty policy (see [`KeepPolicy::is_empty`]) keeps everything here; `forget` refuses it,
//! since its user most likely forgot the rules, and `apply` of no rules would otherwise have to
//! remove every snapshot.

mod group;
mod span;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use cairn_repo_format::{Snapshot, SnapshotId};
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, ErrorKind, Result};

pub use group::{group, AppKey, GroupBy, GroupKey};
pub use span::{parse_span, KeepSpan};

/// How many periods (or snapshots, for `last`) a counting rule keeps.
///
/// In JSON a number, or the string `"unlimited"`; `-1` is read as unlimited too (restic's value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Count {
    /// At most this many; 0 means the rule is not set, as in restic.
    Limit(u32),
    /// One per period, for all periods (restic's `unlimited`, or `-1`).
    Unlimited,
}

impl Count {
    /// True for a rule that keeps something: unlimited or at least 1.
    pub fn is_set(self) -> bool {
        self != Count::Limit(0)
    }
}

/// Parses a count: a number, `unlimited`, or restic's older `-1` for unlimited. Other negative
/// numbers and anything else are [`ErrorKind::InvalidInput`].
pub fn parse_count(s: &str) -> Result<Count> {
    match s.trim() {
        "unlimited" | "-1" => Ok(Count::Unlimited),
        t => t.parse::<u32>().map(Count::Limit).map_err(|_| {
            let why = if t.starts_with('-') {
                "negative counts are not allowed; use `unlimited` to keep all"
            } else {
                "give a number of snapshots to keep, or `unlimited`"
            };
            Error::new(
                ErrorKind::InvalidInput,
                format!("invalid count {s:?}: {why}"),
            )
        }),
    }
}

impl FromStr for Count {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        parse_count(s)
    }
}

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Count::Limit(n) => write!(f, "{n}"),
            Count::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl Serialize for Count {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Count::Limit(n) => s.serialize_u32(*n),
            Count::Unlimited => s.serialize_str("unlimited"),
        }
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        parse_count(&text).map_err(serde::de::Error::custom)
    }
}

/// Tags that a snapshot must all have for a `tags` rule to keep it.
///
/// In JSON a list of strings. Parsed from restic's `--keep-tag` form: tags separated by commas,
/// white space around each removed (so `''` is the list of the empty tag, which matches
/// snapshots without tags).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TagList(pub Vec<String>);

impl TagList {
    /// Whether `tags` satisfies the list, exactly as restic's `HasTags`: every tag must be among
    /// `tags`, except that an empty tag met while checking matches when `tags` is empty.
    pub fn matches(&self, tags: &[String]) -> bool {
        for t in &self.0 {
            if t.is_empty() && tags.is_empty() {
                return true;
            }
            if !tags.contains(t) {
                return false;
            }
        }
        true
    }
}

impl FromStr for TagList {
    type Err = Error;

    /// Never fails.
    fn from_str(s: &str) -> Result<Self> {
        Ok(TagList(
            s.split(',').map(|t| t.trim().to_string()).collect(),
        ))
    }
}

impl fmt::Display for TagList {
    /// As restic prints it: `[a, b]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0.join(", "))
    }
}

/// A retention policy: the `--keep-*` rules of `forget`. `None` (or a count of 0, or a zero
/// duration) leaves a rule unset; [`Default`] sets none.
///
/// Stored in the repository as JSON. Unknown fields are rejected rather than ignored: a reader
/// that skipped a rule it does not know would remove snapshots that rule keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeepPolicy {
    /// Keep the n newest snapshots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last: Option<Count>,
    /// Keep the newest snapshot of each of the n most recent hours that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hourly: Option<Count>,
    /// Keep the newest snapshot of each of the n most recent days that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily: Option<Count>,
    /// Keep the newest snapshot of each of the n most recent ISO weeks (Monday to Sunday) that
    /// have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weekly: Option<Count>,
    /// Keep the newest snapshot of each of the n most recent months that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monthly: Option<Count>,
    /// Keep the newest snapshot of each of the n most recent years that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yearly: Option<Count>,
    /// Keep every snapshot taken within this duration before the group's newest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within: Option<KeepSpan>,
    /// Keep the newest snapshot of each hour within this duration of the newest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_hourly: Option<KeepSpan>,
    /// Keep the newest snapshot of each day within this duration of the newest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_daily: Option<KeepSpan>,
    /// Keep the newest snapshot of each ISO week within this duration of the newest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_weekly: Option<KeepSpan>,
    /// Keep the newest snapshot of each month within this duration of the newest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_monthly: Option<KeepSpan>,
    /// Keep the newest snapshot of each year within this duration of the newest snapshot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub within_yearly: Option<KeepSpan>,
    /// Keep every snapshot that has all tags of at least one of these lists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<TagList>,
}

impl KeepPolicy {
    /// True when no rule is set: every count is unset or 0, every duration unset or zero, and
    /// there are no tag lists (restic's `Empty`). [`apply`] keeps everything under such a policy;
    /// callers that remove snapshots must refuse it.
    pub fn is_empty(&self) -> bool {
        self.counts()
            .iter()
            .all(|(c, _)| !c.is_some_and(Count::is_set))
            && self
                .spans()
                .iter()
                .all(|(s, _)| !s.is_some_and(|s| !s.is_zero()))
            && self.tags.is_empty()
    }

    /// Parses a duration of a `within` rule: the same as [`parse_span`].
    pub fn parse_duration(s: &str) -> Result<KeepSpan> {
        parse_span(s)
    }

    fn counts(&self) -> [(Option<Count>, &'static str); 6] {
        [
            (self.last, "latest"),
            (self.hourly, "hourly"),
            (self.daily, "daily"),
            (self.weekly, "weekly"),
            (self.monthly, "monthly"),
            (self.yearly, "yearly"),
        ]
    }

    fn spans(&self) -> [(Option<KeepSpan>, &'static str); 6] {
        [
            (self.within, ""),
            (self.within_hourly, "hourly"),
            (self.within_daily, "daily"),
            (self.within_weekly, "weekly"),
            (self.within_monthly, "monthly"),
            (self.within_yearly, "yearly"),
        ]
    }
}

impl fmt::Display for KeepPolicy {
    /// A sentence as restic's "Applying Policy: …", e.g. `keep 7 daily, 4 weekly snapshots and
    /// all snapshots within 2d of the newest`; `keep everything (no rules)` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let counts: Vec<String> = self
            .counts()
            .iter()
            .filter_map(|(c, what)| match c {
                Some(Count::Limit(0)) | None => None,
                Some(Count::Limit(n)) => Some(format!("{n} {what}")),
                Some(Count::Unlimited) => Some(format!("all {what}")),
            })
            .collect();
        if !counts.is_empty() {
            parts.push(format!("{} snapshots", counts.join(", ")));
        }
        let spans = self.spans();
        for (span, what) in &spans[1..] {
            if let Some(s) = span.filter(|s| !s.is_zero()) {
                parts.push(format!("{what} snapshots within {s}"));
            }
        }
        if !self.tags.is_empty() {
            let lists: Vec<String> = self.tags.iter().map(TagList::to_string).collect();
            parts.push(format!("all snapshots with tags {}", lists.join(" or ")));
        }
        if let Some(s) = spans[0].0.filter(|s| !s.is_zero()) {
            parts.push(format!("all snapshots within {s} of the newest"));
        }
        match parts.split_last() {
            None => f.write_str("keep everything (no rules)"),
            Some((last, [])) => write!(f, "keep {last}"),
            Some((last, rest)) => write!(f, "keep {} and {last}", rest.join(", ")),
        }
    }
}

/// The verdict on one snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// The snapshot's id.
    pub id: SnapshotId,
    /// The snapshot, for showing what was kept or removed.
    pub snapshot: Snapshot,
    /// Keep it (true) or remove it.
    pub keep: bool,
    /// Every rule that keeps it, in restic's words and order: `has tags [prod]`, `within 7d`,
    /// `last snapshot`, `daily snapshot`, `oldest monthly snapshot`, `daily within 1m`, ...;
    /// `policy is empty` under an empty policy; empty when the snapshot is removed.
    pub reasons: Vec<String>,
}

/// Decides which of `snapshots` (one group) `policy` keeps, with periods on the calendar of `tz`.
/// Returns one decision per snapshot, newest first (ties by descending id).
///
/// This is [`apply_at`] with the clock's current time, used only to tell snapshots in the future.
pub fn apply(
    policy: &KeepPolicy,
    snapshots: &[(SnapshotId, Snapshot)],
    tz: &TimeZone,
) -> Vec<Decision> {
    apply_at(policy, snapshots, tz, Timestamp::now())
}

/// The calendar periods of the counting rules.
#[derive(Clone, Copy)]
enum Period {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Period {
    /// A number that two times share exactly when they fall into the same period.
    fn bucket(self, t: DateTime) -> i64 {
        let (y, m, d, h) = (
            i64::from(t.year()),
            i64::from(t.month()),
            i64::from(t.day()),
            i64::from(t.hour()),
        );
        match self {
            Period::Hour => ((y * 100 + m) * 100 + d) * 100 + h,
            Period::Day => (y * 100 + m) * 100 + d,
            Period::Week => {
                let w = t.date().iso_week_date();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Period::Month => y * 100 + m,
            Period::Year => y,
        }
    }
}

/// A counting rule's state: what is left and the period of the last snapshot it kept.
struct Counter {
    left: Option<u32>,
    period: Option<Period>,
    last: Option<i64>,
    reason: &'static str,
}

/// A `within_*` rule's state.
struct WithinCounter {
    span: KeepSpan,
    cutoff: Option<Timestamp>,
    period: Period,
    last: Option<i64>,
    reason: &'static str,
}

/// [`apply`] at the given time `now`: a pure function of its inputs. Snapshots at or after `now`
/// are in the future and never taken as the newest snapshot of the group for the `within`
/// rules; when all are, every snapshot is within.
pub fn apply_at(
    policy: &KeepPolicy,
    snapshots: &[(SnapshotId, Snapshot)],
    tz: &TimeZone,
    now: Timestamp,
) -> Vec<Decision> {
    let mut list: Vec<&(SnapshotId, Snapshot)> = snapshots.iter().collect();
    list.sort_by(|a, b| b.1.time.cmp(&a.1.time).then(b.0.cmp(&a.0)));
    let decide = |(id, snapshot): &(SnapshotId, Snapshot), reasons: Vec<String>| Decision {
        id: *id,
        snapshot: snapshot.clone(),
        keep: !reasons.is_empty(),
        reasons,
    };
    if policy.is_empty() {
        return list
            .into_iter()
            .map(|s| decide(s, vec!["policy is empty".into()]))
            .collect();
    }

    let latest = list.iter().map(|(_, s)| s.time).find(|t| *t < now);
    let cutoff = |span: KeepSpan| latest.and_then(|l| span.cutoff(l, tz));
    let is_within = |cutoff: Option<Timestamp>, t: Timestamp| cutoff.is_none_or(|c| t > c);

    let mut counters: Vec<Counter> = [
        (policy.last, None, "last snapshot"),
        (policy.hourly, Some(Period::Hour), "hourly snapshot"),
        (policy.daily, Some(Period::Day), "daily snapshot"),
        (policy.weekly, Some(Period::Week), "weekly snapshot"),
        (policy.monthly, Some(Period::Month), "monthly snapshot"),
        (policy.yearly, Some(Period::Year), "yearly snapshot"),
    ]
    .into_iter()
    .filter_map(|(count, period, reason)| {
        let left = match count? {
            Count::Limit(0) => return None,
            Count::Limit(n) => Some(n),
            Count::Unlimited => None,
        };
        Some(Counter {
            left,
            period,
            last: None,
            reason,
        })
    })
    .collect();
    let within = policy.within.filter(|s| !s.is_zero());
    let within_cutoff = within.and_then(cutoff);
    let mut within_counters: Vec<WithinCounter> = [
        (policy.within_hourly, Period::Hour, "hourly within"),
        (policy.within_daily, Period::Day, "daily within"),
        (policy.within_weekly, Period::Week, "weekly within"),
        (policy.within_monthly, Period::Month, "monthly within"),
        (policy.within_yearly, Period::Year, "yearly within"),
    ]
    .into_iter()
    .filter_map(|(span, period, reason)| {
        let span = span.filter(|s| !s.is_zero())?;
        Some(WithinCounter {
            span,
            cutoff: cutoff(span),
            period,
            last: None,
            reason,
        })
    })
    .collect();

    let oldest = list.len().saturating_sub(1);
    let mut out = Vec::with_capacity(list.len());
    for (nr, entry) in list.into_iter().enumerate() {
        let snap = &entry.1;
        let local = tz.to_datetime(snap.time);
        let is_oldest = nr == oldest;
        let mut reasons = Vec::new();
        for tags in &policy.tags {
            if tags.matches(&snap.tags) {
                reasons.push(format!("has tags {tags}"));
            }
        }
        if let Some(span) = within {
            if is_within(within_cutoff, snap.time) {
                reasons.push(format!("within {span}"));
            }
        }
        for c in &mut counters {
            if c.left == Some(0) {
                continue;
            }
            let bucket = c.period.map_or(nr as i64, |p| p.bucket(local));
            let same = c.last == Some(bucket);
            if !same || is_oldest {
                reasons.push(if same {
                    format!("oldest {}", c.reason)
                } else {
                    c.reason.to_string()
                });
                c.last = Some(bucket);
                if let Some(left) = &mut c.left {
                    *left -= 1;
                }
            }
        }
        for c in &mut within_counters {
            if !is_within(c.cutoff, snap.time) {
                continue;
            }
            let bucket = c.period.bucket(local);
            let same = c.last == Some(bucket);
            if !same || is_oldest {
                let oldest = if same { "oldest " } else { "" };
                reasons.push(format!("{oldest}{} {}", c.reason, c.span));
                c.last = Some(bucket);
            }
        }
        out.push(decide(entry, reasons));
    }
    out
}
