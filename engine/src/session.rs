//! Writer sessions: how backups and prune share a repository without a lock.
//!
//! A writer registers a session file before it reads the index, reads the deletion plans and records
//! which it has seen, keeps the file fresh from a background thread, checks before it commits that it
//! never went silent long enough to be taken for dead, and removes the file when done. Prune deletes a
//! condemned pack only after every live session has seen the plan that condemned it, so no writer
//! ever relies on a pack that disappears under it. All times are the storage's own last-modified
//! stamps; hosts' clocks play no part. spec/concurrency.md has the protocol and its safety argument.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use cairn_repo_format::{DeletionPlan, FileKind, PackId, SessionFile, FORMAT_VERSION};
use rand::RngCore;

use crate::backend::FileType;
use crate::error::{Error, ErrorKind, Result};
use crate::repository::Repository;
use crate::sys;

/// A deletion plan as found in the repository.
#[derive(Clone, Debug)]
pub struct FoundPlan {
    /// Its file name.
    pub name: String,
    /// Its content.
    pub plan: DeletionPlan,
    /// When the storage wrote it (ns).
    pub written: i64,
}

/// Reads every deletion plan.
pub fn deletion_plans(repo: &Repository) -> Result<Vec<FoundPlan>> {
    let mut out = Vec::new();
    for listed in repo.backend().list(FileType::DeletionPlan)? {
        let payload = match repo.read_file(FileKind::DeletionPlan, &listed.name) {
            Ok(p) => p,
            // Swept between listing and reading.
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let plan = DeletionPlan::decode(&payload)
            .map_err(|e| Error::format(format!("deletion plan {}", &listed.name[..8]), e))?;
        out.push(FoundPlan {
            name: listed.name,
            plan,
            written: listed.modified,
        });
    }
    Ok(out)
}

/// Every pack some plan condemns.
pub fn condemned_packs(plans: &[FoundPlan]) -> std::collections::HashSet<PackId> {
    plans
        .iter()
        .flat_map(|p| p.plan.packs.iter().copied())
        .collect()
}

struct State {
    /// Storage stamp of the last successful write of the session file.
    last_stamp: i64,
    stopping: bool,
}

/// A registered writer. Ends (its file is removed) on [`Session::end`] or when dropped.
pub struct Session {
    repo: Repository,
    name: String,
    file: SessionFile,
    state: Arc<(Mutex<State>, Condvar)>,
    refresher: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Session({} {})", self.file.kind, &self.name[..8])
    }
}

impl Session {
    /// Registers a session of `kind`, then reads the deletion plans and records them as seen.
    pub fn begin(repo: &Repository, kind: &str) -> Result<Arc<Session>> {
        let mut id = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let name = hex::encode(id);
        let mut file = SessionFile {
            version: FORMAT_VERSION,
            kind: kind.to_string(),
            host: sys::host_name(),
            pid: std::process::id(),
            seen_plans: None,
        };
        let first = write_and_stamp(repo, &name, &file)?;
        let plans = deletion_plans(repo)?;
        file.seen_plans = Some(plans.into_iter().map(|p| p.name).collect());
        let stamp = write_and_stamp(repo, &name, &file)?.max(first);
        let state = Arc::new((
            Mutex::new(State {
                last_stamp: stamp,
                stopping: false,
            }),
            Condvar::new(),
        ));
        let session = Arc::new(Session {
            repo: repo.clone(),
            name,
            file,
            state,
            refresher: Mutex::new(None),
        });
        session.start_refresher();
        Ok(session)
    }

