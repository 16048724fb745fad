//! `cairn policy`: retention policies stored in the repository, for `forget` without flags.

use anyhow::Result;
use cairn_engine::{policies, set_policy, unset_policy, AppKey, GroupKey};
use clap::{Args, Subcommand};
use serde_json::json;

use super::keep::KeepArgs;
use crate::args::Context;
use crate::exit::Status;
use crate::output::Table;

/// Flags of `policy`.
#[derive(Args, Debug)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub action: PolicyAction,
}

/// What to do with policies.
#[derive(Subcommand, Debug)]
pub enum PolicyAction {
    /// Store the policy for a group (replacing its previous one)
    Set {
        #[command(flatten)]
        group: GroupArgs,
        #[command(flatten)]
        keep: KeepArgs,
    },
    /// List the stored policies
    Show,
    /// Remove the policy of a group
    Unset {
        #[command(flatten)]
        group: GroupArgs,
    },
}

/// The group a policy is for; no flag at all means the default policy.
#[derive(Args, Debug)]
pub struct GroupArgs {
    /// Snapshots of this host
    #[arg(long = "for-host", value_name = "HOST")]
    pub host: Option<String>,
    /// Snapshots of exactly these paths (repeatable)
    #[arg(long = "for-path", value_name = "PATH")]
    pub paths: Vec<String>,
    /// Snapshots with exactly these tags (repeatable)
    #[arg(long = "for-tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Kubernetes snapshots of this cluster
    #[arg(long = "for-cluster", value_name = "CLUSTER")]
    pub cluster: Option<String>,
    /// Kubernetes snapshots of these namespaces (repeatable)
    #[arg(long = "for-namespace", value_name = "NAMESPACE")]
    pub namespaces: Vec<String>,
    /// Kubernetes snapshots taken with this label selector
    #[arg(long = "for-selector", value_name = "SELECTOR")]
    pub selector: Option<String>,
}

impl GroupArgs {
    fn key(&self) -> GroupKey {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        let app =
            (self.cluster.is_some() || !self.namespaces.is_empty() || self.selector.is_some())
                .then(|| AppKey {
                    cluster: self.cluster.clone(),
                    namespaces: sorted(&self.namespaces),
                    selector: self.selector.clone(),
                });
        GroupKey {
            host: self.host.clone(),
            paths: (!self.paths.is_empty()).then(|| sorted(&self.paths)),
            tags: (!self.tags.is_empty()).then(|| sorted(&self.tags)),
            app,
        }
    }
}

fn describe(key: &GroupKey) -> String {
    if *key == GroupKey::default() {
        "default (any group)".into()
    } else {
        key.to_string()
    }
}

/// Runs `policy`.
pub fn run(ctx: &Context, args: &PolicyArgs) -> Result<Status> {
    let repo = ctx.open()?;
    match &args.action {
        PolicyAction::Set { group, keep } => {
            let stored = set_policy(&repo, &group.key(), &keep.policy())?;
            if ctx.out.json {
                ctx.out.json_doc(&stored)?;
            } else {
                ctx.out.line(format_args!(
                    "policy for {}: {}",
                    describe(&stored.group),
                    stored.keep
                ))?;
            }
        }
        PolicyAction::Show => {
            let all = policies(&repo)?;
            if ctx.out.json {
                ctx.out.json_doc(&all)?;
            } else if all.is_empty() {
                ctx.out
                    .line("no policies stored; `cairn policy set --keep-daily 7` adds a default")?;
            } else {
                let mut table = Table::new(&["Group", "Policy"]);
                for p in &all {
                    table.row(vec![describe(&p.group), p.keep.to_string()]);
                }
                ctx.out.line(table.render())?;
            }
        }
        PolicyAction::Unset { group } => {
            let key = group.key();
            let removed = unset_policy(&repo, &key)?;
            if ctx.out.json {
                ctx.out.json_doc(&json!({ "removed": removed }))?;
            } else if removed {
                ctx.out
                    .line(format_args!("removed the policy for {}", describe(&key)))?;
            } else {
                ctx.out
                    .line(format_args!("no policy for {}", describe(&key)))?;
            }
        }
    }
    Ok(Status::Ok)
}
