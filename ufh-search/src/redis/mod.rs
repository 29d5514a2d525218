//! Redis: the shared FEC store ([`RedisStore`]), the job queue of evaluation
//! workers on many machines ([`RedisEvaluator`], [`Worker`]) and a local server
//! for tests and demos ([`LocalRedis`]).
//!
//! Every command goes through one connection that reconnects: a command that
//! fails because the server went away (a restart, a dropped link, a server still
//! loading its append-only file) is retried with growing pauses until the link's
//! patience runs out, so a search survives a Redis restart.

mod local;
pub mod presence;
mod queue;
mod store;

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use local::{LocalRedis, die_with_parent};
pub use queue::{Job, JobResult, RedisEvaluator, Worker, WorkerConfig, WorkerStats};
pub use store::RedisStore;

use crate::StoreError;

/// How long a link retries a command while the server is unreachable, unless
/// told otherwise.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(120);

/// `url` with its password, if any, replaced by `***`: for messages.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let user_info = &rest[..at];
    let user = user_info
        .split_once(':')
        .map_or(user_info, |(user, _)| user);
    format!("{scheme}://{user}:***@{}", &rest[at + 1..])
}

/// The client of `url`: `redis://` in plain TCP; `rediss://` over TLS (feature
/// `tls`), trusting the system's certificate authorities or the one given to
/// [`trust_certificate_authority`].
fn client(url: &str) -> redis::RedisResult<redis::Client> {
    if !url.starts_with("rediss://") {
        return redis::Client::open(url);
    }
    #[cfg(feature = "tls")]
    {
        // One process-wide provider; a second install (by the application, or
        // another link) is refused harmlessly.
        // ring, not aws-lc-rs: it builds with a C compiler alone (no cmake, no
        // OpenSSL); rustls marks it deprecated for lacking post-quantum key
        // exchange, which Redis's TLS does not offer either.
        #[allow(deprecated)]
        let _ = rustls::crypto::ring::default_provider().install_default();
        let root_cert = TRUSTED_CA.lock().unwrap_or_else(|e| e.into_inner()).clone();
        redis::Client::build_with_tls(
            url,
            redis::TlsCertificates {
                client_tls: None,
                root_cert,
            },
        )
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "rediss:// needs TLS, which this build lacks (ufh-search's feature tls)",
        )))
    }
}

/// The certificate authority (PEM) `rediss://` links trust instead of the
/// system's, if one was given.
#[cfg(feature = "tls")]
static TRUSTED_CA: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Makes every `rediss://` connection opened from now on trust the certificate
/// authority `pem` (a PEM file's bytes) instead of the system's trust store: for
/// a server whose certificate a private CA signed.
#[cfg(feature = "tls")]
pub fn trust_certificate_authority(pem: Vec<u8>) {
    *TRUSTED_CA.lock().unwrap_or_else(|e| e.into_inner()) = Some(pem);
}

/// A connection to one server that reconnects and retries.
pub(crate) struct Link {
    client: redis::Client,
    url: String,
    /// What errors name: "redis URL", or its role there ("job queue on redis URL").
    label: String,
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
        let client = client(url).map_err(|e| {
            StoreError::new(format!("redis {}", redacted(url)), format!("bad URL: {e}"))
        })?;
        Ok(Self {
            client,
            url: url.to_string(),
            label: format!("redis {}", redacted(url)),
            connection: Mutex::new(None),
            patience,
        })
    }

    /// The same link, naming itself `role` on its server in errors.
    pub(crate) fn labelled(mut self, role: &str) -> Self {
        self.label = format!("{role} on redis {}", redacted(&self.url));
        self
    }

    /// What errors call this link: "job queue on redis URL", say.
    pub(crate) fn label(&self) -> &str {
        &self.label
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
                    return Err(StoreError::new(self.label.clone(), format!("{what}: {e}")));
                }
            }
        }
    }
}

/// Whether a failed command may succeed once the server is back.
/// Whether `e` is a TLS refusal (a certificate not trusted, a name that does not
/// match): retrying cannot help.
fn tls_refused(e: &redis::RedisError) -> bool {
    // By its message: redis keeps the I/O error that carries rustls' error in an
    // `Arc<dyn Error>` whose `source` skips it, so no downcast reaches it.
    cfg!(feature = "tls") && e.to_string().contains("peer certificate")
}

/// Whether a server error says "not now": still loading its AOF, or try again.
fn busy(kind: redis::ServerErrorKind) -> bool {
    matches!(
        kind,
        redis::ServerErrorKind::BusyLoading | redis::ServerErrorKind::TryAgain
    )
}

