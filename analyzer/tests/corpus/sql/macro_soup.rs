//! Macros whose arguments are garbage, recursive macro_rules and odd sinks.
macro_rules! again { ($x:expr) => { again!($x) }; }
macro_rules! rep { ($($x:expr),*) => { concat!($($x),*) }; }
macro_rules! sel { ($t:literal) => { concat!("SELECT * FROM ", $t) }; }
const Q: &str = concat!("DELETE FROM ", "t");
static S: &str = Q;
fn f(client: &Client) {
    let _ = sqlx::query!(=> @@ SELECT * FROM w ;; <<>> ...);
    let _ = sqlx::query_as!();
    let _ = sqlx::query_file!("../../../../../../etc/nonexistent.sql");
    let _ = sqlx::query_file_as!(T, 42);
    again!(1);
    rep!("a", "b");
    client.query(sel!("t"), &[]);
    client.execute(S, &[]);
    client.execute(Self::Q, &[]);
    client.query(&format!("SELECT {} FROM {table} WHERE x = ${}", a, b, table = "u"), &[]);
    client.query(format!("{{}} {:?} {0} {x:>5}", y), &[]);
    client.execute("", &[]);
    client.execute("ls -la", &[]);
    tracing::info!(sql = %q, "x {}", y);
    vec![1; 3];
    m!(m!(m!(m!(m!(m!(m!(m!(sqlx::query("SELECT 1 FROM deep")))))))));
}
