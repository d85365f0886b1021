//! The facility-wide rescore refreshes faded scores in audited batches.

use carebase::crm::leads;
use carebase::policy::Role;
use carebase::time::Timestamp;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use serde_json::json;

use crate::on_both_backends;
use crate::support::lead_stats::{DAY, SECOND, ago};
use crate::support::{TestApp, TestBackend, id, json_of, new_lead};

on_both_backends!(rescore_refreshes_faded_scores_in_audited_batches,);

async fn rescore_refreshes_faded_scores_in_audited_batches(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let facility = app.facility("Score Clinic").await;
    let other = app.facility("Other Clinic").await;
    let admin = app.person(&[(Some(facility), Role::Admin)]).await;
    let staff = app.person(&[(Some(facility), Role::Staff)]).await;
    let outsider = app.person(&[(Some(other), Role::Admin)]).await;
    let faded = app.create_lead(&staff.token, facility, new_lead()).await;
    app.create_lead(&staff.token, facility, new_lead()).await;
    app.create_lead(&admin.token, facility, new_lead()).await;
    // Warm 20 + Newsletter 5 + one high-priority interest 10 + today 5.
    assert_eq!(faded["score"], 40);
    // Its last activity was ten and a half days ago; the stored score
    // still counts it as today's.
    let half = 12 * 3_600 * SECOND;
    app.set_lead_columns(
        id(&faded),
        vec![(
            leads::Column::LastActivityAt,
            Expr::value(Some(ago(Timestamp::now(), 10 * DAY + half))),
        )],
    )
    .await;
    let path = format!("/facilities/{facility}/leads/rescore");
    let refused = app.call(&staff.token, Method::POST, &path, None).await;
    assert_eq!(refused.status(), 403, "staff cannot rescore the facility");
    let hidden = app.call(&outsider.token, Method::POST, &path, None).await;
    assert_eq!(hidden.status(), 404);

    let done = json_of(app.call(&admin.token, Method::POST, &path, None).await).await;
    assert_eq!(done, json!({ "rescored": 3, "changed": 1 }));
    let lead = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!("/facilities/{facility}/leads/{}", id(&faded)),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(lead["score"], 36, "recency fell from 5 to 1 point");
    assert_eq!(
        lead["score_factors"][4]["detail"],
        "last activity 10 days ago"
    );
    let again = json_of(app.call(&admin.token, Method::POST, &path, None).await).await;
    assert_eq!(again, json!({ "rescored": 3, "changed": 0 }));

    // One event for the one batch that changed a score, none per lead.
    let events = json_of(
        app.call(
            &admin.token,
            Method::GET,
            &format!(
                "/facilities/{facility}/audit-events?actor_id={}&action=update&resource_type=lead",
                admin.account_id
            ),
            None,
        )
        .await,
    )
    .await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    assert_eq!(items[0]["changes"]["rescored"], 3);
    assert_eq!(items[0]["changes"]["changed"], 1);
    assert!(items[0]["lead_id"].is_null());
    app.stop().await;
}
