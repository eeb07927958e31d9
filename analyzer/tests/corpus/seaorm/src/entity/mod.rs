pub mod post;
pub mod prelude;
pub mod user;
