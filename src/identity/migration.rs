//! Identity tables: accounts, their single-use tokens, sessions with their
//! refresh tokens, sign-in throttling; and API keys, which come after the
//! facilities they belong to.

use sea_orm_migration::prelude::*;

use crate::db::migrate::schema;

fn table(name: &str) -> Alias {
    Alias::new(name)
}

fn col(name: &str) -> Alias {
    Alias::new(name)
}

pub struct CreateAccounts;

impl MigrationName for CreateAccounts {
    fn name(&self) -> &str {
        "m20261126_000030_accounts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateAccounts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(table("accounts"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("email_index")).binary().not_null())
                    .col(ColumnDef::new(col("email")).binary().not_null())
                    .col(ColumnDef::new(col("email_confirmed_at")).big_integer())
                    .col(ColumnDef::new(col("phone")).binary())
                    .col(ColumnDef::new(col("phone_confirmed_at")).big_integer())
                    .col(ColumnDef::new(col("full_name")).binary())
                    .col(ColumnDef::new(col("password_hash")).string())
                    .col(ColumnDef::new(col("invited_at")).big_integer())
                    .col(ColumnDef::new(col("invited_by")).uuid())
                    .col(ColumnDef::new(col("banned_until")).big_integer())
                    .col(ColumnDef::new(col("deleted_at")).big_integer())
                    .col(ColumnDef::new(col("last_sign_in_at")).big_integer())
                    .col(ColumnDef::new(col("totp_secret")).binary())
                    .col(ColumnDef::new(col("totp_enabled_at")).big_integer())
                    .col(ColumnDef::new(col("totp_last_step")).big_integer())
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("updated_at")))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index("accounts", &["email_index"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("account_tokens"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("account_id")).uuid().not_null())
                    .col(schema::enumeration(
                        "account_tokens",
                        "purpose",
                        &PURPOSES_BEFORE_UNDO,
                    ))
                    .col(ColumnDef::new(col("token_hash")).binary().not_null())
                    .col(ColumnDef::new(col("new_value")).binary())
                    .col(schema::timestamp(col("expires_at")))
                    .col(ColumnDef::new(col("used_at")).big_integer())
                    .col(schema::timestamp(col("created_at")))
                    .foreign_key(&mut schema::foreign_key(
                        "account_tokens",
                        "account_id",
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index("account_tokens", &["token_hash"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("sessions"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("account_id")).uuid().not_null())
                    .col(schema::timestamp(col("created_at")))
                    .col(schema::timestamp(col("last_seen_at")))
                    .col(schema::timestamp(col("expires_at")))
                    .col(ColumnDef::new(col("revoked_at")).big_integer())
                    .col(ColumnDef::new(col("revoke_reason")).string())
                    .col(ColumnDef::new(col("user_agent")).string())
                    .col(ColumnDef::new(col("client_addr")).string())
                    .foreign_key(&mut schema::foreign_key(
                        "sessions",
                        "account_id",
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::index("sessions", &["account_id"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("refresh_tokens"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("session_id")).uuid().not_null())
                    .col(ColumnDef::new(col("token_hash")).binary().not_null())
                    .col(schema::timestamp(col("issued_at")))
                    .col(ColumnDef::new(col("rotated_at")).big_integer())
                    .foreign_key(&mut schema::foreign_key(
                        "refresh_tokens",
                        "session_id",
                        "sessions",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::unique_index("refresh_tokens", &["token_hash"]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(table("sign_in_throttle"))
                    .col(
                        ColumnDef::new(col("throttle_key"))
                            .binary()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(col("failures")).integer().not_null())
                    .col(schema::timestamp(col("window_started_at")))
                    .col(ColumnDef::new(col("blocked_until")).big_integer())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "sign_in_throttle",
            "refresh_tokens",
            "sessions",
            "account_tokens",
            "accounts",
        ] {
            manager
                .drop_table(Table::drop().table(table(name)).to_owned())
                .await?;
        }
        Ok(())
    }
}

pub struct CreateApiKeys;

impl MigrationName for CreateApiKeys {
    fn name(&self) -> &str {
        "m20261126_000045_api_keys"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateApiKeys {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(table("api_keys"))
                    .col(schema::id(col("id")))
                    .col(ColumnDef::new(col("facility_id")).uuid().not_null())
                    .col(ColumnDef::new(col("name")).string_len(200).not_null())
                    .col(ColumnDef::new(col("secret_hash")).binary().not_null())
                    .col(ColumnDef::new(col("scopes")).text().not_null())
                    .col(ColumnDef::new(col("created_by")).uuid().not_null())
                    .col(schema::timestamp(col("created_at")))
                    .col(ColumnDef::new(col("expires_at")).big_integer())
                    .col(ColumnDef::new(col("last_used_at")).big_integer())
                    .col(ColumnDef::new(col("revoked_at")).big_integer())
                    .foreign_key(&mut schema::foreign_key(
                        "api_keys",
                        "facility_id",
                        "facilities",
                    ))
                    .foreign_key(&mut schema::foreign_key(
                        "api_keys",
                        "created_by",
                        "accounts",
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(schema::index("api_keys", &["facility_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(table("api_keys")).to_owned())
            .await
    }
}

/// The token purposes the first migration allowed (a later value needs a
/// later migration, as `AllowEmailChangeUndo` shows).
const PURPOSES_BEFORE_UNDO: [&str; 5] = [
    "confirm_email",
    "invitation",
    "recovery",
    "email_change",
    "phone_change",
];

/// Account tokens may be `email_change_undo`: the code sent to the old
/// address when the sign-in email changes.
pub struct AllowEmailChangeUndo;

impl MigrationName for AllowEmailChangeUndo {
    fn name(&self) -> &str {
        "m20261207_000175_email_change_undo"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AllowEmailChangeUndo {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let purposes = [PURPOSES_BEFORE_UNDO.as_slice(), &["email_change_undo"]].concat();
        crate::db::check_values::allow_values(manager, "account_tokens", "purpose", &purposes).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM account_tokens WHERE purpose = 'email_change_undo'")
            .await?;
        crate::db::check_values::allow_values(
            manager,
            "account_tokens",
            "purpose",
            &PURPOSES_BEFORE_UNDO,
        )
        .await
    }
}
