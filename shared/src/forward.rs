//! The forward stage: what the origin receives. Headers a client could use to spoof the gateway
//! are always stripped, whether or not the request carries a token: the `x-edgeward-` namespace,
//! the configured claim and assertion header names, `Signature` / `Signature-Input`, hop-by-hop
//! fields, and (unless `forward_credentials`) `Authorization` and `DPoP`.
//!
//! Then the gateway adds, in this order: `traceparent` / `x-request-id`
//! ([`crate::trace_context`]), the claim headers (header-safe, within budgets), the
//! signed assertion ([`crate::assertion`]) and the RFC 9421 signature
//! ([`crate::message_signature`]) covering `@method`, `@target-uri`, every
//! claim header and the assertion header that was set, plus configured extra fields such as
//! `content-digest` when the request has them. The body is never read: `content-digest` is covered
//! only as the client sent it (the origin checks the body against it while reading).

use crate::assertion::{self, AssertionClaims, GatewayKey};
use crate::error::ConfigError;
use crate::error::Error;
use crate::http::{BodyFraming, Forward, Headers};
use crate::message_signature::{self, Message, Param, SignatureParams, SigningKey};
use crate::platform::Platform;
use crate::token::TokenKind;
use crate::token::VerifiedToken;
use crate::trace_context::Context;
use base64ct::{Base64, Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use url::Url;

/// Prefix of the header names the gateway owns. Incoming fields with this prefix are always
/// removed so that a client can never forge what the gateway asserts.
pub const NAMESPACE: &str = "x-edgeward-";

/// Hop-by-hop fields (RFC 9110 §7.6.1) and fields the platform sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    // Framing: re-set from the client's by [`framing`].
    "content-length",
];

/// Credentials that are not forwarded: the origin trusts the gateway's assertion instead.
const CREDENTIALS: &[&str] = &["authorization", "dpop"];

/// Client-certificate fields TLS terminators commonly set (RFC 9440 `Client-Cert` /
/// `Client-Cert-Chain`, Envoy's XFCC, nginx / HAProxy conventions, Cloudflare's forwarding header).
/// Always stripped: the origin must never take a client-supplied one for the terminator's.
const CLIENT_CERT_FIELDS: &[&str] = &[
    "client-cert",
    "client-cert-chain",
    "x-client-cert",
    "x-forwarded-client-cert",
    "x-ssl-client-cert",
    "ssl-client-cert",
    "cf-client-cert-der-base64",
];

/// True for incoming fields that are stripped in every configuration: the gateway namespace,
/// hop-by-hop fields and client-certificate fields (the well-known ones and `cert_field`, the
/// configured `mtls.client_cert_header`). `name` is [`folded`].
fn always_stripped(name: &str, cert_field: Option<&str>) -> bool {
    name.starts_with(NAMESPACE)
        || HOP_BY_HOP.contains(&name)
        || CLIENT_CERT_FIELDS.contains(&name)
        || cert_field.is_some_and(|field| same_name(field, name))
}

/// A field name as CGI-style origins read it: lower case, `_` as `-`. CGI (RFC 3875 §4.1.18),
/// WSGI, PHP, Rack and nginx-fronted apps fold both `x-edgeward-sub` and `x_edgeward_sub` into
/// `HTTP_X_EDGEWARD_SUB`, so every protected name is compared in this form: stripping only the
/// dashed spelling would let a client forge a protected field through the underscored one.
fn folded(name: &str) -> std::borrow::Cow<'_, str> {
    match name.contains('_') {
        true => std::borrow::Cow::Owned(name.replace('_', "-").to_ascii_lowercase()),
        false => std::borrow::Cow::Borrowed(name),
    }
}

/// True when two field names fold to the same name ([`folded`]; `protected` may have any case).
fn same_name(protected: &str, folded_name: &str) -> bool {
    protected.len() == folded_name.len()
        && protected
            .bytes()
            .zip(folded_name.bytes())
            .all(|(p, n)| p.to_ascii_lowercase() == n || (p == b'_' && n == b'-'))
}

/// Fields the gateway sets itself; incoming ones are dropped (trace fields are re-set).
const GATEWAY_FIELDS: &[&str] = &["traceparent", "tracestate", "x-request-id"];

/// Prefix of the RFC 9421 fields (`Signature`, `Signature-Input`, and relatives such as
/// `Signature-Agent`): the origin must only ever see the gateway's own signature.
const SIGNATURE_PREFIX: &str = "signature";

