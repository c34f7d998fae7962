//! A real PostgreSQL for tests, examples and benchmarks (feature `testing`).
//!
//! [`TestDb::new`] gives each caller a fresh, empty database. With `DATABASE_URL` set it
//! creates that database on the given server and drops it afterwards. Without it, the
//! first call of the process starts a throwaway server from the PostgreSQL binaries on the
//! machine (`initdb` and `postgres` on `PATH`, or under `/usr/lib/postgresql/*/bin`), in
//! a temporary directory on a free loopback port; when the process exits, however it
//! exits, the server stops and the directory is removed. As root, the server runs as the
//! `postgres` user, since `initdb` refuses to run as root. The throwaway server preloads
//! `pg_stat_statements`, so tests can count the statements PostgreSQL really executed.
//!
//! The throwaway server has two profiles, chosen by `TQ_PG_PROFILE` when it starts:
//!
//! - `fast` (the default): `fsync=off`, `synchronous_commit=off`, `full_page_writes=off`.
//!   Nothing waits for the disk; right for tests, whose data is thrown away anyway.
//! - `durable`: PostgreSQL's defaults for those three (all on), so every commit waits for
//!   its WAL to reach the disk, as on a production server. For measuring writes.
//!
//! With `DATABASE_URL` set the server is yours, and its settings are whatever it has.
//!
//! A test that needs more than one server starts each with [`TestServer::start`]: the same
//! binaries, profile and user, its own data directory and port, stopped when dropped.
//!
//! When the PostgreSQL server binaries or `pgbouncer` are missing, the harness installs
//! the Debian package (`postgresql`, `pgbouncer`) itself if it runs as root with `apt-get`,
//! unless `TQ_NO_INSTALL=1` is set; otherwise it fails with what is missing and how to get
//! it.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let test_db = tenant_query::testing::TestDb::new().await?;
//! test_db.execute_script("CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL)").await?;
//! let db = test_db.db();
//! # let _ = db; Ok(()) }
//! ```

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection};

use crate::db::TenantDb;

mod install;
use install::{Needed, find_or_install};

const POSTGRES: Needed = Needed {
    what: "PostgreSQL server binaries (`initdb` and `postgres` on PATH or under \
           /usr/lib/postgresql/*/bin)",
    package: "postgresql",
    otherwise: ", or set DATABASE_URL to a server where this user may create databases",
};

const PGBOUNCER: Needed = Needed {
    what: "`pgbouncer` (on PATH or in /usr/sbin)",
    package: "pgbouncer",
    otherwise: "; the PgBouncer tests cannot run without pgbouncer",
};

/// Why a test database could not be had.
#[derive(thiserror::Error)]
#[error("{0}")]
pub struct HarnessError(String);

/// The message itself, so that a test's `unwrap()` or `expect()` shows it readably.
impl std::fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<sqlx::Error> for HarnessError {
    fn from(error: sqlx::Error) -> Self {
        HarnessError(format!("test database: {error}"))
    }
}

/// A fresh database on a real PostgreSQL, for one test.
#[derive(Debug)]
pub struct TestDb {
    db: TenantDb,
    options: PgConnectOptions,
    name: String,
    drop_on_exit: bool,
}

impl TestDb {
    /// Creates a fresh, empty database (see the module documentation for where).
    pub async fn new() -> Result<TestDb, HarnessError> {
        let drop_on_exit = std::env::var_os("DATABASE_URL").is_some();
        TestDb::create_on(server_options()?, drop_on_exit).await
    }

