//! Identity's cases of the role matrix (see `support::matrix`): accounts
//! as installation administrators manage them, and the signed-in account
//! looking after itself, which every role may.

use carebase::policy::Permission as P;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

use crate::support::matrix::{BoxFuture, Case, Grant, Records};
use crate::support::{PASSWORD, TestApp, unique_email};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    [account_cases(), own_account_cases(), own_session_cases()]
        .into_iter()
        .flatten()
        .collect()
}

/// Invitations, and accounts as installation administrators manage them.
fn account_cases() -> Vec<Case> {
    vec![
        Case::new("invite", Method::POST, P::MEMBERSHIP_MANAGE, |r, _| {
            format!("/facilities/{f}/invitations", f = r.facility)
        })
        .body(|_, _| {
            Some(
                json!({"email": format!("{}@invited.example", Uuid::new_v4().simple()), "role": "nurse"}),
            )
        }),
        Case::new("list accounts", Method::GET, P::ACCOUNT_MANAGE, |_, _| {
            "/admin/accounts".to_owned()
        })
        .grant(Grant::Installation),
        Case::new("read account", Method::GET, P::ACCOUNT_MANAGE, |r, _| {
            format!("/admin/accounts/{a}", a = r.admin)
        })
        .grant(Grant::Installation),
        Case::new("ban account", Method::POST, P::ACCOUNT_MANAGE, |_, account| {
            format!("/admin/accounts/{account}/ban")
        })
        .body(|_, _| Some(json!({})))
        .grant(Grant::Installation)
        .fresh(fresh_account),
        Case::new("lift a ban", Method::POST, P::ACCOUNT_MANAGE, |_, account| {
            format!("/admin/accounts/{account}/unban")
        })
        .grant(Grant::Installation)
        .fresh(fresh_account),
        Case::new("revoke an account's sessions", Method::POST, P::ACCOUNT_MANAGE, |_, account| {
            format!("/admin/accounts/{account}/revoke-sessions")
        })
        .grant(Grant::Installation)
        .fresh(fresh_account),
        Case::new("delete account", Method::DELETE, P::ACCOUNT_MANAGE, |_, account| {
            format!("/admin/accounts/{account}")
        })
        .grant(Grant::Installation)
        .fresh(fresh_account),
    ]
}

/// The signed-in account's profile, password, addresses and second
/// factor. A code nobody was sent is refused past the policy engine (422),
/// as is a second factor not yet enabled (409).
fn own_account_cases() -> Vec<Case> {
    vec![
        Case::signed_in("read own account", Method::GET, 200, |_, _| {
            "/me".to_owned()
        }),
        Case::signed_in("list own invitations", Method::GET, 200, |_, _| {
            "/me/invitations".to_owned()
        }),
        Case::signed_in("accept an invitation", Method::POST, 404, |_, _| {
            format!("/me/invitations/{}/accept", Uuid::new_v4())
        }),
        Case::signed_in("read own staff profile", Method::GET, 200, |_, _| {
            "/me/profile".to_owned()
        }),
        Case::signed_in("change own staff profile", Method::PATCH, 200, |_, _| {
            "/me/profile".to_owned()
        })
        .body(|_, _| Some(json!({"first_name": "Ada", "last_name": "Quill"}))),
        Case::signed_in("change own profile", Method::PATCH, 200, |_, _| {
            "/me".to_owned()
        })
        .body(|_, _| Some(json!({"full_name": "Test Person"}))),
        // To the same password: the person signs in with it again later.
        Case::signed_in("change own password", Method::POST, 204, |_, _| {
            "/me/password".to_owned()
        })
        .body(|_, _| Some(json!({"current_password": PASSWORD, "new_password": PASSWORD}))),
        Case::signed_in("ask to change own email", Method::POST, 202, |_, _| {
            "/me/email".to_owned()
        })
        .body(|_, _| Some(json!({"new_email": unique_email(), "current_password": PASSWORD}))),
        Case::signed_in("confirm own email", Method::POST, 422, |_, _| {
            "/me/email/confirm".to_owned()
        })
        .body(|_, _| Some(json!({"token": "never-sent"}))),
        Case::signed_in("ask to change own phone", Method::POST, 202, |_, _| {
            "/me/phone".to_owned()
        })
        .body(|_, _| Some(json!({"phone": "+15550109999"}))),
        Case::signed_in("confirm own phone", Method::POST, 422, |_, _| {
            "/me/phone/confirm".to_owned()
        })
        .body(|_, _| Some(json!({"token": "never-sent"}))),
        Case::signed_in("enrol a second factor", Method::POST, 200, |_, _| {
            "/me/mfa".to_owned()
        }),
        Case::signed_in("confirm the second factor", Method::POST, 422, |_, _| {
            "/me/mfa/confirm".to_owned()
        })
        .body(|_, _| Some(json!({"code": "not a code"}))),
        Case::signed_in("disable the second factor", Method::DELETE, 409, |_, _| {
            "/me/mfa".to_owned()
        })
        .body(|_, _| Some(json!({"code": "not a code"}))),
    ]
}

/// The signed-in account's sessions; the ones that end a session end one
/// signed in for them alone.
fn own_session_cases() -> Vec<Case> {
    vec![
        Case::signed_in("list own sessions", Method::GET, 200, |_, _| {
            "/me/sessions".to_owned()
        }),
        Case::signed_in("end own session", Method::DELETE, 204, |_, session| {
            format!("/me/sessions/{session}")
        })
        .in_own_session(),
        Case::signed_in("sign out", Method::POST, 204, |_, _| {
            "/auth/sign-out".to_owned()
        })
        .in_own_session(),
    ]
}

/// An account with no role, for an administrator to act on.
fn fresh_account<'a>(app: &'a TestApp, _: &'a Records) -> BoxFuture<'a, Uuid> {
    Box::pin(async move { app.account(&[]).await.0 })
}
