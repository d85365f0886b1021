//! Emergency access: one patient outside the caller's facilities, with a
//! reason, flagged, reviewed, and for a limited time.

use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{Person, TestApp, TestBackend, id, json_of, new_patient, problem};

on_both_backends!(
    emergency_access_opens_one_patient_with_a_reason,
    a_grant_ends_with_the_membership_it_was_granted_under,
);

async fn emergency_access_opens_one_patient_with_a_reason(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let home = app.facility("Home Hospital").await;
    let away = app.facility("Away Hospital").await;
    let target = app.patient(away, new_patient()).await;
    let bystander = app.patient(away, new_patient()).await;
    let physician = app.person(&[(Some(home), Role::Physician)]).await;
    let clerk = app.person(&[(Some(home), Role::Staff)]).await;
    let reviewer = app.person(&[(Some(away), Role::Admin)]).await;
    let target_path = format!("/facilities/{away}/patients/{}", id(&target));

    nothing_opens_without_a_grant(&app, away, &target, &physician, &clerk, &target_path).await;
    let grant =
        the_grant_opens_only_its_patient(&app, away, &target, &bystander, &physician, &target_path)
            .await;
    the_grant_is_flagged_and_reviewed(&app, away, &target, &reviewer, &grant).await;
    // An expired grant opens nothing.
    let backend_kind = app.state.db.conn().get_database_backend();
    app.state
        .db
        .conn()
        .execute_raw(Statement::from_sql_and_values(
            backend_kind,
            "UPDATE emergency_access SET expires_at = $1",
            [1i64.into()],
        ))
        .await
        .unwrap();
    problem(
        app.call(&physician.token, Method::GET, &target_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    app.stop().await;
}

/// Asks for emergency access to `target` of `away`, saying why.
fn ask(away: Uuid, target: &Value, reason: &str) -> Value {
    json!({"facility_id": away, "patient_id": id(target), "reason": reason})
}

/// Without a grant the patient is not found; a grant needs a reason, the
/// permission, and a patient that exists.
async fn nothing_opens_without_a_grant(
    app: &TestApp,
    away: Uuid,
    target: &Value,
    physician: &Person,
    clerk: &Person,
    target_path: &str,
) {
    problem(
        app.call(&physician.token, Method::GET, target_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(ask(away, target, "because")),
        )
        .await,
        422,
        "validation",
    )
    .await;
    problem(
        app.call(
            &clerk.token,
            Method::POST,
            "/emergency-access",
            Some(ask(away, target, "unconscious in our ER, needs allergies")),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let unknown = json!({"facility_id": away, "patient_id": Uuid::now_v7(), "reason": "unconscious in our ER"});
    problem(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(unknown),
        )
        .await,
        404,
        "not-found",
    )
    .await;
}

/// The grant opens its one patient: not another, not the list. Answers
/// the grant.
async fn the_grant_opens_only_its_patient(
    app: &TestApp,
    away: Uuid,
    target: &Value,
    bystander: &Value,
    physician: &Person,
    target_path: &str,
) -> Value {
    let grant = json_of(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(ask(away, target, "unconscious in our ER, needs allergies")),
        )
        .await,
    )
    .await;
    let read = json_of(
        app.call(&physician.token, Method::GET, target_path, None)
            .await,
    )
    .await;
    assert_eq!(read["allergies"], json!(["penicillin", "latex"]));
    let other_path = format!("/facilities/{away}/patients/{}", id(bystander));
    problem(
        app.call(&physician.token, Method::GET, &other_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    problem(
        app.call(
            &physician.token,
            Method::GET,
            &format!("/facilities/{away}/patients"),
            None,
        )
        .await,
        404,
        "not-found",
    )
    .await;
    grant
}

/// The grant and the read it allowed are flagged in the audit log, and
/// the facility reviews the grant.
async fn the_grant_is_flagged_and_reviewed(
    app: &TestApp,
    away: Uuid,
    target: &Value,
    reviewer: &Person,
    grant: &Value,
) {
    let events = json_of(
        app.call(
            &reviewer.token,
            Method::GET,
            &format!("/facilities/{away}/audit-events?patient_id={}", id(target)),
            None,
        )
        .await,
    )
    .await;
    let flagged: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["compliance_flags"]
                .as_array()
                .unwrap()
                .contains(&json!("emergency_access"))
        })
        .collect();
    let actions: Vec<&str> = flagged
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["patient_access", "emergency_access"]);

    let review_list = json_of(
        app.call(
            &reviewer.token,
            Method::GET,
            &format!("/facilities/{away}/emergency-access?unreviewed=true"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        review_list["items"][0]["reason"],
        "unconscious in our ER, needs allergies"
    );
    let reviewed = json_of(
        app.call(
            &reviewer.token,
            Method::POST,
            &format!(
                "/facilities/{away}/emergency-access/{}/review",
                grant["id"].as_str().unwrap()
            ),
            None,
        )
        .await,
    )
    .await;
    assert!(reviewed["reviewed_at"].is_string());
}

/// A clinician cannot break the glass into their own facility; a grant
/// stops opening the patient once the clinical membership it was granted
/// under is revoked, even while the holder keeps another role elsewhere.
async fn a_grant_ends_with_the_membership_it_was_granted_under(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let home = app.facility("Home Hospital").await;
    let away = app.facility("Away Hospital").await;
    let third = app.facility("Third Clinic").await;
    let own = app.patient(home, new_patient()).await;
    let target = app.patient(away, new_patient()).await;
    let physician = app
        .person(&[(Some(home), Role::Physician), (Some(third), Role::Staff)])
        .await;
    let reason = "Unconscious on arrival, no records at hand";
    let refused = problem(
        app.call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(ask(home, &own, reason)),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "facility_id");
    let granted = app
        .call(
            &physician.token,
            Method::POST,
            "/emergency-access",
            Some(ask(away, &target, reason)),
        )
        .await;
    assert_eq!(granted.status(), 201);
    let target_path = format!("/facilities/{away}/patients/{}", id(&target));
    let opened = app
        .call(&physician.token, Method::GET, &target_path, None)
        .await;
    assert_eq!(opened.status(), 200);
    let home_admin = app.person(&[(Some(home), Role::Admin)]).await;
    let clinical = app
        .membership_of(&home_admin.token, home, physician.account_id)
        .await;
    app.revoke_membership(&home_admin.token, home, clinical)
        .await;
    problem(
        app.call(&physician.token, Method::GET, &target_path, None)
            .await,
        404,
        "not-found",
    )
    .await;
    app.stop().await;
}
