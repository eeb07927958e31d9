//! Gateway keys in the plan: read on routes, services and `[gateway]`,
//! resolved key by key, written back without losing comments, and every
//! bad value reported with its line, column and a fix.

use strangler_plan::{Auth, PlanFile, RateKey, parse};

const HEAD: &str =
    "version = 1\n[monolith]\nname = \"shop\"\nupstream = \"http://127.0.0.1:8080\"\n";

const GOOD: &str = r#"
[gateway]
rate_limit = { per_second = 100, burst = 200 }
response_headers = { set = { x-frame-options = "DENY" } }

[[service]]
name = "orders"
upstream = "http://127.0.0.1:9001"
# Every route of the service verifies tokens.
auth = { jwt = { secret_file = "hs256.key", issuer = "shop", audience = "api" } }
forward_claims = { sub = "x-user-id" }

  [[service.route]]
  path = "/api/orders/{id}"
  stage = "live"
  require = { scope = "orders:read" }
  rate_limit = { per_second = 50, burst = 100, key = "claim:sub" }  # per user
  strip_prefix = "/api"
  add_prefix = "/v2"
  request_headers = { set = { x-env = "prod" }, remove = ["x-debug"] }
  cors = { origins = ["https://app.example.com"], headers = ["authorization"], max_age = 600, credentials = true }

  [[service.route]]
  path = "/api/orders/health"
  stage = "live"
  auth = "none"
"#;

#[test]
fn keys_resolve_route_then_service_then_plan() {
    let parsed = parse(&format!("{HEAD}{GOOD}"));
    let errors: Vec<String> = parsed
        .diagnostics
        .iter()
        .map(|d| d.render("p.toml"))
        .collect();
    assert!(parsed.is_valid(), "{errors:?}");
    let plan = &parsed.plan;
    let service = &plan.services[0];
    let show = plan.gateway_for(service, &service.routes[0]);
    let jwt = show.jwt().expect("the service's JWT applies to the route");
    assert_eq!(jwt.secret_file.as_deref(), Some("hs256.key"));
    assert_eq!(show.forward_claims["sub"], "x-user-id");
    let limit = show.rate_limit.as_ref().expect("the route's own limit");
    assert_eq!(
        (limit.per_second, limit.key.clone()),
        (50, Some(RateKey::Claim("sub".into())))
    );
    assert_eq!(show.strip_prefix.as_deref(), Some("/api"));
    assert!(
        show.response_headers.is_some(),
        "the plan's default applies"
    );
    let health = plan.gateway_for(service, &service.routes[1]);
    assert_eq!(health.auth, Some(Auth::None), "the route opts out");
    assert_eq!(health.jwt(), None);
    assert_eq!(
        health.rate_limit.as_ref().map(|l| l.per_second),
        Some(100),
        "the plan's default limit"
    );
}

#[test]
fn saving_keeps_gateway_keys_and_their_comments() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strangler.toml");
    std::fs::write(&path, format!("{HEAD}{GOOD}")).unwrap();
    let mut file = PlanFile::open(&path).unwrap();
    let mut plan = file.plan().clone();
    // A stage edit, as the planner makes, leaves the gateway keys alone.
    plan.services[0].routes[1].stage = strangler_plan::RouteStage::Canary;
    plan.services[0].routes[1].percent = Some(5);
    file.save(&plan).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("key = \"claim:sub\" }  # per user"), "{text}");
    assert!(text.contains("# Every route of the service verifies tokens."));
    // A gateway edit is written, and reads back the same.
    plan.services[0].routes[0].gateway.strip_prefix = None;
    plan.services[0].gateway.forward_claims.clear();
    plan.gateway.rate_limit = None;
    file.save(&plan).unwrap();
    let reread = PlanFile::open(&path).unwrap();
    assert_eq!(reread.plan(), &plan);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("strip_prefix"), "{text}");
    assert!(!text.contains("forward_claims"), "{text}");
}

/// Parses `HEAD` + `rest` and compares the rendered diagnostics.
fn check(rest: &str, expect: &str) {
    let parsed = parse(&format!("{HEAD}{rest}"));
    let got: Vec<String> = parsed
        .diagnostics
        .iter()
        .map(|d| d.render("p.toml"))
        .collect();
    assert_eq!(got.join("\n"), expect.trim(), "for:\n{rest}");
}

const SERVICE: &str = "[[service]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9001\"\n[[service.route]]\npath = \"/api/x\"\nstage = \"live\"\n";

