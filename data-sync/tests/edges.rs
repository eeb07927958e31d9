#![allow(clippy::too_many_lines)] // Scenario tests read top to bottom.

//! Monoliths that are not quite default, on real clusters: unusual output
//! settings, keys PostgreSQL cannot use as replica identity, partitioned
//! tables, extreme keys for `verify`, and a table in `error` across a
//! reconnect.

mod common;

use std::time::Duration;

use common::{pair, plan, rows, spec, start, table_state, wait_caught_up, wait_for};
use strangler_sync::TableState;
use strangler_testkit::tokio_postgres::Client;

/// Pins ISO output in a test's own session, so the test reads values the
/// same way on both sides whatever the databases set.
async fn iso(client: &Client) {
    client
        .batch_execute(
            "SET datestyle = ISO; SET intervalstyle = postgres; SET extra_float_digits = 3",
        )
        .await
        .expect("pin the test session's output settings");
}

const STYLED: &str = "
CREATE TYPE stamp AS (d date, i interval, f float8);
CREATE TABLE plain (id int PRIMARY KEY, d date, i interval, f float8);
CREATE TABLE stamped (id int PRIMARY KEY, s stamp);
";

/// What the monolith holds, and what the service must hold, as ISO text.
const PLAIN_VIEW: &str = "SELECT id, d, i, f FROM plain ORDER BY id";
const STAMPED_VIEW: &str = "SELECT id, s FROM stamped ORDER BY id";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unusual_output_settings_on_either_side_change_no_value() {
    let (source, target) = pair().await;
    source.run_script(STYLED).await.expect("source schema");
    source
        .run_script(
            "ALTER DATABASE shop SET datestyle = 'SQL, DMY';
             ALTER DATABASE shop SET intervalstyle = sql_standard;
             ALTER DATABASE shop SET extra_float_digits = 0;",
        )
        .await
        .expect("monolith settings");
    target
        .run_script(
            "ALTER DATABASE catalog SET datestyle = 'German, MDY';
             ALTER DATABASE catalog SET intervalstyle = iso_8601;
             ALTER DATABASE catalog SET extra_float_digits = -3;",
        )
        .await
        .expect("service settings");
    let src = source.connect().await.expect("connect");
    let tgt = target.connect().await.expect("connect");
    // The databases' settings reach new sessions.
    let style: String = src
        .query_one("SHOW datestyle", &[])
        .await
        .expect("show")
        .get(0);
    assert_eq!(style, "SQL, DMY");
    iso(&src).await;
    iso(&tgt).await;
    // Copied: `plain` in binary, `stamped` in text (a composite column).
    src.batch_execute(
        "INSERT INTO plain VALUES (1, '2024-03-13', '-1 days +02:03:04', 0.30000000000000004),
                                  (2, '1999-12-31', '1 year -2 mons +3 days -04:05:06.5', -1e-300);
         INSERT INTO stamped VALUES (1, ROW('2024-03-13', '-1 days +02:03:04', 0.30000000000000004)),
                                    (2, ROW('1999-12-31', '1 year -2 mons +3 days -04:05:06.5', 1.0000000000000002));",
    )
    .await
    .expect("rows to copy");
    let tables = "[[service.table]]\nname = \"plain\"\nstage = \"syncing\"\n\
                  [[service.table]]\nname = \"stamped\"\nstage = \"syncing\"\n";
    let spec = spec(&plan(&source, &target, tables));
    // The service's tables, and the composite type `stamped` uses, come
    // from `sync schema`.
    let schema = strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema");
    assert_eq!(
        schema[1].types,
        [strangler_sync::TypeReport {
            name: "public.stamp".to_owned(),
            kind: "composite".to_owned(),
            created: true,
        }],
        "{schema:?}"
    );
    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT count(*) = 2 AND bool_and(state IN ('catching_up','streaming')) \
         FROM strangler.table_state",
        "the copy",
    )
    .await;
    // Streamed: inserts and updates, in text through pgoutput.
    src.batch_execute(
        "INSERT INTO plain VALUES (3, '2023-01-25', '-3 days +00:00:01', 0.30000000000000004);
         UPDATE plain SET f = 2.0000000000000004, i = '5 days -00:00:00.25' WHERE id = 2;
         INSERT INTO stamped VALUES (3, ROW('2023-01-25', '-3 days +00:00:01', 0.30000000000000004));
         UPDATE stamped SET s = ROW('2020-02-29', '-1 mons +1 day -01:00:00', 0.1) WHERE id = 2;",
    )
    .await
    .expect("rows to stream");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    for table in ["plain", "stamped"] {
        assert_eq!(
            table_state(&tgt, table).await.as_deref(),
            Some("streaming"),
            "{table}"
        );
    }
    assert_eq!(rows(&src, PLAIN_VIEW).await, rows(&tgt, PLAIN_VIEW).await);
    assert_eq!(
        rows(&src, STAMPED_VIEW).await,
        rows(&tgt, STAMPED_VIEW).await
    );
    // The exact values, not only equal text on both sides.
    assert_eq!(
        rows(
            &tgt,
            "SELECT id, d, i, f FROM plain WHERE id IN (1, 3) ORDER BY id"
        )
        .await,
        [
            "(1,2024-03-13,\"-1 days +02:03:04\",0.30000000000000004)",
            "(3,2023-01-25,\"-3 days +00:00:01\",0.30000000000000004)"
        ]
    );
    assert_eq!(
        rows(&tgt, STAMPED_VIEW).await,
        [
            "(1,\"(2024-03-13,\"\"-1 days +02:03:04\"\",0.30000000000000004)\")",
            "(2,\"(2020-02-29,\"\"-1 mons +1 day -01:00:00\"\",0.1)\")",
            "(3,\"(2023-01-25,\"\"-3 days +00:00:01\"\",0.30000000000000004)\")"
        ]
    );
    let exact: bool = tgt
        .query_one(
            "SELECT f = 0.30000000000000004::float8 AND f <> 0.3::float8 FROM plain WHERE id = 1",
            &[],
        )
        .await
        .expect("float")
        .get(0);
    assert!(exact, "the float kept its last digit");
    // verify hashes row text on both sides: equal under pinned settings.
    let report = strangler_sync::verify(&spec, &strangler_sync::VerifyOptions::default())
        .await
        .expect("verify");
    assert!(report.is_ok(), "{report:?}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preflight_checks_the_identity_postgres_really_uses() {
    let (source, target) = pair().await;
    source
        .run_script(
            "CREATE TABLE deferred (id int PRIMARY KEY DEFERRABLE INITIALLY IMMEDIATE, v int);
             CREATE TABLE nothing (id int PRIMARY KEY, v int);
             ALTER TABLE nothing REPLICA IDENTITY NOTHING;
             CREATE TABLE by_index (id int NOT NULL, v int);
             CREATE UNIQUE INDEX by_index_id ON by_index (id);
             ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_id;
             CREATE TABLE full_key (id int PRIMARY KEY, v int);
             ALTER TABLE full_key REPLICA IDENTITY FULL;
             INSERT INTO deferred VALUES (1, 1), (2, 2);",
        )
        .await
        .expect("source schema");
    target
        .run_script(
            "CREATE TABLE deferred (id int PRIMARY KEY, v int);
             CREATE TABLE nothing (id int PRIMARY KEY, v int);
             CREATE TABLE by_index (id int PRIMARY KEY, v int);
             CREATE TABLE full_key (id int PRIMARY KEY, v int);",
        )
        .await
        .expect("target schema");
    let tables = "[[service.table]]\nname = \"deferred\"\nstage = \"syncing\"\n\
                  [[service.table]]\nname = \"nothing\"\nstage = \"syncing\"\n\
                  [[service.table]]\nname = \"by_index\"\nstage = \"syncing\"\n\
                  [[service.table]]\nname = \"full_key\"\nstage = \"syncing\"\n";
    let spec = spec(&plan(&source, &target, tables));
    let text = strangler_sync::check(&spec)
        .await
        .expect_err("a deferrable key and REPLICA IDENTITY NOTHING are refused")
        .to_string();
    for expected in [
        "table `deferred`'s primary key `deferred_pkey` is DEFERRABLE",
        "ALTER TABLE \"public\".\"deferred\" DROP CONSTRAINT \"deferred_pkey\", ADD PRIMARY KEY (\"id\");",
        "REPLICA IDENTITY USING INDEX <index>;",
        "table `nothing` has REPLICA IDENTITY NOTHING",
        "ALTER TABLE \"public\".\"nothing\" REPLICA IDENTITY DEFAULT;",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("by_index") && !text.contains("full_key"),
        "{text}"
    );
    // `run` refuses too and publishes nothing: the monolith still writes.
    let err = start(&spec)
        .task
        .await
        .expect("the run did not panic")
        .expect_err("run refuses");
    assert!(err.to_string().contains("deferred_pkey"), "{err}");
    let src = source.connect().await.expect("connect");
    let published: i64 = src
        .query_one("SELECT count(*) FROM pg_publication_tables", &[])
        .await
        .expect("publications")
        .get(0);
    assert_eq!(published, 0);
    src.batch_execute("UPDATE deferred SET v = 10 WHERE id = 1; DELETE FROM deferred WHERE id = 2")
        .await
        .expect("the monolith still updates and deletes");
    // An index identity and FULL with a key pass.
    let mut fine = spec.clone();
    fine.tables
        .retain(|t| t.name == "by_index" || t.name == "full_key");
    strangler_sync::check(&fine)
        .await
        .expect("USING INDEX and FULL with a key pass");
}

