//! The access context: facilities, memberships, API keys and emergency
//! access, as the role matrix reaches them. Their behaviour is tested with
//! the contexts that use them (identity, patients).

use carebase::policy::{Permission as P, Role};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::{BoxFuture, Case, Grant, Records};
use crate::support::{TestApp, id, json_of};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    [facility_cases(), staff_cases(), emergency_cases()]
        .into_iter()
        .flatten()
        .collect()
}

/// Facilities, memberships and API keys.
fn facility_cases() -> Vec<Case> {
    vec![
        Case::new("read facility", Method::GET, P::FACILITY_READ, |r, _| {
            format!("/facilities/{f}", f = r.facility)
        }),
        Case::new(
            "update facility",
            Method::PATCH,
            P::FACILITY_MANAGE,
            |r, _| format!("/facilities/{f}", f = r.facility),
        )
        .body(|_, _| Some(json!({"city": "Springfield"}))),
        Case::new(
            "list memberships",
            Method::GET,
            P::MEMBERSHIP_READ,
            |r, _| format!("/facilities/{f}/memberships", f = r.facility),
        ),
        Case::new(
            "grant membership",
            Method::POST,
            P::MEMBERSHIP_MANAGE,
            |r, _| format!("/facilities/{f}/memberships", f = r.facility),
        )
        .body(|w, _| Some(json!({"account_id": w.grantee, "role": "nurse"}))),
        Case::new("list API keys", Method::GET, P::API_KEY_MANAGE, |r, _| {
            format!("/facilities/{f}/api-keys", f = r.facility)
        }),
        Case::new("create API key", Method::POST, P::API_KEY_MANAGE, |r, _| {
            format!("/facilities/{f}/api-keys", f = r.facility)
        })
        .body(|_, _| Some(json!({"name": "n8n", "scopes": ["facility:read"]}))),
        Case::new(
            "review emergency access",
            Method::GET,
            P::EMERGENCY_ACCESS_REVIEW,
            |r, _| format!("/facilities/{f}/emergency-access", f = r.facility),
        ),
        Case::new(
            "create facility",
            Method::POST,
            P::FACILITY_CREATE,
            |_, _| "/facilities".to_owned(),
        )
        .body(|_, _| Some(json!({"name": "New Clinic"})))
        .grant(Grant::Installation),
        // Every role lists the facilities it reads: none, for some.
        Case::signed_in("list facilities", Method::GET, 200, |_, _| {
            "/facilities".to_owned()
        }),
        Case::new(
            "end membership",
            Method::DELETE,
            P::MEMBERSHIP_MANAGE,
            |r, membership| format!("/facilities/{f}/memberships/{membership}", f = r.facility),
        )
        .fresh(fresh_membership),
        Case::new(
            "revoke API key",
            Method::DELETE,
            P::API_KEY_MANAGE,
            |r, key| format!("/facilities/{f}/api-keys/{key}", f = r.facility),
        )
        .fresh(fresh_api_key)
        .grant(Grant::AlsoNeeds(P::FACILITY_MANAGE)),
    ]
}

/// The staff directory and its profiles.
fn staff_cases() -> Vec<Case> {
    vec![
        Case::new("list staff", Method::GET, P::STAFF_READ, |r, _| {
            format!("/facilities/{f}/staff", f = r.facility)
        }),
        Case::new("read staff member", Method::GET, P::STAFF_READ, |r, _| {
            format!("/facilities/{f}/staff/{a}", f = r.facility, a = r.admin)
        }),
        Case::new(
            "change staff profile",
            Method::PATCH,
            P::MEMBERSHIP_MANAGE,
            |r, _| {
                format!(
                    "/facilities/{f}/staff/{p}/profile",
                    f = r.facility,
                    p = r.provider
                )
            },
        )
        .body(|_, _| Some(json!({"certification": "Board certified"}))),
        // The provider has no licence or NPI to verify: past the policy
        // engine, a 409.
        Case::new(
            "verify staff profile",
            Method::PUT,
            P::PROFILE_VERIFY,
            |r, _| {
                format!(
                    "/facilities/{f}/staff/{p}/verification",
                    f = r.facility,
                    p = r.provider
                )
            },
        )
        .body(|_, _| Some(json!({"verified": true}))),
    ]
}

/// Emergency access: asked for a patient of the facility the role does not
/// belong to (one no other case reads, since the grant opens it), and the
/// review of a grant this context made (see `role_fixture`).
fn emergency_cases() -> Vec<Case> {
    vec![
        Case::new(
            "ask for emergency access",
            Method::POST,
            P::EMERGENCY_ACCESS_REQUEST,
            |_, _| "/emergency-access".to_owned(),
        )
        .body(|w, _| {
            Some(json!({
                "facility_id": w.other.facility,
                "patient_id": w.other.stranger,
                "reason": "unconscious in our ER, needs allergies",
            }))
        })
        .grant(Grant::Anywhere(201)),
        Case::new(
            "mark emergency access reviewed",
            Method::POST,
            P::EMERGENCY_ACCESS_REVIEW,
            |r, grant| {
                format!(
                    "/facilities/{f}/emergency-access/{grant}/review",
                    f = r.facility
                )
            },
        ),
    ]
}

/// An emergency access grant to the records' stranger, asked for by a
/// physician of a facility of its own.
pub async fn role_fixture(app: &TestApp, records: &Records) -> Uuid {
    let er = app.facility("Emergency Room").await;
    let physician = app.person(&[(Some(er), Role::Physician)]).await;
    let grant = app
        .call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(json!({
                "facility_id": records.facility,
                "patient_id": records.stranger,
                "reason": "unconscious in our ER, needs allergies",
            })),
        )
        .await;
    id(&json_of(grant).await)
}

/// A nurse's membership of the records' facility, granted by its
/// administrator to an account made for it.
fn fresh_membership<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let (account, _) = app.account(&[]).await;
        let granted = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{}/memberships", records.facility),
                Some(json!({"account_id": account, "role": "nurse"})),
            )
            .await;
        id(&json_of(granted).await)
    })
}

/// An API key of the records' facility, made by its administrator.
fn fresh_api_key<'a>(app: &'a TestApp, records: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move {
        let made = app
            .call(
                &records.admin_token,
                Method::POST,
                &format!("/facilities/{}/api-keys", records.facility),
                Some(json!({"name": "n8n", "scopes": ["facility:read"]})),
            )
            .await;
        id(&json_of(made).await)
    })
}
