//! What the tool stores and says is what happened: usage errors, collections from the source's layout through the
//! real pipeline to `search`, one definition of every figure across the final line, `--json` and the log.
mod common;

use common::*;

/// (exit code, stderr) of the binary with a data directory of the test's own (no server is needed to refuse).
fn refused(args: &[&str]) -> (i32, String) {
    let data = temp_dir("usage");
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run_bin(&all, &[]);
    let _ = std::fs::remove_dir_all(&data);
    (out.status.code().unwrap_or(-1), stderr(&out) + &stdout(&out))
}

#[test]
fn a_typo_is_a_usage_error_with_clap_s_suggestion() {
    let (code, text) = refused(&["improt"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unrecognized subcommand 'improt'"), "{text}");
    assert!(text.contains("similar subcommand exists: 'import'"), "{text}");
    let (code, text) = refused(&["frobnicate"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("unrecognized subcommand 'frobnicate'"), "{text}");
    assert!(!text.contains("does not exist"), "not taken for a source: {text}");
}

#[test]
fn a_missing_source_is_refused_the_same_way_by_console_import_and_doctor() {
    let missing = "/no/such/dir";
    for args in [vec![missing], vec!["import", missing], vec!["doctor", missing]] {
        let (code, text) = refused(&args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(
            text.contains("error: source /no/such/dir does not exist"),
            "{args:?}: {text}"
        );
        assert!(
            !text.contains("verdict"),
            "{args:?}: doctor gave a verdict on nothing: {text}"
        );
    }
    // A relative spelling with a separator is a path too, not a subcommand.
    let (code, text) = refused(&["no/such"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("source no/such does not exist"), "{text}");
    // `--json` keeps its promise of one JSON object (exit code 1, as `search` does).
    let (code, text) = refused(&["doctor", "--json", missing]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(r#""status":"failed""#), "{text}");
}
