#![allow(clippy::too_many_lines)] // Scenario tests read top to bottom.

//! The change stream's hard cases on real clusters: types, TOAST, NULLs,
//! TRUNCATE, key changes, composite keys, column mapping, DDL, crash and
//! resume, and preflight refusals.

mod common;

use common::{fingerprint, pair, plan, rows, spec, start, table_state, wait_caught_up, wait_for};
use strangler_testkit::ClusterConfig;

const TYPES: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE things (
    id bigint PRIMARY KEY,
    tags text[],
    nums int[],
    doc json,
    docb jsonb,
    price numeric(12,3),
    at timestamptz,
    raw bytea,
    uid uuid,
    feel mood,
    feels mood[],
    big text,
    legacy int
);
CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b));
INSERT INTO things (id, tags, nums, doc, docb, price, at, raw, uid, feel, feels, big, legacy)
SELECT g, ARRAY['x' || g, NULL, 'q\"uote'], ARRAY[g, -g], '{\"k\": 1}', jsonb_build_object('g', g),
       g * 1.125, '2024-01-02 03:04:05+00'::timestamptz + g * interval '1 hour',
       decode('00ff10', 'hex'), gen_random_uuid(), 'ok', ARRAY['sad', 'happy']::mood[],
       CASE WHEN g % 10 = 0 THEN repeat(md5(g::text), 4000) END, g
FROM generate_series(1, 300) g;
INSERT INTO pairs SELECT g % 7, 'k' || g, g FROM generate_series(1, 200) g;
";

const TABLES: &str = "[[service.table]]\nname = \"things\"\nstage = \"syncing\"\n\
    rename = { price = \"amount\" }\nexclude = [\"legacy\"]\n\
    [[service.table]]\nname = \"pairs\"\nstage = \"syncing\"\n";

const SERVICE_VIEW: &str = "SELECT id, tags, nums, doc::text, docb, amount, at, raw, uid, feel, feels, \
    md5(big) FROM things ORDER BY id";
