//! The network of a unit test's world: a directory and a fabric, no fault.

use futures::channel::oneshot;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
// Address values only, as in `net`: no socket is opened.
use std::{
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use super::{Directory, Fabric};
use crate::observe::{Discard, NodeName};

/// The address of the node at `position` (from 1) of a test's names:
/// `10.0.0.<position>`.
pub(crate) fn address(position: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, position], 1))
}

/// Each of `names` at the address of its position, on a fabric drawing
/// from `seed` whose wire a node of `runtime` serves.
pub(crate) fn network(
    runtime: &madsim::runtime::Runtime,
    names: &[&str],
    seed: u64,
) -> (Arc<Directory>, Arc<Fabric>) {
    let mut directory = Directory::default();
    for (at, name) in names.iter().enumerate() {
        directory.insert(NodeName::new(name), address(at as u8 + 1));
    }
    let directory = Arc::new(directory);
    let fabric = Fabric::new(
        directory.clone(),
        Arc::new(Discard),
        ChaCha8Rng::seed_from_u64(seed),
    );
    let wire = runtime.create_node().name("wire").build();
    wire.spawn(fabric.clone().serve_wire());
    (directory, fabric)
}

/// Runs `task` on a node of `runtime` at the address of `position` until
/// the test has what its first life returned.
pub(crate) fn outcome_on<T, F>(
    runtime: &madsim::runtime::Runtime,
    position: u8,
    task: impl Fn() -> F + Send + Sync + 'static,
) -> T
where
    F: Future<Output = T> + 'static,
    T: Send + 'static,
{
    let (report, outcome) = oneshot::channel();
    let report = Arc::new(Mutex::new(Some(report)));
    let _node = runtime
        .create_node()
        .ip(IpAddr::from([10, 0, 0, position]))
        .init(move || {
            let (run, report) = (task(), report.clone());
            async move {
                let found = run.await;
                if let Some(report) = report.lock().unwrap().take() {
                    let _ = report.send(found);
                }
            }
        })
        .build();
    runtime
        .block_on(outcome)
        .expect("the node reports what it found")
}
