use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::{post, prelude::Post, user};

pub async fn by_author(db: &DatabaseConnection, author: i32) -> Result<Vec<(post::Model, Option<user::Model>)>, DbErr> {
    Post::find()
        .filter(post::Column::AuthorId.eq(author))
        .find_also_related(user::Entity)
        .all(db)
        .await
}

pub async fn purge(db: &DatabaseConnection, author: i32) -> Result<u64, DbErr> {
    let deleted = post::Entity::delete_many()
        .filter(post::Column::AuthorId.eq(author))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}

/// Only names a column: one read of `content.posts`.
pub fn title_column() -> post::Column {
    post::Column::Title
}
