//! The analyzer behind `strangler analyze`: it will turn a monolith's Rust
//! code and SQL into a dependency graph and suggest service boundaries.
//!
//! Not built yet (issues 3 and 4). The crate exists so the workspace has its
//! final shape; `strangler analyze` says "not implemented yet" and exits 2.
