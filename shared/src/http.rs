//! The request and response as plain data: what a shell hands the core and what it gets back.

/// HTTP header fields with lower-cased names, in arrival order. Duplicates are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// An empty header list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field; the name is lower-cased.
    pub fn append(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_owned()));
    }

    /// Replaces every field of this name with one field.
    pub fn set(&mut self, name: &str, value: &str) {
        self.remove(name);
        self.append(name, value);
    }

    /// Removes every field of this name.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// Keeps only the fields for which `keep(name)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.0.retain(|(n, _)| keep(n));
    }

    /// All values of this field name.
    pub fn get_all<'a, 'n>(&'a self, name: &'n str) -> impl Iterator<Item = &'a str> + use<'a, 'n> {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of a field that must occur at most once: `Err(())` when it occurs more than once.
    #[allow(clippy::result_unit_err)]
    pub fn get_single(&self, name: &str) -> Result<Option<&str>, ()> {
        let mut values = self.get_all(name);
        let first = values.next();
        match values.next() {
            Some(_) => Err(()),
            None => Ok(first),
        }
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over `(name, value)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

impl<'a> FromIterator<(&'a str, &'a str)> for Headers {
    fn from_iter<I: IntoIterator<Item = (&'a str, &'a str)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.append(name, value);
        }
        headers
    }
}

/// Parses an absolute URL whose text is visible ASCII (no spaces, controls, backslashes or
/// non-ASCII characters) and whose authority has no percent-encoding; anything else is refused
/// with [`url::ParseError::IdnaError`]. Every URL the gateway parses goes through here.
///
/// Why: `url`'s IDNA step runs on hosts that are not plain ASCII, and the Wasm functions build
/// `url` with the ASCII-only IDNA backend (`idna_adapter` 1.0; the Unicode tables of the default
/// one are a fifth of the module). That backend refuses such hosts anyway, but an assertion in it
/// panics in builds with debug assertions (tests, fuzzing) on some of them; refused here, they
/// never reach it. Hosts in Unicode form must be written as punycode (`xn--…`); request URLs from
/// the platforms already are. An ASCII `xn--` label still reaches `idna` itself, whose `is_bidi`
/// has a debug assertion such a label can break (`xn--3ug`); the test and fuzz profiles build
/// `idna` without debug assertions, as the release builds do (fuzz/Cargo.toml).
pub fn parse_url(input: &str) -> Result<url::Url, url::ParseError> {
    let visible = input.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    // The authority as the WHATWG parser finds it for http(s): after the scheme and any slashes,
    // up to the path, query or fragment.
    let authority = input.split_once(':').map(|(_, rest)| {
        let rest = rest.trim_start_matches('/');
        rest.split(['/', '?', '#']).next().unwrap_or(rest)
    });
    if !visible || authority.is_some_and(|a| a.contains('%')) {
        return Err(url::ParseError::IdnaError);
    }
    url::Url::parse(input)
}

/// The value of one ASCII hex digit.
pub(crate) fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An incoming request as the core sees it. The body never enters the core: the shell streams it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The absolute URL the request was received at (scheme, authority, path, query).
    pub url: String,
    /// The request header fields.
    pub headers: Headers,
    /// The TLS client certificate the platform itself saw (RFC 8705 §3), with its chain and
    /// revocation status, e.g. from Workers' `request.cf.tlsClientAuth`
    /// ([`ClientCert::from_tls_client_auth`]). `None` when there was none or the platform does
    /// not say (Spin: wasi:http exposes no TLS data); a certificate forwarded in a header by a TLS
    /// terminator is read by the core instead, and only when `mtls.client_cert_header` is
    /// configured.
    pub client_cert: Option<ClientCert>,
}

/// A TLS client certificate, reduced to what certificate-bound tokens need: its SHA-256
/// thumbprint (RFC 8705 §3.1, `x5t#S256`) and what the TLS layer that saw the handshake said about
/// it. These are facts, not a verdict: the bind stage decides ([`mtls::usable`](crate::mtls::usable)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientCert {
    /// SHA-256 of the certificate's DER encoding.
    pub sha256: [u8; 32],
    /// Whether the TLS layer validated the certificate's chain (RFC 8705 §2.1, PKI method).
    pub chain: ChainCheck,
    /// The TLS layer reports the certificate revoked.
    pub revoked: bool,
}

