//! A build without the `token-handler` feature refuses a configuration that asks for the token
//! handler (every request 500 naming the field), and never answers for an agent path.
#![cfg(not(feature = "token-handler"))]

mod common;

use common::block_on;
use common::fake::FakePlatform;
use edgeward::{Gateway, Outcome};
use serde_json::{json, Value};

#[test]
fn a_token_handler_section_is_refused_naming_the_field() {
    let config = json!({
        "origin": "http://origin.test",
        "token_handler": { "issuer": "https://as.test" },
    });
    let gateway = Gateway::with_trust_anchors(Some(&config.to_string()), &|_| None, "test", &[]);
    let platform = FakePlatform::new(1_800_000_000);
    let request = common::get("https://gw.test/oauth-agent/session", &[]);
    let Outcome::Respond(response) = block_on(gateway.handle(&platform, &request)) else {
        panic!("answered")
    };
    assert_eq!(response.status, 500);
    let body: Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["field"], "token_handler");
}
