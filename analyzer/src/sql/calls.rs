//! The library calls that take SQL: the names SQL extraction looks for in
//! sqlx, tokio-postgres/postgres, rusqlite, mysql and Diesel code. Adding a
//! library's API is a change to these lists.

/// tokio-postgres / postgres / rusqlite / mysql methods whose first
/// argument is SQL.
pub const CLIENT_METHODS: &[&str] = &[
    "query",
    "query_one",
    "query_opt",
    "query_raw",
    "query_typed",
    "query_typed_raw",
    "execute",
    "execute_raw",
    "prepare",
    "prepare_typed",
    "prepare_cached",
    "batch_execute",
    "simple_query",
    "copy_in",
    "copy_out",
    // rusqlite
    "query_row",
    "execute_batch",
    // mysql / mysql_async
    "query_drop",
    "query_first",
    "query_iter",
    "exec_drop",
    "exec_first",
    "exec_iter",
];

/// Client methods that prepare a statement for later use.
pub const PREPARE_METHODS: &[&str] = &["prepare", "prepare_typed", "prepare_cached"];

/// sqlx function forms whose first argument is SQL.
pub const SQLX_FUNCTIONS: &[&str] = &[
    "query",
    "query_as",
    "query_scalar",
    "query_with",
    "query_as_with",
    "query_scalar_with",
    "raw_sql",
];

/// Diesel functions whose first argument names the written table.
pub const DIESEL_WRITES: &[&str] = &[
    "insert_into",
    "insert_or_ignore_into",
    "replace_into",
    "update",
    "delete",
];
