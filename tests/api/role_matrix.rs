//! The access matrix: every role × every resource and action × own and
//! other facility, against the real HTTP API, with the expected answer
//! derived from the role catalogue. A denied action in a facility the role
//! belongs to is 403; anything in a facility it does not belong to is 404,
//! never a hint that the thing exists.

use carebase::access::roles::RoleScope;
use carebase::access::{Permission, Role};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, TestBackend};
use crate::on_both_backends;
use crate::people::new_patient;

on_both_backends!(every_role_reaches_exactly_what_its_permissions_grant);

/// One resource and action.
struct Case {
    name: &'static str,
    method: Method,
    /// The path, given the facility and its patient.
    path: fn(Uuid, Uuid) -> String,
    body: fn(&World) -> Option<Value>,
    permission: Permission,
}

/// What the cases act on: two facilities, a patient in each, and an
/// account to grant roles to.
struct World {
    own: Uuid,
    other: Uuid,
    own_patient: Value,
    other_patient: Value,
    grantee: Uuid,
}

fn cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case {
            name: "read facility",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}"),
            body: |_| None,
            permission: P::FacilityRead,
        },
        Case {
            name: "update facility",
            method: Method::PATCH,
            path: |f, _| format!("/facilities/{f}"),
            body: |_| Some(json!({"city": "Springfield"})),
            permission: P::FacilityManage,
        },
        Case {
            name: "list memberships",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}/memberships"),
            body: |_| None,
            permission: P::MembershipRead,
        },
        Case {
            name: "grant membership",
            method: Method::POST,
            path: |f, _| format!("/facilities/{f}/memberships"),
            body: |w| Some(json!({"account_id": w.grantee, "role": "nurse"})),
            permission: P::MembershipManage,
        },
        Case {
            name: "invite",
            method: Method::POST,
            path: |f, _| format!("/facilities/{f}/invitations"),
            body: |_| {
                Some(
                    json!({"email": format!("{}@invited.example", Uuid::new_v4().simple()), "role": "nurse"}),
                )
            },
            permission: P::MembershipManage,
        },
        Case {
            name: "list API keys",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}/api-keys"),
            body: |_| None,
            permission: P::ApiKeyManage,
        },
        Case {
            name: "create API key",
            method: Method::POST,
            path: |f, _| format!("/facilities/{f}/api-keys"),
            body: |_| Some(json!({"name": "n8n", "scopes": ["facility:read"]})),
            permission: P::ApiKeyManage,
        },
        Case {
            name: "search audit",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}/audit-events"),
            body: |_| None,
            permission: P::AuditRead,
        },
        Case {
            name: "export audit",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}/audit-events/export"),
            body: |_| None,
            permission: P::AuditExport,
        },
        Case {
            name: "list patients",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}/patients"),
            body: |_| None,
            permission: P::PatientRead,
        },
        Case {
            name: "read patient",
            method: Method::GET,
            path: |f, p| format!("/facilities/{f}/patients/{p}"),
            body: |_| None,
            permission: P::PatientRead,
        },
        Case {
            name: "find patient by MRN",
            method: Method::POST,
            path: |f, _| format!("/facilities/{f}/patients/search"),
            body: |_| None,
            permission: P::PatientRead,
        },
        Case {
            name: "register patient",
            method: Method::POST,
            path: |f, _| format!("/facilities/{f}/patients"),
            body: |_| Some(new_patient()),
            permission: P::PatientCreate,
        },
        Case {
            name: "update patient",
            method: Method::PATCH,
            path: |f, p| format!("/facilities/{f}/patients/{p}"),
            body: |_| Some(json!({"gender": "male"})),
            permission: P::PatientUpdate,
        },
        Case {
            name: "deactivate patient",
            method: Method::POST,
            path: |f, p| format!("/facilities/{f}/patients/{p}/deactivate"),
            body: |_| None,
            permission: P::PatientDeactivate,
        },
        Case {
            name: "review emergency access",
            method: Method::GET,
            path: |f, _| format!("/facilities/{f}/emergency-access"),
            body: |_| None,
            permission: P::EmergencyAccessReview,
        },
    ]
}

