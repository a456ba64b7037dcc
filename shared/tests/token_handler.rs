//! The token handler (issue #16) end to end in the core, with a scripted authorization server:
//! the OAuth agent's endpoints, the cookie credential on an API route, CSRF and CORS, and every
//! failure the contract names (`/work/briefs/token-handler-contract.md`, docs/security.md).
//! Needs the `token-handler` feature (default); without it, `token_handler_off.rs`.
#![cfg(feature = "token-handler")]

mod common;

use common::fake::{FakePlatform, Random};
use common::{block_on, p256_jwk_kid, p256_key, sign_es256};
use edgeward::platform::{FetchError, FetchRequest, FetchResponse};
use edgeward::{Gateway, Outcome, Request, Response};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;

const NOW: u64 = 1_800_000_000;
const AS: &str = "https://as.test";
const SPA: &str = "http://localhost:3000";
const GW: &str = "https://gw.test";
const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OLD_KEY_HEX: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

/// What the scripted AS knows and does.
#[derive(Default)]
struct AsState {
    /// The nonce of the last authorization request (put into ID tokens).
    nonce: String,
    /// Codes already redeemed (a second use is `invalid_grant`).
    used_codes: Vec<String>,
    /// Refresh tokens issued and still valid.
    refresh_tokens: Vec<String>,
    /// Refresh grants so far.
    refreshes: u32,
    /// The token endpoint answers this instead (status, body).
    token_override: Option<(u16, Value)>,
    /// ID tokens carry this nonce instead of the right one.
    wrong_nonce: bool,
    /// Token requests as sent (form bodies and authorization fields).
    token_requests: Vec<FetchRequest>,
    /// Access tokens are padded with this many bytes (oversized cookie test).
    padding: usize,
    /// Pushed authorization requests as sent.
    par_requests: Vec<FetchRequest>,
    /// The PAR endpoint answers this instead (status, body).
    par_override: Option<(u16, Value)>,
    /// Discovery does not advertise PAR.
    no_par: bool,
}

