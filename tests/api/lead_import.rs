//! Leads in and out as CSV: an import writes exactly its good rows and
//! reports the others; an export sends the filtered leads, defused for
//! spreadsheets, and is in the audit log.

use carebase::policy::Permission;
use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::matrix::Case;
use crate::support::{Person, TestApp, TestBackend, id, json_of, new_lead, problem};

on_both_backends!(
    an_import_writes_the_good_rows_and_reports_the_others,
    a_file_larger_than_one_statement_is_written_whole,
    a_file_that_cannot_be_imported_is_refused_whole,
    an_export_sends_the_filtered_leads_and_is_audited,
);

async fn all_leads(app: &TestApp, token: &str, facility: Uuid) -> Vec<Value> {
    let page = json_of(
        app.call(
            token,
            Method::GET,
            &format!("/facilities/{facility}/leads?limit=200"),
            None,
        )
        .await,
    )
    .await;
    page["items"].as_array().unwrap().clone()
}

async fn an_import_writes_the_good_rows_and_reports_the_others(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let sdr = app.person(&[(Some(facility), Role::Sdr)]).await;
    let coach = app.person(&[(Some(facility), Role::HealthCoach)]).await;
    let mut stored = new_lead();
    stored["email"] = json!("existing.lead@example.org");
    let stored = app.create_lead(&sdr.token, facility, stored).await;

    let csv = format!(
        "first_name,last_name,email,phone,source,readiness,notes,health_coach_id\n\
         Ada,Lovelace,ada@example.org,,Newsletter,Warm,\"Prefers mornings, weekdays\",{coach}\n\
         Bad,Email,not-an-email,,,,,\n\
         ,Nameless,nameless@example.org,,,,,\n\
         Old,Friend,Existing.Lead@Example.org,,,,,\n\
         Ada,Again,ADA@example.org ,,,,,\n\
         Grace,Hopper,,+1 555 010 1234,Lab Purchase,Hot,,\n",
        coach = coach.account_id
    );
    let path = format!("/facilities/{facility}/leads/import");
    let report = the_report_names_each_bad_row(&app, &sdr.token, &path, &csv, &stored).await;
    let created: Vec<Uuid> = report["created"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(created.len(), 2);
    exactly_the_good_rows_are_written(&app, facility, &sdr, &coach, &created).await;
    each_lead_has_its_creation_and_first_move(&app, facility, &sdr.token, &created).await;
    // Importing the same file again writes nothing: every row is a duplicate now.
    let again = json_of(app.send_csv(&sdr.token, Method::POST, &path, &csv).await).await;
    assert_eq!(again["created"], json!([]));
    assert_eq!(again["rejected"].as_array().unwrap().len(), 6);
    assert_eq!(all_leads(&app, &sdr.token, facility).await.len(), 3);
    app.stop().await;
}

/// The rejected rows, by row and line, with the field and reason: a bad
/// email, no first name, a lead already stored, and a repeat within the
/// file. Answers the report.
async fn the_report_names_each_bad_row(
    app: &TestApp,
    token: &str,
    path: &str,
    csv: &str,
    stored: &Value,
) -> Value {
    let report = json_of(app.send_csv(token, Method::POST, path, csv).await).await;
    let rejected: Vec<(u64, &str)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["row"].as_u64().unwrap(), r["field"].as_str().unwrap()))
        .collect();
    assert_eq!(
        rejected,
        [(2, "email"), (3, "first_name"), (4, "email"), (5, "email")]
    );
    let reasons: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert!(reasons[2].contains(&id(stored).to_string()), "{reasons:?}");
    assert_eq!(reasons[3], "row 1 of this file has this email");
    assert_eq!(report["rejected"][0]["line"], 3, "the header is line 1");
    report
}

