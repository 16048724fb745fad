//! The policy table: snapshot times, a policy and a zone, and the snapshots kept with their reasons.

use cairn_repo_format::{BlobId, Snapshot, SnapshotId, Source, FORMAT_VERSION};
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::*;

/// A snapshot of files on host `h`, paths `/data`, at `time` (RFC 3339, any offset).
pub(super) fn snap(time: &str, tags: &[&str]) -> Snapshot {
    Snapshot {
        version: FORMAT_VERSION,
        time: time.parse().unwrap(),
        host: "h".into(),
        username: String::new(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        paths: vec!["/data".into()],
        excludes: vec![],
        parent: None,
        original: None,
        tree: BlobId::default(),
        source: Source::Files,
        summary: Default::default(),
        program_version: String::new(),
    }
}

/// "Now" for every row: after all snapshots of the table except those meant to be in the future.
const NOW: &str = "2026-01-01T00:00:00Z";

type Snaps = &'static [(&'static str, &'static [&'static str])];

/// One row: under `policy` (JSON, as stored in a repository), in zone `tz`, the snapshots taken at
/// `snapshots` (time, tags) keep exactly `kept` (time, reasons), newest first; the rest go.
struct Case {
    name: &'static str,
    tz: &'static str,
    policy: &'static str,
    snapshots: Snaps,
    kept: Snaps,
}

const NO_TAGS: &[&str] = &[];

const SIX_DAYS: Snaps = &[
    ("2024-01-01T12:00:00Z", NO_TAGS),
    ("2024-01-02T12:00:00Z", NO_TAGS),
    ("2024-01-03T12:00:00Z", NO_TAGS),
    ("2024-01-04T12:00:00Z", NO_TAGS),
    ("2024-01-05T12:00:00Z", NO_TAGS),
    ("2024-01-06T12:00:00Z", NO_TAGS),
];

const MIDNIGHT: Snaps = &[
    ("2024-05-01T08:00:00Z", NO_TAGS),
    ("2024-05-01T20:00:00Z", NO_TAGS),
    ("2024-05-02T09:00:00Z", NO_TAGS),
    ("2024-05-02T23:59:59Z", NO_TAGS),
    ("2024-05-03T00:00:00Z", NO_TAGS),
];

// 2020 has 53 ISO weeks: 2020-12-28 (Monday) to 2021-01-03 (Sunday) is 2020-W53.
const WEEK_53: Snaps = &[
    ("2020-12-27T12:00:00Z", NO_TAGS), // Sunday, 2020-W52
    ("2020-12-28T12:00:00Z", NO_TAGS), // 2020-W53
    ("2020-12-31T12:00:00Z", NO_TAGS), // 2020-W53
    ("2021-01-03T12:00:00Z", NO_TAGS), // Sunday, 2020-W53, calendar year 2021
    ("2021-01-04T12:00:00Z", NO_TAGS), // Monday, 2021-W01
];

const LEAP: Snaps = &[
    ("2023-02-28T12:00:00Z", NO_TAGS),
    ("2023-03-01T12:00:00Z", NO_TAGS),
    ("2024-02-28T12:00:00Z", NO_TAGS),
    ("2024-02-29T12:00:00Z", NO_TAGS),
    ("2024-03-01T00:30:00Z", NO_TAGS), // 29 February, 19:30 in New York
];

const NEW_YORK_NIGHT: Snaps = &[
    ("2024-07-01T15:00:00Z", NO_TAGS), // 1 July, 11:00 EDT
    ("2024-07-02T02:30:00Z", NO_TAGS), // 1 July, 22:30 EDT; 2 July in UTC
    ("2024-07-02T14:00:00Z", NO_TAGS), // 2 July, 10:00 EDT
];

// Europe/Berlin, 27 October 2024: 03:00 CEST becomes 02:00 CET, so 02:xx happens twice.
const BERLIN_FALL_BACK: Snaps = &[
    ("2024-10-26T22:30:00Z", NO_TAGS), // 27 Oct 00:30 CEST
    ("2024-10-27T00:10:00Z", NO_TAGS), // 27 Oct 02:10 CEST
    ("2024-10-27T01:10:00Z", NO_TAGS), // 27 Oct 02:10 CET
];