fn json_response(status: u16, body: &Value) -> Result<FetchResponse, FetchError> {
    Ok(FetchResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

fn access_token(sub: &str, n: u32, padding: usize) -> String {
    let claims = json!({
        "iss": AS, "aud": "https://api.test", "sub": sub, "exp": NOW + 300 + u64::from(n),
        "iat": NOW, "scope": "orders:read", "pad": "x".repeat(padding),
    });
    let header = json!({ "alg": "ES256", "typ": "at+jwt", "kid": "as1" });
    sign_es256(&p256_key(9), &header, &claims)
}

fn id_token(sub: &str, nonce: Option<&str>) -> String {
    let mut claims = json!({
        "iss": AS, "aud": "edgeward-spa", "sub": sub, "exp": NOW + 3600, "iat": NOW,
        "name": "Alice",
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    sign_es256(
        &p256_key(9),
        &json!({ "alg": "ES256", "kid": "as1" }),
        &claims,
    )
}

fn form(request: &FetchRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The scripted AS: discovery, JWKS, token endpoint.
fn authorization_server(
    state: Rc<RefCell<AsState>>,
) -> impl FnMut(&FetchRequest) -> Result<FetchResponse, FetchError> {
    move |request| {
        let mut st = state.borrow_mut();
        match request.url.as_str() {
            "https://as.test/.well-known/openid-configuration" => {
                let mut metadata = json!({
                    "issuer": AS,
                    "authorization_endpoint": "https://as.test/auth",
                    "token_endpoint": "https://as.test/token",
                    "jwks_uri": "https://as.test/jwks",
                    "end_session_endpoint": "https://as.test/session/end",
                    "authorization_response_iss_parameter_supported": true,
                });
                if !st.no_par {
                    metadata["pushed_authorization_request_endpoint"] =
                        json!("https://as.test/par");
                }
                json_response(200, &metadata)
            }
            "https://as.test/par" => {
                st.par_requests.push(request.clone());
                if let Some((status, body)) = &st.par_override {
                    return json_response(*status, body);
                }
                let pairs = form(request);
                st.nonce = field(&pairs, "nonce").unwrap_or_default().to_owned();
                json_response(
                    201,
                    &json!({ "request_uri": "urn:ietf:params:oauth:request_uri:r1", "expires_in": 60 }),
                )
            }
            "https://as.test/jwks" => {
                json_response(200, &json!({ "keys": [p256_jwk_kid(&p256_key(9), "as1")] }))
            }
            "https://as.test/token" => {
                st.token_requests.push(request.clone());
                if let Some((status, body)) = &st.token_override {
                    return json_response(*status, body);
                }
                let pairs = form(request);
                match field(&pairs, "grant_type") {
                    Some("authorization_code") => {
                        let code = field(&pairs, "code").unwrap_or_default().to_owned();
                        if st.used_codes.contains(&code) {
                            return json_response(400, &json!({ "error": "invalid_grant" }));
                        }
                        st.used_codes.push(code);
                        let nonce = match st.wrong_nonce {
                            true => "another".to_owned(),
                            false => st.nonce.clone(),
                        };
                        st.refresh_tokens.push("rt-0".into());
                        json_response(
                            200,
                            &json!({
                                "access_token": access_token("alice", 0, st.padding),
                                "token_type": "Bearer",
                                "expires_in": 300,
                                "id_token": id_token("alice", Some(&nonce)),
                                "refresh_token": "rt-0",
                            }),
                        )
                    }
                    Some("refresh_token") => {
                        let presented = field(&pairs, "refresh_token").unwrap_or_default();
                        if !st.refresh_tokens.iter().any(|t| t == presented) {
                            return json_response(400, &json!({ "error": "invalid_grant" }));
                        }
                        // Rotation: the presented token is spent.
                        st.refresh_tokens.retain(|t| t != presented);
                        st.refreshes += 1;
                        let next = format!("rt-{}", st.refreshes);
                        st.refresh_tokens.push(next.clone());
                        json_response(
                            200,
                            &json!({
                                "access_token": access_token("alice", st.refreshes, 0),
                                "token_type": "Bearer",
                                "id_token": id_token("alice", None),
                                "refresh_token": next,
                            }),
                        )
                    }
                    Some("urn:ietf:params:oauth:grant-type:token-exchange") => json_response(
                        200,
                        &json!({
                            "access_token": "exchanged-for-orders",
                            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                            "token_type": "Bearer",
                            "expires_in": 300,
                        }),
                    ),
                    _ => json_response(400, &json!({ "error": "unsupported_grant_type" })),
                }
            }
            _ => Err(FetchError::Unreachable),
        }
    }
}

fn config(extra: Value) -> Value {
    let mut config = json!({
        "origin": "http://origin.test:8080",
        "routes": [
            { "path": "/api/*", "credential_cookie": true },
            { "path": "/bearer/*" },
        ],
        "issuers": [{
            "issuer": AS, "audiences": ["https://api.test"], "algorithms": ["ES256"],
            "jwks_uri": "https://as.test/jwks",
        }],
        "forwarding": { "claim_headers": { "sub": "x-user" } },
        "token_handler": {
            "issuer": AS,
            "client_id": "edgeward-spa",
            "client_secret_name": "AGENT_SECRET",
            "redirect_uri": "http://localhost:3000/callback",
            "post_logout_redirect_uri": "http://localhost:3000/",
            "scope": "openid profile offline_access orders:read",
            "authorization_params": { "resource": "https://api.test" },
            "trusted_web_origins": [SPA],
            "cookie_keys": [{ "version": 1, "secret": "COOKIE_KEY" }],
        },
    });
    for (name, value) in extra.as_object().unwrap() {
        config["token_handler"][name] = value.clone();
    }
    config
}

fn secrets(name: &str) -> Option<String> {
    match name {
        "AGENT_SECRET" => Some("agent secret".into()),
        "COOKIE_KEY" => Some(KEY_HEX.into()),
        "OLD_COOKIE_KEY" => Some(OLD_KEY_HEX.into()),
        "GW_KEY" => {
            let mut jwk = common::p256_jwk(&p256_key(5));
            let d = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(&[5u8; 32]);
            jwk["d"] = json!(d);
            jwk["kid"] = json!("gw1");
            Some(jwk.to_string())
        }
        _ => None,
    }
}

fn gateway_with(config: &Value) -> Gateway {
    Gateway::with_trust_anchors(Some(&config.to_string()), &secrets, "test", &[])
}

struct Rig {
    gateway: Gateway,
    platform: FakePlatform,
    state: Rc<RefCell<AsState>>,
}

fn rig() -> Rig {
    rig_with(json!({}))
}

fn rig_with(extra: Value) -> Rig {
    let state = Rc::new(RefCell::new(AsState::default()));
    let mut platform = FakePlatform::new(NOW).answering(authorization_server(state.clone()));
    platform.random = Random::counter();
    Rig {
        gateway: gateway_with(&config(extra)),
        platform,
        state,
    }
}

/// A browser's cookie jar, enough for these tests: name → value, by `Set-Cookie` fields.
#[derive(Default, Clone)]
struct Jar(Vec<(String, String, String)>);

impl Jar {
    fn take(&mut self, response: &Response) {
        for field in response.headers.get_all("set-cookie") {
            let (pair, attributes) = field.split_once("; ").unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            let path = attributes
                .split("; ")
                .find_map(|a| a.strip_prefix("Path="))
                .unwrap()
                .to_owned();
            assert!(
                attributes.contains("HttpOnly; Secure; SameSite=Strict"),
                "{field}"
            );
            self.0.retain(|(n, _, _)| n != name);
            if !attributes.contains("Max-Age=0") {
                self.0.push((name.into(), value.into(), path));
            }
        }
    }

    /// The `Cookie` field for a request to `path`.
    fn header(&self, path: &str) -> String {
        self.0
            .iter()
            .filter(|(_, _, p)| path.starts_with(p.as_str()))
            .map(|(n, v, _)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, v, _)| v.as_str())
    }

    fn set(&mut self, name: &str, value: &str) {
        for entry in &mut self.0 {
            if entry.0 == name {
                entry.1 = value.into();
            }
        }
    }
}

fn request(method: &str, path: &str, jar: &Jar, extra: &[(&str, &str)]) -> Request {
    let mut headers: Vec<(String, String)> = vec![
        ("origin".into(), SPA.into()),
        ("token-handler-version".into(), "1".into()),
    ];
    let cookies = jar.header(path);
    if !cookies.is_empty() {
        headers.push(("cookie".into(), cookies));
    }
    for (name, value) in extra {
        headers.retain(|(n, _)| n != name);
        if !value.is_empty() {
            headers.push(((*name).into(), (*value).into()));
        }
    }
    Request {
        method: method.into(),
        url: format!("{GW}{path}"),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect(),
        client_cert: None,
    }
}

impl Rig {
    /// Sends a request, with its body when the gateway asks for one; the client's response.
    fn send(&self, request: &Request, body: &[u8]) -> Response {
        match block_on(self.gateway.handle(&self.platform, request)) {
            Outcome::Respond(response) => response,
            Outcome::ReadBody { max_bytes } => {
                assert!(body.len() <= max_bytes);
                block_on(self.gateway.handle_body(&self.platform, request, body))
            }
            Outcome::Forward(forward) => panic!("forwarded: {forward:?}"),
        }
    }

    fn agent(&self, method: &str, endpoint: &str, jar: &Jar, body: &Value) -> Response {
        let path = format!("/oauth-agent/{endpoint}");
        let body = match body {
            Value::Null => Vec::new(),
            other => other.to_string().into_bytes(),
        };
        self.send(&request(method, &path, jar, &[]), &body)
    }

    /// `login/start`, with the AS learning the nonce; the authorization URL's parameters.
    fn start(&self, jar: &mut Jar) -> Vec<(String, String)> {
        let response = self.agent("POST", "login/start", jar, &Value::Null);
        assert_eq!(response.status, 200, "{}", body_text(&response));
        jar.take(&response);
        let body = body_json(&response);
        let url = url::Url::parse(body["authorizationRequestUrl"].as_str().unwrap()).unwrap();
        assert!(url.as_str().starts_with("https://as.test/auth?"));
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        self.state.borrow_mut().nonce = field(&pairs, "nonce").unwrap().to_owned();
        pairs
    }

    fn end(&self, jar: &Jar, page: &str) -> Response {
        self.agent("POST", "login/end", jar, &json!({ "pageUrl": page }))
    }

    /// A full login: the jar then holds the session cookies.
    fn login(&self) -> Jar {
        let mut jar = Jar::default();
        let pairs = self.start(&mut jar);
        let state = field(&pairs, "state").unwrap();
        let response = self.end(&jar, &callback(state, "code-1"));
        assert_eq!(response.status, 200, "{}", body_text(&response));
        assert_eq!(
            body_json(&response),
            json!({ "handled": true, "isLoggedIn": true })
        );
        jar.take(&response);
        jar
    }

    fn api(&self, jar: &Jar, extra: &[(&str, &str)]) -> Outcome {
        block_on(
            self.gateway
                .handle(&self.platform, &request("GET", "/api/orders", jar, extra)),
        )
    }
}

fn callback(state: &str, code: &str) -> String {
    format!("{SPA}/callback?code={code}&state={state}&iss=https%3A%2F%2Fas.test")
}

fn body_text(response: &Response) -> String {
    String::from_utf8_lossy(&response.body).into_owned()
}

fn body_json(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap()
}

fn code(response: &Response) -> String {
    body_json(response)["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn refused(outcome: Outcome) -> Response {
    match outcome {
        Outcome::Respond(response) => response,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn login_start_builds_a_pkce_authorization_request_and_a_login_cookie() {
    let rig = rig();
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    assert_eq!(field(&pairs, "client_id"), Some("edgeward-spa"));
    assert_eq!(field(&pairs, "response_type"), Some("code"));
    assert_eq!(
        field(&pairs, "redirect_uri"),
        Some("http://localhost:3000/callback")
    );
    assert_eq!(
        field(&pairs, "scope"),
        Some("openid profile offline_access orders:read")
    );
    assert_eq!(field(&pairs, "code_challenge_method"), Some("S256"));
    assert_eq!(field(&pairs, "resource"), Some("https://api.test"));
    let challenge = field(&pairs, "code_challenge").unwrap();
    assert_eq!(challenge.len(), 43);
    assert_eq!(field(&pairs, "state").unwrap().len(), 43);
    assert_ne!(field(&pairs, "state"), field(&pairs, "nonce"));
    let login = jar.get("__Host-ew-login").unwrap();
    assert!(login.starts_with("v1."));
    // The cookie is sealed: neither state nor verifier readable in it.
    assert!(!login.contains(field(&pairs, "state").unwrap()));
    let response = rig.agent("POST", "login/start", &jar, &json!({}));
    let field_value = response
        .headers
        .get_all("set-cookie")
        .next()
        .unwrap()
        .to_owned();
    assert!(field_value.contains("Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Strict"));
}

#[test]
fn login_start_takes_extra_params_but_not_reserved_ones() {
    let rig = rig();
    let jar = Jar::default();
    let body = json!({ "extraParams": [{ "key": "prompt", "value": "login" }] });
    let response = rig.agent("POST", "login/start", &jar, &body);
    let url = body_json(&response)["authorizationRequestUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.contains("&prompt=login"), "{url}");
    for reserved in ["state", "redirect_uri", "code_challenge", "client_id"] {
        let body = json!({ "extraParams": [{ "key": reserved, "value": "x" }] });
        let response = rig.agent("POST", "login/start", &jar, &body);
        assert_eq!(response.status, 400, "{reserved}");
        assert_eq!(code(&response), "ERR_AGENT_REQUEST_INVALID");
    }
}

#[test]
fn full_login_then_an_api_call_with_only_cookies_reaches_the_origin_as_the_user() {
    let rig = rig();
    let jar = rig.login();
    // The token request: the code, the PKCE verifier whose S256 is the challenge, Basic auth.
    let token_request = rig.state.borrow().token_requests[0].clone();
    let pairs = form(&token_request);
    assert_eq!(field(&pairs, "grant_type"), Some("authorization_code"));
    assert_eq!(field(&pairs, "code"), Some("code-1"));
    assert_eq!(field(&pairs, "code_verifier").unwrap().len(), 43);
    let auth = token_request
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .unwrap();
    assert!(auth.1.starts_with("Basic "));
    for name in ["__Host-ew-at", "__Host-ew-id", "__Secure-ew-rt"] {
        assert!(jar.get(name).is_some(), "{name}");
    }
    assert!(
        jar.get("__Host-ew-login").is_none(),
        "the login cookie is cleared"
    );
    let Outcome::Forward(forward) = rig.api(&jar, &[]) else {
        panic!("not forwarded")
    };
    assert_eq!(forward.headers.get_single("x-user"), Ok(Some("alice")));
    assert_eq!(
        forward.headers.get_single("cookie"),
        Ok(None),
        "cookie never forwarded"
    );
    assert_eq!(
        forward
            .response_headers
            .get_single("access-control-allow-origin"),
        Ok(Some(SPA))
    );
    assert_eq!(
        forward
            .response_headers
            .get_single("access-control-allow-credentials"),
        Ok(Some("true"))
    );
    // An Authorization field wins over the cookie (the bearer route does not read cookies).
    let bearer = access_token("bob", 0, 0);
    let authorization = format!("Bearer {bearer}");
    let Outcome::Forward(forward) = rig.api(&jar, &[("authorization", &authorization)]) else {
        panic!("not forwarded")
    };
    assert_eq!(forward.headers.get_single("x-user"), Ok(Some("bob")));
}

/// Issue #18: on a cookie route with `exchange`, the cookie is opened once per request (at extract)
/// and the access token inside it is the exchange's subject token.
#[test]
fn an_exchange_route_opens_the_cookie_once_and_exchanges_its_token() {
    let mut config = config(json!({}));
    config["routes"][0]["exchange"] = json!({ "audience": "orders" });
    config["token_exchange"] = json!({ "token_endpoint": "https://as.test/token",
        "client_id": "edgeward-gw", "client_secret_name": "AGENT_SECRET" });
    let rig = Rig {
        gateway: gateway_with(&config),
        ..rig()
    };
    let jar = rig.login();
    let opened = rig.platform.aes_opens.get();
    let Outcome::Forward(forward) = rig.api(&jar, &[]) else {
        panic!("not forwarded")
    };
    assert_eq!(
        rig.platform.aes_opens.get() - opened,
        1,
        "one cookie opened"
    );
    assert_eq!(
        forward.headers.get_single("authorization"),
        Ok(Some("Bearer exchanged-for-orders"))
    );
    let state = rig.state.borrow();
    let exchange = form(state.token_requests.last().unwrap());
    assert_eq!(
        field(&exchange, "grant_type"),
        Some("urn:ietf:params:oauth:grant-type:token-exchange")
    );
    let sent = access_token("alice", 0, 0);
    assert_eq!(field(&exchange, "subject_token"), Some(sent.as_str()));
}

#[test]
fn the_refresh_token_cookie_is_scoped_to_the_refresh_endpoint() {
    let rig = rig();
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    let response = rig.end(&jar, &callback(field(&pairs, "state").unwrap(), "c"));
    let fields: Vec<&str> = response.headers.get_all("set-cookie").collect();
    let rt = fields
        .iter()
        .find(|f| f.starts_with("__Secure-ew-rt="))
        .unwrap();
    assert!(rt.contains("; Path=/oauth-agent/refresh;"), "{rt}");
    for name in ["__Host-ew-at=", "__Host-ew-id="] {
        let f = fields.iter().find(|f| f.starts_with(name)).unwrap();
        assert!(f.contains("; Path=/;"), "{f}");
    }
    assert!(fields
        .iter()
        .any(|f| f.starts_with("__Host-ew-login=; Path=/; Max-Age=0")));
}

#[test]
fn no_token_appears_in_any_response_body() {
    let rig = rig();
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    let state = field(&pairs, "state").unwrap().to_owned();
    let login_end = rig.end(&jar, &callback(&state, "c"));
    jar.take(&login_end);
    let session = rig.agent("GET", "session", &jar, &Value::Null);
    let claims = rig.agent("GET", "claims", &jar, &Value::Null);
    let refresh = rig.agent("POST", "refresh", &jar, &Value::Null);
    jar.take(&refresh);
    let logout = rig.agent("POST", "logout", &jar, &Value::Null);
    let tokens = [
        access_token("alice", 0, 0),
        access_token("alice", 1, 0),
        "rt-0".to_owned(),
        "rt-1".to_owned(),
    ];
    for response in [&login_end, &session, &claims, &refresh, &logout] {
        let text = body_text(response);
        for token in &tokens {
            assert!(!text.contains(token.as_str()), "{text}");
        }
        // Only the logout URL may carry the ID token (as id_token_hint, to the AS).
        if !std::ptr::eq(response, &logout) {
            assert!(!text.contains("eyJ"), "{text}");
        }
    }
    assert_eq!(body_json(&session), json!({ "isLoggedIn": true }));
    assert_eq!(body_json(&claims)["sub"], "alice");
    assert_eq!(body_json(&claims)["name"], "Alice");
}

#[test]
fn session_and_claims_without_a_session() {
    let rig = rig();
    let jar = Jar::default();
    let session = rig.agent("GET", "session", &jar, &Value::Null);
    assert_eq!(body_json(&session), json!({ "isLoggedIn": false }));
    let claims = rig.agent("GET", "claims", &jar, &Value::Null);
    assert_eq!(
        (claims.status, code(&claims).as_str()),
        (401, "ERR_SESSION_EXPIRED")
    );
    let end = rig.end(&jar, &format!("{SPA}/callback"));
    assert_eq!(
        body_json(&end),
        json!({ "handled": false, "isLoggedIn": false })
    );
    let logged_in = rig.login();
    let end = rig.end(&logged_in, &format!("{SPA}/callback"));
    assert_eq!(
        body_json(&end),
        json!({ "handled": false, "isLoggedIn": true })
    );
}

#[test]
fn refresh_rotates_the_refresh_token_and_a_spent_one_ends_the_session() {
    let rig = rig();
    let mut jar = rig.login();
    let before = jar.clone();
    let response = rig.agent("POST", "refresh", &jar, &Value::Null);
    assert_eq!(response.status, 204, "{}", body_text(&response));
    jar.take(&response);
    let pairs = form(&rig.state.borrow().token_requests[1]);
    assert_eq!(field(&pairs, "grant_type"), Some("refresh_token"));
    assert_eq!(field(&pairs, "refresh_token"), Some("rt-0"));
    assert_ne!(jar.get("__Host-ew-at"), before.get("__Host-ew-at"));
    assert_ne!(jar.get("__Secure-ew-rt"), before.get("__Secure-ew-rt"));
    let Outcome::Forward(_) = rig.api(&jar, &[]) else {
        panic!("the refreshed access token works")
    };
    // The old refresh token was rotated away at the AS: a replayed cookie ends the session.
    let replay = rig.agent("POST", "refresh", &before, &Value::Null);
    assert_eq!(
        (replay.status, code(&replay).as_str()),
        (401, "ERR_SESSION_EXPIRED")
    );
    let again = rig.agent("POST", "refresh", &jar, &Value::Null);
    assert_eq!(again.status, 204);
    let none = rig.agent("POST", "refresh", &Jar::default(), &Value::Null);
    assert_eq!(
        (none.status, code(&none).as_str()),
        (401, "ERR_SESSION_EXPIRED")
    );
}

#[test]
fn logout_clears_every_cookie_and_returns_the_end_session_url() {
    let rig = rig();
    let mut jar = rig.login();
    let id_token = id_token("alice", Some(&rig.state.borrow().nonce));
    let response = rig.agent("POST", "logout", &jar, &Value::Null);
    assert_eq!(response.status, 200);
    let url = url::Url::parse(body_json(&response)["url"].as_str().unwrap()).unwrap();
    assert!(url.as_str().starts_with("https://as.test/session/end?"));
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(field(&pairs, "id_token_hint"), Some(id_token.as_str()));
    assert_eq!(
        field(&pairs, "post_logout_redirect_uri"),
        Some("http://localhost:3000/")
    );
    assert_eq!(field(&pairs, "client_id"), Some("edgeward-spa"));
    let cleared: Vec<&str> = response.headers.get_all("set-cookie").collect();
    assert_eq!(cleared.len(), 4);
    assert!(cleared
        .iter()
        .all(|f| f.contains("=; Path=") && f.contains("Max-Age=0")));
    jar.take(&response);
    assert!(jar.0.is_empty());
    let refused = refused(rig.api(&jar, &[]));
    assert_eq!(refused.status, 401);
}

#[test]
fn tampered_truncated_foreign_and_expired_cookies_are_401_never_500() {
    let rig = rig();
    let jar = rig.login();
    let good = jar.get("__Host-ew-at").unwrap().to_owned();
    let id = jar.get("__Host-ew-id").unwrap().to_owned();
    let mut flipped = good.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for (bad, expected) in [
        (flipped.as_str(), "ERR_COOKIE_INVALID"),
        (&good[..good.len() - 10], "ERR_COOKIE_INVALID"),
        (&good[..5], "ERR_COOKIE_MALFORMED"),
        ("garbage", "ERR_COOKIE_MALFORMED"),
        (id.as_str(), "ERR_COOKIE_INVALID"),
        (&good.replacen("v1.", "v7.", 1), "ERR_COOKIE_KEY_UNKNOWN"),
    ] {
        let mut jar = jar.clone();
        jar.set("__Host-ew-at", bad);
        let response = refused(rig.api(&jar, &[]));
        assert_eq!(
            (response.status, code(&response).as_str()),
            (401, expected),
            "{bad}"
        );
        assert_eq!(
            response.headers.get_single("access-control-allow-origin"),
            Ok(Some(SPA)),
            "the page can read the refusal"
        );
        if bad == id {
            continue;
        }
        let mut id_jar = jar.clone();
        id_jar.set("__Host-ew-id", bad);
        let session = rig.agent("GET", "session", &id_jar, &Value::Null);
        assert_eq!(session.status, 401, "{bad}");
    }
    // Never the value in a log line.
    assert!(rig
        .platform
        .messages()
        .iter()
        .all(|m| !m.contains(&good[3..20])));
    // A key that is no longer configured (rotated out) no longer opens.
    let other = gateway_with(&config(json!({
        "cookie_keys": [{ "version": 1, "secret": "OLD_COOKIE_KEY" }],
    })));
    let response = refused(block_on(
        other.handle(&rig.platform, &request("GET", "/api/orders", &jar, &[])),
    ));
    assert_eq!(
        (response.status, code(&response).as_str()),
        (401, "ERR_COOKIE_INVALID")
    );
    // Past the session lifetime sealed inside.
    rig.platform.advance(8 * 3600 + 1);
    let response = refused(rig.api(&jar, &[]));
    assert_eq!(
        (response.status, code(&response).as_str()),
        (401, "ERR_COOKIE_EXPIRED")
    );
}

#[test]
fn a_rotated_key_still_opens_cookies_sealed_before_the_rotation() {
    let rig = rig();
    let jar = rig.login();
    let rotated = gateway_with(&config(json!({
        "cookie_keys": [
            { "version": 2, "secret": "OLD_COOKIE_KEY" },
            { "version": 1, "secret": "COOKIE_KEY" },
        ],
    })));
    let outcome =
        block_on(rotated.handle(&rig.platform, &request("GET", "/api/orders", &jar, &[])));
    assert!(matches!(outcome, Outcome::Forward(_)), "{outcome:?}");
    let refreshed = match block_on(rotated.handle(
        &rig.platform,
        &request("POST", "/oauth-agent/refresh", &jar, &[]),
    )) {
        Outcome::Respond(response) => response,
        other => panic!("{other:?}"),
    };
    assert_eq!(refreshed.status, 204);
    assert!(refreshed
        .headers
        .get_all("set-cookie")
        .all(|f| f.contains("=v2.")));
}

#[test]
fn replayed_foreign_or_missing_state_is_400_and_never_a_session() {
    let rig = rig();
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    let state = field(&pairs, "state").unwrap().to_owned();
    let foreign = rig.end(&jar, &callback("someone-elses-state", "c"));
    assert_eq!(
        (foreign.status, code(&foreign).as_str()),
        (400, "ERR_INVALID_STATE")
    );
    assert_eq!(foreign.headers.get_all("set-cookie").count(), 0);
    let first = rig.end(&jar, &callback(&state, "c"));
    assert_eq!(first.status, 200);
    // The same login cookie and page URL again: the AS refuses the used code.
    let replay = rig.end(&jar, &callback(&state, "c"));
    assert_eq!(
        (replay.status, code(&replay).as_str()),
        (400, "ERR_GRANT_INVALID")
    );
    assert_eq!(replay.headers.get_all("set-cookie").count(), 0);
    // As a browser does it: the login cookie is gone after the first login/end.
    let mut after = jar.clone();
    after.take(&first);
    let replay = rig.end(&after, &callback(&state, "c2"));
    assert_eq!(
        (replay.status, code(&replay).as_str()),
        (400, "ERR_INVALID_STATE")
    );
    let no_cookie = rig.end(&Jar::default(), &callback(&state, "c3"));
    assert_eq!(
        (no_cookie.status, code(&no_cookie).as_str()),
        (400, "ERR_INVALID_STATE")
    );
}

#[test]
fn authorization_errors_issuer_mismatch_and_bad_id_tokens_are_400() {
    let rig = rig();
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    let state = field(&pairs, "state").unwrap().to_owned();
    let page =
        format!("{SPA}/callback?error=access_denied&state={state}&iss=https%3A%2F%2Fas.test");
    let denied = rig.end(&jar, &page);
    assert_eq!(
        (denied.status, code(&denied).as_str()),
        (400, "ERR_AUTHORIZATION_DENIED")
    );
    assert_eq!(body_json(&denied)["error"], "access_denied");
    let page = format!("{SPA}/callback?code=c&state={state}&iss=https%3A%2F%2Fevil.test");
    let mixed = rig.end(&jar, &page);
    assert_eq!(
        (mixed.status, code(&mixed).as_str()),
        (400, "ERR_AUTHORIZATION_ISSUER_MISMATCH")
    );
    // The AS advertises RFC 9207: a response without iss is refused too.
    let page = format!("{SPA}/callback?code=c&state={state}");
    let missing = rig.end(&jar, &page);
    assert_eq!(missing.status, 400);
    let page = format!("https://elsewhere.test/callback?code=c&state={state}");
    assert_eq!(code(&rig.end(&jar, &page)), "ERR_AGENT_REQUEST_INVALID");
    rig.state.borrow_mut().wrong_nonce = true;
    let bad_nonce = rig.end(&jar, &callback(&state, "c4"));
    assert_eq!(
        (bad_nonce.status, code(&bad_nonce).as_str()),
        (400, "ERR_ID_TOKEN_INVALID")
    );
    assert_eq!(bad_nonce.headers.get_all("set-cookie").count(), 0);
}

#[test]
fn as_down_is_503_and_invalid_client_is_400() {
    let rig = rig();
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    let state = field(&pairs, "state").unwrap().to_owned();
    rig.state.borrow_mut().token_override = Some((401, json!({ "error": "invalid_client" })));
    let response = rig.end(&jar, &callback(&state, "c"));
    assert_eq!(
        (response.status, code(&response).as_str()),
        (400, "ERR_AGENT_CLIENT_REJECTED")
    );
    rig.state.borrow_mut().token_override = Some((500, json!({ "error": "server_error" })));
    let response = rig.end(&jar, &callback(&state, "c"));
    assert_eq!(response.status, 503);
    assert_eq!(response.headers.get_single("retry-after"), Ok(Some("5")));
    rig.platform.fail(FetchError::Unreachable);
    let response = rig.end(&jar, &callback(&state, "c"));
    assert_eq!(
        (response.status, code(&response).as_str()),
        (503, "ERR_UPSTREAM_UNAVAILABLE")
    );
    // A cold gateway whose AS is down cannot start a login.
    let cold = rig_with(json!({}));
    cold.platform.fail(FetchError::Timeout);
    let response = cold.agent("POST", "login/start", &Jar::default(), &Value::Null);
    assert_eq!(response.status, 503);
}

#[test]
fn csrf_untrusted_origins_and_missing_header_are_refused() {
    let rig = rig();
    let jar = rig.login();
    for (extra, expected) in [
        (
            vec![("origin", "https://evil.test")],
            "ERR_ORIGIN_UNTRUSTED",
        ),
        (vec![("origin", "")], "ERR_ORIGIN_UNTRUSTED"),
        (
            vec![("token-handler-version", "")],
            "ERR_CSRF_HEADER_MISSING",
        ),
    ] {
        let response = refused(rig.api(&jar, &extra));
        assert_eq!((response.status, code(&response).as_str()), (403, expected));
        for endpoint in [
            "/oauth-agent/session",
            "/oauth-agent/login/start",
            "/oauth-agent/refresh",
        ] {
            let method = if endpoint.ends_with("session") {
                "GET"
            } else {
                "POST"
            };
            let response = rig.send(&request(method, endpoint, &jar, &extra), b"");
            assert_eq!(
                (response.status, code(&response).as_str()),
                (403, expected),
                "{endpoint}"
            );
            let foreign = response.headers.get_single("access-control-allow-origin");
            assert_ne!(foreign, Ok(Some("https://evil.test")));
        }
    }
}

#[test]
fn preflights_are_answered_for_trusted_origins_only() {
    let rig = rig();
    let jar = Jar::default();
    let preflight = [
        ("access-control-request-method", "POST"),
        ("token-handler-version", ""),
    ];
    for path in ["/oauth-agent/login/start", "/api/orders"] {
        let response = rig.send(&request("OPTIONS", path, &jar, &preflight), b"");
        assert_eq!(response.status, 204, "{path}");
        let get = |name| response.headers.get_single(name).unwrap();
        assert_eq!(get("access-control-allow-origin"), Some(SPA));
        assert_eq!(get("access-control-allow-credentials"), Some("true"));
        assert!(get("access-control-allow-headers")
            .unwrap()
            .contains("token-handler-version"));
        assert_eq!(get("access-control-max-age"), Some("600"));
        let mut foreign = preflight.to_vec();
        foreign.push(("origin", "https://evil.test"));
        let response = rig.send(&request("OPTIONS", path, &jar, &foreign), b"");
        assert_eq!(
            (response.status, code(&response).as_str()),
            (403, "ERR_ORIGIN_UNTRUSTED")
        );
        assert!(response
            .headers
            .iter()
            .all(|(name, _)| !name.starts_with("access-control-")));
    }
}

#[test]
fn a_cookie_too_large_for_browsers_is_refused_with_a_clear_error() {
    let rig = rig();
    rig.state.borrow_mut().padding = 4000;
    let mut jar = Jar::default();
    let pairs = rig.start(&mut jar);
    let response = rig.end(&jar, &callback(field(&pairs, "state").unwrap(), "c"));
    assert_eq!(
        (response.status, code(&response).as_str()),
        (502, "ERR_COOKIE_TOO_LARGE")
    );
    assert!(body_text(&response).contains("phantom-token"));
    assert_eq!(response.headers.get_all("set-cookie").count(), 0);
}

#[test]
fn configuration_is_validated_once_naming_the_field() {
    let check = |config: Value| -> String {
        let gateway = gateway_with(&config);
        let platform = FakePlatform::new(NOW);
        let response =
            match block_on(gateway.handle(&platform, &common::get("https://gw.test/x", &[]))) {
                Outcome::Respond(response) => response,
                other => panic!("{other:?}"),
            };
        assert_eq!(response.status, 500);
        body_json(&response)["field"].as_str().unwrap().to_owned()
    };
    let mut without = config(json!({}));
    without.as_object_mut().unwrap().remove("token_handler");
    assert_eq!(check(without), "routes[0].credential_cookie");
    for (extra, field) in [
        (
            json!({ "trusted_web_origins": ["http://localhost:3000/"] }),
            "token_handler.trusted_web_origins[0]",
        ),
        (json!({ "cookie_keys": [] }), "token_handler.cookie_keys"),
        (
            json!({ "cookie_keys": [{ "version": 1, "secret": "MISSING" }] }),
            "token_handler.cookie_keys[0].secret",
        ),
        (
            json!({ "cookie_keys": [{ "version": 1, "secret": "AGENT_SECRET" }] }),
            "token_handler.cookie_keys[0].secret",
        ),
        (
            json!({ "client_secret_name": "MISSING" }),
            "token_handler.client_secret_name",
        ),
        (json!({ "scope": "profile" }), "token_handler.scope"),
        (json!({ "base_path": "/agent/" }), "token_handler.base_path"),
        (
            json!({ "client_auth": "private_key_jwt" }),
            "token_handler.client_auth",
        ),
        (
            json!({ "client_secret_name": null }),
            "token_handler.client_secret_name",
        ),
        (
            json!({ "authorization_params": { "state": "x" } }),
            "token_handler.authorization_params.state",
        ),
        (
            json!({ "issuer": "http://as.example" }),
            "token_handler.issuer",
        ),
    ] {
        assert_eq!(check(config(extra.clone())), field, "{extra}");
    }
}

#[test]
fn private_key_jwt_signs_a_client_assertion_with_the_gateway_key() {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use p256::ecdsa::signature::Verifier;
    let mut config =
        config(json!({ "client_auth": "private_key_jwt", "client_secret_name": null }));
    config["forwarding"]["signing_key_secret"] = json!("GW_KEY");
    let state = Rc::new(RefCell::new(AsState::default()));
    let mut platform = FakePlatform::new(NOW).answering(authorization_server(state.clone()));
    platform.random = Random::counter();
    let rig = Rig {
        gateway: gateway_with(&config),
        platform,
        state,
    };
    let jar = rig.login();
    assert!(jar.get("__Host-ew-at").is_some());
    let refresh = rig.agent("POST", "refresh", &jar, &Value::Null);
    assert_eq!(refresh.status, 204);
    let requests = rig.state.borrow().token_requests.clone();
    let mut jtis = Vec::new();
    for request in &requests {
        assert!(request.headers.iter().all(|(n, _)| n != "authorization"));
        let pairs = form(request);
        assert_eq!(field(&pairs, "client_id"), Some("edgeward-spa"));
        assert_eq!(
            field(&pairs, "client_assertion_type"),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        let assertion = field(&pairs, "client_assertion").unwrap();
        let parts: Vec<&str> = assertion.split('.').collect();
        let signature = Base64UrlUnpadded::decode_vec(parts[2]).unwrap();
        let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        p256_key(5)
            .verifying_key()
            .verify(input.as_bytes(), &signature)
            .expect("signed with the gateway key");
        let header: Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[0]).unwrap()).unwrap();
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "gw1");
        let claims: Value =
            serde_json::from_slice(&Base64UrlUnpadded::decode_vec(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "edgeward-spa");
        assert_eq!(claims["sub"], "edgeward-spa");
        assert_eq!(claims["aud"], AS);
        assert_eq!(claims["iat"], NOW);
        assert_eq!(claims["exp"], NOW + 60);
        jtis.push(claims["jti"].as_str().unwrap().to_owned());
    }
    assert_eq!(requests.len(), 2);
    assert_ne!(jtis[0], jtis[1], "a fresh jti per assertion");
}

#[test]
fn par_pushes_the_authorization_request_and_the_url_carries_only_its_reference() {
    let rig = rig_with(json!({ "par": true }));
    let mut jar = Jar::default();
    let response = rig.agent("POST", "login/start", &jar, &Value::Null);
    assert_eq!(response.status, 200, "{}", body_text(&response));
    jar.take(&response);
    let url = body_json(&response)["authorizationRequestUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        url,
        "https://as.test/auth?client_id=edgeward-spa&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ar1"
    );
    let pushed = rig.state.borrow().par_requests[0].clone();
    assert_eq!(pushed.method, "POST");
    assert!(pushed
        .headers
        .iter()
        .any(|(n, v)| n == "authorization" && v.starts_with("Basic ")));
    let pairs = form(&pushed);
    for name in ["redirect_uri", "state", "nonce", "code_challenge", "scope"] {
        assert!(field(&pairs, name).is_some(), "{name}");
    }
    assert_eq!(field(&pairs, "code_challenge_method"), Some("S256"));
    assert_eq!(field(&pairs, "resource"), Some("https://api.test"));
    let ids: Vec<&str> = pairs
        .iter()
        .filter(|(n, _)| n == "client_id")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        ids,
        ["edgeward-spa"],
        "client_id once, as oidc-provider requires"
    );
    // The rest of the login is unchanged.
    let state = field(&pairs, "state").unwrap().to_owned();
    let end = rig.end(&jar, &callback(&state, "c"));
    assert_eq!(end.status, 200, "{}", body_text(&end));
    // The AS refusing the client, or not offering PAR.
    rig.state.borrow_mut().par_override = Some((401, json!({ "error": "invalid_client" })));
    let refused = rig.agent("POST", "login/start", &Jar::default(), &Value::Null);
    assert_eq!(
        (refused.status, code(&refused).as_str()),
        (400, "ERR_AGENT_CLIENT_REJECTED")
    );
    let without = rig_with(json!({ "par": true }));
    without.state.borrow_mut().no_par = true;
    let response = without.agent("POST", "login/start", &Jar::default(), &Value::Null);
    assert_eq!(response.status, 503);
}
