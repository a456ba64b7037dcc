//! `Config::from_json`, then loading the gateway from the accepted configuration and sending it a
//! few fixed requests (health, an interop token, an opaque token, no token) with fetch failing.
#![no_main]

use edgeward::{Config, Headers, Request};
use edgeward_fuzz::{block_on, gateway_from, vectors, Fake};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if Config::from_json(text).is_err() {
        return;
    }
    let gateway = gateway_from(text);
    let platform = Fake::offline();
    let token = &vectors()[0].token;
    for (method, url, auth) in [
        ("GET", "https://gw.test/.well-known/edgeward/health", None),
        (
            "GET",
            "https://gw.test/api/orders?x=1",
            Some(format!("Bearer {token}")),
        ),
        (
            "POST",
            "https://gw.test/other",
            Some("Bearer opaque-fuzz-token".to_owned()),
        ),
        ("DELETE", "https://gw.test/", None),
    ] {
        let mut headers = Headers::new();
        if let Some(auth) = auth {
            headers.append("authorization", &auth);
        }
        let request = Request {
            method: method.into(),
            url: url.into(),
            headers,
            client_cert: None,
        };
        let _ = block_on(gateway.handle(&platform, &request));
    }
});