// Europe/Berlin, 31 March 2024: 02:00 CET becomes 03:00 CEST; the day has 23 hours.
const BERLIN_SPRING_FORWARD: Snaps = &[
    ("2024-03-30T12:00:00+01:00", NO_TAGS),
    ("2024-03-31T00:30:00+01:00", NO_TAGS), // 30 March 23:30 UTC
    ("2024-03-31T01:59:00+01:00", NO_TAGS), // last minute before the gap
    ("2024-03-31T03:00:00+02:00", NO_TAGS), // first minute after it, the same UTC hour + 1 min
    ("2024-03-31T23:30:00+02:00", NO_TAGS), // 31 March 21:30 UTC
];

const WITHIN_DAYS: Snaps = &[
    ("2024-06-06T12:00:00Z", NO_TAGS),
    ("2024-06-07T17:00:00Z", NO_TAGS),
    ("2024-06-07T19:00:00Z", NO_TAGS),
    ("2024-06-08T10:00:00Z", NO_TAGS),
    ("2024-06-09T07:00:00Z", NO_TAGS),
    ("2024-06-09T20:00:00Z", NO_TAGS),
    ("2024-06-10T08:00:00Z", NO_TAGS),
    ("2024-06-10T18:00:00Z", NO_TAGS),
];

const UNLIMITED: Snaps = &[
    ("2024-06-03T08:00:00Z", NO_TAGS),
    ("2024-06-03T10:00:00Z", NO_TAGS),
    ("2024-06-04T09:00:00Z", NO_TAGS),
    ("2024-06-04T12:00:00Z", NO_TAGS),
    ("2024-06-05T10:00:00Z", NO_TAGS),
];

const COMBINED: Snaps = &[
    ("2024-06-01T10:00:00Z", NO_TAGS),   // Saturday, W22
    ("2024-06-08T10:00:00Z", NO_TAGS),   // Saturday, W23
    ("2024-06-09T10:00:00Z", &["keep"]), // Sunday, W23
    ("2024-06-11T09:00:00Z", NO_TAGS),   // Tuesday, W24
    ("2024-06-12T08:00:00Z", NO_TAGS),   // Wednesday, W24
    ("2024-06-12T20:00:00Z", NO_TAGS),
];

