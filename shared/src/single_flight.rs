//! Single-flight without cross-request wake-ups. Several requests of one isolate that need the
//! same slow answer (a JWKS refresh, an introspection call) must cost one upstream call — but on
//! Workers a request may not wait on a promise or waker that another request resolves: the runtime
//! cancels it as hung. So the first request *claims* the key and does the work; the others poll the
//! shared state between short sleeps in their own context ([`Platform::sleep`]) until the claim is
//! released, then read the result the claimant stored.

use crate::platform::Platform;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// How often a waiting request looks again, in milliseconds. Small against an upstream call
/// (tens to hundreds of ms), large enough that 64 waiters cost nothing measurable.
pub const POLL_MS: u32 = 5;

/// The keys being worked on in this isolate.
#[derive(Debug, Default)]
pub struct Flights {
    busy: Mutex<HashSet<[u8; 32]>>,
}

/// Held while this request does the work for `key`; released on drop (also when the request is
/// cancelled), so a claim can never stay stuck.
pub struct Claim<'a> {
    flights: &'a Flights,
    key: [u8; 32],
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.flights.set().remove(&self.key);
    }
}

/// What a waiting request found when it looked again.
pub enum Turn<'a> {
    /// Nobody was working on the key: this request now holds the claim.
    Claimed(Claim<'a>),
    /// Another request finished (or gave up) while this one waited: read its result.
    Finished,
    /// Waited longer than the deadline: give up.
    TimedOut,
}

impl Flights {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.busy.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Claims `key`, or waits (polling) until whoever holds it releases it or `deadline_ms` passes.
    pub async fn claim_or_wait<P: Platform>(
        &self,
        platform: &P,
        key: [u8; 32],
        deadline_ms: u32,
    ) -> Turn<'_> {
        if self.set().insert(key) {
            return Turn::Claimed(Claim { flights: self, key });
        }
        let mut waited = 0;
        while waited < deadline_ms {
            platform.sleep(POLL_MS).await;
            waited = waited.saturating_add(POLL_MS);
            if !self.set().contains(&key) {
                return Turn::Finished;
            }
        }
        Turn::TimedOut
    }
}
