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

use crate::{Namespace, SearchError};

/// The format tag of checkpoint files.
pub(crate) const FORMAT: &str = "ufh-search checkpoint 3";

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
    /// What the search's results depend on beyond its seed, budget, techniques and
    /// mode: the evaluator's and hasher's settings, the data. A checkpoint written
    /// under other settings is refused. Give it whenever those settings can change
    /// between runs ([`Checkpoints::settings`]).
    pub settings: Option<Namespace>,
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
            settings: None,
        }
    }

    /// The same, tied to `settings` (a digest of everything the evaluator and the
    /// hasher depend on, as a store's [`Namespace`] is): a checkpoint of a search
    /// with other settings is refused instead of resumed.
    pub fn settings(mut self, settings: Namespace) -> Self {
        self.settings = Some(settings);
        self
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
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        // A full disk or a vanished folder leaves no partial temporary behind;
        // the file at `path`, if any, is untouched.
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
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

/// The trailer that ends a sealed file: CRC-32C of everything before it
/// (little-endian), then these four bytes.
const SEAL_TAG: &[u8; 4] = b"uFhS";

/// `payload` with a checksum trailer: its CRC-32C and a tag, 8 bytes. Every
/// checkpoint and journal file is written sealed, so that one flipped bit or a
/// truncated file is refused by [`unseal`] instead of resuming into a different
/// run.
pub fn seal(mut payload: Vec<u8>) -> Vec<u8> {
    let crc = crc32c::crc32c(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    payload.extend_from_slice(SEAL_TAG);
    payload
}

/// The payload of a file written by [`seal`], or why it is damaged: too short,
/// no trailer (truncated, or not written sealed) or a checksum that does not match
/// its content.
pub fn unseal(bytes: &[u8]) -> Result<&[u8], DamagedFile> {
    let Some(body_len) = bytes.len().checked_sub(8) else {
        return Err(DamagedFile(format!(
            "{} bytes, shorter than its 8-byte checksum trailer",
            bytes.len()
        )));
    };
    let (body, trailer) = bytes.split_at(body_len);
    if &trailer[4..] != SEAL_TAG {
        return Err(DamagedFile(
            "no checksum trailer at its end (truncated, or not written by this version)".into(),
        ));
    }
    let stored = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(DamagedFile(format!(
            "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
        )));
    }
    Ok(body)
}

/// Why a sealed file was refused ([`unseal`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("damaged: {0}")]
pub struct DamagedFile(pub String);

/// Reads a sealed file whole and checks it: the payload, or an error naming the
/// file and what is wrong with it.
pub fn read_sealed(path: &Path) -> Result<Vec<u8>, SearchError> {
    let mut bytes = std::fs::read(path).map_err(|e| error(path, e))?;
    let payload = unseal(&bytes)
        .map_err(|e| error(path, format!("{e}; it cannot be resumed from")))?
        .len();
    // The payload is the file's start: cut the trailer off instead of copying.
    bytes.truncate(payload);
    Ok(bytes)
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

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = std::env::temp_dir().join(format!("ufh-ckpt-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("run.ckpt");
        write_atomically(&path, b"old").unwrap();
        // /dev/full takes the open and fails every write, as a full disk does; a
        // folder where the temporary should go fails the create.
        let full = std::path::Path::new("/dev/full");
        if full.exists() {
            std::fs::remove_file(dir.join("full.ckpt.tmp")).ok();
            std::os::unix::fs::symlink(full, dir.join("full.ckpt.tmp")).unwrap();
            assert!(write_atomically(&dir.join("full.ckpt"), &[7u8; 1 << 16]).is_err());
            assert!(!dir.join("full.ckpt.tmp").exists(), "the temporary stayed");
            assert!(!dir.join("full.ckpt").exists());
        }
        std::fs::create_dir_all(dir.join("run.ckpt.tmp")).unwrap();
        assert!(write_atomically(&path, b"new").is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_sealed_file_is_refused_after_any_flipped_bit_or_cut() {
        let payload: Vec<u8> = (0..200u32).map(|i| (i * 7 + 3) as u8).collect();
        let sealed = seal(payload.clone());
        assert_eq!(unseal(&sealed).unwrap(), &payload[..]);
        for byte in 0..sealed.len() {
            for bit in 0..8 {
                let mut damaged = sealed.clone();
                damaged[byte] ^= 1 << bit;
                let err = unseal(&damaged).unwrap_err();
                assert!(err.to_string().starts_with("damaged: "), "{err}");
            }
        }
        for len in 0..sealed.len() {
            assert!(unseal(&sealed[..len]).is_err(), "cut to {len} bytes");
        }
        // A file written before sealing (no trailer) is refused, not misread.
        assert!(unseal(&payload).is_err());
    }
}
