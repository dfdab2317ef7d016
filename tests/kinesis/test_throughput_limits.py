"""The optional per-shard throughput limits (`strait serve --shard-throughput-limits`):
writes beyond 1 MiB/s or 1,000 records/s and reads beyond 5 GetRecords calls/s (or 2 MiB/s)
get ProvisionedThroughputExceededException; without the flag nothing is throttled."""

import time

import pytest

from conftest import ACCOUNT, Cluster, unique, wait_active
from helpers import expect_error

SHARD = "shardId-000000000000"
# Bounds every loop below: a limit not hit within this many calls is a failure.
MAX_CALLS = 8


@pytest.fixture(scope="module")
def limited():
    cluster = Cluster(1, extra_args=["--shard-throughput-limits"])
    yield cluster
    cluster.stop()


@pytest.fixture
def client(limited):
    # No retries: botocore would otherwise retry the throttles this module wants to see.
    return limited.client(retries=1)


def new_stream(client):
    name = unique("limited")
    client.create_stream(StreamName=name, ShardCount=1)
    wait_active(client, name)
    return name


def rate_exceeded(name):
    return f"Rate exceeded for shard {SHARD} in stream {name} under account {ACCOUNT}."


def test_put_records_beyond_a_thousand_records_a_second_fail_in_place(client):
    name = new_stream(client)
    records = [{"Data": b"x", "PartitionKey": f"k{i}"} for i in range(500)]
    for _ in range(MAX_CALLS):
        result = client.put_records(StreamName=name, Records=records)
        if result["FailedRecordCount"]:
            break
    else:
        pytest.fail("PutRecords was never throttled")
    assert result["FailedRecordCount"] == 500
    assert {r["ErrorCode"] for r in result["Records"]} == {"ProvisionedThroughputExceededException"}
    assert {r["ErrorMessage"] for r in result["Records"]} == {rate_exceeded(name)}
    expect_error(client.put_record, "ProvisionedThroughputExceededException", message=rate_exceeded(name),
                 StreamName=name, Data=b"x", PartitionKey="k")
    # The budget refills.
    time.sleep(1.5)
    assert client.put_records(StreamName=name, Records=records[:10])["FailedRecordCount"] == 0


def test_put_record_beyond_a_mebibyte_a_second_is_throttled(client):
    name = new_stream(client)
    half = b"y" * (512 << 10)
    for _ in range(MAX_CALLS):
        try:
            client.put_record(StreamName=name, Data=half, PartitionKey="k")
        except client.exceptions.ProvisionedThroughputExceededException as error:
            assert error.response["Error"]["Message"] == rate_exceeded(name)
            break
    else:
        pytest.fail("PutRecord was never throttled")


def test_get_records_beyond_five_calls_a_second_is_throttled(client):
    name = new_stream(client)
    client.put_record(StreamName=name, Data=b"z", PartitionKey="k")
    iterator = client.get_shard_iterator(StreamName=name, ShardId=SHARD,
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    served = 0
    for _ in range(MAX_CALLS):
        try:
            client.get_records(ShardIterator=iterator)
            served += 1
        except client.exceptions.ProvisionedThroughputExceededException as error:
            assert error.response["Error"]["Message"] == rate_exceeded(name)
            break
    else:
        pytest.fail("GetRecords was never throttled")
    assert 5 <= served <= 6
    time.sleep(1.1)
    assert [r["Data"] for r in client.get_records(ShardIterator=iterator)["Records"]] == [b"z"]


def test_without_the_flag_nothing_is_throttled(kinesis, stream):
    name = stream()
    records = [{"Data": b"x", "PartitionKey": f"k{i}"} for i in range(500)]
    for _ in range(4):
        assert kinesis.put_records(StreamName=name, Records=records)["FailedRecordCount"] == 0
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=SHARD,
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for _ in range(10):
        iterator = kinesis.get_records(ShardIterator=iterator, Limit=10)["NextShardIterator"]
