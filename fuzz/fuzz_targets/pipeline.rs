//! The whole pipeline: `Gateway::handle` with a structured request (method, URL, headers, the
//! `Authorization` field) and fuzzed answers from the JWKS endpoint and the authorization server.
//! The input is decoded with `arbitrary`; the interop tokens and the x5c fixtures can be picked by
//! index so that the fuzzer reaches signature and claim checks without forging signatures.
#![no_main]

use arbitrary::Arbitrary;
use edgeward::platform::{FetchError, FetchResponse};
use edgeward::{Headers, Outcome, Request};
use edgeward_fuzz::{block_on, gateway, vectors, Fake, NOW};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Method {
    Get,
    Post,
    Delete,
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Url {
    /// `https://gw.test/api/<suffix>`
    Api(String),
    /// `https://gw.test/public/<suffix>`
    Public(String),
    Health,
    /// Anything at all.
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Auth {
    None,
    /// `Bearer <interop token>`
    Interop(u8),
    /// An interop token with one byte replaced.
    InteropMutated(u8, u16, u8),
    /// An interop token whose signature does not match.
    Tampered(u8),
    Bearer(String),
    Raw(String),
    /// Two Authorization fields.
    Twice(String, String),
}

#[derive(Arbitrary, Debug)]
enum Answer {
    Fail(u8),
    Ok {
        status: u16,
        content_type: Option<String>,
        cache_control: Option<String>,
        age: Option<String>,
        body: Vec<u8>,
    },
    /// A well-typed JSON answer with fuzzed body.
    Json(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: Method,
    url: Url,
    auth: Auth,
    headers: Vec<(String, String)>,
    jwks: Answer,
    introspection: Answer,
    jwt_mode: bool,
    now_offset: i32,
    repeat: bool,
}

fn answer(a: Answer, json_type: &str) -> Result<FetchResponse, FetchError> {
    match a {
        Answer::Fail(0) => Err(FetchError::Timeout),
        Answer::Fail(1) => Err(FetchError::TooLarge),
        Answer::Fail(_) => Err(FetchError::Unreachable),
        Answer::Ok {
            status,
            content_type,
            cache_control,
            age,
            body,
        } => {
            let mut headers = Vec::new();
            for (name, value) in [
                ("content-type", content_type),
                ("cache-control", cache_control),
                ("age", age),
            ] {
                if let Some(value) = value {
                    headers.push((name.to_owned(), value));
                }
            }
            Ok(FetchResponse {
                status,
                headers,
                body,
            })
        }
        Answer::Json(body) => Ok(FetchResponse {
            status: 200,
            headers: vec![("content-type".into(), json_type.into())],
            body,
        }),
    }
}

fn interop(i: u8) -> &'static str {
    let v = vectors();
    &v[usize::from(i) % v.len()].token
}

fuzz_target!(|input: Input| {
    let method = match input.method {
        Method::Get => "GET".to_owned(),
        Method::Post => "POST".to_owned(),
        Method::Delete => "DELETE".to_owned(),
        Method::Other(m) => m,
    };
    let url = match input.url {
        Url::Api(s) => format!("https://gw.test/api/{s}"),
        Url::Public(s) => format!("https://gw.test/public/{s}"),
        Url::Health => "https://gw.test/.well-known/edgeward/health".to_owned(),
        Url::Raw(s) => s,
    };
    let mut headers = Headers::new();
    for (name, value) in &input.headers {
        headers.append(name, value);
    }
    match input.auth {
        Auth::None => {}
        Auth::Interop(i) => headers.append("authorization", &format!("Bearer {}", interop(i))),
        Auth::InteropMutated(i, at, byte) => {
            let mut token = interop(i).as_bytes().to_vec();
            let at = usize::from(at) % token.len();
            token[at] = byte;
            let token = String::from_utf8_lossy(&token);
            headers.append("authorization", &format!("Bearer {token}"));
        }
        Auth::Tampered(i) => {
            let v = vectors();
            let token = &v[usize::from(i) % v.len()].tampered;
            headers.append("authorization", &format!("Bearer {token}"));
        }
        Auth::Bearer(t) => headers.append("authorization", &format!("Bearer {t}")),
        Auth::Raw(v) => headers.append("authorization", &v),
        Auth::Twice(a, b) => {
            headers.append("authorization", &a);
            headers.append("Authorization", &b);
        }
    }
    let mode = if input.jwt_mode { "jwt" } else { "json" };
    let introspection_type = if input.jwt_mode {
        "application/token-introspection+jwt"
    } else {
        "application/json"
    };
    let gateway = gateway(mode);
    let platform = Fake {
        now: NOW.wrapping_add_signed(i64::from(input.now_offset)),
        jwks: answer(input.jwks, "application/json"),
        introspection: answer(input.introspection, introspection_type),
    };
    let request = Request {
        method,
        url,
        headers,
        client_cert: None,
    };
    let runs = if input.repeat { 2 } else { 1 };
    for _ in 0..runs {
        match block_on(gateway.handle(&platform, &request)) {
            Outcome::Respond(r) => assert!(r.status >= 200 && r.status < 600),
            Outcome::ReadBody { max_bytes } => assert!(max_bytes > 0),
            Outcome::Forward(f) => {
                assert!(f.url.starts_with("http://origin.test/base"), "{}", f.url);
                // Credentials and the gateway's own namespace never reach the origin.
                for (name, _) in f.headers.iter() {
                    assert!(
                        !matches!(name, "authorization" | "dpop" | "host"),
                        "{name} forwarded"
                    );
                    assert!(!name.starts_with("x-edgeward-"), "{name} forwarded");
                }
            }
        }
    }
});
