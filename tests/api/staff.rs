//! The staff directory of a facility: its members by role, name and
//! standing, page by page, with seed 001's names and a provider's
//! credentials (seeds 002 and 004), the address for administrators and the
//! member only, never a patient; and verification, which only another
//! administrator gives and a new licence number or NPI withdraws.

use carebase::audit::AuditAction;
use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, assert_no_plaintext, id, new_patient, of_type, problem,
};

on_both_backends!(
    the_directory_lists_staff_by_role_name_and_standing,
    only_another_administrator_verifies_credentials,
);

const NPI: &str = "1234567893";

async fn change_own(app: &TestApp, person: &Person, body: Value) -> reqwest::Response {
    app.call(&person.token, Method::PATCH, "/me/profile", Some(body))
        .await
}

async fn named(app: &TestApp, person: &Person, first: &str, last: &str) {
    let changed = change_own(app, person, json!({"first_name": first, "last_name": last})).await;
    assert_eq!(changed.status(), 200);
}

fn names(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {}", m["first_name"].as_str().unwrap_or("-"), m["role"]))
        .collect()
}

async fn the_directory_lists_staff_by_role_name_and_standing(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let elsewhere = app.facility("Elsewhere").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let sdr = app.person(&[(Some(clinic), Role::Sdr)]).await;
    let coach = app.person(&[(Some(clinic), Role::HealthCoach)]).await;
    let provider = app.person(&[(Some(clinic), Role::Provider)]).await;
    let portal = app.person(&[]).await;
    let patient = app.patient(clinic, new_patient()).await;
    app.link_portal(clinic, id(&patient), &portal).await;
    named(&app, &admin, "Philippa", "Ashdown").await;
    named(&app, &sdr, "Octavia", "Wrenfield").await;
    named(&app, &coach, "Bartholomew", "Quill").await;
    let credentials = json!({"first_name": "Marek", "last_name": "Halloran",
        "licence_number": "MD-4471", "npi": NPI, "certification": "Board certified, urology",
        "address": "17 Larkspur Lane, Eastwick", "country": "us"});
    assert_eq!(change_own(&app, &provider, credentials).await.status(), 200);

    let list = |query: &str| format!("/facilities/{clinic}/staff?{query}");
    lists_filters_and_pages(&app, clinic, &coach, &sdr).await;

    // The provider's credentials for colleagues; the address for the
    // administrators and the provider.
    let path = format!("/facilities/{clinic}/staff/{}", provider.account_id);
    let seen = app.get_json(&coach.token, &path).await;
    assert_eq!(seen["profile"]["npi"], NPI);
    assert_eq!(seen["profile"]["country"], "US");
    assert_eq!(seen["profile"]["verified"], false);
    assert_eq!(seen["profile"]["address"], Value::Null);
    for reader in [&admin, &provider] {
        let seen = app.get_json(&reader.token, &path).await;
        assert_eq!(seen["profile"]["address"], "17 Larkspur Lane, Eastwick");
    }

    let sysadmin = app.system_admin().await;
    let banned = app
        .call(
            &sysadmin.token,
            Method::POST,
            &format!("/admin/accounts/{}/ban", sdr.account_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(banned.status(), 200);
    let inactive = app.get_json(&coach.token, &list("active=false")).await;
    assert_eq!(names(&inactive), ["Octavia \"SDR\""]);

    let no_patients = app.get_json(&coach.token, &list("role=patient")).await;
    assert!(names(&no_patients).is_empty(), "patients are not staff");
    for (query, field) in [("q=", "q"), ("colour=red", "colour")] {
        let refused = app
            .call(&coach.token, Method::GET, &list(query), None)
            .await;
        let problem = problem(refused, 422, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let portal_path = format!("/facilities/{clinic}/staff/{}", portal.account_id);
    let status = |token: String, path: String| {
        let app = &app;
        async move { app.call(&token, Method::GET, &path, None).await.status() }
    };
    assert_eq!(
        status(admin.token.clone(), portal_path).await,
        404,
        "not staff"
    );
    let stranger = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    assert_eq!(status(stranger.token.clone(), path.clone()).await, 404);
    assert_eq!(status(stranger.token.clone(), list("")).await, 404);
    let partner = app.person(&[(Some(clinic), Role::ResearchPartner)]).await;
    assert_eq!(status(partner.token.clone(), list("")).await, 403);

    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(&bytes, &["Halloran", "MD-4471", "Larkspur", "Wrenfield"]);
    app.stop().await;
}

async fn only_another_administrator_verifies_credentials(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let provider = app.person(&[(Some(clinic), Role::Provider)]).await;
    let coach = app.person(&[(Some(clinic), Role::HealthCoach)]).await;
    let licensed = json!({"licence_number": "MD-4471", "npi": NPI});
    assert_eq!(change_own(&app, &provider, licensed).await.status(), 200);

    let self_verified = change_own(&app, &provider, json!({"verified": true})).await;
    assert_eq!(
        self_verified.status(),
        422,
        "a provider cannot verify itself"
    );
    bad_profiles_are_refused(&app, &provider).await;
    let verify = |person: &Person, account: Uuid, verified: bool| {
        let token = person.token.clone();
        let app = &app;
        async move {
            app.call(
                &token,
                Method::PUT,
                &format!("/facilities/{clinic}/staff/{account}/verification"),
                Some(json!({ "verified": verified })),
            )
            .await
        }
    };
    assert_eq!(
        verify(&provider, provider.account_id, true).await.status(),
        403
    );
    assert_eq!(
        verify(&admin, admin.account_id, true).await.status(),
        403,
        "not one's own"
    );
    problem(
        verify(&admin, coach.account_id, true).await,
        409,
        "conflict",
    )
    .await;
    let verified: Value = verify(&admin, provider.account_id, true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["verified"], true);
    assert_eq!(verified["verified_by"], admin.account_id.to_string());

    let profile = |person: &Person| {
        let token = person.token.clone();
        let app = &app;
        async move { app.get_json(&token, "/me/profile").await }
    };
    let unchanged = change_own(
        &app,
        &provider,
        json!({"certification": "Board certified", "npi": NPI}),
    )
    .await;
    assert_eq!(
        unchanged.json::<Value>().await.unwrap()["verified"],
        true,
        "same NPI"
    );
    let relicensed = change_own(&app, &provider, json!({"licence_number": "MD-9001"})).await;
    assert_eq!(relicensed.json::<Value>().await.unwrap()["verified"], false);
    assert_eq!(profile(&provider).await["verified_at"], Value::Null);

    assert_eq!(
        verify(&admin, provider.account_id, true).await.status(),
        200
    );
    an_administrator_s_change_withdraws_it_audited(&app, clinic, &admin, &provider).await;
    app.stop().await;
}

/// The directory by role, by name however written, a page at a time.
async fn lists_filters_and_pages(app: &TestApp, clinic: Uuid, coach: &Person, sdr: &Person) {
    let list = |query: &str| format!("/facilities/{clinic}/staff?{query}");
    let everyone = app.get_json(&coach.token, &list("")).await;
    let mut shown = names(&everyone);
    shown.sort();
    // The two unnamed administrators registered the patient and invited
    // it to the portal.
    assert_eq!(
        shown,
        [
            "- \"admin\"",
            "- \"admin\"",
            "Bartholomew \"Health Coach\"",
            "Marek \"provider\"",
            "Octavia \"SDR\"",
            "Philippa \"admin\""
        ],
        "the patient's portal membership is not staff"
    );
    let sdrs = app.get_json(&coach.token, &list("role=SDR")).await;
    assert_eq!(names(&sdrs), ["Octavia \"SDR\""]);
    assert_eq!(sdrs["items"][0]["email"], sdr.email.as_str());
    assert_eq!(sdrs["items"][0]["active"], true);
    for (q, who) in [
        ("wren", "Octavia"),
        ("MAREK%20HALL", "Marek"),
        ("quill", "Bartholomew"),
    ] {
        let found = app.get_json(&coach.token, &list(&format!("q={q}"))).await;
        assert_eq!(found["items"].as_array().unwrap().len(), 1, "{q}");
        assert_eq!(found["items"][0]["first_name"], who);
    }
    let first = app.get_json(&coach.token, &list("limit=4")).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let after = first["next_cursor"].as_str().unwrap();
    let rest = app
        .get_json(&coach.token, &list(&format!("limit=4&after={after}")))
        .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 2);
    assert_eq!(rest["next_cursor"], Value::Null);
}

/// A profile with a wrong NPI, country or an empty name is refused.
async fn bad_profiles_are_refused(app: &TestApp, provider: &Person) {
    for (body, field) in [
        (json!({"npi": "1234567890"}), "npi"),
        (json!({"country": "USA"}), "country"),
        (json!({"first_name": " "}), "first_name"),
    ] {
        let problem = problem(change_own(app, provider, body).await, 422, "validation").await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
}

/// An administrator's change of the NPI withdraws the verification too, and
/// every change is audited by field name, never by value.
async fn an_administrator_s_change_withdraws_it_audited(
    app: &TestApp,
    clinic: Uuid,
    admin: &Person,
    provider: &Person,
) {
    let by_admin = app
        .call(
            &admin.token,
            Method::PATCH,
            &format!("/facilities/{clinic}/staff/{}/profile", provider.account_id),
            Some(json!({"npi": null})),
        )
        .await;
    assert_eq!(by_admin.json::<Value>().await.unwrap()["verified"], false);
    let events = app.stored_events(of_type("profile")).await;
    let updates: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::Update && e.resource_id == Some(provider.account_id))
        .collect();
    assert_eq!(updates.len(), 6, "every change and verdict");
    let newest = updates[0].changes.as_ref().unwrap();
    assert_eq!(newest["fields"], json!(["npi"]));
    assert_eq!(newest["verification_withdrawn"], true);
    let logged =
        serde_json::to_string(&events.iter().map(|e| &e.changes).collect::<Vec<_>>()).unwrap();
    assert!(!logged.contains("MD-") && !logged.contains(NPI), "{logged}");
}
