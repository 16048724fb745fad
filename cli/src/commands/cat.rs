//! `cairn cat`: print one repository object, decoded, as JSON (data blobs as raw bytes).

use std::io::Write;

use anyhow::{bail, Context as _, Result};
use cairn_engine::format::{
    decode_pack_header, header_len_from_trailer, Base64Bytes, BlobId, BlobKind, KeyFile, Node,
};
use cairn_engine::{Backend, ErrorKind, FileType, Indexed};
use clap::{Args, Subcommand};
use serde_json::json;

use super::{snapshot_json, split_snapshot_path};
use crate::args::Context;
use crate::exit::Status;

/// Flags of `cat`.
#[derive(Args, Debug)]
pub struct CatArgs {
    #[command(subcommand)]
    pub object: CatObject,
}

/// What to print. Ids may be shortened to a unique prefix.
#[derive(Subcommand, Debug)]
pub enum CatObject {
    /// The repository config
    Config,
    /// A snapshot (`latest` or an id)
    Snapshot {
        /// `latest` or a snapshot id
        id: String,
    },
    /// A tree node: `SNAPSHOT[:PATH]` or `TREE-ID[:PATH]`
    Tree {
        /// `latest`, a snapshot id or a tree blob id, optionally followed by `:PATH`
        spec: String,
    },
    /// A blob: data blobs print their raw bytes (base64 in JSON), tree blobs their node
    Blob {
        /// A blob id
        id: String,
    },
    /// An index file
    Index {
        /// An index file id
        id: String,
    },
    /// The header of a pack: the blobs it holds
    Pack {
        /// A pack id
        id: String,
    },
    /// A key file as stored (the master key in it is encrypted)
    Key {
        /// A key id
        id: String,
    },
}

/// The one stored file of type `t` whose name starts with `spec`.
pub fn resolve_file(backend: &Backend, t: FileType, spec: &str) -> Result<String> {
    let spec = spec.to_ascii_lowercase();
    if spec.is_empty() || !spec.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{spec:?} is not an id (hex digits)");
    }
    let matching: Vec<String> = backend
        .list(t)?
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n.starts_with(&spec))
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(cairn_engine::Error::new(
            ErrorKind::NotFound,
            format!("no {} with id {spec}", t.name()),
        )
        .into()),
        many => bail!(
            "{spec} is ambiguous: {} {}s start with it",
            many.len(),
            t.name()
        ),
    }
}

/// The one blob in the index whose id starts with `spec`, with its kind.
fn resolve_blob(repo: &Indexed, spec: &str, kinds: &[BlobKind]) -> Result<(BlobKind, BlobId)> {
    let spec = spec.to_ascii_lowercase();
    if let Ok(id) = spec.parse::<BlobId>() {
        if let Some(kind) = kinds.iter().find(|k| repo.index().contains(**k, &id)) {
            return Ok((*kind, id));
        }
    } else if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_hexdigit()) && spec.len() < 64 {
        let mut found: Vec<(BlobKind, BlobId)> = Vec::new();
        for kind in kinds {
            found.extend(
                repo.index()
                    .blobs(*kind)
                    .filter(|(id, _)| id.to_hex().starts_with(&spec))
                    .map(|(id, _)| (*kind, id)),
            );
        }
        match found.len() {
            1 => return Ok(found[0]),
            0 => {}
            n => bail!("{spec} is ambiguous: {n} blobs start with it"),
        }
    } else {
        bail!("{spec:?} is not a blob id (hex digits)");
    }
    Err(cairn_engine::Error::new(
        ErrorKind::NotFound,
        format!("no blob with id {spec} in the index"),
    )
    .into())
}

