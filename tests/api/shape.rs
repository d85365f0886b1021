//! The integration tests keep the shape the source keeps: no file over 600
//! lines and no function over 80, so a test file stays one sub-feature and
//! a long test a flow of named steps. It reads every test target under
//! `tests/` (the API's and the CLI's); the source's own check
//! (`src/architecture.rs`) reads `src/` only.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// Each function of `text` (formatted by rustfmt) as its name and its
/// length from the `fn` line to the closing brace at the same indent.
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = &line[..line.len() - code.len()];
        let signature = ["pub ", "pub(crate) ", "pub(super) ", "async "]
            .iter()
            .fold(code, |rest, prefix| {
                rest.strip_prefix(prefix).unwrap_or(rest)
            });
        let Some(after) = signature.strip_prefix("fn ") else {
            continue;
        };
        if code.ends_with(';') || code.ends_with('}') {
            continue;
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[at..].iter().position(|l| *l == close) {
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            found.push((name, end + 1));
        }
    }
    found
}

#[test]
fn test_files_and_functions_keep_the_shape_of_the_source() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut broken = Vec::new();
    for file in sources(&root.join("tests")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.strip_prefix(root).unwrap_or(&file).display();
        let lines = text.lines().count();
        if lines > MAX_LINES {
            broken.push(format!("{name}: {lines} lines"));
        }
        for (function, length) in functions(&text) {
            if length > MAX_FN_LINES {
                broken.push(format!("{name}: fn {function} is {length} lines"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "over {MAX_LINES} lines a file or {MAX_FN_LINES} a function:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_shape_check_measures_a_function_from_fn_to_its_brace() {
    let text = "fn short() {}\n\npub async fn two(\n    a: u8,\n) {\n    a;\n}\n\nimpl X {\n    fn inner() {\n        1\n    }\n}\n";
    assert_eq!(
        functions(text),
        [("two".to_owned(), 5), ("inner".to_owned(), 3)]
    );
}
