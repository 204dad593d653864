//! Request/response calls over the fabric.
//!
//! A call gets an id that embeds the caller's persisted incarnation, so a
//! response that arrives after a restart can never complete a new call. The
//! first response to a call wins; later copies are dropped. Requests are
//! queued for the node's server (bounded, like a socket buffer) and answered
//! through a [`ReplyTo`]; a duplicated request is answered twice.

use futures::{
    StreamExt,
    channel::{mpsc, oneshot},
    future::Either,
};
use serde::{Serialize, de::DeserializeOwned};
use std::{
    cell::Cell,
    collections::BTreeMap,
    net::SocketAddr,
    rc::Rc,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};
use thiserror::Error;

use super::{Fabric, MAX_MESSAGE_BYTES, Packet, PacketKind, Socket, decode, encode};
use crate::{clock::Clock, node::NodeEnv, observe::NodeName};

/// Requests waiting for the server before new ones are dropped.
const INCOMING_QUEUE: usize = 1024;
/// Calls in flight before new ones fail at once.
const MAX_PENDING_CALLS: usize = 4096;

/// Why a call returned no response.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CallError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("unknown node {0}")]
    UnknownNode(String),
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    #[error("too many calls in flight")]
    Overloaded,
    #[error("malformed response: {0}")]
    Malformed(String),
}

/// A node's messaging handle. Cheap to clone; lives as long as the node.
#[derive(Clone)]
pub struct Rpc {
    inner: Rc<Inner>,
}

struct Inner {
    name: NodeName,
    addr: SocketAddr,
    fabric: Arc<Fabric>,
    directory: Arc<super::Directory>,
    clock: Clock,
    incarnation: u64,
    next_call: Cell<u64>,
    mailbox: Arc<Mailbox>,
}

/// This incarnation's socket: the wire completes the call a response
/// answers, and queues a request for the node's server (bounded, like a
/// socket buffer: a full queue drops it).
struct Mailbox {
    pending: Mutex<BTreeMap<u64, oneshot::Sender<Vec<u8>>>>,
    requests: Mutex<mpsc::Sender<RawRequest>>,
}

impl Mailbox {
    fn pending(&self) -> MutexGuard<'_, BTreeMap<u64, oneshot::Sender<Vec<u8>>>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Socket for Mailbox {
    fn deliver(&self, packet: Packet) {
        if packet.body.len() > MAX_MESSAGE_BYTES {
            return;
        }
        match packet.kind {
            PacketKind::Response { call } => {
                if let Some(waiting) = self.pending().remove(&call) {
                    let _ = waiting.send(packet.body);
                }
            }
            PacketKind::Request { call } => {
                let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
                let _ = requests.try_send(RawRequest {
                    from: packet.from,
                    body: packet.body,
                    reply: ReplyTo {
                        to: packet.from,
                        call,
                    },
                });
            }
        }
    }
}

/// Where to send the response to one request.
#[derive(Debug, Clone, Copy)]
pub struct ReplyTo {
    to: SocketAddr,
    call: u64,
}

/// One decoded request.
#[derive(Debug)]
pub struct Request<T> {
    pub from: SocketAddr,
    pub body: T,
    pub reply: ReplyTo,
}

/// The stream of requests addressed to this node.
pub struct Incoming {
    rx: mpsc::Receiver<RawRequest>,
}

struct RawRequest {
    from: SocketAddr,
    body: Vec<u8>,
    reply: ReplyTo,
}

impl Rpc {
    /// Binds the node's socket on the fabric.
    /// `incarnation` must come from [`NodeEnv::boot`].
    pub async fn bind(env: &NodeEnv, incarnation: u64) -> (Rpc, Incoming) {
        let addr = env
            .directory
            .addr(&env.name)
            .unwrap_or_else(|| panic!("node {} is missing from the directory", env.name));
        let (tx, rx) = mpsc::channel(INCOMING_QUEUE);
        let mailbox = Arc::new(Mailbox {
            pending: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(tx),
        });
        env.fabric.bind(addr.ip(), mailbox.clone());
        let inner = Rc::new(Inner {
            name: env.name.clone(),
            addr,
            fabric: env.fabric.clone(),
            directory: env.directory.clone(),
            clock: env.clock.clone(),
            incarnation,
            next_call: Cell::new(0),
            mailbox,
        });
        (Rpc { inner }, Incoming { rx })
    }

