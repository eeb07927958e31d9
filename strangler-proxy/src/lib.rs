//! The reverse proxy behind `strangler proxy`: it moves HTTP endpoints from
//! the monolith to extracted services by the plan's route stages, on
//! pingora.
//!
//! ```no_run
//! let config = strangler_proxy::ProxyConfig::new("strangler.toml");
//! strangler_proxy::run(config)?; // serves until SIGTERM or SIGINT
//! # Ok::<(), strangler_proxy::ProxyError>(())
//! ```
//!
//! [`run`] serves until a signal stops it; [`start`] runs a proxy on a
//! thread of the caller and returns a [`ProxyHandle`] that [`Stop`]s it.
//! Everything else is reached through the plan file and the admin API
//! (`/routes`, `/routes/stage`, `/reload`, `/fence`, `/fence/release`,
//! `/fences`, `/diffs`, `/healthz`, `/metrics`), so the
//! only way to a new route table is a plan that validates.
//!
//! Inside, one module per concern, as pingora splits its own:
//! - `table`: the route table, a pure data structure built from the plan
//!   (most specific route wins, unmatched requests go to the monolith) and
//!   the stage decision with its stable sticky canary split (`split`);
//! - `proxy`: the thin [`pingora::proxy::ProxyHttp`] implementation:
//!   fallback to the monolith, forwarding and trace headers, metrics and
//!   the JSON access log (`access_log`);
//! - `request`: what a request must look like before it is routed: the
//!   normalised path, an absolute-form target made origin-form, `Host`
//!   required and well formed, transfer codings, no forged `x-strangler-*`
//!   headers;
//! - `shadow`: copies of requests sent to a service without delaying the
//!   client, over pipelined connections (`pipeline` schedules them on
//!   lanes, `http1` reads the answers); `diff` compares the service's
//!   answers with the monolith's, with noise learnt from a second monolith
//!   answer;
//! - `sniff`: HTTP/1 or h2c on plaintext connections, without pingora's
//!   wait for 24 bytes, and the request-header deadline on HTTP/1;
//! - `upstream`: peers and health (active checks, passive ejection);
//! - `state`: the live snapshot behind an `ArcSwap`, reloads, and stage
//!   changes written back to the plan through `strangler_plan::PlanFile`;
//! - `fence`: write fences for `strangler cutover`: unsafe requests on
//!   routes writing a fenced table held until it lifts, and the drain of
//!   those in flight;
//! - `admin`: the admin API, behind `guard`: its bearer token (required
//!   off loopback), `Host`, `Origin` and `Content-Type` checks;
//! - `metrics`: Prometheus metrics through pingora's re-export;
//! - `otel`: a span per request exported over OTLP/HTTP in batches from a
//!   thread of its own, when an endpoint is set;
//! - `config` and `error`: [`ProxyConfig`] and [`ProxyError`];
//! - `server`: start-up, the handle and the signals;
//! - `control`: the control loop (plan watcher, SIGHUP, health tick);
//! - `slo`: SLO windows per route, rollback and step-by-step promotion,
//!   decided only by the proxy holding the plan's lease.

mod access_log;
mod admin;
mod config;
mod control;
mod diff;
mod error;
mod fence;
mod gateway;
mod guard;
mod http1;
mod metrics;
mod otel;
mod pipeline;
mod proxy;
mod request;
mod server;
mod shadow;
mod slo;
mod sniff;
mod split;
mod state;
mod table;
mod upstream;

pub use config::{AdminToken, HealthConfig, PeerTimeouts, ProxyConfig, ShadowConfig, TlsConfig};
pub use error::ProxyError;
pub use guard::ADMIN_TOKEN_ENV;
pub use server::{ProxyHandle, Stop, run, start};
