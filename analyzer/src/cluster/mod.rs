//! Suggesting service boundaries: the coupling graph, Leiden clustering,
//! metrics, reasons, and the comparison with a reference.
//!
//! Metrics, where K is the number of services, `m_k` the size of service k
//! (its code units), `μ_k` the coupling edges inside it and `σ_ij` the edges
//! between services i and j:
//! - modularity Q of the services on the coupling graph (γ = 1);
//! - structural modularity `SM = (1/K) Σ μ_k/m_k² − (2/(K(K−1))) Σ_{i<j}
//!   σ_ij/(2 m_i m_j)`, where sizes and edges both count a service's tables
//!   with its code (edges to its tables are inside it), so SM stays in its
//!   range, −1/2 to 1/2;
//! - ICP, the share of call sites that cross services;
//! - IFN, the mean number of functions per service that other services call;
//! - NED, the share of units in services whose size is outside sane bounds:
//!   2–25 units at module and file granularity, 5–250 at function
//!   granularity;
//! - cross-service call sites, and tables used by more than one service;
//! - with a reference, MoJoFM and the adjusted Rand index, every unit of
//!   the reference counted (the rules are in `compare.rs`).
//!
//! Ranges: Q from −1/2 to 1, SM from −1/2 to 1/2, ICP and NED from 0 to 1,
//! IFN 0 or more, MoJoFM 0 to 100, ARI −1 to 1; each has a unit test on a
//! hand-worked example.

mod access;
mod compare;
mod coupling;
mod leiden;
mod metrics;
mod naming;
pub mod plan;
mod reasons;
pub mod report;
mod settings;
mod suggest;

pub use compare::{Comparison, Truth, read_truth, score};
pub(crate) use coupling::unit_map;
pub use coupling::{
    BOOKKEEPING_TABLES, Coupling, Evidence, Granularity, REACHED_SHARE, Tie, Unit, Weights,
    is_bookkeeping,
};
pub use leiden::DEFAULT_SEED;
pub use metrics::{Metrics, ServiceMetrics};
pub use reasons::Reason;
pub use settings::SettingsError;
pub use suggest::{
    DEFAULT_RESOLUTION, ExistingService, RouteRef, ServiceLink, ServiceSuggestion, SuggestConfig,
    SuggestError, Suggestion, TableDecision, evaluate, suggest,
};
