//! What a scoped token costs per request (issue 5): verifying the token and parsing its scope in
//! the HTTP layer, and the end-to-end latency of a GET with an API key alone versus with a key
//! and a scoped token. Prints `bench: <name> = <value> <unit>` lines.
//!
//! Run: `cargo bench --bench scope`

use std::time::{Duration, Instant};

use mammoth::keys::{KeySigner, TokenClaims};
use mammoth::testing::TestServer;
use mammoth_actors::records::Permission;
use mammoth_actors::scope::Scope;
use serde_json::{Value, json};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let scope = json!({"todos": {"user_id": "abc123"}, "*": {}});
    let signer = KeySigner::new(b"bench secret");
    let token = signer.mint_token(&TokenClaims {
        pid: "p".into(),
        kid: "k".into(),
        n: "n".into(),
        perm: Permission::Write,
        scope: scope.clone(),
        iat: 0,
        exp: u64::MAX / 2,
        jti: "j".into(),
    });
    let mut verify = Vec::new();
    for _ in 0..20_000 {
        let started = Instant::now();
        let claims = signer.verify_token(&token).expect("valid");
        let parsed = Scope::parse(&claims.scope).expect("valid");
        std::hint::black_box(parsed);
        verify.push(started.elapsed());
    }
    println!(
        "bench: scope.verify_token_and_parse_scope.median = {:.2} us",
        median(verify)
    );

    let server = TestServer::start().await?;
    let client = reqwest::Client::new();
    let doc = format!("{}/v1/collections/todos/documents/t1", server.url());
    client
        .put(&doc)
        .header("X-API-Key", server.write_key())
        .json(&json!({"user_id": "abc123", "title": "milk"}))
        .send()
        .await?
        .error_for_status()?;
    let minted: Value = client
        .post(format!("{}/v1/tokens", server.url()))
        .header("X-API-Key", server.write_key())
        .json(&json!({"scope": scope}))
        .send()
        .await?
        .json()
        .await?;
    let token = minted["token"].as_str().expect("a token").to_owned();
    let (mut plain, mut scoped) = (Vec::new(), Vec::new());
    for round in 0..10_000 {
        let with_token = round % 2 == 1;
        let mut request = client.get(&doc).header("X-API-Key", server.write_key());
        if with_token {
            request = request.bearer_auth(&token);
        }
        let started = Instant::now();
        let response = request.send().await?;
        assert_eq!(response.status(), 200);
        response.bytes().await?;
        if with_token {
            scoped.push(started.elapsed())
        } else {
            plain.push(started.elapsed())
        }
    }
    let (plain, scoped) = (median(plain), median(scoped));
    println!("bench: scope.get_with_key_only.median = {plain:.1} us");
    println!("bench: scope.get_with_key_and_scoped_token.median = {scoped:.1} us");
    println!("bench: scope.cost_per_request = {:.1} us", scoped - plain);
    Ok(())
}