/// Prefix of the fields Spin's HTTP trigger adds to every request it hands a component:
/// `spin-full-url`, `spin-path-info`, `spin-matched-route`, `spin-base-path`,
/// `spin-raw-component-route`, `spin-component-route`, `spin-client-addr` and `spin-path-match-*`
/// (Spin's `crates/trigger-http/src/headers.rs`, which names them `SPIN_*` and turns `_` into `-`).
/// Spin appends them after the client's own fields and passes a client-sent `spin-*` field along.
pub const SPIN_NAMESPACE: &str = "spin-";

/// The field-name prefix that `runtime` (the name a shell gives [`crate::Gateway::new`]) uses for
/// its own request fields, stripped before the origin sees the request: what the runtime tells the
/// component is not the origin's business, and a client-sent field in that namespace must not pass
/// for the runtime's. `None` for runtimes that add no fields of their own to the request the
/// component sees (Workers passes Cloudflare's `cf-*` fields, which are the edge's, not the
/// runtime's).
pub fn runtime_namespace(runtime: &str) -> Option<&'static str> {
    match runtime {
        "spin" => Some(SPIN_NAMESPACE),
        _ => None,
    }
}

/// The client's address as `runtime` tells the component: on Spin the last `spin-client-addr`
/// field (`IP:port`; Spin appends its own after any a client sent, so the last one is Spin's).
/// `None` on other runtimes and when there is none.
pub fn runtime_client_address(runtime: &str, headers: &Headers) -> Option<IpAddr> {
    match runtime {
        "spin" => headers
            .get_all("spin-client-addr")
            .last()?
            .parse::<SocketAddr>()
            .ok()
            .map(|address| address.ip()),
        _ => None,
    }
}

/// The value of `field` for a client at `address`: `192.0.2.7` for `x-forwarded-for`;
/// `for=192.0.2.7` or `for="[2001:db8::7]"` for `forwarded` (RFC 7239 §6: an IPv6 address is
/// bracketed, and so quoted).
pub fn client_address_value(field: ClientAddressField, address: IpAddr) -> String {
    match (field, address) {
        (ClientAddressField::XForwardedFor, address) => address.to_string(),
        (ClientAddressField::Forwarded, IpAddr::V4(v4)) => format!("for={v4}"),
        (ClientAddressField::Forwarded, IpAddr::V6(v6)) => format!("for=\"[{v6}]\""),
    }
}

/// Shortest accepted HMAC key, in bytes: the SHA-256 output length (RFC 2104 §3).
pub const MIN_HMAC_KEY_BYTES: usize = 32;

/// The forward stage with its keys, built once when the configuration loads.
pub struct Forwarder {
    settings: Forwarding,
    key: Option<GatewayKey>,
    hmac: Option<Vec<u8>>,
    /// The runtime's own field-name prefix ([`runtime_namespace`]), stripped like the others.
    runtime_fields: Option<&'static str>,
    /// With a token handler: the client's `cookie` field never reaches the origin (it carries the
    /// encrypted session cookies).
    strip_cookies: bool,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Forwarder")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// Parses the secrets the settings name. Errors name the field, never the secret's value.
    pub(crate) fn new(
        settings: &Forwarding,
        secrets: ForwardingSecrets,
    ) -> Result<Forwarder, ConfigError> {
        let key = match secrets.signing_key {
            None => None,
            Some(text) => Some(GatewayKey::from_jwk(&text).map_err(|m| ConfigError {
                field: "forwarding.signing_key_secret".into(),
                message: format!("the secret is not a usable private P-256 JWK: {m}"),
            })?),
        };
        let hmac = match secrets.hmac_key {
            None => None,
            Some(text) => {
                let bytes = Base64::decode_vec(text.trim()).ok();
                match bytes {
                    Some(bytes) if bytes.len() >= MIN_HMAC_KEY_BYTES => Some(bytes),
                    _ => {
                        return Err(ConfigError {
                            field: "forwarding.message_signature.hmac_secret".into(),
                            message: format!(
                                "the secret must be standard base64 of at least {MIN_HMAC_KEY_BYTES} bytes"
                            ),
                        })
                    }
                }
            }
        };
        Ok(Forwarder {
            settings: settings.clone(),
            key,
            hmac,
            runtime_fields: None,
            strip_cookies: false,
        })
    }

    /// The same forwarder, stripping the client's `cookie` field (a token handler is configured:
    /// its encrypted session cookies are for the gateway alone).
    pub(crate) fn stripping_cookies(mut self, strip: bool) -> Forwarder {
        self.strip_cookies = strip;
        self
    }

    /// The same forwarder on `runtime` (the name a shell gives [`crate::Gateway::new`]): the
    /// runtime's own request fields ([`runtime_namespace`]) are stripped too.
    pub(crate) fn on_runtime(mut self, runtime: &str) -> Forwarder {
        self.runtime_fields = runtime_namespace(runtime);
        self
    }

