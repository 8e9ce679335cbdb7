//! The tidy step "spec citations resolve": every `moq-lite-0X.md N.N` and every bare
//! `spec N.N` in the sources names a section heading that exists in `docs/spec/`.
//!
//! A bare `spec N.N` means `moq-lite-05.md N.N` (docs/spec/README.md). Citations may list
//! several sections (`sections 6.4, 6.9 and 10.2`) or a range (`6.4–6.6`); every number is
//! checked. A citation may continue on the next comment line. A bare `section N.N` (no file
//! or `spec` right before it) is reported too: which file it means depends on text elsewhere.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

/// Where the cited files live.
pub(crate) const SPEC_DIR: &str = "docs/spec";
/// The file a bare `spec N.N` follows.
pub(crate) const BARE_SPEC_FILE: &str = "moq-lite-05.md";
/// The numbered spec files a citation may name.
const SPEC_FILES: [&str; 2] = ["moq-lite-05.md", "moq-lite-06.md"];
/// This file's tests spell out bad citations on purpose.
const SELF: &str = "xtask/src/spec_refs.rs";

/// The section numbers each numbered spec file has (`1`, `1.2`, `5.1.1`, …), read from its
/// `##`/`###`/`####` headings.
pub(crate) struct Sections {
    files: Vec<(&'static str, BTreeSet<String>)>,
}

impl Sections {
    /// Reads the headings of the spec files under `root/docs/spec`.
    pub(crate) fn load(root: &Path) -> anyhow::Result<Self> {
        let mut files = Vec::new();
        for name in SPEC_FILES {
            let text = fs::read_to_string(root.join(SPEC_DIR).join(name))?;
            files.push((name, headings(&text)));
        }
        Ok(Self { files })
    }

    fn has(&self, file: &str, section: &str) -> bool {
        self.files
            .iter()
            .any(|(name, set)| *name == file && set.contains(section))
    }
}

/// The section numbers of a Markdown file's numbered headings.
fn headings(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            let rest = l.trim_start_matches('#');
            if rest.len() == l.len() || !rest.starts_with(' ') {
                return None;
            }
            let number = leading_number(rest.trim_start())?;
            Some(number.to_string())
        })
        .collect()
}

/// `6.4` from `6.4 ANNOUNCE_START`, `1` from `1. Negotiation`.
fn leading_number(s: &str) -> Option<&str> {
    let end = number_len(s);
    (end > 0).then(|| &s[..end])
}

/// Length of a section number at the start of `s`: digits, then `.digits` groups. A final
/// `.` not followed by a digit (end of sentence, `1.` heading) is not part of it.
fn number_len(s: &str) -> usize {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i == 0 {
        return 0;
    }
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// One cited section that does not exist, or a section number that names no file.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadCitation {
    pub(crate) line: usize,
    /// The file cited; `None` for a bare `section N.N`.
    pub(crate) file: Option<&'static str>,
    pub(crate) section: String,
}

/// Every citation in `text` that names a missing section.
pub(crate) fn check_text(rel: &str, text: &str, sections: &Sections) -> Vec<BadCitation> {
    if rel == SELF || rel.starts_with(SPEC_DIR) {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut bad = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // The text after a marker, continued onto the next line so a wrapped citation counts.
        let next = lines.get(i + 1).map_or("", |l| strip_comment(l));
        for (at, file) in markers(line) {
            let tail = format!("{} {next}", &line[at..]);
            for section in cited_numbers(&tail) {
                if !sections.has(file, &section) {
                    bad.push(BadCitation {
                        line: i + 1,
                        file: Some(file),
                        section,
                    });
                }
            }
        }
        let previous = i.checked_sub(1).map_or("", |p| strip_comment(lines[p]));
        for at in unnamed_sections(previous, line) {
            let tail = format!("{} {next}", &line[at..]);
            for section in cited_numbers(&tail) {
                bad.push(BadCitation {
                    line: i + 1,
                    file: None,
                    section,
                });
            }
        }
    }
    bad
}

/// `/// text`, `//! text`, `// text`, `# text` → `text`.
fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    let t = t
        .strip_prefix("///")
        .or_else(|| t.strip_prefix("//!"))
        .or_else(|| t.strip_prefix("//"))
        .or_else(|| t.strip_prefix('#'))
        .unwrap_or(t);
    t.trim_start()
}

/// Each citation marker in `line`: the byte offset just after it and the file it names.
fn markers(line: &str) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    for file in SPEC_FILES {
        let mut from = 0;
        while let Some(at) = line[from..].find(file) {
            let end = from + at + file.len();
            out.push((end, file));
            from = end;
        }
    }
    let lower = line.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("spec") {
        let start = from + at;
        let end = start + "spec".len();
        let before = lower[..start].chars().next_back();
        let after = lower[end..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        // `docs/spec/` is a path, not a citation.
        if !word(before) && !word(after) && before != Some('/') && after != Some('/') {
            out.push((end, BARE_SPEC_FILE));
        }
        from = end;
    }
    out
}

