//! Reading the JSON the API answers with.

use serde_json::Value;
use uuid::Uuid;

/// The `id` member of a record.
pub fn id(value: &Value) -> Uuid {
    value["id"].as_str().unwrap().parse().unwrap()
}

/// The body of a successful response; panics with the body otherwise.
pub async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}
