//! The `chain` node: the canonical chain, the world's truth. It never
//! crashes; the harness holds its state. A block every `block_time`.

use futures::{FutureExt, pin_mut, select_biased};
use rand::Rng;
use std::{
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use super::{
    ChainEvent,
    protocol::{ChainRequest, ChainResponse},
    state::{Accepted, ChainState, SubmitError},
};
use crate::{
    clock::Alarm,
    net::{ReplyTo, Rpc},
    node::NodeEnv,
    observe::{Event, Mark},
};

/// Blocks sent in one answer at most.
const MAX_BLOCKS_PER_ANSWER: usize = 64;
/// How far back a node that fell off the canonical chain is resent blocks
/// from: deeper than any reorg (which stays below `confirmations` ≤ 64).
pub const FORK_WINDOW: u64 = 64;

/// A fault knob the harness turns: the probability that a mempool forgets a
/// pending transaction (per block on the chain, per rebroadcast on an RPC
/// node).
#[derive(Debug, Default)]
pub struct ChainFaults {
    forget_bits: AtomicU64,
}

impl ChainFaults {
    pub fn new(forget: f64) -> Arc<ChainFaults> {
        let faults = ChainFaults::default();
        faults.set_forget(forget);
        Arc::new(faults)
    }

    pub fn set_forget(&self, probability: f64) {
        self.forget_bits
            .store(probability.clamp(0.0, 1.0).to_bits(), Ordering::Relaxed);
    }

    pub fn forget(&self) -> f64 {
        f64::from_bits(self.forget_bits.load(Ordering::Relaxed))
    }
}

/// The chain node's settings.
#[derive(Debug, Clone)]
pub struct ChainConfig {
    pub block_time: Duration,
    pub faults: Arc<ChainFaults>,
}

/// Runs the chain node. `state` is shared with the harness: the chain never
/// crashes, and what it holds is the ground truth.
pub async fn run_chain(env: NodeEnv, config: ChainConfig, state: Arc<Mutex<ChainState>>) {
    let incarnation = env.boot().await;
    let (rpc, mut incoming) = Rpc::bind(&env, incarnation).await;
    let lock = || state.lock().unwrap_or_else(PoisonError::into_inner);
    let mut next_block = env.clock.mono_now() + config.block_time;
    // Requests for blocks held until there is something new, by deadline.
    let mut held: Vec<Held> = Vec::new();
    let mut alarm = Alarm::new(env.clock.clone());
    loop {
        let now = env.clock.mono_now();
        if now >= next_block {
            next_block += config.block_time;
            produce(&env, &config, lock());
            // Everyone waiting hears of the new block now.
            for waiting in std::mem::take(&mut held) {
                answer_blocks(&env, &rpc, &lock, waiting).await;
            }
            continue;
        }
        if let Some(due) = held.iter().position(|waiting| waiting.until <= now) {
            let waiting = held.swap_remove(due);
            answer_blocks(&env, &rpc, &lock, waiting).await;
            continue;
        }
        let wake = held
            .iter()
            .map(|waiting| waiting.until)
            .fold(next_block, Duration::min);
        alarm.set(wake);
        let request = {
            let timer = alarm.ring().fuse();
            let request = incoming.next::<ChainRequest>().fuse();
            pin_mut!(timer, request);
            select_biased! {
                request = request => Some(request),
                () = timer => None,
            }
        };
        match request {
            None => {}
            Some(None) => return,
            Some(Some(Err((reply, error)))) => {
                let reason = format!("malformed request: {error}");
                rpc.reply(reply, &ChainResponse::Rejected { reason }).await;
            }
            Some(Some(Ok(request))) => match request.body {
                ChainRequest::Blocks {
                    after_height,
                    after_hash,
                    wait_us,
                } => {
                    let (response, mark) = blocks_after(&lock(), after_height, after_hash);
                    mark_if(&env, mark);
                    let nothing_new = matches!(&response, ChainResponse::Blocks { blocks, .. } if blocks.is_empty());
                    if nothing_new && wait_us > 0 {
                        held.push(Held {
                            reply: request.reply,
                            after_height,
                            after_hash,
                            until: now + Duration::from_micros(wait_us),
                        });
                    } else {
                        rpc.reply(request.reply, &response).await;
                    }
                }
                body => {
                    let (response, mark) = answer(&mut lock(), body);
                    mark_if(&env, mark);
                    rpc.reply(request.reply, &response).await;
                }
            },
        }
    }
}

/// A request for the blocks after a tip, held until there is news.
struct Held {
    reply: ReplyTo,
    after_height: u64,
    after_hash: super::BlockHash,
    until: Duration,
}

/// Answers a held request for blocks with what the chain holds after its
/// tip now. The state is unlocked before the reply is sent: the harness
/// reads it when it sees the message.
async fn answer_blocks<'a>(
    env: &NodeEnv,
    rpc: &Rpc,
    lock: &impl Fn() -> MutexGuard<'a, ChainState>,
    waiting: Held,
) {
    let (response, mark) = blocks_after(&lock(), waiting.after_height, waiting.after_hash);
    mark_if(env, mark);
    rpc.reply(waiting.reply, &response).await;
}

