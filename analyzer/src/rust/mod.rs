//! Rust code: the symbol table and name resolution (`symbols`), the table
//! of string constants built with it (`consts`), path helpers (`paths`),
//! the small `macro_rules!` expander (`macros`), and the per-function facts
//! (calls, types, SQL) that become the graph's edges (`body`).

pub mod body;
pub mod consts;
pub mod macros;
pub mod paths;
pub mod symbols;
