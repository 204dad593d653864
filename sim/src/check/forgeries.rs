//! `chain-safety`, online: the chain, through whichever RPC node a client
//! reaches, refuses every forgery (a payment altered after it was signed,
//! or signed with a key not the sender's). Every node checks a signature
//! before it takes a transaction in, so a forgery told "accepted" was
//! taken into a pool it may land from, or push the genuine payment out of
//! with its higher fee. Judged on the answer the client was given:
//! `chain-safety`'s signature check on the canonical chain sees only the
//! forgeries that land.

use crate::events::HarnessEvent;

pub(super) fn observe(event: &HarnessEvent) -> Option<String> {
    let HarnessEvent::Forged {
        client,
        seq,
        tx,
        how,
        answer,
        accepted: true,
    } = event
    else {
        return None;
    };
    Some(format!(
        "client {client}'s forgery {tx} of its payment {seq} ({how}) was answered \"{answer}\": a transaction whose signature does not verify against its sender's key must be refused"
    ))
}

#[cfg(test)]
mod tests {
    use ledger::chain::TxHash;

    use super::*;

    fn forged(accepted: bool) -> HarnessEvent {
        HarnessEvent::Forged {
            client: 2,
            seq: 5,
            tx: TxHash(7),
            how: "altered after signing".to_owned(),
            answer: if accepted {
                "accepted"
            } else {
                "invalid signature"
            }
            .to_owned(),
            accepted,
        }
    }

    #[test]
    fn only_a_forgery_taken_in_is_a_violation() {
        assert_eq!(observe(&forged(false)), None);
        let found = observe(&forged(true)).expect("a violation");
        assert!(found.starts_with("client 2's forgery"), "{found}");
        assert!(
            found.contains("of its payment 5 (altered after signing) was answered \"accepted\""),
            "{found}"
        );
    }
}
