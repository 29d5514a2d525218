//! The shared FEC store in Redis.

use std::time::Duration;

use redis::Value;
use ufh_core::FunctionalHash;

use super::Link;
use crate::store::{FecStore, Namespace, StoreError, StoredEntry, StoredEvaluation};

/// Adds an evaluation (ARGV[1], 32 bytes, its first 8 its id) to the list KEYS[1]
/// unless its id is there or the list holds ARGV[2] evaluations; returns the list
/// and the hit count KEYS[2]. Redis runs a script atomically: this is the whole
/// concurrency rule of the store.
const ADD_EVALUATION: &str = r"
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local id = string.sub(ARGV[1], 1, 8)
local present = false
for _, item in ipairs(items) do
  if string.sub(item, 1, 8) == id then present = true break end
end
if (not present) and #items < tonumber(ARGV[2]) then
  redis.call('RPUSH', KEYS[1], ARGV[1])
  table.insert(items, ARGV[1])
  redis.call('SADD', KEYS[3], KEYS[1])
end
return {items, tonumber(redis.call('GET', KEYS[2]) or '0')}
";

/// FEC entries in Redis, shared by every search and worker that opens the same
/// server and namespace, on this machine or others. Per functional hash the store
/// keeps a list of 32-byte evaluations (`ufh:NS:fec:HASH`) and a hit counter
/// (`ufh:NS:hits:HASH`); the set `ufh:NS:keys` lists the keys. Adding an
/// evaluation is one Lua script, so concurrent writers follow
/// [`FecStore::add_evaluation`]'s rule exactly. Durability is Redis's: run it with
/// `appendonly yes` (and `appendfsync always` to lose nothing on a crash).
#[derive(Debug)]
pub struct RedisStore {
    link: Link,
    namespace: Namespace,
    script: redis::Script,
}

impl RedisStore {
    /// A store on the server at `url` in `namespace`, retrying for
    /// [`super::DEFAULT_PATIENCE`] while the server is away.
    pub fn open(url: &str, namespace: &Namespace) -> Result<Self, StoreError> {
        Self::with_patience(url, namespace, super::DEFAULT_PATIENCE)
    }

