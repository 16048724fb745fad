//! restic's `--keep-*` flags, shared by `forget` and `policy set`.

use cairn_engine::{Count, KeepPolicy, KeepSpan, TagList};
use clap::Args;

/// The rules of a retention policy, as restic spells them.
#[derive(Args, Debug, Default)]
pub struct KeepArgs {
    /// Keep the N newest snapshots (`unlimited` for all)
    #[arg(short = 'l', long, value_name = "N")]
    pub keep_last: Option<Count>,
    /// Keep the newest snapshot of each of the N latest hours
    #[arg(long, value_name = "N")]
    pub keep_hourly: Option<Count>,
    /// Keep the newest snapshot of each of the N latest days
    #[arg(short = 'd', long, value_name = "N")]
    pub keep_daily: Option<Count>,
    /// Keep the newest snapshot of each of the N latest weeks
    #[arg(short = 'w', long, value_name = "N")]
    pub keep_weekly: Option<Count>,
    /// Keep the newest snapshot of each of the N latest months
    #[arg(short = 'm', long, value_name = "N")]
    pub keep_monthly: Option<Count>,
    /// Keep the newest snapshot of each of the N latest years
    #[arg(short = 'y', long, value_name = "N")]
    pub keep_yearly: Option<Count>,
    /// Keep snapshots newer than DURATION (e.g. 1y5m7d2h) before the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<KeepSpan>,
    /// Keep hourly snapshots within DURATION of the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_hourly: Option<KeepSpan>,
    /// Keep daily snapshots within DURATION of the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_daily: Option<KeepSpan>,
    /// Keep weekly snapshots within DURATION of the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_weekly: Option<KeepSpan>,
    /// Keep monthly snapshots within DURATION of the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_monthly: Option<KeepSpan>,
    /// Keep yearly snapshots within DURATION of the newest
    #[arg(long, value_name = "DURATION")]
    pub keep_within_yearly: Option<KeepSpan>,
    /// Keep snapshots with these tags (repeatable; `a,b` needs both)
    #[arg(long, value_name = "TAG[,TAG...]")]
    pub keep_tag: Vec<TagList>,
}

impl KeepArgs {
    /// The engine's policy.
    pub fn policy(&self) -> KeepPolicy {
        KeepPolicy {
            last: self.keep_last,
            hourly: self.keep_hourly,
            daily: self.keep_daily,
            weekly: self.keep_weekly,
            monthly: self.keep_monthly,
            yearly: self.keep_yearly,
            within: self.keep_within,
            within_hourly: self.keep_within_hourly,
            within_daily: self.keep_within_daily,
            within_weekly: self.keep_within_weekly,
            within_monthly: self.keep_within_monthly,
            within_yearly: self.keep_within_yearly,
            tags: self.keep_tag.clone(),
        }
    }
}
