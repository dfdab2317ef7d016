//! `strait cluster status`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use strait_client::proto::{ClusterStatusResponse, GroupStatus};

use crate::cli::{GlobalArgs, OutputFormat, StatusArgs};
use crate::commands::client;
use crate::output::{Table, node_list, or_dash};

/// How long ClusterStatus is retried before the cluster is declared unreachable.
const STATUS_RETRY_DEADLINE: Duration = Duration::from_secs(3);

/// Prints the cluster's state. Exits with 0 when ready, 1 when a node answered but the
/// cluster is not ready, and 2 (through the error) when no node answered.
pub async fn status(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<ExitCode> {
    // A few rounds over the endpoints are enough to tell whether any node answers.
    let client = client(global)?.with_retry_deadline(STATUS_RETRY_DEADLINE);
    let status = client.cluster_status().await?;
    match args.format {
        OutputFormat::Text => print!("{}", status_text(&status)),
        OutputFormat::Json => println!("{}", status_json(&status)),
    }
    Ok(if status.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn status_text(status: &ClusterStatusResponse) -> String {
    let mut out = format!(
        "answered by     node {}\ncontrol leader  {}\nready           {}\n",
        status.node_id,
        status
            .control_leader
            .map_or_else(|| "none".to_owned(), |leader| format!("node {leader}")),
        yes_no(status.ready),
    );
    if !status.not_ready_reasons.is_empty() {
        out.push_str("not ready because:\n");
        for reason in &status.not_ready_reasons {
            out.push_str(&format!("  - {reason}\n"));
        }
    }
    out.push('\n');
    let mut nodes = Table::new(["NODE", "ADDRESS", "REACHABLE", "VOTER", "STATE"]);
    for node in &status.nodes {
        nodes.row(vec![
            node.node_id.to_string(),
            node.address.clone(),
            yes_no(node.reachable),
            yes_no(node.voter),
            node.state.clone(),
        ]);
    }
    out.push_str(&nodes.render());
    if !status.groups.is_empty() {
        out.push('\n');
        let mut groups = Table::new([
            "GROUP",
            "STREAM",
            "SHARD",
            "REPLICAS",
            "LEADER",
            "CATCHING UP",
            "MOVING FROM",
        ]);
        let nodes_or_dash = |nodes: &[u64]| {
            if nodes.is_empty() {
                "-".to_owned()
            } else {
                node_list(nodes)
            }
        };
        for group in &status.groups {
            groups.row(vec![
                group.group_id.to_string(),
                group.stream.clone(),
                group.shard_id.clone(),
                node_list(&group.replicas),
                or_dash(group.leader),
                nodes_or_dash(&group.catching_up),
                nodes_or_dash(&group.retiring),
            ]);
        }
        out.push_str(&groups.render());
        let moving = status.groups.iter().filter(|g| move_in_flight(g)).count();
        if moving > 0 {
            out.push_str(&format!("\n{moving} replica moves in flight\n"));
        }
    }
    out
}

/// Whether a replica of `group` is being moved: a new copy is still catching up, or an
/// old one has not been taken out of the group yet.
pub fn move_in_flight(group: &GroupStatus) -> bool {
    !group.catching_up.is_empty() || !group.retiring.is_empty()
}

fn status_json(status: &ClusterStatusResponse) -> serde_json::Value {
    json!({
        "node_id": status.node_id,
        "control_leader": status.control_leader,
        "ready": status.ready,
        "not_ready_reasons": status.not_ready_reasons,
        "nodes": status.nodes.iter().map(|node| json!({
            "node_id": node.node_id,
            "address": node.address,
            "reachable": node.reachable,
            "voter": node.voter,
            "state": node.state,
        })).collect::<Vec<_>>(),
        "groups": status.groups.iter().map(|group| json!({
            "group_id": group.group_id,
            "stream": group.stream,
            "shard_id": group.shard_id,
            "replicas": group.replicas,
            "leader": group.leader,
            "retiring": group.retiring,
            "catching_up": group.catching_up,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_client::proto::NodeStatus;

    fn status(ready: bool) -> ClusterStatusResponse {
        ClusterStatusResponse {
            node_id: 1,
            control_leader: ready.then_some(2),
            nodes: vec![
                NodeStatus {
                    node_id: 1,
                    address: "127.0.0.1:7001".into(),
                    reachable: true,
                    voter: true,
                    state: "active".into(),
                },
                NodeStatus {
                    node_id: 2,
                    address: "127.0.0.1:7002".into(),
                    reachable: false,
                    voter: true,
                    state: "draining".into(),
                },
            ],
            groups: vec![GroupStatus {
                group_id: 7,
                stream: "orders".into(),
                shard_id: "shardId-000000000000".into(),
                replicas: vec![1, 2],
                leader: None,
                retiring: vec![3],
                catching_up: vec![4],
            }],
            ready,
            not_ready_reasons: if ready {
                vec![]
            } else {
                vec!["no control-plane leader".into()]
            },
        }
    }

    #[test]
    fn text_shows_reasons_nodes_and_groups() {
        let text = status_text(&status(false));
        assert!(text.contains("control leader  none"), "{text}");
        assert!(text.contains("  - no control-plane leader"), "{text}");
        assert!(text.contains("2     127.0.0.1:7002  no"), "{text}");
        assert!(
            text.contains("7      orders  shardId-000000000000  1,2       -       4            3"),
            "{text}"
        );
        assert!(text.contains("draining"), "{text}");
        assert!(text.contains("1 replica moves in flight"), "{text}");
    }

    #[test]
    fn json_has_every_field() {
        let value = status_json(&status(true));
        assert_eq!(value["ready"], true);
        assert_eq!(value["control_leader"], 2);
        assert_eq!(value["nodes"][1]["reachable"], false);
        assert!(value["groups"][0]["leader"].is_null());
        assert_eq!(value["groups"][0]["retiring"][0], 3);
        assert_eq!(value["groups"][0]["catching_up"][0], 4);
        assert_eq!(value["nodes"][1]["state"], "draining");
    }
}
