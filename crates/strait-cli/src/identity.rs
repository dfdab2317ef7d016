//! A node's identity from its place in a StatefulSet.
//!
//! Kubernetes names a StatefulSet's pods `<name>-0`, `<name>-1`, ... and gives each a
//! stable DNS name through a headless Service. With `--cluster-size N` and
//! `--peer-address-template` (`strait-{ordinal}.strait-peers.default.svc.cluster.local:7001`)
//! every pod runs the same command line: its node id is its ordinal plus one, the initial
//! cluster lists the N addresses the template gives, and it advertises its own. A pod
//! whose ordinal is N or more (the StatefulSet was scaled up) is not an initial member: it
//! joins the running cluster through the initial members' addresses.
//!
//! The names need not resolve yet when a node starts (pods come up in any order): peers
//! are dialed by name, and a name that does not resolve is retried like a refused
//! connection.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow, bail};

use crate::parse;

/// The placeholder the peer address template must contain.
pub const ORDINAL_PLACEHOLDER: &str = "{ordinal}";

/// What the StatefulSet settings decide about this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatefulIdentity {
    pub node_id: u64,
    /// The address the template gives this node.
    pub advertise: String,
    /// Node `ordinal + 1` at the template's address for `ordinal`, for every ordinal
    /// below the cluster size; empty for a node beyond it.
    pub initial_cluster: BTreeMap<u64, String>,
    /// For a node beyond the initial size: the initial members' addresses, to ask for
    /// admission.
    pub join: Option<Vec<String>>,
}

/// Derives the identity from the cluster size and the peer address template. The node id
/// is `node_id` when given; otherwise the ordinal of `hostname()` plus one.
pub fn stateful_identity(
    cluster_size: u64,
    template: &str,
    node_id: Option<u64>,
    hostname: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<StatefulIdentity> {
    if cluster_size == 0 {
        bail!("--cluster-size must be at least 1");
    }
    if !template.contains(ORDINAL_PLACEHOLDER) {
        bail!("--peer-address-template {template:?} does not contain {ORDINAL_PLACEHOLDER}");
    }
    let ordinal = match node_id {
        Some(0) => bail!("--node-id must be at least 1"),
        Some(id) => id - 1,
        None => {
            let hostname = hostname()?;
            ordinal_of(&hostname)?
        }
    };
    let members = (0..cluster_size)
        .map(|ordinal| Ok((ordinal + 1, peer_address(template, ordinal)?)))
        .collect::<anyhow::Result<BTreeMap<u64, String>>>()?;
    let advertise = peer_address(template, ordinal)?;
    if ordinal >= cluster_size {
        return Ok(StatefulIdentity {
            node_id: ordinal + 1,
            advertise,
            initial_cluster: BTreeMap::new(),
            join: Some(members.into_values().collect()),
        });
    }
    Ok(StatefulIdentity {
        node_id: ordinal + 1,
        advertise,
        initial_cluster: members,
        join: None,
    })
}

/// The template's address for `ordinal`, checked to be `host:port`.
pub fn peer_address(template: &str, ordinal: u64) -> anyhow::Result<String> {
    let address = template.replace(ORDINAL_PLACEHOLDER, &ordinal.to_string());
    parse::host_port(&address).map_err(|error| anyhow!("--peer-address-template: {error}"))
}

/// The ordinal a StatefulSet put at the end of a pod's name: `strait-2` is 2. A fully
/// qualified name (`strait-2.strait-peers.default.svc.cluster.local`) is read by its
/// first label.
pub fn ordinal_of(hostname: &str) -> anyhow::Result<u64> {
    let name = hostname.trim().split('.').next().unwrap_or_default();
    let digits = name
        .rsplit_once('-')
        .map(|(_, digits)| digits)
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            anyhow!(
                "the host name {hostname:?} does not end in -<ordinal> as a StatefulSet pod's \
                 does; give --node-id, or run the node in a StatefulSet"
            )
        })?;
    digits
        .parse()
        .with_context(|| format!("the ordinal of the host name {hostname:?} is out of range"))
}

