//! PostgreSQL with a serving role that does not own the tables: the server
//! migrates as the owner (`migration_database_url`), serves as the other
//! role, and that role cannot alter the audit log or switch its triggers off.

use carebase::config::SecretString;
use carebase::policy::Role;
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::{TestApp, TestBackend, new_patient, postgres_admin_url};

#[tokio::test]
async fn a_serving_role_that_owns_nothing_cannot_touch_the_audit_log() {
    if postgres_admin_url().is_none() {
        eprintln!("no PostgreSQL: skipped");
        return;
    }
    let role = format!("carebase_serving_{}", uuid::Uuid::new_v4().simple());
    let mut serving_url = None;
    let app = TestApp::spawn_with(TestBackend::Postgres, |config| {
        let owner = config.database_url().expose().to_owned();
        let mut url = url::Url::parse(&owner).unwrap();
        url.set_username(&role).unwrap();
        serving_url = Some(url.to_string());
        create_role(&owner, &role);
        config.migration_database_url = Some(SecretString::new(owner));
        config.database_url = Some(SecretString::new(url.to_string()));
    })
    .await;
    let serving_url = serving_url.unwrap();

    // The API works as the serving role.
    let facility = app.facility("Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let created = app
        .call(
            &admin.token,
            Method::POST,
            &format!("/facilities/{facility}/patients"),
            Some(new_patient()),
        )
        .await;
    assert_eq!(created.status(), 201);

    // Its credentials cannot rewrite the log or disable what guards it.
    let serving = Database::connect(&serving_url).await.unwrap();
    for statement in [
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete",
        "UPDATE audit_events SET action = action",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "DROP TABLE audit_events",
        "CREATE TABLE intruder (id int)",
    ] {
        let refused = serving.execute_unprepared(statement).await;
        assert!(refused.is_err(), "{statement} was allowed");
    }
    let counted = serving
        .query_one_raw(Statement::from_string(
            serving.get_database_backend(),
            "SELECT COUNT(*) FROM audit_events",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert!(counted > 0, "it reads and appends the log");
    serving.close().await.unwrap();
    app.stop().await;
    drop_role(&role).await;
}

fn create_role(owner_url: &str, role: &str) {
    let owner_url = owner_url.to_owned();
    let role = role.to_owned();
    // Called inside the synchronous config adjustment: run on a thread of
    // its own with its own runtime.
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let owner = Database::connect(&owner_url).await.unwrap();
            owner
                .execute_unprepared(&format!("CREATE ROLE \"{role}\" LOGIN"))
                .await
                .unwrap();
            owner.close().await.unwrap();
        });
    })
    .join()
    .unwrap();
}

/// Once its database is gone, the role holds nothing and goes.
async fn drop_role(role: &str) {
    let owner = Database::connect(postgres_admin_url().unwrap())
        .await
        .unwrap();
    owner
        .execute_unprepared(&format!("DROP ROLE \"{role}\""))
        .await
        .unwrap();
    owner.close().await.unwrap();
}
