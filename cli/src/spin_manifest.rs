//! A component's `allowed_outbound_hosts` from a Spin manifest (`spin.toml`), read and matched
//! as Spin does it: a port of `spin-outbound-networking-config`'s `allowed_hosts.rs` and of the
//! template syntax of `spin-expressions` as of Spin 4.1 (Spin 3.0 read entries the same way,
//! except an IPv6 address without brackets), for what an HTTP request needs. Used by `edgeward config check --spin-manifest` and, through a `#[path]`
//! include, by the Spin test host (`tests/spin-host`), so both apply one set of rules.
//!
//! An entry is `scheme://host[:port]`:
//! - scheme: a name, or `*` for any;
//! - host: a name (exact, case-insensitive), `*.example.com` (any subdomain, not the domain
//!   itself), an IP address or CIDR block (`127.0.0.1`, `10.0.0.0/8`, `::1`), `*` for any, or
//!   `self` / `self.alt` (the app itself: only relative requests, never an absolute URL);
//! - port: a number, a range `a..b` (`b` excluded), `*` for any, or absent: the scheme's
//!   well-known port (`http` 80, `https` 443; an entry without a port for another scheme is an
//!   error). A URL without a port is matched with its scheme's well-known port.
//! - `{{ name }}` anywhere is an application variable (`[variables]`): the environment's
//!   `SPIN_VARIABLE_NAME`, else the variable's `default`; an entry that resolves to nothing
//!   (empty, `http://`, `https://`) is skipped, as Spin does.
//!
//! Not modelled (edgeward's manifest uses none of them): `.env` files as a variable source,
//! runtime-config variable providers (Vault, Azure Key Vault), service chaining
//! (`*.spin.internal`), the legacy `allowed_http_hosts` key.
//!
//! Spin answers a request to a host no entry allows with the wasi:http error
//! `HTTP-request-denied`; the gateway turns that into 502 (origin) or 503 (key source,
//! introspection).

use std::net::IpAddr;
use url::Host;

/// One `allowed_outbound_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    original: String,
    /// `None`: any scheme.
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, kept as `.example.com`.
    AnySubdomain(String),
    /// `self` / `self.alt`: relative requests only.
    ToSelf,
    Literal(Host),
    /// An address and prefix length, host bits cleared.
    Cidr(IpAddr, u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    /// `start..end`, `end` excluded (Spin parses it as a Rust `Range`).
    Range(u16, u16),
}

impl AllowedHost {
    /// Parses one entry (templates already resolved); errors read like Spin's.
    pub fn parse(text: &str) -> Result<AllowedHost, String> {
        let trimmed = text.trim();
        let Some((scheme, rest)) = trimmed.split_once("://") else {
            return Err(format!(
                "{trimmed:?} does not contain a scheme (e.g., 'http://' or '*://')"
            ));
        };
        let (host, port) = match rest.rsplit_once(':') {
            None => (rest, ""),
            Some((host, "")) => (host, ""),
            // An IPv6 address without brackets has colons but no port.
            Some(_) if HostPattern::parse(rest).is_ok() => (rest, ""),
            Some((host, tail)) => match tail.split_once('/') {
                Some((_, path)) if !path.is_empty() => {
                    return Err(format!("{trimmed:?} has a path but is not allowed to"))
                }
                Some((port, _)) => (host, port),
                None => (host, tail),
            },
        };
        let port = PortPattern::parse(port, scheme)
            .map_err(|e| format!("invalid allowed host port {port:?}: {e}"))?;
        let scheme = match scheme {
            "*" => None,
            s if s.starts_with('{') => return Err("scheme lists are not supported".into()),
            s if !s.chars().all(char::is_alphabetic) => {
                return Err(format!(
                    "invalid allowed host scheme {s:?}: only alphabetic characters are allowed"
                ))
            }
            s => Some(s.to_owned()),
        };
        let host =
            HostPattern::parse(host).map_err(|e| format!("invalid allowed host {host:?}: {e}"))?;
        Ok(AllowedHost {
            original: text.to_owned(),
            scheme,
            host,
            port,
        })
    }