/// Runs `cat`.
pub fn run(ctx: &Context, args: &CatArgs) -> Result<Status> {
    let out = &ctx.out;
    match &args.object {
        CatObject::Config => {
            let repo = ctx.open()?;
            out.json_doc(repo.config())?;
        }
        CatObject::Snapshot { id } => {
            let repo = ctx.open()?;
            let (id, snap) = repo.find_snapshot(id)?;
            out.json_doc(&snapshot_json(&id, &snap))?;
        }
        CatObject::Key { id } => {
            let repo = ctx.open()?;
            let name = resolve_file(repo.backend(), FileType::Key, id)?;
            let bytes = repo.backend().read(FileType::Key, &name)?;
            let file = KeyFile::decode(&bytes)
                .map_err(|e| cairn_engine::Error::format(format!("key file {}", &name[..8]), e))?;
            let mut v = serde_json::to_value(&file)?;
            v["id"] = name.into();
            out.json_doc(&v)?;
        }
        CatObject::Index { id } => {
            let repo = ctx.open()?;
            let id = resolve_file(repo.backend(), FileType::Index, id)?.parse()?;
            let file = repo.load_index_file(&id)?;
            let packs: Vec<_> = file
                .packs
                .iter()
                .map(|p| json!({ "id": p.id, "blobs": p.blobs }))
                .collect();
            out.json_doc(&json!({ "id": id, "supersedes": file.supersedes, "packs": packs }))?;
        }
        CatObject::Pack { id } => {
            let repo = ctx.open()?;
            let name = resolve_file(repo.backend(), FileType::Pack, id)?;
            let backend = repo.backend();
            let what = format!("pack {}", &name[..8]);
            let len = backend
                .size(FileType::Pack, &name)?
                .with_context(|| format!("{what} disappeared"))?;
            let damaged = |e| cairn_engine::Error::format(&what, e);
            let trailer = backend.read_range(FileType::Pack, &name, len.saturating_sub(4)..len)?;
            let header_len = header_len_from_trailer(&trailer, len).map_err(damaged)? as u64;
            let sealed =
                backend.read_range(FileType::Pack, &name, len - 4 - header_len..len - 4)?;
            let entries = decode_pack_header(repo.keys(), &sealed, len).map_err(damaged)?;
            out.json_doc(&json!({
                "id": name,
                "size": len,
                "header_length": header_len,
                "blobs": entries,
            }))?;
        }
        CatObject::Blob { id } => {
            let repo = ctx.open_indexed()?;
            let (kind, id) = resolve_blob(&repo, id, &[BlobKind::Data, BlobKind::Tree])?;
            let plain = repo.read_blob(kind, &id)?;
            match kind {
                BlobKind::Tree => {
                    let node = Node::decode(&plain).map_err(|e| {
                        cairn_engine::Error::format(format!("tree {}", id.short()), e)
                    })?;
                    out.json_doc(&node)?;
                }
                _ if out.json => out.json_doc(&json!({
                    "id": id,
                    "type": "data",
                    "length": plain.len(),
                    "data": Base64Bytes(plain),
                }))?,
                _ => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(&plain)?;
                    stdout.flush()?;
                }
            }
        }
        CatObject::Tree { spec } => {
            let repo = ctx.open_indexed()?;
            let (head, path) = split_snapshot_path(spec);
            let root = match repo.find_snapshot(head) {
                Ok((_, snap)) => snap.tree,
                Err(e)
                    if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput)
                        && head != "latest" =>
                {
                    resolve_blob(&repo, head, &[BlobKind::Tree])
                        .map(|(_, id)| id)
                        .map_err(|_| e)?
                }
                Err(e) => return Err(e.into()),
            };
            let path = path.unwrap_or("").trim_matches('/');
            if path.is_empty() {
                out.json_doc(&repo.node(&root)?)?;
            } else {
                let entry = repo.resolve(&root, path)?.ok_or_else(|| {
                    cairn_engine::Error::new(ErrorKind::NotFound, format!("no {path} in the tree"))
                })?;
                match entry.subtree {
                    Some(sub) => out.json_doc(&repo.node(&sub)?)?,
                    None => out.json_doc(&entry)?,
                }
            }
        }
    }
    Ok(Status::Ok)
}
