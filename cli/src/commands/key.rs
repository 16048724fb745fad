//! `cairn key`: list, add and remove the key files (passwords) of a repository, or change the password.

use std::path::PathBuf;

use anyhow::Result;
use cairn_engine::format::KeyId;
use cairn_engine::FileType;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::args::{new_password, Context, KdfArgs};
use crate::exit::Status;
use crate::output::Table;

/// Flags of `key`.
#[derive(Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    pub command: KeyCommand,
}

/// The key subcommands.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// List the key files
    List,
    /// Add a key file for a new password
    Add(NewKeyArgs),
    /// Remove a key file (not the one in use)
    Remove {
        /// The key's id or a unique prefix of it
        id: String,
    },
    /// Change the password: replaces the key file in use
    Passwd(NewKeyArgs),
}

/// Where the new password comes from, and its key derivation cost.
#[derive(Args, Debug)]
pub struct NewKeyArgs {
    /// Read the new password from the first line of this file (else asked on the terminal)
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub kdf: KdfArgs,
}

/// Runs `key`.
pub fn run(ctx: &Context, args: &KeyArgs) -> Result<Status> {
    let mut repo = ctx.open()?;
    match &args.command {
        KeyCommand::List => {
            let keys = repo.list_keys()?;
            if ctx.out.json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        json!({
                            "id": k.id.to_hex(),
                            "current": k.current,
                            "created": k.file.created,
                            "host": k.file.host,
                            "username": k.file.username,
                        })
                    })
                    .collect();
                ctx.out.json_doc(&list)?;
            } else {
                let mut t = Table::new(&[" ID", "User", "Host", "Created"]);
                for k in &keys {
                    let mark = if k.current { "*" } else { " " };
                    t.row(vec![
                        format!("{mark}{}", k.id.short()),
                        k.file.username.clone(),
                        k.file.host.clone(),
                        k.file.created.clone(),
                    ]);
                }
                ctx.out.line(t.render().trim_end())?;
                ctx.out.line("* the key in use")?;
            }
        }
        KeyCommand::Add(a) => {
            let password = new_password(a.new_password_file.as_deref())?;
            let id = repo.add_key(password.bytes(), a.kdf.cost())?;
            report(ctx, "added", &id)?;
        }
        KeyCommand::Remove { id } => {
            let id: KeyId = super::cat::resolve_file(repo.backend(), FileType::Key, id)?.parse()?;
            repo.remove_key(&id)?;
            report(ctx, "removed", &id)?;
        }
        KeyCommand::Passwd(a) => {
            let password = new_password(a.new_password_file.as_deref())?;
            let id = repo.change_password(password.bytes(), a.kdf.cost())?;
            report(ctx, "changed the password; new key", &id)?;
        }
    }
    Ok(Status::Ok)
}

fn report(ctx: &Context, what: &str, id: &KeyId) -> Result<()> {
    if ctx.out.json {
        ctx.out.json_doc(&json!({ "id": id.to_hex() }))?;
    } else {
        ctx.out.line(format_args!("{what} {}", id.short()))?;
    }
    Ok(())
}