    /// Whether a request to `url` passes this entry.
    pub fn allows(&self, url: &url::Url) -> bool {
        let scheme = url.scheme();
        self.scheme.as_deref().is_none_or(|s| s == scheme)
            && url.host_str().is_some_and(|host| self.host.allows(host))
            && self
                .port
                .allows(url.port().or_else(|| well_known_port(scheme)))
    }

    /// The entry as written in the manifest.
    pub fn as_str(&self) -> &str {
        &self.original
    }
}

impl HostPattern {
    fn parse(host: &str) -> Result<HostPattern, String> {
        let host = host.trim();
        if host == "*" {
            return Ok(HostPattern::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(HostPattern::ToSelf);
        }
        if host.starts_with('{') {
            return Err("host lists are not yet supported".into());
        }
        if let Some((address, prefix)) = parse_network(host) {
            return Ok(HostPattern::Cidr(address, prefix));
        }
        let host = host.strip_suffix('/').unwrap_or(host);
        if host.contains('/') {
            return Err("must not include a path".into());
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                return Err("wildcards are allowed only as prefixes".into());
            }
            return match Host::parse(domain) {
                Ok(Host::Domain(domain)) => Ok(HostPattern::AnySubdomain(format!(".{domain}"))),
                Ok(_) => Err("wildcard suffix must be a domain".into()),
                Err(e) => Err(format!("invalid wildcard host \"*.{domain}\": {e}")),
            };
        }
        if host.contains('*') {
            return Err("wildcards are allowed only as subdomains".into());
        }
        Host::parse(host)
            .map(HostPattern::Literal)
            .map_err(|e| e.to_string())
    }

    fn allows(&self, host: &str) -> bool {
        let Ok(host) = Host::parse(host) else {
            return false;
        };
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::AnySubdomain(suffix), Host::Domain(domain)) => domain.ends_with(suffix),
            (HostPattern::Literal(literal), host) => host == *literal,
            (HostPattern::Cidr(network, prefix), Host::Ipv4(ip)) => {
                truncate(IpAddr::V4(ip), *prefix) == Some(*network)
            }
            (HostPattern::Cidr(network, prefix), Host::Ipv6(ip)) => {
                truncate(IpAddr::V6(ip), *prefix) == Some(*network)
            }
            _ => false,
        }
    }
}

impl PortPattern {
    fn parse(port: &str, scheme: &str) -> Result<PortPattern, String> {
        if port.is_empty() {
            return well_known_port(scheme).map(PortPattern::Port).ok_or_else(|| {
                format!("no port was provided and the scheme {scheme:?} does not have a known default port number")
            });
        }
        if port == "*" {
            return Ok(PortPattern::Any);
        }
        if port.starts_with('{') {
            return Err("port lists are not yet supported".into());
        }
        let number = |p: &str| {
            p.parse::<u16>()
                .map_err(|_| format!("port {port:?} is not a number"))
        };
        match port.split_once("..") {
            Some((start, end)) => Ok(PortPattern::Range(number(start)?, number(end)?)),
            None => Ok(PortPattern::Port(number(port)?)),
        }
    }

    fn allows(&self, port: Option<u16>) -> bool {
        match (self, port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Port(p), Some(port)) => *p == port,
            (PortPattern::Range(start, end), Some(port)) => (*start..*end).contains(&port),
            (_, None) => false,
        }
    }
}

/// Spin's default ports (`well_known_port`), for the schemes it knows.
fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// An IP address or CIDR block as `ip_network`'s `from_str_truncate` reads it: host bits are
/// cleared, no brackets.
fn parse_network(text: &str) -> Option<(IpAddr, u8)> {
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, prefix.parse::<u8>().ok()?),
        None => {
            let address = text.parse::<IpAddr>().ok()?;
            (address, if address.is_ipv4() { 32 } else { 128 })
        }
    };
    Some((truncate(address, prefix)?, prefix))
}

/// `address` with all but its first `prefix` bits cleared; `None` for a prefix too long.
fn truncate(address: IpAddr, prefix: u8) -> Option<IpAddr> {
    match address {
        IpAddr::V4(v4) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::V4((u32::from(v4) & mask).into()))
        }
        IpAddr::V6(v6) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::V6((u128::from(v6) & mask).into()))
        }
        _ => None,
    }
}

