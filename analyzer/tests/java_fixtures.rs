//! The Java front end on its fixtures: the PetClinic-shaped Spring Boot app
//! and the JPetStore-shaped MyBatis/JDBC app (routes, tables, reads and
//! writes, edges, and the suggestion scored against the hand-labelled
//! references), plus small inline projects for layouts, frameworks and bad
//! input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use strangler_analyzer::cluster::{Granularity, SuggestConfig, read_truth, score, suggest};
use strangler_analyzer::{Analysis, Config, EdgeKind, Format, NodeKind, analyze, render};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(name)
}

fn run(root: &Path) -> Analysis {
    analyze(root, &Config::default()).unwrap()
}

/// Routes as `METHODS path`, parameter names replaced by `{}` (the corpus
/// scoring ignores them too).
fn routes(analysis: &Analysis) -> BTreeSet<String> {
    analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Route)
        .map(|n| {
            let mut out = String::new();
            let mut skip = false;
            for c in n.name.chars() {
                match c {
                    '{' => {
                        skip = true;
                        out.push('{');
                    }
                    '}' => {
                        skip = false;
                        out.push('}');
                    }
                    '*' if skip => out.push('*'),
                    _ if skip => {}
                    _ => out.push(c),
                }
            }
            out
        })
        .collect()
}

fn edges(analysis: &Analysis, kind: EdgeKind) -> Vec<String> {
    analysis
        .edges
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| format!("{} -> {}", e.from, e.to))
        .collect()
}

fn has_edge(analysis: &Analysis, from: &str, to: &str, kind: EdgeKind) -> bool {
    analysis
        .edges
        .iter()
        .any(|e| e.from == from && e.to == to && e.kind == kind)
}