/// This machine's host name: `HOSTNAME` if set (Kubernetes and Docker set it to the pod
/// or container name), otherwise what the system reports.
pub fn hostname() -> anyhow::Result<String> {
    if let Ok(name) = std::env::var("HOSTNAME")
        && !name.trim().is_empty()
    {
        return Ok(name);
    }
    system_hostname().ok_or_else(|| anyhow!("cannot read this machine's host name; give --node-id"))
}

fn system_hostname() -> Option<String> {
    let mut buffer = [0u8; 256];
    // SAFETY: the pointer and length describe `buffer`, which gethostname writes at most
    // `len` bytes into.
    let status = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if status != 0 {
        return None;
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8(buffer[..end].to_vec())
        .ok()
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "strait-{ordinal}.strait-peers.default.svc.cluster.local:7001";

    fn host(name: &'static str) -> impl FnOnce() -> anyhow::Result<String> {
        move || Ok(name.to_owned())
    }

    #[test]
    fn ordinals_come_from_the_end_of_the_first_label() {
        assert_eq!(ordinal_of("strait-0").unwrap(), 0);
        assert_eq!(ordinal_of("my-strait-12").unwrap(), 12);
        assert_eq!(
            ordinal_of("strait-2.strait-peers.default.svc.cluster.local").unwrap(),
            2
        );
        for bad in [
            "strait",
            "strait-",
            "strait-x1",
            "strait-1x",
            "",
            "1.strait-peers",
        ] {
            let error = ordinal_of(bad).expect_err(bad);
            assert!(
                error.to_string().contains("does not end in -<ordinal>"),
                "{error}"
            );
        }
        assert!(ordinal_of("strait-99999999999999999999999").is_err());
    }

    #[test]
    fn the_template_gives_every_member_and_this_nodes_address() {
        let identity = stateful_identity(3, TEMPLATE, None, host("strait-1")).unwrap();
        assert_eq!(identity.node_id, 2);
        assert_eq!(
            identity.advertise,
            "strait-1.strait-peers.default.svc.cluster.local:7001"
        );
        assert_eq!(
            identity.initial_cluster,
            BTreeMap::from([
                (
                    1,
                    "strait-0.strait-peers.default.svc.cluster.local:7001".to_owned()
                ),
                (
                    2,
                    "strait-1.strait-peers.default.svc.cluster.local:7001".to_owned()
                ),
                (
                    3,
                    "strait-2.strait-peers.default.svc.cluster.local:7001".to_owned()
                ),
            ])
        );
    }

    #[test]
    fn an_explicit_node_id_wins_over_the_host_name() {
        let identity = stateful_identity(3, TEMPLATE, Some(3), || bail!("not asked")).unwrap();
        assert_eq!(identity.node_id, 3);
        assert_eq!(
            identity.advertise,
            "strait-2.strait-peers.default.svc.cluster.local:7001"
        );
    }

    #[test]
    fn a_pod_beyond_the_initial_size_joins_through_the_initial_members() {
        let identity = stateful_identity(3, TEMPLATE, None, host("strait-3")).unwrap();
        assert_eq!(identity.node_id, 4);
        assert_eq!(
            identity.advertise,
            "strait-3.strait-peers.default.svc.cluster.local:7001"
        );
        assert!(identity.initial_cluster.is_empty());
        assert_eq!(
            identity.join.unwrap(),
            (0..3)
                .map(|o| format!("strait-{o}.strait-peers.default.svc.cluster.local:7001"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn inconsistent_settings_are_refused_with_the_reason() {
        let error = stateful_identity(3, "strait.peers:7001", None, host("strait-0")).unwrap_err();
        assert!(
            error.to_string().contains("does not contain {ordinal}"),
            "{error}"
        );
        let error = stateful_identity(3, "strait-{ordinal}", None, host("strait-0")).unwrap_err();
        assert!(error.to_string().contains("not host:port"), "{error}");
        let error = stateful_identity(0, TEMPLATE, None, host("strait-0")).unwrap_err();
        assert!(error.to_string().contains("at least 1"), "{error}");
        let error = stateful_identity(3, TEMPLATE, None, host("strait")).unwrap_err();
        assert!(error.to_string().contains("give --node-id"), "{error}");
    }
}
