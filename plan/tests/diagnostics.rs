//! Every kind of bad plan is rejected with its line, column and a fix, and
//! all problems in a file are listed together.

use strangler_plan::parse;

/// Parses `source` and compares every rendered diagnostic with `expect`.
fn check(source: &str, expect: &str) {
    let parsed = parse(source);
    let got: Vec<String> = parsed
        .diagnostics
        .iter()
        .map(|d| d.render("p.toml"))
        .collect();
    assert_eq!(got.join("\n"), expect.trim(), "for:\n{source}");
}

const HEAD: &str =
    "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n";

fn with_head(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

#[test]
fn minimal_plan_is_valid() {
    check(HEAD, "");
}

#[test]
fn unknown_keys_everywhere() {
    check(
        &format!(
            "colour = 1\n{HEAD}colur = 2\n[[service]]\nname = \"a\"\nupstrem = \"http://x\"\n[[service.route]]\npath = \"/x\"\nstage = \"monolith\"\nweight = 3\n",
        ),
        r"
p.toml:1:1: error: unknown key `colour` in the plan
    help: remove it; the keys of the plan are: version, monolith, analyze, service, proxy, gateway
p.toml:6:1: error: unknown key `colur` in [monolith]
    help: remove it; the keys of [monolith] are: name, upstream, database
p.toml:9:1: error: unknown key `upstrem` in service `a`
    help: did you mean `upstream`? The keys of service `a` are: name, upstream, database, members, pinned, route, table, auth, require, forward_claims, rate_limit, strip_prefix, add_prefix, request_headers, response_headers, cors, diff, shadow_writes, slo, promote, timeouts
p.toml:13:1: error: unknown key `weight` in route `/x` of service `a`
    help: remove it; the keys of route `/x` of service `a` are: path, methods, stage, percent, sticky, host, headers, writes, auth, require, forward_claims, rate_limit, strip_prefix, add_prefix, request_headers, response_headers, cors, diff, shadow_writes, slo, promote, timeouts",
    );
}

#[test]
fn bad_stage_names_and_percent() {
    check(
        &with_head(
            "[[service]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9001\"\n[[service.route]]\npath = \"/x\"\nstage = \"cannary\"\n[[service.route]]\npath = \"/y\"\nstage = \"canary\"\npercent = 101\n[[service.route]]\npath = \"/z\"\nstage = \"canary\"\npercent = -1\n[[service.table]]\nname = \"t\"\nstage = \"owning\"\n",
        ),
        r"
p.toml:10:9: error: unknown route stage `cannary`; expected one of: monolith, shadow, canary, live (in route `/x` of service `a`)
    help: use one of the stage names listed
p.toml:14:11: error: percent 101 of route `/y` of service `a` is outside 0–100
    help: set `percent` to a whole number from 0 to 100
p.toml:18:11: error: percent -1 of route `/z` of service `a` is outside 0–100
    help: set `percent` to a whole number from 0 to 100
p.toml:21:9: error: unknown table stage `owning`; expected one of: monolith, syncing, cutover, owned, decommissioned (in table `t` of service `a`)
    help: use one of the stage names listed",
    );
}

#[test]
fn duplicate_service_names() {
    check(
        &with_head(
            "[[service]]\nname = \"a\"\n[[service]]\nname = \"b\"\n[[service]]\nname = \"a\"\n",
        ),
        r"
p.toml:10:8: error: service `a` is defined twice (first as service #1)
    help: give each service a unique name, or merge the two entries",
    );
}

#[test]
fn route_claimed_by_two_services() {
    check(
        &with_head(
            "[[service]]\nname = \"a\"\n[[service.route]]\npath = \"/p/{id}\"\nmethods = [\"GET\", \"HEAD\"]\nstage = \"monolith\"\n\
             [[service]]\nname = \"b\"\n[[service.route]]\npath = \"/p/{pid}\"\nmethods = [\"HEAD\"]\nstage = \"monolith\"\n\
             [[service.route]]\npath = \"/p/{pid}\"\nmethods = [\"POST\"]\nstage = \"monolith\"\n\
             [[service.route]]\npath = \"/q\"\nstage = \"monolith\"\n[[service.route]]\npath = \"/q\"\nmethods = [\"GET\"]\nstage = \"monolith\"\n",
        ),
        r"
p.toml:14:8: error: route HEAD /p/{pid} is claimed by services `a` and `b`
    help: a request must have one destination: keep the route in one service, or split it by `methods`, `host` or `headers`
p.toml:25:8: error: route GET /q is listed twice in service `b`
    help: a request must have one destination: keep the route in one service, or split it by `methods`, `host` or `headers`",
    );
}

#[test]
fn table_claimed_by_two_services() {
    check(
        &with_head(
            "[[service]]\nname = \"a\"\n[[service.table]]\nname = \"orders\"\nstage = \"monolith\"\n[[service]]\nname = \"b\"\n[[service.table]]\nname = \"orders\"\nstage = \"monolith\"\n",
        ),
        r"
p.toml:13:8: error: table `orders` is claimed by services `a` and `b`
    help: a table has one owner: keep it in one service (others read it through that service's API)",
    );
}

/// `writers` records a table several services write: a warning that it
/// needs a decision, and one for a name that is no longer a service.
#[test]
fn a_table_with_several_writers_needs_a_decision() {
    check(
        &with_head(
            "[[service]]\nname = \"orders\"\n[[service.table]]\nname = \"payments\"\nstage = \"monolith\"\nwriters = [\"orders\", \"billing\", \"shop\"]\n[[service]]\nname = \"billing\"\n[[service.table]]\nname = \"invoices\"\nstage = \"monolith\"\nwriters = [\"billing\", \"refunds\"]\n",
        ),
        r"
p.toml:10:11: warning: table `payments` of service `orders` needs a decision: the code of `orders`, `billing`, `shop` writes it
    help: give it one owner (`orders` writes it most): have `billing`, `shop` call that service's API instead of writing the table, or merge the services; `strangler analyze --out` then drops the entry
p.toml:16:11: warning: table `invoices` of service `billing` lists writers that are not services of the plan: `refunds`
    help: re-run `strangler analyze --out` to refresh `writers`, or remove the names
p.toml:16:11: warning: table `invoices` of service `billing` needs a decision: the code of `billing`, `refunds` writes it
    help: give it one owner (`billing` writes it most): have `refunds` call that service's API instead of writing the table, or merge the services; `strangler analyze --out` then drops the entry",
    );
}

#[test]
fn bad_upstream_and_database_urls() {
    check(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"127.0.0.1:8080\"\ndatabase = \"mysql://db/shop\"\n\
         [[service]]\nname = \"a\"\nupstream = \"ftp://x\"\ndatabase = \"not a url\"\n",
        r"
p.toml:4:12: error: upstream `127.0.0.1:8080` of the monolith is not an http(s) URL: it has no `http://` or `https://` scheme
    help: write it as `http://host:port` or `https://host:port`
p.toml:5:12: error: database `mysql://db/shop` of the monolith is not a PostgreSQL URL: its scheme is `mysql`
    help: write it as `postgres://user@host:5432/dbname`
p.toml:8:12: error: upstream `ftp://x` of service `a` is not an http(s) URL: its scheme is `ftp`
    help: write it as `http://host:port` or `https://host:port`
p.toml:9:12: error: database `not a url` of service `a` is not a PostgreSQL URL: it has no `postgres://` scheme
    help: write it as `postgres://user@host:5432/dbname`",
    );
}

#[test]
fn passwords_in_urls_are_masked() {
    // Mistyped schemes, unparsable URLs and libpq strings: each diagnostic
    // quotes the URL with its password masked.
    check(
        "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://u:secret@shop:8080\"\ndatabase = \"postgress://user:secret@x/db\"\n\
         [[service]]\nname = \"a\"\nupstream = \"ftp://u:secret@x\"\ndatabase = \"host=x password=secret\"\n\
         [[service]]\nname = \"b\"\ndatabase = \"postgres://user:se/cret@x:5432/db\"\n\
         [[service]]\nname = \"c\"\ndatabase = \"user:secret@x/db\"\n",
        r"
p.toml:4:12: error: upstream `http://u:***@shop:8080` of the monolith has a password, which strangler never sends
    help: remove `user:password@`; a password there would only end up in logs and metrics
p.toml:5:12: error: database `postgress://user:***@x/db` of the monolith is not a PostgreSQL URL: its scheme is `postgress`
    help: write it as `postgres://user@host:5432/dbname`
p.toml:8:12: error: upstream `ftp://u:***@x` of service `a` is not an http(s) URL: its scheme is `ftp`
    help: write it as `http://host:port` or `https://host:port`
p.toml:9:12: error: database `host=x password=***` of service `a` is not a PostgreSQL URL: it has no `postgres://` scheme
    help: write it as `postgres://user@host:5432/dbname`
p.toml:12:12: error: database `postgres://user:***@x:5432/db` of service `b` is not a PostgreSQL URL: invalid port number
    help: write it as `postgres://user@host:5432/dbname`
p.toml:15:12: error: database `user:***@x/db` of service `c` is not a PostgreSQL URL: it has no `postgres://` scheme
    help: write it as `postgres://user@host:5432/dbname`",
    );
}

#[test]
fn syntax_errors_do_not_quote_passwords() {
    // An unterminated string, and a URL where TOML expects a key.
    for source in [
        "version = 1\n[monolith]\nname = \"shop\"\ndatabase = \"postgres://u:secret@x/db\n",
        "version = 1\n[monolith]\nname = \"shop\"\npostgres://u:secret@x/db\n",
        "version = 1\n[monolith]\nname = \"shop\"\ndatabase = postgres://u:secret@x/db\n",
    ] {
        let parsed = parse(source);
        for d in &parsed.diagnostics {
            let rendered = d.render("p.toml");
            assert!(!rendered.contains("secret"), "{rendered}");
        }
        assert!(!parsed.is_valid());
    }
}

#[test]
fn invalid_route_templates() {
    check(
        &with_head(
            "[[service]]\nname = \"a\"\n[[service.route]]\npath = \"api/x\"\nstage = \"monolith\"\n[[service.route]]\npath = \"/files/{*rest}/meta\"\nstage = \"monolith\"\n[[service.route]]\npath = \"/u/:id\"\nstage = \"monolith\"\n",
        ),
        r"
p.toml:8:8: error: invalid route path `api/x`: it must start with `/` (in service `a`)
    help: write the path with literal segments, `{param}` and an optional trailing `{*rest}`, as in `/api/products/{id}`
p.toml:11:8: error: invalid route path `/files/{*rest}/meta`: `{*rest}` must be the last segment (in service `a`)
    help: write the path with literal segments, `{param}` and an optional trailing `{*rest}`, as in `/api/products/{id}`
p.toml:14:8: error: invalid route path `/u/:id`: `:id` looks like a parameter in another framework's syntax; write `{id}` (in service `a`)
    help: write the path with literal segments, `{param}` and an optional trailing `{*rest}`, as in `/api/products/{id}`",
    );
}

#[test]
fn unsupported_version() {
    check(
        "version = 2\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n",
        r"
p.toml:1:11: error: plan version 2 is not supported; this strangler reads version 1
    help: set `version = 1`, or use the strangler release that wrote this plan",
    );
    check(
        "[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n",
        r"
p.toml:1:1: error: the plan has no `version`
    help: add `version = 1` at the top of the file",
    );
}

#[test]
fn every_problem_in_one_file_is_listed() {
    // One file with a problem of each kind: nothing hides behind the first.
    check(
        "version = 3\n[monolith]\nname = \"shop\"\nupstream = \"shop:8080\"\n\
         [[service]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9001\"\ntypo = 1\n\
         [[service.route]]\npath = \"/x/{id}\"\nstage = \"live\"\n\
         [[service.table]]\nname = \"t\"\nstage = \"monolith\"\n\
         [[service]]\nname = \"a\"\n\
         [[service.route]]\npath = \"/x/{key}\"\nstage = \"shadow\"\n\
         [[service.route]]\npath = \"/bad{\"\nstage = \"monolith\"\n\
         [[service.table]]\nname = \"t\"\nstage = \"syncing\"\n",
        r#"
p.toml:1:11: error: plan version 3 is not supported; this strangler reads version 1
    help: set `version = 1`, or use the strangler release that wrote this plan
p.toml:4:12: error: upstream `shop:8080` of the monolith is not an http(s) URL: it has no `http://` or `https://` scheme
    help: write it as `http://host:port` or `https://host:port`
p.toml:8:1: error: unknown key `typo` in service `a`
    help: remove it; the keys of service `a` are: name, upstream, database, members, pinned, route, table, auth, require, forward_claims, rate_limit, strip_prefix, add_prefix, request_headers, response_headers, cors, diff, shadow_writes, slo, promote, timeouts
p.toml:16:8: error: service `a` is defined twice (first as service #1)
    help: give each service a unique name, or merge the two entries
p.toml:18:8: error: route * /x/{key} is listed twice in service `a`
    help: a request must have one destination: keep the route in one service, or split it by `methods`, `host` or `headers`
p.toml:19:9: error: route * /x/{key} of service `a` is at stage `shadow`, but the service has no `upstream`
    help: set `upstream = "http://…"` on service `a`, or keep the route at `monolith`
p.toml:21:8: error: invalid route path `/bad{`: segment `bad{` mixes text and braces; a parameter must be a whole segment, as in `/files/{name}` (in service `a`)
    help: write the path with literal segments, `{param}` and an optional trailing `{*rest}`, as in `/api/products/{id}`
p.toml:24:8: error: table `t` is listed twice in service `a`
    help: a table has one owner: keep it in one service (others read it through that service's API)
p.toml:25:9: error: table `t` of service `a` is at stage `syncing`, but the service has no `database`
    help: set `database = "postgres://…"` on service `a`, or keep the table at `monolith`
p.toml:25:9: error: table `t` of service `a` is at stage `syncing`, but `[monolith]` has no `database`
    help: set `database = "postgres://…"` under `[monolith]`, or keep the table at `monolith`"#,
    );
}

#[test]
fn semantic_checks() {
    check(
        &with_head(
            "[[service]]\nname = \"Cat Alog\"\nmembers = [\"shop::a\", \"shop::b\"]\npinned = [\"shop::c\"]\n\
             [[service.route]]\npath = \"/x\"\nstage = \"canary\"\n\
             [[service.route]]\npath = \"/y\"\nstage = \"monolith\"\npercent = 5\nsticky = \"header:x-user\"\n\
             [[service]]\nname = \"b\"\nmembers = [\"shop::a\"]\n",
        ),
        r#"
p.toml:6:8: error: service name `Cat Alog` is not valid
    help: use lowercase letters, digits, `-` and `_`, starting with a letter or digit, as in `catalog`
p.toml:8:11: error: pinned `shop::c` is not a member of service `Cat Alog`
    help: add `shop::c` to `members` of `Cat Alog`, or remove the pin
p.toml:11:9: error: route * /x of service `Cat Alog` is at stage `canary`, but the service has no `upstream`
    help: set `upstream = "http://…"` on service `Cat Alog`, or keep the route at `monolith`
p.toml:11:9: error: route * /x of service `Cat Alog` is at stage `canary` without a `percent`
    help: add `percent = 5` (the share of requests, 0–100, sent to the service)
p.toml:15:11: warning: route * /y of service `Cat Alog` has a `percent`, which only applies at stage `canary`
    help: remove it, or set `stage = "canary"`
p.toml:16:10: warning: route * /y of service `Cat Alog` has `sticky`, which only applies at stage `canary`
    help: remove it, or set `stage = "canary"`
p.toml:19:12: error: member `shop::a` is in services `Cat Alog` and `b`
    help: a code unit belongs to one service: remove it from the other"#,
    );
}

#[test]
fn type_errors_and_missing_keys() {
    check(
        "version = \"1\"\nmonolith = 3\n[[service]]\nmembers = \"shop::a\"\n[[service.route]]\nstage = \"live\"\nmethods = [\"get\", 1]\n[[service.table]]\nname = \"t\"\nrename = { a = 1 }\n",
        r#"
p.toml:1:11: error: `version` must be a whole number, not string
    help: write `version` as a bare integer, without quotes
p.toml:2:12: error: `monolith` must be a table, not integer
    help: write it as a `[monolith]` section
p.toml:3:1: error: [[service]] entry has no `name`
    help: add `name = "catalog"`
p.toml:4:11: error: `members` must be an array of strings, not string
    help: write `members = ["…", "…"]`
p.toml:5:1: error: [[service.route]] entry has no `path`
    help: add `path = "/api/items/{id}"`
p.toml:7:12: error: method `get` must be written in upper case (`GET`) (in a route of service #1)
    help: use upper-case HTTP methods such as GET, POST, PUT, PATCH, DELETE
p.toml:7:19: error: a method of a route of service #1 is integer, not a string
    help: write `methods = ["GET", "HEAD"]`
p.toml:8:1: error: table `t` of service #1 has no `stage`
    help: add `stage = "monolith"`
p.toml:10:16: error: `a` must be a string (the column's new name), not integer
    help: write `rename = { old_column = "new_column" }`"#,
    );
}

#[test]
fn syntax_errors_have_a_location() {
    let parsed = parse("version = 1\n[monolith\nname = 1\n");
    assert_eq!(parsed.diagnostics.len(), 1);
    let rendered = parsed.diagnostics[0].render("p.toml");
    assert!(rendered.starts_with("p.toml:2:"), "{rendered}");
    assert!(rendered.contains("invalid TOML"), "{rendered}");
}

#[test]
fn analyze_settings_are_checked() {
    check(
        &with_head(
            "[analyze]\ngranularity = \"class\"\nresolution = 0\nservices = 0\nseeds = 1\n[analyze.weights]\nreads = -1\nwrites = 6\nvibes = 2\n",
        ),
        r"
p.toml:6:15: error: unknown granularity `class` in [analyze]
    help: use `function`, `module` or `file`
p.toml:7:14: error: resolution 0 in [analyze] must be a positive number
    help: 1.25 is the default; higher gives more, smaller services
p.toml:8:12: error: services = 0 in [analyze] asks for no services
    help: ask for at least 1, or remove it to let the clustering choose
p.toml:9:1: error: unknown key `seeds` in [analyze]
    help: did you mean `seed`? The keys of [analyze] are: granularity, resolution, seed, services, weights
p.toml:11:9: error: weight -1 for `reads` in [analyze.weights] must be zero or more
    help: 0 ignores that kind of evidence
p.toml:13:1: error: unknown key `vibes` in [analyze.weights]
    help: remove it; the keys of [analyze.weights] are: reads, writes, calls, types, nesting, co_changes, references, co_writes",
    );
    let parsed = parse(&with_head(
        "[analyze]\nresolution = 1.5\nseed = 7\n[analyze.weights]\nreads = 1\n",
    ));
    assert!(parsed.is_valid(), "{:?}", parsed.diagnostics);
    let settings = parsed.plan.analyze.unwrap();
    assert_eq!(settings.resolution, Some(1.5));
    assert!((settings.weights["reads"] - 1.0).abs() < f64::EPSILON);
}

#[test]
fn host_and_header_matches() {
    // The same path in two services is fine when their host or header
    // matches differ (the more specific route wins); the same conditions
    // twice are a conflict; bad hosts and header names are named.
    check(
        &with_head(
            "[[service]]\nname = \"a\"\n[[service.route]]\npath = \"/p\"\nstage = \"monolith\"\nhost = \"api.example.com\"\n\
             [[service.route]]\npath = \"/p\"\nstage = \"monolith\"\nheaders = { x-tenant = \"beta\" }\n\
             [[service]]\nname = \"b\"\n[[service.route]]\npath = \"/p\"\nstage = \"monolith\"\n\
             [[service.route]]\npath = \"/p\"\nstage = \"monolith\"\nhost = \"API.example.com\"\n\
             [[service.route]]\npath = \"/r\"\nstage = \"monolith\"\nhost = \"http://x.com/\"\nheaders = { \"x y\" = \"1\", host = \"z\", x-ok = 3 }\n",
        ),
        r#"
p.toml:21:8: error: route * /p [host=API.example.com] is claimed by services `a` and `b`
    help: a request must have one destination: keep the route in one service, or split it by `methods`, `host` or `headers`
p.toml:27:8: error: host `http://x.com/` of route * /r of service `b` is not a host name
    help: write a bare host name such as `api.example.com`, or `*.example.com` for any subdomain (no scheme, port or path)
p.toml:28:21: error: `x y` in the headers of route * /r of service `b` is not a valid header name
    help: use letters, digits and `-`, as in `x-tenant`
p.toml:28:33: error: route * /r of service `b` matches the `host` header under `headers`
    help: use the route's `host = "…"` key instead
p.toml:28:45: error: `x-ok` must be a string (the header's required value), not integer
    help: write `headers = { x-tenant = "beta" }`"#,
    );
}

/// The ownership rules: a route that writes a table is answered by its
/// service only once the service owns the table, and an owned table's
/// writers are its service's and `live`. Each case is one plan and the
/// diagnostics it must give, with their lines.
#[test]
fn writes_follow_ownership() {
    let db = "database = \"postgres://u@h/shop\"\n";
    let service = |routes: &str, tables: &str| {
        format!(
            "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n{db}\
             [[service]]\nname = \"orders\"\nupstream = \"http://127.0.0.1:9001\"\n\
             database = \"postgres://u@h/orders\"\n{routes}{tables}"
        )
    };
    let route = |stage: &str, extra: &str| {
        format!(
            "[[service.route]]\npath = \"/api/orders\"\nmethods = [\"POST\"]\nstage = \"{stage}\"\n{extra}writes = [\"orders\"]\n"
        )
    };
    let table =
        |stage: &str| format!("[[service.table]]\nname = \"orders\"\nstage = \"{stage}\"\n");
    let cases: &[(&str, String, &str)] = &[
        (
            "shadow while syncing is fine",
            service(&route("shadow", ""), &table("syncing")),
            "",
        ),
        (
            "canary 0 while syncing is fine",
            service(&route("canary", "percent = 0\n"), &table("syncing")),
            "",
        ),
        (
            "live with the table owned",
            service(&route("live", ""), &table("owned")),
            "",
        ),
        (
            "live after decommissioning",
            service(&route("live", ""), &table("decommissioned")),
            "",
        ),
        (
            "canary above 0 before the cutover",
            service(&route("canary", "percent = 10\n"), &table("syncing")),
            "p.toml:13:9: error: route POST /api/orders of service `orders` is at stage `canary` but writes table `orders`, which is at `syncing`: its writes would reach the service's copy while the monolith still owns the table\n    help: cut the table over first: `strangler cutover --plan strangler.toml --service orders --table orders` (it moves the table and this route together), or keep the route at `shadow`",
        ),
        (
            "live writing a table nobody took over",
            service(&route("live", ""), ""),
            "p.toml:13:9: error: route POST /api/orders of service `orders` is at stage `live` but writes table `orders`, which no service has taken over\n    help: add `[[service.table]] name = \"orders\"` to service `orders`, sync it and cut it over (`strangler cutover`), or keep the route at `shadow`",
        ),
        (
            "owned while a writer still goes to the monolith",
            service(&route("shadow", ""), &table("owned")),
            "p.toml:17:9: error: table `orders` of service `orders` is `owned`, but route POST /api/orders, which writes it, is at `shadow`: its writes would reach the monolith's copy\n    help: set the route to `live`, or roll the table back with its routes: `strangler rollback --plan strangler.toml --service orders --table orders`",
        ),
        (
            "a write that is not a table name",
            service(
                "[[service.route]]\npath = \"/x\"\nstage = \"monolith\"\nwrites = [\"no such\"]\n",
                "",
            ),
            "p.toml:13:11: error: `no such` in the writes of route * /x of service `orders` is not a table name\n    help: write the table's name, schema-qualified when not in public: `orders` or `billing.invoices`",
        ),
    ];
    for (what, source, expect) in cases {
        let parsed = parse(source);
        let got: Vec<String> = parsed
            .diagnostics
            .iter()
            .map(|d| d.render("p.toml"))
            .collect();
        assert_eq!(got.join("\n"), expect.trim(), "{what}:\n{source}");
    }
    // A table owned by one service and written by another's route.
    let two = format!(
        "{}[[service]]\nname = \"billing\"\nupstream = \"http://127.0.0.1:9002\"\n[[service.route]]\npath = \"/api/pay\"\nstage = \"live\"\nwrites = [\"orders\"]\n",
        service(&route("live", ""), &table("owned"))
    );
    check(
        &two,
        "p.toml:17:9: error: table `orders` of service `orders` is `owned`, but route * /api/pay of service `billing` writes it\n    help: a table is written by one service: move the route to `orders`, or roll the table back (`strangler rollback --service orders --table orders`)\n\
         p.toml:23:9: error: route * /api/pay of service `billing` is at stage `live` but writes table `orders`, which belongs to service `orders`\n    help: a table is written by one service: move the route to service `orders`, or the table to `billing`",
    );
}

#[test]
fn proxies_are_checked() {
    check(
        &with_head(
            "[[proxy]]\nadmin = \"http://127.0.0.1:9901\"\ntoken_env = \"STRANGLER_ADMIN_TOKEN\"\n\
             [[proxy]]\nadmin = \"ftp://x\"\ntoken_file = \"/t\"\ntoken_env = \"bad name\"\n",
        ),
        "p.toml:9:9: error: admin API `ftp://x` of proxy #2 is not an http(s) URL: its scheme is `ftp`\n    help: write it as `http://host:port` or `https://host:port`\n\
         p.toml:11:13: error: proxy #2 sets both `token_file` and `token_env`\n    help: keep one: the file that holds the admin token, or the environment variable that does\n\
         p.toml:11:13: error: `bad name` (proxy #2) is not an environment variable name\n    help: use letters, digits and `_`, as in `STRANGLER_ADMIN_TOKEN`",
    );
}