#[test]
fn bad_gateway_values_are_reported_where_they_are() {
    let cases: &[(&str, &str)] = &[
        (
            "auth = { jwt = { secret_file = \"k\", keys = \"j.json\" } }\n",
            "p.toml:11:16: error: the JWT settings of route * /api/x of service `a` name 2 key sources; exactly one is needed\n    help: set one of `secret_file = \"hs256.key\"` (HMAC), `keys = \"jwks.json\"` (a JWKS or PEM file) or `jwks_url = \"https://…/jwks.json\"`",
        ),
        (
            "auth = { jwt = { secert_file = \"k\" } }\n",
            "p.toml:11:8: error: `auth` of route `/api/x` of service `a` is not valid: unknown field `secert_file`, expected one of `secret_file`, `keys`, `jwks_url`, `issuer`, `audience`, `algorithms`, `leeway`, `cookie`\n    help: write `auth = \"none\"` or `auth = { jwt = { secret_file = \"hs256.key\", issuer = \"shop\", audience = \"api\" } }` (or `keys = \"jwks.json\"`, `jwks_url = \"https://…\"`)",
        ),
        (
            "auth = { jwt = { secret_file = \"k\", algorithms = [\"RS256\"] } }\n",
            "p.toml:11:51: error: JWT algorithm `RS256` of route * /api/x of service `a` does not fit its keys\n    help: a `secret_file` verifies HS256, HS384 or HS512 only; list those, or name public keys with `keys`/`jwks_url`",
        ),
        (
            "require = { scope = \"orders:read\" }\n",
            "p.toml:11:11: error: route * /api/x of service `a` requires claims but verifies no token\n    help: add `auth = { jwt = { … } }` here, to its service or to `[gateway]`",
        ),
        (
            "rate_limit = { per_second = 0 }\n",
            "p.toml:11:29: error: the rate limit of route * /api/x of service `a` allows 0 requests per second\n    help: set `per_second` to 1 or more; to shut a route, keep it on the monolith",
        ),
        (
            "rate_limit = { per_second = 5, key = \"cookie:x\" }\n",
            "p.toml:11:14: error: `rate_limit` of route `/api/x` of service `a` is not valid: rate limit key `cookie:x` is not `ip`, `header:NAME` or `claim:NAME`\n    help: write `rate_limit = { per_second = 50, burst = 100, key = \"ip\" }` (key: `ip`, `header:NAME` or `claim:NAME`)",
        ),
        (
            "strip_prefix = \"/v1\"\n",
            "p.toml:11:16: error: route * /api/x of service `a` does not start with the prefix `/v1` it strips\n    help: set `strip_prefix` on this route to a prefix of its path, or remove it",
        ),
        (
            "strip_prefix = \"api/\"\n",
            "p.toml:11:16: error: `strip_prefix` `api/` of route * /api/x of service `a` is not a path prefix\n    help: start it with `/`, end it without one, and use no `{…}`, `?`, `#`, `%` or spaces: `\"/api\"`",
        ),
        (
            "request_headers = { set = { content-length = \"0\" } }\n",
            "p.toml:11:46: error: the header rules of route * /api/x of service `a` change `content-length`, which the proxy must keep\n    help: framing headers and the proxy's own `x-strangler-*` headers cannot be set or removed",
        ),
        (
            "request_headers = { remove = [\"X-Strangler-Shadow\"] }\n",
            "p.toml:11:31: error: the header rules of route * /api/x of service `a` change `X-Strangler-Shadow`, which the proxy must keep\n    help: framing headers and the proxy's own `x-strangler-*` headers cannot be set or removed",
        ),
        (
            "cors = { origins = [\"*\"], credentials = true }\n",
            "p.toml:11:21: error: the CORS rule of route * /api/x of service `a` allows every origin (`*`) with credentials\n    help: browsers refuse `*` with credentials (Fetch standard): list the origins",
        ),
        (
            "cors = { origins = [\"https://app.example.com/x\"] }\n",
            "p.toml:11:21: error: CORS origin `https://app.example.com/x` of route * /api/x of service `a` is not an origin\n    help: write scheme, host and optional port, with no path: `https://app.example.com`",
        ),
        (
            "auth = { jwt = { jwks_url = \"https://keys.example.com/jwks\", algorithms = [\"ES256\"] } }\nforward_claims = { sub = \"host\" }\n",
            "p.toml:12:26: error: claim `sub` of route * /api/x of service `a` would overwrite header `host`, which the proxy must keep\n    help: forward it as an application header such as `x-user-id`",
        ),
        (
            "diff = { ignore = [\"$.ok\", \"generated_at\"] }\n",
            "p.toml:11:28: error: JSON path `generated_at` does not start with `$`, in the diff settings of route * /api/x of service `a`\n    help: write paths as `$.generated_at`, `$.items[*].etag` or `$..id`",
        ),
        (
            "diff = { headers = [\"etag\", \"bad header\"], noise_percent = 101 }\n",
            "p.toml:11:29: error: `bad header` in the diff settings of route * /api/x of service `a` is not a header name\n    help: name response headers such as `content-type` or `etag`\np.toml:11:60: error: `noise_percent` 101 of route * /api/x of service `a` is above 100\n    help: use 0 to 100: the share of safe shadowed requests sent twice to the monolith",
        ),
        (
            "diff = { ignored = [\"$.a\"] }\n",
            "p.toml:11:8: error: `diff` of route `/api/x` of service `a` is not valid: unknown field `ignored`, expected one of `ignore`, `headers`, `noise_percent`, `off`\n    help: write `diff = { ignore = [\"$.generated_at\", \"$..etag\"], headers = [\"content-type\"], noise_percent = 10 }`",
        ),
        (
            "shadow_writes = \"yes\"\n",
            "p.toml:11:17: error: `shadow_writes` of route `/api/x` of service `a` is not valid: invalid type: string \"yes\", expected a boolean\n    help: write `shadow_writes = true` (the service runs shadow writes as a dry run) or `false`",
        ),
        (
            "slo = { error_rate = 1.5, p99_ratio = 0.5, window = \"60 s\", min_requests = 0 }\n",
            "p.toml:11:22: error: `error_rate` 1.5 of route * /api/x of service `a` is not between 0 and 1\n    help: write a fraction: `0.01` is 1 %\np.toml:11:39: error: `p99_ratio` 0.5 of route * /api/x of service `a` is below 1\n    help: write how many times the monolith's p99 the service may take: `1.2`\np.toml:11:53: error: the SLO window `60 s` of route * /api/x of service `a` is not a duration\n    help: write a whole number and a unit: `\"60s\"`, `\"500ms\"`, `\"5m\"`\np.toml:11:76: error: `min_requests` of route * /api/x of service `a` is 0\n    help: set it to 1 or more: a window with fewer requests decides nothing",
        ),
        (
            "slo = { window = \"5m\" }\n",
            "p.toml:11:7: error: the SLO of route * /api/x of service `a` sets no objective\n    help: add `error_rate = 0.01` and/or `p99_ratio = 1.2`",
        ),
        (
            "promote = [1, 5, 5, 120]\n",
            "p.toml:11:11: error: route * /api/x of service `a` is promoted step by step but has no SLO to judge the steps by\n    help: add `slo = { error_rate = 0.01, window = \"60s\" }` here, to its service or to `[gateway]`, or remove `promote`\np.toml:11:18: error: promotion step 5 of route * /api/x of service `a` does not go up from 5\n    help: list canary percents in increasing order: `promote = [1, 5, 25, 50, 100]`\np.toml:11:21: error: promotion step 120 of route * /api/x of service `a` is not a percent from 1 to 100\n    help: list canary percents in increasing order: `promote = [1, 5, 25, 50, 100]`",
        ),
        (
            "timeouts = { read = \"5 s\", total = \"0s\" }\n",
            "p.toml:11:21: error: the read timeout `5 s` of route * /api/x of service `a` is not a duration above zero\n    help: write a whole number and a unit: `\"500ms\"`, `\"5s\"`, `\"2m\"`\np.toml:11:36: error: the total timeout `0s` of route * /api/x of service `a` is not a duration above zero\n    help: write a whole number and a unit: `\"500ms\"`, `\"5s\"`, `\"2m\"`",
        ),
    ];
    for (rest, expect) in cases {
        check(&format!("{SERVICE}{rest}"), expect);
    }
}

#[test]
fn a_bad_jwks_url_is_quoted_masked() {
    let parsed = parse(&format!(
        "{HEAD}{SERVICE}auth = {{ jwt = {{ jwks_url = \"ftp://u:hunter2@keys.example.com/jwks\" }} }}\n"
    ));
    let text: Vec<String> = parsed
        .diagnostics
        .iter()
        .map(|d| d.render("p.toml"))
        .collect();
    let text = text.join("\n");
    assert!(!parsed.is_valid());
    assert!(text.contains("JWKS URL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}
