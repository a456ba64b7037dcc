//! Build-time pre-initialisation (issue #19). A Spin instance serves one request, so without this
//! every request parses the configuration, the compiled-in trust anchors and any embedded Rego
//! policy again. `scripts/build spin` instead runs the component's `wizer-initialize` export once,
//! in the Spin test host (wasmtime's wizer), with the configuration the build is given, and keeps
//! the memory it leaves as the component's initial memory: every instance starts with the
//! configuration loaded. wizer removes the export afterwards, so the component Spin runs has the
//! same world.
//!
//! What is kept depends on the configuration:
//! - one that names no platform secret: the whole gateway, loaded;
//! - one that does: the configuration parsed and validated
//!   ([`edgeward::Config::for_function`], which never sees a secret), and each instance binds the
//!   secrets from its own environment ([`Gateway::from_parsed`]). Parsing is most of loading
//!   (natively 27 of 29 µs for the bench's configuration). No secret is ever in the artefact.
//!
//! Either is used only when the configuration an instance reads (`EDGEWARD_CONFIG`) is byte for
//! byte the build's; otherwise the instance loads its configuration itself. What the snapshot
//! fixes for every instance: the loaded configuration, and the keys of Rust's `HashMap`s made
//! while loading (std draws them once per instance; here once per build). Those maps hold
//! configuration and per-instance caches, and an instance serves one request (docs/security.md).
//!
//! The environment is read through `wasi:cli/environment` directly, never `std::env`: wasi-libc
//! keeps the environment it first reads, and a read during the build would be kept in the
//! snapshot in place of each instance's own.

use edgeward::{Config, Gateway};
use std::cell::{Cell, OnceCell};

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        inline: "
            package edgeward:preinit;
            world preinit {
                /// Loads the gateway from the build's configuration; says what was kept.
                export wizer-initialize: func() -> string;
            }
        ",
        runtime_path: "::spin_sdk::wit_bindgen::rt",
    });
}

/// What the build kept, and the configuration text it came from.
struct Loaded {
    config: String,
    kept: Kept,
}

/// See the module documentation.
enum Kept {
    /// The gateway of a configuration that names no platform secret.
    Gateway(Box<Gateway>),
    /// A configuration that names platform secrets, parsed; they are bound per instance.
    Parsed(Box<Config>),
}

thread_local! {
    /// Set by `wizer-initialize` at build time; in the snapshot from then on.
    static LOADED: OnceCell<&'static Loaded> = const { OnceCell::new() };
}

/// The instance's environment, read from the host (see the module documentation).
pub struct Environment(Vec<(String, String)>);

impl Environment {
    /// Reads the environment once.
    pub fn read() -> Environment {
        Environment(wasi::cli::environment::get_environment())
    }

    /// The variable `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        let (_, value) = self.0.iter().find(|(n, _)| n == name)?;
        Some(value.clone())
    }
}

/// The gateway for an instance whose configuration is `config`: the build's when `config` is the
/// build's text (its secrets, if it names any, bound now through `secrets`), else `None`.
pub fn gateway(config: Option<&str>, secrets: edgeward::SecretLookup<'_>) -> Option<Found> {
    let loaded = LOADED.with(|loaded| loaded.get().copied())?;
    if Some(loaded.config.as_str()) != config {
        return None;
    }
    Some(match &loaded.kept {
        Kept::Gateway(gateway) => Found::Kept(gateway),
        Kept::Parsed(parsed) => {
            let config = Config::clone(parsed);
            Found::Made(Box::new(Gateway::from_parsed(
                config,
                &loaded.config,
                secrets,
                "spin",
            )))
        }
    })
}

/// An instance's gateway: the snapshot's own, or made for the instance (from the snapshot's
/// parsed configuration, or loaded from the instance's own).
pub enum Found {
    Kept(&'static Gateway),
    Made(Box<Gateway>),
}

impl Found {
    /// The gateway.
    pub fn get(&self) -> &Gateway {
        match self {
            Found::Kept(gateway) => gateway,
            Found::Made(gateway) => gateway,
        }
    }
}

struct Component;

impl bindings::Guest for Component {
    fn wizer_initialize() -> String {
        let Some(config) = Environment::read().get("EDGEWARD_CONFIG") else {
            return "not pre-initialised: EDGEWARD_CONFIG is unset".into();
        };
        let asked = Cell::new(false);
        let secrets = |_: &str| {
            asked.set(true);
            None
        };
        let gateway = Gateway::new(Some(&config), &secrets, "spin");
        let (kept, said) = match (asked.get(), Config::for_function(Some(&config))) {
            (false, _) => (
                Kept::Gateway(Box::new(gateway)),
                "pre-initialised: the gateway is loaded from the build's configuration",
            ),
            (true, Ok((parsed, _))) => (
                Kept::Parsed(Box::new(parsed)),
                "pre-initialised: the configuration is parsed; the platform secrets it names are \
                 bound per instance",
            ),
            // Not reached: secrets are asked for only after the configuration parsed.
            (true, Err(_)) => return "not pre-initialised: the configuration is invalid".into(),
        };
        let loaded: &'static Loaded = Box::leak(Box::new(Loaded { config, kept }));
        // Set once: the build calls this once.
        let _ = LOADED.with(|cell| cell.set(loaded));
        said.into()
    }
}

bindings::export!(Component with_types_in bindings);
