//! The shapes real repositories have that a layered fixture does not, on a
//! small workspace written here: one repository type implementing a trait
//! for every capability (a data hub reached through `dyn Trait` calls),
//! sea-orm-style entity modules, a login page that owns no table, and a
//! CLI crate shipped from the same repository.

use std::fmt::Write as _;
use std::path::Path;

use strangler_analyzer::cluster::{SuggestConfig, Suggestion, suggest};
use strangler_analyzer::{Config, EdgeKind, analyze};

/// The nine capabilities' tables the repository writes.
const TABLES: [(&str, &str); 9] = [
    ("users", "accounts"),
    ("sessions", "accounts"),
    ("orders", "orders"),
    ("order_items", "orders"),
    ("invoices", "billing"),
    ("payments", "billing"),
    ("products", "catalog"),
    ("prices", "catalog"),
    ("reviews", "catalog"),
];

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// The workspace: `server` (the hub `db`, four capability modules calling
/// it through `&dyn Store`, a `login` page calling `accounts`) and `cli`
/// (three modules, no data, not used by the server).
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "Cargo.toml",
        "[workspace]\nmembers = [\"server\", \"cli\"]\n",
    );
    write(
        root,
        "server/Cargo.toml",
        "[package]\nname = \"server\"\nversion = \"0.1.0\"\n",
    );
    write(
        root,
        "cli/Cargo.toml",
        "[package]\nname = \"cli\"\nversion = \"0.1.0\"\n",
    );
    let mut ddl = String::new();
    let mut trait_fns = String::new();
    let mut impl_fns = String::new();
    for (table, _) in TABLES {
        writeln!(ddl, "CREATE TABLE {table} (id bigint PRIMARY KEY, v text);").unwrap();
        writeln!(trait_fns, "    fn save_{table}(&self, v: &str);").unwrap();
        writeln!(trait_fns, "    fn load_{table}(&self) -> String;").unwrap();
        writeln!(impl_fns,
            "    fn save_{table}(&self, v: &str) {{ sqlx::query(\"INSERT INTO {table} (id, v) VALUES (1, $1)\").bind(v); }}\n    fn load_{table}(&self) -> String {{ sqlx::query(\"SELECT v FROM {table}\"); String::new() }}"
        ).unwrap();
    }
    write(root, "server/migrations/0001_init.sql", &ddl);
    write(
        root,
        "server/src/db.rs",
        &format!(
            "pub trait Store {{\n{trait_fns}}}\npub struct Pg;\nimpl Store for Pg {{\n{impl_fns}}}\n"
        ),
    );
    let mut lib = String::from("pub mod db;\npub mod login;\n");
    let mut areas: Vec<&str> = TABLES.iter().map(|(_, a)| *a).collect();
    areas.dedup();
    for area in &areas {
        writeln!(lib, "pub mod {area};").unwrap();
        let mut body = String::from("use crate::db::Store;\n");
        for (table, owner) in TABLES {
            if owner == *area {
                writeln!(body,
                    "pub fn put_{table}(db: &dyn Store, v: &str) {{ db.save_{table}(v); }}\npub fn get_{table}(db: &dyn Store) -> String {{ db.load_{table}() }}"
                ).unwrap();
            }
        }
        write(root, &format!("server/src/{area}.rs"), &body);
    }
    write(root, "server/src/lib.rs", &lib);
    write(
        root,
        "server/src/login.rs",
        "use crate::db::Store;\npub fn sign_in(db: &dyn Store) -> bool { !crate::accounts::get_users(db).is_empty() && !crate::accounts::get_sessions(db).is_empty() }\n",
    );
    write(
        root,
        "cli/src/main.rs",
        "mod args;\nmod commands;\nmod output;\nfn main() { let a = args::parse(); output::print(&commands::run(&a)); }\n",
    );
    write(
        root,
        "cli/src/args.rs",
        "pub struct Args;\npub fn parse() -> Args { Args }\n",
    );
    write(
        root,
        "cli/src/commands.rs",
        "use crate::args::Args;\npub fn run(a: &Args) -> String { crate::output::format(a) }\n",
    );
    write(
        root,
        "cli/src/output.rs",
        "use crate::args::Args;\npub fn format(_: &Args) -> String { String::new() }\npub fn print(s: &str) { let _ = s; }\n",
    );
    dir
}