/// A mismatch's key range as `verify` reports it.
type KeyRange = (Option<i64>, Option<i64>);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_compares_keys_across_the_whole_domain_of_their_type() {
    let (source, target) = pair().await;
    let ddl = "CREATE TABLE k2 (id int2 PRIMARY KEY, v text);
               CREATE TABLE k4 (id int4 PRIMARY KEY, v text);
               CREATE TABLE k8 (id int8 PRIMARY KEY, v text);
               CREATE TABLE kt (id text PRIMARY KEY, v text);";
    source.run_script(ddl).await.expect("source schema");
    target.run_script(ddl).await.expect("target schema");
    source
        .run_script(
            "INSERT INTO k2 VALUES (-32768, 'min'), (0, 'zero'), (32767, 'max');
             INSERT INTO k4 VALUES (-2147483648, 'min'), (0, 'zero'), (2147483647, 'max');
             INSERT INTO k8 VALUES (-9223372036854775808, 'min'), (0, 'zero'),
                                   (9223372036854775807, 'max');
             INSERT INTO kt VALUES ('', 'empty'), ('a', 'a'), (repeat('z', 3000), 'long');",
        )
        .await
        .expect("rows");
    let tables = ["k2", "k4", "k8", "kt"]
        .map(|t| format!("[[service.table]]\nname = \"{t}\"\nstage = \"syncing\"\n"))
        .concat();
    let spec = spec(&plan(&source, &target, &tables));
    let running = start(&spec);
    let src = source.connect().await.expect("connect");
    let tgt = target.connect().await.expect("connect");
    wait_for(
        &tgt,
        "SELECT count(*) = 4 AND bool_and(state IN ('catching_up','streaming')) \
         FROM strangler.table_state",
        "the copy",
    )
    .await;
    src.batch_execute("UPDATE k8 SET v = 'max!' WHERE id = 9223372036854775807")
        .await
        .expect("a streamed change");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    // One range per row: the widest spans a bucket can have.
    let options = strangler_sync::VerifyOptions {
        rows_per_range: 1,
        rechecks: 1,
        ..strangler_sync::VerifyOptions::default()
    };
    let report = strangler_sync::verify(&spec, &options)
        .await
        .expect("verify on extreme keys");
    assert!(report.is_ok(), "{report:?}");
    let ranges: Vec<(String, usize)> = report
        .tables
        .iter()
        .map(|t| (t.table.clone(), t.ranges))
        .collect();
    assert_eq!(
        ranges,
        [
            ("k2".to_owned(), 3),
            ("k4".to_owned(), 3),
            ("k8".to_owned(), 3),
            ("kt".to_owned(), 1)
        ]
    );
    // Planted differences at both ends and outside the monolith's range
    // are found, rechecked with range filters, and reported.
    tgt.batch_execute(
        "DELETE FROM k8 WHERE id = 9223372036854775807;
         UPDATE k2 SET v = 'changed' WHERE id = -32768;
         DELETE FROM k4 WHERE id = 0; INSERT INTO k4 VALUES (1, 'extra');
         UPDATE kt SET v = 'changed' WHERE id = '';",
    )
    .await
    .expect("plant differences");
    let report = strangler_sync::verify(&spec, &options)
        .await
        .expect("verify with differences");
    let found: Vec<(String, Vec<KeyRange>)> = report
        .tables
        .iter()
        .map(|t| {
            (
                t.table.clone(),
                t.mismatches.iter().map(|m| (m.from, m.to)).collect(),
            )
        })
        .collect();
    let third = ((1i128 << 64) + 2) / 3;
    let k8_last = i64::try_from(i128::from(i64::MIN) + 2 * third).expect("fits");
    assert_eq!(
        found,
        [
            ("k2".to_owned(), vec![(Some(-32768), Some(-32768 + 21846))]),
            (
                "k4".to_owned(),
                vec![(
                    Some(i64::from(i32::MIN) + 1_431_655_766),
                    Some(i64::from(i32::MIN) + 2 * 1_431_655_766)
                )]
            ),
            ("k8".to_owned(), vec![(Some(k8_last), Some(i64::MAX))]),
            ("kt".to_owned(), vec![(None, None)]),
        ]
    );
    running.stop().await;
}

