//! Node names and their network addresses.

use std::{
    collections::BTreeMap,
    net::{IpAddr, SocketAddr},
};

use crate::observe::NodeName;

/// The fixed map from node names to addresses, shared by every node of a run.
#[derive(Debug, Default)]
pub struct Directory {
    by_name: BTreeMap<NodeName, SocketAddr>,
    by_ip: BTreeMap<IpAddr, NodeName>,
}

impl Directory {
    /// Adds a node. Names and addresses must be unique.
    pub fn insert(&mut self, name: NodeName, addr: SocketAddr) {
        assert!(!self.by_name.contains_key(&name), "node {name} added twice");
        assert!(
            !self.by_ip.contains_key(&addr.ip()),
            "address {addr} used twice"
        );
        self.by_ip.insert(addr.ip(), name.clone());
        self.by_name.insert(name, addr);
    }

    pub fn addr(&self, name: &NodeName) -> Option<SocketAddr> {
        self.by_name.get(name).copied()
    }

    pub fn name_of(&self, ip: IpAddr) -> Option<&NodeName> {
        self.by_ip.get(&ip)
    }

    /// The name of a node, looked up by the text of its name.
    pub fn lookup(&self, name: &str) -> Option<&NodeName> {
        self.by_name
            .get_key_value(&NodeName::new(name))
            .map(|(name, _)| name)
    }
}