    /// [`Self::open`] with another patience.
    pub fn with_patience(
        url: &str,
        namespace: &Namespace,
        patience: Duration,
    ) -> Result<Self, StoreError> {
        let store = Self {
            link: Link::new(url, patience)?.labelled("FEC store"),
            namespace: namespace.clone(),
            script: redis::Script::new(ADD_EVALUATION),
        };
        store
            .link
            .run("PING", |c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    fn list_key(&self, key: FunctionalHash) -> String {
        format!("ufh:{}:fec:{:016x}", self.namespace, key.0)
    }

    fn hits_key(&self, key: FunctionalHash) -> String {
        format!("ufh:{}:hits:{:016x}", self.namespace, key.0)
    }

    fn keys_key(&self) -> String {
        format!("ufh:{}:keys", self.namespace)
    }

    /// Deletes every key of this store's namespace (for tests and fresh starts).
    pub fn clear(&self) -> Result<(), StoreError> {
        let members: Vec<String> = self.link.run("SMEMBERS", |c| {
            redis::cmd("SMEMBERS").arg(self.keys_key()).query(c)
        })?;
        let prefix = format!("ufh:{}:fec:", self.namespace);
        let mut pipe = redis::pipe();
        for m in &members {
            pipe.cmd("DEL").arg(m).ignore();
            if let Some(hash) = m.strip_prefix(&prefix) {
                pipe.cmd("DEL")
                    .arg(format!("ufh:{}:hits:{hash}", self.namespace))
                    .ignore();
            }
        }
        pipe.cmd("DEL").arg(self.keys_key()).ignore();
        self.link.run("clear", |c| pipe.query::<()>(c))
    }

    fn decode(
        &self,
        key: FunctionalHash,
        items: &[Value],
        hits: &Value,
    ) -> Result<StoredEntry, StoreError> {
        let bad =
            |what: &str| StoreError::new(self.describe(), format!("entry {:016x}: {what}", key.0));
        let evaluations = items
            .iter()
            .map(|item| match item {
                Value::BulkString(bytes) => StoredEvaluation::from_bytes(bytes)
                    .ok_or_else(|| bad("an evaluation is not 32 bytes")),
                other => Err(bad(&format!("unexpected list item {other:?}"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let n_hits = match hits {
            Value::Nil => 0,
            Value::Int(n) => u32::try_from(*n).map_err(|_| bad("hit count out of range"))?,
            Value::BulkString(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad("hit count is not a number"))?,
            other => return Err(bad(&format!("unexpected hit count {other:?}"))),
        };
        Ok(StoredEntry {
            evaluations,
            n_hits,
        })
    }
}

impl FecStore for RedisStore {
    fn describe(&self) -> String {
        format!(
            "FEC store redis {} namespace {}",
            super::redacted(self.link.url()),
            self.namespace
        )
    }

    fn get(&self, key: FunctionalHash) -> Result<Option<StoredEntry>, StoreError> {
        let (items, hits): (Vec<Value>, Value) = self.link.run("get", |c| {
            redis::pipe()
                .cmd("LRANGE")
                .arg(self.list_key(key))
                .arg(0)
                .arg(-1)
                .cmd("GET")
                .arg(self.hits_key(key))
                .query(c)
        })?;
        if items.is_empty() {
            return Ok(None);
        }
        self.decode(key, &items, &hits).map(Some)
    }

    fn get_many(&self, keys: &[FunctionalHash]) -> Result<Vec<Option<StoredEntry>>, StoreError> {
        let replies: Vec<Value> = self.link.run("get_many", |c| {
            let mut pipe = redis::pipe();
            for &key in keys {
                pipe.cmd("LRANGE").arg(self.list_key(key)).arg(0).arg(-1);
                pipe.cmd("GET").arg(self.hits_key(key));
            }
            pipe.query(c)
        })?;
        replies
            .chunks(2)
            .zip(keys)
            .map(|(pair, &key)| match &pair[0] {
                Value::Array(items) if items.is_empty() => Ok(None),
                Value::Array(items) => self.decode(key, items, &pair[1]).map(Some),
                other => Err(StoreError::new(
                    self.describe(),
                    format!("unexpected reply {other:?}"),
                )),
            })
            .collect()
    }

    fn add_evaluation(
        &self,
        key: FunctionalHash,
        evaluation: StoredEvaluation,
        max_evals: u32,
    ) -> Result<StoredEntry, StoreError> {
        let (items, hits): (Vec<Value>, Value) = self.link.run("add_evaluation", |c| {
            self.script
                .key(self.list_key(key))
                .key(self.hits_key(key))
                .key(self.keys_key())
                .arg(&evaluation.to_bytes()[..])
                .arg(max_evals)
                .invoke(c)
        })?;
        self.decode(key, &items, &hits)
    }

    fn add_hit(&self, key: FunctionalHash) -> Result<u32, StoreError> {
        let n: i64 = self.link.run("add_hit", |c| {
            redis::cmd("INCR").arg(self.hits_key(key)).query(c)
        })?;
        u32::try_from(n).map_err(|_| StoreError::new(self.describe(), format!("hit count {n}")))
    }

    fn remove(&self, key: FunctionalHash) -> Result<(), StoreError> {
        self.link.run("remove", |c| {
            redis::pipe()
                .atomic()
                .cmd("DEL")
                .arg(self.list_key(key))
                .arg(self.hits_key(key))
                .ignore()
                .cmd("SREM")
                .arg(self.keys_key())
                .arg(self.list_key(key))
                .ignore()
                .query::<()>(c)
        })
    }

    fn len(&self) -> Result<u64, StoreError> {
        self.link
            .run("len", |c| redis::cmd("SCARD").arg(self.keys_key()).query(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::LocalRedis;
    use crate::store::contract;
    use std::sync::Arc;

    fn server(name: &str, aof: bool) -> (LocalRedis, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("ufh-redis-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        (
            LocalRedis::start(&dir, aof).expect("redis-server starts"),
            dir,
        )
    }

    #[test]
    fn a_protected_server_takes_its_password_or_acl_user_from_the_url() {
        let (redis, dir) = server("password", false);
        let admin =
            crate::redis::Link::new(&redis.url(0), std::time::Duration::from_secs(5)).unwrap();
        admin
            .run("ACL SETUSER", |c| {
                redis::cmd("ACL")
                    .arg(&["SETUSER", "ufh", "on", ">user-pw", "~ufh:*", "+@all"][..])
                    .query::<()>(c)
            })
            .unwrap();
        admin
            .run("CONFIG SET", |c| {
                redis::cmd("CONFIG")
                    .arg(&["SET", "requirepass", "s3cret-pw"][..])
                    .query::<()>(c)
            })
            .unwrap();
        let ns = Namespace::of_text("password");
        let at = |user_info: &str| format!("redis://{user_info}@127.0.0.1:{}/0", redis.port());
        for url in [at(":s3cret-pw"), at("ufh:user-pw")] {
            let store = RedisStore::open(&url, &ns).unwrap();
            contract::basic(&store);
            assert!(!store.describe().contains("pw"), "{}", store.describe());
            store.clear().unwrap();
        }
        for url in [redis.url(0), at(":wrong-pw"), at("ufh:wrong-pw")] {
            let err = RedisStore::open(&url, &ns)
                .and_then(|store| store.len())
                .unwrap_err()
                .to_string();
            assert!(err.to_lowercase().contains("auth"), "{err}");
            assert!(!err.contains("wrong-pw"), "the password was printed: {err}");
        }
        drop(redis);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn redis_store_keeps_the_contract_and_clears() {
        let (redis, dir) = server("contract", false);
        let store = RedisStore::open(&redis.url(0), &Namespace::of_text("contract")).unwrap();
        contract::basic(&store);
        store.clear().unwrap();
        assert!(store.is_empty().unwrap());
        drop(redis);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn redis_store_first_result_wins_and_fea_aggregates_atomically() {
        let (redis, dir) = server("race", false);
        for max_evals in [1, 5] {
            let ns = Namespace::of_text(&format!("race {max_evals}"));
            // One connection per writer, as separate machines would have.
            let store = Arc::new(RedisStore::open(&redis.url(0), &ns).unwrap());
            contract::concurrent_writers(store, max_evals);
        }
        drop(redis);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_store_waits_out_a_restart_and_keeps_its_entries_with_aof() {
        if !crate::slow_tier() {
            return;
        }
        let (mut redis, dir) = server("restart", true);
        let store = RedisStore::open(&redis.url(0), &Namespace::of_text("restart")).unwrap();
        let k = FunctionalHash(5);
        let e = StoredEvaluation {
            id: 3,
            validation: 0.5,
            test: 0.25,
            cost_s: 1.0,
        };
        store.add_evaluation(k, e, 1).unwrap();
        redis.kill();
        let restarter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            redis.restart().unwrap();
            redis
        });
        // Issued while the server is down: answered once it is back.
        assert_eq!(store.get(k).unwrap().unwrap().evaluations, vec![e]);
        drop(restarter.join().unwrap());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unreachable_server_is_an_error_naming_it_after_the_patience() {
        let err = RedisStore::with_patience(
            "redis://127.0.0.1:1/0",
            &Namespace::of_text("x"),
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert!(err.store.contains("127.0.0.1:1"), "{err}");
    }
}
