//! The migration plan, `strangler.toml`: the one file format every strangler
//! tool reads, and the only crate that defines it.
//!
//! A plan names the monolith and the services being extracted from it. Each
//! service lists its code (`members`), and the HTTP routes and database
//! tables moving to it, each with a stage. The analyzer writes plans, the
//! planner edits them, the proxy routes by them and the sync copies by them.
//!
//! ```
//! let parsed = strangler_plan::parse(r#"
//! version = 1
//! [monolith]
//! name = "shop"
//! upstream = "http://127.0.0.1:8080"
//!
//! [[service]]
//! name = "catalog"
//! upstream = "http://127.0.0.1:9001"
//!   [[service.route]]
//!   path = "/api/products/{id}"
//!   stage = "canary"
//!   percent = 150
//! "#);
//! assert!(!parsed.is_valid());
//! let message = parsed.diagnostics[0].render("strangler.toml");
//! assert!(message.starts_with("strangler.toml:13:13: error: percent 150"), "{message}");
//! ```
//!
//! - [`parse`] reads TOML text and reports every problem, each with its
//!   line and column; it never stops at the first.
//! - [`validate`] checks an in-memory [`Plan`], such as one a tool edited.
//! - [`PlanFile`] loads a file and saves edits atomically, keeping the
//!   user's comments, and refuses to write an invalid plan or a stage move
//!   the migration path forbids ([`RouteStage`], [`TableStage`]).
//! - [`PlanWatcher`] calls back when the file changes while a tool runs
//!   (an edit, a rename over it, a Kubernetes `ConfigMap`'s symlink swap).
//! - [`mask_url`] hides a URL's password: every diagnostic that quotes a
//!   database or upstream URL quotes it masked (`postgres://u:***@h/db`),
//!   so no tool prints a plan's passwords, and tools that show URLs
//!   themselves (`plan show`) use it too.

mod diagnostic;
mod edit;
mod file;
mod gateway;
mod load;
mod mask;
mod model;
mod stage;
mod template;
mod validate;
mod watch;

pub use diagnostic::{
    Diagnostic, FieldPath, Focus, Location, Severity, Step, has_errors, locate, location_of,
};
pub use file::{PlanError, PlanFile, write_atomic};
pub use gateway::{
    Auth, Cors, Diff, Gateway, HeaderRules, JWT_ALGORITHMS, JsonPath, JsonStep, Jwt, RateKey,
    RateLimit, Ratio, Require, Slo, Timeouts, is_header_name, parse_duration,
};
pub use load::{Parsed, parse};
pub use mask::mask_url;
pub use model::{
    AnalyzeSettings, Method, Monolith, Plan, Proxy, Route, Service, Sticky, Table, UNMATCHED_LABEL,
    VERSION,
};
pub use stage::{RouteStage, TableStage, TransitionError, UnknownStage};
pub use template::{RouteTemplate, Segment, TemplateError};
pub use validate::{is_table_name, validate};
pub use watch::{POLL_INTERVAL, PlanWatcher};
