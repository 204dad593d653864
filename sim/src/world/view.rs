//! What the trace says about the cluster: who leads, how far each replica
//! has applied. The nemesis resolves `log-leader` with it; the settle phase
//! decides convergence with it.

use ledger::{
    log::LogEvent,
    observe::{Event, NodeName},
};
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct ClusterView {
    /// The leader of the highest term seen, until that node restarts.
    leader: Option<(u64, NodeName)>,
    /// The highest index each replica has applied in its current life.
    applied: BTreeMap<NodeName, u64>,
}

impl ClusterView {
    pub fn observe(&mut self, node: &NodeName, event: &Event) {
        match event {
            Event::Boot { .. } => {
                if self
                    .leader
                    .as_ref()
                    .is_some_and(|(_, leader)| leader == node)
                {
                    self.leader = None;
                }
                self.applied.insert(node.clone(), 0);
            }
            Event::Log(LogEvent::Elected { term })
                if self.leader.as_ref().is_none_or(|(known, _)| term >= known) =>
            {
                self.leader = Some((*term, node.clone()));
            }
            Event::Log(LogEvent::Applied { index, .. }) => {
                self.applied.insert(node.clone(), *index);
            }
            _ => {}
        }
    }

    /// The leader of the highest term seen, and that term.
    pub fn leader(&self) -> Option<(u64, &NodeName)> {
        self.leader.as_ref().map(|(term, node)| (*term, node))
    }

    /// The highest index `node` has applied in its current life.
    pub fn applied(&self, node: &str) -> u64 {
        self.applied
            .iter()
            .find(|(name, _)| name.as_str() == node)
            .map_or(0, |(_, index)| *index)
    }
}
