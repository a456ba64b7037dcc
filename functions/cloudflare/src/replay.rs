//! The shared DPoP replay store for `dpop.replay: "strict"`: a SQLite-backed Durable Object class,
//! [`ReplayStore`], bound as [`BINDING`].
//!
//! One object is single-threaded, so "insert the key unless present" inside one of its requests is
//! atomic for every isolate in every location. Keys are spread over [`SHARDS`] objects by their
//! first byte (a SHA-256 output, so evenly) so that no single object carries all the traffic. Each
//! row expires when its proof stops being accepted (plus [`SLACK_SECONDS`]); every request first
//! deletes the expired rows of its object, so an object holds at most the keys of the proofs it
//! accepted within one acceptance window.
//!
//! The class itself is JavaScript (`ReplayStore` in `src/worker.js`, a `DurableObject`); it reads
//! the request body and calls [`open`] once and [`record`] per check, which decide here.

use crate::glue::sql_exec;
use edgeward::platform::{FetchError, LogLevel};
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

/// The environment binding of the Durable Object namespace.
pub const BINDING: &str = "EDGEWARD_REPLAY";

/// How many objects share the keys. Changing it moves keys to other objects: for one acceptance
/// window after a deploy, a proof seen before the change could be accepted once more.
const SHARDS: u8 = 16;

/// Extra seconds a key is kept: covers the core's whole-second clock and small clock differences
/// between the isolate that checks and the object that stores.
const SLACK_SECONDS: u64 = 5;

/// An answer from the store later than this is a failure (strict mode then answers 503).
const TIMEOUT_MS: u32 = 3000;

/// The object's answers: the key was recorded now, or it was already there.
const FIRST_USE: u16 = 201;
const SEEN: u16 = 409;

/// Asks the key's shard to record `key` for `ttl` seconds: `Ok(true)` on first use, `Ok(false)`
/// when it was recorded before; an error or no answer in time is `Err`.
pub async fn check(namespace: &JsValue, key: &[u8; 32], ttl: u64) -> Result<bool, FetchError> {
    let status =
        crate::glue::replay_ask(namespace, &shard_name(key), &encode(key, ttl), TIMEOUT_MS).await?;
    match status {
        FIRST_USE => Ok(true),
        SEEN => Ok(false),
        _ => Err(FetchError::Unreachable),
    }
}

/// The object's table of keys and their expiry (milliseconds since the epoch).
const SCHEMA: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS seen (key BLOB PRIMARY KEY, expires INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS seen_by_expiry ON seen (expires)",
];

/// A check the object cannot read.
const BAD_CHECK: u16 = 400;
/// The storage failed (the checking isolate then treats the store as unreachable).
const STORAGE_FAILED: u16 = 500;

/// Makes the table of the object whose SQLite storage is `sql` (its constructor calls this).
#[wasm_bindgen(js_name = replayOpen)]
pub fn open(sql: &JsValue) {
    for statement in SCHEMA {
        // Without the table every check fails, and strict mode answers 503.
        if let Err(error) = sql_exec(sql, statement, &Array::new()) {
            storage_failed("schema", error);
        }
    }
}

/// One check, `body` as [`encode`] made it, `now_ms` the object's clock: [`FIRST_USE`] when the key
/// was recorded now, [`SEEN`] when it was already there, else an error status.
#[wasm_bindgen(js_name = replayRecord)]
pub fn record(sql: &JsValue, body: &[u8], now_ms: f64) -> u16 {
    let Some((key, ttl)) = decode(body) else {
        return BAD_CHECK;
    };
    let now = now_ms as u64;
    // No await here: the sweep and the insert run as one step of this object.
    let swept = sql_exec(
        sql,
        "DELETE FROM seen WHERE expires <= ?",
        &Array::of1(&millis(now)),
    );
    let inserted = swept.and_then(|_| {
        sql_exec(
            sql,
            "INSERT INTO seen (key, expires) VALUES (?, ?) ON CONFLICT DO NOTHING",
            &Array::of2(&Uint8Array::from(&key[..]), &millis(expires_at(now, ttl))),
        )
    });
    match inserted {
        Ok(written) if written > 0.0 => FIRST_USE,
        Ok(_) => SEEN,
        Err(error) => {
            storage_failed("check", error);
            STORAGE_FAILED
        }
    }
}

fn storage_failed(what: &str, error: JsValue) {
    let error = crate::glue::ShellError::from(error);
    crate::glue::log(LogLevel::Error, &format!("replay store {what}: {error}"));
}

/// Milliseconds since the epoch as SQLite gets them: a number (exact far beyond the next few
/// hundred thousand years, below 2^53).
fn millis(ms: u64) -> JsValue {
    JsValue::from(ms as f64)
}

/// The object a key lives in.
fn shard_name(key: &[u8; 32]) -> String {
    format!("replay-{}", key[0] % SHARDS)
}

/// A check as the object receives it: the key, then the ttl as 8 big-endian bytes.
fn encode(key: &[u8; 32], ttl: u64) -> [u8; 40] {
    let mut body = [0; 40];
    body[..32].copy_from_slice(key);
    body[32..].copy_from_slice(&ttl.to_be_bytes());
    body
}

fn decode(body: &[u8]) -> Option<([u8; 32], u64)> {
    let (key, ttl) = body.split_first_chunk::<32>()?;
    Some((*key, u64::from_be_bytes(ttl.try_into().ok()?)))
}

/// When a key recorded at `now_ms` for `ttl` seconds may be forgotten.
fn expires_at(now_ms: u64, ttl: u64) -> u64 {
    now_ms.saturating_add(ttl.saturating_add(SLACK_SECONDS).saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_survives_the_trip_to_the_object() {
        let key = [0xab; 32];
        assert_eq!(decode(&encode(&key, 300)), Some((key, 300)));
        assert_eq!(decode(&encode(&key, u64::MAX)), Some((key, u64::MAX)));
    }

    #[test]
    fn a_malformed_check_is_refused() {
        let body = encode(&[1; 32], 300);
        assert_eq!(decode(&body[..39]), None);
        assert_eq!(decode(&[body.as_slice(), &[0]].concat()), None);
        assert_eq!(decode(&[]), None);
    }

    #[test]
    fn keys_spread_over_every_shard_by_first_byte() {
        let mut key = [0; 32];
        let names: std::collections::HashSet<String> = (0..=255u8)
            .map(|b| {
                key[0] = b;
                shard_name(&key)
            })
            .collect();
        assert_eq!(names.len(), SHARDS as usize);
        key[0] = 7;
        let first = shard_name(&key);
        key[31] = 9;
        assert_eq!(
            shard_name(&key),
            first,
            "only the first byte picks the shard"
        );
    }

    #[test]
    fn a_key_outlives_its_ttl_by_the_slack_only() {
        assert_eq!(expires_at(1_000, 300), 1_000 + 305_000);
        assert_eq!(expires_at(1_000, 0), 6_000);
        assert_eq!(expires_at(u64::MAX - 1, 300), u64::MAX);
        assert_eq!(expires_at(0, u64::MAX), u64::MAX);
    }
}