    pub fn name(&self) -> &NodeName {
        &self.inner.name
    }

    /// Looks a node name up in the directory.
    pub fn lookup(&self, name: &str) -> Option<&NodeName> {
        self.inner.directory.lookup(name)
    }

    /// Sends `request` to `to` and waits up to `timeout` (on this node's
    /// monotonic clock) for the first response.
    pub async fn call<Q: Serialize, A: DeserializeOwned>(
        &self,
        to: &NodeName,
        request: &Q,
        timeout: Duration,
    ) -> Result<A, CallError> {
        let (forget, response) = self.send_request(to, request)?;
        let response = self.inner.clock.timeout(timeout, response).await;
        // Forgotten however the wait ends (response, timeout, or the caller
        // dropping it).
        drop(forget);
        answer(response, timeout)
    }

    /// Sends `request` to `to` now, and returns the wait for its first
    /// response (up to `timeout`), which holds no borrow: for an actor that
    /// keeps its calls in flight beside its other inputs, and must not
    /// hold a request back until it next polls them.
    pub fn send_call<Q: Serialize, A: DeserializeOwned + 'static>(
        &self,
        to: &NodeName,
        request: &Q,
        timeout: Duration,
    ) -> impl Future<Output = Result<A, CallError>> + 'static {
        let (forget, response) = match self.send_request(to, request) {
            Ok(sent) => sent,
            Err(error) => return Either::Left(std::future::ready(Err(error))),
        };
        // The timeout runs from the send, however late the wait is polled.
        let response = self.inner.clock.timeout(timeout, response);
        Either::Right(async move {
            let response = response.await;
            // Forgotten however the wait ends, even unpolled.
            drop(forget);
            answer(response, timeout)
        })
    }

    /// Registers a call and puts its request on the wire.
    fn send_request<Q: Serialize>(
        &self,
        to: &NodeName,
        request: &Q,
    ) -> Result<(ForgetCall, oneshot::Receiver<Vec<u8>>), CallError> {
        let inner = &self.inner;
        let dst = inner
            .directory
            .addr(to)
            .ok_or_else(|| CallError::UnknownNode(to.to_string()))?;
        let body = encode(request);
        if body.len() > MAX_MESSAGE_BYTES {
            return Err(CallError::TooLarge(body.len()));
        }
        let call = (inner.incarnation << 40) | inner.next_call.get();
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = inner.mailbox.pending();
            if pending.len() >= MAX_PENDING_CALLS {
                return Err(CallError::Overloaded);
            }
            pending.insert(call, tx);
        }
        inner.next_call.set(inner.next_call.get() + 1);
        let forget = ForgetCall {
            mailbox: inner.mailbox.clone(),
            call,
        };
        let packet = Packet {
            from: inner.addr,
            kind: PacketKind::Request { call },
            body,
        };
        inner
            .fabric
            .transmit(&inner.name, dst.ip(), super::kind_of(request), packet);
        Ok((forget, rx))
    }

    /// Sends the response to a request.
    pub async fn reply<A: Serialize>(&self, reply: ReplyTo, response: &A) {
        let inner = &self.inner;
        let packet = Packet {
            from: inner.addr,
            kind: PacketKind::Response { call: reply.call },
            body: encode(response),
        };
        inner
            .fabric
            .transmit(&inner.name, reply.to.ip(), super::kind_of(response), packet);
    }
}

/// A call's response as the wait for it ended.
fn answer<A: DeserializeOwned>(
    response: Option<Result<Vec<u8>, oneshot::Canceled>>,
    timeout: Duration,
) -> Result<A, CallError> {
    match response {
        Some(Ok(body)) => decode(&body).map_err(|error| CallError::Malformed(error.to_string())),
        Some(Err(_)) | None => Err(CallError::Timeout(timeout)),
    }
}

