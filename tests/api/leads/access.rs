//! Who changes which lead, and what of it is sealed and audited.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::json;

use crate::on_both_backends;
use crate::support::{
    Person, TestApp, TestBackend, assert_no_plaintext, id, json_of, new_lead, problem,
};

on_both_backends!(
    staff_change_only_the_leads_assigned_to_them,
    lead_contact_details_are_sealed_and_reads_are_audited,
);

async fn staff_change_only_the_leads_assigned_to_them(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Concierge").await;
    let alice = app.person(&[(Some(facility), Role::Staff)]).await;
    let bob = app.person(&[(Some(facility), Role::Staff)]).await;
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let readonly = app.person(&[(Some(facility), Role::Readonly)]).await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let mut body = new_lead();
    body["health_coach_id"] = json!(coach.account_id);
    let lead = app.create_lead(&alice.token, facility, body).await;
    let path = format!("/facilities/{facility}/leads/{}", id(&lead));
    let change = || Some(json!({ "readiness": "Hot" }));

    // Everyone with lead:read sees it.
    for person in [&alice, &bob, &coach, &readonly] {
        let read = app.call(&person.token, Method::GET, &path, None).await;
        assert_eq!(read.status(), 200);
    }
    // Bob is staff too, but the lead is not his.
    let refused = problem(
        app.call(&bob.token, Method::PATCH, &path, change()).await,
        403,
        "forbidden",
    )
    .await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("assigned to someone else")
    );
    let refused = app.move_lead(&bob.token, &lead, "contacted").await;
    assert_eq!(refused.status(), 403);
    // Readonly changes nothing, not even what it could see.
    assert_eq!(
        app.call(&readonly.token, Method::PATCH, &path, change())
            .await
            .status(),
        403
    );
    // The owner, the booked coach and the admin may.
    for person in [&alice, &coach, &admin] {
        let changed = app
            .call(&person.token, Method::PATCH, &path, change())
            .await;
        assert_eq!(changed.status(), 200);
    }
    handing_the_lead_over_moves_who_may_change_it(&app, &path, &alice, &bob, &admin).await;
    app.stop().await;
}

async fn lead_contact_details_are_sealed_and_reads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Sealed Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let body = json!({
        "first_name": "Quillon",
        "last_name": "Marchbanks",
        "email": "quillon.marchbanks@example.org",
        "phone": "+1 555 013 9876",
        "notes": "Worried about keloid scarring",
        "interests": [{"procedure": "Blepharoplasty", "notes": "left eyelid"}],
    });
    let lead = app.create_lead(&admin.token, facility, body).await;
    let path = format!("/facilities/{facility}/leads/{}", id(&lead));
    json_of(app.call(&admin.token, Method::GET, &path, None).await).await;

    let bytes = app.raw_database_bytes(backend).await;
    assert!(bytes.windows(13).any(|w| w == b"Sealed Clinic"));
    assert_no_plaintext(
        &bytes,
        &[
            "Quillon",
            "Marchbanks",
            "quillon.marchbanks",
            "013 9876",
            "keloid",
            "Blepharoplasty",
            "left eyelid",
        ],
    );

    let sysadmin = app.system_admin().await;
    let events = json_of(
        app.call(
            &sysadmin.token,
            Method::GET,
            &format!("/admin/audit-events?lead_id={}", id(&lead)),
            None,
        )
        .await,
    )
    .await;
    let actions: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["read", "create"]);
    let text = events.to_string();
    assert!(
        !text.contains("Quillon") && !text.contains("Blepharoplasty"),
        "{text}"
    );
    assert!(
        events["items"][0]["compliance_flags"]
            .as_array()
            .unwrap()
            .contains(&json!("phi"))
    );
    app.stop().await;
}

/// Handing the lead to Bob makes it his and no longer Alice's; an owner
/// must hold a role in the facility.
async fn handing_the_lead_over_moves_who_may_change_it(
    app: &TestApp,
    path: &str,
    alice: &Person,
    bob: &Person,
    admin: &Person,
) {
    let change = || Some(json!({ "readiness": "Hot" }));
    json_of(
        app.call(
            &alice.token,
            Method::PATCH,
            path,
            Some(json!({ "owner_id": bob.account_id, "health_coach_id": null })),
        )
        .await,
    )
    .await;
    assert_eq!(
        app.call(&bob.token, Method::PATCH, path, change())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.call(&alice.token, Method::PATCH, path, change())
            .await
            .status(),
        403
    );
    // An owner must hold a role in the facility.
    let outsider = app.account(&[]).await.0;
    let refused = problem(
        app.call(
            &admin.token,
            Method::PATCH,
            path,
            Some(json!({ "owner_id": outsider })),
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(refused["errors"][0]["field"], "owner_id");
}
