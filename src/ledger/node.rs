//! A ledger replica `ledger-N`: the service, the applier and the outbox
//! worker of one incarnation. It keeps nothing on disk: everything it knows
//! comes back from the log and the database.

use super::{
    LedgerConfig,
    appender::Appender,
    applier::{self, Folded},
    outbox::Worker,
    protocol::{LedgerRequest, LedgerResponse},
    service::Service,
};
use crate::{chain::ChainClient, db::DbClient, log::LogClient, net::Rpc, node::NodeEnv};

/// Runs one incarnation of a ledger replica until it is killed.
pub async fn run_ledger(env: NodeEnv, config: LedgerConfig) {
    let incarnation = env.boot().await;
    let (rpc, mut incoming) = Rpc::bind(&env, incarnation).await;
    let log = || LogClient::new(rpc.clone(), config.log_replicas.clone());
    let db = DbClient::new(rpc.clone(), config.db.clone(), config.db_timeout);
    let fold = Folded::new(&config, &env);
    let appender = Appender::start(&env, incarnation, log(), config.log_timeout, fold.clone());
    madsim::task::spawn_local(applier::run(
        env.clone(),
        config.clone(),
        log(),
        db.clone(),
        fold.clone(),
        appender.session,
    ));
    let chain = ChainClient::new(
        rpc.clone(),
        config.rpc_nodes.clone(),
        config.replica,
        config.chain_timeout,
    );
    let worker = Worker::new(
        env.clone(),
        config.clone(),
        incarnation,
        db.clone(),
        chain,
        appender.clone(),
        fold.clone(),
    );
    madsim::task::spawn_local(worker.run());
    // Shared, not cloned per request: the configuration holds every
    // account's name.
    let service = std::rc::Rc::new(Service {
        env,
        config,
        appender,
        fold,
    });
    while let Some(request) = incoming.next::<LedgerRequest>().await {
        match request {
            Ok(request) => {
                let (service, rpc) = (service.clone(), rpc.clone());
                madsim::task::spawn_local(async move {
                    let response = service.handle(request.body).await;
                    rpc.reply(request.reply, &response).await;
                });
            }
            Err((reply, error)) => {
                let reason = format!("malformed request: {error}");
                rpc.reply(reply, &LedgerResponse::Malformed { reason })
                    .await;
            }
        }
    }
}
