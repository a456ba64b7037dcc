//! edgeward-spin-host: serves a wasi:http 0.2 proxy component the way Spin does, for edgeward's
//! tests, demo and benchmarks where the Spin CLI is not available: a fresh instance for every
//! request, environment variables, outbound HTTP, the guest's stdout/stderr passed through, and
//! a `wasi:keyvalue` store shared by every request of the process (see `keyvalue.rs`).
//!
//! ```text
//! edgeward-spin-host [--addr 127.0.0.1:8080] [--env NAME[=VALUE]]... [--key-value-store default]
//!                    [--no-compile-cache] COMPONENT.wasm
//! ```

mod keyvalue;
mod options;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use keyvalue::SharedStore;
use options::Options;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::error::Context;
use wasmtime::{bail, Result};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

type Response = hyper::Response<HyperOutgoingBody>;

/// What one request's instance owns.
struct Instance {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    store: SharedStore,
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
            hooks: Default::default(),
        }
    }
}

/// What every request shares: the pre-linked component, its environment and the store.
struct Server {
    pre: ProxyPre<Instance>,
    env: Vec<(String, String)>,
    store: SharedStore,
}

fn main() -> Result<()> {
    let options = Options::parse(std::env::args().skip(1), |name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(options))
}

async fn serve(options: Options) -> Result<()> {
    let server = Arc::new(load(&options)?);
    let listener = TcpListener::bind(options.addr)
        .await
        .with_context(|| format!("cannot listen on {}", options.addr))?;
    eprintln!("Serving HTTP on http://{}/", listener.local_addr()?);
    loop {
        let (client, _) = listener.accept().await?;
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let server = server.clone();
                async move { Ok::<_, std::convert::Infallible>(server.handle(request).await) }
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

/// Compiles the component (through wasmtime's compile cache unless disabled) and links it.
fn load(options: &Options) -> Result<Server> {
    let mut config = wasmtime::Config::new();
    if options.compile_cache {
        config.cache(Some(wasmtime::Cache::from_file(None)?));
    }
    let engine = Engine::new(&config)?;
    let component = Component::from_file(&engine, &options.component)
        .with_context(|| format!("cannot load {}", options.component.display()))?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    keyvalue::add_to_linker(&mut linker, |instance: &mut Instance| &instance.store)?;
    let pre = linker
        .instantiate_pre(&component)
        .context("the component imports something this host does not offer")?;
    Ok(Server {
        pre: ProxyPre::new(pre)?,
        env: options.env.clone(),
        store: SharedStore::new(options.key_value_store),
    })
}

impl Server {
    /// Serves one request in a fresh instance; a guest that traps or never answers is a 500.
    async fn handle(&self, request: hyper::Request<hyper::body::Incoming>) -> Response {
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
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stdout().inherit_stderr();
        for (name, value) in &self.env {
            wasi.env(name, value);
        }
        Instance {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            store: self.store.clone(),
        }
    }
}
