//! The README's "Testing your app against Mammoth" examples for Python and JavaScript, run against
//! the real binary, and a check that the README shows every example exactly as it is run.
//!
//! They need pytest and the example's node modules, which `.ci/run` installs. Outside CI a
//! machine without them skips these two with a message; under CI (CI=true) missing tools fail.

use std::path::Path;
use std::process::Command;

fn tool_missing(what: &str) -> bool {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what} is missing under CI: .ci/run must install it");
    }
    eprintln!("skipped: {what} is not installed (run .ci/run to install it)");
    true
}

#[test]
fn python_example_passes() {
    let has_pytest = Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_pytest && tool_missing("pytest") {
        return;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "examples/testing/python",
        ])
        .env("MAMMOTH_BIN", env!("CARGO_BIN_EXE_mammoth"))
        .status()
        .unwrap();
    assert!(status.success(), "the Python example failed");
}

#[test]
fn javascript_example_passes() {
    let dir = Path::new("examples/testing/js");
    if !dir.join("node_modules/.bin/vitest").exists()
        && tool_missing("the JS example's node_modules")
    {
        return;
    }
    let status = Command::new("node_modules/.bin/vitest")
        .arg("run")
        .current_dir(dir)
        .env("MAMMOTH_BIN", env!("CARGO_BIN_EXE_mammoth"))
        .status()
        .unwrap();
    assert!(status.success(), "the JavaScript example failed");
}

#[test]
fn readme_shows_the_examples_as_they_are_run() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    for file in [
        "tests/example_rust.rs",
        "examples/testing/python/test_todos.py",
        "examples/testing/js/todos.test.js",
    ] {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            readme.contains(text.trim()),
            "README.md must contain {file} verbatim"
        );
    }
}
