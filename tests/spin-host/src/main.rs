//! edgeward-spin-host: serves a wasi:http 0.2 proxy component the way Spin does, for edgeward's
//! tests, demo and benchmarks where the Spin CLI is not available: a fresh instance for every
//! request, environment variables, outbound HTTP, the guest's stdout/stderr passed through, and
//! a `wasi:keyvalue` store shared by every request of the process (see `keyvalue.rs`).
//!
//! Where Spin is stricter than a bare wasi:http host, so is this one:
//! - **Outbound hosts.** With `--manifest spin.toml`, a request to a host the component's
//!   `allowed_outbound_hosts` does not allow fails with `HTTP-request-denied`, matched by Spin's
//!   rules (`spin_manifest.rs`, shared with `edgeward config check --spin-manifest`), and is
//!   reported on stderr as Spin reports it.
//! - **Spin's request fields.** Like Spin's HTTP trigger, every request reaches the component
//!   with `spin-full-url`, `spin-path-info`, `spin-matched-route`, `spin-base-path`,
//!   `spin-raw-component-route`, `spin-component-route` and `spin-client-addr` appended after the
//!   client's own fields (which may include `spin-*` ones), for the one route this host serves,
//!   `/...`.
//! - **A store that is down** (`--key-value-outage MS`): see `keyvalue.rs`.
//!
//! Instances come from wasmtime's pooling allocator where the address space allows it, as in
//! Spin's runtime and `wasmtime serve` (`--no-pooling`: allocated on demand per request).
//!
//! ```text
//! edgeward-spin-host [--addr 127.0.0.1:8080] [--env NAME[=VALUE]]... [--manifest spin.toml
//!                    [--component ID]] [--key-value-store default] [--key-value-outage MS]
//!                    [--no-compile-cache] [--no-pooling] COMPONENT.wasm
//! edgeward-spin-host preinit IN.wasm OUT.wasm [--env NAME[=VALUE]]...
//! ```
//!
//! `preinit` pre-initialises a component at build time (`preinit.rs`).
//!
//! Profiling: with `EDGEWARD_SPIN_HOST_PERFMAP=1` in its environment the host writes
//! `/tmp/perf-PID.map` (wasmtime's perf map), so `perf report` names the component's functions.

mod keyvalue;
mod options;
mod preinit;
#[path = "../../../cli/src/spin_manifest.rs"]
mod spin_manifest;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use keyvalue::SharedStore;
use options::Options;
use spin_manifest::AllowedHosts;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{bail, Result};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

type Response = hyper::Response<HyperOutgoingBody>;

/// The route this host serves every request on, as a `[[trigger.http]] route` of Spin.
const ROUTE: &str = "/...";

/// What one request's instance owns.
struct Instance {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    store: SharedStore,
    outbound: Outbound,
}

impl WasiView for Instance {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Instance {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Outgoing requests as Spin sends them: only to the hosts the manifest allows (`None`: any).
struct Outbound {
    allowed: Option<Arc<AllowedHosts>>,
}

impl WasiHttpHooks for Outbound {
    /// Spin's `allowed_outbound_hosts` check (`factor-outbound-http`'s `prepare_request`): a
    /// request to another host fails with `HTTP-request-denied`, reported as Spin reports it.
    fn send_request(
        &mut self,
        request: hyper::Request<WasiBody>,
        options: Option<RequestOptions>,
        _: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        hyper::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let url = request.uri().to_string();
        if let Some(allowed) = &self.allowed {
            if !allowed.allows(&url) {
                let uri = request.uri();
                let destination = format!(
                    "{}://{}",
                    uri.scheme_str().unwrap_or("https"),
                    uri.authority().map_or("", |a| a.as_str())
                );
                eprintln!(
                    "WARNING: A component tried to make an outbound network connection to disallowed destination '{destination}'.\n\
                     To allow this request, add 'allowed_outbound_hosts = [\"{destination}\"]' to the manifest component section."
                );
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            }
        }
        Box::new(async move {
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            let io: Box<dyn Future<Output = _> + Send> = Box::new(io);
            Ok((response.map(BodyExt::boxed_unsync), io))
        })
    }
}

/// What every request shares: the pre-linked component, its environment, the store and the
/// manifest's outbound rule.
struct Server {
    pre: ProxyPre<Instance>,
    env: Vec<(String, String)>,
    store: SharedStore,
    allowed: Option<Arc<AllowedHosts>>,
}

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let host_env = |name: &str| std::env::var(name).ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if args.peek().map(String::as_str) == Some("preinit") {
        return runtime.block_on(preinit::run(args.skip(1), host_env));
    }
    let options = Options::parse(args, host_env)?;
    runtime.block_on(serve(options))
}

/// Links what the component may import: WASI 0.2, wasi:http and the key-value store.
fn link(linker: &mut Linker<Instance>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    keyvalue::add_to_linker(linker, |instance: &mut Instance| &instance.store)
}

async fn serve(options: Options) -> Result<()> {
    let server = Arc::new(load(&options)?);
    let listener = TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    eprintln!("Serving HTTP on http://{}/", listener.local_addr()?);
    loop {
        let (client, client_addr) = listener.accept().await?;
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move {
                    Ok::<_, std::convert::Infallible>(server.handle(request, client_addr).await)
                }
            });
            let connection = http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(client), service);
            if let Err(error) = connection.await {
                eprintln!("edgeward-spin-host: connection error: {error}");
            }
        });
    }
}

