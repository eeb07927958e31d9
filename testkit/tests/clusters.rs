//! Starts real throwaway clusters with the machine's `PostgreSQL` binaries.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use strangler_testkit::{ClusterConfig, HarnessError, PgCluster, tokio_postgres};

#[tokio::test]
async fn two_clusters_run_side_by_side_independently() {
    let started = Instant::now();
    let (a, b) = tokio::try_join!(
        PgCluster::start(),
        ClusterConfig::new().database("other db").start()
    )
    .expect("start two PostgreSQL clusters");
    eprintln!(
        "two clusters started concurrently in {:?}",
        started.elapsed()
    );

    assert_ne!(a.port(), b.port());
    assert_eq!(a.database(), "postgres");
    assert_eq!(b.database(), "other db");
    assert!(b.connection_uri().ends_with("/other%20db"), "{b:?}");
    assert!(b.data_dir().is_dir());

    assert_data_is_separate(&a, &b).await;
    for cluster in [&a, &b] {
        let settings = cluster
            .query_text("SHOW wal_level; SHOW max_replication_slots; SHOW max_wal_senders")
            .await
            .expect("show settings");
        let settings: Vec<_> = settings.into_iter().flatten().flatten().collect();
        assert_eq!(settings, ["logical", "16", "16"]);
    }
    assert_logical_decoding_works(&a).await;
    assert_replication_connections_work(&a);

    // The slots are a's alone.
    let slots =
        |rows: Vec<Vec<Option<String>>>| rows.into_iter().flatten().flatten().collect::<Vec<_>>();
    let sql = "SELECT slot_name FROM pg_replication_slots ORDER BY 1";
    assert_eq!(
        slots(a.query_text(sql).await.expect("a's slots")),
        ["r", "s"]
    );
    assert!(slots(b.query_text(sql).await.expect("b's slots")).is_empty());

    assert!(
        a.server_log()
            .expect("read a's log")
            .contains("logical decoding")
    );
}

/// The same table name on both, different rows: nothing is shared.
async fn assert_data_is_separate(a: &PgCluster, b: &PgCluster) {
    for (cluster, name) in [(a, "alpha"), (b, "beta")] {
        cluster
            .run_script(&format!(
                "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
                 INSERT INTO items VALUES (1, '{name}');"
            ))
            .await
            .expect("create and fill items");
    }
    let client_a = a.connect().await.expect("connect to a");
    let client_b = b.connect().await.expect("connect to b");
    client_b
        .execute("INSERT INTO items VALUES (2, 'gamma')", &[])
        .await
        .expect("insert into b");
    let names = |rows: Vec<tokio_postgres::Row>| {
        rows.iter()
            .map(|row| row.get::<_, String>("name"))
            .collect::<Vec<_>>()
    };
    let select = "SELECT name FROM items ORDER BY id";
    assert_eq!(
        names(client_a.query(select, &[]).await.expect("read a")),
        ["alpha"]
    );
    assert_eq!(
        names(client_b.query(select, &[]).await.expect("read b")),
        ["beta", "gamma"]
    );
    let db = client_b
        .query_one("SELECT current_database()", &[])
        .await
        .expect("current database");
    assert_eq!(db.get::<_, String>(0), "other db");
}

/// A pgoutput slot created through SQL decodes a commit made just before.
async fn assert_logical_decoding_works(cluster: &PgCluster) {
    let client = cluster.connect().await.expect("connect");
    // One statement per call: a slot cannot be created in a transaction that
    // has written, and a multi-statement simple query is one transaction.
    for sql in [
        "CREATE PUBLICATION pub FOR TABLE items",
        "SELECT pg_create_logical_replication_slot('s', 'pgoutput')",
        "INSERT INTO items VALUES (3, 'delta')",
    ] {
        client.batch_execute(sql).await.expect(sql);
    }
    let changes = client
        .query_one(
            "SELECT count(*) FROM pg_logical_slot_peek_binary_changes(
                 's', NULL, NULL, 'proto_version', '1', 'publication_names', 'pub')",
            &[],
        )
        .await
        .expect("peek at the slot");
    // BEGIN, RELATION, INSERT, COMMIT: seen at once (synchronous_commit).
    assert_eq!(changes.get::<_, i64>(0), 4, "{changes:?}");
}

