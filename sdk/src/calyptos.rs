//! The role vocabulary of Calyptos/Eucalyptus environments, defined once for rolecall (which
//! reads the environment files into these roles) and for the plugins that check them.

/// Every role an environment's hosts are read into, in the order Calyptos's deployer used
/// them; rolecall lists roles in this order.
pub const ROLES: &[&str] = &[
    "clc",
    "user-facing",
    "console",
    "walrus",
    "cluster-controller",
    "storage-controller",
    "node-controller",
    "configure-eucalyptus",
    "setup-admin-creds",
    "ceph-mons",
    "ceph-osds",
    "mon-bootstrap",
    "riak-head",
    "riak-node",
    "haproxy",
    "nginx",
    "midonet-api",
    "midolman",
    "mido-zookeeper",
    "mido-cassandra",
    "midonet-cluster",
    "configure-vpc",
    "midonet-gateway",
    "zookeeper",
    "cassandra",
];

/// The roles that run Eucalyptus components (not Ceph, RiakCS or Midonet hosts): the first
/// seven of [`ROLES`], what the Eucalyptus packs work on.
pub const EUCALYPTUS_ROLES: &[&str] = ROLES.split_at(7).0;

#[cfg(test)]
mod tests {
    #[test]
    fn the_eucalyptus_roles_are_the_components() {
        assert_eq!(
            super::EUCALYPTUS_ROLES,
            [
                "clc",
                "user-facing",
                "console",
                "walrus",
                "cluster-controller",
                "storage-controller",
                "node-controller"
            ]
        );
    }
}
