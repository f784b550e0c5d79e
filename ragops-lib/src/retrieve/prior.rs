//! Priors by kind of file: documentation and tests are legitimate results, but must not crowd
//! out the code a question is about.

/// What a file is, for ranking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// Source code.
    Code,
    /// Tests, examples, benchmarks, fixtures.
    Test,
    /// Documentation, changelogs, data, configuration, lock files.
    NonCode,
}

/// Languages that are prose, data or configuration rather than code.
const NON_CODE_LANGUAGES: &[&str] = &["markdown", "rst", "text", "json", "yaml", "toml", "xml", "html", "css"];

/// Classifies a repository-relative path (with its detected language).
pub fn file_kind(path: &str, language: &str) -> FileKind {
    let lower = path.to_ascii_lowercase();
    if NON_CODE_LANGUAGES.contains(&language) || lower.ends_with(".lock") {
        return FileKind::NonCode;
    }
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    let stem = name.split('.').next().unwrap_or(name);
    let in_test_dir = lower.split('/').rev().skip(1).any(|c| {
        matches!(
            c,
            "test"
                | "tests"
                | "testing"
                | "__tests__"
                | "spec"
                | "specs"
                | "examples"
                | "example"
                | "benches"
                | "bench"
                | "benchmarks"
                | "fixtures"
                | "testdata"
        )
    });
    let test_name = stem.starts_with("test_")
        || stem.ends_with("_test")
        || stem.ends_with("_tests")
        || stem.ends_with("_spec")
        || name.contains(".test.")
        || name.contains(".spec.")
        || stem.ends_with("test") && stem.len() > 4 && name.ends_with(".java")
        || stem == "conftest"
        || stem == "tests";
    if in_test_dir || test_name { FileKind::Test } else { FileKind::Code }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(file_kind("src/lib.rs", "rust"), FileKind::Code);
        assert_eq!(file_kind("README.md", "markdown"), FileKind::NonCode);
        assert_eq!(file_kind("Cargo.lock", "text"), FileKind::NonCode);
        assert_eq!(file_kind("tests/cli.rs", "rust"), FileKind::Test);
        assert_eq!(file_kind("pkg/server_test.go", "go"), FileKind::Test);
        assert_eq!(file_kind("src/test_utils.py", "python"), FileKind::Test);
        assert_eq!(file_kind("src/FooTest.java", "java"), FileKind::Test);
        assert_eq!(file_kind("src/a.spec.ts", "typescript"), FileKind::Test);
        assert_eq!(file_kind("src/latest.rs", "rust"), FileKind::Code);
        assert_eq!(file_kind("src/contest.rs", "rust"), FileKind::Code);
    }
}