/// The expected routes listed in a fixture's README, normalised as
/// [`routes`] does.
fn readme_routes(name: &str) -> BTreeSet<String> {
    let readme = std::fs::read_to_string(fixture(name).join("README.md")).unwrap();
    let block = readme
        .split("## Expected routes")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .unwrap();
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let (m, p) = (parts.next().unwrap(), parts.next().unwrap());
            let p: String = p
                .split('/')
                .map(|s| {
                    if s.starts_with("{*") {
                        "{*}".to_owned()
                    } else if s.starts_with('{') {
                        "{}".to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            format!("{m} {p}")
        })
        .collect()
}

fn scored(analysis: &Analysis, name: &str, granularity: Granularity) -> (f64, f64) {
    let truth =
        read_truth(&std::fs::read_to_string(fixture(name).join("ground-truth.toml")).unwrap())
            .unwrap();
    let config = SuggestConfig {
        granularity,
        ..SuggestConfig::default()
    };
    let mut suggestion = suggest(analysis, &config).unwrap();
    score(analysis, &mut suggestion, &truth);
    let comparison = suggestion.comparison.as_ref().unwrap();
    assert_eq!(
        (comparison.scored, comparison.missing.len()),
        (truth.len(), 0),
        "{comparison:?}"
    );
    (suggestion.mojofm.unwrap(), suggestion.ari.unwrap())
}

#[test]
fn petclinic_routes_are_the_expected_ones() {
    let analysis = run(&fixture("java-petclinic"));
    let expected = readme_routes("java-petclinic");
    assert_eq!(expected.len(), 18);
    assert_eq!(routes(&analysis), expected);
    // Every route has its handler, and the context path is applied.
    let handles = edges(&analysis, EdgeKind::Handles);
    assert_eq!(handles.len(), 18);
    assert!(handles.contains(
        &"route:GET /petclinic/owners/{ownerId} -> org.springframework.samples.petclinic.owner.OwnerController.showOwner".to_owned()
    ));
    // `method = { RequestMethod.POST }` with a `path` array.
    assert!(handles.contains(
        &"route:POST /petclinic/owners/{ownerId}/pets/{petId}/visits/new -> org.springframework.samples.petclinic.visit.VisitController.processNewVisitForm".to_owned()
    ));
}

#[test]
fn petclinic_tables_reads_and_writes() {
    let analysis = run(&fixture("java-petclinic"));
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(
        tables,
        [
            "owners",
            "pets",
            "specialties",
            "types",
            "vet_specialties",
            "vets",
            "visits"
        ]
    );
    // V10 applies after V2 (Flyway versions, not names): visits has both columns.
    let visits = analysis
        .nodes
        .iter()
        .find(|n| n.id == "table:visits")
        .unwrap();
    let columns = match &visits.detail {
        strangler_analyzer::Detail::Table { columns, .. } => columns.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(columns[columns.len() - 2..], ["vet_id", "status"]);
    let p = "org.springframework.samples.petclinic";
    let mut access: Vec<String> = edges(&analysis, EdgeKind::Reads)
        .into_iter()
        .map(|e| format!("reads {e}"))
        .chain(
            edges(&analysis, EdgeKind::Writes)
                .into_iter()
                .map(|e| format!("writes {e}")),
        )
        .map(|e| e.replace(p, ""))
        .collect();
    access.sort();
    // Repository methods, and their callers, which run their statements
    // (a repository interface has no body).
    assert_eq!(
        access,
        [
            "reads .owner.OwnerRepository.findById -> table:owners",
            "reads .owner.OwnerRepository.findByLastName -> table:owners",
            "reads .owner.OwnerRepository.findByTelephone -> table:owners",
            "reads .owner.OwnerServiceImpl.findByLastName -> table:owners",
            "reads .owner.OwnerServiceImpl.findOwner -> table:owners",
            "reads .pet.PetRepository.findById -> table:pets",
            "reads .pet.PetRepository.findPetTypes -> table:types",
            "reads .pet.PetService.findPet -> table:pets",
            "reads .pet.PetService.findPetTypes -> table:types",
            "reads .vet.VetController.showResourcesVetList -> table:vets",
            "reads .vet.VetController.showVetList -> table:vets",
            "reads .vet.VetReport.specialtiesOf -> table:vet_specialties",
            "reads .vet.VetReport.visitsPerVet -> table:vets",
            "reads .vet.VetReport.visitsPerVet -> table:visits",
            "reads .vet.VetRepository.countByLastName -> table:vets",
            "reads .vet.VetRepository.findAll -> table:vets",
            "reads .visit.VisitRepository.findByPetId -> table:visits",
            "reads .visit.VisitService.findByPetId -> table:visits",
            "writes .owner.OwnerRepository.save -> table:owners",
            "writes .owner.OwnerServiceImpl.saveOwner -> table:owners",
            "writes .pet.PetRepository.save -> table:pets",
            "writes .pet.PetService.savePet -> table:pets",
            "writes .visit.VisitRepository.save -> table:visits",
            "writes .visit.VisitService.saveVisit -> table:visits",
        ]
    );
    // Each entity class maps its table, from the class's own node.
    let maps: Vec<String> = edges(&analysis, EdgeKind::Maps)
        .into_iter()
        .map(|e| e.replace(p, ""))
        .collect();
    assert_eq!(
        maps,
        [
            ".owner.Owner -> table:owners",
            ".pet.Pet -> table:pets",
            ".pet.PetType -> table:types",
            ".vet.Specialty -> table:specialties",
            ".vet.Vet -> table:vets",
            ".visit.Visit -> table:visits",
        ]
    );
}

#[test]
fn petclinic_edges_follow_injection_fields_and_inheritance() {
    let analysis = run(&fixture("java-petclinic"));
    let p = "org.springframework.samples.petclinic";
    let id = |s: &str| format!("{p}.{s}");
    for (from, to, kind) in [
        // Constructor injection of an interface: its one implementation too.
        (
            "pet.PetController.findOwner",
            "owner.OwnerService.findOwner",
            EdgeKind::Calls,
        ),
        (
            "pet.PetController.findOwner",
            "owner.OwnerServiceImpl.findOwner",
            EdgeKind::Calls,
        ),
        // `this.owners.findById(..)` on an inherited repository method.
        (
            "owner.OwnerServiceImpl.findOwner",
            "owner.OwnerRepository.findById",
            EdgeKind::Calls,
        ),
        // `@Autowired` field.
        (
            "pet.PetService.findPet",
            "pet.PetRepository.findById",
            EdgeKind::Calls,
        ),
        // A loop variable's type, across packages.
        (
            "owner.OwnerController.showOwner",
            "visit.VisitService.findByPetId",
            EdgeKind::Calls,
        ),
        (
            "owner.OwnerController.showOwner",
            "pet.Pet.setVisitsInternal",
            EdgeKind::Calls,
        ),
        // An inherited method through a parameter (`pet.isNew()` is BaseEntity's).
        (
            "owner.Owner.addPet",
            "model.BaseEntity.isNew",
            EdgeKind::Calls,
        ),
        // Constants resolve; `new Visit()` calls its constructor.
        (
            "visit.VisitController.loadPetWithVisit",
            "visit.Visit.new",
            EdgeKind::Calls,
        ),
        (
            "owner.OwnerServiceImpl",
            "owner.OwnerService",
            EdgeKind::Implements,
        ),
        ("pet.Pet", "model.NamedEntity", EdgeKind::Implements),
        ("owner.Owner", "pet.Pet", EdgeKind::UsesType),
        ("owner", "owner.Owner", EdgeKind::Contains),
        ("owner.Owner", "owner.Owner.addPet", EdgeKind::Contains),
    ] {
        let (from, to) = (id(from), id(to));
        assert!(
            has_edge(&analysis, &from, &to, kind),
            "{from} -{kind:?}-> {to}"
        );
    }
    // Through the call chains, the owner page reads owners and visits.
    let reach = analysis.graph().transitive_table_access();
    let show = &reach[&id("owner.OwnerController.showOwner")];
    assert!(show.reads.contains("table:owners") && show.reads.contains("table:visits"));
    assert_eq!(analysis.stats.java_files, 27);
    assert_eq!(analysis.stats.java_test_files, 1);
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
}

#[test]
fn petclinic_scores_against_its_reference() {
    let analysis = run(&fixture("java-petclinic"));
    let (mojofm, ari) = scored(&analysis, "java-petclinic", Granularity::Module);
    assert!(
        mojofm >= 90.0 && ari >= 0.8,
        "MoJoFM {mojofm:.1}, ARI {ari:.3}"
    );
    // At file granularity (one class a file, the literature's class level),
    // packages are scored where most of their classes go.
    let (mojofm, _) = scored(&analysis, "java-petclinic", Granularity::File);
    assert!(mojofm >= 70.0, "file-level MoJoFM {mojofm:.1}");
}

#[test]
fn jpetstore_routes_tables_and_mappers() {
    let analysis = run(&fixture("java-jpetstore"));
    assert_eq!(routes(&analysis), readme_routes("java-jpetstore"));
    let p = "org.example.jpetstore";
    let access = |function: &str, kind: EdgeKind| -> Vec<String> {
        let from = format!("{p}.{function}");
        analysis
            .edges
            .iter()
            .filter(|e| e.from == from && e.kind == kind)
            .map(|e| e.to.trim_start_matches("table:").to_owned())
            .collect()
    };
    // XML with <include> and <where>.
    assert_eq!(
        access(
            "account.AccountMapper.getAccountByUsernameAndPassword",
            EdgeKind::Reads
        ),
        ["account", "bannerdata", "profile", "signon"]
    );
    // XML with <set>.
    assert_eq!(
        access("account.AccountMapper.updateAccount", EdgeKind::Writes),
        ["account"]
    );
    // Annotations, with a constant and an array of lines.
    assert_eq!(
        access("order.OrderMapper.getOrder", EdgeKind::Reads),
        ["orders", "orderstatus"]
    );
    assert_eq!(
        access("order.SequenceMapper.updateSequence", EdgeKind::Writes),
        ["sequence"]
    );
    // JDBC with constants and concatenation.
    assert_eq!(
        access("report.SalesReportDao.salesSince", EdgeKind::Reads),
        ["item", "lineitem", "orders"]
    );
    // The tangle: placing an order writes the catalog's inventory.
    let reach = analysis.graph().transitive_table_access();
    let insert = &reach[&format!("{p}.order.OrderService.insertOrder")];
    let writes: Vec<&str> = insert
        .writes
        .iter()
        .map(|t| t.trim_start_matches("table:"))
        .collect();
    assert_eq!(
        writes,
        ["inventory", "lineitem", "orders", "orderstatus", "sequence"]
    );
    // A mapper method has no body: its caller runs its statements, so it
    // reads and writes their tables itself (`getNextId` through its
    // own call, not credited here).
    assert_eq!(
        access("order.OrderService.insertOrder", EdgeKind::Writes),
        ["inventory", "lineitem", "orders", "orderstatus"]
    );
    // MyBatis reads a parameter's properties through their getters (XML
    // and annotations), and fills a result class's fields from the
    // selected columns (no setters declared: a use of the class).
    let calls = |function: &str| targets(&analysis, &format!("{p}.{function}"), EdgeKind::Calls);
    assert_eq!(
        calls("order.LineItemMapper.insertLineItem"),
        [
            format!("{p}.order.LineItem.getItemId"),
            format!("{p}.order.LineItem.getQuantity")
        ]
    );
    assert_eq!(
        calls("order.OrderMapper.insertOrderStatus"),
        [format!("{p}.order.Order.getOrderId")]
    );
    assert!(has_edge(
        &analysis,
        &format!("{p}.order.LineItemMapper.getLineItemsByOrderId"),
        &format!("{p}.order.LineItem"),
        EdgeKind::UsesType
    ));
    assert_eq!(analysis.stats.java_test_files, 1);
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
}

#[test]
fn jpetstore_scores_against_its_reference() {
    let analysis = run(&fixture("java-jpetstore"));
    let (mojofm, ari) = scored(&analysis, "java-jpetstore", Granularity::Module);
    assert!(
        mojofm >= 90.0 && ari >= 0.8,
        "MoJoFM {mojofm:.1}, ARI {ari:.3}"
    );
    // At class level the order area's tables stay together because the
    // order is placed in one function writing orders and line items
    // (`co_writes`).
    let (mojofm, _) = scored(&analysis, "java-jpetstore", Granularity::File);
    assert!(mojofm >= 90.0, "file-level MoJoFM {mojofm:.1}");
}

#[test]
fn output_is_the_same_on_one_thread_and_many() {
    let root = fixture("java-petclinic");
    let one = analyze(
        &root,
        &Config {
            threads: Some(1),
            ..Config::default()
        },
    )
    .unwrap();
    let two = analyze(
        &root,
        &Config {
            threads: Some(3),
            ..Config::default()
        },
    )
    .unwrap();
    assert_eq!(render(&one, Format::Json), render(&two, Format::Json));
}

fn write(root: &Path, files: &[(&str, &[u8])]) {
    for (path, text) in files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

#[test]
fn maven_modules_and_bad_input_are_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "pom.xml",
                b"<project>\n  <modules>\n    <module>core</module>\n    <module>gone</module>\n  </modules>\n</project>\n",
            ),
            ("core/pom.xml", b"<project>\n<modules>\n</project>\n"),
            (
                "core/src/main/java/a/A.java",
                b"package a;\n@RestController\nclass A {\n  @Query(\"SELECT FROM WHERE\")\n  @GetMapping(\"/a\") void a() { new B().b(); }\n}\n",
            ),
            ("core/src/main/java/a/B.java", b"package a;\nclass B {\n  void b() {}\n  void c( {\n}\n"),
            ("core/src/main/java/a/C.java", b"package a;\nclass C { String s = \"\xff\xfe\"; }\n"),
            (
                "core/src/main/resources/a/AMapper.xml",
                b"<mapper namespace=\"a.A\">\n  <select id=\"x\">SELECT\n</mapper>\n",
            ),
            (
                "core/src/main/resources/a/BMapper.xml",
                b"<mapper namespace=\"a.B\">\n  <select id=\"b\">SELECT * FROM WHERE</select>\n  <select id=\"c\">SELECT * FROM t</select>\n</mapper>\n",
            ),
            (
                "core/src/main/resources/a/Gone.xml",
                b"<mapper namespace=\"a.Gone\"><select id=\"x\">SELECT 1</select></mapper>",
            ),
        ],
    );
    let analysis = run(dir.path());
    let diags: Vec<String> = analysis
        .diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}", d.file, d.line.unwrap_or(0), d.message))
        .collect();
    let has = |prefix: &str, words: &str| {
        diags
            .iter()
            .any(|d| d.starts_with(prefix) && d.contains(words))
    };
    assert!(has("pom.xml:4:", "module `gone` is declared"), "{diags:#?}");
    assert!(has("core/pom.xml:3:", "not well-formed XML"), "{diags:#?}");
    assert!(
        has("core/src/main/java/a/B.java:4:", "not valid Java"),
        "{diags:#?}"
    );
    assert!(
        has("core/src/main/java/a/C.java:0:", "not UTF-8"),
        "{diags:#?}"
    );
    assert!(
        has("core/src/main/resources/a/AMapper.xml:", "not well-formed"),
        "{diags:#?}"
    );
    assert!(
        has("core/src/main/resources/a/BMapper.xml:2:", "does not parse"),
        "{diags:#?}"
    );
    assert!(
        has(
            "core/src/main/resources/a/Gone.xml:1:",
            "no analyzed interface"
        ),
        "{diags:#?}"
    );
    // What parsed is kept: the broken class's type is still a node, the
    // valid route and call are there, and the good statement of a mapper
    // with a bad one is read.
    assert!(analysis.nodes.iter().any(|n| n.id == "a.B"));
    assert!(has_edge(&analysis, "a.A.a", "a.B.b", EdgeKind::Calls));
    assert!(has_edge(&analysis, "a.B.c", "table:t", EdgeKind::Reads));
    assert_eq!(routes(&analysis), BTreeSet::from(["GET /a".to_owned()]));
}