/// What the TLS layer said about a client certificate's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainCheck {
    /// Validated to the client CA the TLS layer trusts (Workers: `certVerified` is `"SUCCESS"`).
    Passed,
    /// Not validated, or validation failed: a self-signed certificate (RFC 8705 §2.2), one from
    /// another CA, an expired one, or a TLS layer that did not say (Workers: `"NONE"`,
    /// `"FAILED:<reason>"`, anything else).
    NotPassed,
}

impl ClientCert {
    /// From the DER certificate, as a TLS terminator in front of the gateway forwards it in the
    /// configured `mtls.client_cert_header`: the terminator owns the handshake and forwards only
    /// certificates its own policy accepted, so the chain counts as [`ChainCheck::Passed`] and the
    /// certificate as not revoked.
    pub fn from_der(der: &[u8]) -> ClientCert {
        use sha2::Digest;
        ClientCert {
            sha256: sha2::Sha256::digest(der).into(),
            chain: ChainCheck::Passed,
            revoked: false,
        }
    }

    /// From the three string fields of Workers' `request.cf.tlsClientAuth` for a presented
    /// certificate: `certFingerprintSHA256` (hex), `certVerified` (`"SUCCESS"`, `"NONE"` or
    /// `"FAILED:<reason>"`) and `certRevoked` (`"1"` or `"0"`). Read closed: only `"SUCCESS"`
    /// is a chain that passed and only `"0"` is not revoked, so a missing or unknown value never
    /// counts in the certificate's favour. `None` when the fingerprint is not 64 hex digits.
    pub fn from_tls_client_auth(
        fingerprint_sha256: &str,
        cert_verified: &str,
        cert_revoked: &str,
    ) -> Option<ClientCert> {
        Some(ClientCert {
            sha256: sha256_from_hex(fingerprint_sha256)?,
            chain: match cert_verified {
                "SUCCESS" => ChainCheck::Passed,
                _ => ChainCheck::NotPassed,
            },
            revoked: cert_revoked != "0",
        })
    }
}

/// 64 hex digits (either case) to 32 bytes; `None` for anything else (e.g. empty).
fn sha256_from_hex(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut sha256 = [0u8; 32];
    for (out, pair) in sha256.iter_mut().zip(bytes.chunks_exact(2)) {
        let (high, low) = match pair {
            [high, low] => (hex_digit(*high)?, hex_digit(*low)?),
            _ => return None,
        };
        *out = high << 4 | low;
    }
    Some(sha256)
}

/// What the core decided: answer the client directly, or forward to an origin.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Answer the client with this response; the origin is not contacted.
    Respond(Response),
    /// Send the request (with its body, streamed by the shell) to the origin as described.
    Forward(Forward),
    /// The gateway itself needs the request body (at most `max_bytes`; longer is a 413): read it
    /// and call [`Gateway::handle_body`](crate::Gateway::handle_body).
    ReadBody {
        /// Largest body to read.
        max_bytes: usize,
    },
}

/// A request to pass to the origin: the shell copies the method and streams the body.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The absolute origin URL.
    pub url: String,
    /// The header fields to send, already stripped and extended by the core.
    pub headers: Headers,
    /// Header fields the shell appends to the origin's response before returning it to the
    /// client, e.g. a fresh `DPoP-Nonce` (RFC 9449 §8.2). Usually empty.
    pub response_headers: Headers,
    /// How long the shell waits for the origin's response head, in milliseconds
    /// (`origin_timeout_ms`); past it, the client gets [`Gateway::origin_failed`] with
    /// [`FetchError::Timeout`](crate::platform::FetchError::Timeout): 504 `ERR_ORIGIN_TIMEOUT`.
    ///
    /// [`Gateway::origin_failed`]: crate::Gateway::origin_failed
    pub timeout_ms: u32,
    /// How the shell sends the client's body to the origin.
    pub body: BodyFraming,
}

