pub use super::post::Entity as Post;
pub use super::user::Column as UserColumn;
pub use super::user::Entity as User;