/// Installation-wide resources: no facility in the path.
fn installation_cases() -> Vec<(
    &'static str,
    Method,
    &'static str,
    Option<Value>,
    Permission,
)> {
    use Permission as P;
    vec![
        (
            "create facility",
            Method::POST,
            "/facilities",
            Some(json!({"name": "New Clinic"})),
            P::FacilityCreate,
        ),
        (
            "list accounts",
            Method::GET,
            "/admin/accounts",
            None,
            P::AccountManage,
        ),
        (
            "search all audit",
            Method::GET,
            "/admin/audit-events",
            None,
            P::AuditRead,
        ),
        (
            "export all audit",
            Method::GET,
            "/admin/audit-events/export",
            None,
            P::AuditExport,
        ),
        (
            "read outbox",
            Method::GET,
            "/admin/outbox",
            None,
            P::OutboxRead,
        ),
    ]
}

fn id(value: &Value) -> Uuid {
    value["id"].as_str().unwrap().parse().unwrap()
}

/// What the role should get for `permission` in a facility it belongs to
/// (`own`) or not.
fn expected(role: Role, permission: Permission, own: bool) -> u16 {
    let installation = role.scope() == RoleScope::Installation;
    match (installation || own, role.can(permission)) {
        (true, true) => 200,
        (true, false) => 403,
        (false, _) => 404,
    }
}

fn outcome(status: u16) -> u16 {
    if (200..300).contains(&status) {
        200
    } else {
        status
    }
}

async fn every_role_reaches_exactly_what_its_permissions_grant(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let own = app.facility("Own Clinic").await;
    let other = app.facility("Other Clinic").await;
    let world = World {
        own,
        other,
        own_patient: app.patient(own, new_patient()).await,
        other_patient: app.patient(other, new_patient()).await,
        grantee: app.account(&[]).await.0,
    };
    let mut mismatches = Vec::new();
    let mut cross_facility = (0, 0);
    for role in Role::ALL {
        let facility = match role.scope() {
            RoleScope::Installation => None,
            RoleScope::Facility => Some(own),
        };
        let person = app.person(&[(facility, role)]).await;
        if role == Role::Patient {
            // The patient role reaches the record linked to its account.
            link_portal(&app, own, id(&world.own_patient), person.account_id).await;
        }
        for case in cases() {
            for (facility_id, patient, is_own) in [
                (world.own, &world.own_patient, true),
                (world.other, &world.other_patient, false),
            ] {
                let path = (case.path)(facility_id, id(patient));
                let body = if case.name == "find patient by MRN" {
                    Some(json!({"mrn": patient["mrn"]}))
                } else {
                    (case.body)(&world)
                };
                let status = app
                    .call(&person.token, case.method.clone(), &path, body)
                    .await
                    .status()
                    .as_u16();
                let want = expected(role, case.permission, is_own);
                if !is_own && role.scope() == RoleScope::Facility {
                    cross_facility.0 += 1;
                    if status == 404 {
                        cross_facility.1 += 1;
                    }
                }
                if outcome(status) != want {
                    mismatches.push(format!(
                        "{role} {} in {} facility: got {status}, expected {want}",
                        case.name,
                        if is_own { "own" } else { "other" }
                    ));
                }
            }
        }
        for (name, method, path, body, permission) in installation_cases() {
            let status = app
                .call(&person.token, method, path, body)
                .await
                .status()
                .as_u16();
            let want = if role.scope() == RoleScope::Installation && role.can(permission) {
                200
            } else {
                403
            };
            if outcome(status) != want {
                mismatches.push(format!("{role} {name}: got {status}, expected {want}"));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(cross_facility.0 > 0);
    assert_eq!(
        cross_facility.0, cross_facility.1,
        "every cross-facility request is denied as not found"
    );
    app.stop().await;
}

async fn link_portal(app: &TestApp, facility: Uuid, patient: Uuid, account: Uuid) {
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let response = app
        .call(
            &admin.token,
            Method::PATCH,
            &format!("/facilities/{facility}/patients/{patient}"),
            Some(json!({"portal_account_id": account})),
        )
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
}
