//! `ledger`: a money-transfer backend that must pay out exactly once per client
//! request although every part of it can crash, pause, be cut off, see messages
//! twice or out of order, and read a skewed clock.
//!
//! Each part runs as its own simulated node and talks to the others only through
//! [`net`]. The parts built so far:
//!
//! - [`log`]: a Raft replicated write-ahead log with client sessions.
//! - [`db`]: the database node: versioned rows, interactive transactions.
//! - [`chain`]: the fake blockchain and its RPC nodes.
//! - [`ledger`]: the transfer service: requests through the log, projected
//!   into the database, paid out on the chain by the outbox worker.
//!
//! The environment a node runs in (its clock, disk, network endpoint, the
//! observer that records its trace events, crash points and planted bugs) is
//! handed to it in a [`node::NodeEnv`]; nothing here reads a global.

#[cfg(not(madsim))]
compile_error!(
    "ledger must be built with `--cfg madsim` (set in .cargo/config.toml). \
     A RUSTFLAGS environment variable replaces those flags: unset it, or add `--cfg madsim` to it."
);

pub mod bugs;
pub mod chain;
pub mod clock;
pub mod codec;
pub mod db;
pub mod fault_points;
pub mod ids;
pub mod ledger;
pub mod log;
pub mod net;
pub mod node;
pub mod observe;
pub mod stable_hash;
pub mod storage;
