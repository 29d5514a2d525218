//! The persistent FEC store: one redb file, one table per namespace.

use std::path::{Path, PathBuf};

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use ufh_core::FunctionalHash;

use crate::store::{FecStore, Namespace, StoreError, StoredEntry, StoredEvaluation};

/// FEC entries in a redb database file: they survive the process, and a crash at
/// any moment leaves every committed entry intact (each change is its own
/// durable transaction; redb's copy-on-write commit is atomic). Several
/// namespaces share one file, each its own table. One process at a time may open a
/// file; share entries between processes or machines with the Redis store.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    table: String,
}

impl RedbStore {
    /// Opens (or creates) the database at `path` and its table of `namespace`.
    pub fn open(path: impl AsRef<Path>, namespace: &Namespace) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let name = format!("FEC store redb {}", path.display());
        let db = open_database(&path).map_err(|e| StoreError::new(&name, e))?;
        let store = Self {
            db,
            path,
            table: format!("fec-{namespace}"),
        };
        // Create the table now, so that reads of a new store find it.
        let txn = store.db.begin_write().map_err(|e| store.error(e))?;
        txn.open_table(store.definition())
            .map_err(|e| store.error(e))?;
        txn.commit().map_err(|e| store.error(e))?;
        Ok(store)
    }

    fn definition(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.table)
    }

    fn error(&self, e: impl std::fmt::Display) -> StoreError {
        StoreError::new(self.describe(), e)
    }

    fn decode(&self, key: FunctionalHash, bytes: &[u8]) -> Result<StoredEntry, StoreError> {
        StoredEntry::from_bytes(bytes).ok_or_else(|| {
            self.error(format!(
                "entry {:016x} has {} bytes, which is no stored entry",
                key.0,
                bytes.len()
            ))
        })
    }

    /// Changes the entry of `key` in one durable write transaction.
    fn update(
        &self,
        key: FunctionalHash,
        change: impl FnOnce(&mut StoredEntry),
    ) -> Result<StoredEntry, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        let entry = {
            let mut table = txn
                .open_table(self.definition())
                .map_err(|e| self.error(e))?;
            let mut entry = match table.get(key.0).map_err(|e| self.error(e))? {
                Some(bytes) => self.decode(key, bytes.value())?,
                None => StoredEntry::default(),
            };
            change(&mut entry);
            table
                .insert(key.0, entry.to_bytes().as_slice())
                .map_err(|e| self.error(e))?;
            entry
        };
        txn.commit().map_err(|e| self.error(e))?;
        Ok(entry)
    }
}

impl FecStore for RedbStore {
    fn describe(&self) -> String {
        format!(
            "FEC store redb {} table {}",
            self.path.display(),
            self.table
        )
    }

    fn get(&self, key: FunctionalHash) -> Result<Option<StoredEntry>, StoreError> {
        Ok(self.get_many(&[key])?.pop().flatten())
    }

    fn get_many(&self, keys: &[FunctionalHash]) -> Result<Vec<Option<StoredEntry>>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn
            .open_table(self.definition())
            .map_err(|e| self.error(e))?;
        keys.iter()
            .map(|&key| match table.get(key.0).map_err(|e| self.error(e))? {
                Some(bytes) => self.decode(key, bytes.value()).map(Some),
                None => Ok(None),
            })
            .collect()
    }

    fn add_evaluation(
        &self,
        key: FunctionalHash,
        evaluation: StoredEvaluation,
        max_evals: u32,
    ) -> Result<StoredEntry, StoreError> {
        self.update(key, |entry| entry.add(evaluation, max_evals))
    }

    fn add_hit(&self, key: FunctionalHash) -> Result<u32, StoreError> {
        Ok(self.update(key, |entry| entry.n_hits += 1)?.n_hits)
    }

    fn remove(&self, key: FunctionalHash) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        txn.open_table(self.definition())
            .map_err(|e| self.error(e))?
            .remove(key.0)
            .map_err(|e| self.error(e))?;
        txn.commit().map_err(|e| self.error(e))
    }

    fn len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn
            .open_table(self.definition())
            .map_err(|e| self.error(e))?;
        table.len().map_err(|e| self.error(e))
    }
}

/// `Database::create`, with a damaged file an error instead of a panic: redb
/// asserts on some truncated files. The panic is caught, and the default hook's
/// report of it silenced for the moment the file is opened.
fn open_database(path: &Path) -> Result<Database, String> {
    static HOOK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = HOOK.lock().unwrap_or_else(|e| e.into_inner());
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(|| Database::create(path));
    std::panic::set_hook(previous);
    match opened {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(format!(
                "the file is damaged (truncated or overwritten): redb refused it ({why}); \
                 move it away to start an empty cache"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::contract;
    use std::sync::Arc;

    fn temp_path(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ufh-redb-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("fec.redb")
    }

    #[test]
    fn a_truncated_or_overwritten_file_is_an_error_naming_it() {
        let path = temp_path("damaged");
        {
            let store = RedbStore::open(&path, &Namespace::of_text("damaged")).unwrap();
            contract::basic(&store);
        }
        let whole = std::fs::read(&path).unwrap();
        let damaged = path.with_file_name("cut.redb");
        for len in [0, 1, 100, 3000, whole.len() / 2] {
            std::fs::write(&damaged, &whole[..len]).unwrap();
            match RedbStore::open(&damaged, &Namespace::of_text("damaged")) {
                // A file cut to nothing is a new, empty database.
                Ok(store) => assert!(len == 0, "cut to {len}: {:?}", store.len()),
                Err(e) => assert!(e.to_string().contains("cut.redb"), "{e}"),
            }
        }
        std::fs::write(&damaged, vec![0xA5u8; 8192]).unwrap();
        let err = RedbStore::open(&damaged, &Namespace::of_text("damaged")).unwrap_err();
        assert!(err.to_string().contains("cut.redb"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn redb_store_keeps_the_contract() {
        let path = temp_path("contract");
        let store = RedbStore::open(&path, &Namespace::of_text("contract")).unwrap();
        contract::basic(&store);
        drop(store);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn redb_store_first_result_wins_and_fea_aggregates_atomically() {
        let path = temp_path("race");
        for max_evals in [1, 5] {
            let ns = Namespace::of_text(&format!("race {max_evals}"));
            let store = Arc::new(RedbStore::open(&path, &ns).unwrap());
            contract::concurrent_writers(store, max_evals);
        }
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn entries_survive_reopening_and_namespaces_stay_apart() {
        let path = temp_path("reopen");
        let a = Namespace::of_text("experiment a");
        let b = Namespace::of_text("experiment b");
        let k = FunctionalHash(42);
        let e = StoredEvaluation {
            id: 1,
            validation: 0.75,
            test: 0.5,
            cost_s: 3.0,
        };
        {
            let store = RedbStore::open(&path, &a).unwrap();
            store.add_evaluation(k, e, 1).unwrap();
        }
        let store = RedbStore::open(&path, &a).unwrap();
        assert_eq!(store.get(k).unwrap().unwrap().evaluations, vec![e]);
        drop(store);
        let other = RedbStore::open(&path, &b).unwrap();
        assert_eq!(other.get(k).unwrap(), None);
        drop(other);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_file_that_is_no_database_is_a_clear_error() {
        let path = temp_path("garbage");
        std::fs::write(&path, b"not a database at all, just text").unwrap();
        let err = RedbStore::open(&path, &Namespace::of_text("x")).unwrap_err();
        assert!(err.store.contains("fec.redb"), "{err}");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
