//! The `strangler` binary end to end: subcommands, output and exit codes
//! (0 ok, 1 a check failed, 2 error or usage).

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const FIXTURE_PLAN: &str = "fixtures/shop-monolith/strangler.toml";

fn strangler(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .output()
        .expect("run strangler")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_every_tool() {
    let out = strangler(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for command in ["analyze", "plan", "proxy", "sync", "status"] {
        assert!(
            help.contains(&format!("\n  {command} ")),
            "{command} missing from:\n{help}"
        );
    }
}

#[test]
fn the_fixture_plan_checks_clean() {
    let out = strangler(&["plan", "check", FIXTURE_PLAN]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stdout),
        format!("{FIXTURE_PLAN}: valid plan, 4 services, 8 routes, 9 tables\n")
    );
}

#[test]
fn an_invalid_plan_fails_the_check_with_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
         [[service]]\nname = \"a\"\n[[service.route]]\npath = \"/x\"\nstage = \"canary\"\npercent = 120\n\
         [[service]]\nname = \"a\"\nflavour = \"x\"\n",
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let out = strangler(&["plan", "check", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let file = path.display();
    assert!(
        stdout.contains(&format!("{file}:10:11: error: percent 120")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{file}:12:8: error: service `a` is defined twice")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{file}:13:1: error: unknown key `flavour`")),
        "{stdout}"
    );
    assert!(stdout.contains("invalid plan: 4 errors"), "{stdout}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "check never writes");

    let out = strangler(&["plan", "check", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &json[0];
    assert_eq!(first["severity"], "error");
    assert_eq!(first["location"]["line"], 9);
    assert_eq!(first["path"], "service[0].route[0].stage");

    let out = strangler(&["plan", "show", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a valid plan"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_missing_plan_is_an_error() {
    let out = strangler(&["plan", "check", "no/such/plan.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "strangler: error: cannot read plan no/such/plan.toml: No such file or directory (os error 2)\n    \
         help: check the path, or create a plan with `strangler analyze <repo> --out strangler.toml`\n"
    );
}

#[test]
fn an_unreadable_plan_is_an_error() {
    // A directory cannot be read as a file, even by root.
    let out = strangler(&["plan", "show", "fixtures"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("strangler: error: cannot read plan fixtures:"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn show_prints_the_plan_as_text_and_json() {
    let out = strangler(&["plan", "show", FIXTURE_PLAN]);
    assert_eq!(out.status.code(), Some(0));
    let shown = text(&out.stdout);
    assert!(
        shown.contains("routes by stage: 2 monolith, 1 shadow, 2 canary, 3 live"),
        "{shown}"
    );
    assert!(
        shown
            .contains("GET /api/catalog/products/{id}/page  canary 10% sticky by header:x-user-id"),
        "{shown}"
    );

    let out = strangler(&["plan", "show", "--json", FIXTURE_PLAN]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["monolith"]["name"], "shop");
    assert_eq!(json["service"][0]["name"], "catalog");
    assert_eq!(json["service"][0]["route"][1]["percent"], 10);
    assert_eq!(json["service"][0]["table"][0]["stage"], "decommissioned");
    // The JSON reads back strictly into the plan model.
    let plan: strangler_plan::Plan = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan.services.len(), 4);
}

#[test]
fn status_reports_from_the_plan_and_names_a_missing_one() {
    let out = strangler(&["status", "--plan", "/nonexistent/strangler.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("/nonexistent/strangler.toml"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    // A plan without databases or proxies: the shares come from its stages.
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("strangler.toml");
    std::fs::write(
        &plan,
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
         [[service]]\nname = \"catalog\"\nupstream = \"http://127.0.0.1:9001\"\n\
         [[service.route]]\npath = \"/api/products/{id}\"\nstage = \"canary\"\npercent = 25\n\
         [[service.route]]\npath = \"/api/products\"\nmethods = [\"POST\"]\nstage = \"shadow\"\nwrites = [\"products\"]\n\
         [[service.table]]\nname = \"products\"\nstage = \"monolith\"\n",
    )
    .unwrap();
    let out = strangler(&["status", "--plan", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(
        shown.starts_with(
            "monolith: 88% of the traffic (from the plan's stages; no proxy answered), 1 of 1 table(s) still its own"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("strangler cutover --service catalog --table products"),
        "{shown}"
    );
    let out = strangler(&["status", "--plan", plan.to_str().unwrap(), "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["traffic_from"], "plan");
    assert_eq!(json["services"][0]["routes"][0]["service_share"], 0.25);
}

#[test]
fn bad_usage_exits_2() {
    let out = strangler(&["plan", "check"]);
    assert_eq!(out.status.code(), Some(2));
    let out = strangler(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // A plan big enough that its JSON overflows the pipe buffer.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.toml");
    let mut plan = String::from(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n",
    );
    for i in 0..3000 {
        writeln!(
            plan,
            "[[service]]\nname = \"s{i}\"\nmembers = [\"shop::module_number_{i}\"]"
        )
        .unwrap();
    }
    std::fs::write(&path, plan).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_strangler"))
        .args(["plan", "show", "--json"])
        .arg(Path::new(&path))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn analyze_prints_a_summary_and_the_graph() {
    let out = strangler(&["analyze", "fixtures/shop-monolith"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.starts_with("analyzed 42 Rust files"), "{summary}");
    assert!(
        summary.contains("tables shared by several modules:"),
        "{summary}"
    );

    let out = strangler(&["analyze", "fixtures/shop-monolith", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["nodes", "edges", "diagnostics", "stats"] {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    let route = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "route")
        .unwrap();
    for key in [
        "id", "kind", "name", "file", "line", "methods", "path", "handler",
    ] {
        assert!(route.get(key).is_some(), "route node lacks {key}: {route}");
    }
    let edge = &json["edges"][0];
    for key in ["from", "to", "kind", "weight"] {
        assert!(edge.get(key).is_some(), "edge lacks {key}");
    }

    for format in ["dot", "mermaid"] {
        let out = strangler(&["analyze", "fixtures/shop-monolith", "--format", format]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            text(&out.stdout).contains("shop::orders::checkout"),
            "{format}"
        );
    }
}

#[test]
fn analyze_rejects_a_missing_path_or_one_without_rust() {
    let out = strangler(&["analyze", "no/such/repo"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("is not a directory"),
        "{}",
        text(&out.stderr)
    );
    let out = strangler(&["analyze", "plan/tests"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no Rust crate found"),
        "{}",
        text(&out.stderr)
    );
}

fn temp_plan_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn analyze_writes_a_plan_and_keeps_pins_and_moves_on_rerun() {
    let dir = temp_plan_dir();
    let plan = dir.path().join("strangler.toml");
    let plan_arg = plan.to_str().unwrap();
    let out = strangler(&["analyze", "fixtures/shop-monolith", "--out", plan_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let check = strangler(&["plan", "check", plan_arg]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let written = std::fs::read_to_string(&plan).unwrap();
    assert!(written.contains("name = \"catalog\""), "{written}");
    assert!(written.contains("stage = \"monolith\""));

    // The user pins a member, moves another by hand, and comments.
    // (The member is removed from catalog's own list: the name also
    // appears in tables' `readers`.)
    let edited = written
        .replacen(
            "name = \"catalog\"\nmembers = [\n    \"shop::catalog\",\n    \"shop::catalog::categories\",\n",
            "name = \"catalog\"\nmembers = [\n    \"shop::catalog\",\n",
            1,
        )
        .replacen(
            "name = \"catalog\"\n",
            "name = \"catalog\"  # agreed in review\npinned = [\"shop::catalog::pricing\"]\n",
            1,
        )
        .replacen(
            "name = \"inventory\"\nmembers = [\n",
            "name = \"inventory\"\nmembers = [\n    \"shop::catalog::categories\",\n",
            1,
        );
    assert_ne!(edited, written, "the edit applies");
    std::fs::write(&plan, &edited).unwrap();
    assert_eq!(
        strangler(&["plan", "check", plan_arg]).status.code(),
        Some(0)
    );

    let out = strangler(&["analyze", "fixtures/shop-monolith", "--out", plan_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rerun = std::fs::read_to_string(&plan).unwrap();
    assert!(
        rerun.contains(
            "name = \"catalog\"  # agreed in review\npinned = [\"shop::catalog::pricing\"]"
        ),
        "{rerun}"
    );
    let inventory = rerun
        .split("name = \"inventory\"")
        .nth(1)
        .unwrap()
        .split("[[service]]")
        .next()
        .unwrap();
    assert!(
        inventory.contains("shop::catalog::categories"),
        "the hand move is kept:\n{inventory}"
    );

    // A third run changes nothing: the output is stable.
    let out = strangler(&["analyze", "fixtures/shop-monolith", "--out", plan_arg]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), rerun);
}

#[test]
fn analyze_refuses_to_overwrite_an_invalid_plan() {
    let dir = temp_plan_dir();
    let plan = dir.path().join("strangler.toml");
    let bad = "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"nope\"\n";
    std::fs::write(&plan, bad).unwrap();
    let out = strangler(&[
        "analyze",
        "fixtures/shop-monolith",
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a valid plan, so it was not updated"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        text(&out.stderr).contains(":4:12: error: upstream `nope`"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), bad);
}

#[test]
fn analyze_warns_about_a_pinned_member_that_is_gone() {
    let dir = temp_plan_dir();
    let plan = dir.path().join("strangler.toml");
    std::fs::write(
        &plan,
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n\
         [[service]]\nname = \"legacy\"\nmembers = [\"shop::gone\"]\npinned = [\"shop::gone\"]\n",
    )
    .unwrap();
    let out = strangler(&[
        "analyze",
        "fixtures/shop-monolith",
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "pinned member `shop::gone` of service `legacy` no longer exists in the code"
        ),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn analyze_rejects_bad_service_counts() {
    let out = strangler(&["analyze", "fixtures/shop-monolith", "--services", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--services must be at least 1"),
        "{}",
        text(&out.stderr)
    );
    let out = strangler(&["analyze", "fixtures/shop-monolith", "--services", "500"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("asks for more services than there are units"),
        "{}",
        text(&out.stderr)
    );
    let out = strangler(&[
        "analyze",
        "fixtures/shop-monolith",
        "--services",
        "5",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["services"].as_array().unwrap().len(), 5);
}

#[test]
fn analyze_with_an_empty_graph_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"broken\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "fn (").unwrap();
    let out = strangler(&["analyze", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no code units to group into services"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn analyze_json_names_services_and_metrics_and_is_byte_identical() {
    let args = [
        "analyze",
        "fixtures/shop-monolith",
        "--format",
        "json",
        "--truth",
        "fixtures/shop-monolith/ground-truth.toml",
    ];
    let a = strangler(&args);
    let b = strangler(&args);
    assert_eq!(a.status.code(), Some(0));
    assert_eq!(a.stdout, b.stdout, "output differs between runs");
    let json: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let service = &json["services"][0];
    for key in ["name", "members", "tables", "routes", "metrics"] {
        assert!(service.get(key).is_some(), "service lacks {key}");
    }
    for key in [
        "modularity",
        "sm",
        "icp",
        "ifn",
        "ned",
        "cross_service_calls",
        "shared_tables",
    ] {
        assert!(json["metrics"].get(key).is_some(), "metrics lack {key}");
    }
    assert!(
        json["mojofm"].as_f64().unwrap() >= 85.0,
        "{}",
        json["mojofm"]
    );
    assert!(json["ari"].as_f64().unwrap() >= 0.8, "{}", json["ari"]);
}

#[test]
fn analyze_sweep_and_pictures() {
    let out = strangler(&["analyze", "fixtures/shop-monolith", "--sweep"]);
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    assert!(
        table.starts_with("resolution  services  modularity"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 9, "{table}");
    for format in ["dot", "mermaid"] {
        let out = strangler(&[
            "analyze",
            "fixtures/shop-monolith",
            "--format",
            format,
            "--level",
            "service",
        ]);
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("catalog"), "{format}");
    }
    let out = strangler(&["analyze", "fixtures/shop-monolith", "--format", "html"]);
    assert_eq!(out.status.code(), Some(0));
    let html = text(&out.stdout);
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("<svg id=\"service-graph\""));
    assert!(
        !html.contains("http://") || !html.contains("<script src="),
        "the report needs no network"
    );
}

/// `sync teardown` takes a service or a slot left behind, not both; the
/// usage error says so before any database is touched.
#[test]
fn teardown_takes_a_service_or_a_slot() {
    let out = strangler(&[
        "sync",
        "teardown",
        "--plan",
        FIXTURE_PLAN,
        "--service",
        "catalog",
        "--slot",
        "strangler_search",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
}
