//! The structure docs/architecture.md promises, checked on the source tree:
//! the kernel names no context, every context folder is in the one list,
//! and the known debts (dependency cycles between contexts, the kernel's
//! remaining imports of contexts, files over 600 lines) can only shrink.
//! Each list below is exact: paying a debt off means deleting its line,
//! and a new one fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The kernel: what every context uses, knowing none of them. `app.rs` and
/// `contexts.rs` reach the contexts only through `crate::CONTEXTS`.
const KERNEL: &[&str] = &[
    "app",
    "cli",
    "config",
    "context",
    "contexts",
    "crypto",
    "db",
    "demo",
    "error",
    "http",
    "policy",
    "storage",
    "telemetry",
    "time",
    "transition",
    "types",
    "validation",
];

/// Kernel modules that still import a context, each a debt of issue 12.
const KERNEL_IMPORTS_KNOWN: &[(&str, &str)] = &[("app", "audit")];

/// Pairs of contexts that import each other.
const CYCLES_KNOWN: &[(&str, &str)] = &[
    ("access", "audit"),
    ("access", "care"),
    ("access", "identity"),
    ("care", "crm"),
];

/// Source files over 600 lines.
const LONG_FILES_KNOWN: &[&str] = &[];

const MAX_LINES: usize = 600;

pub(crate) fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
pub(crate) fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// The top-level module a source file belongs to (`src/crm/leads.rs` → `crm`).
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap_or(path);
    let first = relative
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_owned()
}

/// The contexts, as `lib.rs` lists them in `CONTEXTS`.
fn contexts() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap_or_default();
    let list = lib
        .split("const CONTEXTS")
        .nth(1)
        .and_then(|rest| rest.split("];").next())
        .unwrap_or_default();
    list.lines()
        .filter_map(|line| line.trim().strip_prefix('&'))
        .filter_map(|path| path.split("::").next())
        .map(str::to_owned)
        .collect()
}

/// Which other top-level modules each module names as `crate::<module>`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in sources(&src()) {
        let from = module_of(&file);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (_, rest) in text
            .match_indices("crate::")
            .map(|(i, _)| ((), &text[i + 7..]))
        {
            let to: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !to.is_empty() && to != from {
                graph.entry(from.clone()).or_default().insert(to);
            }
        }
    }
    graph
}

#[test]
fn every_context_folder_is_in_the_one_list() {
    let listed = contexts();
    assert!(
        listed.contains("crm") && listed.contains("patient_history"),
        "{listed:?}"
    );
    for entry in std::fs::read_dir(src()).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() && !KERNEL.contains(&name.as_str()) {
            assert!(
                listed.contains(&name),
                "src/{name}/ is not in lib.rs's CONTEXTS"
            );
        }
    }
    let declared: BTreeSet<String> = crate::contexts::all()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    assert_eq!(
        declared, listed,
        "each context names itself after its folder"
    );
}

#[test]
fn the_kernel_imports_no_context_but_the_known_debts() {
    let contexts = contexts();
    let found: BTreeSet<(String, String)> = imports()
        .into_iter()
        .filter(|(from, _)| KERNEL.contains(&from.as_str()))
        .flat_map(|(from, to)| to.into_iter().map(move |t| (from.clone(), t)))
        .filter(|(_, to)| contexts.contains(to))
        .collect();
    let known: BTreeSet<(String, String)> = KERNEL_IMPORTS_KNOWN
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(found, known, "the kernel's imports of contexts changed");
}

#[test]
fn cycles_between_contexts_only_shrink() {
    let contexts = contexts();
    let graph = imports();
    let mut found = BTreeSet::new();
    for (from, tos) in &graph {
        for to in tos {
            let back = graph.get(to).is_some_and(|t| t.contains(from));
            if contexts.contains(from) && contexts.contains(to) && back && from < to {
                found.insert((from.clone(), to.clone()));
            }
        }
    }
    let known: BTreeSet<(String, String)> = CYCLES_KNOWN
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(
        found, known,
        "the pairs of contexts that import each other changed"
    );
}

#[test]
fn no_new_file_over_600_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found: BTreeSet<String> = sources(&src())
        .into_iter()
        .filter(|file| {
            std::fs::read_to_string(file)
                .map(|text| text.lines().count() > MAX_LINES)
                .unwrap_or(false)
        })
        .map(|file| {
            file.strip_prefix(root)
                .unwrap_or(&file)
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let known: BTreeSet<String> = LONG_FILES_KNOWN.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(found, known, "files over {MAX_LINES} lines changed");
}