/// The allowed hosts of one component of a manifest, templates resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHosts {
    /// The component's id (`[component.ID]`).
    pub component: String,
    /// Its entries, in manifest order (entries that resolved to nothing are left out).
    pub entries: Vec<AllowedHost>,
}

impl AllowedHosts {
    /// Reads `[component.ID].allowed_outbound_hosts` from the manifest text: the component named
    /// `component`, else the only one. `variable(name)` is the variable's value from a provider
    /// (see [`env_variable`]); a variable without one takes its `default`.
    pub fn from_manifest(
        text: &str,
        component: Option<&str>,
        variable: &dyn Fn(&str) -> Option<String>,
    ) -> Result<AllowedHosts, String> {
        let manifest: toml::Table = text.parse().map_err(|e| format!("not TOML: {e}"))?;
        let components = manifest
            .get("component")
            .and_then(toml::Value::as_table)
            .ok_or("no [component.*] section")?;
        let (id, table) = match component {
            Some(id) => (
                id,
                components
                    .get(id)
                    .ok_or_else(|| format!("no [component.{id}]"))?,
            ),
            None if components.len() == 1 => components
                .iter()
                .next()
                .map(|(id, table)| (id.as_str(), table))
                .ok_or("no component")?,
            None => {
                return Err(format!(
                    "{} components: name one ({})",
                    components.len(),
                    components.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            }
        };
        let hosts = match table.get("allowed_outbound_hosts") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or("allowed_outbound_hosts: not a string"))
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => return Err("allowed_outbound_hosts: not an array".into()),
        };
        let variables = manifest.get("variables").and_then(toml::Value::as_table);
        let value_of = |name: &str| -> Result<String, String> {
            if let Some(value) = variable(name) {
                return Ok(value);
            }
            let declared = variables
                .and_then(|v| v.get(name))
                .ok_or_else(|| format!("variable {name:?} is not declared in [variables]"))?;
            declared
                .get("default")
                .and_then(toml::Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    format!(
                        "variable {name:?} has no default: set SPIN_VARIABLE_{}",
                        name.to_ascii_uppercase()
                    )
                })
        };
        if hosts == ["insecure:allow-all"] {
            return Err("'insecure:allow-all' is not allowed - use '*://*:*'".into());
        }
        let mut entries = Vec::new();
        for host in hosts {
            let resolved = resolve(host, &value_of)?;
            let templated = resolved != host;
            if templated && matches!(resolved.as_str(), "" | "http://" | "https://") {
                continue;
            }
            entries.push(AllowedHost::parse(&resolved)?);
        }
        Ok(AllowedHosts {
            component: id.to_owned(),
            entries,
        })
    }

    /// Whether Spin lets the component send a request to `url` (an absolute URL).
    pub fn allows(&self, url: &str) -> bool {
        url::Url::parse(url).is_ok_and(|url| self.entries.iter().any(|e| e.allows(&url)))
    }

    /// The entries as written, for messages: `["http://127.0.0.1:*", "https://*:*"]`.
    pub fn listed(&self) -> String {
        let quoted: Vec<String> = self
            .entries
            .iter()
            .map(|e| format!("{:?}", e.as_str()))
            .collect();
        format!("[{}]", quoted.join(", "))
    }
}

