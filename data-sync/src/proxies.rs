//! The HTTP side of a cutover: the admin APIs of the proxies the plan lists
//! (`[[proxy]]`), which hold the writes to a table's routes while its
//! ownership moves (`POST /fence`, `POST /fence/release`; the contract is
//! in `strangler-proxy/README.md`, "Fences").
//!
//! This is a client of the proxy's documented HTTP API, not of its crate.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use strangler_plan::{Plan, Proxy, mask_url};

use crate::error::Error;

/// How long one admin call may take, beyond the fence's own hold time.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One proxy's admin API, with its token.
#[derive(Debug, Clone)]
pub(crate) struct Admin {
    /// The base URL, as the plan writes it.
    pub(crate) url: String,
    token: Option<String>,
}

impl Admin {
    /// The admin APIs of every proxy in the plan, each with its token read
    /// from its file or environment variable.
    pub(crate) fn from_plan(plan: &Plan) -> Result<Vec<Admin>, Error> {
        plan.proxies.iter().map(Admin::new).collect()
    }

    fn new(proxy: &Proxy) -> Result<Admin, Error> {
        let token = match (&proxy.token_file, &proxy.token_env) {
            (Some(file), _) => Some(
                std::fs::read_to_string(file)
                    .map_err(|e| {
                        Error::Plan(format!(
                            "cannot read the admin token of proxy {} from {file}: {e}; the \
                             `token_file` of its [[proxy]] entry must name a readable file",
                            mask_url(&proxy.admin)
                        ))
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                Error::Plan(format!(
                    "the admin token of proxy {} is to come from ${var}, which is not set; \
                     export it, or set `token_file` in its [[proxy]] entry",
                    mask_url(&proxy.admin)
                ))
            })?),
            (None, None) => None,
        };
        Ok(Admin {
            url: proxy.admin.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The URL for messages, password masked.
    pub(crate) fn shown(&self) -> String {
        mask_url(&self.url)
    }

    /// Lists the fences up: a cheap call that proves the proxy answers and
    /// accepts the token.
    pub(crate) async fn probe(&self) -> Result<Value, Error> {
        self.call(http::Method::GET, "/fences", None, CALL_TIMEOUT)
            .await
    }

    /// Holds new writes to the routes that write `tables` and waits for
    /// those in flight; returns the proxy's answer.
    pub(crate) async fn fence(
        &self,
        name: &str,
        tables: &[String],
        hold: Duration,
    ) -> Result<Value, Error> {
        let hold_ms = u64::try_from(hold.as_millis()).unwrap_or(u64::MAX);
        let body = json!({ "name": name, "tables": tables, "hold_ms": hold_ms });
        self.call(
            http::Method::POST,
            "/fence",
            Some(body),
            hold + CALL_TIMEOUT,
        )
        .await
    }

    /// Releases what `name` held; with `reload`, the proxy first re-reads
    /// the plan, so the held requests go where the new plan says.
    pub(crate) async fn release(&self, name: &str, reload: bool) -> Result<Value, Error> {
        let body = json!({ "name": name, "reload": reload });
        self.call(
            http::Method::POST,
            "/fence/release",
            Some(body),
            CALL_TIMEOUT,
        )
        .await
    }

    /// The proxy's Prometheus metrics, as text.
    pub(crate) async fn metrics(&self) -> Result<String, Error> {
        let (status, body) = self
            .request(http::Method::GET, "/metrics", None, CALL_TIMEOUT)
            .await?;
        if !status.is_success() {
            return Err(self.failed("/metrics", status, &body));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn call(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, Error> {
        let (status, bytes) = self.request(method, path, body, timeout).await?;
        if !status.is_success() {
            return Err(self.failed(path, status, &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::Other(format!(
                "proxy {} answered {path} with something that is not JSON ({e}); is it a \
                 strangler proxy's admin address?",
                self.shown()
            ))
        })
    }

    fn failed(&self, path: &str, status: http::StatusCode, body: &[u8]) -> Error {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let shown: String = text.chars().take(500).collect();
        let hint = match status.as_u16() {
            401 | 403 => {
                "; check the admin token (`token_file` or `token_env` of its [[proxy]] entry)"
            }
            404 => "; is this proxy too old to have fences, or the address not its admin API?",
            _ => "",
        };
        Error::Other(format!(
            "proxy {} refused {path}: {status} {shown}{hint}",
            self.shown()
        ))
    }

    async fn request(
        &self,
        method: http::Method,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<(http::StatusCode, Bytes), Error> {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let uri: http::Uri = format!("{}{path}", self.url).parse().map_err(|e| {
            Error::Plan(format!(
                "the admin address {} of a [[proxy]] entry is not a URL: {e}",
                self.shown()
            ))
        })?;
        let mut builder = http::Request::builder().method(method).uri(uri);
        if let Some(token) = &self.token {
            builder = builder.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let payload = match body {
            Some(v) => {
                builder = builder.header(http::header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .map_err(|e| Error::Other(format!("building a request to the proxy: {e}")))?;
        let unreachable = |reason: String| {
            Error::Other(format!(
                "proxy {} cannot be reached: {reason}; every proxy in the plan's [[proxy]] list \
                 must answer before a cutover holds anything (start it, or remove it from the list)",
                self.shown()
            ))
        };
        let response = tokio::time::timeout(timeout, client.request(request))
            .await
            .map_err(|_| unreachable(format!("no answer within {:.0} s", timeout.as_secs_f64())))?
            .map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = tokio::time::timeout(CALL_TIMEOUT, response.into_body().collect())
            .await
            .map_err(|_| unreachable("the answer did not finish".to_owned()))?
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok((status, bytes))
    }
}
