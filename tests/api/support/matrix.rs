//! The role matrix's case type: one resource and action, the permission
//! that should decide it, and how the answer follows from the role. Each
//! context lists its cases in its own test file (`role_cases`), registered
//! once in `context_tests!` in main.rs; `role_matrix.rs` runs them all for
//! every role, in a facility the role belongs to and in one it does not.

use std::future::Future;
use std::pin::Pin;

use carebase::policy::Permission;
use carebase::policy::Role;
use carebase::policy::{RecordReach, RoleScope};
use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use super::TestApp;
pub use super::world::{Records, World};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Makes, for one request, a record the request uses up (given to the
/// case's path as its record).
pub type Fresh = for<'a> fn(&'a TestApp, &'a Records) -> BoxFuture<'a, Uuid>;

/// How the expected answer follows from the role and the permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// The permission decides, on a record assigned to someone else: a
    /// role that reaches only its assigned records is refused.
    Permission,
    /// The request makes a record of the caller's own, or acts where every
    /// role under test takes part (the own facility's conversation): a
    /// role that reaches only its own records may still do it.
    OwnRecord,
    /// As [`Grant::OwnRecord`] for the patient role, which acts for its
    /// own record's side; as [`Grant::Permission`] for everyone else.
    OwnRecordForPatient,
    /// Only the author may, administrators included: a role the
    /// permission lets through is still refused.
    AuthorOnly,
    /// No facility in the path: allowed to installation roles holding the
    /// permission, refused to everyone else. Sent once per role.
    Installation,
    /// No facility in the path: any role holding the permission gets this
    /// status, everyone else 403. Sent once per role.
    Anywhere(u16),
    /// Someone else's record: the permission lets a role through only if it
    /// also holds this one (a developer revokes its own keys; an
    /// administrator's key needs `facility:manage`).
    AlsoNeeds(Permission),
    /// The caller's own account or session, which no permission guards:
    /// every signed-in role gets this status. Sent once per role.
    SignedIn(u16),
}

/// One resource and action of the matrix.
pub struct Case {
    pub name: &'static str,
    pub method: Method,
    /// The path, given the facility's records and the record the case's
    /// context made for it there (nil for a context that makes none).
    pub path: fn(&Records, Uuid) -> String,
    /// A JSON body, or a string sent as `text/csv`.
    pub body: fn(&World, &Records) -> Option<Value>,
    /// What decides; none for [`Grant::SignedIn`].
    pub permission: Option<Permission>,
    pub grant: Grant,
    pub fresh: Option<Fresh>,
    /// Whether the request is sent in a session signed in for it alone,
    /// whose id is the case's record: it ends the session it is sent in.
    pub own_session: bool,
    /// Answers, besides a success or a 409, that mean the policy engine
    /// let the request through.
    pub passes: &'static [u16],
}

impl Case {
    pub fn new(
        name: &'static str,
        method: Method,
        permission: Permission,
        path: fn(&Records, Uuid) -> String,
    ) -> Self {
        Self {
            name,
            method,
            path,
            body: |_, _| None,
            permission: Some(permission),
            grant: Grant::Permission,
            fresh: None,
            own_session: false,
            passes: &[],
        }
    }

    /// A request about the caller's own account, which every signed-in
    /// role gets `status` for.
    pub fn signed_in(
        name: &'static str,
        method: Method,
        status: u16,
        path: fn(&Records, Uuid) -> String,
    ) -> Self {
        Self {
            name,
            method,
            path,
            body: |_, _| None,
            permission: None,
            grant: Grant::SignedIn(status),
            fresh: None,
            own_session: false,
            passes: &[],
        }
    }

    pub fn body(self, body: fn(&World, &Records) -> Option<Value>) -> Self {
        Self { body, ..self }
    }

    pub fn grant(self, grant: Grant) -> Self {
        Self { grant, ..self }
    }

    /// Each request acts on a record `fresh` makes for it.
    pub fn fresh(self, fresh: Fresh) -> Self {
        Self {
            fresh: Some(fresh),
            ..self
        }
    }

    pub fn passes(self, passes: &'static [u16]) -> Self {
        Self { passes, ..self }
    }

    /// Sends the request in a session of its own (see [`Case::own_session`]).
    pub fn in_own_session(self) -> Self {
        Self {
            own_session: true,
            ..self
        }
    }

    /// Whether the case is sent once per role rather than once per facility.
    pub fn installation_wide(&self) -> bool {
        matches!(
            self.grant,
            Grant::Installation | Grant::Anywhere(_) | Grant::SignedIn(_)
        )
    }

    /// What `role` should get, in a facility it belongs to (`own`) or not.
    pub fn expected(&self, role: Role, own: bool) -> u16 {
        let installation = role.scope() == RoleScope::Installation;
        let allowed = self.permission.is_none_or(|p| role.can(p))
            && match self.grant {
                Grant::AlsoNeeds(also) => role.can(also),
                _ => true,
            };
        match self.grant {
            Grant::Installation => return if installation && allowed { 200 } else { 403 },
            Grant::Anywhere(status) => return if allowed { status } else { 403 },
            Grant::SignedIn(status) => return status,
            _ => {}
        }
        let makes_own = match self.grant {
            Grant::OwnRecord => true,
            Grant::OwnRecordForPatient => role == Role::Patient,
            _ => false,
        };
        let want = match (installation || own, allowed) {
            (true, true)
                if !makes_own
                    && self
                        .permission
                        .is_some_and(|p| role.record_reach(p) == RecordReach::Assigned) =>
            {
                403
            }
            (true, true) => 200,
            (true, false) => 403,
            (false, _) => 404,
        };
        if self.grant == Grant::AuthorOnly && want == 200 {
            403
        } else {
            want
        }
    }

    /// The answer as the matrix compares it: a success, a conflict with
    /// the record's state (a lead not pending review), or one of the case's
    /// `passes`, means the policy engine let the request through.
    pub fn outcome(&self, status: u16) -> u16 {
        if let Grant::Anywhere(_) | Grant::SignedIn(_) = self.grant {
            return status;
        }
        if (200..300).contains(&status) || status == 409 || self.passes.contains(&status) {
            200
        } else {
            status
        }
    }
}
