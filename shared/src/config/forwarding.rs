//! `forwarding`: what the origin receives; its types live with the forward stage, its checks here.

use super::route::is_scope_token;
use super::*;

/// Fields the gateway controls or that must never be configured as claim / assertion headers.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "dpop",
    "host",
    "content-length",
    "connection",
    "transfer-encoding",
    "te",
    "upgrade",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "signature",
    "signature-input",
    "traceparent",
    "tracestate",
    "x-request-id",
    "content-type",
    "content-digest",
    "cookie",
];

/// RFC 9110 §5.1 field name (`token`), lower-case.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

impl Forwarding {
    pub(super) fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if self.gateway_id.is_empty() {
            return Err(ConfigError::new(
                format!("{at}.gateway_id"),
                "must not be empty",
            ));
        }
        let budget = 1..=64 * 1024;
        if !budget.contains(&self.max_claim_header_bytes)
            || !budget.contains(&self.max_claim_headers_bytes)
        {
            return Err(ConfigError::new(
                format!("{at}.max_claim_header_bytes"),
                "budgets must be between 1 and 65536",
            ));
        }
        let mut names: Vec<&str> = Vec::new();
        if let Some(field) = self.client_address {
            // The gateway's own field: a claim or assertion header of that name would replace it.
            names.push(field.name());
        }
        for (claim, header) in &self.claim_headers {
            let field = format!("{at}.claim_headers.{claim}");
            if claim.is_empty()
                || !is_header_name(header)
                || RESERVED_HEADERS.contains(&header.as_str())
            {
                return Err(ConfigError::new(
                    field,
                    "must map a claim to a lower-case header name the gateway does not reserve",
                ));
            }
            if names.contains(&header.as_str()) {
                return Err(ConfigError::new(field, "header name used twice"));
            }
            names.push(header);
        }
        let needs_key = self.assertion.is_some()
            || self
                .message_signature
                .as_ref()
                .is_some_and(|m| m.algorithm == SignatureAlgorithm::EcdsaP256Sha256);
        if needs_key && self.signing_key_secret.is_none() {
            return Err(ConfigError::new(
                format!("{at}.signing_key_secret"),
                "required by the assertion and by ecdsa-p256-sha256 signatures",
            ));
        }
        if let Some(assertion) = &self.assertion {
            let header = assertion.header.as_str();
            if !is_header_name(header)
                || RESERVED_HEADERS.contains(&header)
                || names.contains(&header)
            {
                return Err(ConfigError::new(
                    format!("{at}.assertion.header"),
                    "must be a lower-case header name not otherwise used",
                ));
            }
            if !(1..=MAX_ASSERTION_TTL).contains(&assertion.ttl_seconds) {
                return Err(ConfigError::new(
                    format!("{at}.assertion.ttl_seconds"),
                    "must be between 1 and 60",
                ));
            }
        }
        if let Some(sig) = &self.message_signature {
            let at = format!("{at}.message_signature");
            if !is_header_name(&sig.label) {
                return Err(ConfigError::new(
                    format!("{at}.label"),
                    "must be a lower-case token",
                ));
            }
            if !(1..=MAX_ASSERTION_TTL).contains(&sig.ttl_seconds) {
                return Err(ConfigError::new(
                    format!("{at}.ttl_seconds"),
                    "must be between 1 and 60",
                ));
            }
            if sig.algorithm == SignatureAlgorithm::HmacSha256 && sig.hmac_secret.is_none() {
                return Err(ConfigError::new(
                    format!("{at}.hmac_secret"),
                    "required by hmac-sha256",
                ));
            }
            if !is_scope_token(&sig.hmac_keyid) {
                return Err(ConfigError::new(
                    format!("{at}.hmac_keyid"),
                    "must be printable ASCII without spaces or quotes",
                ));
            }
            if sig.cover.iter().any(|h| !is_header_name(h)) {
                return Err(ConfigError::new(
                    format!("{at}.cover"),
                    "must list lower-case header names",
                ));
            }
        }
        Ok(())
    }
}

/// Resolves the platform secrets [`Forwarding`] names through the shell's lookup.
pub(crate) fn forwarding_secrets(
    forwarding: &Forwarding,
    secrets: SecretLookup<'_>,
) -> Result<ForwardingSecrets, ConfigError> {
    let read = |field: &str, name: &Option<String>| match name {
        None => Ok(None),
        Some(name) => secret(secrets, field, name).map(Some),
    };
    Ok(ForwardingSecrets {
        signing_key: read(
            "forwarding.signing_key_secret",
            &forwarding.signing_key_secret,
        )?,
        hmac_key: read(
            "forwarding.message_signature.hmac_secret",
            &forwarding
                .message_signature
                .as_ref()
                .and_then(|m| m.hmac_secret.clone()),
        )?,
    })
}
