//! Malformed and unusual Diesel declarations and uses.
diesel::table! { use diesel::sql_types::*; #[sql_name = "real"] r#type (a, b) { #[sql_name = "x"] a -> Nullable<Array<Int4>>, b -> Int4, } }
diesel::table! { billing.invoices { id -> Int4, } }
diesel::table! { 42 }
diesel::table! { broken () { a -> } () }
diesel::table! { -> {} }
diesel::joinable!(posts -> users);
diesel::joinable!(nothing -> nowhere (x));
diesel::joinable!(posts -> users (user_id));
use schema::posts::dsl::{posts as p, *};
fn g(conn: &mut C) {
    let posts = 1;
    posts;
    p.load(conn);
    diesel::update(users::table).set(posts::dsl::posts.select(x)).execute(conn);
    diesel::delete().execute(conn);
    diesel::insert_into(users::dsl::users).values(t::table.select(t::id)).execute(conn);
    conn.transaction(|c| { users::table.load(c)?; posts::table.load(c) });
    let x = users::table;
    diesel::sql_query(concat!("UPDATE ", "posts SET a = 1"));
}