    /// The gateway's signing key and id, when it has a key: the actor of token exchanges
    /// ([`crate::token_exchange::ActorKey`]).
    pub(crate) fn actor(&self) -> Option<crate::token_exchange::ActorKey<'_>> {
        Some(crate::token_exchange::ActorKey {
            key: self.key.as_ref()?,
            gateway_id: &self.settings.gateway_id,
        })
    }

    /// The gateway's signing key (`forwarding.signing_key_secret`), if configured: the token
    /// handler's `private_key_jwt` client authentication signs with it too.
    #[cfg(feature = "token-handler")]
    pub(crate) fn gateway_key(&self) -> Option<&GatewayKey> {
        self.key.as_ref()
    }

    /// The gateway's public keys as a JWK Set (RFC 7517 §5), for its JWKS endpoint.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.key.iter().map(|k| k.public_jwk().clone()).collect();
        serde_json::json!({ "keys": keys })
    }

    /// The phantom-token JWT for an opaque token the AS answered as JSON: the introspected claims
    /// (without `active` and `token_type`) as an RFC 9068 access token signed by the gateway key —
    /// `iss` is the gateway (`gateway_id`), the AS's `iss` moves to `token_iss`. `None` without a
    /// gateway signing key (`forwarding.signing_key_secret`). The origin verifies it with
    /// `/.well-known/edgeward/jwks.json`, like the assertion.
    fn phantom_jwt(&self, token: &VerifiedToken, now: u64) -> Option<String> {
        let key = self.key.as_ref()?;
        let mut claims = token.claims.clone();
        claims.remove("active");
        claims.remove("token_type");
        if let Some(iss) = claims.remove("iss") {
            claims.insert("token_iss".into(), iss);
        }
        claims.insert(
            "iss".into(),
            Value::String(self.settings.gateway_id.clone()),
        );
        claims.insert("iat".into(), Value::from(now));
        let header = serde_json::json!({ "alg": "ES256", "typ": "at+jwt", "kid": key.kid() });
        Some(key.sign_jws(&header, &Value::Object(claims)))
    }

    /// The JWT the origin receives in place of the client's credential: the token's own
    /// (`application_jwt` mode, or a reassembled split token), else, for an opaque token, one
    /// minted by the gateway from the introspected claims when it has a signing key.
    fn phantom_for<'t>(&self, token: &'t VerifiedToken, now: u64) -> Option<Cow<'t, str>> {
        match (&token.phantom_jwt, token.kind) {
            (Some(jwt), _) => Some(Cow::Borrowed(jwt)),
            (None, TokenKind::Opaque) => self.phantom_jwt(token, now).map(Cow::Owned),
            (None, TokenKind::Jwt) => None,
        }
    }

    /// The client's fields the origin may see: every protected name ([`folded`]) removed.
    fn strip(&self, incoming: &Headers, cert_field: Option<&str>) -> Headers {
        let settings = &self.settings;
        let assertion_header = settings.assertion.as_ref().map(|a| a.header.as_str());
        let mut headers = incoming.clone();
        headers.retain(|name| {
            let name = folded(name);
            let name = name.as_ref();
            !always_stripped(name, cert_field)
                && (!self.strip_cookies || name != "cookie")
                && !self
                    .runtime_fields
                    .is_some_and(|prefix| name.starts_with(prefix))
                && (settings.forward_credentials || !CREDENTIALS.contains(&name))
                && !GATEWAY_FIELDS.contains(&name)
                && !name.starts_with(SIGNATURE_PREFIX)
                && !settings.claim_headers.values().any(|h| same_name(h, name))
                && !assertion_header.is_some_and(|h| same_name(h, name))
        });
        headers
    }

    /// Adds the fields a decision point asked for (the authorize stage) to the request fields the
    /// forward stage gets, replacing the client's fields of the same [`folded`] name. A name this
    /// stage would strip (the gateway's namespace, claim and assertion names, signature, trace,
    /// hop-by-hop, client-certificate and runtime fields) or a credential (`authorization`, `dpop`,
    /// also with `forward_credentials`) is refused: `Err(())`, nothing added.
    pub(crate) fn add_fields(
        &self,
        headers: &mut Headers,
        fields: &[(String, String)],
        cert_field: Option<&str>,
    ) -> Result<(), ()> {
        for (name, _) in fields {
            let mut probe = Headers::new();
            probe.append(name, "");
            let credential = CREDENTIALS.contains(&folded(&name.to_ascii_lowercase()).as_ref());
            if credential || self.strip(&probe, cert_field).is_empty() {
                return Err(());
            }
        }
        for (name, _) in fields {
            let target = folded(&name.to_ascii_lowercase()).into_owned();
            headers.retain(|existing| folded(existing) != target.as_str());
        }
        for (name, value) in fields {
            headers.append(name, value);
        }
        Ok(())
    }

    /// Builds the origin request: strip, trace, claim headers, phantom JWT (or `exchanged`, the
    /// token a route's token exchange gave for the origin), assertion, signature.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn forward<P: Platform>(
        &self,
        platform: &P,
        method: &str,
        origin: &Url,
        request_url: &Url,
        incoming: &Headers,
        cert_field: Option<&str>,
        token: Option<&VerifiedToken>,
        exchanged: Option<&str>,
        context: &Context,
    ) -> Result<Forward, Error> {
        let (trace, now) = (&context.trace, context.now);
        let settings = &self.settings;
        let mut headers = self.strip(incoming, cert_field);
        let body = framing(method, incoming, &mut headers)?;
        if trace.continued {
            if let Ok(Some(state)) = incoming.get_single("tracestate") {
                headers.append("tracestate", state);
            }
        }
        headers.append("traceparent", &trace.traceparent());
        headers.append("x-request-id", &trace.request_id);

        let mut covered: Vec<String> = vec!["@method".into(), "@target-uri".into()];
        if let Some(token) = token {
            let mut total = 0;
            for (claim, header) in &settings.claim_headers {
                let Some(value) = crate::policy::claim(&token.claims, claim) else {
                    continue;
                };
                let value = header_value(value)?;
                total += value.len();
                if value.len() > settings.max_claim_header_bytes {
                    return Err(Error::ClaimNotForwardable(
                        "claim header over its size budget",
                    ));
                }
                if total > settings.max_claim_headers_bytes {
                    return Err(Error::ClaimNotForwardable(
                        "claim headers over their size budget",
                    ));
                }
                headers.append(header, &value);
                covered.push(header.clone());
            }
        }

        if let Some(exchanged) = exchanged {
            // RFC 8693: the origin gets the token issued for it, never the client's (nor its
            // DPoP proof, which is for the client's token). Set before signing.
            headers.remove("dpop");
            headers.set("authorization", &format!("Bearer {exchanged}"));
        } else if let Some(jwt) = token.and_then(|t| self.phantom_for(t, now)) {
            // The phantom-token pattern: the origin gets a JWT, never the opaque token. Set
            // before signing, so that `cover: ["authorization"]` signs what is sent.
            headers.set("authorization", &format!("Bearer {jwt}"));
        }

        let url = origin_url(origin, request_url);
        if let (Some(config), Some(key)) = (&settings.assertion, &self.key) {
            let jti = random_b64(platform);
            let audience = origin.origin().ascii_serialization();
            let jwt = assertion::issue(
                key,
                &AssertionClaims {
                    issuer: &settings.gateway_id,
                    audience: &audience,
                    token: token.map(|t| &t.claims),
                    selected: &config.claims,
                    jti: &jti,
                    now,
                    ttl: config.ttl_seconds,
                },
            );
            headers.append(&config.header, &jwt);
            covered.push(config.header.clone());
        }

        if let Some(config) = &settings.message_signature {
            for extra in &config.cover {
                if headers.get_all(extra).next().is_some() && !covered.contains(extra) {
                    covered.push(extra.clone());
                }
            }
            let (key, keyid) = match (config.algorithm, &self.key, &self.hmac) {
                (SignatureAlgorithm::EcdsaP256Sha256, Some(key), _) => (
                    SigningKey::EcdsaP256(key.signing_key()),
                    key.kid().to_owned(),
                ),
                (SignatureAlgorithm::HmacSha256, _, Some(secret)) => {
                    (SigningKey::Hmac(secret), config.hmac_keyid.clone())
                }
                // Config validation and `Forwarder::new` guarantee the key exists.
                _ => {
                    return Err(Error::Config(ConfigError {
                        field: "forwarding.message_signature".into(),
                        message: "no key for the signature algorithm".into(),
                    }))
                }
            };
            let alg = config.algorithm.name();
            let params = SignatureParams {
                components: covered,
                params: vec![
                    ("created".into(), Param::Integer(now as i64)),
                    (
                        "expires".into(),
                        Param::Integer((now + config.ttl_seconds) as i64),
                    ),
                    ("nonce".into(), Param::String(random_b64(platform))),
                    ("keyid".into(), Param::String(keyid)),
                    ("alg".into(), Param::String(alg.into())),
                ],
            };
            let message = Message {
                method,
                target_uri: &url,
                headers: &headers,
                status: None,
            };
            let base = message_signature::signature_base(&message, &params)
                .map_err(|_| Error::ClaimNotForwardable("request cannot be signed"))?;
            let signature = message_signature::sign(&key, &base);
            headers.append(
                "signature-input",
                &message_signature::signature_input_member(&config.label, &params),
            );
            headers.append(
                "signature",
                &message_signature::signature_member(&config.label, &signature),
            );
        }
        Ok(Forward {
            url,
            headers,
            response_headers: Headers::new(),
            timeout_ms: DEFAULT_ORIGIN_TIMEOUT_MS,
            body,
        })
    }
}

