use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A stored file and the object it belongs to, as the server recorded it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "upload")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[sea_orm(unique)]
    pub storage_key: String,
    /// The resource (`taskrun`, `project`, …) and the id of its row.
    pub target: String,
    pub object_id: i32,
    pub created: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
