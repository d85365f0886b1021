//! `carebase demo`: a facility loaded from a seed that the server then
//! serves, on SQLite and PostgreSQL.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{carebase, demo, free_port, http_client, text};

const PASSWORD: &str = "Demo-Staff-Passphrase-2026";

/// The server serving the demo facility, and the way to reach it.
struct Served {
    client: reqwest::Client,
    base: String,
    facility: String,
}

impl Served {
    async fn sign_in(&self, email: &str) -> String {
        let body: serde_json::Value = self
            .client
            .post(format!("{}/auth/sign-in", self.base))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn get(&self, token: &str, path: String) -> serde_json::Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json::<serde_json::Value>().await.unwrap()
    }
}

/// `carebase demo` loads a facility the server then serves: its staff sign
/// in, its leads list, its statistics add up, its leads rescore; loading it
/// again is refused, and the audit log stays intact.
async fn demo_scenario(dir: &Path, env: &[(&str, &str)]) {
    let facility = load_the_demo(dir, env);
    let again = demo(dir, env, &["--leads", "10"], PASSWORD);
    assert!(!again.status.success(), "a second load is refused");
    assert!(
        text(&again.stderr).contains("already has a facility named \"Demo Clinic\""),
        "{}",
        text(&again.stderr)
    );

    let (child, served) = serve(dir, env, facility).await;
    let sdr = served.sign_in("sdr1@demo.carebase.test").await;
    leads_list(&served, &sdr).await;
    statistics_add_up(&served, &sdr).await;
    patients_have_journeys_tasks_and_bookings(&served).await;
    leads_rescore(&served).await;
    stop_with_an_intact_audit_log(child, dir, env);
}

/// Loads 1 200 leads from seed 7 and returns the facility's id.
fn load_the_demo(dir: &Path, env: &[(&str, &str)]) -> String {
    let out = demo(
        dir,
        env,
        &["--leads", "1200", "--seed", "7", "--password-stdin"],
        PASSWORD,
    );
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("1200 leads"), "{said}");
    for email in [
        "admin1@demo.carebase.test",
        "staff1@demo.carebase.test",
        "reviewer1@demo.carebase.test",
        "readonly1@demo.carebase.test",
        "sdr1@demo.carebase.test",
        "coach1@demo.carebase.test",
        "crmadmin1@demo.carebase.test",
    ] {
        assert!(said.contains(email), "{said}");
    }
    assert!(!said.contains(PASSWORD), "a given password is not echoed");
    said.split("(facility ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned()
}

/// Starts `carebase serve` on the demo's database and waits for it.
async fn serve(dir: &Path, env: &[(&str, &str)], facility: String) -> (Child, Served) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut server = Command::new(env!("CARGO_BIN_EXE_carebase"));
    server
        .current_dir(dir)
        .env_clear()
        .env("CAREBASE_LISTEN", &listen)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        server.env(k, v);
    }
    let child = server.spawn().unwrap();
    let base = format!("http://{listen}");
    let client = http_client();
    let started = Instant::now();
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let served = Served {
        client,
        base,
        facility,
    };
    (child, served)
}

/// The active view lists the demo's leads, all at example addresses.
async fn leads_list(served: &Served, sdr: &str) {
    let facility = &served.facility;
    let page = served
        .get(
            sdr,
            format!("/facilities/{facility}/leads?view=active&limit=5"),
        )
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 5, "{page}");
    assert!(
        items
            .iter()
            .all(|l| l["email"].as_str().unwrap().ends_with("@example.test"))
    );
}