/// The client's body framing, kept for the origin (RFC 9112 §6.3): `Transfer-Encoding` wins over
/// `Content-Length` (a request with both is sent as a stream, without the length); a valid
/// `Content-Length` (RFC 9110 §8.6: digits; a list only of one repeated value) is kept and
/// re-set in `headers`; without either, `GET` and `HEAD` have no body and other methods stream.
/// A malformed or conflicting `Content-Length` is `400`: the platforms refuse those first, so this
/// only guards the core's own contract.
fn framing(method: &str, incoming: &Headers, headers: &mut Headers) -> Result<BodyFraming, Error> {
    let bad = Error::InvalidRequest("malformed Content-Length");
    if incoming.get_all("transfer-encoding").next().is_some() {
        return Ok(BodyFraming::Stream);
    }
    let mut length = None;
    for value in incoming
        .get_all("content-length")
        .flat_map(|v| v.split(','))
    {
        let value = value.trim();
        let parsed = match value.bytes().all(|b| b.is_ascii_digit()) {
            true => value.parse::<u64>().map_err(|_| bad.clone())?,
            false => return Err(bad),
        };
        if length.is_some_and(|known| known != parsed) {
            return Err(bad);
        }
        length = Some(parsed);
    }
    Ok(match length {
        Some(length) => {
            headers.set("content-length", &length.to_string());
            BodyFraming::Length(length)
        }
        None if matches!(method, "GET" | "HEAD") => BodyFraming::Empty,
        None => BodyFraming::Stream,
    })
}

