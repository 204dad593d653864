//! `projection`, online: a ledger replica rebuilds the database's
//! projection only after the database lost its disk. The database never
//! loses a commit it acknowledged otherwise (a crash loses only unsynced
//! writes, which nobody was told of and nobody could read), so a replica
//! that finds entries it saw projected missing from a database that never
//! lost a disk misread the database or its own position, and refolds the
//! whole log for nothing.

use ledger::{ledger::LedgerEvent, observe::NodeName};

use crate::events::HarnessEvent;

/// Whether the run has lost a database disk so far.
#[derive(Default)]
pub(super) struct Online {
    wiped: bool,
}

impl Online {
    pub(super) fn observe_harness(&mut self, event: &HarnessEvent) {
        if let HarnessEvent::DbWipe { .. } = event {
            self.wiped = true;
        }
    }

    pub(super) fn observe(&self, node: &NodeName, event: &LedgerEvent) -> Option<String> {
        let LedgerEvent::Rebuilding { from, through } = event else {
            return None;
        };
        (!self.wiped).then(|| {
            format!(
                "{node} began rebuilding log entries {from} to {through} as lost from the database, but the database never lost its disk: without a lost disk it loses no commit it acknowledged"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rebuild_needs_a_lost_disk_before_it() {
        let mut online = Online::default();
        let node = NodeName::new("ledger-1");
        let rebuilding = LedgerEvent::Rebuilding {
            from: 4,
            through: 9,
        };
        let found = online.observe(&node, &rebuilding).expect("a violation");
        assert!(
            found.contains("ledger-1 began rebuilding log entries 4 to 9"),
            "{found}"
        );
        online.observe_harness(&HarnessEvent::DbWipe {
            node: "db".to_owned(),
            lost_bytes: 100,
        });
        assert_eq!(online.observe(&node, &rebuilding), None);
        assert_eq!(
            online.observe(&node, &LedgerEvent::Rebuilt { through: 9 }),
            None
        );
    }
}
