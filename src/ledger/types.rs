//! What clients ask for, what the log records, and the rules a request must
//! pass.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

use crate::{
    chain::{Transaction, TxHash},
    codec,
    stable_hash::stable_hash,
};

/// Request ids are at most this long.
pub const MAX_REQUEST_ID_BYTES: usize = 64;
/// Account names and addresses are at most this long.
pub const MAX_NAME_BYTES: usize = 64;
/// The largest amount one transfer may move.
pub const MAX_AMOUNT: u64 = 1_000_000_000_000;
/// The prefix of every payable chain address: `user-` and 1 to 9 digits.
pub const ADDRESS_PREFIX: &str = "user-";

/// A client's request to pay `amount` from its internal `account` to the
/// chain address `to_address`. `request_id` is the client's idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransferRequest {
    pub request_id: String,
    pub account: String,
    pub to_address: String,
    pub amount: u64,
}

/// A transfer's id: a function of the client and its request id only, so
/// every retry of a request names the same transfer. It is the memo of the
/// transfer's payout on chain.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TransferId(pub u64);

/// Spelled as everywhere else, in logs and debug output too.
impl fmt::Debug for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

crate::ids::id_serde!(TransferId, "tr-");

impl TransferId {
    pub fn of(client: u64, request_id: &str) -> TransferId {
        TransferId(stable_hash(&("transfer", client, request_id)))
    }

    /// The memo of this transfer's payout.
    pub fn memo(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tr-{:016x}", self.0)
    }
}

/// Why a transfer request was rejected. Each reason is final: retrying the
/// same request gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum Rejection {
    #[error("the request id is empty")]
    EmptyRequestId,
    #[error("the request id is longer than {MAX_REQUEST_ID_BYTES} bytes")]
    RequestIdTooLong,
    #[error("a field is longer than {MAX_NAME_BYTES} bytes")]
    FieldTooLong,
    #[error("the amount is zero")]
    ZeroAmount,
    #[error("the amount {amount} exceeds the limit of {MAX_AMOUNT}")]
    AmountTooLarge { amount: u64 },
    #[error("unknown account {0:?}")]
    UnknownAccount(String),
    #[error("malformed address {0:?}: expected {ADDRESS_PREFIX} and 1 to 9 digits")]
    MalformedAddress(String),
    #[error("overdraw: account {account} holds {balance}, the transfer needs {amount}")]
    Overdraw {
        account: String,
        balance: u64,
        amount: u64,
    },
    #[error("conflict: request id {0:?} was used before with other parameters")]
    Conflict(String),
}

impl Rejection {
    /// The kind of rejection, stable, for checkers and summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::EmptyRequestId => "empty-request-id",
            Rejection::RequestIdTooLong => "request-id-too-long",
            Rejection::FieldTooLong => "field-too-long",
            Rejection::ZeroAmount => "zero-amount",
            Rejection::AmountTooLarge { .. } => "amount-too-large",
            Rejection::UnknownAccount(_) => "unknown-account",
            Rejection::MalformedAddress(_) => "malformed-address",
            Rejection::Overdraw { .. } => "overdraw",
            Rejection::Conflict(_) => "conflict",
        }
    }
}

/// Checks what the service can judge without the log: a request failing
/// this is rejected at the door and never recorded.
pub fn check_shape(request: &TransferRequest) -> Result<(), Rejection> {
    if request.request_id.is_empty() {
        return Err(Rejection::EmptyRequestId);
    }
    if request.request_id.len() > MAX_REQUEST_ID_BYTES {
        return Err(Rejection::RequestIdTooLong);
    }
    if request.account.len() > MAX_NAME_BYTES || request.to_address.len() > MAX_NAME_BYTES {
        return Err(Rejection::FieldTooLong);
    }
    Ok(())
}

/// Checks the parameters against the rules that do not depend on balances.
pub fn check_parameters(
    request: &TransferRequest,
    is_account: impl Fn(&str) -> bool,
) -> Result<(), Rejection> {
    check_shape(request)?;
    if request.amount == 0 {
        return Err(Rejection::ZeroAmount);
    }
    if request.amount > MAX_AMOUNT {
        return Err(Rejection::AmountTooLarge {
            amount: request.amount,
        });
    }
    if !is_account(&request.account) {
        return Err(Rejection::UnknownAccount(request.account.clone()));
    }
    if !is_payable_address(&request.to_address) {
        return Err(Rejection::MalformedAddress(request.to_address.clone()));
    }
    Ok(())
}

