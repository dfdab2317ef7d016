//! `strait node decommission`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;

use crate::cli::{DecommissionArgs, GlobalArgs};
use crate::commands::client;

/// How often the drain's progress is checked.
const POLL: Duration = Duration::from_secs(1);

/// Starts draining the node and, unless told not to, waits until it has left.
pub async fn decommission(global: &GlobalArgs, args: DecommissionArgs) -> anyhow::Result<ExitCode> {
    let client = client(global)?;
    client.decommission_node(args.node_id).await?;
    eprintln!("node {} is draining", args.node_id);
    if args.no_wait {
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = tokio::time::Instant::now() + args.wait_timeout;
    let mut last_report = None;
    loop {
        let status = client.cluster_status().await?;
        if !status.nodes.iter().any(|n| n.node_id == args.node_id) {
            eprintln!(
                "node {} has left the cluster; it can be stopped now",
                args.node_id
            );
            return Ok(ExitCode::SUCCESS);
        }
        let hosted = status
            .groups
            .iter()
            .filter(|g| g.replicas.contains(&args.node_id) || g.retiring.contains(&args.node_id))
            .count();
        let moving = status
            .groups
            .iter()
            .filter(|g| super::cluster::move_in_flight(g))
            .count();
        if last_report != Some((hosted, moving)) {
            eprintln!(
                "node {}: {hosted} replicas left, {moving} moves in flight",
                args.node_id
            );
            last_report = Some((hosted, moving));
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "node {} still hosts {hosted} replicas after {:?}; the drain goes on in the background",
                args.node_id,
                args.wait_timeout
            );
        }
        tokio::time::sleep(POLL).await;
    }
}