#[test]
fn gradle_projects_jaxrs_servlets_and_context_from_yaml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("settings.gradle", b"rootProject.name = 'x'\ninclude 'app', ':lib:core'\ninclude(\"missing\")\n"),
            (
                "app/src/main/resources/application.yml",
                b"spring:\n  application:\n    name: x\nserver:\n  servlet:\n    context-path: /shop/\n",
            ),
            (
                "app/src/main/java/x/api/Api.java",
                b"package x.api;\nimport jakarta.ws.rs.*;\n@ApplicationPath(\"/api\")\npublic class Api extends Application {}\n",
            ),
            (
                "app/src/main/java/x/api/Users.java",
                b"package x.api;\nimport x.core.*;\n@Path(\"/users\")\npublic class Users {\n  @Inject UserStore store;\n  @GET @Path(\"{id: \\\\d+}\") public User get(@PathParam(\"id\") long id) { return store.load(id); }\n  @POST public void add(User u) { store.add(u); }\n}\n",
            ),
            (
                "app/src/main/java/x/api/Items.java",
                b"package x.api;\n@RestController @RequestMapping(path = {\"/items\", \"/goods\"})\nclass Items {\n  static final String BY_ID = \"/{id}\";\n  @RequestMapping(value = BY_ID, method = {RequestMethod.GET, RequestMethod.HEAD}) Object one() { return null; }\n  @DeleteMapping(Items.BY_ID) void drop() {}\n}\n",
            ),
            (
                "app/src/main/java/x/api/Health.java",
                b"package x.api;\n@WebServlet(urlPatterns = \"/health/*\")\nclass Health extends HttpServlet { protected void doGet(Object a, Object b) {} }\n",
            ),
            (
                "lib/core/src/main/java/x/core/UserStore.java",
                b"package x.core;\npublic interface UserStore { User load(long id); void add(User u); }\n",
            ),
            (
                "lib/core/src/main/java/x/core/JdbcUserStore.java",
                b"package x.core;\nclass JdbcUserStore implements UserStore {\n  private static final String TABLE = \"users\";\n  private JdbcTemplate jdbc;\n  public User load(long id) { return jdbc.queryForObject(\"SELECT * FROM \" + TABLE + \" WHERE id = ?\", MAPPER, id); }\n  public void add(User u) { jdbc.update(\"INSERT INTO users (id) VALUES (?)\", u.id()); }\n}\n",
            ),
            ("lib/core/src/main/java/x/core/User.java", b"package x.core;\npublic record User(long id, String name) {}\n"),
            ("lib/core/src/test/java/x/core/UserTest.java", b"package x.core;\nclass UserTest {}\n"),
        ],
    );
    let analysis = run(dir.path());
    assert_eq!(
        routes(&analysis),
        BTreeSet::from(
            [
                "GET /shop/api/users/{}",
                "POST /shop/api/users",
                "GET,HEAD /shop/items/{}",
                "GET,HEAD /shop/goods/{}",
                "DELETE /shop/items/{}",
                "DELETE /shop/goods/{}",
                "GET /shop/health/{*}",
            ]
            .map(str::to_owned)
        )
    );
    // An injected interface reaches its implementation, and the JDBC
    // strings (a concatenation with a constant) give the table access.
    assert!(has_edge(
        &analysis,
        "x.api.Users.get",
        "x.core.JdbcUserStore.load",
        EdgeKind::Calls
    ));
    assert!(has_edge(
        &analysis,
        "x.core.JdbcUserStore.load",
        "table:users",
        EdgeKind::Reads
    ));
    assert!(has_edge(
        &analysis,
        "x.core.JdbcUserStore.add",
        "table:users",
        EdgeKind::Writes
    ));
    assert!(has_edge(
        &analysis,
        "x.api.Users.get",
        "x.core.User",
        EdgeKind::UsesType
    ));
    assert_eq!(analysis.stats.java_files, 7);
    assert_eq!(analysis.stats.java_test_files, 1);
    assert!(
        analysis
            .diagnostics
            .iter()
            .any(|d| d.file == "settings.gradle"
                && d.line == Some(3)
                && d.message.contains("missing")),
        "{:?}",
        analysis.diagnostics
    );
}