const TABLE: &[Case] = &[
    Case {
        name: "keep-last keeps the n newest",
        tz: "UTC",
        policy: r#"{"last": 3}"#,
        snapshots: SIX_DAYS,
        kept: &[
            ("2024-01-06T12:00:00Z", &["last snapshot"]),
            ("2024-01-05T12:00:00Z", &["last snapshot"]),
            ("2024-01-04T12:00:00Z", &["last snapshot"]),
        ],
    },
    Case {
        name: "keep-last with more counts than snapshots keeps all, none as `oldest`",
        tz: "UTC",
        policy: r#"{"last": 10}"#,
        snapshots: SIX_DAYS.split_at(3).0,
        kept: &[
            ("2024-01-03T12:00:00Z", &["last snapshot"]),
            ("2024-01-02T12:00:00Z", &["last snapshot"]),
            ("2024-01-01T12:00:00Z", &["last snapshot"]),
        ],
    },
    Case {
        name: "keep-last unlimited",
        tz: "UTC",
        policy: r#"{"last": "unlimited"}"#,
        snapshots: SIX_DAYS.split_at(3).1,
        kept: &[
            ("2024-01-06T12:00:00Z", &["last snapshot"]),
            ("2024-01-05T12:00:00Z", &["last snapshot"]),
            ("2024-01-04T12:00:00Z", &["last snapshot"]),
        ],
    },
    Case {
        name: "hourly: newest per hour, hours without snapshots do not count",
        tz: "UTC",
        policy: r#"{"hourly": 3}"#,
        snapshots: &[
            ("2024-05-01T09:15:00Z", NO_TAGS),
            ("2024-05-01T10:05:00Z", NO_TAGS),
            ("2024-05-01T10:40:00Z", NO_TAGS),
            ("2024-05-01T11:10:00Z", NO_TAGS),
            ("2024-05-01T11:59:59Z", NO_TAGS),
            ("2024-05-01T12:00:00Z", NO_TAGS),
            ("2024-05-01T14:30:00Z", NO_TAGS),
        ],
        kept: &[
            ("2024-05-01T14:30:00Z", &["hourly snapshot"]),
            ("2024-05-01T12:00:00Z", &["hourly snapshot"]),
            ("2024-05-01T11:59:59Z", &["hourly snapshot"]),
        ],
    },
    Case {
        name: "daily: the day ends at 23:59:59; counts run out before the oldest",
        tz: "UTC",
        policy: r#"{"daily": 2}"#,
        snapshots: MIDNIGHT,
        kept: &[
            ("2024-05-03T00:00:00Z", &["daily snapshot"]),
            ("2024-05-02T23:59:59Z", &["daily snapshot"]),
        ],
    },
    Case {
        name: "daily: several in one day keep the newest; counts left keep the oldest too",
        tz: "UTC",
        policy: r#"{"daily": 5}"#,
        snapshots: MIDNIGHT,
        kept: &[
            ("2024-05-03T00:00:00Z", &["daily snapshot"]),
            ("2024-05-02T23:59:59Z", &["daily snapshot"]),
            ("2024-05-01T20:00:00Z", &["daily snapshot"]),
            ("2024-05-01T08:00:00Z", &["oldest daily snapshot"]),
        ],
    },
    Case {
        name: "daily in New York: 02:30 UTC is the evening before",
        tz: "America/New_York",
        policy: r#"{"daily": 2}"#,
        snapshots: NEW_YORK_NIGHT,
        kept: &[
            ("2024-07-02T14:00:00Z", &["daily snapshot"]),
            ("2024-07-02T02:30:00Z", &["daily snapshot"]),
        ],
    },
    Case {
        name: "the same snapshots in UTC: 02:30 is the same day as 14:00",
        tz: "UTC",
        policy: r#"{"daily": 2}"#,
        snapshots: NEW_YORK_NIGHT,
        kept: &[
            ("2024-07-02T14:00:00Z", &["daily snapshot"]),
            ("2024-07-01T15:00:00Z", &["daily snapshot"]),
        ],
    },
    Case {
        name: "weekly across ISO week 53 and the new year",
        tz: "UTC",
        policy: r#"{"weekly": 3}"#,
        snapshots: WEEK_53,
        kept: &[
            ("2021-01-04T12:00:00Z", &["weekly snapshot"]),
            ("2021-01-03T12:00:00Z", &["weekly snapshot"]),
            ("2020-12-27T12:00:00Z", &["weekly snapshot"]),
        ],
    },
    Case {
        name: "weekly and yearly together: years are calendar years, weeks ISO weeks",
        tz: "UTC",
        policy: r#"{"weekly": 3, "yearly": 2}"#,
        snapshots: WEEK_53,
        kept: &[
            (
                "2021-01-04T12:00:00Z",
                &["weekly snapshot", "yearly snapshot"],
            ),
            ("2021-01-03T12:00:00Z", &["weekly snapshot"]),
            ("2020-12-31T12:00:00Z", &["yearly snapshot"]),
            ("2020-12-27T12:00:00Z", &["weekly snapshot"]),
        ],
    },
    Case {
        name: "weekly: 30 December 2024 is in ISO week 2025-W01",
        tz: "UTC",
        policy: r#"{"weekly": "unlimited"}"#,
        snapshots: &[
            ("2024-12-29T12:00:00Z", NO_TAGS), // Sunday, 2024-W52
            ("2024-12-30T12:00:00Z", NO_TAGS), // Monday, 2025-W01
            ("2025-01-05T12:00:00Z", NO_TAGS), // Sunday, 2025-W01
        ],
        kept: &[
            ("2025-01-05T12:00:00Z", &["weekly snapshot"]),
            ("2024-12-29T12:00:00Z", &["weekly snapshot"]),
        ],
    },
    Case {
        name: "hourly in Berlin on the fall-back day: both 02:10 are one local hour",
        tz: "Europe/Berlin",
        policy: r#"{"hourly": "unlimited"}"#,
        snapshots: BERLIN_FALL_BACK,
        kept: &[
            ("2024-10-27T01:10:00Z", &["hourly snapshot"]),
            ("2024-10-26T22:30:00Z", &["hourly snapshot"]),
        ],
    },
    Case {
        name: "the same snapshots in UTC are three hours",
        tz: "UTC",
        policy: r#"{"hourly": "unlimited"}"#,
        snapshots: BERLIN_FALL_BACK,
        kept: &[
            ("2024-10-27T01:10:00Z", &["hourly snapshot"]),
            ("2024-10-27T00:10:00Z", &["hourly snapshot"]),
            ("2024-10-26T22:30:00Z", &["hourly snapshot"]),
        ],
    },
    Case {
        name: "daily in Berlin on the 23-hour spring-forward day",
        tz: "Europe/Berlin",
        policy: r#"{"daily": 2, "hourly": 2}"#,
        snapshots: BERLIN_SPRING_FORWARD,
        kept: &[
            (
                "2024-03-31T23:30:00+02:00",
                &["hourly snapshot", "daily snapshot"],
            ),
            ("2024-03-31T03:00:00+02:00", &["hourly snapshot"]),
            ("2024-03-30T12:00:00+01:00", &["daily snapshot"]),
        ],
    },
    Case {
        name: "the spring-forward snapshots in UTC: 00:30 CET is 30 March",
        tz: "UTC",
        policy: r#"{"daily": 2, "hourly": 2}"#,
        snapshots: BERLIN_SPRING_FORWARD,
        kept: &[
            (
                "2024-03-31T23:30:00+02:00",
                &["hourly snapshot", "daily snapshot"],
            ),
            ("2024-03-31T03:00:00+02:00", &["hourly snapshot"]),
            ("2024-03-31T00:30:00+01:00", &["daily snapshot"]),
        ],
    },
    Case {
        name: "monthly over leap days",
        tz: "UTC",
        policy: r#"{"monthly": 3}"#,
        snapshots: LEAP,
        kept: &[
            ("2024-03-01T00:30:00Z", &["monthly snapshot"]),
            ("2024-02-29T12:00:00Z", &["monthly snapshot"]),
            ("2023-03-01T12:00:00Z", &["monthly snapshot"]),
        ],
    },
    Case {
        name: "monthly over leap days in New York: 1 March 00:30 UTC is 29 February",
        tz: "America/New_York",
        policy: r#"{"monthly": 3}"#,
        snapshots: LEAP,
        kept: &[
            ("2024-03-01T00:30:00Z", &["monthly snapshot"]),
            ("2023-03-01T12:00:00Z", &["monthly snapshot"]),
            ("2023-02-28T12:00:00Z", &["monthly snapshot"]),
        ],
    },
    Case {
        name: "yearly with a leap day",
        tz: "UTC",
        policy: r#"{"yearly": "unlimited"}"#,
        snapshots: LEAP,
        kept: &[
            ("2024-03-01T00:30:00Z", &["yearly snapshot"]),
            ("2023-03-01T12:00:00Z", &["yearly snapshot"]),
            ("2023-02-28T12:00:00Z", &["oldest yearly snapshot"]),
        ],
    },
    Case {
        name: "yearly in New York: New Year's night UTC is still the old year",
        tz: "America/New_York",
        policy: r#"{"yearly": 2}"#,
        snapshots: &[
            ("2023-12-31T12:00:00Z", NO_TAGS),
            ("2024-06-01T12:00:00Z", NO_TAGS),
            ("2025-01-01T03:00:00Z", NO_TAGS), // 31 December 2024, 22:00 EST
        ],
        kept: &[
            ("2025-01-01T03:00:00Z", &["yearly snapshot"]),
            ("2023-12-31T12:00:00Z", &["yearly snapshot"]),
        ],
    },
    Case {
        name: "unlimited daily keeps one per day and the oldest",
        tz: "UTC",
        policy: r#"{"daily": "unlimited"}"#,
        snapshots: UNLIMITED,
        kept: &[
            ("2024-06-05T10:00:00Z", &["daily snapshot"]),
            ("2024-06-04T12:00:00Z", &["daily snapshot"]),
            ("2024-06-03T10:00:00Z", &["daily snapshot"]),
            ("2024-06-03T08:00:00Z", &["oldest daily snapshot"]),
        ],
    },
    Case {
        name: "restic's -1 is unlimited",
        tz: "UTC",
        policy: r#"{"monthly": -1}"#,
        snapshots: UNLIMITED,
        kept: &[
            ("2024-06-05T10:00:00Z", &["monthly snapshot"]),
            ("2024-06-03T08:00:00Z", &["oldest monthly snapshot"]),
        ],
    },
    Case {
        name: "keep-within is relative to the newest snapshot and excludes its boundary",
        tz: "UTC",
        policy: r#"{"within": "7d"}"#,
        snapshots: &[
            ("2024-06-13T12:00:00Z", NO_TAGS), // exactly 7 days before the newest
            ("2024-06-13T13:00:00Z", NO_TAGS),
            ("2024-06-20T12:00:00Z", NO_TAGS),
        ],
        kept: &[
            ("2024-06-20T12:00:00Z", &["within 7d"]),
            ("2024-06-13T13:00:00Z", &["within 7d"]),
        ],
    },
    Case {
        name: "keep-within ignores snapshots in the future as the newest, and keeps them",
        tz: "UTC",
        policy: r#"{"within": "7d"}"#,
        snapshots: &[
            ("2024-06-13T12:00:00Z", NO_TAGS),
            ("2024-06-13T13:00:00Z", NO_TAGS),
            ("2024-06-20T12:00:00Z", NO_TAGS),
            ("2027-01-01T00:00:00Z", NO_TAGS), // after NOW
        ],
        kept: &[
            ("2027-01-01T00:00:00Z", &["within 7d"]),
            ("2024-06-20T12:00:00Z", &["within 7d"]),
            ("2024-06-13T13:00:00Z", &["within 7d"]),
        ],
    },
    Case {
        name: "keep-within 1y from a leap day: 29 February 2023 rolls over to 1 March",
        tz: "UTC",
        policy: r#"{"within": "1y"}"#,
        snapshots: &[
            ("2023-02-28T10:00:00Z", NO_TAGS),
            ("2023-03-01T10:00:00Z", NO_TAGS),
            ("2023-03-01T10:00:01Z", NO_TAGS),
            ("2024-02-29T10:00:00Z", NO_TAGS),
        ],
        kept: &[
            ("2024-02-29T10:00:00Z", &["within 1y"]),
            ("2023-03-01T10:00:01Z", &["within 1y"]),
        ],
    },
    Case {
        name: "keep-within-daily keeps the newest of each day within the duration",
        tz: "UTC",
        policy: r#"{"within_daily": "3d"}"#,
        snapshots: WITHIN_DAYS,
        kept: &[
            ("2024-06-10T18:00:00Z", &["daily within 3d"]),
            ("2024-06-09T20:00:00Z", &["daily within 3d"]),
            ("2024-06-08T10:00:00Z", &["daily within 3d"]),
            ("2024-06-07T19:00:00Z", &["daily within 3d"]),
        ],
    },
    Case {
        name: "keep-within-daily keeps the oldest when it is within",
        tz: "UTC",
        policy: r#"{"within_daily": "1m"}"#,
        snapshots: WITHIN_DAYS.split_at(6).1,
        kept: &[
            ("2024-06-10T18:00:00Z", &["daily within 1m"]),
            ("2024-06-10T08:00:00Z", &["oldest daily within 1m"]),
        ],
    },
    Case {
        name: "keep-within-hourly and keep-within-monthly",
        tz: "UTC",
        policy: r#"{"within_hourly": "2h", "within_monthly": "1y"}"#,
        snapshots: &[
            ("2023-06-10T12:30:00Z", NO_TAGS), // exactly 1 year before the newest
            ("2023-06-11T00:00:00Z", NO_TAGS),
            ("2024-05-01T00:00:00Z", NO_TAGS),
            ("2024-05-20T00:00:00Z", NO_TAGS),
            ("2024-06-10T10:20:00Z", NO_TAGS),
            ("2024-06-10T11:00:00Z", NO_TAGS),
            ("2024-06-10T12:10:00Z", NO_TAGS),
            ("2024-06-10T12:30:00Z", NO_TAGS),
        ],
        kept: &[
            (
                "2024-06-10T12:30:00Z",
                &["hourly within 2h", "monthly within 1y"],
            ),
            ("2024-06-10T11:00:00Z", &["hourly within 2h"]),
            ("2024-05-20T00:00:00Z", &["monthly within 1y"]),
            ("2023-06-11T00:00:00Z", &["monthly within 1y"]),
        ],
    },
    Case {
        name: "keep-within-weekly and keep-within-yearly",
        tz: "UTC",
        policy: r#"{"within_weekly": "14d", "within_yearly": "2y"}"#,
        snapshots: &[
            ("2022-03-01T00:00:00Z", NO_TAGS), // before the 2 years
            ("2022-12-01T00:00:00Z", NO_TAGS),
            ("2023-12-31T00:00:00Z", NO_TAGS),
            ("2024-05-27T00:00:00Z", NO_TAGS), // Monday, W22, before the 14 days
            ("2024-06-03T00:00:00Z", NO_TAGS), // Monday, W23
            ("2024-06-09T00:00:00Z", NO_TAGS), // Sunday, W23
            ("2024-06-10T00:00:00Z", NO_TAGS), // Monday, W24
        ],
        kept: &[
            (
                "2024-06-10T00:00:00Z",
                &["weekly within 14d", "yearly within 2y"],
            ),
            ("2024-06-09T00:00:00Z", &["weekly within 14d"]),
            ("2023-12-31T00:00:00Z", &["yearly within 2y"]),
            ("2022-12-01T00:00:00Z", &["yearly within 2y"]),
        ],
    },
    Case {
        name: "keep-tag: all tags of any list; the empty tag matches untagged snapshots",
        tz: "UTC",
        policy: r#"{"tags": [["prod"], ["a", "b"], [""]]}"#,
        snapshots: &[
            ("2024-01-01T00:00:00Z", &["prod"]),
            ("2024-01-02T00:00:00Z", &["a"]),
            ("2024-01-03T00:00:00Z", &["a", "b", "c"]),
            ("2024-01-04T00:00:00Z", NO_TAGS),
            ("2024-01-05T00:00:00Z", &["b", "prod"]),
            ("2024-01-06T00:00:00Z", &["a", "b", "prod"]),
        ],
        kept: &[
            (
                "2024-01-06T00:00:00Z",
                &["has tags [prod]", "has tags [a, b]"],
            ),
            ("2024-01-05T00:00:00Z", &["has tags [prod]"]),
            ("2024-01-04T00:00:00Z", &["has tags []"]),
            ("2024-01-03T00:00:00Z", &["has tags [a, b]"]),
            ("2024-01-01T00:00:00Z", &["has tags [prod]"]),
        ],
    },
    Case {
        name: "rules combine: a snapshot is kept for every rule that keeps it",
        tz: "UTC",
        policy: r#"{"last": 2, "daily": 3, "weekly": 2, "within": "1d", "tags": [["keep"]]}"#,
        snapshots: COMBINED,
        kept: &[
            (
                "2024-06-12T20:00:00Z",
                &[
                    "within 1d",
                    "last snapshot",
                    "daily snapshot",
                    "weekly snapshot",
                ],
            ),
            ("2024-06-12T08:00:00Z", &["within 1d", "last snapshot"]),
            ("2024-06-11T09:00:00Z", &["daily snapshot"]),
            (
                "2024-06-09T10:00:00Z",
                &["has tags [keep]", "daily snapshot", "weekly snapshot"],
            ),
        ],
    },
    Case {
        name: "an empty policy keeps everything (forget refuses it)",
        tz: "UTC",
        policy: r#"{"daily": 0, "within": "0d"}"#,
        snapshots: SIX_DAYS.split_at(4).1,
        kept: &[
            ("2024-01-06T12:00:00Z", &["policy is empty"]),
            ("2024-01-05T12:00:00Z", &["policy is empty"]),
        ],
    },
];

