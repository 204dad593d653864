//! The harness side of fault points: decides, from the nemesis's random
//! stream, whether a node crashes where it stands or loses the reply it is
//! about to send.

use ledger::{
    fault_points::{CrashPoint, FaultPoints, ReplyPoint},
    observe::NodeName,
};
use rand::Rng;
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex, OnceLock, PoisonError, Weak,
        atomic::{AtomicBool, Ordering},
    },
};

use super::World;

pub(super) struct FaultPointPolicy {
    /// Probability a reached crash point crashes its node.
    crash: f64,
    /// Probability a reply point loses its reply.
    lose_reply: f64,
    enabled: AtomicBool,
    /// Set once the world exists; nodes are built before it.
    world: OnceLock<Weak<World>>,
    /// How often each crash point was reached, whether it fired or not:
    /// coverage, never behaviour.
    reached: Mutex<BTreeMap<CrashPoint, u64>>,
}

impl FaultPointPolicy {
    pub(super) fn new(crash: f64, lose_reply: f64) -> Arc<FaultPointPolicy> {
        Arc::new(FaultPointPolicy {
            crash,
            lose_reply,
            enabled: AtomicBool::new(true),
            world: OnceLock::new(),
            reached: Mutex::new(BTreeMap::new()),
        })
    }

    pub(super) fn attach(&self, world: &Arc<World>) {
        let _ = self.world.set(Arc::downgrade(world));
    }

    /// How often each crash point was reached.
    pub(super) fn reached(&self) -> BTreeMap<CrashPoint, u64> {
        self.reached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Ends injection, for the settle phase.
    pub(super) fn disable(&self) {
        self.enabled.store(false, Ordering::Relaxed);
    }

    fn draw(&self, probability: f64) -> Option<Arc<World>> {
        if probability <= 0.0 || !self.enabled.load(Ordering::Relaxed) {
            return None;
        }
        let world = self.world.get().and_then(Weak::upgrade)?;
        world
            .with_rng(|rng| rng.gen_bool(probability))
            .then_some(world)
    }
}

impl FaultPoints for FaultPointPolicy {
    fn crash_here(&self, node: &NodeName, point: CrashPoint) -> bool {
        *self
            .reached
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(point)
            .or_default() += 1;
        match self.draw(self.crash) {
            Some(world) => {
                world.crash_at_point(node.as_str());
                true
            }
            None => false,
        }
    }

    fn lose_reply_here(&self, _node: &NodeName, _point: ReplyPoint) -> bool {
        self.draw(self.lose_reply).is_some()
    }
}
