"""SplitShard, MergeShards, UpdateShardCount and retention changes from boto3, and how a
consumer follows the lineage through GetRecords' ChildShards."""

from conftest import ACCOUNT
from helpers import expect_error

MIDDLE = str(2**127)


def open_shards(kinesis, name):
    return [s for s in kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]]


def test_split_then_merge_keeps_the_lineage(kinesis, stream):
    name = stream()
    before = kinesis.put_record(StreamName=name, Data=b"before", PartitionKey="p")
    kinesis.split_shard(StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=MIDDLE)
    shards = {s["ShardId"]: s for s in kinesis.list_shards(StreamName=name)["Shards"]}
    assert set(shards) == {"shardId-000000000000", "shardId-000000000001", "shardId-000000000002"}
    assert "EndingSequenceNumber" in shards["shardId-000000000000"]["SequenceNumberRange"]
    assert shards["shardId-000000000001"]["ParentShardId"] == "shardId-000000000000"
    assert shards["shardId-000000000002"]["HashKeyRange"]["StartingHashKey"] == MIDDLE

    # Reading the closed parent to its end: no NextShardIterator, the children instead.
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    seen, children = [], None
    while iterator:
        response = kinesis.get_records(ShardIterator=iterator)
        seen.extend(r["SequenceNumber"] for r in response["Records"])
        iterator = response.get("NextShardIterator")
        children = response.get("ChildShards")
    assert seen == [before["SequenceNumber"]]
    assert sorted(c["ShardId"] for c in children) == ["shardId-000000000001", "shardId-000000000002"]
    assert all(c["ParentShards"] == ["shardId-000000000000"] for c in children)

    kinesis.merge_shards(
        StreamName=name, ShardToMerge="shardId-000000000001", AdjacentShardToMerge="shardId-000000000002"
    )
    latest = open_shards(kinesis, name)
    assert [s["ShardId"] for s in latest] == ["shardId-000000000003"]
    assert latest[0]["ParentShardId"] == "shardId-000000000001"
    assert latest[0]["AdjacentParentShardId"] == "shardId-000000000002"
    assert kinesis.put_record(StreamName=name, Data=b"after", PartitionKey="p")["ShardId"] == "shardId-000000000003"

    expect_error(
        kinesis.split_shard, "InvalidArgumentException",
        message=f"Shard shardId-000000000000 in stream {name} under account {ACCOUNT} has already been "
                "merged or split, and thus is not eligible for merging or splitting.",
        StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey=MIDDLE,
    )
    expect_error(
        kinesis.split_shard, "ResourceNotFoundException",
        message=f"Could not find shard shardId-000000000042 in stream {name} under account {ACCOUNT}.",
        StreamName=name, ShardToSplit="shardId-000000000042", NewStartingHashKey=MIDDLE,
    )


def test_merge_of_non_adjacent_shards_is_refused(kinesis, stream):
    name = stream(shards=3)
    expect_error(
        kinesis.merge_shards, "InvalidArgumentException",
        message=f"Shards shardId-000000000000 and shardId-000000000002 in stream {name} under account "
                f"{ACCOUNT} are not an adjacent pair of shards eligible for merging",
        StreamName=name, ShardToMerge="shardId-000000000000", AdjacentShardToMerge="shardId-000000000002",
    )


def test_update_shard_count(kinesis, stream):
    name = stream(shards=2)
    response = kinesis.update_shard_count(StreamName=name, TargetShardCount=3, ScalingType="UNIFORM_SCALING")
    assert response["CurrentShardCount"] == 2
    assert response["TargetShardCount"] == 3
    assert response["StreamName"] == name
    assert response["StreamARN"].endswith(f":stream/{name}")
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 3
    ranges = sorted((int(s["HashKeyRange"]["StartingHashKey"]), int(s["HashKeyRange"]["EndingHashKey"]))
                    for s in open_shards(kinesis, name))
    assert ranges[0][0] == 0 and ranges[-1][1] == 2**128 - 1
    assert all(a[1] + 1 == b[0] for a, b in zip(ranges, ranges[1:]))


def test_retention_period_changes(kinesis, stream):
    name = stream()
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["RetentionPeriodHours"] == 48
    kinesis.decrease_stream_retention_period(StreamName=name, RetentionPeriodHours=24)
    assert kinesis.describe_stream(StreamName=name)["StreamDescription"]["RetentionPeriodHours"] == 24
    expect_error(
        kinesis.increase_stream_retention_period, "InvalidArgumentException",
        message="Maximum allowed retention period is 8760 hours. Requested retention period (9000 hours) "
                "is too long.",
        StreamName=name, RetentionPeriodHours=9000,
    )
    expect_error(
        kinesis.decrease_stream_retention_period, "InvalidArgumentException",
        message="Minimum allowed retention period is 24 hours. Requested retention period (12 hours) "
                "is too short.",
        StreamName=name, RetentionPeriodHours=12,
    )
    expect_error(
        kinesis.decrease_stream_retention_period, "InvalidArgumentException",
        message=f"Requested retention period (48 hours) for stream {name} can not be longer than existing "
                "retention period (24 hours). Use IncreaseRetentionPeriod API.",
        StreamName=name, RetentionPeriodHours=48,
    )
