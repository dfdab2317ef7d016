"""A three-node cluster: every node serves the Kinesis API over the same replicated streams."""

import pytest

from conftest import Cluster, unique, wait_active
from helpers import read_all


@pytest.fixture(scope="module")
def cluster():
    three = Cluster(3)
    yield three
    three.stop()


def test_any_node_serves_any_stream(cluster):
    clients = [cluster.client(index=i) for i in range(3)]
    name = unique("replicated")
    clients[0].create_stream(StreamName=name, ShardCount=3)
    for client in clients:
        wait_active(client, name)
    sent = {}
    for i in range(30):
        writer = clients[i % 3]
        result = writer.put_record(StreamName=name, Data=f"record-{i}".encode(), PartitionKey=f"key-{i}")
        sent[result["SequenceNumber"]] = f"record-{i}".encode()
    batch = clients[1].put_records(StreamName=name, Records=[
        {"Data": f"batch-{i}".encode(), "PartitionKey": f"b{i}"} for i in range(20)])
    assert batch["FailedRecordCount"] == 0
    for i, result in enumerate(batch["Records"]):
        sent[result["SequenceNumber"]] = f"batch-{i}".encode()

    shards = [s["ShardId"] for s in clients[2].list_shards(StreamName=name)["Shards"]]
    assert len(shards) == 3
    received = {}
    for shard in shards:
        for record in read_all(clients[2], name, shard):
            received[record["SequenceNumber"]] = record["Data"]
    assert received == sent
    for client in clients:
        assert name in client.list_streams()["StreamNames"]
    clients[2].delete_stream(StreamName=name)
