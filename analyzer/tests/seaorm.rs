//! sea-orm entities on a small blog crate (`tests/corpus/seaorm`): the
//! tables its entities declare, and which functions read and write them
//! through `Entity`, `ActiveModel` and `Column`, also through re-exports.

use std::collections::BTreeSet;
use std::path::Path;

use strangler_analyzer::{Config, Detail, EdgeKind, NodeKind, analyze};

fn check(kind: EdgeKind, expected: &[(&str, &str)]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/seaorm");
    let analysis = analyze(&dir, &Config::default()).expect("analyze");
    let found: BTreeSet<(String, String)> = analysis
        .edges
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| (e.from.clone(), e.to.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> = expected
        .iter()
        .map(|(f, t)| ((*f).to_owned(), format!("table:{t}")))
        .collect();
    assert_eq!(found, expected, "{kind:?}");
}

#[test]
fn entities_declare_their_tables() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/seaorm");
    let analysis = analyze(&dir, &Config::default()).expect("analyze");
    let tables: Vec<(String, Vec<String>, Vec<String>)> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| match &n.detail {
            Detail::Table {
                columns,
                primary_key,
                ..
            } => (n.name.clone(), columns.clone(), primary_key.clone()),
            _ => panic!("{n:?}"),
        })
        .collect();
    assert_eq!(
        tables,
        [
            (
                "content.posts".to_owned(),
                vec!["id".to_owned(), "author_id".to_owned(), "title".to_owned()],
                vec!["id".to_owned()]
            ),
            (
                "users".to_owned(),
                vec!["id".to_owned(), "email_address".to_owned()],
                vec!["id".to_owned()]
            ),
        ]
    );
}

#[test]
fn entity_uses_read_and_write_their_tables() {
    check(
        EdgeKind::Reads,
        &[
            ("blog::entity::user::Entity::by_email", "users"),
            ("blog::posts::by_author", "content.posts"),
            ("blog::posts::by_author", "users"),
            ("blog::posts::title_column", "content.posts"),
            ("blog::users::count_with_email", "users"),
        ],
    );
    check(
        EdgeKind::Writes,
        &[
            ("blog::posts::purge", "content.posts"),
            ("blog::users::register", "users"),
            ("blog::users::remove", "users"),
        ],
    );
}

#[test]
fn relations_are_foreign_keys() {
    // `post`'s `Relation::User` belongs to `super::user::Entity`; `user`'s
    // `has_many` is the other side of it and adds nothing.
    check(EdgeKind::References, &[("table:content.posts", "users")]);
}
