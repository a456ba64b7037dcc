//! `config check`: validates a gateway configuration with the core's own `Config::from_json` and
//! reports `FILE:LINE:COL: field: problem`; with `--spin-manifest`, also every host the
//! configuration calls that the manifest's `allowed_outbound_hosts` does not allow (Spin denies
//! those requests: the gateway answers 502 or 503), matched by Spin's rules (`spin_manifest`).
//!
//! Syntax and type errors carry serde_json's own line and column. Errors found after parsing name
//! a field path (`issuers[0].algorithms[1]`); [`locate`] finds where that value starts in the text
//! with a small position-tracking scan of the (by then known to be well-formed) document.

use crate::spin_manifest::{self, AllowedHosts};
use crate::{failed, files, usage, Failure, Result};
use std::path::Path;

/// Checks `path` (and its hosts against `manifest`'s component `component`, else its only one);
/// prints `ok` or one located line per problem.
pub fn run(path: &Path, manifest: Option<&Path>, component: Option<&str>) -> Result<()> {
    let text = files::read_text(path)?;
    let config = match edgeward::Config::from_json(&text) {
        Ok(config) => config,
        Err(error) => return report(path, &text, &error),
    };
    let Some(manifest) = manifest else {
        println!("{}: ok", path.display());
        return Ok(());
    };
    let allowed = AllowedHosts::from_manifest(
        &files::read_text(manifest)?,
        component,
        &spin_manifest::env_variable,
    )
    .map_err(|e| usage(format!("{}: {e}", manifest.display())))?;
    let mut denied = 0;
    for (field, url) in config.outbound_urls() {
        if allowed.allows(url) {
            continue;
        }
        denied += 1;
        let (line, column) = locate(&text, &field);
        println!(
            "{}:{line}:{column}: {field}: {} is not allowed by {} ([component.{}] allowed_outbound_hosts = {}); Spin denies the request",
            path.display(),
            destination(url),
            manifest.display(),
            allowed.component,
            allowed.listed(),
        );
    }
    if denied > 0 {
        return Err(failed(String::new()));
    }
    println!(
        "{}: ok (every host allowed by {})",
        path.display(),
        manifest.display()
    );
    Ok(())
}

/// `config bake`: checks `path` as [`run`] does (errors reported the same way), then writes the
/// configuration as Rust code to `out` ([`edgeward::Config::bake`]). The file holds the whole
/// text: it is as private as the configuration (mode 0600).
pub fn bake(path: &Path, out: &Path) -> Result<()> {
    let text = files::read_text(path)?;
    let config = match edgeward::Config::from_json(&text) {
        Ok(config) => config,
        Err(error) => return report(path, &text, &error),
    };
    files::write_private(out, config.bake(&text).as_bytes())?;
    println!("{}: baked into {}", path.display(), out.display());
    Ok(())
}