#[test]
fn jpa_naming_entity_manager_native_queries_and_text_blocks() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                "src/main/java/s/PetType.java",
                b"package s;\n@Entity\npublic class PetType { @Id Long id; }\n",
            ),
            (
                "src/main/java/s/Animal.java",
                b"package s;\n@Entity(name = \"Beast\")\npublic class Animal { @ManyToOne PetType type; }\n",
            ),
            ("src/main/java/s/Dog.java", b"package s;\n@Entity\npublic class Dog extends Animal {}\n"),
            (
                "src/main/java/s/Dogs.java",
                b"package s;\ninterface Dogs extends JpaRepository<Dog, Long> {\n  @Query(value = \"select * from kennel k\", nativeQuery = true) List<Dog> inKennel();\n  @Modifying @Query(\"delete from Beast b where b.id = ?1\") void purge(long id);\n  long countByType(PetType t);\n}\n",
            ),
            (
                "src/main/java/s/Store.java",
                b"package s;\nclass Store {\n  @PersistenceContext EntityManager em;\n  private final Helper helper = new Helper();\n  void put(Dog d) { em.persist(d); }\n  Dog get(long id) { return em.find(Dog.class, id); }\n  Object report() {\n    return em.createNativeQuery(\"\"\"\n        SELECT count(*)\n        FROM audit_log\n        \"\"\").getSingleResult();\n  }\n  void chain() { this.helper.help(); }\n}\n",
            ),
            (
                "src/main/java/s/Helper.java",
                b"package s;\n@Data\nclass Helper {\n  void help() {}\n  Object load() throws Exception { return Class.forName(\"s.Plugin\"); }\n}\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    // `@Entity(name)` names the table; a subclass shares its parent's.
    assert_eq!(tables, ["audit_log", "beast", "kennel", "pet_type"]);
    for (from, to, kind) in [
        ("s.Dogs.inKennel", "table:kennel", EdgeKind::Reads),
        ("s.Dogs.purge", "table:beast", EdgeKind::Writes),
        ("s.Dogs.countByType", "table:beast", EdgeKind::Reads),
        ("s.Store.put", "table:beast", EdgeKind::Writes),
        ("s.Store.get", "table:beast", EdgeKind::Reads),
        ("s.Store.report", "table:audit_log", EdgeKind::Reads),
        ("s.Store.chain", "s.Helper.help", EdgeKind::Calls),
        ("table:beast", "table:pet_type", EdgeKind::References),
    ] {
        assert!(
            has_edge(&analysis, from, to, kind),
            "{from} -{kind:?}-> {to}"
        );
    }
    // Lombok and reflection are diagnostics naming the file and line.
    let diags: Vec<String> = analysis
        .diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}", d.file, d.line.unwrap_or(0), d.message))
        .collect();
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert!(
        diags[0].starts_with("src/main/java/s/Helper.java:2: `@Data` (Lombok)"),
        "{diags:#?}"
    );
    assert!(
        diags[1].starts_with("src/main/java/s/Helper.java:5: reflection"),
        "{diags:#?}"
    );
}

/// The targets of the `kind` edges leaving `from`.
fn targets(analysis: &Analysis, from: &str, kind: EdgeKind) -> Vec<String> {
    analysis
        .edges
        .iter()
        .filter(|e| e.from == from && e.kind == kind)
        .map(|e| e.to.clone())
        .collect()
}

fn diagnostics(analysis: &Analysis) -> Vec<String> {
    analysis
        .diagnostics
        .iter()
        .map(|d| format!("{}:{}: {}", d.file, d.line.unwrap_or(0), d.message))
        .collect()
}

#[test]
fn named_queries_are_read_by_em_calls_and_repository_methods() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                "src/main/java/n/Owner.java",
                b"package n;\n@Entity @Table(name = \"owners\")\n@NamedQueries({\n  @NamedQuery(name = \"Owner.findByLastName\", query = \"SELECT o FROM Owner o \" + \"WHERE o.lastName = :name\"),\n  @NamedQuery(name = Owner.RENAME, query = \"UPDATE Owner o SET o.lastName = ?1\")\n})\n@NamedNativeQuery(name = \"Owner.withPets\", query = \"SELECT * FROM owners o JOIN pets p ON p.owner_id = o.id\")\n@NamedQuery(name = \"Owner.broken\", query = \"SELECT FROM WHERE\")\npublic class Owner { static final String RENAME = \"Owner.rename\"; @Id Integer id; }\n",
            ),
            (
                "src/main/java/n/Owners.java",
                b"package n;\ninterface Owners extends JpaRepository<Owner, Integer> {\n  List<Owner> withPets();\n  void rename(String name);\n  List<Owner> findByCity(String city);\n}\n",
            ),
            (
                "src/main/java/n/OwnerDao.java",
                b"package n;\nclass OwnerDao {\n  @PersistenceContext EntityManager em;\n  Object byName(String n) { return em.createNamedQuery(\"Owner.findByLastName\", Owner.class).getResultList(); }\n  int rename() { return em.createNamedQuery(Owner.RENAME).executeUpdate(); }\n  Object broken() { return em.createNamedQuery(\"Owner.broken\").getResultList(); }\n  Object missing() { return em.createNamedQuery(\"Owner.nowhere\").getResultList(); }\n}\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    // JPQL inside `@NamedQueries` (a concatenation, a constant name), maps
    // the entity to its table; the native one is SQL as written.
    assert_eq!(
        targets(&analysis, "n.OwnerDao.byName", EdgeKind::Reads),
        ["table:owners"]
    );
    assert_eq!(
        targets(&analysis, "n.OwnerDao.rename", EdgeKind::Writes),
        ["table:owners"]
    );
    // A repository method named like a named query `Entity.method` runs it
    // (Spring Data's lookup); others still derive from their names.
    assert_eq!(
        targets(&analysis, "n.Owners.withPets", EdgeKind::Reads),
        ["table:owners", "table:pets"]
    );
    assert_eq!(
        targets(&analysis, "n.Owners.rename", EdgeKind::Writes),
        ["table:owners"]
    );
    assert!(targets(&analysis, "n.Owners.rename", EdgeKind::Reads).is_empty());
    assert_eq!(
        targets(&analysis, "n.Owners.findByCity", EdgeKind::Reads),
        ["table:owners"]
    );
    assert!(targets(&analysis, "n.OwnerDao.broken", EdgeKind::Reads).is_empty());
    // The query that does not parse is reported once, where it is
    // declared; a name declared nowhere is reported at the call.
    let diags = diagnostics(&analysis);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert!(
        diags[0].starts_with(
            "src/main/java/n/Owner.java:8: named query `Owner.broken` does not parse as JPQL"
        ),
        "{diags:#?}"
    );
    assert!(
        diags[1].starts_with(
            "src/main/java/n/OwnerDao.java:7: named query `Owner.nowhere` is declared nowhere"
        ),
        "{diags:#?}"
    );
}

