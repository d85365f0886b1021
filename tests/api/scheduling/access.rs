//! Who sees and changes which appointment, and what of it is sealed and
//! audited.

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{
    TestApp, TestBackend, always_open, assert_no_plaintext, hours_ahead, id, new_lead, new_patient,
    problem, text,
};

on_both_backends!(
    who_sees_and_changes_which_appointment,
    appointment_text_is_sealed_and_reads_are_audited,
);

async fn who_sees_and_changes_which_appointment(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin) = app.clinic_in("UTC").await;
    // Seed 002's physicians reach every patient of their facility.
    let doctor = app.person(&[(Some(facility), Role::Physician)]).await;
    let colleague = app.person(&[(Some(facility), Role::Physician)]).await;
    for p in [&doctor, &colleague] {
        app.set_schedule(&admin.token, facility, p.account_id, always_open())
            .await;
    }
    // A doctor sets only their own schedule.
    let refused = app
        .call(
            &doctor.token,
            Method::PUT,
            &format!("/facilities/{facility}/schedules/{}", colleague.account_id),
            Some(always_open()),
        )
        .await;
    problem(refused, 403, "forbidden").await;
    let patient = app.patient(facility, new_patient()).await;
    let lead = app.create_lead(&admin.token, facility, new_lead()).await;
    let with_patient = app.booked(&admin.token,
        facility,
        json!({"provider_id": colleague.account_id, "starts_at": text(hours_ahead(24)), "patient_id": patient["id"]}),
    )
    .await;
    let with_lead = app.booked(&admin.token,
        facility,
        json!({"provider_id": colleague.account_id, "starts_at": text(hours_ahead(26)), "lead_id": lead["id"]}),
    )
    .await;
    // The doctor sees the colleague's appointment but cannot change it.
    assert_eq!(
        app.move_appointment(&doctor.token, &with_patient, "confirmed")
            .await
            .status(),
        403
    );
    assert_eq!(
        app.move_appointment(&colleague.token, &with_patient, "confirmed")
            .await
            .status(),
        200
    );
    // Seed 004's doctor reaches only linked patients: not this one.
    let unlinked = app.person(&[(Some(facility), Role::Doctor)]).await;
    let path = format!("/facilities/{facility}/appointments/{}", id(&with_patient));
    problem(
        app.call(&unlinked.token, Method::GET, &path, None).await,
        404,
        "not-found",
    )
    .await;
    an_sdr_sees_and_changes_only_lead_appointments(
        &app,
        facility,
        &admin.token,
        &lead,
        &with_patient,
        &with_lead,
    )
    .await;
    a_patient_sees_their_own_appointments_only(&app, facility, &patient, &with_patient).await;
    another_facilitys_staff_find_nothing(&app, facility, &with_lead).await;
}

/// An SDR, who reads no patient, sees only the lead's appointment; it
/// books a lead consultation with a coach, and may change it.
async fn an_sdr_sees_and_changes_only_lead_appointments(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    lead: &Value,
    with_patient: &Value,
    with_lead: &Value,
) {
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let seen: Value = app
        .call(
            &sdr.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<Uuid> = seen["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(with_lead)]);
    let hidden = app
        .call(
            &sdr.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(with_patient)),
            None,
        )
        .await;
    assert_eq!(hidden.status(), 404);
    // The SDR books a lead consultation with a coach, and may change it.
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    app.set_schedule(token, facility, coach.account_id, always_open())
        .await;
    let own = app.booked(&sdr.token,
        facility,
        json!({"provider_id": coach.account_id, "starts_at": text(hours_ahead(30)), "lead_id": lead["id"]}),
    )
    .await;
    assert_eq!(
        app.move_appointment(&sdr.token, &own, "confirmed")
            .await
            .status(),
        200
    );
}

/// A patient sees their own appointments only.
async fn a_patient_sees_their_own_appointments_only(
    app: &TestApp,
    facility: Uuid,
    patient: &Value,
    with_patient: &Value,
) {
    let portal = app.person(&[(Some(facility), Role::Patient)]).await;
    app.link_portal(facility, id(patient), &portal).await;
    let mine: Value = app
        .call(
            &portal.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<Uuid> = mine["items"].as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, [id(with_patient)]);
}

/// Another facility's staff find nothing.
async fn another_facilitys_staff_find_nothing(app: &TestApp, facility: Uuid, with_lead: &Value) {
    let (elsewhere, other_admin) = app.clinic_in("UTC").await;
    let _ = elsewhere;
    let outside = app
        .call(
            &other_admin.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(with_lead)),
            None,
        )
        .await;
    assert_eq!(outside.status(), 404);
}

async fn appointment_text_is_sealed_and_reads_are_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let (facility, admin, provider) = app.open_clinic().await;
    let patient = app.patient(facility, new_patient()).await;
    let appointment = app.booked(&admin.token,
        facility,
        json!({"provider_id": provider.account_id, "starts_at": text(hours_ahead(24)),
               "patient_id": patient["id"], "title": "Rhinoplasty consultation Xylophone",
               "notes": "Quixotic allergy to latex", "meeting_link": "https://meet.example/zanzibar-room"}),
    )
    .await;
    assert_eq!(appointment["title"], "Rhinoplasty consultation Xylophone");
    let read = app
        .call(
            &provider.token,
            Method::GET,
            &format!("/facilities/{facility}/appointments/{}", id(&appointment)),
            None,
        )
        .await;
    assert_eq!(read.status(), 200);
    let events: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/audit-events?resource_type=appointment&action=read&actor_id={}",
                provider.account_id
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 1, "{events}");
    assert_eq!(events["items"][0]["patient_id"], patient["id"]);
    // The booking's own event, written with it, names the patient and
    // keeps the sealed fields out.
    let created: Value = app
        .call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/audit-events?resource_type=appointment&action=create&resource_id={}",
                id(&appointment)
            ),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(created["items"].as_array().unwrap().len(), 1, "{created}");
    assert_eq!(created["items"][0]["patient_id"], patient["id"]);
    assert!(!created.to_string().contains("Xylophone"), "{created}");
    // Waitlist notes are sealed too.
    let entry = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/waitlist"),
            Some(json!({"patient_id": patient["id"], "notes": "Zygomatic waitlist remark",
                        "window_start": text(hours_ahead(24)), "window_end": text(hours_ahead(48))})),
        )
        .await;
    assert_eq!(entry.status(), 201);
    let bytes = app.raw_database_bytes(backend).await;
    assert_no_plaintext(
        &bytes,
        &[
            "Xylophone",
            "Quixotic allergy",
            "zanzibar-room",
            "Zygomatic waitlist",
        ],
    );
}