fn service_of<'s>(suggestion: &'s Suggestion, member: &str) -> Option<&'s str> {
    suggestion
        .services
        .iter()
        .find(|s| s.members.iter().any(|m| m == member))
        .map(|s| s.name.as_str())
}

fn owner_of<'s>(suggestion: &'s Suggestion, table: &str) -> Option<&'s str> {
    suggestion
        .services
        .iter()
        .find(|s| s.tables.iter().any(|t| t == table))
        .map(|s| s.name.as_str())
}

#[test]
fn calls_through_a_trait_object_reach_the_implementation() {
    let dir = workspace();
    let analysis = analyze(dir.path(), &Config::default()).unwrap();
    let calls = |from: &str, to: &str| {
        analysis
            .edges
            .iter()
            .any(|e| e.kind == EdgeKind::Calls && e.from == from && e.to == to)
    };
    assert!(calls(
        "server::orders::put_orders",
        "server::db::Pg::save_orders"
    ));
    assert!(calls(
        "server::orders::put_orders",
        "server::db::Store::save_orders"
    ));
    // The handler reaches the table through the implementation.
    let reach = analysis.graph().transitive_table_access();
    assert!(
        reach["server::orders::put_orders"]
            .writes
            .contains("table:orders")
    );
}

#[test]
fn a_data_hub_is_shared_and_its_tables_follow_the_capabilities() {
    let dir = workspace();
    let analysis = analyze(dir.path(), &Config::default()).unwrap();
    let suggestion = suggest(&analysis, &SuggestConfig::default()).unwrap();
    let summary: Vec<String> = suggestion
        .services
        .iter()
        .map(|s| format!("{}: {:?} {:?}", s.name, s.members, s.tables))
        .collect();
    // The repository writes all nine tables: it is shared, and none of its
    // functions is listed as a member or as shared.
    assert!(
        suggestion.shared.iter().any(|s| s == "server::db"),
        "{summary:#?}"
    );
    assert!(
        suggestion
            .services
            .iter()
            .flat_map(|s| &s.members)
            .chain(&suggestion.shared)
            .all(|m| !m.starts_with("server::db::")),
        "{summary:#?}"
    );
    // Each capability's module owns its tables.
    for (table, area) in TABLES {
        let module = format!("server::{area}");
        let service = service_of(&suggestion, &module);
        assert!(service.is_some(), "{module} in no service: {summary:#?}");
        assert_eq!(
            owner_of(&suggestion, table),
            service,
            "{table}: {summary:#?}"
        );
    }
    let accounts = service_of(&suggestion, "server::accounts");
    assert_ne!(accounts, service_of(&suggestion, "server::orders"));
    assert_ne!(
        service_of(&suggestion, "server::orders"),
        service_of(&suggestion, "server::billing")
    );
    // The login page owns no table; it goes with the users it checks.
    assert_eq!(
        service_of(&suggestion, "server::login"),
        accounts,
        "{summary:#?}"
    );
}

#[test]
fn a_crate_without_data_is_one_service_of_its_own() {
    let dir = workspace();
    let analysis = analyze(dir.path(), &Config::default()).unwrap();
    let suggestion = suggest(&analysis, &SuggestConfig::default()).unwrap();
    let cli: Vec<Option<&str>> = ["cli", "cli::args", "cli::commands", "cli::output"]
        .iter()
        .map(|m| service_of(&suggestion, m))
        .collect();
    assert!(cli[0].is_some(), "{:#?}", suggestion.services);
    assert!(cli.iter().all(|s| *s == cli[0]), "{cli:?}");
    // ... and none of the server's.
    assert!(
        suggestion
            .services
            .iter()
            .filter(|s| Some(s.name.as_str()) == cli[0])
            .flat_map(|s| &s.members)
            .all(|m| m.starts_with("cli")),
    );
    assert!(suggestion.shared.iter().all(|m| !m.starts_with("cli")));
}