#[test]
fn hibernate_hbm_xml_maps_classes_to_tables() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                "src/main/resources/h/Owner.hbm.xml",
                b"<?xml version=\"1.0\"?>\n<!DOCTYPE hibernate-mapping PUBLIC \"-//Hibernate/Hibernate Mapping DTD 3.0//EN\" \"http://www.hibernate.org/dtd/hibernate-mapping-3.0.dtd\">\n<hibernate-mapping package=\"h\">\n  <class name=\"Owner\" table=\"owners\">\n    <id name=\"id\" column=\"id\"/>\n    <set name=\"pets\" inverse=\"true\"><key column=\"owner_id\"/><one-to-many class=\"Pet\"/></set>\n  </class>\n  <class name=\"h.Pet\" table=\"pets\">\n    <many-to-one name=\"type\" class=\"PetType\" column=\"type_id\"/>\n    <set name=\"tags\" table=\"pet_tags\"><key column=\"pet_id\"/><many-to-many class=\"Tag\" column=\"tag_id\"/></set>\n    <subclass name=\"Dog\" discriminator-value=\"dog\"/>\n  </class>\n  <class name=\"PetType\" table=\"types\"/>\n  <class name=\"Visit\" table=\"visits\"><many-to-one name=\"pet\" column=\"pet_id\"/></class>\n  <class name=\"Vet\" table=\"vets\"><bag name=\"visits\"><key column=\"vet_id\"/><one-to-many/></bag></class>\n  <class name=\"Tag\"/>\n  <query name=\"Owner.byCity\">from Owner o where o.city = :city</query>\n  <sql-query name=\"Pet.purge\">DELETE FROM pets WHERE owner_id IS NULL</sql-query>\n</hibernate-mapping>\n",
            ),
            (
                "src/main/resources/h/Broken.hbm.xml",
                b"<hibernate-mapping>\n  <class name=\"x.Y\">\n</hibernate-mapping>\n",
            ),
            ("src/main/java/h/Owner.java", b"package h;\npublic class Owner { Integer id; }\n"),
            ("src/main/java/h/Pet.java", b"package h;\npublic class Pet { Integer id; }\n"),
            ("src/main/java/h/Dog.java", b"package h;\npublic class Dog extends Pet {}\n"),
            ("src/main/java/h/Visit.java", b"package h;\npublic class Visit { Pet pet; }\n"),
            ("src/main/java/h/Vet.java", b"package h;\npublic class Vet { List<Visit> visits; }\n"),
            (
                "src/main/java/h/Owners.java",
                b"package h;\ninterface Owners extends JpaRepository<Owner, Integer> {\n  List<Owner> findByLastName(String n);\n  List<Owner> byCity(String city);\n}\n",
            ),
            (
                "src/main/java/h/PetDao.java",
                b"package h;\nclass PetDao {\n  Session session;\n  Pet load(int id) { return session.get(Pet.class, id); }\n  void put(Dog d) { session.save(d); }\n  Object byCity() { return session.getNamedQuery(\"Owner.byCity\").list(); }\n  int purge() { return session.getNamedQuery(\"Pet.purge\").executeUpdate(); }\n  Object hql() { return session.createQuery(\"from h.Pet p where p.id = 1\").list(); }\n}\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    // `table=` names the table, the class name is the default, a
    // `<subclass>` shares its parent's table.
    assert_eq!(
        tables,
        [
            "owners", "pet_tags", "pets", "tag", "types", "vets", "visits"
        ]
    );
    for (from, to, kind) in [
        ("h.Owners.findByLastName", "table:owners", EdgeKind::Reads),
        ("h.Owners.byCity", "table:owners", EdgeKind::Reads),
        ("h.PetDao.load", "table:pets", EdgeKind::Reads),
        ("h.PetDao.put", "table:pets", EdgeKind::Writes),
        ("h.PetDao.byCity", "table:owners", EdgeKind::Reads),
        ("h.PetDao.purge", "table:pets", EdgeKind::Writes),
        ("h.PetDao.hql", "table:pets", EdgeKind::Reads),
        // `<set>` with `<one-to-many>`, `<many-to-one>`, a `<many-to-many>`
        // join table.
        ("table:pets", "table:owners", EdgeKind::References),
        ("table:pets", "table:types", EdgeKind::References),
        ("table:pet_tags", "table:pets", EdgeKind::References),
        ("table:pet_tags", "table:tag", EdgeKind::References),
        // No `class=`: the Java field's type (or type argument) names it.
        ("table:visits", "table:pets", EdgeKind::References),
        ("table:visits", "table:vets", EdgeKind::References),
    ] {
        assert!(
            has_edge(&analysis, from, to, kind),
            "{from} -{kind:?}-> {to}"
        );
    }
    // Mapped classes that are analyzed map their tables (a `<subclass>`
    // its parent's); `PetType` and `Tag` have no source, so no node.
    assert_eq!(
        edges(&analysis, EdgeKind::Maps),
        [
            "h.Dog -> table:pets",
            "h.Owner -> table:owners",
            "h.Pet -> table:pets",
            "h.Vet -> table:vets",
            "h.Visit -> table:visits",
        ]
    );
    let diags = diagnostics(&analysis);
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0].starts_with(
            "src/main/resources/h/Broken.hbm.xml:3: Hibernate mapping is not well-formed"
        ),
        "{diags:#?}"
    );
}

/// The `orm.xml` of [`jpa_orm_xml_maps_entities_queries_and_associations`].
const ORM_XML: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<entity-mappings xmlns="https://jakarta.ee/xml/ns/persistence/orm" version="3.0">
  <package>o</package>
  <named-query name="Owner.byCity"><query>SELECT o FROM Owner o WHERE o.city = :city</query></named-query>
  <named-native-query name="Pet.purge"><query><![CDATA[DELETE FROM pets WHERE age < 0]]></query></named-native-query>
  <named-query name="Owner.broken"><query>SELECT FROM WHERE</query></named-query>
  <named-query name="Owner.empty"/>
  <entity class="Owner">
    <table name="owners"/>
    <attributes>
      <id name="id"/>
      <one-to-many name="pets" target-entity="Pet" mapped-by="owner"/>
    </attributes>
  </entity>
  <entity class="o.Pet" name="Animal">
    <table name="PETS"/>
    <named-query name="Animal.byName"><query>from Animal a where a.name = ?1</query></named-query>
    <attributes>
      <many-to-one name="type" target-entity="PetType"><join-column name="type_id"/></many-to-one>
      <many-to-many name="tags" target-entity="Tag"><join-table name="pet_tags"/></many-to-many>
    </attributes>
  </entity>
  <entity class="Dog"/>
  <entity class="PetType"><table name="types"/></entity>
  <entity class="VetVisit">
    <attributes>
      <many-to-one name="pet"/>
      <one-to-one name="invoice" target-entity="Invoice"><join-column name="invoice_id"/></one-to-one>
      <one-to-one name="note" target-entity="Note" mapped-by="visit"/>
    </attributes>
  </entity>
  <entity class="Invoice"/>
  <entity><table name="nobody"/></entity>
</entity-mappings>
"#;

