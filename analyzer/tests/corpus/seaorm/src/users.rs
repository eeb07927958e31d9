use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, QueryFilter};

use crate::entity::prelude::*;
use crate::entity::user;

pub async fn register(db: &DatabaseConnection, email: String) -> Result<user::Model, DbErr> {
    user::ActiveModel {
        email: Set(email),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find(db: &DatabaseConnection, email: &str) -> Result<Option<user::Model>, DbErr> {
    User::by_email(email).one(db).await
}

pub async fn count_with_email(db: &DatabaseConnection, email: &str) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    User::find().filter(UserColumn::Email.eq(email)).count(db).await
}

pub async fn remove(db: &DatabaseConnection, id: i32) -> Result<(), DbErr> {
    user::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