/// Fields of the origin's response no client gets: connection-specific fields (RFC 9110 §7.6.1),
/// the runtime frames the response itself.
const CONNECTION_FIELDS: [&str; 3] = ["connection", "keep-alive", "transfer-encoding"];

/// Response fields the gateway adds to the origin's instead of replacing them: lists whose field
/// lines combine (RFC 9110 §5.3). `Vary: origin` from the CORS stage must not drop the origin's own
/// `Vary` (a cache would then serve one variant for another).
const ADDED_TO_THE_ORIGINS: [&str; 1] = ["vary"];

impl Forward {
    /// What the shell does to the origin's response fields before the client gets them, or `None`
    /// when it passes them on unchanged. Every field named in [`ResponseEdit::remove`] goes, then
    /// [`Forward::response_headers`] are added, each replacing the origin's fields of that name (a
    /// fresh `DPoP-Nonce` is the gateway's, not the origin's), except `Vary`, which is added to the
    /// origin's. `runtime_drops_connection_fields`
    /// is the shell's fact that its runtime already drops connection-specific fields (workerd
    /// does); otherwise they are removed here.
    pub fn response_edit(&self, runtime_drops_connection_fields: bool) -> Option<ResponseEdit> {
        if runtime_drops_connection_fields && self.response_headers.is_empty() {
            return None;
        }
        let mut remove: Vec<String> = Vec::new();
        if !runtime_drops_connection_fields {
            remove.extend(CONNECTION_FIELDS.iter().map(|name| (*name).to_owned()));
        }
        for (name, _) in self.response_headers.iter() {
            let name = name.to_ascii_lowercase();
            if !remove.contains(&name) && !ADDED_TO_THE_ORIGINS.contains(&name.as_str()) {
                remove.push(name);
            }
        }
        Some(ResponseEdit {
            remove,
            add: self.response_headers.clone(),
        })
    }

    /// The origin's response fields as the client gets them, for shells that rebuild the response
    /// (Spin): [`Forward::response_edit`] applied, connection-specific fields dropped.
    pub fn client_response_fields<'a>(
        &self,
        origin: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Headers {
        match self.response_edit(false) {
            Some(edit) => edit.apply(origin),
            None => origin.into_iter().collect(),
        }
    }
}

/// A change to the origin's response fields, decided by the core ([`Forward::response_edit`]) and
/// carried out by a shell that never lets the origin's response cross into the core (Workers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseEdit {
    /// Field names (lower-case) removed from the origin's response, every field of each.
    pub remove: Vec<String>,
    /// Fields added after the removal.
    pub add: Headers,
}

impl ResponseEdit {
    /// The edit applied to `origin`'s fields.
    pub fn apply<'a>(&self, origin: impl IntoIterator<Item = (&'a str, &'a str)>) -> Headers {
        let mut fields: Headers = origin
            .into_iter()
            .filter(|(name, _)| !self.remove.iter().any(|r| r.eq_ignore_ascii_case(name)))
            .collect();
        for (name, value) in self.add.iter() {
            fields.append(name, value);
        }
        fields
    }
}

/// How the client's body reaches the origin: the client's own framing (RFC 9112 §6), so an origin
/// that cannot read chunked request bodies gets a `Content-Length` whenever the client sent one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: a `GET` or `HEAD` without `Content-Length`. Nothing is sent.
    Empty,
    /// Exactly this many bytes, announced by the `content-length` field in
    /// [`Forward::headers`]; `Length(0)` sends no body bytes at all.
    Length(u64),
    /// A body of unknown length (the client used `Transfer-Encoding`, or sent no length on a
    /// method that has a body): streamed through, chunked on HTTP/1.1.
    Stream,
}

impl BodyFraming {
    /// Whether the shell streams the client's body bytes through (it never buffers them).
    pub fn sends_bytes(self) -> bool {
        !matches!(self, BodyFraming::Empty | BodyFraming::Length(0))
    }
}

