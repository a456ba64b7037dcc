//! The shared cache tier on Workers: the Cache API (`caches.default`), shared by every isolate in
//! a Cloudflare location. Keys become synthetic URLs on a reserved host; entries expire through
//! `Cache-Control: max-age`. A failing cache is a miss, never an error: the core then asks the
//! authorization server.

/// Synthetic origin for cache keys; never fetched.
const KEY_ORIGIN: &str = "https://edgeward-cache.invalid/";

/// The synthetic URL an entry is stored under.
fn key_url(key: &str) -> String {
    format!("{KEY_ORIGIN}{key}")
}

/// The entry's `Cache-Control`, from its absolute expiry and the request's clock reading: the
/// Cache API takes a lifetime. `None` when it has already expired (nothing is stored).
fn cache_control(expires: u64, now: u64) -> Option<String> {
    let ttl = expires.checked_sub(now).filter(|ttl| *ttl > 0)?;
    Some(format!("max-age={ttl}"))
}

pub async fn get(key: &str) -> Option<Vec<u8>> {
    crate::glue::cache_read(&key_url(key)).await
}

/// Stores `value` until `expires` (Unix seconds), `now` being the request's clock reading.
pub async fn put(key: &str, value: Vec<u8>, expires: u64, now: u64) {
    let Some(cache_control) = cache_control(expires, now) else {
        return;
    };
    crate::glue::cache_write(&key_url(key), &value, &cache_control).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_on_a_host_that_can_never_resolve() {
        let url = key_url("introspection/abc");
        assert_eq!(url, "https://edgeward-cache.invalid/introspection/abc");
        assert!(url.starts_with("https://") && url.contains(".invalid/"));
    }

    #[test]
    fn an_entry_lives_until_its_expiry_and_an_expired_one_is_not_stored() {
        assert_eq!(cache_control(1_060, 1_000).as_deref(), Some("max-age=60"));
        assert_eq!(cache_control(1_001, 1_000).as_deref(), Some("max-age=1"));
        assert_eq!(cache_control(1_000, 1_000), None);
        assert_eq!(cache_control(999, 1_000), None);
    }
}
