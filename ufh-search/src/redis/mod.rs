//! Redis: the shared FEC store ([`RedisStore`]), the job queue of evaluation
//! workers on many machines ([`RedisEvaluator`], [`Worker`]) and a local server
//! for tests and demos ([`LocalRedis`]).
//!
//! Every command goes through one connection that reconnects: a command that
//! fails because the server went away (a restart, a dropped link, a server still
//! loading its append-only file) is retried with growing pauses until the link's
//! patience runs out, so a search survives a Redis restart.

mod local;
mod queue;
mod store;

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use local::LocalRedis;
pub use queue::{Job, JobResult, RedisEvaluator, Worker, WorkerConfig, WorkerStats};
pub use store::RedisStore;

use crate::StoreError;

/// How long a link retries a command while the server is unreachable, unless
/// told otherwise.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(120);

/// A connection to one server that reconnects and retries.
pub(crate) struct Link {
    client: redis::Client,
    url: String,
    connection: Mutex<Option<redis::Connection>>,
    patience: Duration,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.url)
            .field("patience", &self.patience)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link to `url` (`redis://127.0.0.1:6379/0`); connects on first use.
    pub(crate) fn new(url: &str, patience: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::new(format!("redis {url}"), format!("bad URL: {e}")))?;
        Ok(Self {
            client,
            url: url.to_string(),
            connection: Mutex::new(None),
            patience,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Runs `command` on the connection, reconnecting and retrying while the
    /// server is unreachable, for at most the link's patience.
    pub(crate) fn run<T>(
        &self,
        what: &str,
        mut command: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(10);
        let mut guard = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let attempt = match guard.as_mut() {
                Some(connection) => command(connection),
                None => match self
                    .client
                    .get_connection_with_timeout(Duration::from_secs(5))
                {
                    Ok(connection) => {
                        *guard = Some(connection);
                        command(guard.as_mut().expect("just connected"))
                    }
                    Err(e) => Err(e),
                },
            };
            match attempt {
                Ok(value) => return Ok(value),
                Err(e) if transient(&e) && started.elapsed() < self.patience => {
                    *guard = None;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(e) => {
                    *guard = None;
                    return Err(StoreError::new(
                        format!("redis {}", self.url),
                        format!("{what}: {e}"),
                    ));
                }
            }
        }
    }
}

/// Whether a failed command may succeed once the server is back.
fn transient(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::Server(redis::ServerErrorKind::BusyLoading)
                | redis::ErrorKind::Server(redis::ServerErrorKind::TryAgain)
        )
}
