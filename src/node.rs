//! The environment one node runs in, handed to it by whoever builds the world.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use crate::{
    bugs::Bugs,
    clock::Clock,
    fault_points::{CrashPoint, FaultPoints, ReplyPoint},
    net::{Directory, Fabric},
    observe::{Event, Mark, NodeName, Observer},
    storage::{Disk, Storage},
};

/// Everything a node gets from outside: identity, clock, disk, network, the
/// observer of its trace events, fault points and planted bugs. Cloned into
/// each incarnation of the node; only the disk, and the count of
/// incarnations kept beside it, carry anything across a restart.
#[derive(Clone)]
pub struct NodeEnv {
    pub name: NodeName,
    pub directory: Arc<Directory>,
    pub fabric: Arc<Fabric>,
    pub clock: Clock,
    pub disk: Arc<Disk>,
    pub observer: Arc<dyn Observer>,
    pub faults: Arc<dyn FaultPoints>,
    pub bugs: Bugs,
    /// The node's incarnations as whoever runs it counts them, shared by
    /// every incarnation.
    pub incarnations: Arc<Incarnations>,
}

/// The highest incarnation a node has started, kept by whoever runs the
/// node (the harness; in production, what provisions its machine) outside
/// its disk. A node counts its incarnations on its disk; one whose disk was
/// lost would count from 1 again, and reuse the ids of an earlier life, but
/// for this.
#[derive(Debug, Default)]
pub struct Incarnations(AtomicU64);

impl Incarnations {
    /// The highest incarnation started so far; 0 before the first.
    pub fn last(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    fn started(&self, incarnation: u64) {
        self.0.fetch_max(incarnation, Ordering::Relaxed);
    }
}

/// The file holding a node's incarnation counter.
const INCARNATION_FILE: &str = "incarnation";

impl NodeEnv {
    /// A handle on this node's disk.
    pub fn storage(&self) -> Storage {
        Storage::new(self.disk.clone())
    }

    /// Records a trace event of this node.
    pub fn record(&self, event: Event) {
        // The system's decisions, as logs too: `--log info` tells the story
        // of a run, `--log debug` every step (messages are the fabric's, at
        // trace level).
        if event.is_decision() {
            tracing::info!(node = %self.name, "{event:?}");
        } else {
            tracing::debug!(node = %self.name, "{event:?}");
        }
        self.observer.record(&self.name, event);
    }

    /// Notes that this node reached a situation worth reaching.
    pub fn mark(&self, mark: Mark) {
        self.observer.mark(&self.name, mark);
    }

    /// A crash point: the harness may crash the node here. If it does, this
    /// never returns (the node's tasks are being dropped).
    pub async fn crash_point(&self, point: CrashPoint) {
        if self.faults.crash_here(&self.name, point) {
            self.record(Event::CrashPoint { point });
            std::future::pending::<()>().await;
        }
    }

    /// A reply point: whether the harness loses the reply this node is about
    /// to send (its work stays done).
    pub fn reply_lost(&self, point: ReplyPoint) -> bool {
        let lost = self.faults.lose_reply_here(&self.name, point);
        if lost {
            self.record(Event::ReplyLost { point });
        }
        lost
    }

    /// Starts a new incarnation: bumps the persisted incarnation number, syncs
    /// it, records the boot and returns the number. Request and transaction
    /// ids embed it, so a late duplicate from an earlier life never collides
    /// with a new one. A node whose disk was lost starts past the highest
    /// incarnation [`Incarnations`] saw; otherwise the two agree (both move
    /// only once the number is synced).
    pub async fn boot(&self) -> u64 {
        let storage = self.storage();
        let previous = storage
            .read_records(INCARNATION_FILE)
            .records
            .last()
            .and_then(|record| <[u8; 8]>::try_from(record.as_slice()).ok())
            .map_or(0, u64::from_le_bytes);
        let incarnation = previous.max(self.incarnations.last()) + 1;
        storage.append_record(INCARNATION_FILE, &incarnation.to_le_bytes());
        storage.sync(INCARNATION_FILE).await;
        self.incarnations.started(incarnation);
        self.record(Event::Boot { incarnation });
        incarnation
    }

    /// Sleeps on this node's monotonic clock.
    pub async fn sleep(&self, duration: Duration) {
        self.clock.sleep(duration).await;
    }
}

#[cfg(test)]
impl NodeEnv {
    /// A node of a unit test's world on `fabric`: its own clock and disk
    /// (syncs of 1 to 2 ms), no fault points, no observer, `bugs` planted.
    pub(crate) fn for_tests(
        name: &NodeName,
        directory: Arc<Directory>,
        fabric: Arc<Fabric>,
        bugs: Bugs,
    ) -> NodeEnv {
        NodeEnv {
            name: name.clone(),
            directory,
            fabric,
            clock: Clock::new(crate::clock::ClockSkew::new()),
            disk: Disk::new(crate::storage::DiskConfig {
                sync_latency: Duration::from_millis(1)..Duration::from_millis(2),
            }),
            observer: Arc::new(crate::observe::Discard),
            faults: Arc::new(crate::fault_points::NoFaults),
            bugs,
            incarnations: Arc::default(),
        }
    }

    /// The nodes `names`, in order, of a unit test's world on `network`
    /// (its directory and fabric), no bug planted.
    pub(crate) fn all_for_tests<const N: usize>(
        network: &(Arc<Directory>, Arc<Fabric>),
        names: [&str; N],
    ) -> [NodeEnv; N] {
        let (directory, fabric) = network;
        names.map(|name| {
            NodeEnv::for_tests(
                &NodeName::new(name),
                directory.clone(),
                fabric.clone(),
                Bugs::default(),
            )
        })
    }
}
