//! The harness side of crash points: decides, from the nemesis's random
//! stream, whether a node crashes where it stands.

use ledger::{crash::CrashPoints, observe::NodeName};
use rand::Rng;
use std::sync::{
    Arc, OnceLock, Weak,
    atomic::{AtomicBool, Ordering},
};

use super::World;

pub(super) struct CrashPointPolicy {
    probability: f64,
    enabled: AtomicBool,
    /// Set once the world exists; nodes are built before it.
    world: OnceLock<Weak<World>>,
}

impl CrashPointPolicy {
    pub(super) fn new(probability: f64) -> Arc<CrashPointPolicy> {
        Arc::new(CrashPointPolicy {
            probability,
            enabled: AtomicBool::new(probability > 0.0),
            world: OnceLock::new(),
        })
    }

    pub(super) fn attach(&self, world: &Arc<World>) {
        let _ = self.world.set(Arc::downgrade(world));
    }

    pub(super) fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }
}

impl CrashPoints for CrashPointPolicy {
    fn crash_here(&self, node: &NodeName, _point: &'static str) -> bool {
        if !self.enabled.load(Ordering::Relaxed) {
            return false;
        }
        let Some(world) = self.world.get().and_then(Weak::upgrade) else {
            return false;
        };
        if !world.with_rng(|rng| rng.gen_bool(self.probability)) {
            return false;
        }
        world.crash_at_point(node.as_str());
        true
    }
}
