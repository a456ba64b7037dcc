//! Introspection answers: the fuzz bytes are the body of the authorization server's answer to an
//! opaque token, judged by `introspection::process` in RFC 7662 JSON mode and RFC 9701 JWT mode
//! (through `Gateway::handle`, which owns the `TokenVerifier` the JWT mode needs). The same token
//! is then sent again to exercise the cache.
#![no_main]

use edgeward::{Headers, Outcome, Request};
use edgeward_fuzz::{
    answer, block_on, gateway_from, introspection_config, Fake, NOW, OPAQUE_TOKEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (mode, content_type) in [
        ("json", "application/json; charset=utf-8"),
        ("jwt", "application/token-introspection+jwt"),
    ] {
        let gateway = gateway_from(&introspection_config(mode));
        let mut platform = Fake::offline();
        platform.introspection = Ok(answer(content_type, data));
        let mut headers = Headers::new();
        headers.append("authorization", &format!("Bearer {OPAQUE_TOKEN}"));
        let request = Request {
            method: "GET".into(),
            url: "https://gw.test/api/orders".into(),
            headers,
            client_cert: None,
        };
        let first = block_on(gateway.handle(&platform, &request));
        if let Outcome::Respond(r) = &first {
            assert!(
                r.status >= 400,
                "an opaque token is either forwarded or refused"
            );
        }
        // Second call: answered from the cache (or re-asked) at a later time.
        platform.now = NOW + 5;
        let _ = block_on(gateway.handle(&platform, &request));
    }
});