/// Each `section`/`sections` in `line` that no citation marker (nor an RFC) precedes: the
/// byte offset where its numbers would start. `previous` is the line before, comment stripped.
fn unnamed_sections(previous: &str, line: &str) -> Vec<usize> {
    let lower = line.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find("section") {
        let start = from + at;
        from = start + "section".len();
        if lower[..start]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let before = strip_comment(&line[..start]).trim_end();
        let before = if before.is_empty() {
            previous.trim_end()
        } else {
            before
        };
        let before = before
            .trim_end_matches(['`', '\'', '"'])
            .to_ascii_lowercase();
        let named = SPEC_FILES.iter().any(|f| before.ends_with(f))
            || (before.ends_with("spec")
                && !before[..before.len() - 4].ends_with(|c: char| c.is_alphanumeric()))
            || before
                .rsplit_once("rfc ")
                .is_some_and(|(_, n)| n.chars().all(|c| c.is_ascii_digit()));
        if !named {
            out.push(from + usize::from(lower[from..].starts_with('s')));
        }
    }
    out
}

/// The section numbers a citation lists right after its marker: an optional closing
/// backtick, `section(s)` or `§`, then numbers separated by `,`, `and`, `–` or `-`.
fn cited_numbers(tail: &str) -> Vec<String> {
    let mut s = tail.trim_start_matches(['`', '\'', '"']).trim_start();
    for word in ["sections", "section", "§"] {
        if let Some(rest) = s.strip_prefix(word) {
            s = rest.trim_start();
            break;
        }
    }
    let mut out = Vec::new();
    loop {
        let n = number_len(s);
        if n == 0 || s[n..].starts_with(|c: char| c.is_alphanumeric()) {
            break;
        }
        out.push(s[..n].to_string());
        s = &s[n..];
        let rest = s.trim_start();
        let rest = rest.strip_prefix(',').map(str::trim_start).unwrap_or(rest);
        let next = ["and ", "–", "-"]
            .iter()
            .find_map(|sep| rest.strip_prefix(sep))
            .map(str::trim_start)
            .unwrap_or(rest);
        if next.len() == s.len() || number_len(next) == 0 {
            break;
        }
        s = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections() -> Sections {
        let five =
            "## 1. Transports\n### 1.1 Ids\n## 2. Encodings\n### 2.4 Paths\n#### 5.1.1 Deep\n";
        let six = "## 6. Messages\n### 6.4 ANNOUNCE_START\n### 6.5 END\n### 6.6 UPDATE\n";
        Sections {
            files: vec![
                ("moq-lite-05.md", headings(five)),
                ("moq-lite-06.md", headings(six)),
            ],
        }
    }

    fn bad(text: &str) -> Vec<String> {
        check_text("crates/x/src/lib.rs", text, &sections())
            .into_iter()
            .map(|b| format!("{} {}", b.file.unwrap_or("?"), b.section))
            .collect()
    }

    #[test]
    fn headings_give_section_numbers() {
        let set = headings("# Title\n## 1. A\n### 1.10 B\n#### 5.1.1 C\n## Other\n");
        assert_eq!(set.into_iter().collect::<Vec<_>>(), ["1", "1.10", "5.1.1"]);
    }

    #[test]
    fn existing_sections_pass() {
        assert!(bad("// spec 2.4: paths. Spec section 1.1.").is_empty());
        assert!(bad("/// (moq-lite-06.md sections 6.4–6.6 and 6)").is_empty());
        assert!(bad("//! `moq-lite-05.md` 5.1.1, the spec's rules").is_empty());
        assert!(bad("// see docs/spec/README.md, spec-compliant, specs 9.9").is_empty());
    }

    #[test]
    fn missing_sections_are_reported() {
        assert_eq!(bad("// spec 6.9: subscribe"), ["moq-lite-05.md 6.9"]);
        assert_eq!(
            bad("/// moq-lite-06.md sections 6.4, 6.7 and 9"),
            ["moq-lite-06.md 6.7", "moq-lite-06.md 9"]
        );
        assert_eq!(bad("// moq-lite-05.md 2.4-2.9."), ["moq-lite-05.md 2.9"]);
    }

    #[test]
    fn a_section_must_name_its_file() {
        assert_eq!(bad("// the mapping (section 10.2)."), ["? 10.2"]);
        assert_eq!(bad("//! sections 1 and 3.1"), ["? 1", "? 3.1"]);
        assert!(bad("// moq-lite-06.md section 6.4; RFC 9000 section 16").is_empty());
        assert!(bad("/// as moq-lite-05.md\n/// section 2.4 says; the next section").is_empty());
    }

    #[test]
    fn a_citation_may_wrap_onto_the_next_line() {
        assert_eq!(
            bad("/// as moq-lite-06.md\n/// section 7.7 says"),
            ["moq-lite-06.md 7.7"]
        );
    }
}
