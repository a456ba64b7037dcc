use super::*;

#[test]
fn minimal_config_parses_with_defaults() {
    let config = Config::from_json(r#"{"origin":"http://127.0.0.1:9000"}"#).unwrap();
    assert_eq!(config.max_token_bytes, DEFAULT_MAX_TOKEN_BYTES);
    assert_eq!(config.unmatched, Unmatched::Deny);
}

#[test]
fn missing_origin_names_the_field() {
    let err = Config::from_json(r#"{"routes":[]}"#).unwrap_err();
    assert!(err.message.contains("origin"), "{err}");
}

#[test]
#[cfg(feature = "config-paths")] // without it, serde errors carry line and column only
fn unknown_nested_field_is_named_with_its_path() {
    let err = Config::from_json(
        r#"{"origin":"http://o","routes":[{"path":"/a"},{"path":"/b","anonymus":true}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.field, "routes[1].anonymus");
    assert!(err.message.contains("anonymus"), "{err}");
}

#[test]
fn origin_timeout_defaults_and_bounds() {
    let config = Config::from_json(r#"{"origin":"http://o"}"#).unwrap();
    assert_eq!(config.origin_timeout_ms, DEFAULT_ORIGIN_TIMEOUT_MS);
    let config = Config::from_json(r#"{"origin":"http://o","origin_timeout_ms":300000}"#);
    assert_eq!(config.unwrap().origin_timeout_ms, MAX_ORIGIN_TIMEOUT_MS);
    for bad in [0, MAX_ORIGIN_TIMEOUT_MS + 1] {
        let text = format!(r#"{{"origin":"http://o","origin_timeout_ms":{bad}}}"#);
        let err = Config::from_json(&text).unwrap_err();
        assert_eq!(err.field, "origin_timeout_ms", "{bad}");
    }
}

#[test]
fn outbound_urls_name_every_host_the_gateway_calls() {
    let text = r#"{"origin":"http://o:1",
        "routes":[{"path":"/a"},{"path":"/b/*","origin_by_claim":{"claim":"r","origins":{"eu":"http://eu:2"},"default":"http://d:3"}}],
        "issuers":[{"issuer":"https://i","audiences":["a"],"jwks":{"keys":[]}},
                   {"issuer":"https://j","audiences":["a"],"jwks_uri":"https://j/keys"}],
        "introspection":{"endpoint":"https://as/introspect","issuer":"https://j","client_id":"gw","client_secret_name":"S"}}"#;
    let config = Config::from_json(text).unwrap();
    let urls = config.outbound_urls();
    let urls: Vec<(&str, &str)> = urls.iter().map(|(f, u)| (f.as_str(), *u)).collect();
    assert_eq!(
        urls,
        [
            ("origin", "http://o:1"),
            ("routes[1].origin_by_claim.default", "http://d:3"),
            ("routes[1].origin_by_claim.origins.eu", "http://eu:2"),
            ("issuers[1].jwks_uri", "https://j/keys"),
            ("introspection.endpoint", "https://as/introspect"),
        ]
    );
}

#[test]
fn introspection_and_key_endpoints_need_https_except_on_loopback() {
    // RFC 7662 §4 and RFC 8725 §3.10: tokens and keys travel only over TLS.
    let config = |url: &str| {
        format!(
            r#"{{"origin":"http://o","issuers":[{{"issuer":"https://i","audiences":["a"],"jwks_uri":"{url}/jwks"}}],
              "introspection":{{"endpoint":"{url}/introspect","issuer":"https://i","client_id":"gw","client_secret_name":"S"}}}}"#
        )
    };
    for ok in [
        "https://as.example",
        "http://127.0.0.1:9000",
        "http://localhost:1",
        "http://[::1]:2",
    ] {
        assert!(Config::from_json(&config(ok)).is_ok(), "{ok}");
    }
    for bad in ["http://as.example", "http://10.0.0.1", "ftp://as.example"] {
        let err = Config::from_json(&config(bad)).unwrap_err();
        assert!(err.message.contains("https"), "{bad}: {err}");
    }
}

#[test]
fn bad_origin_is_rejected() {
    let err = Config::from_json(r#"{"origin":"ftp://o"}"#).unwrap_err();
    assert_eq!(err.field, "origin");
    let err = Config::from_json(r#"{"origin":"not a url"}"#).unwrap_err();
    assert_eq!(err.field, "origin");
}

#[test]
fn route_patterns_match_prefixes_on_segment_boundaries() {
    let route = Route {
        path: "/api/*".into(),
        ..Route::default()
    };
    assert!(route.matches("GET", "/api"));
    assert!(route.matches("GET", "/api/x/y"));
    assert!(!route.matches("GET", "/apix"));
    let err = Config::from_json(r#"{"origin":"http://o","routes":[{"path":"/a*"}]}"#).unwrap_err();
    assert_eq!(err.field, "routes[0].path");
}
