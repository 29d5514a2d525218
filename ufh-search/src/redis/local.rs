//! A `redis-server` child process on loopback, for tests and demos.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::StoreError;

/// A `redis-server` (from the distribution's packages) started as a child on
/// 127.0.0.1 at a free port, with its files in its own folder; killed when
/// dropped. With `aof` on, every write is appended and fsynced before it is
/// acknowledged (`appendfsync always`), so a killed and restarted server has every
/// acknowledged write.
#[derive(Debug)]
pub struct LocalRedis {
    keeper: Keeper,
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    aof: bool,
}

impl LocalRedis {
    /// Starts a server whose files live in `dir` (created if missing).
    pub fn start(dir: impl AsRef<Path>, aof: bool) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::new("redis-server", format!("{}: {e}", dir.display())))?;
        let port = free_port()?;
        let mut server = Self {
            keeper: Keeper::new()?,
            child: None,
            port,
            dir,
            aof,
        };
        server.spawn()?;
        Ok(server)
    }

    /// `redis://127.0.0.1:PORT/db`.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and folder (after [`Self::kill`]).
    pub fn restart(&mut self) -> Result<(), StoreError> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> Result<(), StoreError> {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--protected-mode", "yes", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--logfile", "redis.log"]);
        if self.aof {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        die_with_parent(&mut command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = self.keeper.spawn(command).map_err(|e| {
            StoreError::new(
                "redis-server",
                format!("cannot start it ({e}): install the distribution's redis-server package"),
            )
        })?;
        self.child = Some(child);
        // Wait until it answers PING.
        let started = Instant::now();
        let client = redis::Client::open(self.url(0)).expect("a loopback URL parses");
        loop {
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(StoreError::new(
                    format!("redis-server on port {}", self.port),
                    format!(
                        "did not answer within 10 s; see {}",
                        self.dir.join("redis.log").display()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Makes the process `command` starts die (SIGKILL) when the thread that started
/// it ends, however it ends: a coordinator killed with SIGKILL leaves no
/// redis-server or worker behind. On Linux, by `prctl(PR_SET_PDEATHSIG)`;
/// elsewhere nothing is done.
pub fn die_with_parent(command: &mut Command) -> &mut Command {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = std::process::id();
        // SAFETY: between fork and exec only async-signal-safe calls are allowed;
        // prctl, getppid and _exit are system calls.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
                Ok(())
            });
        }
    }
    command
}

/// A request to the keeper: a command to start, and where to send the child.
type Start = (Command, mpsc::Sender<std::io::Result<Child>>);

/// A thread that starts a server's processes and lives as long as the server: the
/// parent-death signal of a process fires when the *thread* that started it
/// ends, so the process must not be started by whichever thread happens to call
/// [`LocalRedis::start`] or [`LocalRedis::restart`].
struct Keeper {
    requests: Option<mpsc::Sender<Start>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Keeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keeper")
    }
}

impl Keeper {
    fn new() -> Result<Self, StoreError> {
        let (requests, incoming) = mpsc::channel::<Start>();
        let thread = std::thread::Builder::new()
            .name("redis-keeper".into())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })
            .map_err(|e| StoreError::new("redis-server", format!("no keeper thread: {e}")))?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    fn spawn(&self, command: Command) -> std::io::Result<Child> {
        let (reply, answer) = mpsc::channel();
        let gone = || std::io::Error::other("the keeper thread is gone");
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send((command, reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A port free on loopback now.
pub(crate) fn free_port() -> Result<u16, StoreError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| StoreError::new("redis-server", format!("no free loopback port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| StoreError::new("redis-server", e))
}
