//! The random streams of a run, all derived from its seed.
//!
//! Each role draws from its own ChaCha8 stream: the seed expands into the
//! key, the role picks ChaCha's stream number. Streams of different roles,
//! or of nearby seeds, share nothing: removing one scheduled event while
//! shrinking reshuffles no message, and seed `s`'s nemesis is not seed
//! `s ^ 1`'s network (as it was when streams were `seed ^ constant`).
//! madsim's own stream (scheduling, latencies, `madsim::rand`) is seeded by
//! madsim from the seed and is separate from all of these.

use rand::RngCore;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Who draws from a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, strum::EnumIter)]
pub enum Stream {
    /// The scenario generator's choice of workload kind.
    GeneratorKind,
    /// The scenario generator, for everything else.
    Generator,
    /// The nemesis: random faults, crash-point draws, torn writes, downtimes.
    Nemesis,
    /// The network choke point: drops, duplicates, delays.
    Net,
    /// The secret every chain account's key is derived from.
    Keys,
    /// Guided search's choices of parents and mutations: drawn outside
    /// every run, from the search's starting seed and round.
    Guided,
    /// The scenario generator's nodes lost for good.
    Retirements,
    /// The scenario generator's losses of the database's disk as the
    /// faults stop.
    LateWipes,
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::GeneratorKind => 1,
            Stream::Generator => 2,
            Stream::Nemesis => 3,
            Stream::Net => 4,
            Stream::Keys => 5,
            Stream::Guided => 6,
            Stream::Retirements => 7,
            Stream::LateWipes => 8,
        }
    }
}

/// The random stream `stream` of the run with `seed`.
pub fn rng(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream.number());
    rng
}

/// One number drawn from a stream: for secrets derived from the seed.
pub fn draw(seed: u64, stream: Stream) -> u64 {
    rng(seed, stream).next_u64()
}

/// The secret every chain account's key of the run with `seed` is derived
/// from.
pub fn key_secret(seed: u64) -> u64 {
    draw(seed, Stream::Keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// No stream of any seed starts like another stream of a nearby seed,
    /// nor like another stream of the same seed. Deriving streams as
    /// `seed ^ constant ^ k` fails this: one role's stream for seed `s` was
    /// another role's for `s ^ 1`.
    #[test]
    fn streams_of_nearby_seeds_and_other_roles_are_unrelated() {
        let mut first: BTreeMap<[u64; 2], (u64, Stream)> = BTreeMap::new();
        for seed in 0..2048u64 {
            for stream in <Stream as strum::IntoEnumIterator>::iter() {
                let mut rng = rng(seed, stream);
                let start = [rng.next_u64(), rng.next_u64()];
                if let Some(earlier) = first.insert(start, (seed, stream)) {
                    panic!("seed {seed} {stream:?} starts like seed {earlier:?}");
                }
            }
        }
    }

    #[test]
    fn a_stream_is_a_function_of_seed_and_role() {
        assert_eq!(draw(7, Stream::Nemesis), rng(7, Stream::Nemesis).next_u64());
        assert_ne!(draw(7, Stream::Nemesis), draw(7, Stream::Net));
    }
}
