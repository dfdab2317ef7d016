#!/usr/bin/env python3
"""Writes strait-dashboard.json, the Grafana dashboard over Strait's Prometheus metrics.

The dashboard is generated so that its panels stay uniform and a renamed metric is changed in
one place: edit the panel list below, run `python3 deploy/grafana/generate_dashboard.py`, and
commit both files. `--check` (run by deploy/validate.sh) fails when the JSON is not what this
script writes, or when it queries a metric that crates/strait-node does not export.
"""

import json
import os
import re
import sys

# Selectors applied to every query: the chosen instances (and streams, for stream metrics).
NODE = 'instance=~"$instance"'
STREAM = 'instance=~"$instance", stream=~"$stream"'


def panel(title, exprs, unit="short", kind="timeseries", description=""):
    """One panel; exprs is a list of (PromQL, legend)."""
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(exprs)
        ],
    }


ROWS = [
    ("Writes and reads", [
        panel("Records put per second, by stream",
              [(f"sum by (stream) (rate(strait_shard_put_records_total{{{STREAM}}}[$__rate_interval]))", "{{stream}}")],
              "rps", description="Records stored by PutRecord and PutRecords, summed over the nodes that took them."),
        panel("Bytes put per second, by stream",
              [(f"sum by (stream) (rate(strait_shard_put_bytes_total{{{STREAM}}}[$__rate_interval]))", "{{stream}}")],
              "Bps"),
        panel("Records put per second, by shard",
              [(f"sum by (stream, shard) (rate(strait_shard_put_records_total{{{STREAM}}}[$__rate_interval]))",
                "{{stream}} {{shard}}")],
              "rps", description="A shard far above the others has a hot partition key."),
        panel("Records that could not be stored, per second",
              [(f"sum by (stream, shard) (rate(strait_shard_put_failed_records_total{{{STREAM}}}[$__rate_interval]))",
                "{{stream}} {{shard}}")],
              "rps", description="Failed entries of PutRecords (throttling, no leader, disk full)."),
        panel("GetRecords calls and records read per second, by stream",
              [(f"sum by (stream) (rate(strait_shard_get_requests_total{{{STREAM}}}[$__rate_interval]))",
                "{{stream}} calls"),
               (f"sum by (stream) (rate(strait_shard_get_records_total{{{STREAM}}}[$__rate_interval]))",
                "{{stream}} records")],
              "reqps"),
        panel("Iterator age (how far consumers are behind), by shard",
              [(f"max by (stream, shard) (strait_shard_iterator_age_milliseconds{{{STREAM}}})", "{{stream}} {{shard}}")],
              "ms", description="MillisBehindLatest of the last GetRecords answered for the shard."),
    ]),
    ("API", [
        panel("Requests per second, by operation",
              [(f"sum by (api, operation) (rate(strait_api_request_duration_seconds_count{{{NODE}}}[$__rate_interval]))",
                "{{api}} {{operation}}")],
              "reqps"),
        panel("Errors per second, by operation and error",
              [(f'sum by (operation, error) (rate(strait_api_request_duration_seconds_count{{{NODE}, error!="none"}}'
                "[$__rate_interval]))", "{{operation}} {{error}}")],
              "reqps", description="Requests answered with an error, by its Kinesis error name."),
        panel("Request latency p99, by operation",
              [("histogram_quantile(0.99, sum by (operation, le) "
                f"(rate(strait_api_request_duration_seconds_bucket{{{NODE}}}[$__rate_interval])))", "{{operation}}")],
              "s"),
    ]),
    ("Replication", [
        panel("Shard groups led, by node",
              [(f"sum by (instance) (strait_node_shard_leaders{{{NODE}}})", "{{instance}}")],
              description="Balanced is good; a node leading everything carries every write."),
        panel("Shard groups hosted, by node",
              [(f"sum by (instance) (strait_node_shard_groups{{{NODE}}})", "{{instance}}")]),
        panel("Raft term, by group",
              [(f"max by (group) (strait_raft_term{{{NODE}}})", "group {{group}}")],
              description="A term that keeps rising means repeated elections."),
        panel("Commit latency",
              [("histogram_quantile(0.99, sum by (le) "
                f"(rate(strait_raft_commit_latency_seconds_bucket{{{NODE}}}[$__rate_interval])))", "p99"),
               ("histogram_quantile(0.5, sum by (le) "
                f"(rate(strait_raft_commit_latency_seconds_bucket{{{NODE}}}[$__rate_interval])))", "p50")],
              "s", description="From proposing a batch of records to its commit and apply, on the leader."),
        panel("Replication lag (entries), by group and follower",
              [(f"max by (group, peer) (strait_raft_replication_lag_entries{{{NODE}}})", "group {{group}} peer {{peer}}")],
              description="How many entries a follower's log is behind its leader's."),
        panel("Committed but not yet applied (entries), by node",
              [(f"max by (instance) (strait_raft_commit_index{{{NODE}}} - strait_raft_applied_index{{{NODE}}})",
                "{{instance}}")]),
        panel("Leaders, by group",
              [(f'max by (group, instance) (strait_raft_role{{{NODE}, role="leader"}})', "group {{group}} {{instance}}")],
              description="Which node leads each group; a change is a leader election."),
    ]),
    ("Nodes", [
        panel("Ready and draining nodes",
              [(f"sum(strait_node_ready{{{NODE}}})", "ready"), (f"sum(strait_node_draining{{{NODE}}})", "draining")],
              description="Ready: /readyz answers 200. Draining: shutting down after SIGTERM."),
        panel("Database size on disk, by node",
              [(f"max by (instance) (strait_node_disk_bytes{{{NODE}}})", "{{instance}}")], "bytes"),
    ]),
]


