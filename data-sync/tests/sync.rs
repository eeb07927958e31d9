#![allow(clippy::too_many_lines)] // Scenario tests read top to bottom.

//! End-to-end sync tests on real throwaway clusters: the snapshot handoff
//! under write load, streaming, status and verify, teardown.

mod common;

use std::time::Duration;

use common::{fingerprint, pair, plan, spec, start, wait_caught_up, wait_for};

const SCHEMA: &str = "
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text);
CREATE INDEX accounts_balance ON accounts (balance);
CREATE TABLE lines (order_id int, line int, qty int, PRIMARY KEY (order_id, line));
INSERT INTO accounts SELECT g, 0, 'n' || g FROM generate_series(1, 20000) g;
INSERT INTO lines SELECT g / 10, g % 10, g FROM generate_series(1, 5000) g;
";

/// A pgbench-like writer: each transaction moves money between accounts,
/// inserts and deletes order lines.
async fn write_load(
    client: strangler_testkit::tokio_postgres::Client,
    stop: tokio::sync::watch::Receiver<bool>,
) -> u64 {
    let mut n: u64 = 0;
    while !*stop.borrow() {
        n += 1;
        let a = (n * 7919 % 20000 + 1) as i32;
        let b = (n * 104_729 % 20000 + 1) as i32;
        let sql = format!(
            "BEGIN;
             UPDATE accounts SET balance = balance - 1 WHERE id = {a};
             UPDATE accounts SET balance = balance + 1, note = NULL WHERE id = {b};
             INSERT INTO lines VALUES ({o}, {l}, {n}) ON CONFLICT (order_id, line) DO UPDATE SET qty = lines.qty + 1;
             DELETE FROM lines WHERE order_id = {d} AND line = {l};
             COMMIT;",
            o = 1000 + n / 10,
            l = n % 10,
            d = (n % 400) as i32,
        );
        client.batch_execute(&sql).await.expect("write load");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn snapshot_and_stream_under_write_load_match_exactly() {
    let (source, target) = pair().await;
    source.run_script(SCHEMA).await.expect("source schema");
    let plan = plan(
        &source,
        &target,
        "[[service.table]]\nname = \"accounts\"\nstage = \"syncing\"\n\
         [[service.table]]\nname = \"lines\"\nstage = \"syncing\"\n",
    );
    let spec = spec(&plan);
    let src = source.connect().await.expect("connect source");
    let tgt = target.connect().await.expect("connect target");
    let src_admin = source.connect().await.expect("connect source");

    // The service's tables come from the monolith's DDL.
    let schema = strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema");
    assert!(schema.iter().all(|r| r.created), "{schema:?}");
    assert!(
        schema[0].deferred.iter().any(|d| d.contains("PRIMARY KEY")),
        "the key is built after the copy: {schema:?}"
    );

    // Writes run before, through the snapshot copy and during streaming.
    let (stop_load, load_rx) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(write_load(
        source.connect().await.expect("connect"),
        load_rx,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT bool_and(state IN ('catching_up', 'streaming')) AND count(*) = 2 \
         FROM strangler.table_state",
        "the copy to finish",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _ = stop_load.send(true);
    let transactions = load.await.expect("load task");
    assert!(
        transactions > 10,
        "the load ran ({transactions} transactions)"
    );
    wait_caught_up(&src_admin, &tgt, &spec.slot).await;

    for table in ["accounts", "lines"] {
        assert_eq!(
            fingerprint(&src_admin, table).await,
            fingerprint(&tgt, table).await,
            "{table} differs after the handoff under load"
        );
    }
    // The deferred indexes exist now.
    let indexes: i64 = tgt
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'accounts'",
            &[],
        )
        .await
        .expect("indexes")
        .get(0);
    assert_eq!(indexes, 2, "primary key and accounts_balance were built");

    // Verify agrees, status reports streaming and no lag once idle.
    let report = strangler_sync::verify(&spec, &strangler_sync::VerifyOptions::default())
        .await
        .expect("verify");
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.tables[0].source_rows, 20000);
    wait_for(
        &tgt,
        "SELECT bool_and(state = 'streaming') FROM strangler.table_state",
        "tables to be streaming",
    )
    .await;
    // The metrics say so too: both tables in `streaming`, every other
    // state at 0, and the WAL the slot retains sampled (a streaming sync
    // confirms quickly, so it may be small).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = running.metrics.render();
        let line = |state: &str, n: usize| {
            format!("strangler_sync_tables{{service=\"catalog\",state=\"{state}\"}} {n}")
        };
        let states_ok = [
            ("init", 0),
            ("copying", 0),
            ("catching_up", 0),
            ("streaming", 2),
            ("error", 0),
        ]
        .iter()
        .all(|(state, n)| text.lines().any(|l| l == line(state, *n)));
        let retained = text
            .lines()
            .find_map(|l| l.strip_prefix("strangler_sync_wal_retained_bytes{service=\"catalog\"} "))
            .and_then(|v| v.parse::<u64>().ok());
        if states_ok && retained.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the metrics did not show both tables streaming:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        running
            .metrics
            .tables_in(strangler_sync::TableState::Streaming),
        2
    );
    let status = strangler_sync::status(&spec, 1 << 30)
        .await
        .expect("status");
    assert!(status.slot_active, "{status:?}");
    assert!(
        status
            .tables
            .iter()
            .all(|t| t.state == strangler_sync::TableState::Streaming)
    );
    assert_eq!(status.tables[0].rows_copied, 20000, "{status:?}");

    // The slot is confirmed up to the applied position, idle included.
    let applied: String = tgt
        .query_one("SELECT lsn::text FROM strangler.progress", &[])
        .await
        .expect("progress")
        .get(0);
    wait_for(
        &src_admin,
        &format!(
            "SELECT confirmed_flush_lsn >= '{applied}'::pg_lsn FROM pg_replication_slots \
             WHERE slot_name = 'strangler_catalog'"
        ),
        "the slot to be confirmed",
    )
    .await;

    // A deliberate difference is found and located.
    running.stop().await;
    tgt.batch_execute("UPDATE accounts SET balance = balance + 1000 WHERE id = 777")
        .await
        .expect("tamper");
    let running = start(&spec);
    let report = strangler_sync::verify(
        &spec,
        &strangler_sync::VerifyOptions {
            rechecks: 1,
            ..strangler_sync::VerifyOptions::default()
        },
    )
    .await
    .expect("verify");
    assert!(!report.is_ok());
    let bad = &report.tables[0].mismatches;
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].from.unwrap_or(i64::MAX) <= 777 && bad[0].to.unwrap_or(0) > 777,
        "{bad:?}"
    );
    running.stop().await;

    // Teardown drops slot and publication.
    let down = strangler_sync::teardown(&spec).await.expect("teardown");
    assert!(down.slot_dropped && down.publication_dropped, "{down:?}");
    let left: i64 = src_admin
        .query_one(
            "SELECT (SELECT count(*) FROM pg_replication_slots) + (SELECT count(*) FROM pg_publication)",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monolith_can_be_reached_over_its_unix_socket() {
    let (source, target) = pair().await;
    source
        .run_script(
            "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text);
             INSERT INTO accounts SELECT g, g, 'n' FROM generate_series(1, 1000) g;",
        )
        .await
        .expect("source schema");
    // postgres://user:password@%2Fsocket%2Fdir:port/shop: the host is the
    // socket's directory (the cluster's data directory).
    let tcp = url::Url::parse(source.connection_uri()).expect("url");
    let dir: String =
        url::form_urlencoded::byte_serialize(source.data_dir().to_string_lossy().as_bytes())
            .collect();
    let socket_url = format!(
        "postgres://postgres:{}@{dir}:{}/shop",
        tcp.password().unwrap_or_default(),
        source.port()
    );
    let mut spec = spec(&plan(
        &source,
        &target,
        "[[service.table]]\nname = \"accounts\"\nstage = \"syncing\"\n",
    ));
    spec.source = socket_url;
    let src = source.connect().await.expect("connect source");
    let tgt = target.connect().await.expect("connect target");
    strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema");
    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT bool_and(state = 'streaming') FROM strangler.table_state",
        "streaming",
    )
    .await;
    src.batch_execute("UPDATE accounts SET balance = balance + 1 WHERE id % 2 = 0")
        .await
        .expect("write");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    assert_eq!(
        fingerprint(&src, "accounts").await,
        fingerprint(&tgt, "accounts").await
    );
    let walsender: i64 = src
        .query_one(
            "SELECT count(*) FROM pg_stat_replication WHERE client_addr IS NULL",
            &[],
        )
        .await
        .expect("walsenders")
        .get(0);
    assert_eq!(walsender, 1, "the replication connection uses the socket");
    running.stop().await;
}

