pub mod entity;
pub mod posts;
pub mod users;