/// Expands `{{ name }}` with `value_of(name)` (spin-expressions' template syntax).
fn resolve(
    template: &str,
    value_of: &dyn Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let (name, tail) = after
            .split_once("}}")
            .ok_or_else(|| format!("{template:?}: unmatched '{{{{' in template"))?;
        out.push_str(&value_of(name.trim())?);
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// A variable's value from the environment, as Spin's default provider reads it:
/// `SPIN_VARIABLE_` and the name in upper case.
pub fn env_variable(name: &str) -> Option<String> {
    std::env::var(format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, url: &str) -> bool {
        let entry = AllowedHost::parse(entry).unwrap();
        entry.allows(&url::Url::parse(url).unwrap())
    }

    #[test]
    fn hosts_ports_and_schemes_match_as_in_spin() {
        // The repository's spin.toml.
        assert!(allows("http://127.0.0.1:*", "http://127.0.0.1:8081/x"));
        assert!(allows("http://127.0.0.1:*", "http://127.0.0.1/"));
        assert!(!allows("http://127.0.0.1:*", "http://localhost:8081/"));
        assert!(!allows("http://127.0.0.1:*", "https://127.0.0.1:8081/"));
        assert!(allows("https://*:*", "https://login.example/jwks"));
        assert!(allows("https://*:*", "https://10.1.2.3:8443/"));
        assert!(!allows("https://*:*", "http://login.example/"));
        // Default ports, explicit ports, ranges (end excluded).
        assert!(allows("https://login.example", "https://login.example/"));
        assert!(allows(
            "https://login.example",
            "https://login.example:443/"
        ));
        assert!(!allows(
            "https://login.example",
            "https://login.example:8443/"
        ));
        assert!(allows("http://h:8000..8002", "http://h:8001/"));
        assert!(!allows("http://h:8000..8002", "http://h:8002/"));
        // Subdomain wildcards do not cover the domain itself; names are case-insensitive.
        assert!(allows("https://*.example.com", "https://a.b.EXAMPLE.com/"));
        assert!(!allows("https://*.example.com", "https://example.com/"));
        // Addresses and blocks, IPv6 with or without brackets.
        assert!(allows("http://10.0.0.0/8:*", "http://10.9.8.7:1/"));
        assert!(!allows("http://10.0.0.0/8:*", "http://11.0.0.1:1/"));
        assert!(allows("http://[::1]:8080", "http://[::1]:8080/"));
        assert!(allows("http://::1", "http://[::1]/"));
        assert!(allows("*://*:*", "http://anything:1/"));
        // `self` is for relative requests only.
        assert!(!allows("http://self", "http://self/"));
    }

    #[test]
    fn bad_entries_are_refused_like_spin_refuses_them() {
        for bad in [
            "127.0.0.1",
            "*",
            "ftp://h",
            "http://h:x",
            "http://h:80/path",
            "http://*h:80",
            "http://a.*.b:80",
            "h2c://h:80",
            "{http,https}://h:80",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_component_and_its_variables() {
        let manifest = r#"
            spin_manifest_version = 2
            [application]
            name = "app"
            [variables]
            as_host = { default = "as.example" }
            origin = { required = true }
            optional = { default = "" }
            [component.gw]
            source = "gw.wasm"
            allowed_outbound_hosts = ["https://{{ as_host }}", "http://{{origin}}:*", "{{ optional }}"]
        "#;
        let none = |_: &str| None;
        let err = AllowedHosts::from_manifest(manifest, None, &none).unwrap_err();
        assert!(err.contains("SPIN_VARIABLE_ORIGIN"), "{err}");
        let origin = |name: &str| (name == "origin").then(|| "127.0.0.1".to_owned());
        let hosts = AllowedHosts::from_manifest(manifest, None, &origin).unwrap();
        assert_eq!(hosts.component, "gw");
        assert_eq!(hosts.entries.len(), 2, "the empty variable is skipped");
        assert!(hosts.allows("https://as.example/introspect"));
        assert!(hosts.allows("http://127.0.0.1:9/"));
        assert!(!hosts.allows("http://localhost:9/"));
        assert_eq!(
            hosts.listed(),
            r#"["https://as.example", "http://127.0.0.1:*"]"#
        );
        assert!(AllowedHosts::from_manifest(manifest, Some("other"), &origin).is_err());
    }

    #[test]
    fn the_repository_manifest_allows_loopback_by_address_and_any_https() {
        let text = include_str!("../../spin.toml");
        let hosts = AllowedHosts::from_manifest(text, None, &|_| None).unwrap();
        assert_eq!(hosts.component, "edgeward");
        assert!(hosts.allows("http://127.0.0.1:8081/"));
        assert!(!hosts.allows("http://localhost:8081/"));
        assert!(hosts.allows("https://login.example/jwks"));
    }
}