/// `pg_hba.conf` admits replication connections: `psql` with the connection
/// URI in replication mode runs replication commands (and creates slot `r`).
fn assert_replication_connections_work(cluster: &PgCluster) {
    let output = Command::new(cluster.bin_dir().join("psql"))
        .arg(format!("{}?replication=database", cluster.connection_uri()))
        .args(["--no-psqlrc", "--tuples-only", "--no-align"])
        .args(["-c", "IDENTIFY_SYSTEM"])
        .args(["-c", "CREATE_REPLICATION_SLOT r LOGICAL pgoutput"])
        .output()
        .expect("run psql");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "psql in replication mode failed: {}{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('|').collect()).collect();
    // systemid|timeline|xlogpos|dbname, then slot_name|consistent_point|snapshot_name|output_plugin
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0][3], "postgres", "{stdout}");
    assert_eq!(lines[1][0], "r", "{stdout}");
    assert_eq!(lines[1][3], "pgoutput", "{stdout}");
}

#[tokio::test]
async fn missing_binaries_fail_with_what_to_install() {
    let empty = tempfile::tempdir().expect("temp dir");
    let err = ClusterConfig::new()
        .bin_dir(empty.path())
        .start()
        .await
        .expect_err("no server binaries in an empty directory");
    let message = err.to_string();
    assert!(
        matches!(err, HarnessError::BinariesNotFound { .. }),
        "{err:?}"
    );
    assert!(
        message.starts_with("PostgreSQL server binaries (initdb, postgres) not found in "),
        "{message}"
    );
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("install them: apt-get install postgresql"),
        "{message}"
    );
}

#[tokio::test]
async fn a_server_that_cannot_start_fails_fast() {
    let started = Instant::now();
    let err = ClusterConfig::new()
        .param("wal_level", "no-such-level")
        .start()
        .await
        .expect_err("an invalid wal_level");
    assert!(matches!(err, HarnessError::ServerExited { .. }), "{err}");
    // Not the 60 s startup timeout.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn blocking_start_and_drop_cleans_up() {
    let started = Instant::now();
    let cluster = PgCluster::start_blocking().expect("start PostgreSQL");
    eprintln!("one cluster started in {:?}", started.elapsed());

    let port = cluster.port();
    let data_dir = cluster.data_dir();
    assert!(data_dir.join("PG_VERSION").is_file());
    assert!(cluster.bin_dir().join("initdb").is_file());
    assert!(
        cluster
            .connection_uri()
            .starts_with(&format!("postgres://postgres:password@127.0.0.1:{port}/")),
        "{cluster:?}"
    );
    TcpStream::connect(("127.0.0.1", port)).expect("the server listens");

    drop(cluster);
    assert!(!data_dir.exists(), "{} left behind", data_dir.display());
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server still up"
    );
}

#[tokio::test]
async fn a_failing_initdb_is_an_error_with_its_output() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("temp dir");
    for (name, script) in [
        (
            "initdb",
            "#!/bin/sh\necho 'initdb: simulated failure' >&2\nexit 1\n",
        ),
        ("postgres", "#!/bin/sh\nexit 1\n"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, script).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make script executable");
    }
    // As root the scripts run as the `postgres` user, who must reach them.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("open the directory");

    let err = ClusterConfig::new()
        .bin_dir(dir.path())
        .start()
        .await
        .expect_err("initdb fails");
    let message = err.to_string();
    assert!(matches!(err, HarnessError::StartFailed { .. }), "{err:?}");
    assert!(message.contains("initdb: simulated failure"), "{message}");
}
