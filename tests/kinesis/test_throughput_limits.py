"""The optional per-shard throughput limits (`strait serve --shard-throughput-limits`):
writes beyond 1 MiB/s or 1,000 records/s and reads beyond 5 GetRecords calls/s (or 2 MiB/s)
get ProvisionedThroughputExceededException; without the flag nothing is throttled."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import ACCOUNT, Cluster, unique, wait_active
from helpers import expect_error

SHARD = "shardId-000000000000"
# Bounds every retry loop below: a limit not hit within this many rounds is a failure.
MAX_ROUNDS = 3


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


def concurrently(call, count):
    """Runs `call` `count` times at once (so the limits do not depend on how fast this machine
    answers one call after another); returns the results or the exceptions."""
    def attempt(_):
        try:
            return call()
        except ClientError as error:
            return error
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(attempt, range(count)))


def test_put_records_beyond_a_thousand_records_a_second_fail_in_place(client):
    name = new_stream(client)
    records = [{"Data": b"x", "PartitionKey": f"k{i}"} for i in range(500)]
    for _ in range(MAX_ROUNDS):
        results = concurrently(lambda: client.put_records(StreamName=name, Records=records), 4)
        throttled = [r for r in results if r["FailedRecordCount"]]
        if throttled:
            break
        time.sleep(1.1)
    else:
        pytest.fail("4,000 records at once were never throttled")
    for result in throttled:
        # One shard: the whole batch is refused, each record reporting it in place.
        assert result["FailedRecordCount"] == 500
        assert {r["ErrorCode"] for r in result["Records"]} == {"ProvisionedThroughputExceededException"}
        assert {r["ErrorMessage"] for r in result["Records"]} == {rate_exceeded(name)}
    assert any(r["FailedRecordCount"] == 0 for r in results), "the first 1,000 records are accepted"


def test_writes_beyond_a_mebibyte_a_second_are_throttled_until_repaid(client):
    name = new_stream(client)
    # About 4 MiB at once: accepted from a full budget, then the shard is about 3 MiB in
    # debt, which takes three seconds at 1 MiB/s to repay.
    big = [{"Data": b"y" * ((1 << 20) - 8), "PartitionKey": f"k{i}"} for i in range(4)]
    assert client.put_records(StreamName=name, Records=big)["FailedRecordCount"] == 0
    expect_error(client.put_record, "ProvisionedThroughputExceededException", message=rate_exceeded(name),
                 StreamName=name, Data=b"x", PartitionKey="k")
    small = client.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}] * 3)
    assert small["FailedRecordCount"] == 3
    assert [r["ErrorCode"] for r in small["Records"]] == ["ProvisionedThroughputExceededException"] * 3
    time.sleep(4)
    assert client.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}])[
        "FailedRecordCount"] == 0


def test_get_records_beyond_five_calls_a_second_is_throttled(client):
    name = new_stream(client)
    client.put_record(StreamName=name, Data=b"z", PartitionKey="k")
    iterator = client.get_shard_iterator(StreamName=name, ShardId=SHARD,
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    for _ in range(MAX_ROUNDS):
        results = concurrently(lambda: client.get_records(ShardIterator=iterator), 10)
        refused = [r for r in results if isinstance(r, ClientError)]
        if refused:
            break
        time.sleep(1.1)
    else:
        pytest.fail("10 GetRecords calls at once were never throttled")
    served = [r for r in results if not isinstance(r, ClientError)]
    assert len(served) >= 5
    for error in refused:
        assert error.response["Error"]["Code"] == "ProvisionedThroughputExceededException"
        assert error.response["Error"]["Message"] == rate_exceeded(name)
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
