//! A digest that is the same for the same value on every machine, compiler
//! and run: for ids derived from content (transaction hashes, signatures,
//! transfer ids). (The harness's trace hash folds the same encoding its own
//! faster way.)
//!
//! Values are fed to FNV-1a through their [`crate::codec`] encoding
//! (fixed-width little-endian integers, `u64` lengths, `u32` variant
//! indexes: bincode 1.3's format, which the codec keeps byte for byte).
//! Never through `std::hash::Hash`: the bytes
//! its derives feed a hasher are not promised across Rust releases, and
//! `usize` and native-endian integers differ between platforms.

use serde::Serialize;
use std::io;

const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit, fed as a byte sink.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a(OFFSET_BASIS)
    }
}

impl Fnv1a {
    /// Feeds raw bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(PRIME);
        }
    }

    /// Feeds `value`'s stable encoding.
    pub fn feed<T: Serialize + ?Sized>(&mut self, value: &T) {
        if let Err(error) = crate::codec::encode_into(&mut *self, value) {
            panic!("a value failed to encode into a digest: {error}");
        }
    }

    /// The digest of everything fed so far.
    pub fn digest(&self) -> u64 {
        self.0
    }
}

impl io::Write for Fnv1a {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The digest of `value`'s stable encoding.
pub fn stable_hash<T: Serialize + ?Sized>(value: &T) -> u64 {
    let mut hasher = Fnv1a::default();
    hasher.feed(value);
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_the_reference_vectors() {
        let digest = |text: &str| {
            let mut hasher = Fnv1a::default();
            hasher.update(text.as_bytes());
            hasher.digest()
        };
        assert_eq!(digest(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(digest("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(digest("foobar"), 0x8594_4171_f739_67e8);
    }

    /// The encoding is the codec's (bincode 1.3's), byte for byte: a `u64` is 8 little-endian
    /// bytes, a string its `u64` length then its bytes. A digest pinned here
    /// changes only if that format does.
    #[test]
    fn values_are_digested_through_their_documented_encoding() {
        let mut by_hand = Fnv1a::default();
        by_hand.update(&7u64.to_le_bytes());
        by_hand.update(&2u64.to_le_bytes());
        by_hand.update(b"ab");
        assert_eq!(stable_hash(&(7u64, "ab")), by_hand.digest());
        assert_eq!(stable_hash(&(7u64, "ab")), 0xd55e_a147_e5d6_b523);
    }
}
