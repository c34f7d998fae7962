//! `testing::TestServer`: servers of their own, beside the process-wide one.

use sqlx::{ConnectOptions, Connection};
use tenant_query::testing::{TestDb, TestServer};

/// Two extra servers are distinct (own ports, own data), each serves fresh databases,
/// and a dropped server is gone.
#[tokio::test]
async fn test_servers_are_separate_and_stop_when_dropped() {
    let shared = TestDb::new().await.unwrap();
    let (a, b) = tokio::try_join!(TestServer::start(), TestServer::start()).unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(shared.connect_options().get_port(), a.port());

    let (db_a, db_b) = (a.database().await.unwrap(), b.database().await.unwrap());
    db_a.execute_script("CREATE TABLE only_on_a (n int); INSERT INTO only_on_a VALUES (1)")
        .await
        .unwrap();
    let on_a: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'only_on_a'")
            .fetch_one(db_a.pool())
            .await
            .unwrap();
    let on_b: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE tablename = 'only_on_a'")
            .fetch_one(db_b.pool())
            .await
            .unwrap();
    assert_eq!((on_a, on_b), (1, 0), "each server has its own data");
    // The same profile as the process-wide server.
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(db_b.pool())
        .await
        .unwrap();
    let shared_fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(shared.pool())
        .await
        .unwrap();
    assert_eq!(fsync, shared_fsync);

    let options = a.connect_options();
    db_a.pool().close().await;
    drop(db_a);
    drop(a);
    assert!(
        options.connect().await.is_err(),
        "a dropped server no longer accepts connections"
    );
    // The other one is untouched.
    let mut conn = b.connect_options().connect().await.unwrap();
    conn.ping().await.unwrap();
}
