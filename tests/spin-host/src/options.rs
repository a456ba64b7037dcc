//! Command-line options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use wasmtime::error::Context;
use wasmtime::{bail, Result};

const USAGE: &str = "usage: edgeward-spin-host [--addr HOST:PORT] [--env NAME[=VALUE]]... \
                     [--manifest spin.toml [--component ID]] [--key-value-store default] \
                     [--key-value-outage MS] [--no-compile-cache] [--no-pooling] COMPONENT.wasm";

/// How the host was asked to run.
#[derive(Debug, PartialEq)]
pub struct Options {
    /// Where to listen (default 127.0.0.1:8080).
    pub addr: SocketAddr,
    /// Environment variables every instance sees. `--env NAME` takes the value NAME has in the
    /// host's own environment, so a secret need not be on the command line (`ps` shows that).
    pub env: Vec<(String, String)>,
    /// The Spin manifest whose `allowed_outbound_hosts` the component's outbound requests must
    /// pass, as on Spin; `None`: not restricted.
    pub manifest: Option<PathBuf>,
    /// The manifest's component (default: its only one).
    pub component: Option<String>,
    /// Whether the component may open the "default" key-value store.
    pub key_value_store: bool,
    /// The store is down: every call waits this long, then fails (`keyvalue.rs`).
    pub key_value_outage: Option<Duration>,
    /// Whether compiled code goes through wasmtime's cache (~/.cache/wasmtime).
    pub compile_cache: bool,
    /// Whether instances come from wasmtime's pooling allocator when the machine's address space
    /// allows it, as in Spin and `wasmtime serve` (`--no-pooling`: allocated on demand).
    pub pooling: bool,
    /// The component to serve.
    pub wasm: PathBuf,
}

impl Options {
    /// Parses the arguments; `--env NAME` looks NAME up with `host_env`.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        host_env: impl Fn(&str) -> Option<String>,
    ) -> Result<Options> {
        let mut args = args.into_iter();
        let mut addr = SocketAddr::from(([127, 0, 0, 1], 8080));
        let (mut env, mut key_value_store, mut compile_cache) = (Vec::new(), false, true);
        let mut pooling = true;
        let (mut manifest, mut component, mut key_value_outage, mut wasm) =
            (None, None, None, None);
        while let Some(arg) = args.next() {
            let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--addr" => {
                    addr = value()?
                        .parse::<SocketAddr>()
                        .context("--addr wants HOST:PORT")?
                }
                "--env" => env.push(name_value(&value()?, &host_env)?),
                "--manifest" => manifest = Some(PathBuf::from(value()?)),
                "--component" => component = Some(value()?),
                "--key-value-store" => match value()?.as_str() {
                    super::keyvalue::DEFAULT_STORE => key_value_store = true,
                    other => bail!("no key-value store '{other}': this host has only 'default'"),
                },
                "--key-value-outage" => {
                    let ms = value()?
                        .parse::<u64>()
                        .context("--key-value-outage wants milliseconds")?;
                    key_value_outage = Some(Duration::from_millis(ms));
                }
                "--no-compile-cache" => compile_cache = false,
                "--no-pooling" => pooling = false,
                "-h" | "--help" => bail!("{USAGE}"),
                _ if arg.starts_with('-') || wasm.is_some() => {
                    bail!("unexpected argument '{arg}'\n{USAGE}")
                }
                _ => wasm = Some(PathBuf::from(arg)),
            }
        }
        if component.is_some() && manifest.is_none() {
            bail!("--component needs --manifest");
        }
        Ok(Options {
            addr,
            env,
            manifest,
            component,
            key_value_store,
            key_value_outage,
            compile_cache,
            pooling,
            wasm: wasm.context(USAGE)?,
        })
    }
}

/// `NAME=VALUE`, or `NAME` alone for the value NAME has in the host's environment.
pub fn name_value(
    arg: &str,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<(String, String)> {
    match arg.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        None if !arg.is_empty() => match host_env(arg) {
            Some(value) => Ok((arg.to_owned(), value)),
            None => bail!("--env {arg}: {arg} is not set in the host's environment"),
        },
        _ => bail!("--env wants NAME=VALUE or NAME, got '{arg}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        let host_env = |name: &str| (name == "SECRET").then(|| "from the host".to_owned());
        Options::parse(args.iter().map(|a| (*a).to_owned()), host_env)
    }

    #[test]
    fn every_option() {
        let options = parse(&[
            "--addr",
            "127.0.0.1:9",
            "--env",
            "A=x=y",
            "--env",
            "B=",
            "--env",
            "SECRET",
            "--manifest",
            "spin.toml",
            "--component",
            "gw",
            "--key-value-store",
            "default",
            "--key-value-outage",
            "1500",
            "--no-compile-cache",
            "--no-pooling",
            "app.wasm",
        ])
        .unwrap();
        assert_eq!(
            options,
            Options {
                addr: "127.0.0.1:9".parse().unwrap(),
                env: vec![
                    ("A".into(), "x=y".into()),
                    ("B".into(), String::new()),
                    ("SECRET".into(), "from the host".into()),
                ],
                manifest: Some("spin.toml".into()),
                component: Some("gw".into()),
                key_value_store: true,
                key_value_outage: Some(Duration::from_millis(1500)),
                compile_cache: false,
                pooling: false,
                wasm: "app.wasm".into(),
            }
        );
    }

    #[test]
    fn the_store_is_opt_in_and_only_default() {
        assert!(!parse(&["app.wasm"]).unwrap().key_value_store);
        assert!(parse(&["--key-value-store", "other", "app.wasm"]).is_err());
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--env", "UNSET", "app.wasm"]).is_err());
        assert!(parse(&["--env", "", "app.wasm"]).is_err());
        assert!(parse(&["--env", "=x", "app.wasm"]).is_err());
        assert!(parse(&["--addr"]).is_err());
        assert!(parse(&["a.wasm", "b.wasm"]).is_err());
        assert!(parse(&["--verbose", "a.wasm"]).is_err());
        assert!(parse(&["--component", "gw", "a.wasm"]).is_err());
        assert!(parse(&["--key-value-outage", "soon", "a.wasm"]).is_err());
    }
}
