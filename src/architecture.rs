//! The structure docs/architecture.md promises, checked on the source tree:
//! the kernel names no context, every context folder is in the one list,
//! and the known debts (dependency cycles between contexts, the kernel's
//! remaining imports of contexts, files over 600 lines) can only shrink.
//! Each list below is exact: paying a debt off means deleting its line,
//! and a new one fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The kernel: what every context uses, knowing none of them. `app.rs` and
/// `contexts.rs` reach the contexts only through `crate::CONTEXTS`. The
/// audit trail is kernel (every context writes it in its transactions), yet
/// it also declares its table, routes and commands through the context
/// contract like any context, so it is in both lists.
const KERNEL: &[&str] = &[
    "app",
    "audit",
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
const KERNEL_IMPORTS_KNOWN: &[(&str, &str)] = &[];

/// Pairs of contexts on a cycle of imports (directly or through others).
const CYCLES_KNOWN: &[(&str, &str)] = &[];

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

/// The listed contexts that are not part of the kernel.
fn context_modules() -> BTreeSet<String> {
    contexts()
        .into_iter()
        .filter(|c| !KERNEL.contains(&c.as_str()))
        .collect()
}

#[test]
fn the_kernel_imports_no_context_but_the_known_debts() {
    let contexts = context_modules();
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

/// The contexts `from` reaches through imports between contexts, directly
/// or through others.
fn reachable(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let contexts = context_modules();
    let mut seen = BTreeSet::new();
    let mut next = vec![from.to_owned()];
    while let Some(module) = next.pop() {
        for to in graph.get(&module).into_iter().flatten() {
            if contexts.contains(to) && seen.insert(to.clone()) {
                next.push(to.clone());
            }
        }
    }
    seen
}

/// Pairs of contexts on a cycle of imports: each reaches the other, either
/// directly (a imports b, b imports a) or through other contexts.
#[test]
fn cycles_between_contexts_only_shrink() {
    let contexts = context_modules();
    let graph = imports();
    let mut found = BTreeSet::new();
    for from in &contexts {
        let reached = reachable(&graph, from);
        for to in reached.iter().filter(|to| from < *to) {
            if reachable(&graph, to).contains(from) {
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
