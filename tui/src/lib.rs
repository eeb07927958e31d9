//! The planner terminal UI behind `strangler plan [FILE]`: it will let users
//! review and edit the migration plan.
//!
//! Not built yet (issue 7). The crate exists so the workspace has its final
//! shape; `strangler plan` without a subcommand says "not implemented yet".
