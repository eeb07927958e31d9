//! Change data capture behind `strangler sync`: it will copy and stream the
//! monolith's PostgreSQL tables into each service's own database.
//!
//! Not built yet (issue 6). The crate exists so the workspace has its final
//! shape; `strangler sync` says "not implemented yet" and exits 2.
