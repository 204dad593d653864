//! Which replica works on which payout: leases on outbox rows, read from
//! each replica's wall clock. Clocks disagree, jump and drift, and a holder
//! may sleep through its lease, so a lease decides only who *tries*; the
//! compare-and-set on the row's version decides whose write lands.

use std::time::Duration;

use super::schema::Claim;

/// This incarnation of a replica, as it names itself in claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub name: String,
    pub incarnation: u64,
}

/// Where a replica stands with a row's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Another live claim: leave the row alone.
    Held,
    /// Ours, with more than half the lease left.
    Mine,
    /// Ours, but due for renewal.
    Renew,
    /// Nobody's: never claimed, lapsed, or held by an earlier incarnation
    /// of this replica. `from` names the previous holder, if any.
    Free { from: Option<String> },
}

impl Holder {
    /// Where this replica stands with `claim` at wall time `now`.
    pub fn standing(&self, claim: Option<&Claim>, now: u64, lease: Duration) -> Standing {
        let Some(claim) = claim else {
            return Standing::Free { from: None };
        };
        let ours = claim.holder == self.name;
        if ours && claim.incarnation == self.incarnation {
            let half = lease.as_nanos() as u64 / 2;
            return if claim.until > now.saturating_add(half) {
                Standing::Mine
            } else {
                Standing::Renew
            };
        }
        // A replica knows its own earlier lives are over.
        let predecessor = ours && claim.incarnation < self.incarnation;
        if predecessor || claim.until <= now {
            Standing::Free {
                from: Some(format!("{}#{}", claim.holder, claim.incarnation)),
            }
        } else {
            Standing::Held
        }
    }

    /// A claim by this replica for `lease` from wall time `now`.
    pub fn claim(&self, now: u64, lease: Duration) -> Claim {
        Claim {
            holder: self.name.clone(),
            incarnation: self.incarnation,
            until: now.saturating_add(lease.as_nanos() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(2);
    const SECOND: u64 = 1_000_000_000;

    fn me() -> Holder {
        Holder {
            name: "ledger-1".to_owned(),
            incarnation: 3,
        }
    }

    fn claim(holder: &str, incarnation: u64, until: u64) -> Claim {
        Claim {
            holder: holder.to_owned(),
            incarnation,
            until,
        }
    }

    #[test]
    fn an_unclaimed_row_is_free() {
        assert_eq!(
            me().standing(None, 10 * SECOND, LEASE),
            Standing::Free { from: None }
        );
    }

    #[test]
    fn own_claims_are_renewed_past_half_the_lease() {
        let mine = me().claim(10 * SECOND, LEASE);
        assert_eq!(
            me().standing(Some(&mine), 10 * SECOND, LEASE),
            Standing::Mine
        );
        assert_eq!(
            me().standing(Some(&mine), 11 * SECOND + 1, LEASE),
            Standing::Renew
        );
        // Even past its end: nobody else may have taken it yet.
        assert_eq!(
            me().standing(Some(&mine), 13 * SECOND, LEASE),
            Standing::Renew
        );
    }

    #[test]
    fn another_replica_keeps_its_claim_until_it_lapses_on_our_clock() {
        let theirs = claim("ledger-2", 1, 12 * SECOND);
        assert_eq!(
            me().standing(Some(&theirs), 12 * SECOND - 1, LEASE),
            Standing::Held
        );
        assert_eq!(
            me().standing(Some(&theirs), 12 * SECOND, LEASE),
            Standing::Free {
                from: Some("ledger-2#1".to_owned())
            }
        );
    }

    #[test]
    fn an_earlier_life_of_this_replica_holds_nothing() {
        let old = claim("ledger-1", 2, 99 * SECOND);
        assert_eq!(
            me().standing(Some(&old), 10 * SECOND, LEASE),
            Standing::Free {
                from: Some("ledger-1#2".to_owned())
            }
        );
    }
}