fn ids(snapshots: Snaps) -> Vec<(SnapshotId, Snapshot)> {
    snapshots
        .iter()
        .enumerate()
        .map(|(i, (time, tags))| (SnapshotId([i as u8; 32]), snap(time, tags)))
        .collect()
}

fn time(s: &str) -> Timestamp {
    s.parse().unwrap()
}

#[test]
fn policy_table() {
    let now = time(NOW);
    for case in TABLE {
        let tz = TimeZone::get(case.tz).unwrap();
        let policy: KeepPolicy = serde_json::from_str(case.policy).unwrap();
        // Given in any order: reversed here to show the order does not matter.
        let mut given = ids(case.snapshots);
        given.reverse();
        let decisions = apply_at(&policy, &given, &tz, now);
        assert_eq!(decisions.len(), case.snapshots.len(), "{}", case.name);
        assert!(
            decisions
                .windows(2)
                .all(|w| w[0].snapshot.time >= w[1].snapshot.time),
            "{}: not newest first",
            case.name
        );
        let kept: Vec<(Timestamp, Vec<String>)> = decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| (d.snapshot.time, d.reasons.clone()))
            .collect();
        let want: Vec<(Timestamp, Vec<String>)> = case
            .kept
            .iter()
            .map(|(t, reasons)| (time(t), reasons.iter().map(|r| r.to_string()).collect()))
            .collect();
        assert_eq!(kept, want, "{}", case.name);
        for d in &decisions {
            assert_eq!(d.keep, !d.reasons.is_empty(), "{}", case.name);
            let (id, s) = given.iter().find(|(id, _)| *id == d.id).unwrap();
            assert_eq!((*id, s), (d.id, &d.snapshot), "{}", case.name);
        }
    }
}

