"""ListShards' ShardFilter against the shard open and close times the control plane
records, across a split and a merge."""

import time

from helpers import expect_error

SHARD = "shardId-{:012d}"


def ids(response):
    return [s["ShardId"] for s in response["Shards"]]


def wait_shards(kinesis, name, open_count):
    deadline = time.time() + 20
    while time.time() < deadline:
        shards = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AT_LATEST"})["Shards"]
        if len(shards) == open_count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never had {open_count} open shards")


def test_filters_follow_open_and_close_times(kinesis, raw, stream):
    # boto3 sends timestamps in whole seconds, so the changes are spaced a few seconds apart.
    name = stream()
    created = time.time()
    time.sleep(2.2)
    before_split = time.time()
    kinesis.split_shard(StreamName=name, ShardToSplit=SHARD.format(0),
                        NewStartingHashKey=str(2 ** 127))
    wait_shards(kinesis, name, 2)
    after_split = time.time()
    time.sleep(2.2)
    kinesis.merge_shards(StreamName=name, ShardToMerge=SHARD.format(1), AdjacentShardToMerge=SHARD.format(2))
    wait_shards(kinesis, name, 1)
    after_merge = time.time()

    everything = [SHARD.format(i) for i in range(4)]
    assert ids(kinesis.list_shards(StreamName=name)) == everything
    for kind, expected in [("FROM_TRIM_HORIZON", everything), ("AT_TRIM_HORIZON", [SHARD.format(0)]),
                           ("AT_LATEST", [SHARD.format(3)])]:
        assert ids(kinesis.list_shards(StreamName=name, ShardFilter={"Type": kind})) == expected, kind
    after_one = kinesis.list_shards(StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": SHARD.format(1)})
    assert ids(after_one) == [SHARD.format(2), SHARD.format(3)]

    def at(kind, ts):
        return ids(kinesis.list_shards(StreamName=name, ShardFilter={"Type": kind, "Timestamp": int(ts)}))

    # Between creation and the split only the first shard was open.
    assert int(before_split) - 1 >= int(created)
    assert at("AT_TIMESTAMP", before_split - 1) == [SHARD.format(0)]
    # Between the split and the merge: the split's children.
    between = int(after_split) + 1
    assert at("AT_TIMESTAMP", between) == [SHARD.format(1), SHARD.format(2)]
    assert at("FROM_TIMESTAMP", between) == [SHARD.format(1), SHARD.format(2), SHARD.format(3)]
    # After the merge (a whole second later, as timestamps are whole seconds).
    time.sleep(max(0.0, int(after_merge) + 1 - time.time()))
    assert at("AT_TIMESTAMP", int(after_merge) + 1) == [SHARD.format(3)]
    # Before the stream existed: as from its creation.
    assert at("AT_TIMESTAMP", created - 3600) == [SHARD.format(0)]
    assert at("FROM_TIMESTAMP", created - 3600) == everything

    # The filter travels inside the NextToken.
    first = kinesis.list_shards(StreamName=name, MaxResults=1,
                                ShardFilter={"Type": "FROM_TIMESTAMP", "Timestamp": between})
    assert ids(first) == [SHARD.format(1)]
    pages = [SHARD.format(1)]
    token = first.get("NextToken")
    while token:
        page = kinesis.list_shards(NextToken=token, MaxResults=1)
        pages.extend(ids(page))
        token = page.get("NextToken")
    assert pages == [SHARD.format(1), SHARD.format(2), SHARD.format(3)]

    expect_error(kinesis.list_shards, "InvalidArgumentException", StreamName=name,
                 ShardFilter={"Type": "AT_TIMESTAMP"})
    expect_error(kinesis.list_shards, "InvalidArgumentException", StreamName=name,
                 ShardFilter={"Type": "FROM_TIMESTAMP"})
    expect_error(raw.list_shards, "ValidationException",
                 contains="at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set",
                 StreamName=name, ShardFilter={"Type": "AT_NOON"})
