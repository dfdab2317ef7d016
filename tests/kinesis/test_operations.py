"""Every implemented operation, called from boto3 with its documented members."""

import base64
import datetime
import time

from conftest import ACCOUNT, unique, wait_active
from helpers import expect_error, read_all


def test_create_describe_delete(kinesis):
    name = unique("lifecycle")
    kinesis.create_stream(StreamName=name, ShardCount=3)
    wait_active(kinesis, name)
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    shards = description["Shards"]
    assert [s["ShardId"] for s in shards] == [f"shardId-00000000000{i}" for i in range(3)]
    # The shards tile the hash key space.
    assert shards[0]["HashKeyRange"]["StartingHashKey"] == "0"
    assert shards[-1]["HashKeyRange"]["EndingHashKey"] == str(2**128 - 1)
    for low, high in zip(shards, shards[1:]):
        assert int(low["HashKeyRange"]["EndingHashKey"]) + 1 == int(high["HashKeyRange"]["StartingHashKey"])
    assert all("EndingSequenceNumber" not in s["SequenceNumberRange"] for s in shards)
    assert description["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert description["EnhancedMonitoring"] == [{"ShardLevelMetrics": []}]
    assert description["EncryptionType"] == "NONE"
    assert isinstance(description["StreamCreationTimestamp"], datetime.datetime)

    kinesis.delete_stream(StreamName=name)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            kinesis.describe_stream_summary(StreamName=name)
        except kinesis.exceptions.ResourceNotFoundException:
            break
        time.sleep(0.05)
    expect_error(
        kinesis.describe_stream, "ResourceNotFoundException",
        message=f"Stream {name} under account {ACCOUNT} not found.", StreamName=name,
    )


def test_describe_stream_pages_shards(kinesis, stream):
    name = stream(shards=5)
    first = kinesis.describe_stream(StreamName=name, Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in first["Shards"]] == ["shardId-000000000000", "shardId-000000000001"]
    assert first["HasMoreShards"] is True
    rest = kinesis.describe_stream(
        StreamName=name, ExclusiveStartShardId="shardId-000000000001"
    )["StreamDescription"]
    assert [s["ShardId"][-1] for s in rest["Shards"]] == ["2", "3", "4"]
    assert rest["HasMoreShards"] is False
    # botocore's paginator follows ExclusiveStartShardId.
    pages = kinesis.get_paginator("describe_stream").paginate(StreamName=name, PaginationConfig={"PageSize": 2})
    ids = [s["ShardId"] for page in pages for s in page["StreamDescription"]["Shards"]]
    assert len(ids) == 5


def test_describe_stream_summary_by_name_and_arn(kinesis, stream):
    name = stream(shards=2)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2
    assert summary["ConsumerCount"] == 0
    assert summary["StreamStatus"] == "ACTIVE"
    by_arn = kinesis.describe_stream_summary(StreamARN=summary["StreamARN"])["StreamDescriptionSummary"]
    assert by_arn["StreamName"] == name


def test_list_streams_pages_by_name_and_token(kinesis, stream):
    names = sorted(stream(prefix="list") for _ in range(3))
    listed = kinesis.list_streams(Limit=10000)
    assert set(names) <= set(listed["StreamNames"])
    assert listed["StreamNames"] == sorted(listed["StreamNames"])
    summaries = {s["StreamName"]: s for s in listed["StreamSummaries"]}
    assert summaries[names[0]]["StreamStatus"] == "ACTIVE"
    assert summaries[names[0]]["StreamARN"].endswith(f":stream/{names[0]}")

    page = kinesis.list_streams(Limit=1, ExclusiveStartStreamName=names[0])
    assert page["StreamNames"] == [names[1]]
    assert page["HasMoreStreams"] is True
    following = kinesis.list_streams(NextToken=page["NextToken"], Limit=1)
    assert following["StreamNames"] == [names[2]]
    every = [n for p in kinesis.get_paginator("list_streams").paginate(PaginationConfig={"PageSize": 1})
             for n in p["StreamNames"]]
    assert set(names) <= set(every)


def test_list_shards_pages_with_next_token_and_filters(kinesis, stream):
    name = stream(shards=4)
    first = kinesis.list_shards(StreamName=name, MaxResults=3)
    assert len(first["Shards"]) == 3
    second = kinesis.list_shards(NextToken=first["NextToken"], MaxResults=3)
    assert [s["ShardId"] for s in second["Shards"]] == ["shardId-000000000003"]
    assert "NextToken" not in second
    after = kinesis.list_shards(StreamName=name, ExclusiveStartShardId="shardId-000000000001")
    assert [s["ShardId"][-1] for s in after["Shards"]] == ["2", "3"]
    for filter_ in (
        {"Type": "AT_LATEST"},
        {"Type": "AT_TRIM_HORIZON"},
        {"Type": "FROM_TRIM_HORIZON"},
        {"Type": "AT_TIMESTAMP", "Timestamp": datetime.datetime.now()},
        {"Type": "FROM_TIMESTAMP", "Timestamp": datetime.datetime(2020, 1, 1)},
    ):
        listed = kinesis.list_shards(StreamName=name, ShardFilter=filter_)
        assert len(listed["Shards"]) == 4, filter_
    after_filter = kinesis.list_shards(
        StreamName=name, ShardFilter={"Type": "AFTER_SHARD_ID", "ShardId": "shardId-000000000002"}
    )
    assert [s["ShardId"] for s in after_filter["Shards"]] == ["shardId-000000000003"]
    # The filter travels inside the token.
    paged = kinesis.list_shards(StreamName=name, MaxResults=1, ShardFilter={"Type": "AT_LATEST"})
    assert kinesis.list_shards(NextToken=paged["NextToken"])["Shards"][0]["ShardId"] == "shardId-000000000001"
    by_arn = kinesis.list_shards(StreamARN=kinesis.describe_stream_summary(StreamName=name)
                                 ["StreamDescriptionSummary"]["StreamARN"])
    assert len(by_arn["Shards"]) == 4


def test_put_record_routes_by_hash_key(kinesis, stream):
    name = stream(shards=2)
    low = kinesis.put_record(StreamName=name, Data=b"low", PartitionKey="k", ExplicitHashKey="0")
    high = kinesis.put_record(StreamName=name, Data=b"high", PartitionKey="k", ExplicitHashKey=str(2**128 - 1))
    assert low["ShardId"] == "shardId-000000000000"
    assert high["ShardId"] == "shardId-000000000001"
    ordered = kinesis.put_record(
        StreamName=name, Data=b"next", PartitionKey="k", ExplicitHashKey="0",
        SequenceNumberForOrdering=low["SequenceNumber"],
    )
    assert int(ordered["SequenceNumber"]) > int(low["SequenceNumber"])
    records = read_all(kinesis, name, "shardId-000000000000")
    assert [r["Data"] for r in records] == [b"low", b"next"]


def test_put_records_answers_in_order(kinesis, stream):
    name = stream(shards=2)
    entries = [{"Data": f"r{i}".encode(), "PartitionKey": f"key-{i}"} for i in range(50)]
    entries.append({"Data": b"", "PartitionKey": "empty-data", "ExplicitHashKey": "0"})
    response = kinesis.put_records(StreamName=name, Records=entries)
    assert response["FailedRecordCount"] == 0
    assert len(response["Records"]) == len(entries)
    assert all("SequenceNumber" in r and "ShardId" in r for r in response["Records"])
    stored = {}
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        for record in read_all(kinesis, name, shard):
            stored[record["SequenceNumber"]] = record["Data"]
    for entry, result in zip(entries, response["Records"]):
        assert stored[result["SequenceNumber"]] == entry["Data"]
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    assert kinesis.put_records(StreamARN=arn, Records=entries[:2])["FailedRecordCount"] == 0


def test_get_shard_iterator_types(kinesis, stream):
    name = stream()
    shard = "shardId-000000000000"
    sequence = [kinesis.put_record(StreamName=name, Data=f"{i}".encode(), PartitionKey="p")["SequenceNumber"]
                for i in range(3)]
    assert [r["Data"] for r in read_all(kinesis, name, shard)] == [b"0", b"1", b"2"]
    assert [r["Data"] for r in read_all(kinesis, name, shard, "AT_SEQUENCE_NUMBER",
                                        StartingSequenceNumber=sequence[1])] == [b"1", b"2"]
    assert [r["Data"] for r in read_all(kinesis, name, shard, "AFTER_SEQUENCE_NUMBER",
                                        StartingSequenceNumber=sequence[1])] == [b"2"]
    assert read_all(kinesis, name, shard, "LATEST") == []
    assert [r["Data"] for r in read_all(kinesis, name, shard, "AT_TIMESTAMP",
                                        Timestamp=datetime.datetime(2020, 1, 1))] == [b"0", b"1", b"2"]
    latest = kinesis.get_shard_iterator(StreamName=name, ShardId=shard, ShardIteratorType="LATEST")["ShardIterator"]
    kinesis.put_record(StreamName=name, Data=b"3", PartitionKey="p")
    assert [r["Data"] for r in kinesis.get_records(ShardIterator=latest)["Records"]] == [b"3"]
    # Loose shard ids resolve as Kinesis resolves them.
    assert kinesis.get_shard_iterator(StreamName=name, ShardId="0", ShardIteratorType="TRIM_HORIZON")["ShardIterator"]


def test_get_records_limit_and_lag(kinesis, stream):
    name = stream()
    for i in range(7):
        kinesis.put_record(StreamName=name, Data=f"{i}".encode(), PartitionKey="p")
    iterator = kinesis.get_shard_iterator(
        StreamName=name, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    first = kinesis.get_records(ShardIterator=iterator, Limit=5)
    assert len(first["Records"]) == 5
    assert first["MillisBehindLatest"] >= 0
    second = kinesis.get_records(ShardIterator=first["NextShardIterator"], Limit=5)
    assert [r["Data"] for r in second["Records"]] == [b"5", b"6"]
    assert second["MillisBehindLatest"] == 0
    assert second["NextShardIterator"] != first["NextShardIterator"]


def test_describe_limits(kinesis, stream):
    stream(shards=2)
    limits = kinesis.describe_limits()
    assert limits["ShardLimit"] >= limits["OpenShardCount"] >= 2
    assert limits["OnDemandStreamCountLimit"] >= limits["OnDemandStreamCount"] >= 0


def test_data_round_trips_every_byte(kinesis, stream):
    name = stream()
    payload = bytes(range(256)) * 4
    kinesis.put_record(StreamName=name, Data=payload, PartitionKey="bytes")
    assert read_all(kinesis, name, "shardId-000000000000")[0]["Data"] == payload
    assert base64.b64encode(payload)  # sent as base64 on the wire by botocore