#[test]
fn ties_in_time_are_broken_by_id() {
    let s = snap("2024-01-01T00:00:00Z", &[]);
    let given = vec![(SnapshotId([1; 32]), s.clone()), (SnapshotId([2; 32]), s)];
    let policy = KeepPolicy {
        last: Some(Count::Limit(1)),
        ..Default::default()
    };
    for order in [given.clone(), given.into_iter().rev().collect()] {
        let d = apply_at(&policy, &order, &TimeZone::UTC, time(NOW));
        assert_eq!(
            (d[0].id, d[0].keep, d[1].id, d[1].keep),
            (SnapshotId([2; 32]), true, SnapshotId([1; 32]), false)
        );
    }
}

#[test]
fn when_every_snapshot_is_in_the_future_all_are_within() {
    let given = ids(&[
        ("2030-01-01T00:00:00Z", NO_TAGS),
        ("2031-01-01T00:00:00Z", NO_TAGS),
    ]);
    let policy = KeepPolicy {
        within: Some(parse_span("1d").unwrap()),
        ..Default::default()
    };
    let d = apply_at(&policy, &given, &TimeZone::UTC, time(NOW));
    assert!(d.iter().all(|d| d.keep && d.reasons == ["within 1d"]));
    // The clock-reading form agrees while those years are ahead.
    assert_eq!(apply(&policy, &given, &TimeZone::UTC), d);
}

