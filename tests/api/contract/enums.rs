//! Every enum the served document lists for a JSON request body or a query
//! parameter holds the values the server takes on the wire: each one is
//! accepted, and a value outside the list is a 422 naming the field (and,
//! for a query parameter, the values it takes).

use std::collections::BTreeSet;

use carebase::policy::Role;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::on_both_backends;
use crate::support::{TestApp, TestBackend, json_of};

on_both_backends!(every_documented_enum_value_is_taken_and_no_other);

/// What no enum of the API lists.
const NOT_LISTED: &str = "not-a-listed-value";

/// Where an operation takes an enum.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    Query(String),
    /// The path of a field in the JSON body: object keys, and `None` for
    /// an array's items.
    Body(Vec<Option<String>>),
}

impl Place {
    /// How a problem's `errors` names the field: `a.b[0].c`.
    fn field(&self) -> String {
        match self {
            Place::Query(name) => name.clone(),
            Place::Body(steps) => {
                let mut field = String::new();
                for step in steps {
                    match step {
                        Some(key) if field.is_empty() => field.push_str(key),
                        Some(key) => field.push_str(&format!(".{key}")),
                        None => field.push_str("[0]"),
                    }
                }
                field
            }
        }
    }

    /// A body that holds `value` at this place and nothing else.
    fn body(&self, value: &str) -> Value {
        let Place::Body(steps) = self else {
            return json!({});
        };
        steps
            .iter()
            .rev()
            .fold(json!(value), |inner, step| match step {
                Some(key) => json!({ key: inner }),
                None => json!([inner]),
            })
    }
}

/// One enum of one operation.
#[derive(Debug)]
struct Taken {
    method: String,
    path: String,
    place: Place,
    values: BTreeSet<String>,
    has_body: bool,
}

/// `schema` with a `$ref` to a component replaced by the component.
fn resolved<'a>(document: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            resolved(document, &document["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// Every enum of strings within `schema`, by where it sits below `at`.
fn enums_in(
    document: &Value,
    schema: &Value,
    at: &[Option<String>],
    found: &mut Vec<(Place, Value)>,
) {
    // The API's bodies nest a few levels; a recursive schema would not end.
    if at.len() > 6 {
        return;
    }
    let schema = resolved(document, schema);
    if schema["enum"].is_array() && !at.is_empty() {
        found.push((Place::Body(at.to_vec()), schema["enum"].clone()));
    }
    for combined in ["oneOf", "anyOf", "allOf"] {
        for part in schema[combined].as_array().into_iter().flatten() {
            enums_in(document, part, at, found);
        }
    }
    for (key, property) in schema["properties"].as_object().into_iter().flatten() {
        let mut next = at.to_vec();
        next.push(Some(key.clone()));
        enums_in(document, property, &next, found);
    }
    if schema["items"].is_object() {
        let mut next = at.to_vec();
        next.push(None);
        enums_in(document, &schema["items"], &next, found);
    }
}

/// The enum values a query parameter's schema lists, through `oneOf` with
/// `null` for an optional one.
fn query_enum(document: &Value, schema: &Value) -> Option<Value> {
    let schema = resolved(document, schema);
    if schema["enum"].is_array() {
        return Some(schema["enum"].clone());
    }
    ["oneOf", "anyOf"]
        .iter()
        .flat_map(|combined| schema[*combined].as_array().into_iter().flatten())
        .find_map(|part| query_enum(document, part))
}

/// Every enum the document lists, operation by operation.
fn documented_enums(document: &Value) -> Vec<Taken> {
    let mut taken = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let mut found = Vec::new();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                if parameter["in"] == "query"
                    && let Some(values) = query_enum(document, &parameter["schema"])
                {
                    let name = parameter["name"].as_str().unwrap().to_owned();
                    found.push((Place::Query(name), values));
                }
            }
            let body = &operation["requestBody"]["content"]["application/json"]["schema"];
            if !body.is_null() {
                enums_in(document, body, &[], &mut found);
            }
            for (place, values) in found {
                let values: BTreeSet<String> = values
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
                let known = taken.iter_mut().find(|t: &&mut Taken| {
                    t.method == *method && t.path == *path && t.place == place
                });
                match known {
                    // The same field in two variants of a `oneOf`.
                    Some(known) => known.values.extend(values),
                    None => taken.push(Taken {
                        method: method.clone(),
                        path: path.clone(),
                        place,
                        values,
                        has_body: !body.is_null(),
                    }),
                }
            }
        }
    }
    taken
}

