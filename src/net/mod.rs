//! Typed request/response messaging between nodes, over the run's fabric.
//!
//! Every message of the system passes through [`Fabric`], the one choke point
//! where the harness drops, duplicates, delays and cuts messages. A duplicate
//! runs the receiver's handler again; `net` never deduplicates, that is the
//! system's job.

mod directory;
mod fabric;
mod kind;
mod rpc;
#[cfg(test)]
pub(crate) mod test_network;

pub use directory::Directory;
pub use fabric::{DEFAULT_LATENCY, Fabric, FaultRates, NetStats};
pub use kind::kind_of;
pub use rpc::{CallError, Incoming, ReplyTo, Request, Rpc};

use serde::{Serialize, de::DeserializeOwned};
// An address value only: no socket is opened; the fabric carries packets.
use std::net::SocketAddr;

use crate::codec::{self, CodecError};

/// The largest message body a node sends or accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// One datagram between nodes.
#[derive(Debug, Clone)]
struct Packet {
    /// Who sent it and expects any reply.
    from: SocketAddr,
    kind: PacketKind,
    /// The serde-encoded message.
    body: Vec<u8>,
}

/// Where the wire hands the packets that arrive at a node. Called in the
/// wire task as each packet arrives, so that a packet wakes only the task
/// waiting for it, not a receiving task in between.
trait Socket: Send + Sync {
    fn deliver(&self, packet: Packet);
}

#[derive(Debug, Clone, Copy)]
enum PacketKind {
    Request { call: u64 },
    Response { call: u64 },
}

/// Encodes a message body.
fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    codec::encode(message)
}

/// Decodes a message body; bytes from the network may be anything.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    codec::decode_limited(body, MAX_MESSAGE_BYTES)
}
