//! A `chain-rpc-N` node: what the outside world talks to. It keeps its own
//! mempool, forwards submissions to the chain and rebroadcasts them until
//! its view shows them included, and answers queries from a view of the
//! chain that trails it by `lag`. Crashing it loses its mempool.

use std::{
    cell::RefCell,
    collections::{BTreeMap, VecDeque},
    rc::Rc,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use super::{
    node::{ChainFaults, FORK_WINDOW, forgets},
    protocol::{ChainRequest, ChainResponse, MAX_RECEIPTS},
    state::{Accepted, ChainView, MAX_PENDING, Receipt, SubmitError, check_alone},
    types::{Address, Block, BlockHash, SigningKey, Transaction, TxHash},
};
use crate::{
    bugs::Bug,
    net::{Request, Rpc},
    node::NodeEnv,
    observe::{Mark, NodeName},
};

/// An RPC node's settings.
#[derive(Debug, Clone)]
pub struct RpcNodeConfig {
    pub chain: NodeName,
    pub genesis: BTreeMap<Address, u64>,
    /// Every account's key, to check a submission's signature against.
    pub keys: BTreeMap<Address, SigningKey>,
    /// How far behind the chain this node's view trails.
    pub lag: Duration,
    /// How long the chain may hold its request for new blocks when it has
    /// none: the node asks again as soon as it is answered.
    pub wait: Duration,
    /// How long it waits before asking again after the chain did not
    /// answer.
    pub poll: Duration,
    /// How often it resends what its mempool holds.
    pub rebroadcast: Duration,
    /// How long it waits for the chain.
    pub call_timeout: Duration,
    pub faults: Arc<ChainFaults>,
    /// Where this node keeps its mempool.
    pub mempool: Arc<Mempool>,
}

/// An RPC node's mempool: memory of the node, emptied when an incarnation
/// starts. It lives outside the node's tasks only so that the harness can
/// read what is still on its way to the chain (a run's verdict waits until
/// nothing is); the node never reads it from anywhere else.
#[derive(Debug, Default)]
pub struct Mempool(Mutex<BTreeMap<TxHash, Transaction>>);

impl Mempool {
    /// What the mempool holds, by hash.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<TxHash, Transaction>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct RpcState {
    view: ChainView,
    /// Blocks fetched but not yet visible: (visible at, from height, blocks).
    arriving: VecDeque<(Duration, u64, Vec<Block>)>,
    /// The chain's tip as last fetched: the next fetch continues from it.
    fetched: (u64, BlockHash),
    /// Transactions this incarnation answered a receipt for, by the height
    /// they were reported at: only noted, to mark a reorg that takes one
    /// back. Those deeper than the fork window are let go: no reorg reaches
    /// them.
    reported: BTreeMap<TxHash, u64>,
}

/// Runs one incarnation of an RPC node until it is killed.
pub async fn run_chain_rpc(env: NodeEnv, config: RpcNodeConfig) {
    // A new life remembers nothing of the last one's mempool.
    config.mempool.lock().clear();
    let incarnation = env.boot().await;
    let (rpc, mut incoming) = Rpc::bind(&env, incarnation).await;
    let state = Rc::new(RefCell::new(RpcState {
        view: ChainView::new(config.genesis.clone()),
        arriving: VecDeque::new(),
        fetched: (0, BlockHash(0)),
        reported: BTreeMap::new(),
    }));
    madsim::task::spawn_local(sync(
        env.clone(),
        config.clone(),
        rpc.clone(),
        state.clone(),
    ));
    madsim::task::spawn_local(rebroadcast(
        env.clone(),
        config.clone(),
        rpc.clone(),
        state.clone(),
    ));
    let config = Rc::new(config);
    while let Some(request) = incoming.next::<ChainRequest>().await {
        match request {
            // Each request is served in its own task, as a real RPC node
            // serves them concurrently: a submission waits on the chain, and
            // queries must not queue behind it.
            Ok(request) => {
                madsim::task::spawn_local(serve(
                    env.clone(),
                    config.clone(),
                    rpc.clone(),
                    state.clone(),
                    request,
                ));
            }
            Err((reply, error)) => {
                let reason = format!("malformed request: {error}");
                rpc.reply(reply, &ChainResponse::Rejected { reason }).await;
            }
        }
    }
}

async fn serve(
    env: NodeEnv,
    config: Rc<RpcNodeConfig>,
    rpc: Rpc,
    state: Rc<RefCell<RpcState>>,
    request: Request<ChainRequest>,
) {
    let (env, state) = (&env, &state);
    show_arrived(env, state);
    let response = match request.body {
        ChainRequest::Submit(tx) => ChainResponse::Submitted(submit(env, &config, &rpc, tx).await),
        ChainRequest::Account { address } => {
            let state = state.borrow();
            ChainResponse::Account {
                balance: state.view.balance(&address),
                next_nonce: state.view.next_nonce(&address),
            }
        }
        ChainRequest::Receipt { hash } => ChainResponse::Receipt(receipt(env, state, hash)),
        ChainRequest::Receipts { hashes } if hashes.len() > MAX_RECEIPTS => {
            ChainResponse::Rejected {
                reason: format!(
                    "{} receipts asked for at once; at most {MAX_RECEIPTS}",
                    hashes.len()
                ),
            }
        }
        ChainRequest::Receipts { hashes } => ChainResponse::Receipts(
            hashes
                .into_iter()
                .map(|hash| receipt(env, state, hash))
                .collect(),
        ),
        ChainRequest::Height => ChainResponse::Height(state.borrow().view.height()),
        ChainRequest::Blocks { .. } => ChainResponse::Rejected {
            reason: "RPC nodes do not serve blocks".to_owned(),
        },
    };
    rpc.reply(request.reply, &response).await;
}

/// Where `hash` sits in this node's view.
fn receipt(env: &NodeEnv, state: &Rc<RefCell<RpcState>>, hash: TxHash) -> Option<Receipt> {
    let mut state = state.borrow_mut();
    let receipt = state.view.receipt(hash);
    if let Some(found) = &receipt {
        let tip = state.view.height();
        state.reported.insert(hash, found.height);
        state
            .reported
            .retain(|_, height| *height + FORK_WINDOW >= tip);
    } else if state.arriving.iter().any(|(_, _, blocks)| {
        blocks
            .iter()
            .any(|block| block.transactions.iter().any(|tx| tx.hash() == hash))
    }) {
        env.mark(Mark::RpcReceiptUnknownWhileArriving);
    }
    receipt
}

/// Takes `tx` into this node's mempool and forwards it: the chain's verdict,
/// or `New` when the chain did not answer in time (it stays here and is
/// rebroadcast).
async fn submit(
    env: &NodeEnv,
    config: &RpcNodeConfig,
    rpc: &Rpc,
    tx: Transaction,
) -> Result<Accepted, SubmitError> {
    // Checked before the pool takes it: a node that cannot reach the chain
    // still tells a forger no, rather than "accepted".
    check_alone(&config.keys, env.bugs.has(Bug::ChainSkipsSignature), &tx)?;
    let hash = tx.hash();
    {
        let mut mempool = config.mempool.lock();
        if mempool.len() >= MAX_PENDING && !mempool.contains_key(&hash) {
            return Err(SubmitError::MempoolFull);
        }
        mempool.insert(hash, tx.clone());
    }
    match rpc
        .call::<_, ChainResponse>(
            &config.chain,
            &ChainRequest::Submit(tx),
            config.call_timeout,
        )
        .await
    {
        Ok(ChainResponse::Submitted(verdict)) => {
            if verdict.is_err() {
                config.mempool.lock().remove(&hash);
            }
            verdict
        }
        _ => {
            env.mark(Mark::RpcSubmitUnanswered);
            Ok(Accepted::New)
        }
    }
}

/// Follows the chain: fetches what is new after the last fetched tip (the
/// chain answers as soon as it has something, or after `wait`), and lets
/// it become visible `lag` later.
async fn sync(env: NodeEnv, config: RpcNodeConfig, rpc: Rpc, state: Rc<RefCell<RpcState>>) {
    loop {
        show_arrived(&env, &state);
        let (after_height, after_hash) = state.borrow().fetched;
        let request = ChainRequest::Blocks {
            after_height,
            after_hash,
            wait_us: config.wait.as_micros() as u64,
        };
        let Ok(ChainResponse::Blocks {
            from_height,
            blocks,
            ..
        }) = rpc
            .call::<_, ChainResponse>(&config.chain, &request, config.wait + config.call_timeout)
            .await
        else {
            env.sleep(config.poll).await;
            continue;
        };
        let Some(last) = blocks.last() else { continue };
        let mut state = state.borrow_mut();
        state.fetched = (last.height, last.hash);
        let visible_at = env.clock.mono_now() + config.lag;
        state.arriving.push_back((visible_at, from_height, blocks));
    }
}

/// Moves fetched blocks whose lag has passed into the view.
fn show_arrived(env: &NodeEnv, state: &Rc<RefCell<RpcState>>) {
    let now = env.clock.mono_now();
    let mut state = state.borrow_mut();
    while state.arriving.front().is_some_and(|(at, _, _)| *at <= now) {
        let (_, from_height, blocks) = state.arriving.pop_front().expect("checked");
        if from_height > state.view.height() {
            state.view.replace_from(from_height, blocks);
            continue;
        }
        // The fetch restarted below this node's tip: a reorg replaced it.
        let before = state.view.height();
        let reorged = blocks.iter().any(|block| {
            let held = state.view.blocks().get(block.height as usize - 1);
            held.is_some_and(|held| held.hash != block.hash)
        });
        let removed: Vec<TxHash> = state.view.blocks()[from_height as usize - 1..]
            .iter()
            .flat_map(|block| block.transactions.iter().map(Transaction::hash))
            .filter(|hash| state.reported.contains_key(hash))
            .collect();
        state.view.replace_from(from_height, blocks);
        if reorged {
            env.mark(Mark::RpcViewReorged);
        }
        if state.view.height() < before {
            env.mark(Mark::RpcViewShrank);
        }
        if removed
            .iter()
            .any(|hash| state.view.receipt(*hash).is_none())
        {
            env.mark(Mark::RpcReportedInclusionLost);
        }
    }
}

/// Resends what the mempool holds until the view shows it included; forgets
/// what the chain rejects (and, as a fault, what `chain_drop` says).
async fn rebroadcast(env: NodeEnv, config: RpcNodeConfig, rpc: Rpc, state: Rc<RefCell<RpcState>>) {
    loop {
        env.sleep(config.rebroadcast).await;
        show_arrived(&env, &state);
        let waiting: Vec<Transaction> = {
            let state = state.borrow();
            let mut mempool = config.mempool.lock();
            mempool
                .retain(|hash, _| state.view.receipt(*hash).is_none() && !forgets(&config.faults));
            mempool.values().cloned().collect()
        };
        for tx in waiting {
            let hash = tx.hash();
            let verdict = rpc
                .call::<_, ChainResponse>(
                    &config.chain,
                    &ChainRequest::Submit(tx),
                    config.call_timeout,
                )
                .await;
            if let Ok(ChainResponse::Submitted(Err(_))) = verdict {
                env.mark(Mark::RpcRebroadcastRefused);
                config.mempool.lock().remove(&hash);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        chain::{
            ChainClient, ChainError,
            node::{ChainConfig, run_chain},
            state::{ChainSetup, ChainState},
            types::Transfer,
        },
        net::test_network::{network, outcome_on},
    };
    // An address value only, as in `net`: no socket is opened.
    use std::net::IpAddr;

    /// The test network's names: the client at 10.0.0.1, the RPC node at
    /// 10.0.0.2, the chain at 10.0.0.3.
    const NAMES: [&str; 3] = ["client", "chain-rpc-1", "chain"];

    /// An RPC node of a chain with these accounts.
    fn config(
        genesis: BTreeMap<Address, u64>,
        keys: BTreeMap<Address, SigningKey>,
    ) -> RpcNodeConfig {
        RpcNodeConfig {
            chain: NodeName::new("chain"),
            genesis,
            keys,
            lag: Duration::ZERO,
            wait: Duration::from_millis(100),
            poll: Duration::from_millis(100),
            rebroadcast: Duration::from_secs(1),
            call_timeout: Duration::from_millis(300),
            faults: Arc::new(ChainFaults::default()),
            mempool: Arc::default(),
        }
    }

    /// Starts the RPC node, as `env`, at its address.
    fn start_the_node(
        runtime: &madsim::runtime::Runtime,
        env: NodeEnv,
        config: RpcNodeConfig,
    ) -> madsim::runtime::NodeHandle {
        runtime
            .create_node()
            .ip(IpAddr::from([10, 0, 0, 2]))
            .init(move || run_chain_rpc(env.clone(), config.clone()))
            .build()
    }

    /// A client of the RPC node, bound as `env`.
    async fn client_of_the_node(env: &NodeEnv) -> ChainClient {
        let (rpc, _incoming) = Rpc::bind(env, 1).await;
        ChainClient::new(
            rpc,
            vec![NodeName::new("chain-rpc-1")],
            0,
            Duration::from_secs(1),
        )
    }

    /// What a client is told when it asks an RPC node for `count` receipts
    /// in one request.
    fn ask_for_receipts(count: usize) -> Result<Vec<Option<Receipt>>, ChainError> {
        let runtime = madsim::runtime::Runtime::new();
        let network = network(&runtime, &NAMES, 5);
        let [node, client_env] = NodeEnv::all_for_tests(&network, ["chain-rpc-1", "client"]);
        // The chain's address is never bound: the node's own calls to it
        // go unanswered, which a query does not wait on.
        let config = config(BTreeMap::new(), BTreeMap::new());
        let _node = start_the_node(&runtime, node, config);
        outcome_on(&runtime, 1, move || {
            let client = client_env.clone();
            async move {
                let mut chain = client_of_the_node(&client).await;
                chain
                    .receipts((0..count as u64).map(TxHash).collect())
                    .await
            }
        })
    }

    /// A batch of receipts is answered up to its limit and refused, saying
    /// why, past it: a client cannot make a node do unbounded work in one
    /// request.
    #[test]
    fn a_batch_of_receipts_past_the_limit_is_refused() {
        let answered = ask_for_receipts(MAX_RECEIPTS).expect("a full batch is answered");
        assert_eq!(answered, vec![None; MAX_RECEIPTS]);
        let refused = ask_for_receipts(MAX_RECEIPTS + 1);
        assert!(
            matches!(
                &refused,
                Err(ChainError::Refused(reason))
                    if *reason == format!("{} receipts asked for at once; at most {MAX_RECEIPTS}", MAX_RECEIPTS + 1)
            ),
            "a batch of {} receipts: {:?}",
            MAX_RECEIPTS + 1,
            refused.as_ref().map(Vec::len)
        );
    }

    /// An RPC node passes the chain's verdict on: a refusal reaches the
    /// client, and the refused transaction leaves the node's pool rather
    /// than being sent again; what the chain takes is accepted, and a copy
    /// of it is known. Told "accepted" for what the chain refused, a wallet
    /// would wait for a payment that can never land. The node's view of
    /// each account reaches the client as it stands.
    #[test]
    fn the_chain_s_verdict_reaches_the_client_and_a_refusal_leaves_the_pool() {
        let runtime = madsim::runtime::Runtime::new();
        let network = network(&runtime, &NAMES, 9);
        let [client_env, node, chain] = NodeEnv::all_for_tests(&network, NAMES);
        let key = SigningKey::derive(3, "alice");
        let genesis = BTreeMap::from([("alice".to_owned(), 10)]);
        let keys = BTreeMap::from([("alice".to_owned(), key)]);
        let state = Arc::new(Mutex::new(ChainState::new(ChainSetup {
            genesis: genesis.clone(),
            keys: keys.clone(),
            block_size: 10,
            double_include: false,
            skip_signatures: false,
            reorg_loses_transactions: false,
            replacement_fee_inverted: false,
        })));
        let chain_config = ChainConfig {
            // No block while the test runs: what the chain takes stays
            // pending.
            block_time: Duration::from_secs(3600),
            faults: Arc::new(ChainFaults::default()),
        };
        let _chain = runtime
            .create_node()
            .ip(IpAddr::from([10, 0, 0, 3]))
            .init(move || run_chain(chain.clone(), chain_config.clone(), state.clone()))
            .build();
        let config = config(genesis, keys);
        let mempool = config.mempool.clone();
        let _node = start_the_node(&runtime, node, config);
        let pay = |amount| {
            key.sign(Transfer {
                from: "alice".to_owned(),
                nonce: 0,
                to: "bob".to_owned(),
                amount,
                fee: 1,
                memo: String::new(),
            })
        };
        let (too_much, affordable) = (pay(100), pay(5));
        let (verdicts, accounts) = outcome_on(&runtime, 1, move || {
            let (client, too_much, affordable) =
                (client_env.clone(), too_much.clone(), affordable.clone());
            async move {
                let mut chain = client_of_the_node(&client).await;
                let verdicts = vec![
                    chain.submit(too_much).await,
                    chain.submit(affordable.clone()).await,
                    chain.submit(affordable).await,
                ];
                let accounts = vec![chain.account("alice").await, chain.account("bob").await];
                (verdicts, accounts)
            }
        });
        assert_eq!(
            verdicts,
            vec![
                Err(ChainError::Rejected(SubmitError::InsufficientFunds {
                    from: "alice".to_owned(),
                    balance: 10,
                    cost: 101,
                })),
                Ok(Accepted::New),
                Ok(Accepted::Known),
            ]
        );
        assert_eq!(mempool.transactions(), vec![pay(5)]);
        // A pending payment moves nothing: the view's balances and next
        // nonces are still genesis's, `(balance, next nonce)` each.
        assert_eq!(accounts, vec![Ok((10, 0)), Ok((0, 0))]);
    }
}