/// The service's replication slots on the monolith.
async fn slots(source: &Client) -> Vec<String> {
    rows(
        source,
        "SELECT slot_name FROM pg_replication_slots ORDER BY 1",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partitioned_table_is_refused_and_a_failed_copy_leaves_no_slot() {
    let (source, target) = pair().await;
    source
        .run_script(
            "CREATE TABLE events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
             CREATE TABLE events_2024 PARTITION OF events
                 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
             CREATE TABLE events_2025 PARTITION OF events
                 FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
             INSERT INTO events VALUES (1, '2024-05-01'), (2, '2025-05-01');
             CREATE TABLE limited (id int PRIMARY KEY, v int);
             INSERT INTO limited SELECT g, g FROM generate_series(1, 10) g;",
        )
        .await
        .expect("source schema");
    target
        .run_script(
            "CREATE TABLE events (id int, at date, PRIMARY KEY (id, at));
             CREATE TABLE events_2024 (id int, at date, PRIMARY KEY (id, at));
             CREATE TABLE limited (id int PRIMARY KEY, v int CHECK (v < 5));",
        )
        .await
        .expect("target schema");
    let src = source.connect().await.expect("connect");
    let tgt = target.connect().await.expect("connect");

    // The partitioned parent: refused by `check` and `run` with the fix.
    let parent = spec(&plan(
        &source,
        &target,
        "[[service.table]]\nname = \"events\"\nstage = \"syncing\"\n",
    ));
    let text = strangler_sync::check(&parent)
        .await
        .expect_err("a partitioned table is refused")
        .to_string();
    for expected in [
        "table `events` is partitioned",
        "list its partitions in the plan instead of it (`events_2024`, `events_2025`)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let err = start(&parent)
        .task
        .await
        .expect("no panic")
        .expect_err("run refuses");
    assert!(err.to_string().contains("partitioned"), "{err}");
    assert!(slots(&src).await.is_empty(), "preflight creates no slot");

    // A copy that fails (the service's CHECK refuses a row) ends the run,
    // and the slot it created is dropped: no WAL retained.
    let limited = spec(&plan(
        &source,
        &target,
        "[[service.table]]\nname = \"limited\"\nstage = \"syncing\"\n",
    ));
    let err = start(&limited)
        .task
        .await
        .expect("no panic")
        .expect_err("the copy fails");
    assert!(err.to_string().contains("copying limited"), "{err}");
    assert!(slots(&src).await.is_empty(), "{:?}", slots(&src).await);

    // The fix the refusal gives works: a partition listed as a table syncs,
    // copied and streamed (rows written through the parent).
    let leaf = spec(&plan(
        &source,
        &target,
        "[[service.table]]\nname = \"events_2024\"\nstage = \"syncing\"\n",
    ));
    let running = start(&leaf);
    wait_for(
        &tgt,
        "SELECT count(*) = 1 AND bool_and(state IN ('catching_up','streaming')) \
         FROM strangler.table_state",
        "the copy",
    )
    .await;
    src.batch_execute(
        "INSERT INTO events VALUES (3, '2024-06-01'), (4, '2025-06-01');
         UPDATE events SET id = 10 WHERE id = 1;",
    )
    .await
    .expect("writes through the parent");
    wait_caught_up(&src, &tgt, &leaf.slot).await;
    assert_eq!(
        rows(&tgt, "SELECT * FROM events_2024 ORDER BY id").await,
        ["(3,2024-06-01)", "(10,2024-05-01)"]
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_in_error_does_not_stop_the_others_at_reconnect() {
    let (source, target) = pair().await;
    let ddl = "CREATE TABLE a (id int PRIMARY KEY, v int);
               CREATE TABLE b (id int PRIMARY KEY, v int);";
    source.run_script(ddl).await.expect("source schema");
    target.run_script(ddl).await.expect("target schema");
    source
        .run_script("INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 1);")
        .await
        .expect("rows");
    let tables = "[[service.table]]\nname = \"a\"\nstage = \"syncing\"\n\
                  [[service.table]]\nname = \"b\"\nstage = \"syncing\"\n";
    let spec = spec(&plan(&source, &target, tables));
    let running = start(&spec);
    let src = source.connect().await.expect("connect");
    let tgt = target.connect().await.expect("connect");
    wait_for(
        &tgt,
        "SELECT count(*) = 2 AND bool_and(state IN ('catching_up','streaming')) \
         FROM strangler.table_state",
        "the copy",
    )
    .await;
    // DDL on `a`: its next change puts only `a` in error.
    src.batch_execute("ALTER TABLE a ADD COLUMN extra int; INSERT INTO a VALUES (2, 2, 2)")
        .await
        .expect("DDL");
    wait_for(
        &tgt,
        "SELECT state = 'error' FROM strangler.table_state WHERE table_name = 'a'",
        "a in error",
    )
    .await;
    // The walsender is cut; the sync reconnects, and its preflight (which
    // `a` no longer passes: the service lacks `extra`) leaves `a` out.
    let old: i32 = src
        .query_one(
            "SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1",
            &[&spec.slot],
        )
        .await
        .expect("slot")
        .get(0);
    src.execute("SELECT pg_terminate_backend($1)", &[&old])
        .await
        .expect("terminate the walsender");
    wait_for(
        &src,
        &format!(
            "SELECT active_pid IS NOT NULL AND active_pid <> {old} FROM pg_replication_slots \
             WHERE slot_name = '{}'",
            spec.slot
        ),
        "a new walsender",
    )
    .await;
    src.batch_execute("INSERT INTO a VALUES (3, 3, 3); INSERT INTO b VALUES (2, 2)")
        .await
        .expect("writes after the reconnect");
    wait_for(
        &tgt,
        "SELECT count(*) = 2 FROM b",
        "b's change after the reconnect",
    )
    .await;
    wait_caught_up(&src, &tgt, &spec.slot).await;
    assert!(!running.task.is_finished(), "the sync is still running");
    assert_eq!(table_state(&tgt, "b").await.as_deref(), Some("streaming"));
    assert_eq!(table_state(&tgt, "a").await.as_deref(), Some("error"));
    let reason: String = tgt
        .query_one(
            "SELECT error FROM strangler.table_state WHERE table_name = 'a'",
            &[],
        )
        .await
        .expect("reason")
        .get(0);
    assert!(reason.contains("changed shape"), "{reason}");
    assert_eq!(rows(&tgt, "SELECT * FROM a ORDER BY id").await, ["(1,1)"]);
    // The table-state gauge agrees with the target, across the reconnect.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let counts = || {
        [
            TableState::Streaming,
            TableState::Error,
            TableState::CatchingUp,
        ]
        .map(|s| running.metrics.tables_in(s))
    };
    while counts() != [1, 1, 0] {
        assert!(
            std::time::Instant::now() < deadline,
            "streaming, error, catching_up: {:?}\n{}",
            counts(),
            running.metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await;
}