#[test]
fn jpa_orm_xml_maps_entities_queries_and_associations() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            ("src/main/resources/META-INF/orm.xml", ORM_XML),
            (
                "src/main/resources/META-INF/broken-orm.xml",
                b"<entity-mappings>\n  <entity class=\"x.Y\">\n</entity-mappings>\n",
            ),
            ("src/main/java/o/Owner.java", b"package o;\npublic class Owner { Set<Pet> pets; }\n"),
            ("src/main/java/o/Pet.java", b"package o;\npublic class Pet { PetType type; }\n"),
            ("src/main/java/o/Dog.java", b"package o;\npublic class Dog extends Pet {}\n"),
            ("src/main/java/o/PetType.java", b"package o;\npublic class PetType {}\n"),
            ("src/main/java/o/VetVisit.java", b"package o;\npublic class VetVisit { Pet pet; Invoice invoice; }\n"),
            ("src/main/java/o/Invoice.java", b"package o;\npublic class Invoice {}\n"),
            (
                "src/main/java/o/Owners.java",
                b"package o;\ninterface Owners extends JpaRepository<Owner, Integer> {\n  List<Owner> byCity(String city);\n}\n",
            ),
            (
                "src/main/java/o/Pets.java",
                b"package o;\ninterface Pets extends JpaRepository<Pet, Integer> {\n  List<Pet> byName(String name);\n}\n",
            ),
            (
                "src/main/java/o/PetDao.java",
                b"package o;\nclass PetDao {\n  EntityManager em;\n  void put(Dog d) { em.persist(d); }\n  int purge() { return em.createNamedQuery(\"Pet.purge\").executeUpdate(); }\n  Object visits() { return em.createQuery(\"select v from VetVisit v\").getResultList(); }\n}\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    // `<table name>` (lower-cased), else the entity name in snake_case; an
    // entity without `<table>` under a mapped one shares its table.
    assert_eq!(
        tables,
        [
            "invoice",
            "owners",
            "pet_tags",
            "pets",
            "types",
            "vet_visit"
        ]
    );
    for (from, to, kind) in [
        ("o.Owners.byCity", "table:owners", EdgeKind::Reads),
        // The entity name (`name="Animal"`) prefixes its named queries.
        ("o.Pets.byName", "table:pets", EdgeKind::Reads),
        ("o.PetDao.put", "table:pets", EdgeKind::Writes),
        ("o.PetDao.purge", "table:pets", EdgeKind::Writes),
        ("o.PetDao.visits", "table:vet_visit", EdgeKind::Reads),
        // `<one-to-many>`, `<many-to-one>` with `target-entity` or by the
        // field's type, `<one-to-one>` with a `<join-column>`, a
        // `<many-to-many>` join table (its unmapped `Tag` side left out).
        ("table:pets", "table:owners", EdgeKind::References),
        ("table:pets", "table:types", EdgeKind::References),
        ("table:pet_tags", "table:pets", EdgeKind::References),
        ("table:vet_visit", "table:pets", EdgeKind::References),
        ("table:vet_visit", "table:invoice", EdgeKind::References),
    ] {
        assert!(
            has_edge(&analysis, from, to, kind),
            "{from} -{kind:?}-> {to}"
        );
    }
    assert_eq!(edges(&analysis, EdgeKind::References).len(), 5);
    assert_eq!(
        edges(&analysis, EdgeKind::Maps),
        [
            "o.Dog -> table:pets",
            "o.Invoice -> table:invoice",
            "o.Owner -> table:owners",
            "o.Pet -> table:pets",
            "o.PetType -> table:types",
            "o.VetVisit -> table:vet_visit",
        ]
    );
    let diags = diagnostics(&analysis);
    assert_eq!(diags.len(), 4, "{diags:#?}");
    for (d, expected) in diags.iter().zip([
        "src/main/resources/META-INF/broken-orm.xml:3: JPA orm.xml mapping is not well-formed",
        "src/main/resources/META-INF/orm.xml:6: named query `Owner.broken` does not parse as JPQL",
        "src/main/resources/META-INF/orm.xml:7: `<named-query>` without a name or a `<query>`",
        "src/main/resources/META-INF/orm.xml:33: `<entity>` without a `class`",
    ]) {
        assert!(d.starts_with(expected), "{d}\n  expected {expected}");
    }
}

