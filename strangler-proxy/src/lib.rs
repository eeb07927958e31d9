//! The reverse proxy behind `strangler proxy`: it will move endpoints from
//! the monolith to extracted services by the plan's route stages.
//!
//! Not built yet (issue 5). The crate exists so the workspace has its final
//! shape; `strangler proxy` says "not implemented yet" and exits 2.
