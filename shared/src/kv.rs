//! The layout of edgeward's entries in a shared key-value store that has no expiry of its own
//! (Spin's key-value store, `wasi:keyvalue`): how entries are named, how they carry their expiry
//! time, and which ones an occasional sweep deletes. Platform-neutral and pure, so a shell only
//! moves bytes; the Spin shell is the user today.
//!
//! Two kinds of entries, both under [`PREFIX`]:
//! - **cache entries** (the shared tiers of the introspection and verified-token caches): named by
//!   the core's cache key (a hash, never a token), the value prefixed with its expiry time ([`encode_entry`]); a read past the
//!   expiry is a miss ([`live_value`]).
//! - **replay entries** (DPoP `jti`s): one atomic counter per proof, named
//!   `edgeward/dpop-jti/{expiry}/{hex of the replay key}` ([`replay_name`]), so a sweep can delete
//!   the expired ones from a key listing without reading them.
//!
//! Nothing expires by itself, so a sweep ([`plan_sweep`]) runs after about one write in
//! [`SWEEP_ONE_IN`]: it deletes expired replay entries by name, reads a bounded number of cache
//! entries to find expired ones, and deletes cache entries beyond [`MAX_CACHE_ENTRIES`].

/// Every name edgeward writes starts with this; a sweep touches nothing else.
pub const PREFIX: &str = "edgeward/";

const REPLAY_PREFIX: &str = "edgeward/dpop-jti/";

/// About one store write in this many also sweeps.
pub const SWEEP_ONE_IN: u32 = 64;

/// Cache entries kept at most (a sweep deletes the surplus; an evicted entry costs one more
/// introspection or token verification). Replay entries are never evicted early: their number is
/// bounded by the proof rate times the proof lifetime (`dpop.iat_window_seconds`), after which a
/// sweep deletes them.
pub const MAX_CACHE_ENTRIES: usize = 10_000;

/// Cache entries one sweep reads at most to find expired ones.
pub const MAX_SWEEP_READS: usize = 32;

/// Entries one sweep deletes at most.
pub const MAX_SWEEP_DELETES: usize = 256;

/// Replay entries are kept this long past their expiry, for clocks that differ between hosts.
pub const REPLAY_GRACE_SECONDS: u64 = 60;

const EXPIRY_BYTES: usize = 8;

/// A cache value as stored: its expiry time (Unix seconds, big-endian) then the value.
pub fn encode_entry(value: &[u8], expires: u64) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(EXPIRY_BYTES + value.len());
    bytes.extend_from_slice(&expires.to_be_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// The expiry time of a stored cache value, `None` when it is not one.
pub fn entry_expiry(stored: &[u8]) -> Option<u64> {
    let head: [u8; EXPIRY_BYTES] = stored.get(..EXPIRY_BYTES)?.try_into().ok()?;
    Some(u64::from_be_bytes(head))
}

/// The value of a stored cache entry that is still valid at `now`.
pub fn live_value(stored: &[u8], now: u64) -> Option<&[u8]> {
    match entry_expiry(stored)? {
        expires if now < expires => stored.get(EXPIRY_BYTES..),
        _ => None,
    }
}

/// The name of the replay entry for `key` (SHA-256 over the proof key's thumbprint and `jti`)
/// that expires at `expires`. The name must be the same for every request that carries the same
/// proof: shells pass the proof's expiry, which the core gives as an absolute time.
pub fn replay_name(key: &[u8; 32], expires: u64) -> String {
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    format!("{REPLAY_PREFIX}{expires}/{hex}")
}

/// The expiry time in a replay entry's name, `None` for any other name.
pub fn replay_expiry(name: &str) -> Option<u64> {
    let (expires, hex) = name.strip_prefix(REPLAY_PREFIX)?.split_once('/')?;
    let well_formed = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    match well_formed {
        true => expires.parse().ok(),
        false => None,
    }
}

/// What one sweep does with a key listing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Entries to delete without reading: expired replay entries and surplus cache entries.
    pub delete: Vec<String>,
    /// Cache entries to read; delete each whose [`entry_expiry`] is not after now.
    pub read: Vec<String>,
}