/// The pipeline and speed-to-lead statistics over the last year count
/// every lead.
async fn statistics_add_up(served: &Served, sdr: &str) {
    let facility = &served.facility;
    let now = carebase::time::Timestamp::now().as_micros();
    let hour = 3_600_000_000;
    let range = format!(
        "from={}&to={}",
        carebase::time::Timestamp::from_micros(now - 365 * 24 * hour - hour),
        carebase::time::Timestamp::from_micros(now + hour)
    );
    let stats = served
        .get(
            sdr,
            format!("/facilities/{facility}/leads/stats/pipeline?{range}"),
        )
        .await;
    assert_eq!(stats["total"], 1200, "{stats}");
    assert_eq!(stats["in_pipeline"], 1200);
    let by_status: u64 = stats["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_status, 1200);
    assert_eq!(stats["sources"].as_array().unwrap().len(), 10, "{stats}");
    let speed = served
        .get(
            sdr,
            format!("/facilities/{facility}/leads/stats/speed-to-lead?{range}"),
        )
        .await;
    assert_eq!(speed["overall"]["leads"], 1200);
    assert!(
        speed["overall"]["contacted"].as_u64().unwrap() > 900,
        "{speed}"
    );
    assert!(speed["overall"]["median_seconds"].as_f64().unwrap() > 0.0);
}

/// Converted leads are patients on the care journey with their coach;
/// leads and patients have tasks, some of them overdue.
async fn patients_have_journeys_tasks_and_bookings(served: &Served) {
    let facility = &served.facility;
    let coach = served.sign_in("coach1@demo.carebase.test").await;
    let journeys = served
        .get(&coach, format!("/facilities/{facility}/journeys?limit=200"))
        .await;
    let journeys = journeys["items"].as_array().unwrap();
    assert_eq!(journeys.len(), 6, "1 200 leads make 6 patients");
    assert!(
        journeys
            .iter()
            .all(|j| j["lead_id"].is_string() && j["stage"].is_string())
    );
    let tasks = served
        .get(&coach, format!("/facilities/{facility}/tasks?limit=200"))
        .await;
    assert_eq!(
        tasks["items"].as_array().unwrap().len(),
        66,
        "60 open leads and 6 patients"
    );
    // The coaches have schedules and the next two weeks' bookings.
    let booked = served
        .get(
            &coach,
            format!("/facilities/{facility}/appointments?limit=200"),
        )
        .await;
    let booked = booked["items"].as_array().unwrap();
    assert!(!booked.is_empty());
    assert!(
        booked.iter().all(|a| a["status"] == "confirmed"),
        "{booked:?}"
    );
}

/// Three batches: the demo scored each lead as of its last change.
async fn leads_rescore(served: &Served) {
    let admin = served.sign_in("admin1@demo.carebase.test").await;
    let rescored: serde_json::Value = served
        .client
        .post(format!(
            "{}/facilities/{}/leads/rescore",
            served.base, served.facility
        ))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rescored["rescored"], 1200, "{rescored}");
    assert!(rescored["changed"].as_u64().unwrap() > 0, "{rescored}");
}

fn stop_with_an_intact_audit_log(child: Child, dir: &Path, env: &[(&str, &str)]) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let verified = carebase(dir, env, &["audit", "verify"]);
    assert!(
        verified.status.success(),
        "{}{}",
        text(&verified.stdout),
        text(&verified.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_a_facility_the_server_serves_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    demo_scenario(dir.path(), &[]).await;
}

/// The same seed loads the same leads: the same statuses, sources, stages
/// reached and first-contact delays, in the same order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_the_same_leads_from_the_same_seed() {
    use sqlx::Connection;
    let mut loads = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let out = demo(
            dir.path(),
            &[],
            &["--leads", "150", "--seed", "42", "--password-stdin"],
            "Demo-Staff-Passphrase-2026",
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let url = format!(
            "sqlite://{}",
            dir.path().join("carebase-data/carebase.db").display()
        );
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let rows: Vec<(String, String, String, i32, Option<i64>, i64)> = sqlx::query_as(
            "SELECT l.status, l.source, l.readiness, l.number_of_calls, \
             l.first_contacted_at - l.created_at, s.position \
             FROM leads l JOIN pipeline_stages s ON s.id = l.stage_id ORDER BY l.id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        assert_eq!(rows.len(), 150);
        loads.push(rows);
    }
    assert_eq!(loads[0], loads[1]);
}

/// As on SQLite, on a fresh PostgreSQL database when
/// CAREBASE_TEST_POSTGRES_URL names a server.
#[cfg_attr(
    not(carebase_test_postgres),
    ignore = "no PostgreSQL: set CAREBASE_TEST_POSTGRES_URL or run one on 127.0.0.1:5432"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_loads_a_facility_the_server_serves_on_postgres() {
    use sqlx::Connection;
    let admin_url = std::env::var("CAREBASE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty() && u != "off")
        .or_else(|| option_env!("CAREBASE_TEST_POSTGRES_BUILT_WITH").map(str::to_owned))
        .expect("a PostgreSQL was found when the tests were built");
    let name = format!("carebase_demo_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (admin_url.as_str(), String::new()),
    };
    let server = &base[..base.rfind('/').unwrap()];
    let url = format!("{server}/{name}{query}");
    let dir = tempfile::tempdir().unwrap();
    demo_scenario(dir.path(), &[("CAREBASE_DATABASE_URL", url.as_str())]).await;
    assert!(
        !dir.path().join("carebase-data/carebase.db").exists(),
        "it ran on PostgreSQL, not on a SQLite file"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}
