//! `liveness`, online: the ledger never sends the log a command the log
//! must refuse. Every request a client can make is bounded, and a ledger
//! replica batches commands only up to what the log takes, so a refusal
//! means the replica built a batch too large: the log appends none of it,
//! and every request behind it waits for a commit that never comes until
//! its client gives up and retries. Only runs whose log serves ledger
//! replicas are held to it: the `log` workload's own clients send
//! oversized commands on purpose.

use ledger::{
    log::{LogEvent, MAX_COMMAND_BYTES},
    observe::NodeName,
};

pub(super) fn observe(node: &NodeName, event: &LogEvent) -> Option<String> {
    let LogEvent::Refused { client, bytes } = event else {
        return None;
    };
    Some(format!(
        "{node} refused a command of {bytes} bytes from a ledger replica (session {client:016x}), over the log's limit of {MAX_COMMAND_BYTES}: none of the commands batched in it is appended, and the requests behind them wait for nothing"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_command_is_named_with_its_size() {
        let node = NodeName::new("log-2");
        let refused = LogEvent::Refused {
            client: 0xabc,
            bytes: 5000,
        };
        let found = observe(&node, &refused).expect("a violation");
        assert!(
            found.starts_with("log-2 refused a command of 5000 bytes from a ledger replica (session 0000000000000abc), over the log's limit of 4096"),
            "{found}"
        );
        assert_eq!(observe(&node, &LogEvent::Elected { term: 3 }), None);
    }
}