/// `scheme://host[:port]` of a URL, as Spin names a destination it denies.
fn destination(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => match (parsed.host_str(), parsed.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}", parsed.scheme()),
            (Some(host), None) => format!("{}://{host}", parsed.scheme()),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// Prints a configuration error at its position.
fn report(path: &Path, text: &str, error: &edgeward::ConfigError) -> Result<()> {
    // Deserializing again directly gives serde_json's structured position for syntax/type errors.
    let (line, column, problem) = match serde_json::from_str::<edgeward::Config>(text) {
        Err(e) if e.line() > 0 => {
            let suffix = format!(" at line {} column {}", e.line(), e.column());
            let message = e.to_string();
            let problem = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
            (e.line(), e.column(), problem)
        }
        _ => {
            let (line, column) = locate(text, &error.field);
            (line, column, error.message.clone())
        }
    };
    let field = if error.field.is_empty() {
        String::new()
    } else {
        format!("{}: ", error.field)
    };
    println!("{}:{line}:{column}: {field}{problem}", path.display());
    Err(Failure::Failed(String::new()))
}

/// The 1-based line and column where the value at `field` starts; for a path that is not in the
/// document (a defaulted field), the nearest enclosing value that is; `(1, 1)` for the document.
pub fn locate(text: &str, field: &str) -> (usize, usize) {
    let mut scan = Scan {
        text: text.as_bytes(),
        pos: 0,
        found: Vec::new(),
    };
    // A scan failure only means a position is unknown: fall back to what was found.
    let _ = scan.value(String::new());
    let mut path = field;
    loop {
        if let Some((_, offset)) = scan.found.iter().find(|(p, _)| p == path) {
            return line_column(text, *offset);
        }
        match path.rfind(['.', '[']) {
            Some(cut) => path = &path[..cut],
            None => return (1, 1),
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Walks a JSON document, recording the byte offset where each value starts, keyed by the path
/// syntax of `serde_path_to_error` (`a.b[0].c`).
struct Scan<'a> {
    text: &'a [u8],
    pos: usize,
    found: Vec<(String, usize)>,
}

type Scanned = std::result::Result<(), Failure>;

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Scanned {
        self.skip_ws();
        if self.peek() != Some(byte) {
            return Err(failed("unexpected JSON"));
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, path: String) -> Scanned {
        self.skip_ws();
        self.found.push((path.clone(), self.pos));
        match self.peek() {
            Some(b'{') => self.object(&path),
            Some(b'[') => self.array(&path),
            Some(b'"') => self.string().map(|_| ()),
            Some(_) => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
                ) {
                    self.pos += 1;
                }
                Ok(())
            }
            None => Err(failed("unexpected end of JSON")),
        }
    }

    fn object(&mut self, path: &str) -> Scanned {
        self.expect(b'{')?;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.expect(b':')?;
            let child = if path.is_empty() {
                key
            } else {
                format!("{path}.{key}")
            };
            self.value(child)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(failed("unexpected JSON")),
            }
        }
    }

    fn array(&mut self, path: &str) -> Scanned {
        self.expect(b'[')?;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        for index in 0.. {
            self.value(format!("{path}[{index}]"))?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(failed("unexpected JSON")),
            }
        }
        Ok(())
    }

    /// A string token, decoded by serde_json (escapes included).
    fn string(&mut self) -> std::result::Result<String, Failure> {
        let start = self.pos;
        if self.peek() != Some(b'"') {
            return Err(failed("expected a string"));
        }
        self.pos += 1;
        loop {
            match self.peek() {
                Some(b'\\') => self.pos += 2,
                Some(b'"') => break,
                Some(_) => self.pos += 1,
                None => return Err(failed("unterminated string")),
            }
        }
        self.pos += 1;
        let raw = self.text.get(start..self.pos).unwrap_or_default();
        serde_json::from_slice(raw).map_err(|_| failed("bad string"))
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    const DOC: &str = "{\n  \"origin\": \"http://o\",\n  \"issuers\": [\n    {\n      \"issuer\": \"a\\\"b\",\n      \"algorithms\": [\"ES256\",\n        \"HS256\"],\n      \"x5c\": {}\n    }\n  ]\n}\n";

    #[test]
    fn finds_nested_paths() {
        assert_eq!(locate(DOC, "origin"), (2, 13));
        assert_eq!(locate(DOC, "issuers[0]"), (4, 5));
        assert_eq!(locate(DOC, "issuers[0].issuer"), (5, 17));
        assert_eq!(locate(DOC, "issuers[0].algorithms[1]"), (7, 9));
        assert_eq!(locate(DOC, "issuers[0].x5c"), (8, 14));
    }

    #[test]
    fn missing_paths_fall_back_to_the_enclosing_value() {
        assert_eq!(locate(DOC, "issuers[0].jwks_cache"), (4, 5));
        assert_eq!(locate(DOC, "issuers[3].x"), (3, 14));
        assert_eq!(locate(DOC, ""), (1, 1));
        assert_eq!(locate("not json", "a.b"), (1, 1));
    }
}
