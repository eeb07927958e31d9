//! The Java front end never panics: arbitrary and Java-like text through
//! the tree-sitter pass, arbitrary and XML-like text through the `MyBatis`
//! mapper and JPA `orm.xml` readers, deep nesting through both, and whole
//! projects of fuzzed files (Java with functional routes and named queries,
//! mappers, Hibernate and `orm.xml` mappings, Liquibase XML, YAML (block
//! and flow style), JSON and SQL changelogs) through `analyze`.

use proptest::prelude::*;
use strangler_analyzer::java::{normalise_path, parse_source, read_mapper, read_orm_xml};
use strangler_analyzer::{Config, analyze};

/// Java-ish tokens, so the generator reaches declarations, annotations,
/// calls and broken variants of them rather than only lexical noise.
const JAVA_TOKENS: &[&str] = &[
    "package a.b;",
    "import a.*;",
    "import static a.B.c;",
    "class",
    "interface",
    "enum",
    "record",
    "@interface",
    "A",
    "B",
    "extends",
    "implements",
    "{",
    "}",
    "(",
    ")",
    "<",
    ">",
    ",",
    ";",
    ".",
    "=",
    "+",
    "\"SELECT * FROM t\"",
    "\"/x/{id}\"",
    "@GetMapping",
    "@Path",
    "@Query",
    "@Autowired",
    "@Entity",
    "@Table(name = \"t\")",
    "new",
    "this",
    "super",
    "var",
    "return",
    "void",
    "int",
    "String",
    "x",
    "m",
    "x.m()",
    "::",
    "->",
    "\"\"\"",
    "'",
    "/*",
    "*/",
    "//",
    "\n",
    "static final",
    "{ RequestMethod.GET }",
    "value =",
    "[]",
    "?",
    ":",
    "RouterFunction<ServerResponse>",
    "route(GET(\"/x\"), h::m)",
    "route()",
    ".andRoute(",
    "nest(path(\"/a\"),",
    ".GET(\"/y\", h::m)",
    ".path(\"/v\", () ->",
    "@NamedQuery(name = \"F.q\", query = \"from F\")",
    "@NamedQueries({",
    "em.createNamedQuery(\"F.q\")",
];

const XML_TOKENS: &[&str] = &[
    "<mapper namespace=\"a.M\">",
    "</mapper>",
    "<select id=\"s\">",
    "</select>",
    "<insert id=\"i\">",
    "</insert>",
    "<where>",
    "</where>",
    "<set>",
    "</set>",
    "<if test=\"x\">",
    "</if>",
    "<include refid=\"c\"/>",
    "<sql id=\"c\">",
    "</sql>",
    "<foreach open=\"(\" close=\")\">",
    "</foreach>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<!DOCTYPE mapper>",
    "&lt;",
    "&amp;",
    "&#x41;",
    "&bogus;",
    "SELECT * FROM t",
    "INSERT INTO t VALUES (#{a})",
    "UPDATE t SET a = ${b}",
    " AND ",
    "=",
    "\"",
    "'",
    "<",
    ">",
    "/",
    "\n",
    "<hibernate-mapping package=\"a\">",
    "</hibernate-mapping>",
    "<class name=\"F\" table=\"t\">",
    "</class>",
    "<subclass name=\"G\"/>",
    "<many-to-one name=\"g\" class=\"G\"/>",
    "<set name=\"s\" table=\"j\"><many-to-many class=\"F\"/></set>",
    "<query name=\"F.q\">from F</query>",
    "<databaseChangeLog>",
    "</databaseChangeLog>",
    "<changeSet id=\"1\">",
    "</changeSet>",
    "<createTable tableName=\"t\">",
    "</createTable>",
    "<column name=\"c\"><constraints primaryKey=\"true\" references=\"t(c)\"/></column>",
    "<renameTable oldTableName=\"t\" newTableName=\"u\"/>",
    "<include file=\"db.changelog-master.xml\" relativeToChangelogFile=\"true\"/>",
    "<includeAll path=\"db/changelog/\"/>",
    "<frobnicate/>",
    "<entity-mappings>",
    "</entity-mappings>",
    "<package>a</package>",
    "<entity class=\"F\" name=\"E\">",
    "<entity>",
    "</entity>",
    "<table name=\"t\"/>",
    "<attributes>",
    "</attributes>",
    "<many-to-one name=\"g\" target-entity=\"G\"/>",
    "<one-to-many name=\"fs\"/>",
    "<one-to-one name=\"h\"><join-column name=\"h_id\"/></one-to-one>",
    "<many-to-many name=\"m\"><join-table name=\"j\"/></many-to-many>",
    "<named-query name=\"E.q\">",
    "</named-query>",
    "<named-native-query name=\"n\">",
    "</named-native-query>",
    "<query>",
    "</query>",
];

/// YAML-ish tokens for Liquibase YAML changelogs.
const YAML_TOKENS: &[&str] = &[
    "databaseChangeLog:",
    "- changeSet:",
    "- include:",
    "file: db.changelog-master.yaml",
    "changes:",
    "- createTable:",
    "tableName: t",
    "columns:",
    "- column:",
    "name: c",
    "constraints:",
    "sql: |",
    "'quoted: #'",
    "# comment",
    "-",
    ":",
    "\"",
    "\t",
    "\n",
    "  ",
    "    ",
    "[a, b]",
    "- {createTable: {tableName: t, columns: [{column: {name: c}}]}}",
    "{",
    "}",
    "[",
    "]",
    ",",
    "'it''s'",
];

