//! Rust code: the symbol table and name resolution, and the per-function
//! facts (calls, types, SQL) that become the graph's edges.

pub mod body;
pub mod consts;
pub mod macros;
pub mod paths;
pub mod symbols;