#[test]
fn no_snapshots_no_decisions() {
    let policy = KeepPolicy {
        last: Some(Count::Limit(1)),
        ..Default::default()
    };
    assert!(apply(&policy, &[], &TimeZone::UTC).is_empty());
}

#[test]
fn emptiness_ignores_zero_counts_and_durations() {
    assert!(KeepPolicy::default().is_empty());
    let zero = KeepPolicy {
        last: Some(Count::Limit(0)),
        within_daily: Some(KeepSpan::default()),
        ..Default::default()
    };
    assert!(zero.is_empty());
    for set in [
        KeepPolicy {
            yearly: Some(Count::Unlimited),
            ..Default::default()
        },
        KeepPolicy {
            within_yearly: Some(parse_span("1h").unwrap()),
            ..Default::default()
        },
        KeepPolicy {
            tags: vec![TagList(vec![String::new()])],
            ..Default::default()
        },
    ] {
        assert!(!set.is_empty(), "{set:?}");
    }
}

#[test]
fn counts_parse_like_restic() {
    assert_eq!(parse_count("5").unwrap(), Count::Limit(5));
    assert_eq!(parse_count("0").unwrap(), Count::Limit(0));
    assert_eq!(parse_count("unlimited").unwrap(), Count::Unlimited);
    assert_eq!(parse_count("-1").unwrap(), Count::Unlimited);
    assert_eq!(" 7 ".parse::<Count>().unwrap(), Count::Limit(7));
    for bad in ["-2", "", "five", "1.5", "99999999999"] {
        let e = parse_count(bad).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}");
    }
    assert!(parse_count("-2")
        .unwrap_err()
        .to_string()
        .contains("unlimited"));
    assert_eq!(Count::Unlimited.to_string(), "unlimited");
    assert_eq!(Count::Limit(3).to_string(), "3");
}

