//! The scenario: set everything up, write and edit the plan, and step the
//! category tree from the monolith to the service, back, and forward again
//! to the decommissioned table, under load.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;
use strangler_plan::{Method, Plan, PlanFile, Proxy, RouteStage, TableStage, mask_url};

use crate::Args;
use crate::load::Load;
use crate::report::{self, Step, Summary};
use crate::world::{
    self, HttpClient, Process, cluster, connect, free_port, get, http_client, wait_for,
    wait_healthy,
};

/// How many steps keep the load on for `--duration / STEPS` each.
pub const STEPS: u64 = 15;

/// The service the category tree moves to.
const SERVICE: &str = "catalog";
/// The table the service takes over, and the one it reads a copy of.
const OWNED: &str = "categories";
const COPIED: &str = "products";
/// The moved routes: path, methods, and the tables the route writes.
const ROUTES: &[(&str, &[Method], &[&str])] = &[
    ("/api/catalog/categories", &[Method::Get], &[]),
    ("/api/catalog/categories", &[Method::Post], &[OWNED]),
    ("/api/catalog/c/{*path}", &[Method::Get], &[]),
];

/// Everything running.
struct Run<'a> {
    args: &'a Args,
    dir: PathBuf,
    plan: PathBuf,
    http: HttpClient,
    admin: String,
    admin_token: String,
    monolith_uri: String,
    service_uri: String,
    service_port: u16,
    monolith_port: u16,
    service: Option<Process>,
    steps: Vec<Step>,
    held_ms: Vec<u64>,
    faults: Vec<(Duration, Duration)>,
    load: Option<Load>,
}

/// Runs the whole scenario and prints its report.
#[allow(clippy::too_many_lines)] // The scenario reads top to bottom.
pub async fn run(args: &Args) -> Result<Summary> {
    let begun = Instant::now();
    let (dir, temp) = if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        (dir.clone(), None)
    } else {
        let temp = tempdir()?;
        (temp.clone(), Some(temp))
    };
    println!("strangle-demo: logs, plan and archive in {}", dir.display());

    let monolith_db = cluster("shop").await?;
    let service_db = cluster(SERVICE).await?;
    println!(
        "clusters: monolith {}, service {}",
        mask_url(monolith_db.connection_uri()),
        mask_url(service_db.connection_uri())
    );
    let http = http_client();

    let monolith_port = free_port()?;
    let monolith_url = format!("http://127.0.0.1:{monolith_port}");
    let mut monolith = Process::start(
        "monolith",
        &args.monolith,
        &[],
        &[
            ("DATABASE_URL", monolith_db.connection_uri()),
            ("LISTEN_ADDR", &format!("127.0.0.1:{monolith_port}")),
            ("RUST_LOG", "warn"),
        ],
        &dir,
    )?;
    wait_healthy(&http, &mut monolith, &format!("{monolith_url}/healthz")).await?;
    let seed = world::seed(&connect(monolith_db.connection_uri()).await?).await?;
    println!(
        "monolith: migrated and seeded ({} products, {} customers)",
        seed.products.len(),
        seed.cart_tokens.len() + seed.checkout_users.len()
    );

    let service_port = free_port()?;
    let mut run = Run {
        args,
        plan: dir.join("strangler.toml"),
        dir: dir.clone(),
        http,
        admin: String::new(),
        admin_token: format!("demo-admin-token-{}", std::process::id()),
        monolith_uri: monolith_db.connection_uri().to_owned(),
        service_uri: service_db.connection_uri().to_owned(),
        service_port,
        monolith_port,
        service: None,
        steps: Vec::new(),
        held_ms: Vec::new(),
        faults: Vec::new(),
        load: None,
    };
    run.start_service().await?;

    run.analyze()?;
    run.move_area()?;
    let proxy_port = free_port()?;
    let admin_port = free_port()?;
    run.admin = format!("http://127.0.0.1:{admin_port}");
    let token_file = dir.join("admin.token");
    std::fs::write(&token_file, &run.admin_token)
        .with_context(|| format!("writing {}", token_file.display()))?;
    run.list_proxy(&token_file)?;
    let plan_arg = run.plan.display().to_string();
    let mut proxy = Process::start(
        "proxy",
        &args.strangler,
        &[
            "proxy",
            "--plan",
            &plan_arg,
            "--listen",
            &format!("127.0.0.1:{proxy_port}"),
            "--admin",
            &format!("127.0.0.1:{admin_port}"),
            "--admin-token-file",
            &token_file.display().to_string(),
        ],
        &[("RUST_LOG", "warn")],
        &dir,
    )?;
    let mut sync = Process::start(
        "sync",
        &args.strangler,
        &["sync", "run", "--plan", &plan_arg],
        &[("RUST_LOG", "info")],
        &dir,
    )?;
    wait_healthy(
        &run.http,
        &mut proxy,
        &format!("http://127.0.0.1:{proxy_port}/healthz"),
    )
    .await?;
    run.wait_streaming("forward", &mut sync).await?;
    println!("proxy on 127.0.0.1:{proxy_port}, sync streaming {OWNED} and {COPIED} to the service");
    run.status().await?;

    run.load = Some(Load::start(
        format!("http://127.0.0.1:{proxy_port}"),
        seed,
        args.rate,
    ));
    println!(
        "load: {} requests/s, open loop, {:?} per step",
        args.rate,
        args.dwell()
    );

    let outcome = steps(&mut run, &mut sync).await;

    let load = run.load.take().context("the load was not running")?;
    let tally = load.stop().await;
    for process in [&mut monolith, &mut proxy, &mut sync] {
        process.check_running()?;
    }
    let summary = report::check(
        &tally,
        &run.steps,
        &run.faults,
        &run.monolith_uri,
        &run.service_uri,
        run.held_ms.iter().copied().max().unwrap_or(0),
        begun.elapsed(),
    )
    .await?;
    summary.print();
    if let Err(e) = outcome {
        println!("strangle-demo: logs kept in {}", dir.display());
        return Err(e);
    }
    if summary.passed() {
        if let Some(temp) = &temp {
            let _ = std::fs::remove_dir_all(temp);
        }
    } else {
        println!("strangle-demo: logs kept in {}", dir.display());
    }
    Ok(summary)
}

