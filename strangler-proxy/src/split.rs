//! The canary split: a stable hash of the sticky key into 10,000 buckets.
//!
//! The hash is FNV-1a (64 bit) followed by the `MurmurHash3` finaliser, both
//! fixed by their specifications and written out here, so the same key
//! lands in the same bucket in every proxy instance, on every machine and in
//! every release. `std`'s `RandomState` would differ per process. A route at
//! `percent = p` sends buckets `0 .. p * 100` to the service, so raising the
//! percentage keeps every client that was already on the service there.

use std::cell::Cell;

/// The number of buckets; one bucket is 0.01 %.
pub const BUCKETS: u64 = 10_000;

/// The bucket of a sticky key.
#[must_use]
pub fn bucket(key: &[u8]) -> u64 {
    bucket_of_hash(fnv1a(key))
}

/// The bucket of an already random or hashed number.
#[must_use]
pub fn bucket_of_hash(hash: u64) -> u64 {
    fmix64(hash) % BUCKETS
}

/// Whether a bucket is on the service's side of a `percent` split.
#[must_use]
pub fn in_canary(bucket: u64, percent: u8) -> bool {
    bucket < u64::from(percent.min(100)) * (BUCKETS / 100)
}

/// FNV-1a, 64 bit.
#[must_use]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `MurmurHash3`'s 64-bit finaliser: every input bit affects every output bit.
#[must_use]
pub fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let local = 0u8;
    fmix64(nanos ^ (std::ptr::from_ref(&local) as usize as u64))
}

/// A fast, non-cryptographic random number (`SplitMix64` on a per-thread
/// state): for per-request canary splits and new trace ids, never secrets.
#[must_use]
pub fn random() -> u64 {
    RNG.with(|state| {
        let next = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(next);
        fmix64(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_fixed_forever() {
        // Published FNV-1a test vectors; if these change, sticky clients
        // would move between the monolith and the service.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(bucket(b"user-42"), bucket(b"user-42"));
        assert_eq!(bucket(b"user-42"), 1_453);
    }

    #[test]
    fn raising_the_share_keeps_clients_on_the_service() {
        for key in 0..1_000u32 {
            let b = bucket(key.to_string().as_bytes());
            if in_canary(b, 10) {
                assert!(in_canary(b, 20));
            }
        }
        assert!(!in_canary(0, 0));
        assert!(in_canary(BUCKETS - 1, 100));
    }

    #[test]
    fn random_numbers_differ() {
        assert_ne!(random(), random());
    }
}
