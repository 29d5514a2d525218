//! Who works on which namespace: a coordinator or worker announces itself under a
//! key with a lease (`ufh:NAMESPACE:ROLE:NAME`, expiring unless refreshed), so
//! that a coordinator starting afresh can refuse to wipe a namespace another
//! coordinator is using, and a coordinator or worker that waits in vain can say
//! that its counterparts run in another namespace (other settings).

use std::sync::mpsc;
use std::time::Duration;

use super::Link;
use crate::store::{Namespace, StoreError};

/// How long an announcement lives without a refresh: a process that stops
/// (killed, lost) disappears from the list after this.
pub const LEASE: Duration = Duration::from_secs(10);

/// A role in the job queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Holds the search and sends jobs.
    Coordinator,
    /// Takes jobs and answers them.
    Worker,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Coordinator => "coordinator",
            Role::Worker => "worker",
        }
    }
}

fn key(namespace: &str, role: Role, name: &str) -> String {
    format!("ufh:{namespace}:{}:{name}", role.as_str())
}

/// Sets `key` to `name` for one [`LEASE`].
fn renew(link: &Link, key: &str, name: &str) -> Result<(), StoreError> {
    link.run("SET lease", |c| {
        redis::cmd("SET")
            .arg(key)
            .arg(name)
            .arg("PX")
            .arg(LEASE.as_millis() as u64)
            .query::<()>(c)
    })
}

/// An announcement that lives as long as this value: a thread refreshes its lease
/// every third of [`LEASE`]; dropping it deletes the key.
#[derive(Debug)]
pub struct Presence {
    url: String,
    key: String,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Presence {
    /// Announces `name` in `role` for `namespace` on the server at `url`.
    pub fn announce(
        url: &str,
        namespace: &Namespace,
        role: Role,
        name: &str,
    ) -> Result<Self, StoreError> {
        let key = key(namespace.as_str(), role, name);
        renew(&Link::new(url, super::DEFAULT_PATIENCE)?, &key, name)?;
        // Short patience: a refresh that cannot reach the server is skipped, and
        // dropping the presence never waits long for one.
        let beat = Link::new(url, Duration::from_millis(500))?;
        let (stop, wake) = mpsc::channel::<()>();
        let (beat_key, beat_name) = (key.clone(), name.to_string());
        let thread = std::thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = wake.recv_timeout(LEASE / 3) {
                // A missed refresh is not an error: the next one renews the key.
                let _ = renew(&beat, &beat_key, &beat_name);
            }
        });
        Ok(Self {
            url: url.to_string(),
            key,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // One short try: with the server gone, the lease runs out by itself.
        if let Ok(link) = Link::new(&self.url, Duration::from_millis(500)) {
            let _ = link.run("DEL lease", |c| {
                redis::cmd("DEL").arg(&self.key).query::<()>(c)
            });
        }
    }
}

/// Everyone announced in `role`, as (namespace, name), in any namespace.
pub fn present(url: &str, role: Role) -> Result<Vec<(String, String)>, StoreError> {
    let link = Link::new(url, super::DEFAULT_PATIENCE)?;
    let pattern = format!("ufh:*:{}:*", role.as_str());
    let keys: Vec<String> = link.run("SCAN leases", |c| {
        let mut keys = Vec::new();
        let mut cursor = 0u64;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(c)?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    })?;
    let prefix_len = "ufh:".len();
    let mut out: Vec<(String, String)> = keys
        .into_iter()
        .filter_map(|k| {
            let rest = &k[prefix_len..];
            let (namespace, rest) = rest.split_once(':')?;
            let name = rest.strip_prefix(role.as_str())?.strip_prefix(':')?;
            Some((namespace.to_string(), name.to_string()))
        })
        .collect();
    out.sort();
    Ok(out)
}

/// A sentence on why no counterpart in `role` answers in `namespace`, or `None`
/// if some is announced there: the namespaces where they are instead.
pub fn absent_from(
    url: &str,
    namespace: &Namespace,
    role: Role,
) -> Result<Option<String>, StoreError> {
    let everyone = present(url, role)?;
    if everyone.iter().any(|(ns, _)| ns == namespace.as_str()) {
        return Ok(None);
    }
    let role = role.as_str();
    if everyone.is_empty() {
        return Ok(Some(format!(
            "no {role} is running on {} for namespace {namespace}",
            super::redacted(url)
        )));
    }
    let mut elsewhere: Vec<&str> = everyone.iter().map(|(ns, _)| ns.as_str()).collect();
    elsewhere.dedup();
    Ok(Some(format!(
        "no {role} runs for namespace {namespace}, but {} {role}(s) run for namespace(s) {}: \
         they were started with other settings (--table?)",
        everyone.len(),
        elsewhere.join(", ")
    )))
}
