//! The load: open loop at a fixed rate through the proxy, a constant mix of
//! reads and writes across the shop, every request's outcome kept and every
//! acknowledged write's key and content.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use serde_json::{Value, json};

use crate::world::{HttpClient, Seed, http_client};

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `GET /api/catalog/categories` (the moved area).
    CategoryList,
    /// `GET /api/catalog/c/{*path}` (the moved area).
    CategoryBrowse,
    /// `POST /api/catalog/categories` (the moved area's write).
    CategoryCreate,
    /// `GET /api/catalog/products/{id}` (stays in the monolith).
    ProductShow,
    /// `GET /api/catalog/products/{id}/price`.
    ProductPrice,
    /// `GET /api/cart`.
    CartShow,
    /// `POST /api/cart/items`.
    CartAdd,
    /// `PUT /api/cart/items/bulk`, before a checkout.
    CartReplace,
    /// `POST /api/orders/checkout`.
    Checkout,
    /// `GET /api/orders`.
    OrdersList,
}

/// One request's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The scenario step it started in.
    pub step: usize,
    /// What it was.
    pub kind: Kind,
    /// From the send to the end of the answer.
    pub latency: Duration,
    /// The status, 0 when there was no answer.
    pub status: u16,
    /// Who answered (`x-strangler-target`: `monolith` or the service).
    pub target: Option<String>,
    /// What went wrong, when nothing or a 5xx came back.
    pub error: Option<String>,
    /// When it started, from the start of the load.
    pub at: Duration,
}

impl Outcome {
    /// A 5xx or no answer at all (a reset, a timeout): a failed request.
    pub fn failed(&self) -> bool {
        self.status == 0 || self.status >= 500
    }
}

/// An acknowledged write: what the shop said it stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// A category (owned by the catalog service at the end).
    Category {
        /// Its id.
        id: i32,
        /// Its slug, name and path.
        content: (String, String, String),
    },
    /// A cart line: the customer's session token, product and quantity.
    CartItem {
        /// The customer.
        token: String,
        /// The product.
        product: i64,
        /// The quantity added (each line is added once).
        quantity: i32,
    },
    /// An order: its id and total.
    Order {
        /// The order's uuid.
        id: String,
        /// Its total in cents.
        total_cents: i64,
    },
}