/// Drops a call's entry among the pending ones when dropped.
struct ForgetCall {
    mailbox: Arc<Mailbox>,
    call: u64,
}

impl Drop for ForgetCall {
    fn drop(&mut self) {
        self.mailbox.pending().remove(&self.call);
    }
}

impl Incoming {
    /// The next request, decoded as `T`. A request that does not decode is
    /// returned as an error with its reply address, so the server can say so.
    pub async fn next<T: DeserializeOwned>(
        &mut self,
    ) -> Option<Result<Request<T>, (ReplyTo, String)>> {
        let raw = self.rx.next().await?;
        Some(match decode(&raw.body) {
            Ok(body) => Ok(Request {
                from: raw.from,
                body,
                reply: raw.reply,
            }),
            Err(error) => Err((raw.reply, error.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::test_network::{network, outcome_on};
    // An address value only, as in `net`: no socket is opened.
    use std::net::IpAddr;

    /// Node environments on one fabric of `a` (10.0.0.1) and `b`
    /// (10.0.0.2), its wire served.
    fn environments(runtime: &madsim::runtime::Runtime) -> (NodeEnv, NodeEnv) {
        // `c` is known, never bound: what is sent there is lost.
        let [a, b] = NodeEnv::all_for_tests(&network(runtime, &["a", "b", "c"], 3), ["a", "b"]);
        (a, b)
    }

    fn elapsed() -> Duration {
        madsim::time::TimeHandle::current().elapsed()
    }

    /// `send_call` puts its request on the wire when made, not when first
    /// polled, and its timeout runs from then; its wait, polled later, gets
    /// the answer; a wait dropped unpolled forgets its call.
    #[test]
    fn a_sent_call_is_on_the_wire_before_its_wait_is_polled() {
        let runtime = madsim::runtime::Runtime::new();
        let (a, b) = environments(&runtime);
        let served = Arc::new(Mutex::new(Vec::new()));
        let served_by_b = served.clone();
        let _b = runtime
            .create_node()
            .ip(IpAddr::from([10, 0, 0, 2]))
            .init(move || {
                let (b, served) = (b.clone(), served_by_b.clone());
                async move {
                    let (rpc, mut incoming) = Rpc::bind(&b, 1).await;
                    while let Some(Ok(request)) = incoming.next::<u64>().await {
                        served.lock().unwrap().push((request.body, elapsed()));
                        rpc.reply(request.reply, &(request.body + 1)).await;
                    }
                }
            })
            .build();
        let (sent_at, answer, pending) = outcome_on(&runtime, 1, move || {
            let a = a.clone();
            async move {
                let (rpc, _incoming) = Rpc::bind(&a, 1).await;
                let b = NodeName::new("b");
                // Let b bind first.
                madsim::time::sleep(Duration::from_millis(5)).await;
                let sent_at = elapsed();
                let wait = rpc.send_call::<_, u64>(&b, &7u64, Duration::from_secs(1));
                let dropped = rpc.send_call::<_, u64>(&b, &9u64, Duration::from_secs(1));
                drop(dropped);
                let lost = Duration::from_millis(20);
                let unanswered = rpc.send_call::<_, u64>(&NodeName::new("c"), &1u64, lost);
                madsim::time::sleep(Duration::from_millis(50)).await;
                let answer = wait.await;
                // Its timeout ran from the send: over before the wait.
                let waited_from = elapsed();
                assert_eq!(unanswered.await, Err(CallError::Timeout(lost)));
                assert_eq!(elapsed(), waited_from);
                let pending = rpc.inner.mailbox.pending().len();
                (sent_at, answer, pending)
            }
        });
        assert_eq!(answer, Ok(8));
        assert_eq!(pending, 0, "every call forgotten");
        let served = served.lock().unwrap().clone();
        assert_eq!(served.len(), 2, "{served:?}");
        for (_, at) in &served {
            let took = *at - sent_at;
            assert!(took <= Duration::from_millis(3), "served after {took:?}");
        }
    }
}
