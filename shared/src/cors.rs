//! The token handler's CSRF defence and CORS answers (Fetch standard, "CORS protocol"), for the
//! agent endpoints and cookie-authenticated API requests.
//!
//! CSRF: every such request must carry an `Origin` that is exactly one of the trusted web origins
//! and a custom header (`token-handler-version: 1` by default). A custom header is not
//! CORS-safelisted, so a browser sends it cross-origin only after a preflight this gateway answered
//! for a trusted origin; a form post or a plain `fetch` from another site cannot carry it, and
//! `SameSite=Strict` keeps the cookies off cross-site requests anyway (defence in depth).
//!
//! Not done here: CORS for origins that are not trusted (no CORS fields: the browser then refuses
//! the page the answer), and any `Origin` check for requests that carry their own `Authorization`
//! (no ambient credential, no CSRF).

use crate::error::{AgentFault, Error};
use crate::http::{Headers, Response};

/// Methods a trusted origin may use on cookie-authenticated requests.
const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";

/// The trusted web origins and the CSRF header, from the validated `token_handler` settings.
#[derive(Debug, Clone)]
pub struct WebOrigins {
    /// Serialized origins (`scheme://host[:port]`), compared exactly with `Origin`.
    pub trusted: Vec<String>,
    /// The custom request header (lower case) whose value must be `1`.
    pub csrf_header: String,
    /// `Access-Control-Max-Age` of preflight answers, in seconds.
    pub max_age: u64,
}

impl WebOrigins {
    /// The request's `Origin` when it is trusted (exactly one field, exactly equal).
    pub fn trusted_origin<'h>(&self, headers: &'h Headers) -> Option<&'h str> {
        let origin = headers.get_single("origin").ok().flatten()?;
        self.trusted.iter().any(|t| t == origin).then_some(origin)
    }

    /// The CSRF checks: a trusted `Origin` (else [`AgentFault::OriginUntrusted`]) and the custom
    /// header with the value `1` (else [`AgentFault::CsrfHeaderMissing`]).
    pub fn check(&self, headers: &Headers) -> Result<(), Error> {
        self.trusted_origin(headers)
            .ok_or(Error::Agent(AgentFault::OriginUntrusted))?;
        match headers.get_single(&self.csrf_header) {
            Ok(Some("1")) => Ok(()),
            _ => Err(Error::Agent(AgentFault::CsrfHeaderMissing)),
        }
    }

    /// True for a CORS preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
    pub fn is_preflight(method: &str, headers: &Headers) -> bool {
        method == "OPTIONS"
            && headers.get_all("origin").next().is_some()
            && headers
                .get_all("access-control-request-method")
                .next()
                .is_some()
    }

    /// The answer to a preflight: 204 with the CORS fields for a trusted origin; 403 JSON without
    /// any CORS field for every other one (the browser then refuses the actual request).
    pub fn preflight(&self, headers: &Headers) -> Result<Response, Error> {
        let origin = self
            .trusted_origin(headers)
            .ok_or(Error::Agent(AgentFault::OriginUntrusted))?;
        let mut fields = Headers::new();
        fields.append("access-control-allow-origin", origin);
        fields.append("access-control-allow-credentials", "true");
        fields.append("access-control-allow-methods", ALLOWED_METHODS);
        fields.append(
            "access-control-allow-headers",
            &format!("content-type, {}", self.csrf_header),
        );
        fields.append("access-control-max-age", &self.max_age.to_string());
        fields.append("vary", "origin");
        Ok(Response {
            status: 204,
            headers: fields,
            body: Vec::new(),
        })
    }

    /// The CORS fields of an actual response (success or error) to a trusted origin, so the page
    /// can read it; nothing for any other origin.
    pub fn response_fields(&self, request: &Headers) -> Headers {
        let mut fields = Headers::new();
        if let Some(origin) = self.trusted_origin(request) {
            fields.append("access-control-allow-origin", origin);
            fields.append("access-control-allow-credentials", "true");
            fields.append("vary", "origin");
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> WebOrigins {
        WebOrigins {
            trusted: vec!["http://localhost:3000".into()],
            csrf_header: "token-handler-version".into(),
            max_age: 600,
        }
    }

    fn headers(fields: &[(&str, &str)]) -> Headers {
        fields.iter().copied().collect()
    }

    #[test]
    fn csrf_needs_a_trusted_origin_and_the_header() {
        let ok = [
            ("origin", "http://localhost:3000"),
            ("token-handler-version", "1"),
        ];
        assert_eq!(web().check(&headers(&ok)), Ok(()));
        for (bad, fault) in [
            (
                vec![("token-handler-version", "1")],
                AgentFault::OriginUntrusted,
            ),
            (
                vec![
                    ("origin", "http://evil.test"),
                    ("token-handler-version", "1"),
                ],
                AgentFault::OriginUntrusted,
            ),
            (
                vec![
                    ("origin", "http://localhost:3000/"),
                    ("token-handler-version", "1"),
                ],
                AgentFault::OriginUntrusted,
            ),
            (
                vec![
                    ("origin", "http://localhost:3000"),
                    ("origin", "http://localhost:3000"),
                    ("token-handler-version", "1"),
                ],
                AgentFault::OriginUntrusted,
            ),
            (
                vec![("origin", "http://localhost:3000")],
                AgentFault::CsrfHeaderMissing,
            ),
            (
                vec![
                    ("origin", "http://localhost:3000"),
                    ("token-handler-version", "2"),
                ],
                AgentFault::CsrfHeaderMissing,
            ),
        ] {
            assert_eq!(
                web().check(&headers(&bad)),
                Err(Error::Agent(fault)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn preflights_are_answered_for_trusted_origins_only() {
        let request = [
            ("origin", "http://localhost:3000"),
            ("access-control-request-method", "POST"),
        ];
        assert!(WebOrigins::is_preflight("OPTIONS", &headers(&request)));
        assert!(!WebOrigins::is_preflight("GET", &headers(&request)));
        let answer = web().preflight(&headers(&request)).unwrap();
        assert_eq!(answer.status, 204);
        let get = |name| answer.headers.get_single(name).unwrap();
        assert_eq!(
            get("access-control-allow-origin"),
            Some("http://localhost:3000")
        );
        assert_eq!(get("access-control-allow-credentials"), Some("true"));
        assert_eq!(
            get("access-control-allow-headers"),
            Some("content-type, token-handler-version")
        );
        assert_eq!(get("access-control-max-age"), Some("600"));
        assert_eq!(get("vary"), Some("origin"));
        let foreign = [
            ("origin", "http://evil.test"),
            ("access-control-request-method", "POST"),
        ];
        let refused = web().preflight(&headers(&foreign)).unwrap_err();
        assert_eq!(refused.to_response().status, 403);
        assert!(web().response_fields(&headers(&foreign)).is_empty());
        assert_eq!(web().response_fields(&headers(&request)).len(), 3);
    }
}