/// Whether `address` is a chain address payouts may go to.
pub fn is_payable_address(address: &str) -> bool {
    address.strip_prefix(ADDRESS_PREFIX).is_some_and(|digits| {
        (1..=9).contains(&digits.len()) && digits.bytes().all(|byte| byte.is_ascii_digit())
    })
}

/// A transfer's payout seen deep enough on chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub tx: TxHash,
    pub nonce: u64,
    /// The block that includes it.
    pub height: u64,
    /// Its depth when the worker saw it.
    pub depth: u64,
}

/// One command of the log. A log entry holds a batch of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// A client's request, accepted or rejected when applied.
    Transfer {
        client: u64,
        request: TransferRequest,
    },
    /// A replica's intent to pay `transfer` with `tx`: the exact
    /// transaction, its nonce included, proposed before anything is sent.
    /// The fold takes the first valid intent of a payout whose nonce is the
    /// log's next one, and refuses every other: whoever proposed it learns
    /// from the log that it lost, and sends nothing.
    Intent {
        transfer: TransferId,
        tx: Transaction,
    },
    /// A transfer's payout is confirmed on chain.
    Confirmed {
        transfer: TransferId,
        confirmation: Confirmation,
    },
}

/// Encodes a batch of commands as a log entry's payload. Public so that
/// tests outside the crate (the sim's fold-against-reference property)
/// can write the log the appender writes.
pub fn encode_batch(commands: &[Command]) -> Vec<u8> {
    codec::encode(commands)
}

/// Decodes a log entry's payload; `None` for one the ledger did not write.
pub fn decode_batch(data: &[u8]) -> Option<Vec<Command>> {
    codec::decode(data).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(request_id: &str, account: &str, to: &str, amount: u64) -> TransferRequest {
        TransferRequest {
            request_id: request_id.to_owned(),
            account: account.to_owned(),
            to_address: to.to_owned(),
            amount,
        }
    }

    #[test]
    fn parameters_are_checked_with_their_reason() {
        let accounts = ["acct-0".to_owned()];
        let long = "x".repeat(MAX_REQUEST_ID_BYTES + 1);
        let cases = [
            (request("r", "acct-0", "user-7", 5), None),
            (request("", "acct-0", "user-7", 5), Some("empty-request-id")),
            (
                request(&long, "acct-0", "user-7", 5),
                Some("request-id-too-long"),
            ),
            (request("r", "acct-0", "user-7", 0), Some("zero-amount")),
            (
                request("r", "acct-0", "user-7", u64::MAX),
                Some("amount-too-large"),
            ),
            (request("r", "acct-9", "user-7", 5), Some("unknown-account")),
            (
                request("r", "acct-0", "user-", 5),
                Some("malformed-address"),
            ),
            (
                request("r", "acct-0", "user-1234567890", 5),
                Some("malformed-address"),
            ),
            (
                request("r", "acct-0", "hot-wallet", 5),
                Some("malformed-address"),
            ),
            (
                request("r", "acct-0", "user-1x", 5),
                Some("malformed-address"),
            ),
            (request("r", "acct-0", &long, 5), Some("field-too-long")),
        ];
        for (request, expected) in cases {
            let verdict =
                check_parameters(&request, |name| accounts.iter().any(|known| known == name)).err();
            assert_eq!(
                verdict.as_ref().map(Rejection::kind),
                expected,
                "{request:?}"
            );
        }
    }

    #[test]
    fn transfer_ids_depend_on_client_and_request_id_only() {
        assert_eq!(TransferId::of(1, "a"), TransferId::of(1, "a"));
        assert_ne!(TransferId::of(1, "a"), TransferId::of(2, "a"));
        assert_ne!(TransferId::of(1, "a"), TransferId::of(1, "b"));
        assert!(TransferId::of(1, "a").memo().starts_with("tr-"));
    }

    #[test]
    fn batches_round_trip_and_foreign_payloads_are_refused() {
        let batch = vec![Command::Transfer {
            client: 3,
            request: request("r", "acct-0", "user-7", 5),
        }];
        assert_eq!(decode_batch(&encode_batch(&batch)), Some(batch));
        assert_eq!(decode_batch(&[0xff; 3]), None);
    }
}
