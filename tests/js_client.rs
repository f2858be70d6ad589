//! The JavaScript client (`clients/js`): its vitest suite against the real binary, and a check
//! that the OpenAPI document committed beside it is the one the server serves (so the generated
//! types in `clients/js/src/openapi.ts` cannot drift; the vitest suite checks those).
//!
//! The suite needs the client's node modules, which `.ci/run` installs (`npm ci` in clients/js).
//! Outside CI a machine without them skips with a message; under CI (CI=true) they must be there.

use std::path::Path;
use std::process::Command;

const DIR: &str = "clients/js";

fn node_modules_missing() -> bool {
    if Path::new(DIR).join("node_modules/.bin/vitest").exists() {
        return false;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("clients/js/node_modules is missing under CI: .ci/run must run npm ci there");
    }
    eprintln!(
        "skipped: clients/js/node_modules is not installed (run .ci/run, or npm ci in clients/js)"
    );
    true
}

#[test]
fn javascript_client_suite_passes() {
    if node_modules_missing() {
        return;
    }
    // The client, then the tests against its declarations (they double as a check of its types).
    for config in ["tsconfig.json", "tsconfig.test.json"] {
        let built = Command::new("node_modules/.bin/tsc")
            .args(["-p", config])
            .current_dir(DIR)
            .status()
            .unwrap();
        assert!(
            built.success(),
            "clients/js does not type-check (tsc -p {config})"
        );
    }
    let status = Command::new("node_modules/.bin/vitest")
        .arg("run")
        .current_dir(DIR)
        .env("MAMMOTH_BIN", env!("CARGO_BIN_EXE_mammoth"))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the JavaScript client's vitest suite failed"
    );
}

#[test]
fn committed_openapi_document_is_the_served_one() {
    let committed = std::fs::read_to_string(Path::new(DIR).join("openapi.json")).unwrap();
    assert!(
        committed == mammoth::http::openapi::json(),
        "clients/js/openapi.json differs from GET /v1/openapi.json: run `npm run gen:types` in \
         clients/js and commit openapi.json and src/openapi.ts"
    );
}
