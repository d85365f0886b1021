//! The staff directory of a facility: each live membership (a role held,
//! in a department) with its account's name, email and standing, and the
//! person's profile (seed 001's first and last name; a provider's licence,
//! NPI, certification, country and whether an administrator verified
//! them). Patients' portal memberships are not staff and never listed.
//!
//! Names are sealed, so the name search opens the facility's members batch
//! by batch and matches them here; a request scans at most [`MAX_SCAN`]
//! memberships and, when it stops short, hands back the cursor of the last
//! one it read so the next request goes on from there.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::memberships;
use crate::crypto::DataKey;
use crate::error::ApiError;
use crate::http::Page;
use crate::identity::accounts::{self, AccountCard};
use crate::identity::profiles::{self, StaffProfile};
use crate::policy::{FacilityScope, Role};
use crate::time::Timestamp;

/// The most memberships one directory request reads.
pub const MAX_SCAN: u64 = 5_000;
const BATCH: u64 = 200;

/// A member of the facility's staff, in one of their roles.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StaffMember {
    pub membership_id: Uuid,
    pub account_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// The name the account gave itself.
    pub full_name: Option<String>,
    pub email: String,
    pub role: Role,
    pub department: Option<String>,
    pub is_primary: bool,
    /// Whether the account may sign in (neither banned nor deleted).
    pub active: bool,
    /// The profile; its `address` only for the facility's administrators
    /// and the member.
    pub profile: StaffProfile,
}

/// Which members a directory page shows.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StaffFilter {
    /// Only members in this role (`patient` finds no one: patients are
    /// not staff and are never listed).
    pub role: Option<Role>,
    /// Part of a first, last or full name, any case.
    pub q: Option<String>,
    /// Only active (`true`) or inactive (`false`) accounts.
    pub active: Option<bool>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
    /// Items per page, 1 to 200; 50 when absent.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
}

impl StaffFilter {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self
            .q
            .as_deref()
            .is_some_and(|q| q.trim().is_empty() || q.chars().count() > 100)
        {
            return Err(ApiError::invalid("q", "must be 1 to 100 characters"));
        }
        Ok(())
    }

    fn matches(&self, member: &StaffMember) -> bool {
        if self.active.is_some_and(|active| active != member.active) {
            return false;
        }
        let Some(q) = &self.q else {
            return true;
        };
        let q = q.trim().to_lowercase();
        let both = format!(
            "{} {}",
            member.first_name.as_deref().unwrap_or_default(),
            member.last_name.as_deref().unwrap_or_default()
        );
        [member.full_name.as_deref(), Some(both.as_str())]
            .into_iter()
            .flatten()
            .any(|name| name.to_lowercase().contains(&q))
    }
}

/// Whom the directory is read by: who is shown addresses.
#[derive(Clone, Copy, Debug)]
pub struct Reader {
    pub account_id: Uuid,
    /// An administrator of the facility (`membership:manage`).
    pub administers: bool,
}

/// A page of the facility's directory by `filter`; `key` is the
/// installation's.
pub async fn page(
    db: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    filter: &StaffFilter,
    reader: Reader,
    limit: u64,
) -> Result<Page<StaffMember>, ApiError> {
    let mut found = Vec::new();
    let mut cursor = filter.after;
    let mut scanned = 0;
    loop {
        let rows = memberships::staff_page(db, scope, filter.role, cursor, BATCH).await?;
        let batch = members(db, key, &rows, reader).await?;
        for (row, member) in rows.iter().zip(batch) {
            scanned += 1;
            cursor = Some(row.id);
            if let Some(member) = member.filter(|m| filter.matches(m)) {
                found.push(member);
                if found.len() as u64 == limit {
                    return Ok(Page {
                        items: found,
                        next_cursor: cursor,
                    });
                }
            }
        }
        if (rows.len() as u64) < BATCH {
            return Ok(Page {
                items: found,
                next_cursor: None,
            });
        }
        if scanned >= MAX_SCAN {
            return Ok(Page {
                items: found,
                next_cursor: cursor,
            });
        }
    }
}

/// One member, by account: their membership in the facility (the primary
/// one when they hold several).
pub async fn member(
    db: &impl ConnectionTrait,
    key: &DataKey,
    scope: &FacilityScope,
    account_id: Uuid,
    reader: Reader,
) -> Result<Option<StaffMember>, ApiError> {
    let rows = memberships::staff_of_account(db, scope, account_id).await?;
    let Some(row) = rows
        .iter()
        .max_by_key(|r| (r.is_primary, std::cmp::Reverse(r.id)))
    else {
        return Ok(None);
    };
    Ok(members(db, key, std::slice::from_ref(row), reader)
        .await?
        .pop()
        .flatten())
}

/// The members of `rows` (none for a role this build does not know).
async fn members(
    db: &impl ConnectionTrait,
    key: &DataKey,
    rows: &[memberships::Model],
    reader: Reader,
) -> Result<Vec<Option<StaffMember>>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.account_id).collect();
    let cards = accounts::cards(db, key, &ids, Timestamp::now()).await?;
    let profiles = profiles::of_accounts(db, key, &ids).await?;
    Ok(rows
        .iter()
        .map(|row| compose(row, cards.get(&row.account_id), &profiles, reader))
        .collect())
}

fn compose(
    row: &memberships::Model,
    card: Option<&AccountCard>,
    profiles: &HashMap<Uuid, StaffProfile>,
    reader: Reader,
) -> Option<StaffMember> {
    let membership = row.membership()?;
    let card = card?;
    let profile = profiles.get(&row.account_id).cloned().unwrap_or_default();
    let profile = if reader.administers || reader.account_id == row.account_id {
        profile
    } else {
        profile.for_colleagues()
    };
    Some(StaffMember {
        membership_id: row.id,
        account_id: row.account_id,
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        full_name: card.full_name.clone(),
        email: card.email.clone(),
        role: membership.role,
        department: (!membership.department.is_empty()).then_some(membership.department),
        is_primary: membership.is_primary,
        active: card.active,
        profile,
    })
}
