//! Checkpoints of a running search: where, how often, and the atomic file write.
//!
//! A checkpoint is one file in postcard's compact binary serde format (every
//! float bit for bit, a failure's infinite fitness too), holding everything a run needs to go on as if it had never stopped: the
//! algorithm's state (PPO's parameters, a population), every RNG state, the
//! simulated clock, the candidates in flight with their evaluations, the cache
//! (or, for a cache in a store, its counters: the entries are in the store), the
//! tabulist and the record so far. It is written to `PATH.tmp`, fsynced, renamed
//! over `PATH` and the folder fsynced, so at any moment `PATH` is a whole
//! checkpoint, the last one or the one before.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::SearchError;

/// The format tag of checkpoint files.
pub(crate) const FORMAT: &str = "ufh-search checkpoint 1";

/// Where and how often a search checkpoints, and whether it resumes.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoints {
    /// The checkpoint file.
    pub path: PathBuf,
    /// Checkpoint after this many completed candidates.
    pub every_candidates: u64,
    /// Checkpoint when this much wall time has passed since the last one.
    pub every: Duration,
    /// Continue from the file if it exists (else start afresh and overwrite it).
    pub resume: bool,
}

impl Checkpoints {
    /// Checkpoints to `path` every 1,000 candidates or 60 seconds, resuming from it
    /// if it exists.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            every_candidates: 1_000,
            every: Duration::from_secs(60),
            resume: true,
        }
    }

    /// The same, checkpointing after every `n` completed candidates.
    pub fn every_candidates(mut self, n: u64) -> Self {
        self.every_candidates = n.max(1);
        self
    }

    /// The same, checkpointing at least every `interval` of wall time.
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }

    /// The same, resuming (`true`) or starting afresh (`false`).
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsynced, renamed
/// over it, the folder fsynced.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // Folders cannot be opened for fsync on every platform; where they can, the
    // rename is durable once this returns.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A checkpoint error naming the file.
pub(crate) fn error(path: &Path, what: impl std::fmt::Display) -> SearchError {
    SearchError::Checkpoint(format!("{}: {what}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("ufh-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        assert!(!dir.join("run.json.tmp").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