fn transient(e: &redis::RedisError) -> bool {
    if tls_refused(e) {
        return false;
    }
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        // A server still loading its AOF (LOADING) or asking to retry (TRYAGAIN):
        // as the error's own kind, or inside a refused transaction (EXECABORT)
        // or pipeline.
        || matches!(e.kind(), redis::ErrorKind::Server(kind) if busy(kind))
        || e.clone().into_server_errors().is_some_and(|errors| {
            errors
                .iter()
                .any(|(_, error)| error.kind().is_some_and(busy))
        })
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use super::*;

    /// A redis-server on loopback working in `dir`, with `settings` besides.
    fn test_server(dir: &std::path::Path, settings: &[&str]) -> Child {
        Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--logfile",
                "redis.log",
            ])
            .args(settings)
            .arg("--dir")
            .arg(dir)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (the distribution's package) is installed")
    }

    /// A server that takes `key-load-delay` µs per key to load its AOF.
    fn slow_loading_server(dir: &std::path::Path, port: u16) -> Child {
        let port = port.to_string();
        test_server(
            dir,
            &[
                "--port",
                &port,
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--key-load-delay",
                "200",
            ],
        )
    }

    fn answer_transaction(c: &mut redis::Connection) -> redis::RedisResult<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HSETNX")
            .arg("answers")
            .arg(7)
            .arg("done")
            .ignore();
        pipe.cmd("HSETNX")
            .arg("answers")
            .arg(8)
            .arg("done")
            .ignore();
        pipe.query(c)
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redacted("redis://:s3cret@10.0.0.5:6379/0"),
            "redis://:***@10.0.0.5:6379/0"
        );
        assert_eq!(
            redacted("rediss://ufh:s3cret@host:6380/1"),
            "rediss://ufh:***@host:6380/1"
        );
        assert_eq!(
            redacted("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }

    /// A redis-server speaking only TLS on `port`, with `dir`'s certificate.
    #[cfg(feature = "tls")]
    fn tls_server(dir: &std::path::Path, port: u16) -> Child {
        let port = port.to_string();
        test_server(
            dir,
            &[
                "--port",
                "0",
                "--tls-port",
                &port,
                "--appendonly",
                "no",
                "--tls-auth-clients",
                "no",
                "--tls-cert-file",
                "cert.pem",
                "--tls-key-file",
                "key.pem",
                "--tls-ca-cert-file",
                "ca.pem",
            ],
        )
    }

    #[cfg(feature = "tls")]
    #[test]
    fn a_store_speaks_tls_to_a_rediss_url_and_checks_the_certificate() {
        use crate::store::{FecStore, Namespace};
        let dir = std::env::temp_dir().join(format!("ufh-redis-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A private authority and a certificate it signs for 127.0.0.1, made by
        // the openssl tool.
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        let openssl = |args: &[&str]| {
            let made = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("the openssl tool is installed");
            assert!(made.success(), "openssl {args:?}");
        };
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=ufh test authority",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "leaf.ext",
            "-out",
            "cert.pem",
        ]);
        let port = local::free_port().unwrap();
        let mut server = tls_server(&dir, port);
        let tls = format!("rediss://127.0.0.1:{port}/0");
        let ns = Namespace::of_text("tls");
        // The system's trust store does not know this certificate: refused.
        let untrusted = RedisStore::open(&tls, &ns)
            .and_then(|store| store.len())
            .unwrap_err();
        assert!(
            untrusted.to_string().contains("rediss://127.0.0.1"),
            "{untrusted}"
        );
        // With its authority trusted, the store works over TLS.
        trust_certificate_authority(std::fs::read(dir.join("ca.pem")).unwrap());
        let store = RedisStore::open(&tls, &ns).unwrap();
        crate::store::contract::basic(&store);
        // Plain TCP to the TLS port is no Redis at all.
        let plain = format!("redis://127.0.0.1:{port}/0");
        let err = Link::new(&plain, Duration::from_millis(300))
            .unwrap()
            .run("PING", |c| redis::cmd("PING").query::<String>(c));
        assert!(err.is_err());
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_transaction_waits_out_a_server_still_loading_its_aof() {
        if !crate::slow_tier() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("ufh-redis-loading-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let port = local::free_port().unwrap();
        let url = format!("redis://127.0.0.1:{port}/0");
        let mut server = slow_loading_server(&dir, port);
        let link = Link::new(&url, Duration::from_secs(60)).unwrap();
        // 20,000 keys at 200 µs each: about 4 s of loading after a restart.
        link.run("fill", |c| {
            let mut pipe = redis::pipe();
            for i in 0..20_000 {
                pipe.cmd("SET").arg(format!("k{i}")).arg("v").ignore();
            }
            pipe.query::<()>(c)
        })
        .unwrap();
        server.kill().unwrap(); // SIGKILL; every write is in the AOF
        server.wait().unwrap();
        let mut server = slow_loading_server(&dir, port);
        let client = redis::Client::open(url.as_str()).unwrap();
        let started = Instant::now();
        let mut raw = loop {
            if let Ok(c) = client.get_connection_with_timeout(Duration::from_millis(100)) {
                break c;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no server");
            std::thread::sleep(Duration::from_millis(10));
        };
        // While it loads, the transaction is refused (EXECABORT with LOADING
        // inside), and that refusal is one to wait out.
        let refused = answer_transaction(&mut raw).unwrap_err();
        assert!(transient(&refused), "{refused:?}");
        // Through a link, the same transaction succeeds once loading ends.
        link.run("answer", answer_transaction).unwrap();
        let answered: Option<String> = link
            .run("HGET", |c| {
                redis::cmd("HGET").arg("answers").arg(7).query(c)
            })
            .unwrap();
        assert_eq!(answered.as_deref(), Some("done"));
        let _ = server.kill();
        let _ = server.wait();
        let _ = std::fs::remove_dir_all(dir);
    }
}