/// The three passes: forward to owned, back from every stage, forward to
/// the decommissioned table.
async fn steps(run: &mut Run<'_>, sync: &mut Process) -> Result<()> {
    // Pass 1: forward to owned.
    run.dwell("monolith (baseline)").await?;
    run.reads("shadow", RouteStage::Shadow, None).await?;
    run.reads("canary 10 %", RouteStage::Canary, Some(10))
        .await?;
    run.reads("canary 50 %", RouteStage::Canary, Some(50))
        .await?;
    if run.args.fault {
        run.fault("fault: service killed at canary 50 %").await?;
    }
    run.reads("reads live", RouteStage::Live, None).await?;
    run.cutover(sync).await?;
    if run.args.fault {
        run.fault("fault: service killed while it owns the table")
            .await?;
    }
    // Pass 2: back from every stage.
    run.rollback(sync).await?;
    run.reads("back to canary 10 %", RouteStage::Canary, Some(10))
        .await?;
    run.reads("back to monolith", RouteStage::Monolith, None)
        .await?;
    // Pass 3: forward again, to the end.
    run.reads("shadow again", RouteStage::Shadow, None).await?;
    run.reads("canary 10 % again", RouteStage::Canary, Some(10))
        .await?;
    run.reads("canary 50 % again", RouteStage::Canary, Some(50))
        .await?;
    run.reads("reads live again", RouteStage::Live, None)
        .await?;
    run.cutover(sync).await?;
    run.decommission().await?;

    Ok(())
}