    /// Creates a fresh database on the server `server` (options for its maintenance
    /// database) connects to; `drop_on_exit` when the server outlives the test.
    async fn create_on(
        server: PgConnectOptions,
        drop_on_exit: bool,
    ) -> Result<TestDb, HarnessError> {
        let name = format!("tenant_query_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = server.connect().await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        let options = server.database(&name);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .connect_with(options.clone())
            .await?;
        Ok(TestDb {
            db: TenantDb::new(pool),
            options,
            name,
            drop_on_exit,
        })
    }

    /// The library handle on this database.
    pub fn db(&self) -> &TenantDb {
        &self.db
    }

    /// The raw pool, for schema set-up and for the checks a test makes behind the
    /// library's back.
    pub fn pool(&self) -> &sqlx::PgPool {
        self.db.pool()
    }

    /// Options that connect to this database (for another pool, or another client).
    pub fn connect_options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// Runs `sql`, which may hold several statements (a schema, for example).
    pub async fn execute_script(&self, sql: &str) -> Result<(), HarnessError> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

impl Drop for TestDb {
    /// Drops the database on a server the harness does not own (a throwaway server goes
    /// away whole, with the process).
    fn drop(&mut self) {
        if !self.drop_on_exit {
            return;
        }
        let (options, name) = (self.options.clone().database("postgres"), self.name.clone());
        // Drop runs inside the test's runtime; a helper thread gets a runtime of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = options.connect().await.ok()?;
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        });
        let _ = cleanup.join();
    }
}

/// Options for the server's maintenance database: `DATABASE_URL`'s, or the throwaway
/// server's, started on first use.
fn server_options() -> Result<PgConnectOptions, HarnessError> {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url
            .parse::<PgConnectOptions>()
            .map_err(|e| HarnessError(format!("DATABASE_URL is not a PostgreSQL URL: {e}")));
    }
    static SERVER: OnceLock<Result<u16, String>> = OnceLock::new();
    let port = SERVER
        .get_or_init(|| {
            let server = start_server()?;
            let port = server.port;
            // Kept for the life of the process: its exit closes the pipe that stops it.
            *SERVER_PROCESS.lock().unwrap_or_else(|e| e.into_inner()) = Some(server.process);
            Ok(port)
        })
        .clone()
        .map_err(HarnessError)?;
    Ok(maintenance_options(port))
}

/// Options for the `postgres` database of a throwaway server on `port`.
fn maintenance_options(port: u16) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username("postgres")
        .database("postgres")
        .disable_statement_logging()
}

/// The process-wide server's wrapper, kept for the life of the test process: its stdin is
/// the pipe whose closing (at exit) tells the wrapper script to stop the server and clean
/// up.
static SERVER_PROCESS: Mutex<Option<Child>> = Mutex::new(None);

/// A started throwaway server: its port, and the wrapper whose stdin closing stops it.
struct RunningServer {
    port: u16,
    process: Child,
}

/// Another throwaway PostgreSQL server of its own, besides the process-wide one
/// [`TestDb::new`] uses: its own data directory and port, the same binaries, profile
/// (`TQ_PG_PROFILE`) and user. For tests that need several servers (one database per
/// server, say). It starts from the local binaries even when `DATABASE_URL` is set, and
/// stops, its directory removed, when dropped (or when the process exits).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let server = tenant_query::testing::TestServer::start().await?;
/// let test_db = server.database().await?;
/// test_db.execute_script("CREATE TABLE notes (id uuid PRIMARY KEY)").await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestServer {
    port: u16,
    process: Child,
}

impl TestServer {
    /// Starts a server (initdb, then postgres on a free loopback port) and waits until it
    /// accepts connections.
    pub async fn start() -> Result<TestServer, HarnessError> {
        // initdb and the wait for readiness block; keep them off the async workers.
        let server = tokio::task::spawn_blocking(start_server)
            .await
            .map_err(|e| HarnessError(format!("the server start panicked: {e}")))?
            .map_err(HarnessError)?;
        Ok(TestServer {
            port: server.port,
            process: server.process,
        })
    }

    /// The port the server listens on (at 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Options that connect to the server's `postgres` database as the superuser
    /// `postgres` (for administration, or `.database(..)` for another database).
    pub fn connect_options(&self) -> PgConnectOptions {
        maintenance_options(self.port)
    }

