//! Saving: comments and layout survive, writes are atomic, and nothing is
//! written for an invalid plan, a forbidden stage move or a file that
//! changed underneath.

use std::fs;
use std::path::Path;

use strangler_plan::{
    Method, PlanError, PlanFile, RouteStage, RouteTemplate, Service, Table, TableStage,
};

const COMMENTED: &str = r#"# The shop's migration plan.
version = 1

[monolith]
name = "shop"
upstream = "http://127.0.0.1:8080"   # the old app
database = "postgres://postgres@127.0.0.1:5432/shop"

# Catalog goes first: it is read-mostly.
[[service]]
name = "catalog"
upstream = "http://127.0.0.1:9001"
database = "postgres://postgres@127.0.0.1:5432/catalog"
members = ["shop::catalog", "shop::catalog::pricing"]
pinned  = ["shop::catalog::pricing"]   # pricing stays with catalog, decided 2026-10

  [[service.route]]
  path = "/api/products/{id}"
  methods = ["GET", "HEAD"]
  stage = "canary"     # watch the error rate
  percent = 10
  sticky = "header:x-user-id"

  [[service.table]]
  name = "products"
  stage = "syncing"

  [[service.table]]
  name = "legacy_banners"   # nobody reads these
  stage = "monolith"

[[service]]
name = "reviews"
members = ["shop::reviews"]
"#;

fn write(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("strangler.toml");
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn edits_keep_comments_and_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), COMMENTED);
    let mut file = PlanFile::open(&path).unwrap();
    assert!(file.is_valid(), "{}", file.render_diagnostics());
    let mut plan = file.plan().clone();
    let catalog = plan.service_mut("catalog").unwrap();
    catalog.routes[0].percent = Some(50);
    catalog.tables.retain(|t| t.name != "legacy_banners");
    catalog.tables[0].stage = TableStage::Cutover;
    let reviews = plan.service_mut("reviews").unwrap();
    reviews.name = "feedback".to_owned();
    plan.services.push(Service {
        name: "payments".to_owned(),
        members: vec!["shop::payments".to_owned()],
        tables: vec![Table {
            name: "payments".to_owned(),
            stage: TableStage::Monolith,
            rename: [("amount".to_owned(), "amount_cents".to_owned())].into(),
            exclude: vec!["legacy_flag".to_owned()],
            readers: vec!["shop::reports".to_owned()],
            writers: vec!["payments".to_owned(), "feedback".to_owned()],
        }],
        ..Service::default()
    });
    file.save(&plan).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let expect = r#"# The shop's migration plan.
version = 1

[monolith]
name = "shop"
upstream = "http://127.0.0.1:8080"   # the old app
database = "postgres://postgres@127.0.0.1:5432/shop"

# Catalog goes first: it is read-mostly.
[[service]]
name = "catalog"
upstream = "http://127.0.0.1:9001"
database = "postgres://postgres@127.0.0.1:5432/catalog"
members = ["shop::catalog", "shop::catalog::pricing"]
pinned  = ["shop::catalog::pricing"]   # pricing stays with catalog, decided 2026-10

  [[service.route]]
  path = "/api/products/{id}"
  methods = ["GET", "HEAD"]
  stage = "canary"     # watch the error rate
  percent = 50
  sticky = "header:x-user-id"

  [[service.table]]
  name = "products"
  stage = "cutover"

[[service]]
name = "feedback"
members = ["shop::reviews"]

[[service]]
name = "payments"
members = ["shop::payments"]

[[service.table]]
name = "payments"
stage = "monolith"
rename = { amount = "amount_cents" }
exclude = ["legacy_flag"]
readers = ["shop::reports"]
writers = ["payments", "feedback"]
"#;
    assert_eq!(text, expect);
    // Saved plans read back to exactly what was saved.
    let reread = PlanFile::open(&path).unwrap();
    assert_eq!(reread.plan(), &plan);
    // No temporary file is left behind.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["strangler.toml"]);
}

#[test]
fn invalid_plan_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), COMMENTED);
    let mut file = PlanFile::open(&path).unwrap();
    let mut plan = file.plan().clone();
    plan.services[1].name = "catalog".to_owned();
    let err = file.save(&plan).unwrap_err();
    assert!(matches!(err, PlanError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("service `catalog` is defined twice"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), COMMENTED);
}