/// Notes `mark`, if any: after the state is unlocked, like events.
fn mark_if(env: &NodeEnv, mark: Option<Mark>) {
    if let Some(mark) = mark {
        env.mark(mark);
    }
}

/// The blocks after the tip `after_height`/`after_hash`, from the fork
/// point when that tip is no longer canonical; and the mark of a tip a
/// reorg replaced.
fn blocks_after(
    state: &ChainState,
    after_height: u64,
    after_hash: super::BlockHash,
) -> (ChainResponse, Option<Mark>) {
    let mark = (!state.holds(after_height, after_hash)).then_some(Mark::FollowerOnReplacedFork);
    let (from_height, blocks) =
        state.catch_up(after_height, after_hash, FORK_WINDOW, MAX_BLOCKS_PER_ANSWER);
    let response = ChainResponse::Blocks {
        from_height,
        blocks,
        height: state.height(),
    };
    (response, mark)
}

/// The answer to `request`, and the mark of the situation it met, if any.
fn answer(
    state: &mut MutexGuard<'_, ChainState>,
    request: ChainRequest,
) -> (ChainResponse, Option<Mark>) {
    match request {
        ChainRequest::Submit(tx) => {
            let hash = tx.hash();
            let (from, nonce) = (&tx.transfer.from, tx.transfer.nonce);
            // The nonce right before this one is neither spent nor pending.
            let gap = nonce > state.next_nonce(from) && !state.is_pending_nonce(from, nonce - 1);
            let verdict = state.submit(tx);
            let mark = match &verdict {
                Ok(Accepted::Replaced { .. }) | Err(SubmitError::ReplacementUnderpriced { .. }) => {
                    Some(Mark::NonceContestedInMempool)
                }
                Err(SubmitError::NonceTooLow { .. }) if state.receipt(hash).is_some() => {
                    Some(Mark::SubmitOfIncludedTransaction)
                }
                Err(SubmitError::NonceTooLow { .. }) => Some(Mark::NonceSpentByOtherTransaction),
                Ok(Accepted::New) if gap => Some(Mark::NonceGapInMempool),
                _ => None,
            };
            (ChainResponse::Submitted(verdict), mark)
        }
        ChainRequest::Blocks {
            after_height,
            after_hash,
            ..
        } => blocks_after(state, after_height, after_hash),
        ChainRequest::Account { .. }
        | ChainRequest::Receipt { .. }
        | ChainRequest::Receipts { .. }
        | ChainRequest::Height => {
            let reason = "the chain serves its RPC nodes; ask one of them".to_owned();
            (ChainResponse::Rejected { reason }, None)
        }
    }
}

/// Makes a block. Events are recorded after the state is unlocked: the
/// harness's observer reads the state when it sees a block.
fn produce(env: &NodeEnv, config: &ChainConfig, mut state: MutexGuard<'_, ChainState>) {
    let forget = config.faults.forget();
    let forgotten = if forget > 0.0 {
        state
            .drop_pending(forget, &mut madsim::rand::thread_rng())
            .len()
    } else {
        0
    };
    let block = state.produce_block();
    let made = ChainEvent::Block {
        height: block.height,
        hash: block.hash,
        included: block
            .transactions
            .iter()
            .map(super::Transaction::hash)
            .collect(),
    };
    let stalled = matches!(&made, ChainEvent::Block { included, .. } if included.is_empty())
        && state.pending().next().is_some();
    drop(state);
    if forgotten > 0 {
        env.record(Event::Chain(ChainEvent::Forgotten {
            transactions: forgotten as u32,
        }));
    }
    env.record(Event::Chain(made));
    if stalled {
        // Nothing pending carried its sender's next nonce.
        env.mark(Mark::BlockStalledOnNonceGap);
    }
}

/// Draws whether a mempool forgets one transaction.
pub(super) fn forgets(faults: &ChainFaults) -> bool {
    let forget = faults.forget();
    forget > 0.0 && madsim::rand::thread_rng().gen_bool(forget)
}
