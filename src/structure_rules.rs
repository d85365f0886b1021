//! Two rules of docs/architecture.md that the compiler cannot see, checked
//! on the source tree so that they hold for the next engineer:
//!
//! - Handlers do not query entities. A `*routes.rs` file names no
//!   `Entity::` and no `ActiveModel`: its queries are in the context's
//!   store, whose functions take the caller's `FacilityScope`, so a query
//!   that skipped the policy engine does not compile.
//! - A context reads another context's data only through that context's
//!   public functions, never its tables: no file of one context names
//!   another context's `Entity`, `Column` or `ActiveModel`.
//!
//! The lists of files that still break a rule are exact and may only
//! shrink: moving a file's queries into its store means deleting its line,
//! and a new offender fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Handlers that still query entities themselves.
const HANDLERS_QUERYING_KNOWN: &[&str] = &[];

/// Files that still name another context's tables, with that context.
const FOREIGN_TABLES_KNOWN: &[(&str, &str)] = &[];

/// Every `.rs` file under `dir`, with its path from the crate root and its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate::architecture::sources(dir)
        .into_iter()
        .map(|path| {
            let name = path.strip_prefix(root).unwrap_or(&path);
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            (name.to_string_lossy().replace('\\', "/"), text)
        })
        .collect()
}

/// The contexts, as `lib.rs` lists them in `CONTEXTS`.
fn contexts() -> BTreeSet<String> {
    crate::contexts::all()
        .iter()
        .map(|c| c.name().to_owned())
        .collect()
}

/// The folder a file of `src/` is in (`src/crm/leads.rs` → `crm`).
fn folder_of(file: &str) -> &str {
    let mut parts = file.split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some(folder), Some(_)) => folder,
        _ => "",
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The names `text` brings in from context `other` with `use crate::other::…;`
/// (a module, or what a `{…}` group lists; `self` names the module
/// before it; `as` renames).
fn imported_from(text: &str, other: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let head = format!("use crate::{other}::");
    for (at, _) in text.match_indices(&head) {
        let rest = &text[at + head.len()..];
        let statement = rest.split(';').next().unwrap_or_default();
        let words: Vec<&str> = statement
            .split(|c: char| !is_ident(c))
            .filter(|w| !w.is_empty())
            .collect();
        for (i, word) in words.iter().enumerate() {
            match *word {
                "self" if i > 0 => {
                    names.insert(words[i - 1].to_owned());
                }
                "self" | "as" => {}
                _ if i > 0 && words[i - 1] == "as" => {
                    names.insert((*word).to_owned());
                }
                _ => {
                    names.insert((*word).to_owned());
                }
            }
        }
    }
    names
}

/// Whether `text` names `Entity`, `Column` or `ActiveModel` of a module
/// called one of `modules` (`leads::Entity`), or through a path into
/// context `other` (`crate::care::patients::Column`).
fn names_tables(text: &str, other: &str, modules: &BTreeSet<String>) -> bool {
    const TABLE_ITEMS: [&str; 3] = ["Entity", "Column", "ActiveModel"];
    if TABLE_ITEMS.iter().any(|item| modules.contains(*item)) {
        return true;
    }
    for item in TABLE_ITEMS {
        let needle = format!("::{item}");
        for (at, _) in text.match_indices(&needle) {
            let after = text[at + needle.len()..].chars().next();
            if after.is_some_and(is_ident) {
                continue;
            }
            let before = &text[..at];
            let module: String = before
                .chars()
                .rev()
                .take_while(|c| is_ident(*c))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let path: String = before
                .chars()
                .rev()
                .take_while(|c| is_ident(*c) || *c == ':')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if modules.contains(&module) || path.starts_with(&format!("crate::{other}::")) {
                return true;
            }
        }
    }
    false
}

#[test]
fn handlers_do_not_query_entities() {
    let found: BTreeSet<String> = sources(&crate::architecture::src())
        .into_iter()
        .filter(|(file, _)| file.ends_with("routes.rs"))
        .filter(|(_, text)| text.contains("Entity::") || text.contains("ActiveModel"))
        .map(|(file, _)| file)
        .collect();
    let known: BTreeSet<String> = HANDLERS_QUERYING_KNOWN
        .iter()
        .map(|f| (*f).to_owned())
        .collect();
    assert_eq!(
        found, known,
        "handlers that name `Entity::` or `ActiveModel` changed: a handler's \
         queries belong in its context's store, given the scope"
    );
}

#[test]
fn no_context_reads_another_contexts_tables() {
    let contexts = contexts();
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (file, text) in sources(&crate::architecture::src()) {
        let own = folder_of(&file);
        if !contexts.contains(own) {
            continue;
        }
        for other in contexts.iter().filter(|c| c.as_str() != own) {
            let modules = imported_from(&text, other);
            if names_tables(&text, other, &modules) {
                found.entry(file.clone()).or_default().insert(other.clone());
            }
        }
    }
    let found: BTreeSet<(String, String)> = found
        .into_iter()
        .flat_map(|(file, others)| others.into_iter().map(move |o| (file.clone(), o)))
        .collect();
    let known: BTreeSet<(String, String)> = FOREIGN_TABLES_KNOWN
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(
        found, known,
        "files naming another context's Entity, Column or ActiveModel changed: \
         read it through that context's public, scoped functions"
    );
}

#[test]
fn the_table_check_sees_imports_and_paths() {
    let imported = imported_from(
        "use crate::care::{patients, care_team::{self, LinkStatus}};\nuse crate::crm::leads as l;",
        "care",
    );
    assert!(imported.contains("patients") && imported.contains("care_team"));
    assert!(names_tables("patients::Entity::find()", "care", &imported));
    assert!(names_tables(
        "crate::care::patients::Column::Id",
        "care",
        &BTreeSet::new()
    ));
    assert!(!names_tables("patients::EntityName", "care", &imported));
    assert!(!names_tables("waitlist::Entity", "care", &imported));
    let items = imported_from("use crate::care::patients::{Column, Entity};", "care");
    assert!(names_tables("Entity::find()", "care", &items));
    let renamed = imported_from("use crate::crm::leads as l;", "crm");
    assert!(names_tables("l::ActiveModel {", "crm", &renamed));
}
