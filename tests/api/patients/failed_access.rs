//! Refused attempts on a patient's record are audited as failed access:
//! who tried (or from where, without a token), which patient, what answer,
//! once per actor, patient and minute.

use carebase::audit::{AuditAction, AuditFilter, StoredEvent};
use carebase::policy::Role;
use reqwest::Method;
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, id, new_patient};

on_both_backends!(refused_attempts_on_a_patient_are_audited_once_a_minute);

async fn denied(app: &TestApp, patient: Uuid) -> Vec<StoredEvent> {
    app.stored_events(AuditFilter {
        patient_id: Some(patient),
        action: Some(AuditAction::PermissionDenied),
        ..AuditFilter::default()
    })
    .await
}

async fn refused_attempts_on_a_patient_are_audited_once_a_minute(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let clinic = app.facility("Clinic").await;
    let elsewhere = app.facility("Elsewhere").await;
    let patient = id(&app.patient(clinic, new_patient()).await);
    let record = format!("/facilities/{clinic}/patients/{patient}");
    let stranger = app.person(&[(Some(elsewhere), Role::Admin)]).await;
    for _ in 0..3 {
        let probe = app.call(&stranger.token, Method::GET, &record, None).await;
        assert_eq!(probe.status(), 404);
    }
    let events = denied(&app, patient).await;
    assert_eq!(events.len(), 1, "one event a minute, however many tries");
    assert_eq!(events[0].actor_id, Some(stranger.account_id));
    assert_eq!(events[0].resource_id, Some(patient));
    assert_eq!(events[0].facility_id, Some(clinic));
    assert_eq!(events[0].changes.as_ref().unwrap()["status"], 404);

    let anonymous = app.client.get(app.url(&record)).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let events = denied(&app, patient).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].actor_id, None, "no token: recorded by address");
    assert!(events[0].client_addr.is_some());

    let receptionist = app.person(&[(Some(clinic), Role::Staff)]).await;
    let forbidden = app
        .call(
            &receptionist.token,
            Method::POST,
            &format!("{record}/deactivate"),
            None,
        )
        .await;
    assert_eq!(forbidden.status(), 403);
    let events = denied(&app, patient).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].actor_id, Some(receptionist.account_id));

    let admin = app.person(&[(Some(clinic), Role::Admin)]).await;
    let read = app.call(&admin.token, Method::GET, &record, None).await;
    assert_eq!(read.status(), 200);
    assert_eq!(
        denied(&app, patient).await.len(),
        3,
        "an allowed read is no refusal"
    );
    app.stop().await;
}
