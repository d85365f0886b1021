//! A waitlist entry read on its own: as the list shows it, to whoever may
//! read the list and see its patient, audited as a read; 404 for another
//! patient's entry, another facility's, or none.

use carebase::audit::{AuditAction, AuditFilter};
use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, hours_ahead, id, new_patient, text};

on_both_backends!(a_waitlist_entry_is_read_by_id_within_its_scope,);

/// `patient` on the waitlist for the next four days, put there by `token`.
async fn waiting(app: &TestApp, token: &str, facility: Uuid, patient: &Value) -> Value {
    let response = app
        .call(
            token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(
                json!({"patient_id": patient["id"], "window_start": text(hours_ahead(24)),
                        "window_end": text(hours_ahead(96))}),
            ),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn status_of(app: &TestApp, token: &str, facility: Uuid, entry: Uuid) -> u16 {
    app.call(
        token,
        Method::GET,
        &format!("/facilities/{facility}/waitlist/{entry}"),
        None,
    )
    .await
    .status()
    .as_u16()
}

async fn a_waitlist_entry_is_read_by_id_within_its_scope(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, _) = app.open_clinic().await;
    let (elsewhere, stranger) = app.clinic_in("UTC").await;
    let portal = app.person(&[]).await;
    let mine = app.patient(facility, new_patient()).await;
    app.link_portal(facility, id(&mine), &portal).await;
    let theirs = app.patient(facility, new_patient()).await;
    let my_entry = waiting(&app, &admin.token, facility, &mine).await;
    let their_entry = waiting(&app, &admin.token, facility, &theirs).await;

    let path = format!("/facilities/{facility}/waitlist/{}", id(&my_entry));
    let read = app.get_json(&admin.token, &path).await;
    assert_eq!(read, my_entry, "the entry as it was made");
    let listed = app
        .get_json(&admin.token, &format!("/facilities/{facility}/waitlist"))
        .await;
    assert!(listed["items"].as_array().unwrap().contains(&read));
    let reads = app
        .stored_events(AuditFilter {
            resource_id: Some(id(&my_entry)),
            action: Some(AuditAction::Read),
            ..AuditFilter::default()
        })
        .await;
    assert_eq!(reads.len(), 2, "the read by id and the list are audited");
    assert!(reads.iter().all(|e| e.patient_id == Some(id(&mine))));

    assert_eq!(
        status_of(&app, &portal.token, facility, id(&my_entry)).await,
        200
    );
    assert_eq!(
        status_of(&app, &portal.token, facility, id(&their_entry)).await,
        404,
        "another patient's entry"
    );
    assert_eq!(
        status_of(&app, &stranger.token, facility, id(&my_entry)).await,
        404
    );
    assert_eq!(
        status_of(&app, &admin.token, elsewhere, id(&my_entry)).await,
        404,
        "not in the facility named"
    );
    assert_eq!(
        status_of(&app, &admin.token, facility, Uuid::new_v4()).await,
        404
    );
    let billing = app.person(&[(Some(facility), Role::Developer)]).await;
    let refused = status_of(&app, &billing.token, facility, id(&my_entry)).await;
    assert_eq!(refused, 403, "no appointment:read");
    app.stop().await;
}
