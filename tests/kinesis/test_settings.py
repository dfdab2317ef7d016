"""Tags and enhanced fan-out consumers, kept in the replicated control plane, and
SubscribeToShard's event stream read by boto3 over HTTP/1.1."""

import threading
import time

from conftest import ACCOUNT
from helpers import expect_error


def arn_of(kinesis, name):
    return kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def test_stream_tags(kinesis, stream):
    name = stream()
    kinesis.add_tags_to_stream(StreamName=name, Tags={"team": "data", "env": "test", "cost": "1"})
    kinesis.add_tags_to_stream(StreamName=name, Tags={"env": "prod"})
    listed = kinesis.list_tags_for_stream(StreamName=name)
    assert listed["Tags"] == [{"Key": "cost", "Value": "1"}, {"Key": "env", "Value": "prod"},
                              {"Key": "team", "Value": "data"}]
    assert listed["HasMoreTags"] is False
    page = kinesis.list_tags_for_stream(StreamName=name, Limit=1, ExclusiveStartTagKey="cost")
    assert page["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert page["HasMoreTags"] is True
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["cost", "unknown"])
    assert [t["Key"] for t in kinesis.list_tags_for_stream(StreamName=name)["Tags"]] == ["env", "team"]

    arn = arn_of(kinesis, name)
    kinesis.tag_resource(ResourceARN=arn, Tags={"owner": "me"})
    kinesis.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert kinesis.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}, {"Key": "owner", "Value": "me"}]

    expect_error(kinesis.add_tags_to_stream, "InvalidArgumentException",
                 StreamName=name, Tags={f"k{i}": "v" for i in range(50)})
    expect_error(kinesis.list_tags_for_stream, "ResourceNotFoundException",
                 message=f"Stream missing-stream under account {ACCOUNT} not found.", StreamName="missing-stream")


def test_tags_go_with_the_stream(kinesis):
    from conftest import unique, wait_active

    name = unique("retagged")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_active(kinesis, name)
    kinesis.add_tags_to_stream(StreamName=name, Tags={"a": "1"})
    kinesis.delete_stream(StreamName=name)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            kinesis.create_stream(StreamName=name, ShardCount=1)
            break
        except kinesis.exceptions.ResourceInUseException:
            time.sleep(0.05)
    wait_active(kinesis, name)
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == []
    kinesis.delete_stream(StreamName=name)


def test_consumers(kinesis, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    registered = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app-1")["Consumer"]
    assert registered["ConsumerName"] == "app-1"
    assert registered["ConsumerARN"].startswith(f"{arn}/consumer/app-1:")
    assert registered["ConsumerStatus"] in ("CREATING", "ACTIVE")
    kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="app-2")
    expect_error(kinesis.register_stream_consumer, "ResourceInUseException", StreamARN=arn, ConsumerName="app-1")

    by_arn = kinesis.describe_stream_consumer(ConsumerARN=registered["ConsumerARN"])["ConsumerDescription"]
    assert by_arn["ConsumerStatus"] == "ACTIVE"
    assert by_arn["StreamARN"] == arn
    by_name = kinesis.describe_stream_consumer(StreamARN=arn, ConsumerName="app-1")["ConsumerDescription"]
    assert by_name["ConsumerARN"] == registered["ConsumerARN"]
    assert kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["ConsumerCount"] == 2

    first = kinesis.list_stream_consumers(StreamARN=arn, MaxResults=1)
    assert [c["ConsumerName"] for c in first["Consumers"]] == ["app-1"]
    rest = kinesis.list_stream_consumers(StreamARN=arn, NextToken=first["NextToken"])
    assert [c["ConsumerName"] for c in rest["Consumers"]] == ["app-2"]

    expect_error(kinesis.delete_stream, "ResourceInUseException", StreamName=name)

    kinesis.deregister_stream_consumer(ConsumerARN=registered["ConsumerARN"])
    kinesis.deregister_stream_consumer(StreamARN=arn, ConsumerName="app-2")
    assert kinesis.list_stream_consumers(StreamARN=arn)["Consumers"] == []
    expect_error(kinesis.describe_stream_consumer, "ResourceNotFoundException",
                 ConsumerARN=registered["ConsumerARN"])


