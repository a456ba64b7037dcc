//! `routes[]`: route matching and the checks on each route's policy; the types live with the
//! policy stage.

use super::*;

impl Route {
    pub(super) fn validate(&self, at: &str) -> Result<(), ConfigError> {
        if !self.path.starts_with('/') {
            return Err(ConfigError::new(
                format!("{at}.path"),
                "must start with '/'",
            ));
        }
        if self.path.contains('*') && !self.path.ends_with("/*") {
            return Err(ConfigError::new(
                format!("{at}.path"),
                "'*' is only allowed as a final '/*' segment",
            ));
        }
        for (j, method) in self.methods.iter().enumerate() {
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ConfigError::new(
                    format!("{at}.methods[{j}]"),
                    "must be an upper-case HTTP method",
                ));
            }
        }
        let requires_token = !self.scopes_all.is_empty()
            || !self.scopes_any.is_empty()
            || !self.claims.is_empty()
            || !self.issuers.is_empty()
            || self.token_kind.is_some()
            || !self.acr_values.is_empty()
            || self.max_age.is_some()
            || self.origin_by_claim.is_some();
        if self.anonymous && (requires_token || self.credential_cookie) {
            return Err(ConfigError::new(
                at,
                "an anonymous route cannot have token requirements or claim-based routing",
            ));
        }
        for (field, scopes) in [
            ("scopes_all", &self.scopes_all),
            ("scopes_any", &self.scopes_any),
        ] {
            if scopes.iter().any(|s| !is_scope_token(s)) {
                return Err(ConfigError::new(
                    format!("{at}.{field}"),
                    "scopes are non-empty printable ASCII without spaces, '\\' or '\"' (RFC 6749 §3.3)",
                ));
            }
        }
        if self.acr_values.iter().any(|v| !is_scope_token(v)) {
            return Err(ConfigError::new(
                format!("{at}.acr_values"),
                "values are non-empty printable ASCII without spaces, '\\' or '\"'",
            ));
        }
        for (j, rule) in self.claims.iter().enumerate() {
            let tests = usize::from(rule.equals.is_some())
                + usize::from(rule.one_of.is_some())
                + usize::from(rule.contains.is_some())
                + usize::from(rule.exists.is_some());
            if rule.claim.is_empty() || tests != 1 {
                return Err(ConfigError::new(
                    format!("{at}.claims[{j}]"),
                    "needs a non-empty claim and exactly one of equals, one_of, contains, exists",
                ));
            }
        }
        if let Some(by_claim) = &self.origin_by_claim {
            let at = format!("{at}.origin_by_claim");
            if by_claim.claim.is_empty() {
                return Err(ConfigError::new(format!("{at}.claim"), "must not be empty"));
            }
            check_origin_url(&by_claim.default)
                .map_err(|m| ConfigError::new(format!("{at}.default"), m))?;
            for (value, url) in &by_claim.origins {
                check_origin_url(url)
                    .map_err(|m| ConfigError::new(format!("{at}.origins.{value}"), m))?;
            }
        }
        Ok(())
    }

    /// True when this route matches the method and path.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.methods.is_empty() || self.methods.iter().any(|m| m == method);
        let path_ok = match self.path.strip_suffix("/*") {
            Some(prefix) => {
                path == prefix
                    || path
                        .strip_prefix(prefix)
                        .is_some_and(|rest| rest.starts_with('/'))
            }
            None => path == self.path,
        };
        method_ok && path_ok
    }
}

/// RFC 6749 §3.3 `scope-token`: `%x21 / %x23-5B / %x5D-7E`, so it can also sit inside a quoted
/// `WWW-Authenticate` parameter without escaping.
pub(super) fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}