const MONOLITH_VIEW: &str = "SELECT id, tags, nums, doc::text, docb, price, at, raw, uid, feel, feels, \
    md5(big) FROM things ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn types_toast_nulls_truncate_key_changes_and_mapping_apply_exactly() {
    let (source, target) = pair().await;
    source.run_script(TYPES).await.expect("source schema");
    let spec = spec(&plan(&source, &target, TABLES));
    let src = source.connect().await.expect("connect");
    let tgt = target.connect().await.expect("connect");
    strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema");
    let cols: Vec<String> = rows(
        &tgt,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'things' \
         ORDER BY ordinal_position",
    )
    .await;
    assert!(
        cols.contains(&"(amount)".to_owned())
            && !cols.iter().any(|c| c == "(legacy)" || c == "(price)"),
        "{cols:?}"
    );

    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT count(*) = 2 AND bool_and(state IN ('catching_up','streaming')) FROM strangler.table_state",
        "the copy",
    )
    .await;
    assert_eq!(
        rows(&src, MONOLITH_VIEW).await,
        rows(&tgt, SERVICE_VIEW).await,
        "after the copy"
    );

    src.batch_execute(
        "
        -- TOAST unchanged: only a small column changes on rows with big values.
        UPDATE things SET feel = 'happy', legacy = legacy + 1 WHERE id % 10 = 0;
        -- NULLs in and out.
        UPDATE things SET tags = NULL, doc = NULL, raw = NULL, at = NULL WHERE id % 3 = 0;
        UPDATE things SET tags = '{}', nums = ARRAY[NULL, 1]::int[] WHERE id = 1;
        INSERT INTO things (id) VALUES (1000), (1001);
        -- A key change, alone and with a TOASTed value left unchanged.
        UPDATE things SET id = 5000 WHERE id = 7;
        UPDATE things SET id = 5010 WHERE id = 10;
        -- A changed TOAST value.
        UPDATE things SET big = repeat('z', 100000) WHERE id = 20;
        DELETE FROM things WHERE id BETWEEN 100 AND 120;
        -- Composite keys, including a change of one key part, in one transaction.
        BEGIN;
        UPDATE pairs SET b = b || '-moved' WHERE a = 3;
        DELETE FROM pairs WHERE a = 4 AND b = 'k4';
        INSERT INTO pairs VALUES (99, 'new', NULL);
        UPDATE pairs SET v = v * 2 WHERE a = 5;
        COMMIT;
        ",
    )
    .await
    .expect("changes");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    assert_eq!(
        rows(&src, MONOLITH_VIEW).await,
        rows(&tgt, SERVICE_VIEW).await,
        "after streaming"
    );
    assert_eq!(
        fingerprint(&src, "pairs").await,
        fingerprint(&tgt, "pairs").await
    );
    let big_kept: bool = tgt
        .query_one(
            "SELECT big IS NOT NULL AND length(big) = 128000 FROM things WHERE id = 5010",
            &[],
        )
        .await
        .expect("read")
        .get(0);
    assert!(
        big_kept,
        "an unchanged TOAST value is never overwritten with NULL"
    );

    // TRUNCATE reaches the service, and rows after it too.
    src.batch_execute("TRUNCATE pairs; INSERT INTO pairs VALUES (1, 'after', 1);")
        .await
        .expect("truncate");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    assert_eq!(
        rows(&tgt, "SELECT * FROM pairs").await,
        vec!["(1,after,1)".to_owned()]
    );

    // DDL on one table stops that table with a clear error; the other goes on.
    src.batch_execute(
        "ALTER TABLE pairs ADD COLUMN extra int; INSERT INTO pairs VALUES (2, 'x', 2, 2);",
    )
    .await
    .expect("ddl");
    src.batch_execute("UPDATE things SET feel = 'sad' WHERE id = 1")
        .await
        .expect("update");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    assert_eq!(table_state(&tgt, "pairs").await.as_deref(), Some("error"));
    let error: String = tgt
        .query_one(
            "SELECT error FROM strangler.table_state WHERE table_name = 'pairs'",
            &[],
        )
        .await
        .expect("error")
        .get(0);
    assert!(
        error.contains("changed shape") && error.contains("extra"),
        "{error}"
    );
    let feel: String = tgt
        .query_one("SELECT feel::text FROM things WHERE id = 1", &[])
        .await
        .expect("feel")
        .get(0);
    assert_eq!(feel, "sad", "the other table still streams");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn crash_mid_batch_and_mid_copy_then_resume_exactly() {
    let (source, target) = pair().await;
    source
        .run_script(
            "CREATE TABLE acc (id int PRIMARY KEY, bal bigint NOT NULL, pad text);
             INSERT INTO acc SELECT g, 0, repeat('p', 50) FROM generate_series(1, 200000) g;",
        )
        .await
        .expect("schema");
    let spec = spec(&plan(
        &source,
        &target,
        "[[service.table]]\nname = \"acc\"\nstage = \"syncing\"\n",
    ));
    let src = source.connect().await.expect("connect");
    let tgt = target.connect().await.expect("connect");
    strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema");

    // Crash during the copy: the copy is started again from a new snapshot.
    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT EXISTS (SELECT 1 FROM strangler.table_state WHERE state = 'copying')",
        "the copy to start",
    )
    .await;
    running.crash().await;
    src.batch_execute("UPDATE acc SET bal = bal + 1 WHERE id % 2 = 0")
        .await
        .expect("write");

    // Resume, then crash in the middle of applying a big transaction.
    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT EXISTS (SELECT 1 FROM strangler.table_state WHERE state IN ('catching_up','streaming'))",
        "the copy to finish",
    )
    .await;
    wait_caught_up(&src, &tgt, &spec.slot).await;
    let before = fingerprint(&tgt, "acc").await;
    // A row lock on the service holds the apply inside the first big
    // transaction. The update reaches row 200000 late (the update above
    // moved it to the end of the monolith's heap), so the statements before
    // it are applied in the same target transaction, which cannot commit
    // while it waits.
    let locker = target.connect().await.expect("connect the locker");
    locker
        .batch_execute("BEGIN; SELECT 1 FROM acc WHERE id = 200000 FOR UPDATE")
        .await
        .expect("lock a row");
    let locker_pid: i32 = locker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);
    for round in 0..3 {
        src.batch_execute(&format!("UPDATE acc SET bal = bal + {round} + 1"))
            .await
            .expect("big update");
    }
    let blocked = format!(
        "SELECT pid FROM pg_stat_activity WHERE {locker_pid} = ANY (pg_blocking_pids(pid)) \
         AND backend_xid IS NOT NULL"
    );
    wait_for(
        &tgt,
        &format!("SELECT EXISTS ({blocked})"),
        "the apply to be half way through the big transaction",
    )
    .await;
    let apply_pid: i32 = tgt
        .query_one(&blocked, &[])
        .await
        .expect("apply pid")
        .get(0);
    running.crash().await;
    locker.batch_execute("ROLLBACK").await.expect("unlock");
    // The apply session ends without committing: none of the half-applied
    // transaction is on the service.
    wait_for(
        &tgt,
        &format!("SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {apply_pid})"),
        "the crashed apply session to end",
    )
    .await;
    assert_eq!(
        fingerprint(&tgt, "acc").await,
        before,
        "a crash mid-transaction leaves nothing of it"
    );
    src.batch_execute("DELETE FROM acc WHERE id % 7 = 0; INSERT INTO acc VALUES (300001, 5, NULL)")
        .await
        .expect("more writes");

    let running = start(&spec);
    wait_caught_up(&src, &tgt, &spec.slot).await;
    assert_eq!(
        fingerprint(&src, "acc").await,
        fingerprint(&tgt, "acc").await,
        "exact after crashes"
    );
    let report = strangler_sync::verify(&spec, &strangler_sync::VerifyOptions::default())
        .await
        .expect("verify");
    assert!(report.is_ok(), "{report:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_refuses_with_exact_fixes() {
    let (source, target) = pair().await;
    source
        .run_script(
            "CREATE TABLE keyless (a int, b text);
             CREATE TABLE typed (id int PRIMARY KEY, v int);
             CREATE ROLE plain LOGIN;",
        )
        .await
        .expect("schema");
    target
        .run_script("CREATE TABLE typed (id int PRIMARY KEY, v text)")
        .await
        .expect("target");
    let tables = "[[service.table]]\nname = \"keyless\"\nstage = \"syncing\"\n\
                  [[service.table]]\nname = \"typed\"\nstage = \"syncing\"\n";
    let spec = spec(&plan(&source, &target, tables));
    let err = strangler_sync::check(&spec)
        .await
        .expect_err("keyless table refused");
    let text = err.to_string();
    assert!(
        text.contains("keyless") && text.contains("ADD PRIMARY KEY"),
        "{text}"
    );
    assert!(text.contains("REPLICA IDENTITY"), "{text}");
    // Nothing was published.
    let pubs: i64 = source
        .connect()
        .await
        .expect("c")
        .query_one("SELECT count(*) FROM pg_publication", &[])
        .await
        .expect("q")
        .get(0);
    assert_eq!(pubs, 0);

    let typed_only = "[[service.table]]\nname = \"typed\"\nstage = \"syncing\"\n";
    let mut typed = spec.clone();
    typed.tables.retain(|t| t.name == "typed");
    let err = strangler_sync::check(&typed)
        .await
        .expect_err("type mismatch refused");
    assert!(
        err.to_string().contains("ALTER COLUMN \"v\" TYPE integer"),
        "{err}"
    );
    let _ = typed_only;

    let mut missing = typed.clone();
    missing.target = missing.target.replace("/catalog", "/postgres");
    let err = strangler_sync::check(&missing)
        .await
        .expect_err("missing table refused");
    assert!(err.to_string().contains("strangler sync schema"), "{err}");

    let mut unprivileged = typed.clone();
    unprivileged.source = unprivileged.source.replace("postgres:password@", "plain@");
    target
        .run_script("ALTER TABLE typed ALTER COLUMN v TYPE int USING v::int")
        .await
        .expect("fix");
    let err = strangler_sync::check(&unprivileged)
        .await
        .expect_err("no replication privilege");
    assert!(
        err.to_string()
            .contains("ALTER ROLE \"plain\" WITH REPLICATION"),
        "{err}"
    );

    let replica = ClusterConfig::new()
        .param("wal_level", "replica")
        .start()
        .await
        .expect("start a wal_level=replica cluster");
    replica
        .run_script("CREATE TABLE typed (id int PRIMARY KEY, v int)")
        .await
        .expect("schema");
    let mut low_wal = typed.clone();
    low_wal.source = replica.connection_uri().to_owned();
    let err = strangler_sync::check(&low_wal)
        .await
        .expect_err("wal_level refused");
    assert!(
        err.to_string()
            .contains("ALTER SYSTEM SET wal_level = logical"),
        "{err}"
    );
}
