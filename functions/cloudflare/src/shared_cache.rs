//! The shared cache tier on Workers: the Cache API (`caches.default`), shared by every isolate in
//! a Cloudflare location. Keys become synthetic URLs on a reserved host; entries expire through
//! `Cache-Control: max-age`. A failing cache is a miss, never an error: the core then asks the
//! authorization server.

use worker::{Cache, Headers, Response};

/// Synthetic origin for cache keys; never fetched.
const KEY_ORIGIN: &str = "https://edgeward-cache.invalid/";

pub async fn get(key: &str) -> Option<Vec<u8>> {
    let mut response = Cache::default()
        .get(format!("{KEY_ORIGIN}{key}"), true)
        .await
        .ok()??;
    response.bytes().await.ok()
}

pub async fn put(key: &str, value: Vec<u8>, ttl: u64) {
    let headers = Headers::new();
    let _ = headers.set("cache-control", &format!("max-age={ttl}"));
    let Ok(response) = Response::from_bytes(value) else {
        return;
    };
    let _ = Cache::default()
        .put(format!("{KEY_ORIGIN}{key}"), response.with_headers(headers))
        .await;
}