/// A monolith table made of user-defined types, a generated column and
/// sequences: an enum inside a domain, a domain over a domain, a composite
/// with domain fields, an identity key and a serial column.
const TYPED: &str = "
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN cheer AS mood CONSTRAINT cheer_not_sad CHECK (VALUE <> 'sad');
CREATE DOMAIN qty AS int NOT NULL DEFAULT 1 CONSTRAINT qty_positive CHECK (VALUE > 0);
CREATE DOMAIN small_qty AS qty CHECK (VALUE < 1000);
CREATE TYPE item AS (sku text, n small_qty, feel cheer);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket serial,
    n qty,
    feel cheer,
    line item,
    total int GENERATED ALWAYS AS (n * 10) STORED
);
CREATE TABLE notes (id serial PRIMARY KEY, feel cheer, body text);
INSERT INTO orders (n, feel, line)
    SELECT g % 5 + 1, 'happy', ROW('sku' || g, g::small_qty, 'ok')::item FROM generate_series(1, 50) g;
INSERT INTO notes (feel, body) SELECT 'ok', 'note ' || g FROM generate_series(1, 20) g;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schema_creates_types_generated_columns_and_sequences() {
    let (source, target) = pair().await;
    source.run_script(TYPED).await.expect("source schema");
    let spec = spec(&plan(
        &source,
        &target,
        "[[service.table]]\nname = \"orders\"\nstage = \"syncing\"\n\
         [[service.table]]\nname = \"notes\"\nstage = \"syncing\"\n",
    ));
    let src = source.connect().await.expect("connect source");
    let tgt = target.connect().await.expect("connect target");

    // Every type once, each after the types it is made of; `notes` uses
    // only types `orders` brought.
    let schema = strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema");
    let types = |created: bool| {
        [
            ("public.qty", "domain"),
            ("public.mood", "enum"),
            ("public.cheer", "domain"),
            ("public.small_qty", "domain"),
            ("public.item", "composite"),
        ]
        .map(|(name, kind)| strangler_sync::TypeReport {
            name: name.to_owned(),
            kind: kind.to_owned(),
            created,
        })
        .to_vec()
    };
    assert!(schema.iter().all(|r| r.created), "{schema:?}");
    assert_eq!(schema[0].types, types(true), "{schema:?}");
    assert!(schema[1].types.is_empty(), "{schema:?}");

    // The service's columns: generated as on the monolith, the key an
    // identity, the serial column a default over a sequence it owns.
    let columns_view = "SELECT attname, attidentity, attgenerated, pg_get_expr(adbin, adrelid) \
         FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum \
         WHERE attrelid = 'orders'::regclass AND attnum > 0 ORDER BY attnum";
    let columns = common::rows(&tgt, columns_view).await;
    assert_eq!(columns, common::rows(&src, columns_view).await);
    assert_eq!(
        columns,
        [
            "(id,a,\"\",)",
            "(ticket,\"\",\"\",\"nextval('orders_ticket_seq'::regclass)\")",
            "(n,\"\",\"\",)",
            "(feel,\"\",\"\",)",
            "(line,\"\",\"\",)",
            "(total,\"\",s,\"((n)::integer * 10)\")",
        ]
    );
    // The lookup cutover's preflight and sequence setting use
    // (`pg_get_serial_sequence`) finds a sequence for every such column.
    let found = common::rows(
        &tgt,
        "SELECT pg_get_serial_sequence('public.orders', 'id'), \
                pg_get_serial_sequence('public.orders', 'ticket'), \
                pg_get_serial_sequence('public.notes', 'id')",
    )
    .await;
    assert_eq!(
        found,
        ["(public.orders_id_seq,public.orders_ticket_seq,public.notes_id_seq)"]
    );

    // Copy, then streaming: inserts (keys from the monolith's identity),
    // updates that change a generated value and a composite, a delete.
    let running = start(&spec);
    wait_for(
        &tgt,
        "SELECT count(*) = 2 AND bool_and(state IN ('catching_up', 'streaming')) \
         FROM strangler.table_state",
        "the copy",
    )
    .await;
    src.batch_execute(
        "INSERT INTO orders (n, feel, line)
             SELECT g, 'ok', ROW('more' || g, (g * 2)::small_qty, 'happy')::item FROM generate_series(1, 30) g;
         UPDATE orders SET n = n + 7 WHERE id % 3 = 0;
         UPDATE orders SET line = ROW('changed', 999, 'ok') WHERE id = 2;
         DELETE FROM orders WHERE id = 5;
         INSERT INTO notes (feel, body) VALUES ('happy', 'streamed');
         UPDATE notes SET body = NULL WHERE id = 3;",
    )
    .await
    .expect("changes to stream");
    wait_caught_up(&src, &tgt, &spec.slot).await;
    for table in ["orders", "notes"] {
        let view = format!("SELECT * FROM {table} ORDER BY id");
        assert_eq!(
            common::rows(&src, &view).await,
            common::rows(&tgt, &view).await,
            "{table}"
        );
    }
    let generated = common::rows(
        &tgt,
        "SELECT count(*), bool_and(total = n * 10), max(id) FROM orders",
    )
    .await;
    assert_eq!(generated, ["(79,t,80)"], "the service computed total");
    running.stop().await;

    // The domains' constraints hold on the service.
    let refused = tgt
        .batch_execute("INSERT INTO notes (feel) VALUES ('sad')")
        .await
        .expect_err("cheer is never sad");
    assert_eq!(
        refused.as_db_error().and_then(|e| e.constraint()),
        Some("cheer_not_sad"),
        "{refused:?}"
    );

    // What cutover does to the service's sequences (at least the
    // monolith's), then inserts on the service that give no key.
    for (table, column) in [("orders", "id"), ("orders", "ticket"), ("notes", "id")] {
        let last: i64 = src
            .query_one(
                &format!(
                    "SELECT last_value FROM {}",
                    src.query_one("SELECT pg_get_serial_sequence($1, $2)", &[&table, &column])
                        .await
                        .expect("monolith's sequence")
                        .get::<_, String>(0)
                ),
                &[],
            )
            .await
            .expect("monolith's last value")
            .get(0);
        tgt.execute(
            "SELECT setval(pg_get_serial_sequence($1, $2), $3)",
            &[&table, &column, &last],
        )
        .await
        .expect("set the service's sequence");
    }
    let order = tgt
        .query_one(
            "INSERT INTO orders (n, feel, line) VALUES (2, 'ok', ROW('svc', 3, 'happy')) \
             RETURNING id, ticket, total",
            &[],
        )
        .await
        .expect("insert an order on the service without its key");
    let note = tgt
        .query_one("INSERT INTO notes (feel) VALUES ('ok') RETURNING id", &[])
        .await
        .expect("insert a note on the service without its key");
    assert_eq!(
        (
            order.get::<_, i64>(0),
            order.get::<_, i32>(1),
            order.get::<_, i32>(2),
            note.get::<_, i32>(0)
        ),
        (81, 81, 20, 22),
        "the service issues the keys after the monolith's"
    );

    // A second run finds the tables and every type already there.
    let again = strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect("schema again");
    assert!(again.iter().all(|r| !r.created), "{again:?}");
    assert_eq!(again[0].types, types(false), "{again:?}");

    // A type the service defines otherwise is an error that names it.
    tgt.batch_execute("ALTER TYPE mood ADD VALUE 'meh'")
        .await
        .expect("change the service's enum");
    let err = strangler_sync::create_schema(&src, &tgt, &spec)
        .await
        .expect_err("the enums differ");
    let message = err.to_string();
    assert!(
        message.contains("public.mood") && message.contains("'meh'"),
        "{message}"
    );
}

