//! Crash points: named places in the system's code where a crash matters.
//!
//! Random crashes rarely land in windows a few milliseconds wide (between a
//! reply and the sync it depends on, say). At a crash point the harness may
//! crash the node right there, FoundationDB's BUGGIFY idea. Outside a
//! simulation, or with crash points off, they do nothing.

use crate::observe::NodeName;

/// Decides crashes at crash points. Implemented by the harness.
pub trait CrashPoints: Send + Sync {
    /// Whether `node` crashes at `point`. When this returns true the
    /// implementation has already killed the node; the caller must not make
    /// any further progress.
    fn crash_here(&self, node: &NodeName, point: &'static str) -> bool;
}

/// Crash points that never fire.
pub struct NeverCrash;

impl CrashPoints for NeverCrash {
    fn crash_here(&self, _node: &NodeName, _point: &'static str) -> bool {
        false
    }
}