/// 128 random bits from the platform, base64url: `jti` and `nonce` values.
fn random_b64<P: Platform>(platform: &P) -> String {
    let mut bytes = [0u8; 16];
    platform.random(&mut bytes);
    Base64UrlUnpadded::encode_string(&bytes)
}

/// A claim value as a header-safe string (RFC 9110 §5.5 field values, visible ASCII only):
/// strings are percent-encoded (every byte outside `0x21..=0x7E`, and `%` and `,`, becomes `%XX` of
/// its UTF-8 bytes, so spaces, controls and non-ASCII can never reach the origin raw); numbers and
/// booleans as JSON; arrays of those joined with `,`. `null`, objects and nested arrays cannot be
/// forwarded: the request is refused rather than forwarded without the claim.
pub fn header_value(value: &Value) -> Result<String, Error> {
    fn scalar(value: &Value) -> Result<String, Error> {
        match value {
            Value::String(s) => Ok(percent_encode(s)),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(Error::ClaimNotForwardable(
                "claim value cannot be forwarded as a header",
            )),
        }
    }
    match value {
        Value::Array(items) => Ok(items
            .iter()
            .map(scalar)
            .collect::<Result<Vec<_>, _>>()?
            .join(",")),
        other => scalar(other),
    }
}

fn percent_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' && b != b',' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The origin base URL joined with the request's path and query.
fn origin_url(origin: &Url, request_url: &Url) -> String {
    let base = origin.as_str().trim_end_matches('/');
    let mut url = format!("{base}{}", request_url.path());
    if let Some(query) = request_url.query() {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Default budget for one claim header value, in bytes after encoding. Common proxies and origin
/// servers accept 8 KiB per field line; 1 KiB holds any realistic identifier, tenant or role list
/// and keeps one oversized claim from crowding out the rest.
pub const DEFAULT_MAX_CLAIM_HEADER_BYTES: usize = 1024;

/// Default budget for all claim header values together, in bytes. Together with the assertion
/// (≈ 1 KiB) and the signature fields it stays well under the 8 KiB total many origins enforce.
pub const DEFAULT_MAX_CLAIM_HEADERS_BYTES: usize = 4096;

/// Default header carrying the signed assertion.
pub const DEFAULT_ASSERTION_HEADER: &str = "x-edgeward-assertion";

/// Default assertion lifetime in seconds: long enough for one origin hop with clock skew, short
/// enough that a leaked assertion is useless soon.
pub const DEFAULT_ASSERTION_TTL: u64 = 30;

/// Default RFC 9421 signature label.
pub const DEFAULT_SIGNATURE_LABEL: &str = "edgeward";

/// Default signature lifetime (`expires` − `created`) in seconds, like the assertion's.
pub const DEFAULT_SIGNATURE_TTL: u64 = 30;

/// Default `keyid` for the `hmac-sha256` signature.
pub const DEFAULT_HMAC_KEYID: &str = "edgeward-hmac";

/// What the origin receives besides the client's own fields (see `docs/configuration.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Forwarding {
    /// The gateway's identity: `iss` of the assertion. Default `edgeward`.
    pub gateway_id: String,
    /// Forward the client's `Authorization` and `DPoP` fields to the origin. Default false.
    pub forward_credentials: bool,
    /// Claim name (or JSON Pointer) → header name. Incoming fields with these names are always
    /// stripped.
    pub claim_headers: std::collections::BTreeMap<String, String>,
    /// Budget for one claim header value, in bytes.
    pub max_claim_header_bytes: usize,
    /// Budget for all claim header values together, in bytes.
    pub max_claim_headers_bytes: usize,
    /// Name of the platform secret holding the gateway's P-256 private JWK.
    pub signing_key_secret: Option<String>,
    /// The signed assertion (a JWT for the origin); absent: none is sent.
    pub assertion: Option<AssertionConfig>,
    /// The RFC 9421 message signature; absent: none is sent.
    pub message_signature: Option<MessageSignatureConfig>,
    /// The field that tells the origin the client's address, where the runtime reports it (Spin);
    /// absent: the address is not forwarded.
    pub client_address: Option<ClientAddressField>,
}

crate::bake::bake_struct!(Forwarding {
    gateway_id,
    forward_credentials,
    claim_headers,
    max_claim_header_bytes,
    max_claim_headers_bytes,
    signing_key_secret,
    assertion,
    message_signature,
    client_address,
});

/// The field that carries the client's address to the origin (`forwarding.client_address`),
/// appended after any the client sent, as a proxy does: the origin trusts the last element only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAddressField {
    /// `X-Forwarded-For: 192.0.2.7` (the de facto standard).
    XForwardedFor,
    /// `Forwarded: for=192.0.2.7`, `for="[2001:db8::7]"` (RFC 7239 §4, §6).
    Forwarded,
}

