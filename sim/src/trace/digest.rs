//! The trace hash: every event's stable encoding, folded eight bytes at a
//! time.
//!
//! A run folds one event per message and per step of every node, so the
//! digest is on the hottest path of the harness. FNV-1a (kept for the
//! system's content ids, `ledger::stable_hash`) takes a dependent multiply
//! per byte; here each event is encoded into a reused buffer and folded a
//! word at a time, with its length, so the same events in the same order
//! give the same hash on every machine whatever pieces the encoder wrote
//! them in.

use serde::Serialize;

/// The odd constant of the golden ratio: a multiply by it spreads every
/// input bit over the high half of the word.
const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED: u64 = 0xcbf2_9ce4_8422_2325;

pub(crate) struct TraceDigest {
    state: u64,
    /// The event being folded, as encoded; kept to reuse its allocation.
    buffer: Vec<u8>,
}

impl Default for TraceDigest {
    fn default() -> TraceDigest {
        TraceDigest {
            state: SEED,
            buffer: Vec::with_capacity(256),
        }
    }
}

impl TraceDigest {
    /// Folds in `value`'s stable encoding (`ledger::codec`).
    pub(crate) fn feed<T: Serialize + ?Sized>(&mut self, value: &T) {
        self.buffer.clear();
        if let Err(error) = ledger::codec::encode_into(&mut self.buffer, value) {
            panic!("a trace event failed to encode: {error}");
        }
        let buffer = std::mem::take(&mut self.buffer);
        self.fold(&buffer);
        self.buffer = buffer;
    }

    /// Folds in one event's encoded bytes.
    pub(super) fn fold(&mut self, bytes: &[u8]) {
        let mut state = self.word(bytes.len() as u64);
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            state = (state.rotate_left(23) ^ word).wrapping_mul(MIX);
        }
        let mut tail = [0u8; 8];
        tail[..words.remainder().len()].copy_from_slice(words.remainder());
        state = (state.rotate_left(23) ^ u64::from_le_bytes(tail)).wrapping_mul(MIX);
        self.state = state;
    }

    fn word(&self, word: u64) -> u64 {
        (self.state.rotate_left(23) ^ word).wrapping_mul(MIX)
    }

    /// The digest of everything fed so far, its last words mixed into its
    /// low bits too.
    pub(crate) fn digest(&self) -> u64 {
        let state = self.state;
        (state ^ (state >> 29)).wrapping_mul(MIX) ^ (state >> 32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(values: &[(u64, &str)]) -> u64 {
        let mut digest = TraceDigest::default();
        for value in values {
            digest.feed(value);
        }
        digest.digest()
    }

    /// The hash is pinned: it must not change with the machine, the
    /// compiler or the run, only with the events.
    #[test]
    fn the_digest_of_known_events_is_pinned() {
        assert_eq!(
            digest_of(&[(1_000, "log-1"), (2_000, "boot")]),
            digest_of(&[(1_000, "log-1"), (2_000, "boot")])
        );
        assert_eq!(
            format!("{:016x}", digest_of(&[(1_000, "log-1")])),
            "17c2c593f3aa8653"
        );
    }

    /// Any change of a byte, of the order, or of where one event ends and
    /// the next begins changes the hash.
    #[test]
    fn the_digest_tells_bytes_order_and_boundaries_apart() {
        let base = digest_of(&[(1, "ab"), (2, "c")]);
        assert_ne!(base, digest_of(&[(1, "ab"), (2, "d")]));
        assert_ne!(base, digest_of(&[(2, "c"), (1, "ab")]));
        assert_ne!(base, digest_of(&[(1, "a"), (2, "bc")]));
        assert_ne!(digest_of(&[]), digest_of(&[(0, "")]));
    }
}