/// The pool Spin's runtime and `wasmtime serve` allocate instances from (their default where the
/// address space allows it): slots for 1,000 instances, each memory, table and stack made once
/// and reused, memories initialised copy-on-write from the module's image.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1_000)
        .total_core_instances(1_000)
        .total_memories(1_000)
        .total_tables(1_000)
        .total_stacks(1_000);
    pool
}

/// Whether the pool's virtual memory fits: the probe Spin and `wasmtime serve` use, a memory that
/// reserves 2^42 bytes (1,000 slots of a few GiB each).
fn pooling_fits() -> bool {
    let mut config = wasmtime::Config::new();
    config.wasm_memory64(true);
    config.memory_reservation(1 << 42);
    let Ok(engine) = Engine::new(&config) else {
        return false;
    };
    let mut store = Store::new(&engine, ());
    let probe = wasmtime::MemoryType::new64(0, Some(1 << (42 - 16)));
    wasmtime::Memory::new(&mut store, probe).is_ok()
}

/// Compiles the component (through wasmtime's compile cache unless disabled) and links it.
fn load(options: &Options) -> Result<Server> {
    let mut config = wasmtime::Config::new();
    if std::env::var_os("EDGEWARD_SPIN_HOST_PERFMAP").is_some_and(|v| v == "1") {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if options.compile_cache {
        config.cache(Some(wasmtime::Cache::from_file(None)?));
    }
    if options.pooling && pooling_fits() {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool()));
    }
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &options.wasm)
        .with_context(|| format!("cannot load {}", options.wasm.display()))?;
    let mut linker = Linker::new(&engine);
    link(&mut linker)?;
    let pre = linker
        .instantiate_pre(&component)
        .context("the component imports something this host does not offer")?;
    let allowed = match &options.manifest {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let allowed = AllowedHosts::from_manifest(
                &text,
                options.component.as_deref(),
                &spin_manifest::env_variable,
            )
            .map_err(|e| wasmtime::format_err!("{}: {e}", path.display()))?;
            eprintln!(
                "edgeward-spin-host: component {} may call {} ({})",
                allowed.component,
                allowed.listed(),
                path.display()
            );
            Some(Arc::new(allowed))
        }
    };
    Ok(Server {
        pre: ProxyPre::new(pre)?,
        env: options.env.clone(),
        store: SharedStore::new(options.key_value_store, options.key_value_outage),
        allowed,
    })
}

/// Appends the fields Spin's HTTP trigger gives every request (`compute_default_headers` in
/// Spin's `trigger-http/src/headers.rs`), for a match of [`ROUTE`], after the client's own.
fn add_spin_fields(request: &mut hyper::Request<hyper::body::Incoming>, client: SocketAddr) {
    let path = request.uri().path().to_owned();
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or_else(|| path.clone(), |p| p.as_str().to_owned());
    let host = request
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let prefix = ROUTE.strip_suffix("/...").unwrap_or(ROUTE);
    let fields = [
        (
            "spin-path-info",
            path.strip_prefix(prefix).unwrap_or(&path).to_owned(),
        ),
        ("spin-full-url", format!("http://{host}{path_and_query}")),
        ("spin-matched-route", ROUTE.to_owned()),
        ("spin-base-path", "/".to_owned()),
        ("spin-raw-component-route", ROUTE.to_owned()),
        ("spin-component-route", prefix.to_owned()),
        ("spin-client-addr", client.to_string()),
    ];
    for (name, value) in fields {
        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
            request.headers_mut().append(name, value);
        }
    }
}

impl Server {
    /// Serves one request in a fresh instance; a guest that traps or never answers is a 500.
    async fn handle(
        &self,
        mut request: hyper::Request<hyper::body::Incoming>,
        client: SocketAddr,
    ) -> Response {
        add_spin_fields(&mut request, client);
        match self.run(request).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("edgeward-spin-host: request failed: {error:?}");
                let body = Full::new(Bytes::from_static(b"internal error\n"));
                let mut response = hyper::Response::new(body.map_err(Into::into).boxed_unsync());
                *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }

    async fn run(&self, request: hyper::Request<hyper::body::Incoming>) -> Result<Response> {
        let mut store = Store::new(self.pre.engine(), self.instance());
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();
        // The guest keeps running after it has sent the head (it streams the body), so it runs
        // in its own task while the head goes back to hyper.
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, out)
                .await
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => bail!("the guest answered with an error: {code:?}"),
            Err(_) => match task.await? {
                Ok(()) => bail!("the guest returned without a response"),
                Err(trap) => Err(trap.context("the guest failed before responding")),
            },
        }
    }

    fn instance(&self) -> Instance {
        Instance::new(&self.env, self.allowed.clone(), self.store.clone())
    }
}

impl Instance {
    /// An instance's state: `env`, stdout and stderr passed through, the outbound rule, the store.
    fn new(
        env: &[(String, String)],
        allowed: Option<Arc<AllowedHosts>>,
        store: SharedStore,
    ) -> Instance {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        for (name, value) in env {
            wasi.env(name, value);
        }
        Instance {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            store,
            outbound: Outbound { allowed },
        }
    }
}
