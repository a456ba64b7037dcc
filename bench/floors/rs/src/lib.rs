//! Benchmark floor F.rs (issue #19): what workers-rs and wasm-bindgen cost on their own. The
//! request enters through `#[event(fetch)]` as workers-rs types, the origin URL is built from the
//! `ORIGIN` variable and the request's path and query, and the origin's response goes back as it
//! came. Nothing of edgeward's runs.

use worker::{event, Context, Env, Fetch, Request, Response, Result, Url};

#[event(fetch)]
async fn fetch(request: Request, env: Env, _ctx: Context) -> Result<Response> {
    let origin = env.var("ORIGIN")?.to_string();
    let url = request.url()?;
    let mut target = Url::parse(&origin)?;
    target.set_path(url.path());
    target.set_query(url.query());
    Fetch::Url(target).send().await
}