/// The people and records the requests name.
struct Callers {
    facility: Uuid,
    facility_admin: String,
    system_admin: String,
}

impl Callers {
    /// `path` with the facility's id for `{facility_id}` and ids nothing has
    /// for every other parameter.
    fn path(&self, path: &str) -> String {
        let mut filled = path.replace("{facility_id}", &self.facility.to_string());
        while let Some(start) = filled.find('{') {
            let end = start + filled[start..].find('}').unwrap();
            filled.replace_range(start..=end, &Uuid::new_v4().to_string());
        }
        filled
    }

    fn token(&self, path: &str) -> &str {
        if path.starts_with("/admin") {
            &self.system_admin
        } else {
            &self.facility_admin
        }
    }
}

/// The answer to `taken`'s operation with `value` in its place: the status
/// and the fields its `errors` name, with their reasons.
async fn send(
    app: &TestApp,
    callers: &Callers,
    taken: &Taken,
    value: &str,
) -> (u16, Vec<(String, String)>) {
    let mut path = callers.path(&taken.path);
    if let Place::Query(name) = &taken.place {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        path = format!("{path}?{query}");
    }
    let method = Method::from_bytes(taken.method.to_uppercase().as_bytes()).unwrap();
    let body = taken.has_body.then(|| taken.place.body(value));
    let response = app
        .call(callers.token(&taken.path), method, &path, body)
        .await;
    let status = response.status().as_u16();
    let errors = if status == 422 {
        let problem: Value = response.json().await.unwrap_or_default();
        problem["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let text = |key: &str| e[key].as_str().unwrap_or_default().to_owned();
                (text("field"), text("reason"))
            })
            .collect()
    } else {
        Vec::new()
    };
    (status, errors)
}

/// What is wrong with how `taken`'s operation answers its enum, if anything.
async fn walk(app: &TestApp, callers: &Callers, taken: &Taken) -> Vec<String> {
    let field = taken.place.field();
    let at = format!("{} {} `{field}`", taken.method, taken.path);
    let mut wrong = Vec::new();
    for value in &taken.values {
        let (status, errors) = send(app, callers, taken, value).await;
        if status >= 500 || errors.iter().any(|(f, _)| *f == field) {
            wrong.push(format!("{at}: `{value}` refused ({status} {errors:?})"));
        }
    }
    let (status, errors) = send(app, callers, taken, NOT_LISTED).await;
    // A query parameter's refusal lists the values it takes; a body's may
    // say it otherwise (an API key's scope "is not a permission").
    let lists = |reason: &str| {
        matches!(taken.place, Place::Body(_)) || taken.values.iter().all(|v| reason.contains(v))
    };
    if !errors
        .iter()
        .any(|(f, reason)| *f == field && lists(reason))
    {
        wrong.push(format!(
            "{at}: `{NOT_LISTED}` answered {status} {errors:?}, not a 422 naming the field (and, in a query, its values)"
        ));
    }
    wrong
}

async fn every_documented_enum_value_is_taken_and_no_other(backend: TestBackend) {
    let app = TestApp::spawn(backend).await;
    let document = json_of(app.get("/openapi.json").await).await;
    let facility = app.facility("Enumerated").await;
    let callers = Callers {
        facility,
        facility_admin: app.person(&[(Some(facility), Role::Admin)]).await.token,
        system_admin: app.system_admin().await.token,
    };
    let taken = documented_enums(&document);
    let queries = taken
        .iter()
        .filter(|t| matches!(t.place, Place::Query(_)))
        .count();
    assert!(queries >= 20, "only {queries} enum query parameters found");
    assert!(
        taken.len() - queries >= 25,
        "only {} enum body fields found",
        taken.len() - queries
    );
    let mut wrong = Vec::new();
    for taken in &taken {
        wrong.extend(walk(&app, &callers, taken).await);
    }
    assert!(
        wrong.is_empty(),
        "{} of {} enums:\n{}",
        wrong.len(),
        taken.len(),
        wrong.join("\n")
    );
    app.stop().await;
}
