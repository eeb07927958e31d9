//! format! holes in every position.
fn h(c: &Client, t: &str, n: i64) {
    let a = format!("SELECT * FROM {t} WHERE id = ${n}");
    c.query(&a, &[]);
    let b = format!("SELECT * FROM orders WHERE {}", if n > 0 { "x" } else { "y" });
    c.query(b.as_str(), &[]);
    let s = match n { 0 => "SELECT 1 FROM a", 1 => "SELECT 1 FROM b", _ => return };
    c.query(s, &[]);
    let s = if n > 0 { "INSERT INTO a VALUES (1)" } else { "DELETE FROM a" };
    c.execute(s, &[]);
    let stmt = c.prepare(s);
    c.execute(&stmt, &[]);
    c.batch_execute("CREATE TABLE x (id int); INSERT INTO x VALUES (1); SELECT * FROM y;");
    c.copy_in("COPY t FROM STDIN");
    c.copy_out("COPY (SELECT * FROM t JOIN u USING (id)) TO STDOUT");
}