/// A response produced by the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header fields.
    pub headers: Headers,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response with `cache-control: no-store`.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        let mut headers = Headers::new();
        headers.append("content-type", "application/json");
        headers.append("cache-control", "no-store");
        Response {
            status,
            headers,
            body: body.to_string().into_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare_forward() -> Forward {
        Forward {
            url: "http://o/".into(),
            headers: Headers::new(),
            response_headers: Headers::new(),
            timeout_ms: 1,
            body: BodyFraming::Empty,
        }
    }

    #[test]
    fn client_response_fields_drop_hop_by_hop_and_let_the_gateway_replace() {
        let mut forward = bare_forward();
        forward.response_headers.append("DPoP-Nonce", "gateway");
        let origin = [
            ("Content-Type", "text/plain"),
            ("Connection", "close"),
            ("transfer-encoding", "chunked"),
            ("Keep-Alive", "timeout=5"),
            ("dpop-nonce", "origin"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ];
        let fields = forward.client_response_fields(origin);
        let pairs: Vec<(&str, &str)> = fields.iter().collect();
        assert_eq!(
            pairs,
            [
                ("content-type", "text/plain"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
                ("dpop-nonce", "gateway"),
            ]
        );
    }

    #[test]
    fn response_edit_is_none_only_when_the_runtime_frames_and_nothing_is_added() {
        let mut forward = bare_forward();
        assert_eq!(forward.response_edit(true), None);
        let bare = forward
            .response_edit(false)
            .expect("connection fields to drop");
        assert_eq!(
            bare.remove,
            ["connection", "keep-alive", "transfer-encoding"]
        );
        assert!(bare.add.is_empty());
        forward.response_headers.append("DPoP-Nonce", "n1");
        forward.response_headers.append("Set-Cookie", "a=1");
        forward.response_headers.append("set-cookie", "b=2");
        let edit = forward.response_edit(true).expect("fields to add");
        assert_eq!(edit.remove, ["dpop-nonce", "set-cookie"]);
        let origin = [
            ("Set-Cookie", "origin=1"),
            ("etag", "\"x\""),
            ("connection", "close"),
        ];
        let pairs: Vec<(String, String)> = edit
            .apply(origin)
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        let expected = [
            ("etag", "\"x\""),
            ("connection", "close"),
            ("dpop-nonce", "n1"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
    }

    #[test]
    fn the_gateways_vary_is_added_to_the_origins() {
        let mut forward = bare_forward();
        forward.response_headers.append("vary", "origin");
        let edit = forward.response_edit(true).expect("a field to add");
        assert!(edit.remove.is_empty());
        let fields = edit.apply([("Vary", "accept-encoding")]);
        let vary: Vec<&str> = fields.get_all("vary").collect();
        assert_eq!(vary, ["accept-encoding", "origin"]);
    }

    #[test]
    fn urls_must_be_visible_ascii_without_percent_encoded_hosts() {
        for ok in [
            "https://gw.test/api/orders?x=1",
            "http://127.0.0.1:8080/a%20b/%C3%BC?q=%41#f",
            "https://xn--bcher-kva.example/",
            "https://XN--BCHER-KVA.Example/",
            "http://[::1]:9/",
        ] {
            assert!(parse_url(ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://b\u{fc}cher.example/",
            "http://A\u{fc}.xn--Bcher-kva.EX/",
            "http://B%C3%BC.example/",
            "http:///B%C3%BC.example/",
            "http:B%C3%BC.example/",
            "http://user%40x@host/",
            "http://a b/",
            "http://a\tb/",
            "http:\\\\host/",
            "http://host/p\u{e9}",
        ] {
            assert_eq!(
                parse_url(refused),
                Err(url::ParseError::IdnaError),
                "{refused}"
            );
        }
    }

    #[test]
    fn single_header_rejects_duplicates_case_insensitively() {
        let headers: Headers = [("DPoP", "a"), ("dpop", "b")].into_iter().collect();
        assert_eq!(headers.get_single("dpop"), Err(()));
        let headers: Headers = [("Authorization", "x")].into_iter().collect();
        assert_eq!(headers.get_single("authorization"), Ok(Some("x")));
        assert_eq!(headers.get_single("dpop"), Ok(None));
    }
}