/// A table node's columns.
fn columns_of(analysis: &Analysis, table: &str) -> Vec<String> {
    let node = analysis
        .nodes
        .iter()
        .find(|n| n.id == format!("table:{table}"))
        .unwrap_or_else(|| panic!("no table {table}"));
    match &node.detail {
        strangler_analyzer::Detail::Table { columns, .. } => columns.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn liquibase_changelogs_apply_in_changelog_order() {
    let dir = tempfile::tempdir().unwrap();
    let cl = "src/main/resources/db/changelog";
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                &format!("{cl}/db.changelog-master.xml"),
                b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<databaseChangeLog xmlns=\"http://www.liquibase.org/xml/ns/dbchangelog\">\n  <include file=\"changes/z-create.xml\" relativeToChangelogFile=\"true\"/>\n  <include file=\"db/changelog/changes/m-pets.sql\"/>\n  <includeAll path=\"db/changelog/later/\"/>\n  <include file=\"changes/gone.xml\" relativeToChangelogFile=\"true\"/>\n  <include file=\"changes/broken.xml\" relativeToChangelogFile=\"true\"/>\n</databaseChangeLog>\n",
            ),
            (
                &format!("{cl}/changes/z-create.xml"),
                b"<databaseChangeLog>\n  <changeSet id=\"1\" author=\"a\">\n    <createTable tableName=\"owners\">\n      <column name=\"id\" type=\"${id.type}\"><constraints primaryKey=\"true\"/></column>\n      <column name=\"name\" type=\"varchar(80)\"/>\n    </createTable>\n    <createTable tableName=\"pets\">\n      <column name=\"id\" type=\"int\"><constraints primaryKey=\"true\"/></column>\n      <column name=\"owner_id\" type=\"int\"><constraints references=\"owners(id)\" foreignKeyName=\"fk_pet_owner\"/></column>\n    </createTable>\n    <createTable tableName=\"legacy\"><column name=\"id\" type=\"int\"/></createTable>\n    <createIndex tableName=\"pets\" indexName=\"ix\"><column name=\"owner_id\"/></createIndex>\n    <frobnicate tableName=\"pets\"/>\n    <rollback><dropTable tableName=\"pets\"/></rollback>\n  </changeSet>\n</databaseChangeLog>\n",
            ),
            (
                &format!("{cl}/changes/m-pets.sql"),
                b"--liquibase formatted sql\n--changeset a:2\nALTER TABLE pets ADD COLUMN birth_date date;\n--rollback ALTER TABLE pets DROP COLUMN birth_date;\n",
            ),
            (
                &format!("{cl}/later/a-rename.xml"),
                b"<databaseChangeLog>\n  <changeSet id=\"3\" author=\"a\">\n    <renameTable oldTableName=\"pets\" newTableName=\"animals\"/>\n    <addColumn tableName=\"owners\"><column name=\"city\" type=\"varchar(80)\"/></addColumn>\n    <dropTable tableName=\"legacy\"/>\n  </changeSet>\n</databaseChangeLog>\n",
            ),
            (
                &format!("{cl}/later/b-visits.xml"),
                b"<databaseChangeLog>\n  <changeSet id=\"4\" author=\"a\">\n    <createTable tableName=\"visits\"><column name=\"id\" type=\"int\"/><column name=\"animal_id\" type=\"int\"/></createTable>\n    <addForeignKeyConstraint baseTableName=\"visits\" baseColumnNames=\"animal_id\" referencedTableName=\"animals\" referencedColumnNames=\"id\" constraintName=\"fk_visit_animal\"/>\n  </changeSet>\n</databaseChangeLog>\n",
            ),
            (
                &format!("{cl}/changes/broken.xml"),
                b"<databaseChangeLog>\n  <changeSet id=\"5\">\n</databaseChangeLog>\n",
            ),
            (
                "src/main/java/l/Animal.java",
                b"package l;\n@Entity @Table(name = \"animals\")\npublic class Animal { @Id Integer id; }\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    // The rename comes after the create and the formatted SQL (changelog
    // order, not path order); the dropped table is gone.
    assert_eq!(tables, ["animals", "owners", "visits"]);
    assert_eq!(
        columns_of(&analysis, "animals"),
        ["id", "owner_id", "birth_date"]
    );
    assert_eq!(columns_of(&analysis, "owners"), ["id", "name", "city"]);
    // A table written out from XML is defined on its element's line.
    let visits = analysis
        .nodes
        .iter()
        .find(|n| n.id == "table:visits")
        .unwrap();
    assert_eq!(
        (visits.file.as_deref(), visits.line),
        (Some(format!("{cl}/later/b-visits.xml").as_str()), Some(3))
    );
    assert!(has_edge(
        &analysis,
        "table:animals",
        "table:owners",
        EdgeKind::References
    ));
    assert!(has_edge(
        &analysis,
        "table:visits",
        "table:animals",
        EdgeKind::References
    ));
    let diags = diagnostics(&analysis);
    assert_eq!(diags.len(), 3, "{diags:#?}");
    assert!(
        diags.iter().any(|d| d.starts_with(&format!(
            "{cl}/changes/z-create.xml:13: unknown Liquibase change type `frobnicate`"
        ))),
        "{diags:#?}"
    );
    assert!(
        diags.iter().any(|d| d.starts_with(&format!(
            "{cl}/db.changelog-master.xml:6: included changelog `changes/gone.xml`"
        ))),
        "{diags:#?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with(&format!("{cl}/changes/broken.xml:"))
                && d.contains("not well-formed")),
        "{diags:#?}"
    );
}

#[test]
fn webflux_functional_routes_map_to_their_handlers() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                "src/main/java/w/Routes.java",
                b"package w;\nimport static org.springframework.web.reactive.function.server.RequestPredicates.*;\nimport static org.springframework.web.reactive.function.server.RouterFunctions.*;\n@Configuration\nclass Routes {\n  static final String OWNERS = \"/owners\";\n  @Bean RouterFunction<ServerResponse> owners(OwnerHandler handler) {\n    return route(GET(OWNERS + \"/{id}\"), handler::show)\n        .andRoute(POST(OWNERS).and(accept(MediaType.APPLICATION_JSON)), handler::create)\n        .andRoute(path(\"/health\"), req -> handler.health(req));\n  }\n  @Bean RouterFunction<ServerResponse> api(PetHandler pets) {\n    return RouterFunctions.route()\n        .GET(\"/pets\", pets::list)\n        .nest(path(\"/api\"), b -> b.GET(\"/pets/{id}\", pets::show).DELETE(\"/pets/{id}\", pets::remove))\n        .path(\"/v2\", () -> route().PUT(\"/pets/{id}\", accept(JSON), pets::update).build())\n        .build();\n  }\n  @Bean RouterFunction<ServerResponse> admin(PetHandler pets) {\n    return nest(path(\"/admin\"), route(method(HttpMethod.PATCH).and(path(\"/pets\")), pets::patch));\n  }\n  Object notRoutes() { return route(GET(\"/ignored\"), null); }\n}\n",
            ),
            (
                "src/main/java/w/OwnerHandler.java",
                b"package w;\nclass OwnerHandler {\n  Mono<ServerResponse> show(ServerRequest r) { return null; }\n  Mono<ServerResponse> create(ServerRequest r) { return null; }\n  Mono<ServerResponse> health(ServerRequest r) { return null; }\n}\n",
            ),
            (
                "src/main/java/w/PetHandler.java",
                b"package w;\nclass PetHandler {\n  Mono<ServerResponse> list(ServerRequest r) { return null; }\n  Mono<ServerResponse> show(ServerRequest r) { return null; }\n  Mono<ServerResponse> remove(ServerRequest r) { return null; }\n  Mono<ServerResponse> update(ServerRequest r) { return null; }\n  Mono<ServerResponse> patch(ServerRequest r) { return null; }\n}\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    // `route(..)`/`.andRoute(..)` with predicates (a constant, `.and(..)`,
    // `method(..)`), the builder's verbs, `nest(path(..))`, the builder's
    // `.nest(..)` and `.path(..)`; a method not returning a
    // `RouterFunction` builds no routes.
    assert_eq!(
        routes(&analysis),
        BTreeSet::from(
            [
                "GET /owners/{}",
                "POST /owners",
                "* /health",
                "GET /pets",
                "GET /api/pets/{}",
                "DELETE /api/pets/{}",
                "PUT /v2/pets/{}",
                "PATCH /admin/pets",
            ]
            .map(str::to_owned)
        )
    );
    let mut handles = edges(&analysis, EdgeKind::Handles);
    handles.sort();
    assert_eq!(
        handles,
        [
            "route:* /health -> w.OwnerHandler.health",
            "route:DELETE /api/pets/{id} -> w.PetHandler.remove",
            "route:GET /api/pets/{id} -> w.PetHandler.show",
            "route:GET /owners/{id} -> w.OwnerHandler.show",
            "route:GET /pets -> w.PetHandler.list",
            "route:PATCH /admin/pets -> w.PetHandler.patch",
            "route:POST /owners -> w.OwnerHandler.create",
            "route:PUT /v2/pets/{id} -> w.PetHandler.update",
        ]
    );
    assert!(
        analysis.diagnostics.is_empty(),
        "{:?}",
        analysis.diagnostics
    );
}