    /// A fresh, empty database on this server. It goes away with the server.
    pub async fn database(&self) -> Result<TestDb, HarnessError> {
        TestDb::create_on(self.connect_options(), false).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        drop(self.process.stdin.take()); // the wrapper stops the server and cleans up
        let _ = self.process.wait();
    }
}

/// Runs initdb and postgres in a fresh temporary directory, then waits until they accept
/// connections, then stops both and removes the directory once stdin closes.
const SERVER_SCRIPT: &str = r#"
set -e
bin="$1"; port="$2"; settings="$3"
dir=$(mktemp -d "${TMPDIR:-/tmp}/tenant-query-pg.XXXXXX")
echo "$dir"
"$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
"$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    $settings -c max_connections=300 \
    -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
    >"$dir/postgres.log" 2>&1 &
pid=$!
echo started
cat >/dev/null || true
kill -INT "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$dir"
"#;

/// The server settings of the profile `TQ_PG_PROFILE` names (see the module documentation).
fn profile_settings() -> Result<&'static str, String> {
    match std::env::var("TQ_PG_PROFILE").as_deref() {
        Err(_) | Ok("" | "fast") => {
            Ok("-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        }
        // PostgreSQL's defaults: fsync, synchronous_commit and full_page_writes on.
        Ok("durable") => Ok(""),
        Ok(other) => Err(format!(
            "TQ_PG_PROFILE is `{other}`; it takes `fast` (the default) or `durable`"
        )),
    }
}

/// The one routine that starts a throwaway server (the process-wide one and each
/// [`TestServer`]).
fn start_server() -> Result<RunningServer, String> {
    let settings = profile_settings()?;
    let bin = find_or_install(&POSTGRES, server_binaries)?;
    let port = free_port().map_err(|e| e.0)?;
    let mut command = wrapper_shell();
    command
        .args(["-c", SERVER_SCRIPT, "tenant-query-pg"])
        .arg(&bin)
        .arg(port.to_string())
        .arg(settings)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start the test PostgreSQL (`{command:?}`): {e}"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or("the test PostgreSQL's output could not be read")?;
    let mut stdout = BufReader::new(stdout);
    let mut line = String::new();
    let dir = read_line(&mut stdout, &mut line).map(PathBuf::from);
    let started = read_line(&mut stdout, &mut line);
    let Some(dir) = dir.filter(|_| started.as_deref() == Some("started")) else {
        let _ = child.wait();
        return Err(format!(
            "initdb failed in {} (its output is above)",
            bin.display()
        ));
    };
    let server = RunningServer {
        port,
        process: child,
    };
    // On failure `server` drops here, closing the pipe so the wrapper cleans up.
    wait_until_ready(port, &dir)?;
    Ok(server)
}

fn read_line(reader: &mut impl BufRead, line: &mut String) -> Option<String> {
    line.clear();
    reader.read_line(line).ok().filter(|n| *n > 0)?;
    Some(line.trim().to_owned())
}

fn wait_until_ready(port: u16, dir: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::fs::read_to_string(dir.join("postgres.log"))
                .is_ok_and(|log| log.contains("ready to accept connections"))
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    Err(format!(
        "the test PostgreSQL did not start within 60 s; its log:\n{log}"
    ))
}

/// A directory holding both `initdb` and `postgres`.
fn server_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|dir| has_both(dir))
        // initdb finds postgres next to its real location; follow links to it.
        .filter_map(|dir| {
            dir.join("initdb")
                .canonicalize()
                .ok()?
                .parent()
                .map(Path::to_path_buf)
        });
    let mut installed: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(|e| Some(e.ok()?.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    installed.sort_by_key(|dir| {
        let version = dir
            .parent()
            .and_then(Path::file_name)
            .and_then(|v| v.to_str());
        std::cmp::Reverse(version.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0))
    });
    on_path.chain(installed).find(|dir| has_both(dir))
}