/// JSON-ish tokens for Liquibase JSON changelogs.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"databaseChangeLog\"",
    "\"changeSet\"",
    "\"changes\"",
    "\"createTable\"",
    "\"tableName\"",
    "\"t\"",
    "\"columns\"",
    "\"column\"",
    "\"name\"",
    "\"include\"",
    "\"file\"",
    "\"db.changelog-master.json\"",
    "\"sql\"",
    "\"CREATE TABLE u (x int)\"",
    "true",
    "null",
    "1",
    "\n",
    "\"\\u00e9\"",
];

fn soup(tokens: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(tokens), 0..120).prop_map(|t| t.join(" "))
}

fn check_java(text: &str) {
    let (types, diagnostics) = parse_source("src/main/java/F.java", text);
    let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
    for d in &diagnostics {
        assert_eq!(d.file, "src/main/java/F.java");
        assert!(
            d.line.is_none_or(|l| l >= 1 && l <= lines),
            "{d:?} in {lines} lines"
        );
    }
    for t in types {
        assert!(!t.is_empty());
    }
}

fn check_mapper(text: &str) {
    let (statements, diagnostics) = read_mapper("m.xml", text);
    let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
    for d in &diagnostics {
        assert!(d.line.is_none_or(|l| l >= 1 && l <= lines), "{d:?}");
    }
    for (method, _) in statements {
        assert!(method.contains('.'));
    }
}

fn check_orm(text: &str) {
    let (classes, diagnostics) = read_orm_xml("orm.xml", text);
    let lines = u32::try_from(text.lines().count()).unwrap_or(u32::MAX) + 1;
    for d in &diagnostics {
        assert_eq!(d.file, "orm.xml");
        assert!(d.line.is_none_or(|l| l >= 1 && l <= lines), "{d:?}");
    }
    for (class, table) in classes {
        assert!(
            !class.is_empty() && !table.is_empty(),
            "{class:?} {table:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_not_a_panic(text in any::<String>()) {
        check_java(&text);
        check_mapper(&text);
        check_orm(&text);
        let _ = normalise_path(&text);
    }

    #[test]
    fn java_like_soup_is_not_a_panic(text in soup(JAVA_TOKENS)) {
        check_java(&text);
    }

    #[test]
    fn xml_like_soup_is_not_a_panic(text in soup(XML_TOKENS)) {
        check_mapper(&text);
        check_orm(&text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn fuzzed_projects_analyze(
        java in soup(JAVA_TOKENS),
        xml in soup(XML_TOKENS),
        yaml in soup(YAML_TOKENS),
        json in soup(JSON_TOKENS),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("src/main");
        std::fs::create_dir_all(main.join("java/a")).unwrap();
        std::fs::create_dir_all(main.join("resources")).unwrap();
        std::fs::write(dir.path().join("pom.xml"), &xml).unwrap();
        std::fs::write(main.join("java/a/F.java"), &java).unwrap();
        std::fs::write(main.join("java/a/G.java"), format!("package a;\n{java}")).unwrap();
        std::fs::write(main.join("resources/M.xml"), &xml).unwrap();
        std::fs::write(main.join("resources/schema.sql"), &java).unwrap();
        std::fs::write(main.join("resources/application.yml"), &java).unwrap();
        // Hibernate mappings and Liquibase changelogs, including each other.
        let changelog = main.join("resources/db/changelog");
        std::fs::create_dir_all(&changelog).unwrap();
        std::fs::write(main.join("resources/F.hbm.xml"), &xml).unwrap();
        std::fs::create_dir_all(main.join("resources/META-INF")).unwrap();
        std::fs::write(
            main.join("resources/META-INF/orm.xml"),
            format!("<entity-mappings>{xml}</entity-mappings>"),
        )
        .unwrap();
        std::fs::write(changelog.join("db.changelog-master.xml"), &xml).unwrap();
        std::fs::write(changelog.join("db.changelog-master.yaml"), &yaml).unwrap();
        std::fs::write(changelog.join("more.yml"), format!("databaseChangeLog:\n{yaml}")).unwrap();
        std::fs::write(changelog.join("db.changelog-master.json"), &json).unwrap();
        std::fs::write(
            changelog.join("more.json"),
            format!("{{\"databaseChangeLog\": [{json}]}}"),
        )
        .unwrap();
        std::fs::write(changelog.join("c.sql"), &java).unwrap();
        let analysis = analyze(dir.path(), &Config::default()).unwrap();
        prop_assert_eq!(analysis.stats.java_files, 2);
    }
}

#[test]
fn deep_nesting_is_cut_off_not_a_stack_overflow() {
    let depth = 20_000;
    let java = format!(
        "class A {{ void m() {{ int x = {}1{}; }} }}",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let (types, diagnostics) = parse_source("A.java", &java);
    assert_eq!(types, ["A"]);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("nested deeper")),
        "{diagnostics:?}"
    );
    let classes = format!("{}{}", "class A { ".repeat(2_000), "}".repeat(2_000));
    let (_, diagnostics) = parse_source("B.java", &classes);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("nested deeper"))
    );
    let xml = format!(
        "<mapper namespace=\"a.M\">{}{}</mapper>",
        "<if>".repeat(depth),
        "</if>".repeat(depth)
    );
    let (_, diagnostics) = read_mapper("m.xml", &xml);
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("nested deeper")),
        "{diagnostics:?}"
    );
    let orm = format!(
        "<entity-mappings><entity class=\"a.F\">{}{}</entity></entity-mappings>",
        "<attributes>".repeat(depth),
        "</attributes>".repeat(depth)
    );
    let (classes, diagnostics) = read_orm_xml("orm.xml", &orm);
    assert!(classes.is_empty());
    assert!(
        diagnostics
            .iter()
            .any(|d| d.message.contains("nested deeper")),
        "{diagnostics:?}"
    );
}