def test_subscribe_to_shard_pushes_records(kinesis, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="pusher")["Consumer"]
    first = kinesis.put_record(StreamName=name, Data=b"before", PartitionKey="k")

    subscribed_at = time.time()
    response = kinesis.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000000",
        StartingPosition={"Type": "TRIM_HORIZON"},
    )
    # Records put while subscribed are pushed too.
    threading.Timer(0.5, lambda: kinesis.put_record(StreamName=name, Data=b"during", PartitionKey="k")).start()
    received, continuation = [], None
    deadline = time.time() + 20
    for event in response["EventStream"]:
        shard_event = event["SubscribeToShardEvent"]
        received.extend(r["Data"] for r in shard_event["Records"])
        continuation = shard_event["ContinuationSequenceNumber"]
        assert shard_event["MillisBehindLatest"] >= 0
        if len(received) >= 2 or time.time() > deadline:
            break
    response["EventStream"].close()
    assert received == [b"before", b"during"]
    assert int(continuation) > int(first["SequenceNumber"])

    # A consumer may subscribe to a shard once every five seconds.
    time.sleep(max(0.0, subscribed_at + 5.1 - time.time()))
    resumed = kinesis.subscribe_to_shard(
        ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000000",
        StartingPosition={"Type": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": first["SequenceNumber"]},
    )
    for event in resumed["EventStream"]:
        records = event["SubscribeToShardEvent"]["Records"]
        if records:
            assert [r["Data"] for r in records] == [b"during"]
            break
    resumed["EventStream"].close()


def test_subscribe_to_shard_errors(raw, kinesis, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    expect_error(raw.subscribe_to_shard, "ResourceNotFoundException",
                 ConsumerARN=f"{arn}/consumer/nobody:1700000000", ShardId="shardId-000000000000",
                 StartingPosition={"Type": "LATEST"})
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="strict")["Consumer"]
    expect_error(raw.subscribe_to_shard, "ValidationException",
                 ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000000",
                 StartingPosition={"Type": "SOMETIME"})
    expect_error(raw.subscribe_to_shard, "ResourceNotFoundException",
                 ConsumerARN=consumer["ConsumerARN"], ShardId="shardId-000000000007",
                 StartingPosition={"Type": "LATEST"})
    expect_error(raw.subscribe_to_shard, "ValidationException", ShardId="shardId-000000000000",
                 StartingPosition={"Type": "LATEST"})


def test_delete_stream_can_enforce_consumer_deletion(kinesis):
    from conftest import unique, wait_active

    name = unique("with-consumers")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_active(kinesis, name)
    kinesis.register_stream_consumer(StreamARN=arn_of(kinesis, name), ConsumerName="c")
    kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    expect_error(kinesis.describe_stream, "ResourceNotFoundException", StreamName=name)


def test_encryption_is_recorded_and_reported(kinesis, stream):
    name = stream()
    kinesis.start_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert (description["EncryptionType"], description["KeyId"]) == ("KMS", "alias/aws/kinesis")
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["EncryptionType"] == "KMS"
    assert kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")["EncryptionType"] == "KMS"
    assert kinesis.put_records(StreamName=name, Records=[{"Data": b"x", "PartitionKey": "k"}])["EncryptionType"] == "KMS"
    kinesis.stop_stream_encryption(StreamName=name, EncryptionType="KMS", KeyId="alias/aws/kinesis")
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["EncryptionType"] == "NONE"
    assert "KeyId" not in description
    assert "EncryptionType" not in kinesis.put_record(StreamName=name, Data=b"x", PartitionKey="k")


def test_enhanced_monitoring_is_recorded_and_reported(kinesis, raw, stream):
    name = stream()
    enabled = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes"])
    assert enabled["CurrentShardLevelMetrics"] == []
    assert enabled["DesiredShardLevelMetrics"] == ["IncomingBytes"]
    everything = kinesis.enable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["ALL"])
    assert len(everything["DesiredShardLevelMetrics"]) == 7
    disabled = kinesis.disable_enhanced_monitoring(StreamName=name, ShardLevelMetrics=["IncomingBytes", "OutgoingBytes"])
    assert len(disabled["DesiredShardLevelMetrics"]) == 5
    monitoring = kinesis.describe_stream(StreamName=name)["StreamDescription"]["EnhancedMonitoring"]
    assert sorted(monitoring[0]["ShardLevelMetrics"]) == sorted(disabled["DesiredShardLevelMetrics"])
    expect_error(raw.enable_enhanced_monitoring, "ValidationException", StreamName=name,
                 ShardLevelMetrics=["Everything"])
    expect_error(raw.start_stream_encryption, "ValidationException", StreamName=name,
                 EncryptionType="AES", KeyId="k")