#[test]
fn liquibase_yaml_changelogs_read_like_xml() {
    let dir = tempfile::tempdir().unwrap();
    let cl = "src/main/resources/db/changelog";
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                &format!("{cl}/db.changelog-master.yaml"),
                b"databaseChangeLog:\n  - include:\n      file: changes/001-create.yaml\n      relativeToChangelogFile: true\n  - include:\n      file: db/changelog/changes/002-more.sql\n  - include:\n      file: db/changelog/changes/003-rename.yml\n  - include:\n      file: db/changelog/changes/broken.yaml\n",
            ),
            (
                &format!("{cl}/changes/001-create.yaml"),
                b"databaseChangeLog:\n  - changeSet:\n      id: 1\n      author: a\n      changes:\n        - createTable:\n            tableName: owners\n            columns:\n              - column:\n                  name: id\n                  type: int\n                  constraints:\n                    primaryKey: true\n              - column:\n                  name: name\n                  type: varchar(80)\n        - createTable:\n            tableName: pets\n            columns:\n              - column:\n                  name: id\n                  type: int\n              - column:\n                  name: owner_id\n                  type: int\n        - addForeignKeyConstraint:\n            baseTableName: pets\n            baseColumnNames: owner_id\n            referencedTableName: owners\n            referencedColumnNames: id\n        - frobnicate:\n            tableName: pets\n",
            ),
            (
                &format!("{cl}/changes/002-more.sql"),
                b"--liquibase formatted sql\n--changeset a:2\nALTER TABLE pets ADD COLUMN birth_date date;\n",
            ),
            (
                &format!("{cl}/changes/003-rename.yml"),
                b"databaseChangeLog:\n  - changeSet:\n      id: 3\n      author: a\n      changes:\n        - renameTable:\n            oldTableName: pets\n            newTableName: animals\n        - sql:\n            sql: |\n              CREATE TABLE audit (\n                id int);\n",
            ),
            (
                &format!("{cl}/changes/broken.yaml"),
                b"databaseChangeLog:\n  - changeSet:\n      id: 4\n     changes: []\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(tables, ["animals", "audit", "owners"]);
    assert_eq!(
        columns_of(&analysis, "animals"),
        ["id", "owner_id", "birth_date"]
    );
    assert!(has_edge(
        &analysis,
        "table:animals",
        "table:owners",
        EdgeKind::References
    ));
    let diags = diagnostics(&analysis);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert!(
        diags.iter().any(|d| d.starts_with(&format!(
            "{cl}/changes/001-create.yaml:31: unknown Liquibase change type `frobnicate`"
        ))),
        "{diags:#?}"
    );
    assert!(
        diags
            .iter()
            .any(|d| d.starts_with(&format!("{cl}/changes/broken.yaml:4:"))
                && d.contains("not well-formed YAML")),
        "{diags:#?}"
    );
}

/// A JSON changelog: tables, a column, a foreign key, a rename, a drop and
/// raw SQL, and a change type Liquibase does not have (line 28).
const CREATE_JSON: &[u8] = br#"{
  "databaseChangeLog": [
    {
      "changeSet": {
        "id": "1",
        "author": "a",
        "changes": [
          {
            "createTable": {
              "tableName": "owners",
              "columns": [
                { "column": { "name": "id", "type": "int", "constraints": { "primaryKey": true } } },
                { "column": { "name": "name", "type": "varchar(80)" } }
              ]
            }
          },
          {
            "createTable": {
              "tableName": "pets",
              "columns": [{ "column": { "name": "id", "type": "int" } }]
            }
          },
          { "addColumn": { "tableName": "pets", "columns": [{ "column": { "name": "owner_id" } }] } },
          { "addForeignKeyConstraint": { "baseTableName": "pets", "baseColumnNames": "owner_id",
              "referencedTableName": "owners", "referencedColumnNames": "id" } },
          { "createTable": { "tableName": "scratch", "columns": [{ "column": { "name": "x" } }] } },
          { "dropTable": { "tableName": "scratch" } },
          { "frobnicate": { "tableName": "pets" } },
          { "sql": { "sql": "CREATE TABLE audit (id int)" } }
        ]
      }
    }
  ]
}
"#;

#[test]
fn liquibase_json_changelogs_and_yaml_flow_style() {
    let dir = tempfile::tempdir().unwrap();
    let cl = "src/main/resources/db/changelog";
    write(
        dir.path(),
        &[
            ("pom.xml", b"<project/>"),
            (
                &format!("{cl}/db.changelog-master.json"),
                b"{ \"databaseChangeLog\": [\n  { \"include\": { \"file\": \"changes/001-create.json\", \"relativeToChangelogFile\": true } },\n  { \"includeAll\": { \"path\": \"db/changelog/more/\" } },\n  { \"include\": { \"file\": \"db/changelog/missing.json\" } }\n] }\n",
            ),
            (&format!("{cl}/changes/001-create.json"), CREATE_JSON),
            (
                &format!("{cl}/more/002-rename.yaml"),
                b"databaseChangeLog:\n  - changeSet:\n      id: 2\n      changes:\n        - {renameTable: {oldTableName: pets, newTableName: animals}}\n        - addColumn: {tableName: animals, columns: [{column: {name: born}}]}\n",
            ),
            (
                &format!("{cl}/more/003-broken.json"),
                b"{ \"databaseChangeLog\": [\n  { \"changeSet\": { \"id\": \"3\",\n    \"changes\": [ } }\n] }\n",
            ),
        ],
    );
    let analysis = run(dir.path());
    let tables: Vec<&str> = analysis
        .nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Table)
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(tables, ["animals", "audit", "owners"]);
    assert_eq!(columns_of(&analysis, "owners"), ["id", "name"]);
    assert_eq!(columns_of(&analysis, "animals"), ["id", "owner_id", "born"]);
    assert!(has_edge(
        &analysis,
        "table:animals",
        "table:owners",
        EdgeKind::References
    ));
    // The schema cites the JSON changelog's own lines.
    let owners = analysis
        .nodes
        .iter()
        .find(|n| n.id == "table:owners")
        .unwrap();
    assert_eq!(
        (owners.file.as_deref(), owners.line),
        (
            Some(format!("{cl}/changes/001-create.json").as_str()),
            Some(9)
        )
    );
    let diags = diagnostics(&analysis);
    assert_eq!(diags.len(), 3, "{diags:#?}");
    for expected in [
        format!("{cl}/changes/001-create.json:28: unknown Liquibase change type `frobnicate`"),
        format!("{cl}/db.changelog-master.json:4: included changelog `db/changelog/missing.json`"),
        format!("{cl}/more/003-broken.json:3: Liquibase changelog is not well-formed JSON"),
    ] {
        assert!(
            diags.iter().any(|d| d.starts_with(&expected)),
            "{expected}\n{diags:#?}"
        );
    }
}

/// Files to write: (path, content).
type Files<'a> = &'a [(&'a str, &'a [u8])];

/// A tree with a Maven build and a Rust crate is analysed as Rust (the
/// Rust front end looks first when a Cargo manifest is present); one with a
/// Cargo manifest but no Rust sources falls back to Java; one with no
/// Cargo manifest is walked only by the Java front end.
#[test]
fn the_language_is_chosen_by_what_the_tree_holds() {
    let java = b"package org.example;\npublic class Hello { void hi() {} }\n" as &[u8];
    let rust = b"pub fn hello() {}\n" as &[u8];
    let cargo = b"[package]\nname = \"tool\"\nversion = \"0.1.0\"\n" as &[u8];
    let cases: [(&str, Files, &str); 3] = [
        (
            "maven and a crate",
            &[
                ("pom.xml", b"<project/>"),
                ("src/main/java/org/example/Hello.java", java),
                ("tool/Cargo.toml", cargo),
                ("tool/src/lib.rs", rust),
            ],
            "tool::hello",
        ),
        (
            "maven and a manifest without sources",
            &[
                ("pom.xml", b"<project/>"),
                ("src/main/java/org/example/Hello.java", java),
                ("tool/Cargo.toml", cargo),
            ],
            "org.example.Hello.hi",
        ),
        (
            "maven only",
            &[
                ("pom.xml", b"<project/>"),
                ("src/main/java/org/example/Hello.java", java),
            ],
            "org.example.Hello.hi",
        ),
    ];
    for (name, files, function) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), files);
        let analysis = run(dir.path());
        let functions: Vec<&str> = analysis
            .nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Function)
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(functions, [function], "{name}");
    }
}
