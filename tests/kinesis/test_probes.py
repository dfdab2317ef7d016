"""The orchestrator's endpoints on the Kinesis port: /healthz, /readyz and Prometheus /metrics."""

import re

import requests

from conftest import unique

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(node):
    """Every sample of one scrape as (name, labels, value), checking the text format on the way:
    each sample follows the # TYPE of its family, and no family is announced twice."""
    response = requests.get(f"{node.endpoint()}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families, samples = [], []
    for line in response.text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line[len("# TYPE "):].split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in families, f"{name} announced twice"
            families.append(name)
            continue
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, _, labels, value = match.groups()
        family = families[-1]
        assert name == family or name in (f"{family}_bucket", f"{family}_sum", f"{family}_count"), line
        samples.append((name, dict(LABEL.findall(labels or "")), float(value)))
    return samples


def total(samples, name, **labels):
    return sum(v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in labels.items()))


def test_health_and_readiness(node):
    health = requests.get(f"{node.endpoint()}/healthz", timeout=10)
    assert (health.status_code, health.text) == (200, "ok\n")
    ready = requests.get(f"{node.endpoint()}/readyz", timeout=10)
    assert (ready.status_code, ready.text) == (200, "ok\n")


def test_metrics_count_puts_per_shard_and_requests_per_operation(node, kinesis, stream):
    name = stream(shards=2)
    for i in range(10):
        kinesis.put_record(StreamName=name, Data=b"abcd", PartitionKey=f"key-{i}")
    missing = unique("missing")
    try:
        kinesis.describe_stream_summary(StreamName=missing)
    except kinesis.exceptions.ResourceNotFoundException:
        pass

    samples = scrape(node)
    assert total(samples, "strait_shard_put_records_total", stream=name) == 10
    assert total(samples, "strait_shard_put_bytes_total", stream=name) == 40
    shards = {l["shard"] for n, l, _ in samples if n == "strait_shard_put_records_total" and l.get("stream") == name}
    assert shards <= {"shardId-000000000000", "shardId-000000000001"} and shards
    assert total(samples, "strait_api_request_duration_seconds_count",
                 api="kinesis", operation="PutRecord", error="none") >= 10
    assert total(samples, "strait_api_request_duration_seconds_count", api="kinesis",
                 operation="DescribeStreamSummary", error="ResourceNotFoundException") >= 1
    # The buckets are cumulative and end in +Inf, equal to the count.
    buckets = [(l["le"], v) for n, l, v in samples if n == "strait_api_request_duration_seconds_bucket"
               and l.get("operation") == "PutRecord" and l.get("error") == "none"]
    assert buckets[-1][0] == "+Inf"
    assert [v for _, v in buckets] == sorted(v for _, v in buckets)
    # One replica each of the stream's two shard groups, led here, and the control group.
    assert total(samples, "strait_raft_role", stream=name, role="leader") == 2
    assert total(samples, "strait_raft_role", group="0", role="leader") == 1
    assert total(samples, "strait_raft_commit_latency_seconds_count", stream=name) >= 1
    assert total(samples, "strait_node_ready") == 1