    /// The session file's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn start_refresher(self: &Arc<Self>) {
        let repo = self.repo.clone();
        let name = self.name.clone();
        let file = self.file.clone();
        let state = self.state.clone();
        let every = Duration::from_secs(self.repo.config().sessions.refresh_secs as u64);
        let handle = std::thread::Builder::new()
            .name("cairn-session".into())
            .spawn(move || loop {
                let (lock, wake) = &*state;
                let guard = lock.lock().expect("session lock");
                let (guard, _) = wake
                    .wait_timeout_while(guard, every, |s| !s.stopping)
                    .expect("session lock");
                if guard.stopping {
                    return;
                }
                drop(guard);
                match write_and_stamp(&repo, &name, &file) {
                    Ok(stamp) => {
                        let mut s = lock.lock().expect("session lock");
                        s.last_stamp = s.last_stamp.max(stamp);
                    }
                    Err(e) => tracing::warn!("session refresh failed, will retry: {e}"),
                }
            })
            .ok();
        *self.refresher.lock().expect("refresher lock") = handle;
    }

    /// Refreshes the session and confirms it never went silent long enough for prune to take it for
    /// dead; only then may the writer commit (write a snapshot).
    pub fn confirm_alive(&self) -> Result<()> {
        let previous = self.state.0.lock().expect("session lock").last_stamp;
        let now = write_and_stamp(&self.repo, &self.name, &self.file)?;
        let params = self.repo.config().sessions;
        let limit = (params.expiry_secs - params.refresh_secs) as i64 * 1_000_000_000;
        let gap = now - previous;
        self.state.0.lock().expect("session lock").last_stamp = now.max(previous);
        if gap > limit {
            return Err(Error::new(
                ErrorKind::Interrupted,
                format!(
                    "this run went {} s without renewing its session (the repository allows {} s): \
                     prune may have removed data it relies on, so nothing was saved; run it again",
                    gap / 1_000_000_000,
                    limit / 1_000_000_000
                ),
            ));
        }
        Ok(())
    }

    /// Stops refreshing and removes the session file.
    pub fn end(&self) -> Result<()> {
        {
            let (lock, wake) = &*self.state;
            lock.lock().expect("session lock").stopping = true;
            wake.notify_all();
        }
        if let Some(h) = self.refresher.lock().expect("refresher lock").take() {
            let _ = h.join();
        }
        self.repo.backend().delete(FileType::Session, &self.name)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Err(e) = self.end() {
            tracing::warn!(
                "session {} not removed ({e}); it expires on its own",
                &self.name[..8]
            );
        }
    }
}

fn write_and_stamp(repo: &Repository, name: &str, file: &SessionFile) -> Result<i64> {
    repo.write_named_file(FileKind::Session, name, &file.encode())?;
    repo.backend()
        .modified(FileType::Session, name)?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Backend,
                "session file vanished right after it was written",
            )
        })
}

/// A session as prune sees it.
#[derive(Clone, Debug)]
pub struct SessionView {
    /// Its file name.
    pub name: String,
    /// Its content, if it could be read.
    pub file: Option<SessionFile>,
    /// Storage stamp of its last refresh (ns).
    pub refreshed: i64,
}

impl SessionView {
    /// True when the session has not been refreshed within the expiry, measured against `now` (a
    /// storage stamp).
    pub fn expired(&self, now: i64, expiry_secs: u32) -> bool {
        now - self.refreshed > expiry_secs as i64 * 1_000_000_000
    }

    /// True when the session recorded the plan as seen.
    pub fn has_seen(&self, plan: &str) -> bool {
        self.file
            .as_ref()
            .and_then(|f| f.seen_plans.as_ref())
            .is_some_and(|seen| seen.iter().any(|s| s == plan))
    }
}

/// Every session file with its last refresh.
pub fn sessions(repo: &Repository) -> Result<Vec<SessionView>> {
    let mut out = Vec::new();
    for listed in repo.backend().list(FileType::Session)? {
        let file = match repo.read_file(FileKind::Session, &listed.name) {
            Ok(p) => SessionFile::decode(&p).ok(),
            Err(e) if e.kind() == ErrorKind::NotFound => continue,
            Err(_) => None,
        };
        out.push(SessionView {
            name: listed.name,
            file,
            refreshed: listed.modified,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::memory_repo;

    #[test]
    fn a_session_registers_records_plans_and_leaves() {
        let repo = memory_repo();
        let plan = DeletionPlan {
            version: FORMAT_VERSION,
            packs: vec![PackId([1; 32])],
            snapshots: vec![],
            host: "h".into(),
        };
        let plan_name = hex::encode(
            repo.write_file(FileKind::DeletionPlan, &plan.encode())
                .unwrap(),
        );
        let s = Session::begin(&repo, "backup").unwrap();
        let views = sessions(&repo).unwrap();
        assert_eq!(views.len(), 1);
        assert!(views[0].has_seen(&plan_name));
        assert!(!views[0].expired(views[0].refreshed, 60));
        s.confirm_alive().unwrap();
        drop(s);
        assert!(sessions(&repo).unwrap().is_empty());
    }
}