/// Everything the load recorded, shared with the scenario.
#[derive(Default)]
pub struct Tally {
    /// Every finished request.
    pub outcomes: Mutex<Vec<Outcome>>,
    /// Every acknowledged write.
    pub acks: Mutex<Vec<Ack>>,
    /// The step new requests are counted in.
    pub step: AtomicUsize,
    stop: AtomicBool,
    in_flight: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Tally {
    /// A copy of the outcomes so far.
    pub fn outcomes(&self) -> Vec<Outcome> {
        lock(&self.outcomes).clone()
    }

    /// A copy of the acknowledged writes so far.
    pub fn acks(&self) -> Vec<Ack> {
        lock(&self.acks).clone()
    }

    /// Requests sent and not answered yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// The running load.
pub struct Load {
    /// What it recorded.
    pub tally: Arc<Tally>,
    task: tokio::task::JoinHandle<()>,
    started: Instant,
}

/// What the load needs to know.
struct Ctx {
    client: HttpClient,
    base: String,
    seed: Seed,
    /// Checkout customers not checking out right now.
    idle_checkout: Mutex<Vec<(String, i64)>>,
    tally: Arc<Tally>,
    started: Instant,
}

impl Load {
    /// Starts sending `rate` requests per second to the proxy at `base`.
    pub fn start(base: String, seed: Seed, rate: u32) -> Load {
        let tally = Arc::new(Tally::default());
        let started = Instant::now();
        let ctx = Arc::new(Ctx {
            client: http_client(),
            base,
            idle_checkout: Mutex::new(seed.checkout_users.clone()),
            seed,
            tally: Arc::clone(&tally),
            started,
        });
        let task = tokio::spawn(async move {
            let period = Duration::from_secs(1) / rate.max(1);
            let mut ticks = tokio::time::interval(period);
            // Open loop: a late tick is sent at once, never skipped.
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut n: u64 = 0;
            while !ctx.tally.stop.load(Ordering::SeqCst) {
                ticks.tick().await;
                n += 1;
                let ctx = Arc::clone(&ctx);
                tokio::spawn(async move { one(&ctx, n).await });
            }
        });
        Load {
            tally,
            task,
            started,
        }
    }

    /// When it started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Stops sending and waits for the answers still out (at most 60 s).
    pub async fn stop(self) -> Arc<Tally> {
        self.tally.stop.store(true, Ordering::SeqCst);
        let _ = self.task.await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.tally.in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(crate::world::POLL).await;
        }
        self.tally
    }
}

/// The mix, per 20 requests: 8 reads of the moved area (1 of the whole
/// category list, which grows with every write, 7 of one category's
/// products), 1 write to it, 5 other reads, 3 cart writes and 3 checkouts
/// (each a cart replace and a checkout, so 2 requests; 23 requests per 20
/// ticks in all).
async fn one(ctx: &Ctx, n: u64) {
    let products = &ctx.seed.products;
    let product = products[(n as usize * 7919) % products.len()];
    let paths = ["apparel", "home", "apparel/shoes", "home/kitchen"];
    match n % 20 {
        0 => {
            send(
                ctx,
                Kind::CategoryList,
                "GET",
                "/api/catalog/categories",
                None,
                None,
            )
            .await;
        }
        1..=7 => {
            let path = format!("/api/catalog/c/{}", paths[n as usize % paths.len()]);
            send(ctx, Kind::CategoryBrowse, "GET", &path, None, None).await;
        }
        8 => {
            let body = json!({ "name": format!("Demo {n}") });
            let token = ctx.seed.admin_token.clone();
            if let Some(answer) = send(
                ctx,
                Kind::CategoryCreate,
                "POST",
                "/api/catalog/categories",
                Some(&token),
                Some(body),
            )
            .await
                && answer.0 == 201
                && let Some(ack) = category_ack(&answer.1)
            {
                lock(&ctx.tally.acks).push(ack);
            }
        }
        9 | 10 => {
            let path = format!("/api/catalog/products/{product}");
            send(ctx, Kind::ProductShow, "GET", &path, None, None).await;
        }
        11 => {
            let path = format!("/api/catalog/products/{product}/price?quantity=2");
            send(ctx, Kind::ProductPrice, "GET", &path, None, None).await;
        }
        12 => {
            let token = ctx.seed.cart_tokens[n as usize % ctx.seed.cart_tokens.len()].clone();
            send(ctx, Kind::CartShow, "GET", "/api/cart", Some(&token), None).await;
        }
        13 => {
            let token = ctx.seed.checkout_users[n as usize % ctx.seed.checkout_users.len()]
                .0
                .clone();
            send(
                ctx,
                Kind::OrdersList,
                "GET",
                "/api/orders",
                Some(&token),
                None,
            )
            .await;
        }
        14..=16 => cart_add(ctx, n).await,
        _ => checkout(ctx, product).await,
    }
}

/// Adds a line no other request adds: the k-th cart write takes customer
/// `k mod customers` and the product after the ones that customer has.
async fn cart_add(ctx: &Ctx, n: u64) {
    let k = (n / 20 * 3 + n % 20 - 14) as usize;
    let users = ctx.seed.cart_tokens.len();
    let token = ctx.seed.cart_tokens[k % users].clone();
    let product = ctx.seed.products[(k / users) % ctx.seed.products.len()];
    let quantity = [1, 2, 3, 4, 5][k % 5];
    let body = json!({ "product_id": product, "quantity": quantity });
    if let Some((204, _)) = send(
        ctx,
        Kind::CartAdd,
        "POST",
        "/api/cart/items",
        Some(&token),
        Some(body),
    )
    .await
    {
        lock(&ctx.tally.acks).push(Ack::CartItem {
            token,
            product,
            quantity,
        });
    }
}

/// One customer's checkout: replace the cart with one product, then place
/// the order. A customer checks out once at a time; when all are busy the
/// slot is a cart read instead.
async fn checkout(ctx: &Ctx, product: i64) {
    let Some((token, address)) = lock(&ctx.idle_checkout).pop() else {
        send(
            ctx,
            Kind::CartShow,
            "GET",
            "/api/cart",
            Some(&ctx.seed.cart_tokens[0]),
            None,
        )
        .await;
        return;
    };
    let body = json!([{ "product_id": product, "quantity": 1 }]);
    let replaced = send(
        ctx,
        Kind::CartReplace,
        "PUT",
        "/api/cart/items/bulk",
        Some(&token),
        Some(body),
    )
    .await;
    if let Some((204, _)) = replaced {
        let body = json!({
            "address_id": address,
            "shipping_rate_id": ctx.seed.rate_id,
            "payment_token": "tok_visa",
        });
        if let Some((201, answer)) = send(
            ctx,
            Kind::Checkout,
            "POST",
            "/api/orders/checkout",
            Some(&token),
            Some(body),
        )
        .await
            && let Some(ack) = order_ack(&answer)
        {
            lock(&ctx.tally.acks).push(ack);
        }
    }
    lock(&ctx.idle_checkout).push((token, address));
}

fn category_ack(body: &Value) -> Option<Ack> {
    Some(Ack::Category {
        id: i32::try_from(body.get("id")?.as_i64()?).ok()?,
        content: (
            body.get("slug")?.as_str()?.to_owned(),
            body.get("name")?.as_str()?.to_owned(),
            body.get("path")?.as_str()?.to_owned(),
        ),
    })
}

fn order_ack(body: &Value) -> Option<Ack> {
    Some(Ack::Order {
        id: body.get("id")?.as_str()?.to_owned(),
        total_cents: body.pointer("/totals/total/cents")?.as_i64()?,
    })
}

/// Sends one request and records its outcome; the status and JSON body
/// when an answer came.
async fn send(
    ctx: &Ctx,
    kind: Kind,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Option<(u16, Value)> {
    let tally = &ctx.tally;
    let step = tally.step.load(Ordering::SeqCst);
    tally.in_flight.fetch_add(1, Ordering::SeqCst);
    let at = ctx.started.elapsed();
    let started = Instant::now();
    let result = request(ctx, method, path, token, body).await;
    let latency = started.elapsed();
    tally.in_flight.fetch_sub(1, Ordering::SeqCst);
    let (status, target, error, json) = match result {
        Ok((status, target, bytes)) => {
            let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let error = (status >= 500).then(|| {
                format!(
                    "{method} {path}: {status} {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )
            });
            (status, target, error, Some(json))
        }
        Err(e) => (0, None, Some(format!("{method} {path}: {e}")), None),
    };
    lock(&tally.outcomes).push(Outcome {
        step,
        kind,
        latency,
        status,
        target,
        error,
        at,
    });
    json.map(|j| (status, j))
}

async fn request(
    ctx: &Ctx,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Option<String>, Bytes), String> {
    let mut builder = http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", ctx.base))
        .header("host", "shop.test");
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let bytes = match body {
        Some(body) => {
            builder = builder.header("content-type", "application/json");
            Bytes::from(body.to_string())
        }
        None => Bytes::new(),
    };
    let request = builder.body(Full::new(bytes)).map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        let response = ctx.client.request(request).await.map_err(|e| {
            // The error chain says whether it was a reset, a refusal, ….
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        })?;
        let status = response.status().as_u16();
        let target = response
            .headers()
            .get("x-strangler-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the body: {e}"))?
            .to_bytes();
        Ok((status, target, bytes))
    })
    .await;
    answer.unwrap_or_else(|_| Err("no answer within 30 s".to_owned()))
}
