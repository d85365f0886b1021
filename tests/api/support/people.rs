//! People for tests: accounts with roles, signed in over the real API.
//!
//! Accounts are made with the stores (as `carebase admin create` does) and
//! then sign in through `POST /auth/sign-in`, so every token a test uses was
//! issued by the real endpoint.

use std::sync::OnceLock;

use carebase::access::memberships::{self, NewMembership};
use carebase::identity::accounts::{self, NewAccount};
use carebase::policy::Role;
use carebase::types::Email;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{TestApp, id, json_of};

/// Every test account's password.
pub const PASSWORD: &str = "correct horse battery staple";

/// The argon2 hash of [`PASSWORD`], computed once per test binary: hashing
/// costs tens of milliseconds and tests make hundreds of accounts.
async fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    if let Some(hash) = HASH.get() {
        return hash.clone();
    }
    let hash = carebase::identity::password::hash(PASSWORD.to_owned())
        .await
        .unwrap();
    HASH.get_or_init(|| hash).clone()
}

/// An email address no account has.
pub fn unique_email() -> String {
    format!("{}@people.example", Uuid::new_v4().simple())
}

/// A signed-in person.
#[derive(Clone, Debug)]
pub struct Person {
    pub account_id: Uuid,
    pub email: String,
    pub token: String,
    pub refresh_token: String,
    pub session_id: Uuid,
}

impl TestApp {
    /// A confirmed account with `roles` (facility `None` = installation).
    pub async fn account(&self, roles: &[(Option<Uuid>, Role)]) -> (Uuid, String) {
        let email = format!("{}@test.example", Uuid::new_v4().simple());
        let key = self.state.keyring.installation().await.unwrap();
        let account = accounts::create(
            self.state.db.conn(),
            &key,
            NewAccount {
                email: Email::parse(&email).unwrap(),
                password_hash: Some(password_hash().await),
                full_name: Some("Test Person".to_owned()),
                invited_by: None,
                email_confirmed: true,
            },
        )
        .await
        .unwrap();
        for (facility_id, role) in roles {
            memberships::grant(
                self.state.db.conn(),
                NewMembership {
                    account_id: account.id,
                    facility_id: *facility_id,
                    role: *role,
                    department: None,
                    is_primary: false,
                    assigned_by: None,
                },
            )
            .await
            .unwrap();
        }
        (account.id, email)
    }

    /// Signs `email` in with the test password; panics unless it works.
    pub async fn sign_in(&self, email: &str) -> Value {
        let response = self
            .client
            .post(self.url("/auth/sign-in"))
            .json(&json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "sign-in of {email}");
        response.json().await.unwrap()
    }

    /// A person holding `roles`, signed in.
    pub async fn person(&self, roles: &[(Option<Uuid>, Role)]) -> Person {
        let (account_id, email) = self.account(roles).await;
        let tokens = self.sign_in(&email).await;
        Person {
            account_id,
            email,
            token: tokens["access_token"].as_str().unwrap().to_owned(),
            refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
            session_id: tokens["session_id"].as_str().unwrap().parse().unwrap(),
        }
    }

    /// The installation's system administrator.
    pub async fn system_admin(&self) -> Person {
        self.person(&[(None, Role::SystemAdmin)]).await
    }
}

impl TestApp {
    /// The id of `account`'s live membership in `facility`, as its
    /// administrator (`admin_token`) lists them.
    pub async fn membership_of(&self, admin_token: &str, facility: Uuid, account: Uuid) -> Uuid {
        let listed = json_of(
            self.call(
                admin_token,
                reqwest::Method::GET,
                &format!("/facilities/{facility}/memberships"),
                None,
            )
            .await,
        )
        .await;
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["account_id"] == json!(account))
            .map(id)
            .unwrap_or_else(|| panic!("{account} has no membership in {facility}"))
    }

    /// Grants `account` a `role` in `facility` over the API (as `token`,
    /// an administrator there); the new membership's id.
    pub async fn grant_role(&self, token: &str, facility: Uuid, account: Uuid, role: &str) -> Uuid {
        let granted = self
            .call(
                token,
                reqwest::Method::POST,
                &format!("/facilities/{facility}/memberships"),
                Some(json!({"account_id": account, "role": role})),
            )
            .await;
        assert_eq!(granted.status(), 201);
        id(&json_of(granted).await)
    }

    /// Signs the session of `token` out; panics unless it worked.
    pub async fn sign_out(&self, token: &str) {
        let out = self
            .call(token, reqwest::Method::POST, "/auth/sign-out", None)
            .await;
        assert_eq!(out.status(), 204);
    }

    /// Ends a membership over the API; panics unless it worked.
    pub async fn revoke_membership(&self, admin_token: &str, facility: Uuid, membership: Uuid) {
        let revoked = self
            .call(
                admin_token,
                reqwest::Method::DELETE,
                &format!("/facilities/{facility}/memberships/{membership}"),
                None,
            )
            .await;
        assert!(revoked.status().is_success(), "{}", revoked.status());
    }
}
