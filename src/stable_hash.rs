//! A hash that is the same on every run of the same code, unlike
//! `DefaultHasher`: for ids derived from content (transaction hashes,
//! signatures, transfer ids).

use std::hash::{Hash, Hasher};

/// FNV-1a over a value's `Hash` feed.
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for byte in bytes {
                self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    value.hash(&mut hasher);
    hasher.finish()
}