crate::by_name::deserialize_by_name!(ClientAddressField {
    "x-forwarded-for" => ClientAddressField::XForwardedFor,
    "forwarded" => ClientAddressField::Forwarded,
});

impl Default for Forwarding {
    fn default() -> Self {
        Forwarding {
            gateway_id: "edgeward".into(),
            forward_credentials: false,
            claim_headers: Default::default(),
            max_claim_header_bytes: DEFAULT_MAX_CLAIM_HEADER_BYTES,
            max_claim_headers_bytes: DEFAULT_MAX_CLAIM_HEADERS_BYTES,
            signing_key_secret: None,
            assertion: None,
            message_signature: None,
            client_address: None,
        }
    }
}

/// The signed assertion's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssertionConfig {
    /// The header that carries it.
    pub header: String,
    /// Token claims copied into the assertion (besides `sub`).
    pub claims: Vec<String>,
    /// Lifetime in seconds (1 – 60).
    pub ttl_seconds: u64,
}

crate::bake::bake_struct!(AssertionConfig {
    header,
    claims,
    ttl_seconds
});

impl Default for AssertionConfig {
    fn default() -> Self {
        AssertionConfig {
            header: DEFAULT_ASSERTION_HEADER.into(),
            claims: Vec::new(),
            ttl_seconds: DEFAULT_ASSERTION_TTL,
        }
    }
}

/// RFC 9421 signature algorithms the gateway can use (RFC 9421 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ECDSA P-256 SHA-256 with the gateway signing key (RFC 9421 §3.3.4).
    EcdsaP256Sha256,
    /// HMAC-SHA256 with a shared secret (RFC 9421 §3.3.3).
    HmacSha256,
}

crate::by_name::deserialize_by_name!(SignatureAlgorithm {
    "ecdsa-p256-sha256" => SignatureAlgorithm::EcdsaP256Sha256,
    "hmac-sha256" => SignatureAlgorithm::HmacSha256,
});

