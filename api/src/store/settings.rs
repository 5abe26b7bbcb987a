//! Values made once per database and kept: every instance on the same database reads the same
//! ones, and they survive restarts.

use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set, sea_query::OnConflict};

use super::entities::site_setting;

/// Signs bearer tokens when `TESSERA_SECRET` is not set.
pub const TOKEN_SECRET: &str = "token_secret";
/// Keys the hash of anonymous volunteers' addresses.
pub const ANON_KEY: &str = "anonymous_address_key";
/// Names this database, in the default Redis key prefix.
pub const DATABASE_ID: &str = "database_id";

/// The stored value of `key`, storing `make()` first when there is none. Instances starting
/// together agree: the first insert wins and every one reads it back.
pub async fn get_or_create(
    db: &impl ConnectionTrait,
    key: &str,
    make: impl FnOnce() -> String,
) -> Result<String, DbErr> {
    if let Some(found) = site_setting::Entity::find_by_id(key).one(db).await? {
        return Ok(found.value);
    }
    let inserted = Box::pin(
        site_setting::Entity::insert(site_setting::ActiveModel {
            key: Set(key.to_string()),
            value: Set(make()),
            created: Set(super::now()),
        })
        .on_conflict(
            OnConflict::column(site_setting::Column::Key)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db),
    )
    .await;
    match inserted {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e),
    }
    site_setting::Entity::find_by_id(key)
        .one(db)
        .await?
        .map(|m| m.value)
        .ok_or_else(|| DbErr::RecordNotFound(format!("site setting {key}")))
}

/// 32 random bytes as hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