impl Run<'_> {
    async fn start_service(&mut self) -> Result<()> {
        let mut service = Process::start(
            "service",
            &self.args.service,
            &[],
            &[
                ("DATABASE_URL", &self.service_uri),
                ("LISTEN_ADDR", &format!("127.0.0.1:{}", self.service_port)),
                (
                    "ACCOUNTS_URL",
                    &format!("http://127.0.0.1:{}", self.monolith_port),
                ),
                ("RUST_LOG", "warn"),
            ],
            &self.dir,
        )?;
        wait_healthy(
            &self.http,
            &mut service,
            &format!("http://127.0.0.1:{}/healthz", self.service_port),
        )
        .await?;
        self.service = Some(service);
        Ok(())
    }

    /// `strangler analyze REPO --out PLAN`.
    fn analyze(&self) -> Result<()> {
        let plan = self.plan.display().to_string();
        let repo = self.args.repo.display().to_string();
        let out = std::process::Command::new(&self.args.strangler)
            .args(["analyze", &repo, "--out", &plan])
            .output()
            .with_context(|| format!("running {}", self.args.strangler.display()))?;
        if !out.status.success() {
            bail!(
                "strangler analyze {repo} failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        println!("strangler analyze {repo} --out {plan}: done");
        Ok(())
    }

    /// Moves the category tree to the service in the plan, as one would in
    /// the planner: through `PlanFile`, which validates every save.
    fn move_area(&self) -> Result<()> {
        let monolith_http = format!("http://127.0.0.1:{}", self.monolith_port);
        let service_http = format!("http://127.0.0.1:{}", self.service_port);
        let (monolith_db, service_db) = (self.monolith_uri.clone(), self.service_uri.clone());
        edit(&self.plan, |plan| {
            plan.monolith.upstream = monolith_http;
            plan.monolith.database = Some(monolith_db);
            // The analyzer's suggestion puts the category tree in `catalog`
            // already; its routes and tables are edited where they are.
            let service = plan.service_mut(SERVICE).with_context(|| {
                format!("the analyzer suggested no service `{SERVICE}`; see the plan")
            })?;
            service.upstream = Some(service_http);
            service.database = Some(service_db);
            for (path, methods, writes) in ROUTES {
                let route = service
                    .routes
                    .iter_mut()
                    .find(|r| r.path.as_str() == *path && r.methods.as_deref() == Some(*methods))
                    .with_context(|| format!("no route {path} {methods:?} in `{SERVICE}`"))?;
                // The service writes its own audit table, not accounts'
                // `audit_log` (fixtures/shop-catalog/README.md).
                route.writes = writes.iter().map(|&t| t.to_owned()).collect();
            }
            for name in [OWNED, COPIED] {
                let table = service
                    .tables
                    .iter_mut()
                    .find(|t| t.name == name)
                    .with_context(|| format!("no table {name} in `{SERVICE}`"))?;
                // (`products.search_vector`, generated in the monolith, is
                // not replicated and needs no `exclude`.)
                table.stage = TableStage::Syncing;
            }
            Ok(())
        })?;
        println!(
            "plan: {SERVICE} takes {} routes and the tables {OWNED} (to own) and {COPIED} (a read copy), \
             saved through PlanFile",
            ROUTES.len()
        );
        Ok(())
    }

    /// Lists the proxy in the plan so cutovers fence it.
    fn list_proxy(&self, token_file: &Path) -> Result<()> {
        let admin = self.admin.clone();
        let token_file = token_file.display().to_string();
        edit(&self.plan, |plan| {
            plan.proxies = vec![Proxy {
                admin,
                token_file: Some(token_file),
                token_env: None,
            }];
            Ok(())
        })
    }

    /// Keeps the load on for one step's dwell, recording the step, and
    /// prints `strangler status`.
    async fn dwell(&mut self, name: &str) -> Result<()> {
        let tally = &self.load.as_ref().context("no load")?.tally;
        let index = self.steps.len();
        tally.step.store(index, Ordering::SeqCst);
        let fallbacks = self.fallbacks().await?;
        tokio::time::sleep(self.args.dwell()).await;
        let fallbacks = self.fallbacks().await?.saturating_sub(fallbacks);
        self.steps.push(Step {
            name: name.to_owned(),
            fallbacks,
        });
        println!("\n== {name}");
        self.status().await
    }

    /// Moves the read routes to `stage` and waits until the proxy serves it.
    async fn reads(&mut self, name: &str, stage: RouteStage, percent: Option<u8>) -> Result<()> {
        edit(&self.plan, |plan| {
            let service = plan
                .service_mut(SERVICE)
                .context("the plan lost the service")?;
            for route in &mut service.routes {
                if ROUTES
                    .iter()
                    .any(|(p, _, w)| w.is_empty() && route.path.as_str() == *p)
                    && route.writes.is_empty()
                {
                    route.stage = stage;
                    route.percent = percent;
                }
            }
            Ok(())
        })?;
        self.wait_proxy(stage, percent).await?;
        self.dwell(name).await
    }

    /// Waits until the proxy's admin API shows the read routes at `stage`.
    async fn wait_proxy(&self, stage: RouteStage, percent: Option<u8>) -> Result<()> {
        let url = format!("{}/routes", self.admin);
        wait_for(
            &format!("the proxy to serve the reads at {}", stage.as_str()),
            Duration::from_secs(30),
            || async {
                let (status, body) = get(&self.http, &url, Some(&self.admin_token)).await?;
                if status != 200 {
                    bail!("GET {url}: {status}");
                }
                let routes: Value = serde_json::from_slice(&body)?;
                let shown = routes["routes"].as_array().is_some_and(|routes| {
                    ROUTES
                        .iter()
                        .filter(|(_, _, w)| w.is_empty())
                        .all(|(path, _, _)| {
                            routes.iter().any(|r| {
                                r["path"] == *path
                                    && r["writes"].as_array().is_some_and(Vec::is_empty)
                                    && r["stage"] == stage.as_str()
                                    && (stage != RouteStage::Canary
                                        || r["percent"].as_u64() == percent.map(u64::from))
                            })
                        })
                });
                Ok(shown.then_some(()))
            },
        )
        .await
    }

    /// The proxy's fallbacks so far, over every route.
    async fn fallbacks(&self) -> Result<u64> {
        let url = format!("{}/routes", self.admin);
        let (status, body) = get(&self.http, &url, Some(&self.admin_token)).await?;
        if status != 200 {
            bail!("GET {url}: {status}");
        }
        let routes: Value = serde_json::from_slice(&body)?;
        Ok(routes["routes"].as_array().map_or(0, |routes| {
            routes
                .iter()
                .filter_map(|r| r["fallbacks"].as_object())
                .flat_map(|f| f.values().filter_map(Value::as_u64))
                .sum()
        }))
    }

    /// `strangler cutover` of the owned table with its write route.
    async fn cutover(&mut self, sync: &mut Process) -> Result<()> {
        self.wait_streaming("forward", sync).await?;
        let out = self
            .strangler(&["cutover", "--table", OWNED, "--timeout", "30s"])
            .await?;
        self.held_ms.push(held_ms(&out));
        println!("\n{}", out.trim_end());
        self.wait_streaming("reverse", sync).await?;
        self.dwell(&format!("cutover, {OWNED} owned")).await
    }

    async fn rollback(&mut self, sync: &mut Process) -> Result<()> {
        self.wait_streaming("reverse", sync).await?;
        let out = self
            .strangler(&["rollback", "--table", OWNED, "--timeout", "30s"])
            .await?;
        self.held_ms.push(held_ms(&out));
        println!("\n{}", out.trim_end());
        self.wait_streaming("forward", sync).await?;
        self.dwell(&format!("rollback, {OWNED} syncing")).await
    }

    async fn decommission(&mut self) -> Result<()> {
        let archive = self.dir.join(format!("{OWNED}.copy")).display().to_string();
        let out = self
            .strangler(&[
                "decommission",
                "--table",
                OWNED,
                "--archive",
                &archive,
                "--watch",
                "2s",
            ])
            .await?;
        println!("\n{}", out.trim_end());
        self.dwell(&format!("{OWNED} decommissioned")).await
    }

    /// Kills the service, keeps the load on for a step, starts it again.
    async fn fault(&mut self, name: &str) -> Result<()> {
        let started = self.load.as_ref().map(Load::started).context("no load")?;
        let from = started.elapsed();
        if let Some(mut service) = self.service.take() {
            service.kill().await?;
        }
        println!("\n{name}");
        self.dwell(name).await?;
        self.start_service().await?;
        // The proxy ejected the service after its failed requests and takes
        // it back when the ejection is over (30 s); until then its routes
        // go to the monolith. Requests started until then are in the
        // fault's window.
        let url = format!("{}/routes", self.admin);
        wait_for(
            "the proxy to take the restarted service back",
            Duration::from_secs(120),
            || async {
                let (status, body) = get(&self.http, &url, Some(&self.admin_token)).await?;
                if status != 200 {
                    bail!("GET {url}: {status}");
                }
                let routes: Value = serde_json::from_slice(&body)?;
                let back = routes["routes"].as_array().is_some_and(|routes| {
                    routes.iter().any(|r| {
                        r["service"] == SERVICE && r["upstream"]["available"] == Value::Bool(true)
                    })
                });
                Ok(back.then_some(()))
            },
        )
        .await?;
        let to = started.elapsed();
        println!(
            "the proxy takes the service again after {:.1} s",
            to.saturating_sub(from).as_secs_f64()
        );
        self.faults.push((from, to));
        Ok(())
    }

    /// Runs `strangler <command> --plan PLAN --service catalog args…`.
    async fn strangler(&self, args: &[&str]) -> Result<String> {
        let plan = self.plan.display().to_string();
        let mut all = vec![args[0], "--plan", &plan, "--service", SERVICE];
        all.extend_from_slice(&args[1..]);
        // The moves' own log (the catch-up rounds among it) goes to
        // moves.log with the others, for when a step fails.
        let out = tokio::process::Command::new(&self.args.strangler)
            .args(&all)
            .env("RUST_LOG", "warn,strangler_sync::cutover=debug")
            .output()
            .await
            .with_context(|| format!("running strangler {}", args[0]))?;
        let log = self.dir.join("moves.log");
        let mut entry = format!("$ strangler {}\n", all.join(" ")).into_bytes();
        entry.extend_from_slice(&out.stderr);
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| std::io::Write::write_all(&mut f, &entry))
            .with_context(|| format!("writing {}", log.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            bail!(
                "strangler {} failed ({}):\n{stdout}{}",
                all.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(stdout)
    }

    /// Prints `strangler status`.
    async fn status(&self) -> Result<()> {
        let plan = self.plan.display().to_string();
        let out = tokio::process::Command::new(&self.args.strangler)
            .args(["status", "--plan", &plan])
            .env("RUST_LOG", "warn")
            .output()
            .await
            .context("running strangler status")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "strangler status failed ({}):\n{stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The catalog's part and the totals; the other suggested services
        // have nothing moving.
        print!("{}", status_excerpt(&stdout));
        Ok(())
    }

    /// Waits until the owned table streams in `direction` with its slot
    /// active, while the sync keeps running.
    async fn wait_streaming(&self, direction: &str, sync: &mut Process) -> Result<()> {
        let (target, source, slot) = if direction == "forward" {
            (
                &self.service_uri,
                &self.monolith_uri,
                format!("strangler_{SERVICE}"),
            )
        } else {
            (
                &self.monolith_uri,
                &self.service_uri,
                format!("strangler_rev_{SERVICE}"),
            )
        };
        let tables: &[&str] = if direction == "forward" {
            &[OWNED, COPIED]
        } else {
            &[OWNED]
        };
        let target = connect(target).await?;
        let source = connect(source).await?;
        let started = Instant::now();
        loop {
            sync.check_running()?;
            // The sync creates its state table when it starts; a query
            // naming it fails to plan until then, so look for it first.
            let created: bool = target
                .query_one(
                    "SELECT to_regclass('strangler.table_state') IS NOT NULL",
                    &[],
                )
                .await?
                .get(0);
            let streaming: i64 = if created {
                target
                    .query_one(
                        "SELECT count(*) FROM strangler.table_state \
                         WHERE table_name = ANY($1) AND state = 'streaming'",
                        &[&tables],
                    )
                    .await?
                    .get(0)
            } else {
                0
            };
            let active: bool = source
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM pg_replication_slots \
                     WHERE slot_name = $1 AND active)",
                    &[&slot],
                )
                .await?
                .get(0);
            if usize::try_from(streaming).ok() == Some(tables.len()) && active {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!(
                    "{OWNED} does not stream {direction} after 120 s; see {}",
                    sync.log.display()
                );
            }
            tokio::time::sleep(world::POLL).await;
        }
    }
}

/// Opens the plan, lets `change` edit it and saves it (validated).
fn edit(path: &Path, change: impl FnOnce(&mut Plan) -> Result<()>) -> Result<()> {
    let mut file = PlanFile::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut plan = file.plan().clone();
    change(&mut plan)?;
    file.save(&plan)
        .with_context(|| format!("saving {}", path.display()))
}

/// The held time a move reports (`writes held for N ms`), 0 if none.
fn held_ms(out: &str) -> u64 {
    out.find("writes held for ")
        .and_then(|at| out[at + 16..].split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The lines of `strangler status` about the catalog service, and the
/// totals after the services.
fn status_excerpt(status: &str) -> String {
    let mut out = String::new();
    let mut keep = true;
    for line in status.lines() {
        let top = !line.starts_with(' ') && !line.is_empty();
        if top {
            keep = !line.starts_with("service ") || line.contains(SERVICE);
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("strangle-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