/// The message signature's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSignatureConfig {
    /// `ecdsa-p256-sha256` (gateway key) or `hmac-sha256` (shared secret).
    pub algorithm: SignatureAlgorithm,
    /// The signature label. Default `edgeward`.
    #[serde(default = "default_label")]
    pub label: String,
    /// `expires` − `created`, in seconds (1 – 60).
    #[serde(default = "default_signature_ttl")]
    pub ttl_seconds: u64,
    /// Name of the platform secret holding the HMAC key (standard base64, ≥ 32 bytes).
    #[serde(default)]
    pub hmac_secret: Option<String>,
    /// `keyid` for `hmac-sha256`. Default `edgeward-hmac`.
    #[serde(default = "default_hmac_keyid")]
    pub hmac_keyid: String,
    /// Further header fields to cover when the request has them, e.g. `content-digest`.
    #[serde(default)]
    pub cover: Vec<String>,
}

crate::bake::bake_struct!(MessageSignatureConfig {
    algorithm,
    label,
    ttl_seconds,
    hmac_secret,
    hmac_keyid,
    cover,
});

fn default_label() -> String {
    DEFAULT_SIGNATURE_LABEL.into()
}

fn default_signature_ttl() -> u64 {
    DEFAULT_SIGNATURE_TTL
}

fn default_hmac_keyid() -> String {
    DEFAULT_HMAC_KEYID.into()
}

/// The secrets named by [`Forwarding`], read once when the configuration loads. Values never appear
/// in errors or logs.
pub(crate) struct ForwardingSecrets {
    /// The gateway's private JWK (JSON text).
    pub signing_key: Option<String>,
    /// The HMAC key, standard base64.
    pub hmac_key: Option<String>,
}

/// Default origin timeout: 30 s, longer than typical API calls, shorter than the platforms' own
/// request limits and than common client timeouts (so the client sees the gateway's 504).
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u32 = 30_000;

