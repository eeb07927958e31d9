use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique, column_name = "email_address")]
    pub email: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::post::Entity")]
    Post,
}

impl ActiveModelBehavior for ActiveModel {}

impl Entity {
    /// A custom finder: `Self::find()` reads the entity's table.
    pub fn by_email(email: &str) -> Select<Entity> {
        Self::find().filter(Column::Email.eq(email))
    }
}
