//! Patients' cases of the role matrix (see `support::matrix`).

use carebase::policy::Permission;
use reqwest::Method;
use serde_json::json;

use crate::support::matrix::Case;
use crate::support::{new_patient, unique_email};

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        Case::new("list patients", Method::GET, P::PATIENT_READ, |r, _| {
            format!("/facilities/{f}/patients", f = r.facility)
        }),
        Case::new("read patient", Method::GET, P::PATIENT_READ, |r, _| {
            format!(
                "/facilities/{f}/patients/{p}",
                f = r.facility,
                p = r.patient
            )
        }),
        Case::new(
            "find patient by MRN",
            Method::POST,
            P::PATIENT_READ,
            |r, _| format!("/facilities/{f}/patients/search", f = r.facility),
        )
        .body(|_, r| Some(json!({"mrn": r.patient_mrn}))),
        Case::new(
            "register patient",
            Method::POST,
            P::PATIENT_CREATE,
            |r, _| format!("/facilities/{f}/patients", f = r.facility),
        )
        .body(|_, _| Some(new_patient())),
        Case::new(
            "update patient",
            Method::PATCH,
            P::PATIENT_UPDATE,
            |r, _| {
                format!(
                    "/facilities/{f}/patients/{p}",
                    f = r.facility,
                    p = r.patient
                )
            },
        )
        .body(|_, _| Some(json!({"gender": "male"}))),
        Case::new(
            "invite patient to the portal",
            Method::POST,
            P::PATIENT_UPDATE,
            |r, _| {
                format!(
                    "/facilities/{f}/patients/{p}/portal-invitations",
                    f = r.facility,
                    p = r.patient
                )
            },
        )
        .body(|_, _| Some(json!({"email": unique_email()}))),
        Case::new(
            "deactivate patient",
            Method::POST,
            P::PATIENT_DEACTIVATE,
            |r, _| {
                format!(
                    "/facilities/{f}/patients/{p}/deactivate",
                    f = r.facility,
                    p = r.patient
                )
            },
        ),
        Case::new(
            "read patient timeline",
            Method::GET,
            P::PATIENT_READ,
            |r, _| format!("/facilities/{}/patients/{}/timeline", r.facility, r.patient),
        ),
    ]
}