#[test]
fn tag_lists_parse_and_match_like_restic() {
    let l: TagList = "a, b".parse().unwrap();
    assert_eq!(l, TagList(vec!["a".into(), "b".into()]));
    assert_eq!(l.to_string(), "[a, b]");
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(l.matches(&tags(&["b", "c", "a"])));
    assert!(!l.matches(&tags(&["a"])));
    let untagged: TagList = "".parse().unwrap();
    assert_eq!(untagged, TagList(vec![String::new()]));
    assert!(untagged.matches(&[]));
    assert!(!untagged.matches(&tags(&["a"])));
    // restic's HasTags returns at the first empty tag when the snapshot has no tags.
    assert!(TagList(tags(&["", "x"])).matches(&[]));
    assert!(TagList(vec![]).matches(&tags(&["a"])));
}

#[test]
fn policies_round_trip_through_json_and_refuse_unknown_rules() {
    let policy = KeepPolicy {
        last: Some(Count::Limit(3)),
        daily: Some(Count::Unlimited),
        within: Some(parse_span("1y2m").unwrap()),
        within_weekly: Some(parse_span("30d").unwrap()),
        tags: vec!["a,b".parse().unwrap()],
        ..Default::default()
    };
    let json = serde_json::to_string(&policy).unwrap();
    assert_eq!(
        json,
        r#"{"last":3,"daily":"unlimited","within":"1y2m","within_weekly":"30d","tags":[["a","b"]]}"#
    );
    assert_eq!(serde_json::from_str::<KeepPolicy>(&json).unwrap(), policy);
    assert_eq!(serde_json::to_string(&KeepPolicy::default()).unwrap(), "{}");
    for bad in [
        r#"{"minutely": 3}"#,
        r#"{"daily": -2}"#,
        r#"{"within": "1w"}"#,
        r#"{"last": "many"}"#,
        r#"{"tags": "a"}"#,
    ] {
        assert!(serde_json::from_str::<KeepPolicy>(bad).is_err(), "{bad}");
    }
    assert_eq!(
        KeepPolicy::parse_duration("2d").unwrap(),
        parse_span("2d").unwrap()
    );
}

#[test]
fn policies_describe_themselves_as_restic_does() {
    let p: KeepPolicy = serde_json::from_str(
        r#"{"last": 2, "daily": 7, "monthly": "unlimited", "within_daily": "7d",
            "tags": [["a","b"],["c"]], "within": "2d"}"#,
    )
    .unwrap();
    assert_eq!(
        p.to_string(),
        "keep 2 latest, 7 daily, all monthly snapshots, daily snapshots within 7d, \
         all snapshots with tags [a, b] or [c] and all snapshots within 2d of the newest"
    );
    let p: KeepPolicy = serde_json::from_str(r#"{"weekly": 4}"#).unwrap();
    assert_eq!(p.to_string(), "keep 4 weekly snapshots");
    assert_eq!(
        KeepPolicy::default().to_string(),
        "keep everything (no rules)"
    );
}