/// `sh` for the wrapper scripts, as the `postgres` user when running as root (neither
/// `initdb`, `postgres` nor `pgbouncer` runs as root).
fn wrapper_shell() -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--", "sh"]);
        command
    } else {
        Command::new("sh")
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A real PgBouncer in transaction mode in front of a [`TestDb`]'s server, on a free
/// loopback port; stopped and removed on drop (or when the process exits).
///
/// It needs the `pgbouncer` binary (Debian: `apt-get install pgbouncer`; see the module
/// documentation for when the harness installs it). Authentication
/// is `trust`, for the users named at start.
#[derive(Debug)]
pub struct PgBouncer {
    port: u16,
    database: String,
    process: Child,
}

const PGBOUNCER_SCRIPT: &str = r#"
set -e
bin="$1"; config="$2"; users="$3"
dir=$(mktemp -d "${TMPDIR:-/tmp}/tenant-query-pgbouncer.XXXXXX")
printf '%s\n' "$config" | sed "s|@DIR@|$dir|g" >"$dir/pgbouncer.ini"
printf '%s\n' "$users" >"$dir/users.txt"
"$bin" "$dir/pgbouncer.ini" >"$dir/pgbouncer.log" 2>&1 &
pid=$!
echo "$dir"
cat >/dev/null || true
kill -INT "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$dir"
"#;

impl PgBouncer {
    /// Starts PgBouncer with `pool_mode = transaction` and at most `server_connections`
    /// server connections per user and database, accepting `users`.
    pub async fn start(
        test_db: &TestDb,
        users: &[&str],
        server_connections: u32,
    ) -> Result<PgBouncer, HarnessError> {
        let bin = find_or_install(&PGBOUNCER, || {
            // Debian installs it in /usr/sbin, which is not on every user's PATH.
            install::on_path("pgbouncer").or_else(|| {
                let sbin = PathBuf::from("/usr/sbin/pgbouncer");
                sbin.is_file().then_some(sbin)
            })
        })
        .map_err(HarnessError)?;
        let server = test_db.connect_options();
        let port = free_port()?;
        let config = format!(
            "[databases]\n* = host={host} port={server_port}\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = @DIR@/users.txt\npool_mode = transaction\n\
             default_pool_size = {server_connections}\nmax_client_conn = 1000\n\
             ignore_startup_parameters = extra_float_digits,search_path\n\
             pidfile = @DIR@/pgbouncer.pid\n",
            host = server.get_host(),
            server_port = server.get_port(),
        );
        let users: Vec<String> = users.iter().map(|u| format!("\"{u}\" \"\"")).collect();
        let mut command = wrapper_shell();
        command
            .args(["-c", PGBOUNCER_SCRIPT, "tenant-query-pgbouncer"])
            .arg(&bin)
            .args([&config, &users.join("\n")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut process = command
            .spawn()
            .map_err(|e| HarnessError(format!("could not start pgbouncer: {e}")))?;
        let stdout = process
            .stdout
            .take()
            .ok_or_else(|| HarnessError("pgbouncer's output could not be read".into()))?;
        let mut stdout = BufReader::new(stdout);
        let dir = read_line(&mut stdout, &mut String::new())
            .ok_or_else(|| HarnessError("pgbouncer's wrapper failed (see above)".into()))?;
        let bouncer = PgBouncer {
            port,
            database: server.get_database().unwrap_or("postgres").to_owned(),
            process,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if bouncer.connect_options("postgres").connect().await.is_ok() {
                return Ok(bouncer);
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(Path::new(&dir).join("pgbouncer.log"))
                    .unwrap_or_default();
                return Err(HarnessError(format!(
                    "pgbouncer did not accept connections; its log:\n{log}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Options that connect through PgBouncer to the test database as `user`.
    pub fn connect_options(&self, user: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(user)
            .database(&self.database)
            .disable_statement_logging()
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        drop(self.process.stdin.take()); // the wrapper stops PgBouncer and cleans up
        let _ = self.process.wait();
    }
}

fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| HarnessError(format!("no free loopback port: {e}")))
}