/// Longest origin timeout accepted: 5 minutes. Longer waits hold a connection and an isolate's
/// memory for a request that few clients still wait for.
pub const MAX_ORIGIN_TIMEOUT_MS: u32 = 300_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn joins_origin_base_path_and_query() {
        let joined = origin_url(&url("http://o:9/base/"), &url("https://gw/a/b?x=1"));
        assert_eq!(joined, "http://o:9/base/a/b?x=1");
        assert_eq!(
            origin_url(&url("http://o:9"), &url("https://gw/")),
            "http://o:9/"
        );
    }

    fn forwarder(settings: Forwarding) -> Forwarder {
        Forwarder {
            settings,
            key: None,
            hmac: None,
            runtime_fields: None,
            strip_cookies: false,
        }
    }

    fn names(headers: &Headers) -> Vec<String> {
        headers.iter().map(|(n, _)| n.to_owned()).collect()
    }

    #[test]
    fn header_values_are_visible_ascii() {
        use serde_json::json;
        let v = |j: Value| header_value(&j).map_err(|e| e.code());
        assert_eq!(v(json!("alice")), Ok("alice".into()));
        assert_eq!(
            v(json!("a b\r\nX-Evil: 1")),
            Ok("a%20b%0D%0AX-Evil:%201".into())
        );
        assert_eq!(v(json!("Zoë,%")), Ok("Zo%C3%AB%2C%25".into()));
        assert_eq!(v(json!(["a", "b,c", 3, true])), Ok("a,b%2Cc,3,true".into()));
        assert_eq!(v(json!(12.5)), Ok("12.5".into()));
        for bad in [json!(null), json!({"a": 1}), json!([["a"]]), json!([null])] {
            assert_eq!(v(bad), Err("ERR_FORWARD_CLAIM_HEADER"));
        }
    }

    #[test]
    fn the_spin_namespace_is_spins_alone() {
        assert_eq!(runtime_namespace("spin"), Some("spin-"));
        assert_eq!(runtime_namespace("cloudflare-workers"), None);
        let runtime = [
            "spin-client-addr",
            "spin-full-url",
            "spin_path_info",
            "spin-",
            "SPIN-X",
        ];
        let others = ["spin", "spinner", "x-spin-full-url", "spin.x", "sp"];
        let headers: Headers = runtime.iter().chain(&others).map(|n| (*n, "v")).collect();
        let on_spin = forwarder(Forwarding::default()).on_runtime("spin");
        assert_eq!(names(&on_spin.strip(&headers, None)), others);
        let elsewhere = forwarder(Forwarding::default()).on_runtime("cloudflare-workers");
        assert_eq!(elsewhere.strip(&headers, None).len(), headers.len());
    }

    #[test]
    fn the_client_address_is_spins_last_and_written_per_field() {
        let headers: Headers = [
            ("spin-client-addr", "203.0.113.9:1"),
            ("spin-client-addr", "[2001:db8::7]:5123"),
        ]
        .into_iter()
        .collect();
        let address = runtime_client_address("spin", &headers).unwrap();
        assert_eq!(address.to_string(), "2001:db8::7");
        assert_eq!(runtime_client_address("cloudflare-workers", &headers), None);
        let bad: Headers = [("spin-client-addr", "somewhere")].into_iter().collect();
        assert_eq!(runtime_client_address("spin", &bad), None);
        let field = |f, a: &str| client_address_value(f, a.parse().unwrap());
        assert_eq!(
            field(ClientAddressField::XForwardedFor, "2001:db8::7"),
            "2001:db8::7"
        );
        assert_eq!(
            field(ClientAddressField::Forwarded, "2001:db8::7"),
            "for=\"[2001:db8::7]\""
        );
        assert_eq!(
            field(ClientAddressField::Forwarded, "192.0.2.7"),
            "for=192.0.2.7"
        );
    }

    #[test]
    fn strips_namespace_credentials_and_hop_by_hop_fields() {
        let headers: Headers = [
            ("X-Edgeward-Sub", "admin"),
            ("Authorization", "Bearer t"),
            ("DPoP", "p"),
            ("Connection", "close"),
            ("Host", "gw"),
            ("Accept", "text/plain"),
            ("Client-Cert", ":AAAA:"),
            ("X-Forwarded-Client-Cert", "Hash=00"),
            ("X-My-Cert", "x"),
        ]
        .into_iter()
        .collect();
        let plain = forwarder(Forwarding::default());
        assert_eq!(names(&plain.strip(&headers, Some("X-My-Cert"))), ["accept"]);
        let kept = names(&plain.strip(&headers, None));
        assert_eq!(kept, ["accept", "x-my-cert"]);
    }

    /// CGI-style origins read `x_edgeward_sub` as `HTTP_X_EDGEWARD_SUB`: every protected name is
    /// stripped in its underscored spellings too, and unprotected names are left alone.
    #[test]
    fn strips_protected_names_spelled_with_underscores() {
        let settings: Forwarding = serde_json::from_value(serde_json::json!({
            "claim_headers": { "sub": "X-User" },
            "assertion": { "header": "Gateway_Assertion" },
        }))
        .unwrap();
        let headers: Headers = [
            ("x_edgeward_sub", "admin"),
            ("X_Edgeward-Scope", "all"),
            ("x_user", "admin"),
            ("gateway-assertion", "forged"),
            ("gateway_assertion", "forged"),
            ("signature_input", "sig=()"),
            ("Signature-Agent", "x"),
            ("x_my_cert", "x"),
            ("client_cert", ":AAAA:"),
            ("x_request_id", "forged"),
            ("authorization", "Bearer t"),
            ("x_other", "kept"),
            ("accept", "text/plain"),
        ]
        .into_iter()
        .collect();
        let kept = forwarder(settings).strip(&headers, Some("X-My-Cert"));
        assert_eq!(names(&kept), ["x_other", "accept"]);
    }

    #[test]
    fn keeps_the_clients_framing() {
        let frame = |method: &str, fields: &[(&str, &str)]| {
            let incoming: Headers = fields.iter().copied().collect();
            let mut out = Headers::new();
            let framing = framing(method, &incoming, &mut out).map_err(|e| e.code());
            (
                framing,
                out.get_single("content-length").unwrap().map(str::to_owned),
            )
        };
        let length = |n: u64| (Ok(BodyFraming::Length(n)), Some(n.to_string()));
        assert_eq!(frame("POST", &[("content-length", "0")]), length(0));
        assert_eq!(frame("PUT", &[("content-length", "12")]), length(12));
        assert_eq!(frame("GET", &[("content-length", "3")]), length(3));
        assert_eq!(frame("POST", &[("content-length", "7, 7")]), length(7));
        let stream = (Ok(BodyFraming::Stream), None);
        assert_eq!(frame("POST", &[]), stream);
        let both = [("transfer-encoding", "chunked"), ("content-length", "5")];
        assert_eq!(frame("POST", &both), stream);
        assert_eq!(frame("GET", &[]), (Ok(BodyFraming::Empty), None));
        assert_eq!(frame("HEAD", &[]), (Ok(BodyFraming::Empty), None));
        let bad = (Err("ERR_REQUEST_INVALID"), None);
        for value in ["-1", "1e3", "", "5, 6", "99999999999999999999999"] {
            assert_eq!(frame("POST", &[("content-length", value)]), bad, "{value}");
        }
        let twice = [("content-length", "5"), ("content-length", "6")];
        assert_eq!(frame("POST", &twice), bad);
    }
}
