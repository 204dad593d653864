//! `chain-safety`, online: the chain keeps its fee rule for replacements.
//! A transaction at a nonce its sender has pending replaces the pending
//! one only by paying more (geth's rule, without its minimum bump): else
//! anyone holding a copy could push a payment out for nothing, and a
//! wallet's speed-up would be lost. Judged on the answer to each speed-up
//! a client's wallet sent, against the fees of the transactions that
//! client itself signed at that nonce:
//!
//! - taken in place of a transaction, that transaction must be one the
//!   client sent at that nonce, paying less than the speed-up;
//! - refused as underpriced, the pending fee it was measured against must
//!   be at least the speed-up's.
//!
//! The mempool's own unit tests pin the boundary (an equal fee is refused),
//! which no wallet reaches: every speed-up pays strictly more.

use crate::events::{HarnessEvent, Replacement};

pub(super) fn observe(event: &HarnessEvent) -> Option<String> {
    let HarnessEvent::SpedUp {
        client,
        seq,
        tx,
        fee,
        answer,
        replacement,
    } = event
    else {
        return None;
    };
    let problem = match replacement {
        Replacement::Replaced {
            previous,
            previous_fee: Some(previous_fee),
        } if previous_fee >= fee => format!(
            "replaced {previous}, which pays {previous_fee}: a replacement must pay more than the transaction it pushes out"
        ),
        Replacement::Replaced {
            previous,
            previous_fee: None,
        } => format!(
            "replaced {previous}, which client {client} never sent at that nonce: only its own transactions hold its nonces"
        ),
        Replacement::Underpriced { pending_fee } if pending_fee < fee => format!(
            "was refused as underpriced, against a pending fee of {pending_fee}: a replacement paying more must be taken"
        ),
        _ => return None,
    };
    Some(format!(
        "client {client}'s speed-up {tx} of its payment {seq}, paying a fee of {fee}, was answered \"{answer}\": it {problem}"
    ))
}

#[cfg(test)]
mod tests {
    use ledger::chain::TxHash;

    use super::*;

    fn sped_up(replacement: Replacement) -> HarnessEvent {
        HarnessEvent::SpedUp {
            client: 2,
            seq: 5,
            tx: TxHash(7),
            fee: 4,
            answer: "the chain's words".to_owned(),
            replacement,
        }
    }

    fn replaced(previous_fee: Option<u64>) -> Replacement {
        Replacement::Replaced {
            previous: TxHash(3),
            previous_fee,
        }
    }

    #[test]
    fn a_replacement_paying_more_and_a_refusal_paying_no_more_are_kept() {
        assert_eq!(observe(&sped_up(replaced(Some(3)))), None);
        let refused = Replacement::Underpriced { pending_fee: 4 };
        assert_eq!(observe(&sped_up(refused)), None);
        assert_eq!(observe(&sped_up(Replacement::Other)), None);
    }

    #[test]
    fn a_replacement_paying_no_more_is_a_violation() {
        let found = observe(&sped_up(replaced(Some(4)))).expect("a violation");
        assert!(found.starts_with("client 2's speed-up"), "{found}");
        assert!(found.contains("paying a fee of 4"), "{found}");
        assert!(found.contains("which pays 4"), "{found}");
    }

    #[test]
    fn replacing_a_stranger_is_a_violation() {
        let found = observe(&sped_up(replaced(None))).expect("a violation");
        assert!(found.contains("never sent at that nonce"), "{found}");
    }

    #[test]
    fn refusing_a_replacement_that_pays_more_is_a_violation() {
        let refused = Replacement::Underpriced { pending_fee: 3 };
        let found = observe(&sped_up(refused)).expect("a violation");
        assert!(found.contains("against a pending fee of 3"), "{found}");
    }
}
