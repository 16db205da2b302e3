//! Locks by name: a name maps to an index by a stable hash of its UTF-8 bytes, into a region of
//! its own, so that every language (and the `locksfile` command) finds the same lock for the same
//! name, and names never land on the small indices programs use by number.

/// The first index of the region names map into: 2^61.
pub const NAMED_FIRST: u64 = 1 << 61;
/// How many indices the region has: 2^61 (it ends where 2^62 begins).
pub const NAMED_COUNT: u64 = 1 << 61;

/// The lock index of `name`: `2^61 + (fmix64(fnv1a64(utf8 bytes)) >> 3)`, where `fnv1a64` is
/// 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) and `fmix64` MurmurHash3's
/// 64-bit finaliser, which spreads FNV's weaker low bits over the whole word. Stable across
/// versions, languages and machines. Two different names share an index with probability about
/// n² / 2^62 for n names: about 2 in 10 million for a million names.
#[must_use]
pub fn index_of(name: &str) -> u64 {
    NAMED_FIRST + (fmix64(fnv1a64(name.as_bytes())) >> 3)
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_into_their_region_stably() {
        // Pinned (and computed independently from the formula in the docs, in Python): every
        // language and every version must compute these same indices.
        assert_eq!(index_of(""), 4_465_886_293_029_758_244);
        assert_eq!(index_of("dataset-42"), 2_370_090_560_691_594_753);
        assert_eq!(index_of("dataset-43"), 3_433_969_125_170_851_786);
        assert_eq!(index_of("ünïcødé"), 4_077_579_130_462_500_905);
        for name in ["", "a", "dataset-42", "a much longer name, with spaces and punctuation!"] {
            let index = index_of(name);
            assert!((NAMED_FIRST..NAMED_FIRST + NAMED_COUNT).contains(&index), "{name}: {index}");
        }
    }

    #[test]
    fn a_hundred_thousand_similar_names_never_collide() {
        let mut indices: Vec<u64> = (0..100_000).map(|n| index_of(&format!("job-{n}"))).collect();
        indices.sort_unstable();
        indices.dedup();
        assert_eq!(indices.len(), 100_000);
    }
}
