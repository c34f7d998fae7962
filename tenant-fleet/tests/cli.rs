//! The command on a real PostgreSQL: plan, migrate, the process killed with SIGKILL in
//! the middle of a run, resume, status.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tenant_query::testing::TestDb;
use uuid::Uuid;

const HOMES: usize = 40;

struct Setup {
    db: TestDb,
    dir: PathBuf,
}

impl Setup {
    async fn new() -> Setup {
        let db = TestDb::new().await.unwrap();
        let dir = std::env::temp_dir().join(format!("tq-fleet-cli-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("migrations")).unwrap();
        let homes: String = (0..HOMES)
            .map(|i| format!("{} main tenant_{i:03}\n", Uuid::now_v7()))
            .collect();
        std::fs::write(
            dir.join("homes.txt"),
            format!("# tenant cell schema\n{homes}"),
        )
        .unwrap();
        Setup { db, dir }
    }

    fn url(&self) -> String {
        let o = self.db.connect_options();
        format!(
            "postgres://{}@{}:{}/{}",
            o.get_username(),
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap()
        )
    }

    fn migration(&self, file: &str, sql: &str) {
        std::fs::write(self.dir.join("migrations").join(file), sql).unwrap();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tenant-fleet"));
        command
            .arg("--control-url")
            .arg(self.url())
            .arg("--cell")
            .arg(format!("main={}", self.url()))
            .arg("--homes")
            .arg(self.dir.join("homes.txt"))
            .arg("--migrations")
            .arg(self.dir.join("migrations"))
            .args(args)
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }

    /// Schemas at version 2, checked to be all or nothing: the ledger row, the column the
    /// migration adds and its side effect agree in every schema.
    async fn at_version_two(&self) -> usize {
        let mut at_two = 0;
        for i in 0..HOMES {
            let s = format!("tenant_{i:03}");
            let ledger = self
                .count(&format!(
                    "SELECT count(*) FROM {s}.tenant_migrations WHERE version = 2"
                ))
                .await;
            let column = self
                .count(&format!(
                    "SELECT count(*) FROM information_schema.columns \
                     WHERE table_schema = '{s}' AND table_name = 'items' AND column_name = 'note'"
                ))
                .await;
            let log = self
                .count(&format!(
                    "SELECT count(*) FROM {s}.applied_log WHERE version = 2"
                ))
                .await;
            assert_eq!((ledger, log), (column, column), "{s}");
            at_two += ledger as usize;
        }
        at_two
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_mid_run_then_resumed_every_tenant_all_or_nothing() {
    let s = Setup::new().await;
    s.migration(
        "0001_items.sql",
        "CREATE TABLE items (id int PRIMARY KEY);\n\
         CREATE TABLE applied_log (version int NOT NULL);\n\
         INSERT INTO applied_log VALUES (1);\n",
    );
    let plan = s.run(&["plan"]);
    assert!(plan.status.success(), "{plan:?}");
    assert!(stdout(&plan).contains(&format!("{HOMES} of {HOMES} homes have work to do")));
    let first = s.run(&["migrate"]);
    assert!(first.status.success(), "{first:?}");
    assert!(stdout(&first).contains(&format!("{HOMES} migrated (80 versions applied)")));

    s.migration(
        "0002_slow.sql",
        "ALTER TABLE items ADD COLUMN note text;\n\
         INSERT INTO applied_log VALUES (2);\n\
         SELECT pg_sleep(0.05);\n",
    );
    let mut child = s
        .command(&["--parallel", "3", "migrate"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let runtime = tokio::runtime::Handle::current();
    let migrated = "SELECT count(*) FROM tenant_fleet_runs WHERE status = 'migrated'";
    wait_until("ten homes migrated", || {
        tokio::task::block_in_place(|| runtime.block_on(s.count(migrated))) >= HOMES as i64 + 10
    });
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed process's backends end when they find their client gone.
    let busy = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'tenant-fleet'";
    wait_until("the killed runner's backends to end", || {
        tokio::task::block_in_place(|| runtime.block_on(s.count(busy))) == 0
    });
    let at_two = s.at_version_two().await;
    assert!((10..HOMES).contains(&at_two), "{at_two} at version 2");

    let status = s.run(&["status"]);
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    let behind = stdout(&status)
        .lines()
        .filter(|l| l.contains("pending [2]"))
        .count();
    assert_eq!(behind, HOMES - at_two);

    let resumed = s.run(&["resume"]);
    assert!(resumed.status.success(), "{resumed:?}");
    let expected = format!(
        "{} migrated ({} versions applied)",
        HOMES - at_two,
        HOMES - at_two
    );
    assert!(stdout(&resumed).contains(&expected), "{}", stdout(&resumed));
    assert_eq!(s.at_version_two().await, HOMES);
    let status = s.run(&["status"]);
    assert!(status.status.success(), "{status:?}");
    assert!(
        stdout(&status)
            .lines()
            .all(|l| l.contains("applied [0, 1, 2]"))
    );
}

#[test]
fn bad_arguments_exit_with_status_2_and_a_message() {
    let dir = std::env::temp_dir().join(format!("tq-fleet-cli-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let homes = dir.join("homes.txt");
    std::fs::write(&homes, "not-a-uuid main tenant_1\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_tenant-fleet"))
        .args([
            "--control-url",
            "postgres://127.0.0.1:1/x",
            "--cell",
            "main=postgres://127.0.0.1:1/x",
        ])
        .arg("--homes")
        .arg(&homes)
        .arg("plan")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 1") && stderr.contains("not a UUID"),
        "{stderr}"
    );
}