/// A slot of strangler's that no stream of the plan uses (a service removed
/// from the plan leaves its slot, which keeps WAL on the monolith) is
/// listed by status, with the command that drops it, and
/// `teardown --slot` drops it and its publication; other tools' slots and
/// the plan's own streams are refused.
#[test]
fn slots_no_stream_of_the_plan_uses_are_listed_and_dropped() {
    use strangler_sync::{Command, Report, Request, execute};
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (source, target) = rt.block_on(pair());
    for sql in [
        "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)",
        "SELECT pg_create_logical_replication_slot('strangler_search', 'pgoutput')",
        "SELECT pg_create_logical_replication_slot('other_tool', 'pgoutput')",
        "CREATE PUBLICATION strangler_search FOR TABLE accounts",
    ] {
        rt.block_on(source.run_script(sql)).expect(sql);
    }
    let syncing = plan(
        &source,
        &target,
        "[[service.table]]\nname = \"accounts\"\nstage = \"syncing\"\n",
    );
    let run = |plan: &strangler_plan::Plan, service: Option<&str>, command: Command| {
        execute(&Request {
            plan: plan.clone(),
            service: service.map(str::to_owned),
            command,
        })
    };
    let orphans_of = |report: Report| match report {
        Report::Status(_, orphans) => orphans,
        _ => panic!("not a status report"),
    };
    // Whichever service status is asked about, the orphan is listed.
    for service in [None, Some("catalog")] {
        let orphans = orphans_of(run(&syncing, service, Command::Status).expect("status"));
        let names: Vec<&str> = orphans.iter().map(|o| o.slot.as_str()).collect();
        assert_eq!(names, ["strangler_search"]);
        assert!(
            orphans[0]
                .warning()
                .contains("drop it with `strangler sync teardown --slot strangler_search`"),
            "{}",
            orphans[0].warning()
        );
    }
    // With nothing syncing at all, status still lists it.
    let idle = plan(
        &source,
        &target,
        "[[service.table]]\nname = \"accounts\"\nstage = \"monolith\"\n",
    );
    match run(&idle, None, Command::Status).expect("status with nothing syncing") {
        Report::Status(services, orphans) => {
            assert!(services.is_empty());
            assert_eq!(orphans.len(), 1);
        }
        _ => panic!("not a status report"),
    }
    // `strangler status` (the overview) warns about it too.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("strangler.toml");
    std::fs::write(
        &path,
        format!(
            "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
             database = \"{}\"\n\n[[service]]\nname = \"catalog\"\nupstream = \"http://127.0.0.1:9001\"\n\
             database = \"{}\"\n[[service.table]]\nname = \"accounts\"\nstage = \"syncing\"\n",
            source.connection_uri(),
            target.connection_uri()
        ),
    )
    .expect("write the plan");
    let overview = strangler_sync::block_on(strangler_sync::overview(&path, Duration::ZERO))
        .expect("overview");
    let names: Vec<&str> = overview
        .orphan_slots
        .iter()
        .map(|o| o.slot.as_str())
        .collect();
    assert_eq!(names, ["strangler_search"]);
    // Refused: another tool's slot, and a stream of the plan.
    let drop = |slot: &str| {
        run(
            &syncing,
            None,
            Command::DropSlot {
                slot: slot.to_owned(),
            },
        )
    };
    let other = drop("other_tool").expect_err("another tool's slot");
    assert!(
        other.to_string().contains("not one of strangler's"),
        "{other}"
    );
    let own = drop("strangler_catalog").expect_err("the plan's own stream");
    assert!(own.to_string().contains("teardown --service"), "{own}");
    // Dropped, with its publication.
    match drop("strangler_search").expect("drop") {
        Report::Teardown(reports) => {
            assert!(reports[0].slot_dropped && reports[0].publication_dropped);
        }
        _ => panic!("not a teardown report"),
    }
    let left: Vec<String> = rt
        .block_on(async {
            let client = source.connect().await.expect("connect");
            client
                .query(
                    "SELECT slot_name::text FROM pg_replication_slots UNION ALL \
                     SELECT pubname::text FROM pg_publication ORDER BY 1",
                    &[],
                )
                .await
        })
        .expect("slots")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(left, ["other_tool"]);
    let gone = drop("strangler_search").expect_err("already dropped");
    assert!(gone.to_string().contains("there is no slot"), "{gone}");
    // Nothing left and nothing syncing: status says why it has nothing.
    let empty = run(&idle, None, Command::Status).expect_err("nothing to report");
    assert!(
        empty.to_string().contains("no table in the plan"),
        "{empty}"
    );
}
