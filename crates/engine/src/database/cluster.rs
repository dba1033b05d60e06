//! The managed PostgreSQL cluster: initdb, start, stop, restart, crash recovery, as an unprivileged user if root.
//!
//! Layout: the cluster lives in `<data-dir>/pg` and listens only on a unix socket in `<data-dir>/run`. PostgreSQL
//! refuses to run as root, so when we are root the server runs as an unprivileged system user; that user must be
//! able to traverse every ancestor of the cluster folder. When it cannot (a data directory under `/root`, a 0700
//! temporary folder), or when the socket path would exceed the kernel's 107-byte limit, the server folders move to
//! a short, reachable place and `<data-dir>/pg` and `<data-dir>/run` become symlinks to it.

use std::ffi::{CString, OsString};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The superuser role and database the managed cluster is created with.
pub const ROLE: &str = "midi_tui";
pub const DATABASE: &str = "midi_tui";
const PORT: u16 = 5432;
/// `sun_path` is 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, through `pg_config --bindir`, \
         or under {lib_root}/*/bin. Install the server package: `apt-get install postgresql` (Debian/Ubuntu), \
         `dnf install postgresql-server` (Fedora), `brew install postgresql@15` (macOS), or pass --database-url \
         to use an existing server"
    )]
    BinariesNotFound { lib_root: String },
    #[error("running as root, but no unprivileged user to run PostgreSQL as (tried {0}); set MIDI_TUI_SERVER_USER")]
    NoServerUser(String),
    #[error("{action} failed: {detail}")]
    Command { action: String, detail: String },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the managed cluster in {0} is not initialised (run `midi-tui db start`)")]
    NotInitialised(PathBuf),
}

type Result<T> = std::result::Result<T, ClusterError>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where the PostgreSQL server programs are.
#[derive(Debug, Clone)]
pub struct ServerBinaries {
    pub bindir: PathBuf,
}

impl ServerBinaries {
    /// Search PATH, then `pg_config --bindir`, then `<lib_root>/*/bin` (newest version first).
    /// `MIDI_TUI_PG_BINDIR` overrides the search; `MIDI_TUI_PG_LIB_ROOT` replaces `/usr/lib/postgresql`.
    pub fn find() -> Result<Self> {
        if let Some(dir) = std::env::var_os("MIDI_TUI_PG_BINDIR") {
            let dir = PathBuf::from(dir);
            return if has_server(&dir) {
                Ok(Self { bindir: dir })
            } else {
                Err(ClusterError::BinariesNotFound {
                    lib_root: dir.display().to_string(),
                })
            };
        }
        let lib_root = std::env::var_os("MIDI_TUI_PG_LIB_ROOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql"));
        Self::search(std::env::var_os("PATH"), &lib_root)
    }

    pub fn search(path_env: Option<OsString>, lib_root: &Path) -> Result<Self> {
        if let Some(path_env) = &path_env {
            for dir in std::env::split_paths(path_env) {
                if has_server(&dir) {
                    // Symlinks such as /usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb: use the real
                    // folder so that pg_ctl finds its `postgres` beside it.
                    let real = fs::canonicalize(dir.join("initdb"))
                        .ok()
                        .and_then(|p| p.parent().map(Path::to_path_buf))
                        .filter(|d| has_server(d))
                        .unwrap_or(dir);
                    return Ok(Self { bindir: real });
                }
            }
            for dir in std::env::split_paths(path_env) {
                let pg_config = dir.join("pg_config");
                if !pg_config.is_file() {
                    continue;
                }
                if let Ok(out) = Command::new(&pg_config).arg("--bindir").output() {
                    let bindir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
                    if out.status.success() && has_server(&bindir) {
                        return Ok(Self { bindir });
                    }
                }
            }
        }
        let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(lib_root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .filter(|(_, bin)| has_server(bin))
            .collect();
        versions.sort();
        match versions.pop() {
            Some((_, bindir)) => Ok(Self { bindir }),
            None => Err(ClusterError::BinariesNotFound {
                lib_root: lib_root.display().to_string(),
            }),
        }
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

fn has_server(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"].iter().all(|p| dir.join(p).is_file())
}

/// The unprivileged identity the server runs as (only when we are root).
#[derive(Debug, Clone, Copy)]
struct ServerUser {
    uid: u32,
    gid: u32,
}

/// Through getpwnam(3), not `sysinfo::Users`: that list reads /etc/passwd alone (no NSS, so no LDAP or sssd
/// accounts) and leaves out accounts whose shell is /bin/false, which is how many systems set up `postgres`.
fn lookup_user(name: &str) -> Option<ServerUser> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer into static storage or NULL; we copy the two ids out at once.
    unsafe {
        let pw = libc::getpwnam(cname.as_ptr());
        if pw.is_null() {
            None
        } else {
            Some(ServerUser {
                uid: (*pw).pw_uid,
                gid: (*pw).pw_gid,
            })
        }
    }
}

fn server_user() -> Result<Option<ServerUser>> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let candidates: Vec<String> = match std::env::var("MIDI_TUI_SERVER_USER") {
        Ok(u) => vec![u],
        Err(_) => vec!["postgres".into(), "nobody".into()],
    };
    for name in &candidates {
        if let Some(u) = lookup_user(name).filter(|u| u.uid != 0) {
            return Ok(Some(u));
        }
    }
    Err(ClusterError::NoServerUser(candidates.join(", ")))
}

/// Can `user` reach (search) `dir` through every ancestor?
fn reachable_by(dir: &Path, user: ServerUser) -> bool {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let Ok(meta) = fs::metadata(d) else { return false };
        let mode = meta.mode();
        let ok = if meta.uid() == user.uid {
            mode & 0o100 != 0
        } else if meta.gid() == user.gid {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return false;
        }
        cur = d.parent();
    }
    true
}

/// State of the managed cluster as `db status` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClusterStatus {
    pub data_dir: PathBuf,
    pub pgdata: PathBuf,
    pub socket_dir: PathBuf,
    pub initialised: bool,
    pub running: bool,
    pub pid: Option<i32>,
    pub url: String,
    pub server_user_uid: Option<u32>,
}

/// A managed cluster rooted at a data directory.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub data_dir: PathBuf,
    bins: Option<ServerBinaries>,
}

impl Cluster {
    /// A handle; nothing touches the disk until `ensure_started`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            bins: None,
        }
    }

    /// The default data directory: `MIDI_TUI_DATA_DIR`, else the user's data directory + `midi-tui`.
    pub fn default_data_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(|| std::env::temp_dir().join("midi-tui-data"))
            .join("midi-tui")
    }

    pub fn pgdata(&self) -> PathBuf {
        self.data_dir.join("pg")
    }

    pub fn socket_dir(&self) -> PathBuf {
        self.data_dir.join("run")
    }

    /// Connection URL over the unix socket (no TCP listener exists).
    pub fn url(&self) -> String {
        let sock = fs::canonicalize(self.socket_dir()).unwrap_or_else(|_| self.socket_dir());
        format!(
            "postgresql:///{DATABASE}?host={}&port={PORT}&user={ROLE}",
            sock.display()
        )
    }

    fn binaries(&mut self) -> Result<ServerBinaries> {
        if self.bins.is_none() {
            self.bins = Some(ServerBinaries::find()?);
        }
        Ok(self.bins.clone().expect("set above"))
    }

    pub fn is_initialised(&self) -> bool {
        self.pgdata().join("PG_VERSION").is_file()
    }

    /// The postmaster pid if one is alive for this cluster.
    pub fn running_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.pgdata().join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        is_postgres_process(pid, &self.pgdata()).then_some(pid)
    }

    pub fn status(&self) -> ClusterStatus {
        let pid = self.running_pid();
        ClusterStatus {
            data_dir: self.data_dir.clone(),
            pgdata: fs::canonicalize(self.pgdata()).unwrap_or_else(|_| self.pgdata()),
            socket_dir: fs::canonicalize(self.socket_dir()).unwrap_or_else(|_| self.socket_dir()),
            initialised: self.is_initialised(),
            running: pid.is_some(),
            pid,
            url: self.url(),
            server_user_uid: fs::metadata(self.pgdata()).ok().map(|m| m.uid()),
        }
    }

    /// Create the cluster if needed and start it if it is not running; reuse a running one.
    ///
    /// Safe when several processes do it at once on one data directory: the first creates and starts the cluster
    /// under an exclusive lock, the others wait for it and reuse the running server.
    pub fn ensure_started(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        if !self.is_initialised() {
            self.init()?;
        }
        if self.running_pid().is_some() && self.socket_dir().join(format!(".s.PGSQL.{PORT}")).exists() {
            return Ok(());
        }
        self.start_locked()
    }

    /// An exclusive lock on `<data-dir>/cluster.lock`, held until the returned file is dropped; it serialises
    /// initdb, start and stop between processes (the kernel releases it when a holder dies).
    fn lock(&self) -> Result<fs::File> {
        fs::create_dir_all(&self.data_dir).map_err(io_err(&self.data_dir))?;
        let path = self.data_dir.join("cluster.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.lock().map_err(io_err(&path))?;
        Ok(file)
    }

    fn init(&mut self) -> Result<()> {
        let bins = self.binaries()?;
        let user = server_user()?;
        fs::create_dir_all(&self.data_dir).map_err(io_err(&self.data_dir))?;
        let data_dir = fs::canonicalize(&self.data_dir).map_err(io_err(&self.data_dir))?;
        let socket_name_len = format!("/run/.s.PGSQL.{PORT}").len();
        let needs_elsewhere = user.is_some_and(|u| !reachable_by(&data_dir, u))
            || data_dir.as_os_str().len() + socket_name_len > MAX_SOCKET_PATH;
        let home = if needs_elsewhere {
            let home = relocated_home(&data_dir, user)?;
            for name in ["pg", "run"] {
                let link = self.data_dir.join(name);
                let _ = fs::remove_file(&link);
                std::os::unix::fs::symlink(home.join(name), &link).map_err(io_err(&link))?;
            }
            home
        } else {
            data_dir.clone()
        };
        let pgdata = home.join("pg");
        let run = home.join("run");
        for dir in [&pgdata, &run] {
            if dir.exists() && fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false) && dir == &pgdata {
                return Err(ClusterError::Command {
                    action: "initdb".into(),
                    detail: format!("{} exists, is not empty and holds no cluster", dir.display()),
                });
            }
            fs::create_dir_all(dir).map_err(io_err(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_err(dir))?;
            if let Some(u) = user {
                chown(dir, u)?;
            }
        }
        let out = run_as(
            Command::new(bins.program("initdb")).arg("-D").arg(&pgdata).args([
                "-U",
                ROLE,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-instructions",
            ]),
            user,
        )?;
        check(&out, "initdb")?;
        // The database is created in single-user mode: no server, socket or client program needed yet.
        let mut single = Command::new(bins.program("postgres"));
        single.args(["--single", "-j", "-D"]).arg(&pgdata).arg("postgres");
        single
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let out = run_with_input(&mut single, user, &format!("CREATE DATABASE {DATABASE};\n"))?;
        check(&out, "create database")?;
        let conf = base_config(&run);
        let conf_path = pgdata.join("postgresql.auto.conf");
        let mut existing = fs::read_to_string(&conf_path).unwrap_or_default();
        existing.push_str(&conf);
        fs::write(&conf_path, existing).map_err(io_err(&conf_path))?;
        // Trust, but only over the socket: there is no host line at all.
        let hba = pgdata.join("pg_hba.conf");
        fs::write(
            &hba,
            "# midi-tui managed cluster: unix socket only\nlocal all all trust\n",
        )
        .map_err(io_err(&hba))?;
        if let Some(u) = user {
            chown(&conf_path, u)?;
            chown(&hba, u)?;
        }
        tracing::info!(pgdata = %pgdata.display(), "initialised managed cluster");
        Ok(())
    }

    fn pg_ctl(&mut self, args: &[&str]) -> Result<Output> {
        let bins = self.binaries()?;
        let user = server_user()?;
        let pgdata = fs::canonicalize(self.pgdata()).map_err(io_err(&self.pgdata()))?;
        let log = pgdata.join("server.log");
        let mut cmd = Command::new(bins.program("pg_ctl"));
        cmd.arg("-D").arg(&pgdata).arg("-l").arg(&log).args(args);
        // pg_ctl's stdout is inherited by the postmaster it forks: never a pipe we wait on.
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        run_as(&mut cmd, user)
    }

    /// Start the server, recovering from a stale `postmaster.pid` or from orphans of a killed postmaster.
    pub fn start(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.start_locked()
    }

    fn start_locked(&mut self) -> Result<()> {
        if !self.is_initialised() {
            return Err(ClusterError::NotInitialised(self.data_dir.clone()));
        }
        self.clear_stale_pid();
        let mut last = String::new();
        // Backends of a SIGKILLed postmaster notice its death and exit within moments; until then the shared
        // memory block is "still in use", so retry for a while instead of failing.
        let mut deadline = Instant::now() + Duration::from_secs(30);
        // A postmaster of this cluster that is alive but not listening is starting up (crash recovery) or shutting
        // down, e.g. under a killed command's `pg_ctl`: wait for it to listen or to exit; a second `pg_ctl start`
        // would only fail on its lock file.
        let patience = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.running_pid().is_some() && Instant::now() < patience {
                if self.socket_dir().join(format!(".s.PGSQL.{PORT}")).exists() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(200));
                // The retries below keep their own 30 s once it is gone.
                deadline = deadline.max(Instant::now() + Duration::from_secs(30));
                continue;
            }
            let out = self.pg_ctl(&["-w", "-t", "60", "start"])?;
            if out.status.success() {
                return Ok(());
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            last.push_str(&self.log_tail());
            // A full disk does not go away by waiting: say where and how much to free, now.
            if last.contains("No space left on device") {
                return Err(self.disk_full(&last));
            }
            self.clear_stale_pid();
            std::thread::sleep(Duration::from_millis(500));
        }
        Err(ClusterError::Command {
            action: "pg_ctl start".into(),
            detail: last,
        })
    }

    /// Stop the server (fast shutdown) and wait until no process of it is left.
    pub fn stop(&mut self) -> Result<()> {
        if !self.data_dir.is_dir() {
            return Ok(());
        }
        let _lock = self.lock()?;
        self.stop_locked()
    }

    fn stop_locked(&mut self) -> Result<()> {
        let Some(pid) = self.running_pid() else {
            self.clear_stale_pid();
            return Ok(());
        };
        let out = self.pg_ctl(&["-w", "-t", "60", "-m", "fast", "stop"])?;
        if !out.status.success() {
            // SAFETY: plain signal to a pid we verified is this cluster's postmaster.
            unsafe { libc::kill(pid, libc::SIGQUIT) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if !process_alive(pid) && cluster_processes(&self.pgdata()).is_empty() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ClusterError::Command {
            action: "pg_ctl stop".into(),
            detail: self.log_tail(),
        })
    }

    /// Restart (for settings that only take effect at server start).
    pub fn restart(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.stop_locked()?;
        self.start_locked()
    }

    /// SIGKILL the postmaster (tests use this to simulate a crash).
    pub fn kill_server(&self) -> Option<i32> {
        let pid = self.running_pid()?;
        // SAFETY: plain signal to this cluster's postmaster.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        Some(pid)
    }

    fn clear_stale_pid(&self) {
        let pidfile = self.pgdata().join("postmaster.pid");
        if pidfile.exists() && self.running_pid().is_none() {
            tracing::warn!(path = %pidfile.display(), "removing stale postmaster.pid");
            let _ = fs::remove_file(&pidfile);
        }
    }

    /// The server could not start for want of disk space: which disk, how much is free, what to free.
    fn disk_full(&self, detail: &str) -> ClusterError {
        let pgdata = fs::canonicalize(self.pgdata()).unwrap_or_else(|_| self.pgdata());
        let space = crate::machine::disk_space(&pgdata);
        let wal = dir_size(&pgdata.join("pg_wal"));
        let free = space.map_or("an unknown amount".to_string(), |d| {
            format!("{:.1} MB of {:.1} GB", d.free as f64 / 1e6, d.total as f64 / 1e9)
        });
        let line = detail
            .lines()
            .find(|l| l.contains("No space left on device"))
            .unwrap_or("No space left on device")
            .trim();
        ClusterError::Command {
            action: "pg_ctl start".into(),
            detail: format!(
                "the disk holding {} is full ({free} free; the cluster's WAL takes {:.0} MB): free at least {} MB \
                 there (PostgreSQL writes its pid file, and after a crash a checkpoint, before it accepts \
                 connections), then run the command again. The server said: {line}",
                pgdata.display(),
                wal as f64 / 1e6,
                START_ROOM_MB
            ),
        }
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.pgdata().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let start = lines.len().saturating_sub(8);
        format!("\nserver.log:\n{}", lines[start..].join("\n"))
    }
}

/// Free space a server start needs, roughly: a WAL segment and room for a checkpoint's writes.
const START_ROOM_MB: u64 = 64;

/// Bytes of the files under a folder (not following links).
fn dir_size(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| if m.is_dir() { 0 } else { m.len() })
        .sum()
}

/// Settings every managed cluster starts with; profile levels change more at run time.
fn base_config(socket_dir: &Path) -> String {
    let mem = crate::machine::total_memory_bytes();
    // A quarter of a small machine's memory would starve the import workers: an eighth, within 128 MB..2 GB.
    let shared_mb = (mem / 8 / (1024 * 1024)).clamp(128, 2048);
    format!(
        "\n# midi-tui managed cluster\nlisten_addresses = ''\nunix_socket_directories = '{}'\nport = {PORT}\n\
         unix_socket_permissions = 0700\nshared_buffers = '{shared_mb}MB'\nlogging_collector = off\n\
         max_connections = 60\n",
        socket_dir.display()
    )
}

fn relocated_home(data_dir: &Path, user: Option<ServerUser>) -> Result<PathBuf> {
    let tag = blake3::hash(data_dir.as_os_str().as_encoded_bytes()).to_hex()[..12].to_string();
    // /var/lib is the place for a root-run service; a plain user gets a folder of its own in /tmp.
    let base = if user.is_some() {
        PathBuf::from("/var/lib/midi-tui")
    } else {
        // SAFETY: getuid has no preconditions.
        std::env::temp_dir().join(format!("midi-tui-{}", unsafe { libc::getuid() }))
    };
    fs::create_dir_all(&base).map_err(io_err(&base))?;
    fs::set_permissions(
        &base,
        fs::Permissions::from_mode(if user.is_some() { 0o711 } else { 0o700 }),
    )
    .map_err(io_err(&base))?;
    let home = base.join(tag);
    fs::create_dir_all(&home).map_err(io_err(&home))?;
    fs::set_permissions(
        &home,
        fs::Permissions::from_mode(if user.is_some() { 0o711 } else { 0o700 }),
    )
    .map_err(io_err(&home))?;
    // The relocated folder points back at its data directory, so removing a data directory can find it.
    let _ = fs::write(home.join("DATA_DIR"), data_dir.as_os_str().as_encoded_bytes());
    Ok(home)
}

/// Remove a managed cluster's files (after stopping it), including a relocated server folder.
pub fn remove_cluster_files(data_dir: &Path) {
    for name in ["pg", "run"] {
        let link = data_dir.join(name);
        if let Some(home) = fs::read_link(&link)
            .ok()
            .and_then(|t| t.parent().map(Path::to_path_buf))
        {
            let _ = fs::remove_dir_all(home);
        }
    }
    let _ = fs::remove_dir_all(data_dir);
}

fn chown(path: &Path, user: ServerUser) -> Result<()> {
    std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(io_err(path))
}

fn run_as(cmd: &mut Command, user: Option<ServerUser>) -> Result<Output> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    if let Some(u) = user {
        // std drops root's supplementary groups itself when uid is set without groups.
        cmd.uid(u.uid).gid(u.gid).current_dir("/");
    }
    cmd.output().map_err(|e| ClusterError::Command {
        action: program,
        detail: e.to_string(),
    })
}

fn run_with_input(cmd: &mut Command, user: Option<ServerUser>, input: &str) -> Result<Output> {
    use std::io::Write;
    let program = cmd.get_program().to_string_lossy().into_owned();
    if let Some(u) = user {
        cmd.uid(u.uid).gid(u.gid).current_dir("/");
    }
    let fail = |e: std::io::Error| ClusterError::Command {
        action: program.clone(),
        detail: e.to_string(),
    };
    let mut child = cmd.spawn().map_err(fail)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(fail)?;
    }
    child.wait_with_output().map_err(fail)
}

fn check(out: &Output, action: &str) -> Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(ClusterError::Command {
            action: action.into(),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            ),
        })
    }
}

fn process_alive(pid: i32) -> bool {
    // A zombie still answers kill(0); /proc state tells them apart.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Is `pid` a postgres process serving `pgdata`? (Guards against a recycled pid in a stale pid file.)
fn is_postgres_process(pid: i32, pgdata: &Path) -> bool {
    if !process_alive(pid) {
        return false;
    }
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let is_pg = exe.file_name().is_some_and(|n| n == "postgres" || n == "postmaster");
    if !is_pg {
        return false;
    }
    let want = fs::canonicalize(pgdata).unwrap_or_else(|_| pgdata.to_path_buf());
    fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|cwd| cwd == want)
        .unwrap_or(true)
}

/// Every live postgres process whose working directory is this cluster's data folder.
pub fn cluster_processes(pgdata: &Path) -> Vec<i32> {
    let want = fs::canonicalize(pgdata).unwrap_or_else(|_| pgdata.to_path_buf());
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| process_alive(pid))
        .filter(|&pid| {
            fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "postgres"))
                && fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == want)
        })
        .collect()
}
