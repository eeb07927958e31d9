//! The running parts: two PostgreSQL clusters, the monolith, the service,
//! the proxy and the sync, each a child process with its log in the run's
//! directory, and the waits for each to be ready.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use strangler_plan::mask_url;
use strangler_testkit::{ClusterConfig, PgCluster};
use tokio::process::{Child, Command};

/// The HTTP client every part of the scenario uses (keep-alive, HTTP/1.1).
pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How often a wait looks again at what it waits for.
pub const POLL: Duration = Duration::from_millis(50);

/// A new HTTP client with a keep-alive pool.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(connector)
}

/// A free port on the loopback interface.
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("finding a free loopback port")?
        .port())
}

/// `GET url` (with a bearer token if given): the status and the body.
pub async fn get(client: &HttpClient, url: &str, token: Option<&str>) -> Result<(u16, Bytes)> {
    let mut request = http::Request::get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(Full::new(Bytes::new()))
        .with_context(|| format!("building GET {url}"))?;
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .with_context(|| format!("GET {url} timed out"))?
        .with_context(|| format!("GET {url}"))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading the answer to GET {url}"))?
        .to_bytes();
    Ok((status, body))
}

/// Polls `check` until it returns `Some`, at most `limit`; the error names
/// `what` and the last reason `check` gave.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("not yet"),
            Err(e) => format!("{e:#}"),
        };
        if started.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what} ({last})");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A child process with its stdout and stderr in a log file, killed when
/// dropped.
pub struct Process {
    /// What it is, for messages.
    pub name: String,
    child: Child,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Process {
    /// Starts `program args…` with `env`, its output appended to
    /// `dir/<name>.log`.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Result<Process> {
        let log = dir.join(format!("{name}.log"));
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = file
            .try_clone()
            .with_context(|| format!("opening {}", log.display()))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .kill_on_drop(true);
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {name} ({}); is it built?", program.display()))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Kills it (SIGKILL, as a crash would) and waits until it is gone.
    pub async fn kill(&mut self) -> Result<()> {
        self.child
            .kill()
            .await
            .with_context(|| format!("killing {}", self.name))
    }

    /// An error if it has exited, naming its log.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => bail!(
                "{} exited ({status}); see {}",
                self.name,
                self.log.display()
            ),
            Err(e) => Err(e).with_context(|| format!("checking on {}", self.name)),
        }
    }
}

/// Starts a throwaway cluster holding `database`, owned by an unprivileged
/// user (the testkit runs the server through `sudo -u postgres` as root).
pub async fn cluster(database: &str) -> Result<PgCluster> {
    ClusterConfig::new()
        .database(database)
        .param("max_connections", "200")
        .start()
        .await
        .with_context(|| {
            format!(
                "starting a PostgreSQL cluster for `{database}` (install the PostgreSQL server \
                 package, and sudo when running as root)"
            )
        })
}

/// Waits until `url` answers 200 while `process` keeps running.
pub async fn wait_healthy(client: &HttpClient, process: &mut Process, url: &str) -> Result<()> {
    let started = Instant::now();
    loop {
        process.check_running()?;
        if let Ok((200, _)) = get(client, url, None).await {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!(
                "{} did not answer 200 on {url} within 60 s; see {}",
                process.name,
                process.log.display()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A connection to `uri`, its task on the current runtime.
pub async fn connect(uri: &str) -> Result<tokio_postgres::Client> {
    let (client, connection) = tokio_postgres::connect(uri, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {}", mask_url(uri)))?;
    tokio::spawn(async move { drop(connection.await) });
    Ok(client)
}

/// How many of each the seed creates.
pub const CART_USERS: usize = 300;
/// Customers who check out (one checkout at a time each).
pub const CHECKOUT_USERS: usize = 100;
/// Products in the catalog.
pub const PRODUCTS: usize = 200;

/// What the seed created that the load needs.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The admin's session token.
    pub admin_token: String,
    /// Session tokens of the customers who fill carts.
    pub cart_tokens: Vec<String>,
    /// `(session token, address id)` of the customers who check out.
    pub checkout_users: Vec<(String, i64)>,
    /// Product ids.
    pub products: Vec<i64>,
    /// The shipping rate checkouts use (DHL standard to Germany).
    pub rate_id: i32,
}

/// Fills the migrated monolith with an admin, customers with sessions and
/// addresses, a category tree, products and stock.
pub async fn seed(db: &tokio_postgres::Client) -> Result<Seed> {
    let customers = CART_USERS + CHECKOUT_USERS;
    db.batch_execute(&format!(
        "INSERT INTO categories (parent_id, slug, name, path)
           SELECT c.id, s.slug, s.name, c.path || '/' || s.slug
           FROM (VALUES ('apparel', 'shoes', 'Shoes'), ('apparel', 'shirts', 'Shirts'),
                        ('home', 'kitchen', 'Kitchen'), ('home', 'garden', 'Garden')) s(parent, slug, name)
           JOIN categories c ON c.slug = s.parent;
         INSERT INTO products (sku, name, description, category_id, price_cents, weight_kg)
           SELECT 'SKU-' || g, 'Product ' || g, 'A fine product', c.id, 500 + g * 7, 0.5
           FROM generate_series(1, {PRODUCTS}) g
           JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM categories) c
             ON c.n = g % (SELECT count(*) FROM categories);
         INSERT INTO stock_levels (product_id, warehouse_id, on_hand)
           SELECT p.id, w.id, 1000000 FROM products p CROSS JOIN warehouses w;
         INSERT INTO users (email, display_name, password_hash, password_salt, role)
           VALUES ('admin@shop.test', 'Admin', '-', '-', 'admin');
         INSERT INTO users (email, display_name, password_hash, password_salt)
           SELECT 'customer' || g || '@shop.test', 'Customer ' || g, '-', '-'
           FROM generate_series(1, {customers}) g;
         INSERT INTO sessions (user_id, token, expires_at)
           SELECT id, 'demo-' || split_part(email, '@', 1), now() + interval '1 day' FROM users;
         INSERT INTO addresses (user_id, line1, city, postal_code, country, is_default)
           SELECT id, '1 Demo Street', 'Berlin', '10115', 'DE', true FROM users;"
    ))
    .await
    .context("seeding the monolith")?;
    let products = db
        .query("SELECT id FROM products ORDER BY id", &[])
        .await
        .context("reading the seeded products")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let rate_id = db
        .query_one(
            "SELECT id FROM shipping_rates WHERE carrier = 'dhl' AND service_level = 'standard' \
             AND country = 'DE'",
            &[],
        )
        .await
        .context("reading the seeded shipping rate")?
        .get(0);
    let users = db
        .query(
            "SELECT s.token, a.id FROM users u JOIN sessions s ON s.user_id = u.id \
             JOIN addresses a ON a.user_id = u.id WHERE u.role = 'customer' ORDER BY u.email",
            &[],
        )
        .await
        .context("reading the seeded customers")?;
    let mut users: Vec<(String, i64)> = users.iter().map(|r| (r.get(0), r.get(1))).collect();
    let checkout_users = users.split_off(CART_USERS);
    Ok(Seed {
        admin_token: "demo-admin".to_owned(),
        cart_tokens: users.into_iter().map(|(t, _)| t).collect(),
        checkout_users,
        products,
        rate_id,
    })
}
