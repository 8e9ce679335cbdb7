//! `cargo xtask tidy`: repository checks that keep the codebase in the shape
//! `docs/architecture.md` describes. Each check names the rule it enforces.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::spec_refs;

/// Non-test lines above which a file is reported.
const REPORT_LINES: usize = 600;
/// Non-test lines above which a file fails the check.
const FAIL_LINES: usize = 800;

/// Library crates: no `anyhow` (typed errors per layer).
const LIBRARY_CRATES: &[&str] = &[
    "crates/moql-sync",
    "crates/moql-wire",
    "crates/moql-model",
    "crates/moql-session",
    "crates/moql-relay/src/lib.rs",
];

/// Crates that must stay runtime-free.
const NO_TOKIO_CRATES: &[&str] = &["crates/moql-sync", "crates/moql-wire", "crates/moql-model"];

/// The only file allowed to match on `Version` variants.
const VERSION_FILE: &str = "crates/moql-wire/src/version.rs";

pub(crate) fn run(root: &Path) -> anyhow::Result<()> {
    let problems = check(root)?;
    if problems.is_empty() {
        eprintln!("tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("tidy found {} problem(s)", problems.len())
}

fn check(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests", "fuzz/fuzz_targets"] {
        collect_rs(&root.join(dir), &mut files);
    }
    for path in &files {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        let text = fs::read_to_string(path)?;
        check_file(&rel_str, &text, &mut problems);
    }
    check_spec_citations(root, &mut problems)?;
    for krate in NO_TOKIO_CRATES {
        let manifest = root.join(krate).join("Cargo.toml");
        if let Ok(text) = fs::read_to_string(&manifest)
            && dependency_section(&text)
                .lines()
                .any(|l| l.trim_start().starts_with("tokio"))
        {
            problems.push(format!(
                "{krate}: depends on tokio; this layer must stay runtime-free"
            ));
        }
    }
    Ok(problems)
}

/// Every spec citation names a section that exists in `docs/spec/` (docs/spec/README.md says
/// how the code cites it). Sources, manifests and Markdown are checked.
fn check_spec_citations(root: &Path, problems: &mut Vec<String>) -> anyhow::Result<()> {
    let sections = spec_refs::Sections::load(root)?;
    let mut files = Vec::new();
    for dir in ["crates", "xtask", "tests", "fuzz", "docs"] {
        collect(&root.join(dir), &["rs", "md", "toml"], &mut files);
    }
    files.extend(["README.md", "Cargo.toml"].map(|f| root.join(f)));
    for path in &files {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        let text = fs::read_to_string(path)?;
        for bad in spec_refs::check_text(&rel, &text, &sections) {
            problems.push(match bad.file {
                Some(file) => format!(
                    "{rel}:{}: cites {file} section {}, which {}/{file} does not have",
                    bad.line,
                    bad.section,
                    spec_refs::SPEC_DIR,
                ),
                None => format!(
                    "{rel}:{}: `section {}` names no file; write `moq-lite-0X.md {}`",
                    bad.line, bad.section, bad.section
                ),
            });
        }
    }
    Ok(())
}

/// Stub macros that must not remain on a reachable path (built with `concat!` so this file
/// does not itself contain them).
const STUBS: [&str; 2] = [concat!("todo", "!("), concat!("unimplemented", "!(")];

/// How a crate root takes its documentation from its README.
const README_DOC: &str = "#![doc = include_str!(\"../README.md\")]";

/// This file spells out the patterns it looks for, so its lines are not checked for them.
const SELF: &str = "xtask/src/tidy.rs";

fn check_file(rel: &str, text: &str, problems: &mut Vec<String>) {
    let is_bench_or_test = rel.contains("/benches/") || rel.starts_with("tests/");
    let patterns = rel != SELF;
    // A crate root may instead take its doc from the README, so the README's examples run.
    if !text.starts_with("//!") && !text.starts_with(README_DOC) {
        problems.push(format!("{rel}: does not start with a `//!` module doc"));
    }
    // A sibling `tests.rs` is all test code (style rule 13).
    let code_lines = if rel.ends_with("/tests.rs") || is_bench_or_test {
        0
    } else {
        text.lines()
            .take_while(|l| !is_test_module_start(l))
            .count()
    };
    if code_lines > FAIL_LINES {
        problems.push(format!(
            "{rel}: {code_lines} lines of non-test code (limit {FAIL_LINES}); split it by concept"
        ));
    } else if code_lines > REPORT_LINES {
        eprintln!("tidy: note: {rel} has {code_lines} lines of non-test code");
    }
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.ends_with(' ') || line.ends_with('\t') {
            problems.push(format!("{rel}:{n}: trailing whitespace"));
        }
        let code = line.split("//").next().unwrap_or("");
        if patterns && STUBS.iter().any(|stub| code.contains(stub)) {
            problems.push(format!(
                "{rel}:{n}: todo!/unimplemented! on a reachable path"
            ));
        }
        if patterns && rel != VERSION_FILE && !is_bench_or_test && matches_version_variant(code) {
            problems.push(format!(
                "{rel}:{n}: matches on a Version variant; use a capability predicate in {VERSION_FILE}"
            ));
        }
        if is_library(rel) && code.contains("anyhow") {
            problems.push(format!(
                "{rel}:{n}: anyhow in a library crate; use the crate's error type"
            ));
        }
    }
    check_error_enums(rel, text, problems);
}