def dashboard():
    panels, y, next_id = [], 0, 1
    for title, row_panels in ROWS:
        panels.append({"type": "row", "title": title, "id": next_id, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        next_id, y = next_id + 1, y + 1
        for i, p in enumerate(row_panels):
            p = dict(p, id=next_id, gridPos={"h": 8, "w": 12, "x": 12 * (i % 2), "y": y + 8 * (i // 2)})
            panels.append(p)
            next_id += 1
        y += 8 * ((len(row_panels) + 1) // 2)

    def variable(name, query, label):
        return {"name": name, "label": label, "type": "query",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "query": {"query": query, "refId": name}, "definition": query,
                "includeAll": True, "multi": True, "refresh": 2, "sort": 1,
                "current": {"text": "All", "value": "$__all"}}

    return {
        "title": "Strait",
        "uid": "strait-overview",
        "description": "Throughput, API errors and latency, Raft replication and storage of a Strait cluster.",
        "tags": ["strait", "kinesis", "raft"],
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "timezone": "",
        "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
             "current": {}, "hide": 0},
            variable("instance", "label_values(strait_node_info, instance)", "Node"),
            variable("stream", "label_values(strait_shard_put_records_total, stream)", "Stream"),
        ]},
        "panels": panels,
    }


def unknown_metrics(text, sources):
    """Metric names the dashboard queries that the node's metrics code never mentions."""
    code = ""
    for directory, _, files in os.walk(sources):
        for name in files:
            if name.endswith(".rs"):
                with open(os.path.join(directory, name)) as f:
                    code += f.read()
    names = set(re.findall(r"\bstrait_[a-z_]+", text))
    bases = {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
    return sorted(b for b in bases if f'"{b}"' not in code)


def main():
    text = json.dumps(dashboard(), indent=2) + "\n"
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "strait-dashboard.json")
    if sys.argv[1:] == ["--check"]:
        with open(path) as f:
            if f.read() != text:
                sys.exit(f"{path} is out of date: run {sys.argv[0]}")
        missing = unknown_metrics(text, os.path.join(here, "..", "..", "crates", "strait-node", "src"))
        if missing:
            sys.exit(f"the dashboard queries metrics the node does not export: {', '.join(missing)}")
        return
    with open(path, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
