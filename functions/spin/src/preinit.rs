//! Build-time pre-initialisation (issue #19). A Spin instance serves one request, so without this
//! every request parses the configuration, the compiled-in trust anchors and any embedded Rego
//! policy again. `scripts/build spin` instead runs the component's `wizer-initialize` export once,
//! in the Spin test host (wasmtime's wizer), with the configuration the build is given, and keeps
//! the memory it leaves as the component's initial memory: every instance starts with the gateway
//! loaded. wizer removes the export afterwards, so the component Spin runs has the same world.
//!
//! Used only when it is certainly the same gateway:
//! - the configuration an instance reads (`EDGEWARD_CONFIG`) is byte for byte the build's;
//! - the configuration names no platform secret: loading it asked for none. A configuration that
//!   does is loaded per instance, as before, so no secret is ever in the artefact.
//!
//! Otherwise the instance loads its configuration itself. What the snapshot fixes for every
//! instance: the loaded configuration, and the keys of Rust's `HashMap`s made while loading
//! (std draws them once per instance; here once per build). Those maps hold configuration and
//! per-instance caches, and an instance serves one request (docs/security.md).
//!
//! The environment is read through `wasi:cli/environment` directly, never `std::env`: wasi-libc
//! keeps the environment it first reads, and a read during the build would be kept in the
//! snapshot in place of each instance's own.

use edgeward::Gateway;
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

/// The gateway loaded at build time, and the configuration text it was loaded from.
struct Loaded {
    config: String,
    gateway: Gateway,
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

/// The build's gateway, when `config` is the configuration it was loaded from.
pub fn gateway(config: Option<&str>) -> Option<&'static Gateway> {
    let loaded = LOADED.with(|loaded| loaded.get().copied())?;
    (Some(loaded.config.as_str()) == config).then_some(&loaded.gateway)
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
        if asked.get() {
            return "not pre-initialised: the configuration names a platform secret".into();
        }
        let loaded: &'static Loaded = Box::leak(Box::new(Loaded { config, gateway }));
        // Set once: the build calls this once.
        let _ = LOADED.with(|cell| cell.set(loaded));
        "pre-initialised: the gateway is loaded from the build's configuration".into()
    }
}

bindings::export!(Component with_types_in bindings);