#[test]
fn an_invalid_file_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let broken = COMMENTED.replace("stage = \"syncing\"", "stage = \"synching\"");
    let path = write(dir.path(), &broken);
    let mut file = PlanFile::open(&path).unwrap();
    assert!(!file.is_valid());
    let plan = file.plan().clone();
    let err = file.save(&plan).unwrap_err();
    assert!(
        err.to_string()
            .contains("strangler.toml:26:11: error: unknown table stage `synching`"),
        "{err}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), broken);
}

#[test]
fn forbidden_stage_moves_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), COMMENTED);
    let mut file = PlanFile::open(&path).unwrap();
    let mut plan = file.plan().clone();
    plan.services[0].tables[1].stage = TableStage::Decommissioned;
    let err = file.save(&plan).unwrap_err();
    assert_eq!(
        err.to_string(),
        "table legacy_banners: cannot move table from `monolith` to `decommissioned`; from `monolith` it can go to `syncing`"
    );
    let mut plan = file.plan().clone();
    plan.services[0].routes[0].stage = RouteStage::Live;
    plan.services[0].routes[0].percent = None;
    file.save(&plan).unwrap();
    let mut plan = file.plan().clone();
    plan.services[0].routes[0].stage = RouteStage::Monolith;
    file.save(&plan)
        .expect("rolling back to the monolith is always allowed");
}

#[test]
fn a_file_changed_on_disk_is_not_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), COMMENTED);
    let mut file = PlanFile::open(&path).unwrap();
    let edited = COMMENTED.replace("percent = 10", "percent = 20");
    fs::write(&path, &edited).unwrap();
    let mut plan = file.plan().clone();
    plan.services[0].routes[0].percent = Some(30);
    let err = file.save(&plan).unwrap_err();
    assert!(matches!(err, PlanError::ChangedOnDisk { .. }), "{err}");
    assert_eq!(fs::read_to_string(&path).unwrap(), edited);
}

#[test]
fn a_new_plan_is_created_with_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.toml");
    let mut file = PlanFile::new(&path);
    let mut plan = strangler_plan::Plan::new(strangler_plan::Monolith {
        name: "shop".to_owned(),
        upstream: "http://127.0.0.1:8080".to_owned(),
        database: None,
    });
    plan.services.push(Service {
        name: "catalog".to_owned(),
        members: (0..6)
            .map(|i| format!("shop::catalog::module_{i}"))
            .collect(),
        routes: vec![strangler_plan::Route {
            path: RouteTemplate::parse("/api/products/{id}").unwrap(),
            methods: Some(vec![Method::Get]),
            stage: RouteStage::Monolith,
            percent: None,
            sticky: None,
            host: None,
            headers: std::collections::BTreeMap::new(),
            writes: Vec::new(),
            gateway: strangler_plan::Gateway::default(),
        }],
        ..Service::default()
    });
    file.save(&plan).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# strangler migration plan"), "{text}");
    assert!(
        text.contains("members = [\n    \"shop::catalog::module_0\",\n"),
        "long lists go one per line:\n{text}"
    );
    assert_eq!(PlanFile::open(&path).unwrap().plan(), &plan);
    // Someone else created the file meanwhile: a second `new` must not clobber it.
    let err = PlanFile::new(&path).save(&plan).unwrap_err();
    assert!(matches!(err, PlanError::ChangedOnDisk { .. }), "{err}");
}

#[cfg(unix)]
#[test]
fn saving_keeps_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), COMMENTED);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
    let mut file = PlanFile::open(&path).unwrap();
    let mut plan = file.plan().clone();
    plan.services[0].routes[0].percent = Some(11);
    file.save(&plan).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[test]
fn missing_file_is_a_read_error() {
    let err = PlanFile::open("/nonexistent/strangler.toml").unwrap_err();
    assert!(matches!(err, PlanError::Read { .. }));
    assert_eq!(
        err.to_string(),
        "cannot read plan /nonexistent/strangler.toml: No such file or directory (os error 2)"
    );
}

/// A key the save adds to an indented entry is indented like its siblings.
#[test]
fn an_added_key_is_indented_like_its_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), COMMENTED);
    let mut file = PlanFile::open(&path).unwrap();
    let mut plan = file.plan().clone();
    let route = &mut plan.services[0].routes[0];
    route.stage = RouteStage::Live;
    route.percent = None;
    route.sticky = None;
    file.save(&plan).unwrap();
    let mut file = PlanFile::open(&path).unwrap();
    let mut plan = file.plan().clone();
    let route = &mut plan.services[0].routes[0];
    route.host = Some("beta.example.com".to_owned());
    file.save(&plan).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\n  host = \"beta.example.com\"\n"),
        "the new key is not indented like `  stage`:\n{text}"
    );
}
