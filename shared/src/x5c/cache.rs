//! The per-isolate cache of validated chains.

use super::path::validate;
use super::*;
use crate::crypto::list_digest;
use crate::jws::X5C_DIGEST_LABEL;

/// The label of the trust anchors' [`list_digest`] in [`ChainCache::key_of_digests`].
pub const ANCHORS_DIGEST_LABEL: &[u8] = b"edgeward trust anchors";

/// Default [`ChainCache`] capacity. An isolate serves a handful of signing PKIs, each with a
/// few live leaf certificates; 256 entries of ~150 bytes (key, point, times) is about 40 KiB,
/// small against the Workers 128 MB isolate limit yet far above the expected working set.
pub const DEFAULT_CACHE_CAPACITY: usize = 256;

/// A per-isolate cache of validated chains, so a warm request costs no chain signature checks.
///
/// Keyed by SHA-256 over the policy and the digests of the anchors and of the chain (each a
/// length-prefixed list, so that concatenation is unambiguous); an entry therefore only answers
/// for the exact same trust inputs. Entries are served only while `not_before <= now <= not_after` (over the whole
/// path). Eviction is oldest-inserted first. A `std::sync::Mutex` gives interior mutability; the
/// gateway is single-threaded per isolate, so it is never contended, and it is never held across
/// an `.await`. A poisoned lock behaves as an empty cache.
#[derive(Debug)]
pub struct ChainCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
pub(super) struct CacheInner {
    entries: HashMap<[u8; 32], ValidatedLeaf>,
    order: VecDeque<[u8; 32]>,
}

impl Default for ChainCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl ChainCache {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new(CacheInner::default()),
        }
    }

    /// The cache key for validating `chain` against `anchors` under `policy`.
    pub fn key(chain: &[Vec<u8>], anchors: &[&[u8]], policy: &ChainPolicy) -> [u8; 32] {
        Self::key_of_digests(
            &list_digest(X5C_DIGEST_LABEL, chain),
            &list_digest(ANCHORS_DIGEST_LABEL, anchors),
            policy,
        )
    }

    /// [`key`](Self::key) from the two lists' [`list_digest`]s: the chain's with label
    /// [`X5C_DIGEST_LABEL`] (a parsed header's [`x5c_digest`](crate::jws::Header::x5c_digest)),
    /// the anchors' with [`ANCHORS_DIGEST_LABEL`] (taken once per verifier). Hashing the ≈ 2 KB of
    /// DER once per header and once per verifier, instead of on every fresh token, is the point.
    pub fn key_of_digests(chain: &[u8; 32], anchors: &[u8; 32], policy: &ChainPolicy) -> [u8; 32] {
        let mut parts: Vec<Vec<u8>> = vec![chain.to_vec(), anchors.to_vec()];
        for n in [
            policy.max_path_len,
            policy.max_chain_certs,
            policy.max_signature_checks,
        ] {
            parts.push((n as u64).to_be_bytes().to_vec());
        }
        for pin in [&policy.leaf_subject, &policy.leaf_eku] {
            parts.push(match pin {
                Some(s) => format!("+{s}").into_bytes(),
                None => b"-".to_vec(),
            });
        }
        list_digest(b"edgeward x5c chain cache v2", &parts)
    }

    /// The cached result for `key`, if any and still valid at `now`.
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<ValidatedLeaf> {
        let inner = self.inner.lock().ok()?;
        inner
            .entries
            .get(key)
            .filter(|leaf| leaf.not_before <= now && now <= leaf.not_after)
            .cloned()
    }

    /// Stores `leaf` under `key`, evicting the oldest entry when full.
    pub fn insert(&self, key: [u8; 32], leaf: ValidatedLeaf) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if self.capacity == 0 {
            return;
        }
        if inner.entries.insert(key, leaf).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.entries.remove(&old);
            }
        }
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.entries.len()).unwrap_or(0)
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`validate`] with a [`ChainCache`] in front: a hit costs a hash-map lookup and no signature
/// checks. `key` must be the key of exactly these `chain`, `anchors` and `policy`
/// ([`ChainCache::key`], or [`ChainCache::key_of_digests`] from digests kept elsewhere). Failures
/// are not cached (a bad chain costs the attacker as much as it costs us, bounded by the budgets).
pub async fn validate_cached<V: SignatureVerifier>(
    (cache, key): (&ChainCache, [u8; 32]),
    chain: &[Vec<u8>],
    anchors: &[&[u8]],
    now: u64,
    policy: &ChainPolicy,
    verifier: &V,
) -> Result<ValidatedLeaf, ChainError> {
    if let Some(hit) = cache.get(&key, now) {
        return Ok(hit);
    }
    let leaf = validate(chain, anchors, now, policy, verifier).await?;
    cache.insert(key, leaf.clone());
    Ok(leaf)
}
