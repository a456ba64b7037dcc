//! `mtls`: where the TLS client certificate comes from (RFC 8705).

use super::*;

impl Mtls {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let Some(name) = &self.client_cert_header else {
            return Ok(());
        };
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        let lower = name.to_ascii_lowercase();
        if !token
            || matches!(lower.as_str(), "authorization" | "dpop" | "host")
            || lower.starts_with(crate::forward::NAMESPACE)
        {
            return Err(ConfigError::new(
                "mtls.client_cert_header",
                "must be a header name (letters, digits, '-', '_'), not a credential or x-edgeward-* field",
            ));
        }
        Ok(())
    }
}