async fn exactly_the_good_rows_are_written(
    app: &TestApp,
    facility: Uuid,
    sdr: &Person,
    coach: &Person,
    created: &[Uuid],
) {
    let leads = all_leads(app, &sdr.token, facility).await;
    let names: Vec<(&str, &str)> = leads
        .iter()
        .map(|l| {
            (
                l["first_name"].as_str().unwrap(),
                l["last_name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("Octavia", "Wrenfield"),
            ("Ada", "Lovelace"),
            ("Grace", "Hopper")
        ],
        "exactly the good rows were written"
    );
    let ada = &leads[1];
    assert_eq!(id(ada), created[0]);
    assert_eq!(ada["email"], "ada@example.org");
    assert_eq!(ada["source"], "Newsletter");
    assert_eq!(ada["readiness"], "Warm");
    assert_eq!(ada["notes"], "Prefers mornings, weekdays");
    assert_eq!(ada["status"], "new");
    assert_eq!(ada["stage"], "HHQ Started");
    assert_eq!(
        ada["owner_id"],
        json!(sdr.account_id),
        "the importer owns it"
    );
    assert_eq!(ada["health_coach_id"], json!(coach.account_id));
    assert_eq!(leads[2]["phone"], "+1 555 010 1234");
    assert!(leads[2]["email"].is_null());
}

/// Each lead has its creation in the audit log and its first move.
async fn each_lead_has_its_creation_and_first_move(
    app: &TestApp,
    facility: Uuid,
    token: &str,
    created: &[Uuid],
) {
    let sysadmin = app.system_admin().await;
    for lead in created {
        let events = json_of(
            app.call(
                &sysadmin.token,
                Method::GET,
                &format!("/admin/audit-events?lead_id={lead}"),
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
        assert_eq!(actions, ["read", "create"], "the list above read it");
        assert!(!events.to_string().contains("Lovelace"));
        let history = json_of(
            app.call(
                token,
                Method::GET,
                &format!("/facilities/{facility}/leads/{lead}/history"),
                None,
            )
            .await,
        )
        .await;
        assert_eq!(history["items"][0]["to_status"], "new");
    }
}

async fn a_file_that_cannot_be_imported_is_refused_whole(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let nurse = app.person(&[(Some(facility), Role::Nurse)]).await;
    let path = format!("/facilities/{facility}/leads/import");
    let good = "first_name,last_name,email\nAda,Lovelace,ada@example.org\n";

    bad_columns_and_too_many_rows_are_refused(&app, &admin.token, &path).await;
    let json = problem(
        app.call(&admin.token, Method::POST, &path, Some(json!({"rows": []})))
            .await,
        415,
        "unsupported-media-type",
    )
    .await;
    assert!(json["detail"].as_str().unwrap().contains("text/csv"));
    let not_utf8 = app
        .client
        .post(app.url(&path))
        .bearer_auth(&admin.token)
        .header("content-type", "text/csv")
        .body(b"first_name,last_name\n\xff\xfe,x\n".to_vec())
        .send()
        .await
        .unwrap();
    problem(not_utf8, 400, "malformed-request").await;

    let denied = problem(
        app.send_csv(&nurse.token, Method::POST, &path, good).await,
        403,
        "forbidden",
    )
    .await;
    assert!(denied["detail"].as_str().unwrap().contains("lead:create"));
    let stranger = app
        .person(&[(Some(app.facility("Elsewhere").await), Role::Admin)])
        .await;
    problem(
        app.send_csv(&stranger.token, Method::POST, &path, good)
            .await,
        404,
        "not-found",
    )
    .await;
    assert!(
        all_leads(&app, &admin.token, facility).await.is_empty(),
        "nothing was written"
    );
    app.stop().await;
}

/// An unknown column, a missing one, and more rows than a file may hold.
async fn bad_columns_and_too_many_rows_are_refused(app: &TestApp, token: &str, path: &str) {
    let unknown = problem(
        app.send_csv(
            token,
            Method::POST,
            path,
            "first_name,last_name,ssn\nAda,Lovelace,219-09-9999\n",
        )
        .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "ssn");
    assert!(
        unknown["errors"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("first_name, last_name, email")
    );
    let missing = problem(
        app.send_csv(token, Method::POST, path, "first_name,email\nAda,a@b.co\n")
            .await,
        422,
        "validation",
    )
    .await;
    assert_eq!(missing["errors"][0]["field"], "last_name");

    let mut huge = String::from("first_name,last_name,email\n");
    for i in 0..10_001 {
        huge.push_str(&format!("A,B,a{i}@example.org\n"));
    }
    let too_many = problem(
        app.send_csv(token, Method::POST, path, &huge).await,
        422,
        "validation",
    )
    .await;
    assert!(too_many["detail"].as_str().unwrap().contains("10000"));
}

async fn an_export_sends_the_filtered_leads_and_is_audited(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let mut made = Vec::new();
    for (first_name, source) in [
        ("Ada", "Referral"),
        ("Basil", "Newsletter"),
        ("=HYPERLINK(\"http://evil.example\")", "Referral"),
    ] {
        let mut body = new_lead();
        body["first_name"] = json!(first_name);
        body["source"] = json!(source);
        made.push(app.create_lead(&admin.token, facility, body).await);
    }
    let path = format!("/facilities/{facility}/leads/export");
    the_export_is_the_filtered_leads_defused(&app, &admin.token, &path, &made).await;
    let events = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/audit-events?action=export"),
            None,
        )
        .await,
    )
    .await;
    let export = &events["items"][0];
    assert_eq!(events["items"].as_array().unwrap().len(), 1);
    assert_eq!(export["resource_type"], "lead");
    assert_eq!(export["actor_id"], json!(admin.account_id));
    assert_eq!(export["changes"]["leads"], 2);
    assert_eq!(export["changes"]["filter"]["source"], "Referral");
    assert_eq!(export["compliance_flags"], json!(["export", "phi"]));

    // `limit` caps the export, and the cursor says where it stopped.
    let capped = app
        .call(&admin.token, Method::GET, &format!("{path}?limit=1"), None)
        .await;
    assert_eq!(capped.status(), 200);
    assert_eq!(
        capped.headers()["x-next-cursor"],
        made[0]["id"].as_str().unwrap()
    );
    assert_eq!(capped.text().await.unwrap().lines().count(), 2);
    let denied = problem(
        app.call(&staff.token, Method::GET, &path, None).await,
        403,
        "forbidden",
    )
    .await;
    assert!(denied["detail"].as_str().unwrap().contains("lead:export"));
    app.stop().await;
}

/// Only the filtered leads, unpaged, with formulas defused for
/// spreadsheets.
async fn the_export_is_the_filtered_leads_defused(
    app: &TestApp,
    token: &str,
    path: &str,
    made: &[Value],
) {
    let response = app
        .call(token, Method::GET, &format!("{path}?source=Referral"), None)
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(response.headers().get("x-next-cursor").is_none());
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(&header[..4], ["id", "first_name", "last_name", "email"]);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let exported: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (&r[column("id")], &r[column("first_name")]))
        .collect();
    let ada = id(&made[0]).to_string();
    let evil = id(&made[2]).to_string();
    assert_eq!(
        exported,
        [
            (ada.as_str(), "Ada"),
            (evil.as_str(), "'=HYPERLINK(\"http://evil.example\")")
        ],
        "the filtered leads, with formulas defused"
    );
    assert_eq!(&rows[0][column("interests")], "Rhinoplasty");
    assert_eq!(&rows[0][column("stage")], "HHQ Started");
    assert!(rows[0][column("phone")].starts_with("'+1 555"));
}

/// More rows than one INSERT (or one duplicate query) takes: every row is
/// written, and a second import finds every one of them.
async fn a_file_larger_than_one_statement_is_written_whole(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("HealthCRM").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let mut csv = String::from("first_name,last_name,email,phone,source,readiness,notes\n");
    for i in 0..1_200 {
        csv.push_str(&format!(
            "Octavia,Wrenfield,octavia.{i}@example.org,+1 555 {i:07},Newsletter,Warm,Evenings\n"
        ));
    }
    let path = format!("/facilities/{facility}/leads/import");
    let report = json_of(app.send_csv(&admin.token, Method::POST, &path, &csv).await).await;
    assert_eq!(report["created"].as_array().unwrap().len(), 1_200);
    assert_eq!(report["rejected"], json!([]));
    let again = json_of(app.send_csv(&admin.token, Method::POST, &path, &csv).await).await;
    assert_eq!(again["created"], json!([]));
    let rejected = again["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1_200);
    assert!(rejected.iter().all(|r| r["field"] == "email"));
    let export = app
        .call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/leads/export"),
            None,
        )
        .await;
    assert_eq!(export.status(), 200);
    let text = export.text().await.unwrap();
    assert_eq!(text.lines().count(), 1 + 1_200, "the header and every lead");
    app.stop().await;
}

/// This context's cases of the role matrix (see `support::matrix`).
pub fn role_cases() -> Vec<Case> {
    use Permission as P;
    vec![
        // A string body is sent as text/csv (see `send`).
        Case::new("import leads", Method::POST, P::LEAD_CREATE, |r, _| {
            format!("/facilities/{}/leads/import", r.facility)
        })
        .body(|_, _| {
            Some(json!(format!(
                "first_name,last_name,email\nOctavia,Wrenfield,{}@import.example\n",
                Uuid::new_v4().simple()
            )))
        }),
        Case::new("export leads", Method::GET, P::LEAD_EXPORT, |r, _| {
            format!("/facilities/{}/leads/export", r.facility)
        }),
    ]
}
