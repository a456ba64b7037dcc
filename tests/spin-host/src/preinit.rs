//! `edgeward-spin-host preinit IN.wasm OUT.wasm [--env NAME[=VALUE]]...`: pre-initialises a
//! component with wasmtime's wizer. The component is instantiated once with the given
//! environment (and this host's other imports, which it must not use), its
//! `wizer-initialize` export runs, and the memory and globals it leaves become OUT's initial
//! state; the export is gone from OUT. The component's answer (what it kept) is printed.

use super::keyvalue::SharedStore;
use super::Instance;
use wasmtime::component::{Component, Linker, Val};
use wasmtime::error::Context;
use wasmtime::{bail, Engine, Result, Store};
use wasmtime_wizer::Wizer;

const USAGE: &str = "usage: edgeward-spin-host preinit IN.wasm OUT.wasm [--env NAME[=VALUE]]...";

/// Runs `preinit` with its arguments (after the word `preinit`).
pub async fn run(
    args: impl IntoIterator<Item = String>,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let (paths, env) = parse(args, host_env)?;
    let [input, output] = paths;
    let wasm = std::fs::read(&input).with_context(|| format!("cannot read {input}"))?;
    let engine = Engine::new(&wasmtime::Config::new())?;
    let mut linker = Linker::new(&engine);
    super::link(&mut linker)?;
    let mut store = Store::new(
        &engine,
        Instance::new(&env, None, SharedStore::new(false, None)),
    );
    let mut wizer = Wizer::new();
    wizer.init_func("wizer-initialize()");
    let (snapshot, answer) = wizer
        .run_component(
            &mut store,
            &wasm,
            async |store: &mut Store<Instance>, component: &Component| {
                linker.instantiate_async(store, component).await
            },
        )
        .await
        .with_context(|| format!("pre-initialising {input}"))?;
    std::fs::write(&output, snapshot).with_context(|| format!("cannot write {output}"))?;
    match answer.as_slice() {
        [Val::String(said)] => println!("{said}"),
        _ => println!("pre-initialised"),
    }
    Ok(())
}

/// Environment variables, `NAME` → value.
type Env = Vec<(String, String)>;

/// `IN OUT` and the `--env` options.
fn parse(
    args: impl IntoIterator<Item = String>,
    host_env: impl Fn(&str) -> Option<String>,
) -> Result<([String; 2], Env)> {
    let mut args = args.into_iter();
    let (mut paths, mut env) = (Vec::new(), Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--env" => {
                let value = args.next().context("--env needs a value")?;
                env.push(super::options::name_value(&value, &host_env)?);
            }
            _ if arg.starts_with('-') => bail!("unexpected argument '{arg}'\n{USAGE}"),
            _ => paths.push(arg),
        }
    }
    match <[String; 2]>::try_from(paths) {
        Ok(paths) => Ok((paths, env)),
        Err(_) => bail!("{USAGE}"),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn two_paths_and_the_environment_from_the_host() {
        let host = |name: &str| (name == "EDGEWARD_CONFIG").then(|| "{}".to_owned());
        let (paths, env) = parse(
            args(&["in.wasm", "--env", "EDGEWARD_CONFIG", "out.wasm"]),
            host,
        )
        .expect("parses");
        assert_eq!(paths, ["in.wasm", "out.wasm"]);
        assert_eq!(env, [("EDGEWARD_CONFIG".to_owned(), "{}".to_owned())]);
    }

    #[test]
    fn anything_else_is_refused() {
        let none = |_: &str| None;
        for bad in [
            &["in.wasm"][..],
            &["a", "b", "c"],
            &["a", "b", "--x"],
            &["a", "b", "--env", "UNSET"],
        ] {
            assert!(parse(args(bad), none).is_err(), "{bad:?}");
        }
    }
}
