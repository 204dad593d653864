//! Fault points: named places in the system's code where the harness may
//! inject a fault that random timing alone would rarely produce.
//!
//! At a crash point the node may crash right there (FoundationDB's BUGGIFY
//! idea): random crashes rarely land in windows a few milliseconds wide,
//! such as between a reply and the sync it depends on. At a reply point the
//! reply may be lost after its work is done, so the caller cannot know the
//! outcome (an unknown commit). Outside a simulation nothing fires.

use crate::observe::NodeName;

/// Decides faults at fault points. Implemented by the harness.
pub trait FaultPoints: Send + Sync {
    /// Whether `node` crashes at `point`. When this returns true the
    /// implementation has already killed the node; the caller must not make
    /// any further progress.
    fn crash_here(&self, node: &NodeName, point: &'static str) -> bool;

    /// Whether the reply `node` is about to send at `point` is lost.
    fn lose_reply_here(&self, node: &NodeName, point: &'static str) -> bool;
}

/// Fault points that never fire.
pub struct NoFaults;

impl FaultPoints for NoFaults {
    fn crash_here(&self, _node: &NodeName, _point: &'static str) -> bool {
        false
    }

    fn lose_reply_here(&self, _node: &NodeName, _point: &'static str) -> bool {
        false
    }
}