/// `Version::Lite0x =>` or `Version::Lite0x |` : a match arm or an or-pattern.
fn matches_version_variant(code: &str) -> bool {
    let mut rest = code;
    while let Some(at) = rest.find("Version::Lite") {
        let after = &rest[at + "Version::Lite".len()..];
        let after = after.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
        let after = after.trim_start();
        if after.starts_with("=>") || after.starts_with('|') {
            return true;
        }
        rest = after;
    }
    false
}

/// Public `*Error` enums must be `#[non_exhaustive]` so adding a variant is not breaking.
fn check_error_enums(rel: &str, text: &str, problems: &mut Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let Some(rest) = t.strip_prefix("pub enum ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.ends_with("Error") {
            continue;
        }
        let attrs = lines[..i]
            .iter()
            .rev()
            .take_while(|l| {
                let l = l.trim_start();
                l.starts_with("#[") || l.starts_with("///") || l.starts_with("//")
            })
            .any(|l| l.contains("non_exhaustive"));
        if !attrs {
            problems.push(format!(
                "{rel}:{}: pub enum {name} lacks #[non_exhaustive]",
                i + 1
            ));
        }
    }
}

fn is_test_module_start(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("#[cfg(test)]") || t.starts_with("#[cfg(all(test")
}

fn is_library(rel: &str) -> bool {
    LIBRARY_CRATES.iter().any(|prefix| {
        if prefix.ends_with(".rs") {
            rel == *prefix
        } else {
            rel.starts_with(&format!("{prefix}/src/"))
        }
    })
}

/// The `[dependencies]`-like sections of a manifest (normal, target-specific), excluding
/// dev-dependencies.
fn dependency_section(manifest: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t.ends_with("dependencies]") && !t.contains("dev-dependencies");
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    collect(dir, &["rs"], out);
}

/// Files under `dir` whose extension is one of `exts` (build output and node modules skipped).
fn collect(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if path.is_dir() {
            if name.as_deref() != Some("target") && name.as_deref() != Some("node_modules") {
                collect(&path, exts, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| exts.iter().any(|x| e == *x))
        {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_is_tidy() {
        let problems = check(&crate::project_root()).unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }

    #[test]
    fn each_rule_catches_its_violation() {
        let mut problems = Vec::new();
        check_file(
            "crates/moql-model/src/x.rs",
            &format!(
                "fn f() {{\n    match v {{ Version::Lite05 => {{}} }}  \n    {}\n    let x: anyhow::Result<()>;\n}}\npub enum FooError {{ A }}\n",
                concat!("todo", "!()")
            ),
            &mut problems,
        );
        let joined = problems.join("\n");
        for needle in [
            "does not start with",
            "trailing whitespace",
            "on a reachable path",
            "Version variant",
            "anyhow",
            "non_exhaustive",
        ] {
            assert!(joined.contains(needle), "missing {needle}: {joined}");
        }
    }

    #[test]
    fn version_constructions_are_allowed() {
        assert!(!matches_version_variant("let v = Version::Lite05;"));
        assert!(matches_version_variant(
            "Version::Lite03 | Version::Lite04 => true,"
        ));
    }
}
