//! Typed request/response messaging between nodes, over madsim endpoints.
//!
//! Every message of the system passes through [`Fabric`], the one choke point
//! where the harness drops, duplicates, delays and cuts messages. A duplicate
//! runs the receiver's handler again; `net` never deduplicates, that is the
//! system's job.

mod directory;
mod fabric;
mod rpc;

pub use directory::Directory;
pub use fabric::{Fabric, FaultRates, NetStats};
pub use rpc::{CallError, Incoming, ReplyTo, Request, Rpc};

use serde::{Serialize, de::DeserializeOwned};
// An address value only: madsim's endpoints speak std's type.
use std::net::SocketAddr;

use crate::codec::{self, CodecError};

/// The largest message body a node sends or accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The madsim tag all of our packets travel under.
const PACKET_TAG: u64 = 0x1ed6e5;

/// One datagram between nodes.
#[derive(Debug, Clone)]
struct Packet {
    /// Who sent it and expects any reply. Not the transport source address:
    /// delayed copies are re-sent by the harness's wire node.
    from: SocketAddr,
    kind: PacketKind,
    /// The serde-encoded message.
    body: Vec<u8>,
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
