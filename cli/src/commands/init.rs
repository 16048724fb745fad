//! `cairn init`: create a repository.

use anyhow::{bail, Result};
use cairn_engine::format::CompressionSetting;
use cairn_engine::{InitOptions, Repository};
use clap::Args;
use serde_json::json;

use crate::args::{parse_size, Context, KdfArgs};
use crate::exit::Status;

/// Flags of `init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Target pack size: MiB, or with a unit (e.g. 512KiB, 16MiB, 1048576B)
    #[arg(long, value_name = "SIZE", value_parser = |s: &str| parse_size(s, 1 << 20))]
    pub pack_size: Option<u64>,
    /// Compression: off, auto (zstd level 3), max (zstd level 19) or a zstd level 1-19
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_compression)]
    pub compression: CompressionSetting,
    /// Smallest chunk (bytes or with a unit)
    #[arg(long, hide = true, value_parser = |s: &str| parse_size(s, 1))]
    pub chunk_min: Option<u64>,
    /// Average chunk (bytes or with a unit)
    #[arg(long, hide = true, value_parser = |s: &str| parse_size(s, 1))]
    pub chunk_avg: Option<u64>,
    /// Largest chunk (bytes or with a unit)
    #[arg(long, hide = true, value_parser = |s: &str| parse_size(s, 1))]
    pub chunk_max: Option<u64>,
    /// Seconds between refreshes of a writer's session (spec/concurrency.md)
    #[arg(long, hide = true)]
    pub session_refresh_secs: Option<u32>,
    /// Seconds after which a silent writer's session counts as dead
    #[arg(long, hide = true)]
    pub session_expiry_secs: Option<u32>,
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// Take the chunker parameters of the --from-repo repository, so that snapshots copied between
    /// the two deduplicate against each other's own backups
    #[arg(long, requires = "from_repo")]
    pub copy_chunker_params: bool,
    #[command(flatten)]
    pub from: super::copy::FromRepoArgs,
}

fn parse_compression(s: &str) -> std::result::Result<CompressionSetting, String> {
    Ok(match s {
        "off" | "none" => CompressionSetting::None,
        "auto" => CompressionSetting::Zstd { level: 3 },
        "max" => CompressionSetting::Zstd { level: 19 },
        n => match n.parse::<i32>() {
            Ok(level) if (1..=19).contains(&level) => CompressionSetting::Zstd { level },
            _ => return Err(format!("{s:?}: use off, auto, max or a level from 1 to 19")),
        },
    })
}

fn to_u32(what: &str, v: u64) -> Result<u32> {
    match u32::try_from(v) {
        Ok(v) => Ok(v),
        Err(_) => bail!("{what} {v} is too large"),
    }
}

/// Runs `init`.
pub fn run(ctx: &Context, args: &InitArgs) -> Result<Status> {
    let mut options = InitOptions::default()
        .kdf(args.kdf.cost())
        .compression(args.compression);
    if let Some(size) = args.pack_size {
        options = options.pack_size(to_u32("pack size", size)?);
    }
    if args.chunk_min.is_some() || args.chunk_avg.is_some() || args.chunk_max.is_some() {
        let d = cairn_engine::format::ChunkerParams::with_seed(0);
        options = options.chunk_sizes((
            to_u32("chunk size", args.chunk_min.unwrap_or(d.min_size.into()))?,
            to_u32("chunk size", args.chunk_avg.unwrap_or(d.avg_size.into()))?,
            to_u32("chunk size", args.chunk_max.unwrap_or(d.max_size.into()))?,
        ));
    }
    if args.session_refresh_secs.is_some() || args.session_expiry_secs.is_some() {
        let d = cairn_engine::format::SessionParams::default();
        options = options.sessions(cairn_engine::format::SessionParams {
            refresh_secs: args.session_refresh_secs.unwrap_or(d.refresh_secs),
            expiry_secs: args.session_expiry_secs.unwrap_or(d.expiry_secs),
        });
    }
    if args.copy_chunker_params {
        let source = args.from.open(ctx)?;
        options = options.copy_chunker(source.config().chunker);
    }
    // The password first: a mistyped confirmation leaves no empty directory behind.
    let password = ctx.password(true)?;
    let backend = ctx.backend(true)?;
    let repo = Repository::init(backend, password.bytes(), &options, &ctx.open_options())?;
    let location = repo.backend().location().to_string();
    if ctx.out.json {
        ctx.out.json_doc(&json!({
            "id": repo.config().id.to_hex(),
            "location": location,
            "key": repo.key_id().to_hex(),
            "config": repo.config(),
        }))?;
    } else {
        ctx.out.line(format_args!(
            "created cairn repository {} at {location}",
            repo.config().id.short()
        ))?;
        ctx.out.line(
            "keep the password safe: without it the data in the repository cannot be read back",
        )?;
    }
    Ok(Status::Ok)
}
