//! `carebase admin create`: the first system administrator, made from the
//! command line by whoever runs the server. There is no default password:
//! the command prints a single-use setup code (redeemed with
//! `POST /auth/accept-invitation`), or takes a password on standard input.

use sea_orm::DatabaseTransaction;
use serde_json::json;
use uuid::Uuid;

use super::memberships::{self, NewMembership};
use crate::app::AppState;
use crate::audit::{self, AuditAction, AuditActor, AuditEvent, redact};
use crate::crypto::DataKey;
use crate::identity::accounts::{self, AccountChanges, NewAccount};
use crate::identity::password;
use crate::identity::tokens::{self, Purpose};
use crate::policy::Role;
use crate::types::Email;

/// What `admin create` made.
#[derive(Debug)]
pub struct Bootstrapped {
    pub account_id: Uuid,
    /// Whether the account existed before.
    pub existed: bool,
    /// The setup code to redeem, when no password was given.
    pub setup_code: Option<String>,
}

/// Makes (or promotes) the account for `email` a system administrator.
pub async fn create_system_admin(
    state: &AppState,
    email: &str,
    new_password: Option<String>,
) -> anyhow::Result<Bootstrapped> {
    let email = Email::parse(email).map_err(|reason| anyhow::anyhow!("--email {reason}"))?;
    let hash = match new_password {
        Some(p) => Some(checked_hash(p).await?),
        None => None,
    };
    let key = state.keyring.installation().await?;
    let txn = state.db.begin().await?;
    let (account, existed) = find_or_create(&txn, &key, email, hash.clone()).await?;
    let account_id = account.id;
    if existed && let Some(hash) = hash.clone() {
        let changes = AccountChanges {
            password_hash: Some(hash),
            ..Default::default()
        };
        accounts::update(&txn, account, changes).await?;
    }
    let setup_code = match hash {
        Some(_) => None,
        None => Some(tokens::issue(&txn, &key, account_id, Purpose::Invitation, None).await?),
    };
    memberships::grant(
        &txn,
        NewMembership {
            account_id,
            facility_id: None,
            role: Role::SystemAdmin,
            department: None,
            is_primary: true,
            assigned_by: None,
        },
    )
    .await?;
    let event = AuditEvent::new(
        AuditActor::System {
            job: "cli: admin create".to_owned(),
        },
        AuditAction::Create,
        "membership",
    )
    .resource(account_id)
    .changes(redact(
        json!({ "role": "system_admin", "account_existed": existed }),
        &[],
    ));
    audit::commit(txn, vec![event]).await?;
    Ok(Bootstrapped {
        account_id,
        existed,
        setup_code,
    })
}

/// `password`'s hash, if it passes the password policy.
async fn checked_hash(password: String) -> anyhow::Result<String> {
    password::check_policy("password", &password)
        .map_err(|_| anyhow::anyhow!("the password must be 12 to 256 characters"))?;
    password::hash(password).await
}

/// The account for `email`, and whether it existed; a new one gets `hash`.
async fn find_or_create(
    txn: &DatabaseTransaction,
    key: &DataKey,
    email: Email,
    hash: Option<String>,
) -> anyhow::Result<(accounts::Model, bool)> {
    if let Some(account) = accounts::find_by_email(txn, key, &email).await? {
        return Ok((account, true));
    }
    let account = accounts::create(
        txn,
        key,
        NewAccount {
            email,
            password_hash: hash,
            full_name: None,
            invited_by: None,
            // The operator vouches for the address.
            email_confirmed: true,
        },
    )
    .await?;
    Ok((account, false))
}