/// Plans a sweep over `names` (one key listing) at `now`. `start` (any number, e.g. random) picks
/// where in the listing the cache entries to read and to evict begin, so successive sweeps look at
/// different entries. Names outside [`PREFIX`] are left alone.
pub fn plan_sweep(names: &[String], now: u64, start: usize) -> Sweep {
    let mut sweep = Sweep::default();
    let mut cache = Vec::new();
    for name in names.iter().filter(|n| n.starts_with(PREFIX)) {
        match replay_expiry(name) {
            Some(expires) if expires.saturating_add(REPLAY_GRACE_SECONDS) < now => {
                sweep.delete.push(name.clone());
            }
            Some(_) => {}
            None if name.starts_with(REPLAY_PREFIX) => {}
            None => cache.push(name),
        }
    }
    sweep.delete.truncate(MAX_SWEEP_DELETES);
    if cache.is_empty() {
        return sweep;
    }
    let offset = start % cache.len();
    cache.rotate_left(offset);
    let surplus = cache.len().saturating_sub(MAX_CACHE_ENTRIES);
    let room = MAX_SWEEP_DELETES - sweep.delete.len();
    let (evicted, kept) = cache.split_at(surplus.min(room));
    sweep.delete.extend(evicted.iter().map(|n| (*n).clone()));
    sweep.read = kept
        .iter()
        .take(MAX_SWEEP_READS)
        .map(|n| (*n).clone())
        .collect();
    sweep
}

/// True for about one `random` value in [`SWEEP_ONE_IN`].
pub fn sweep_due(random: u32) -> bool {
    random % SWEEP_ONE_IN == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [0xab; 32];

    #[test]
    fn a_cache_entry_carries_its_expiry() {
        let stored = encode_entry(b"{\"active\":true}", 1_000);
        assert_eq!(entry_expiry(&stored), Some(1_000));
        assert_eq!(live_value(&stored, 999), Some(&b"{\"active\":true}"[..]));
        assert_eq!(live_value(&stored, 1_000), None);
        assert_eq!(live_value(&stored, 5_000), None);
    }

    #[test]
    fn a_short_value_is_not_an_entry() {
        assert_eq!(entry_expiry(b"1234567"), None);
        assert_eq!(live_value(b"", 0), None);
        assert_eq!(live_value(&encode_entry(b"", 10), 9), Some(&b""[..]));
    }

    #[test]
    fn replay_names_carry_the_expiry_and_the_hashed_key_only() {
        let name = replay_name(&KEY, 1_800_000_300);
        assert_eq!(
            name,
            format!("edgeward/dpop-jti/1800000300/{}", "ab".repeat(32))
        );
        assert_eq!(replay_expiry(&name), Some(1_800_000_300));
        assert_eq!(replay_expiry("edgeward/dpop-jti/12/short"), None);
        assert_eq!(
            replay_expiry(&format!("edgeward/dpop-jti/x/{}", "ab".repeat(32))),
            None
        );
        assert_eq!(replay_expiry("edgeward/introspection/ab"), None);
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn a_sweep_deletes_expired_replay_entries_by_name_and_reads_cache_entries() {
        let old = replay_name(&KEY, 1_000);
        let graced = replay_name(&[1; 32], 1_000 + 100 - REPLAY_GRACE_SECONDS);
        let live = replay_name(&[2; 32], 2_000);
        let listing = vec![
            old.clone(),
            graced,
            live,
            "edgeward/introspection/aa".to_owned(),
            "edgeward/dpop-jti/garbage".to_owned(),
            "someone-else/key".to_owned(),
        ];
        let sweep = plan_sweep(&listing, 1_100, 0);
        assert_eq!(sweep.delete, vec![old]);
        assert_eq!(sweep.read, names(&["edgeward/introspection/aa"]));
    }

    #[test]
    fn a_sweep_is_bounded_and_starts_where_asked() {
        let listing: Vec<String> = (0..1_000)
            .map(|i| format!("edgeward/introspection/{i:04}"))
            .collect();
        let sweep = plan_sweep(&listing, 0, 1_010);
        assert!(sweep.delete.is_empty());
        assert_eq!(sweep.read.len(), MAX_SWEEP_READS);
        assert_eq!(sweep.read[0], "edgeward/introspection/0010");

        let expired: Vec<String> = (0..1_000u32)
            .map(|i| replay_name(&[0; 32], u64::from(i)))
            .collect();
        let sweep = plan_sweep(&expired, 10_000, 0);
        assert_eq!(sweep.delete.len(), MAX_SWEEP_DELETES);
    }

    #[test]
    fn a_sweep_evicts_cache_entries_beyond_the_bound() {
        let listing: Vec<String> = (0..MAX_CACHE_ENTRIES + 10)
            .map(|i| format!("edgeward/introspection/{i:05}"))
            .collect();
        let sweep = plan_sweep(&listing, 0, 3);
        assert_eq!(sweep.delete.len(), 10);
        assert_eq!(sweep.delete[0], "edgeward/introspection/00003");
        assert_eq!(sweep.read.len(), MAX_SWEEP_READS);
        assert!(!sweep.read.iter().any(|n| sweep.delete.contains(n)));
    }

    #[test]
    fn about_one_write_in_sixty_four_sweeps() {
        let due = (0..6_400u32).filter(|r| sweep_due(*r)).count();
        assert_eq!(due, 100);
    }
}
