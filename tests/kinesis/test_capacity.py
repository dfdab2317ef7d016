"""Capacity settings kept as control-plane metadata: UpdateStreamMode, UpdateMaxRecordSize,
UpdateStreamWarmThroughput and the account's minimum throughput billing commitment."""

from datetime import datetime, timedelta

from conftest import ACCOUNT, unique, wait_active
from helpers import expect_error

DAY = timedelta(hours=24)


def arn_of(client, name):
    return client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def summary(client, name):
    return client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]


def test_stream_mode_switches_and_gates_resharding(kinesis, raw, stream):
    name = stream(shards=2)
    arn = arn_of(kinesis, name)
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}

    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert len(description["Shards"]) == 2, "switching modes leaves the shards as they are"
    listed = [s for s in kinesis.list_streams()["StreamSummaries"] if s["StreamName"] == name]
    assert listed[0]["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    expect_error(kinesis.update_shard_count, "ValidationException",
                 message=f"Request is invalid. Stream {name} under account {ACCOUNT} is in On-Demand mode.",
                 StreamName=name, TargetShardCount=4, ScalingType="UNIFORM_SCALING")
    # Records still flow.
    kinesis.put_record(StreamName=name, Data=b"on demand", PartitionKey="k")

    kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"})
    assert summary(kinesis, name)["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    kinesis.update_shard_count(StreamName=name, TargetShardCount=1, ScalingType="UNIFORM_SCALING")
    wait_active(kinesis, name)
    assert summary(kinesis, name)["OpenShardCount"] == 1


def test_stream_mode_errors(kinesis, raw, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    expect_error(raw.update_stream_mode, "ValidationException",
                 message="1 validation error detected: Value 'SOMETIMES' at 'streamModeDetails.streamMode' "
                         "failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]",
                 StreamARN=arn, StreamModeDetails={"StreamMode": "SOMETIMES"})
    expect_error(raw.update_stream_mode, "ValidationException",
                 message="1 validation error detected: Value null at 'streamModeDetails' failed to satisfy "
                         "constraint: Member must not be null",
                 StreamARN=arn)
    expect_error(raw.update_stream_mode, "ValidationException",
                 contains="at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern",
                 StreamARN="not-an-arn", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    missing = arn.rsplit("/", 1)[0] + "/no-such-stream"
    expect_error(kinesis.update_stream_mode, "ResourceNotFoundException",
                 message=f"Stream no-such-stream under account {ACCOUNT} not found.",
                 StreamARN=missing, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    expect_error(kinesis.update_stream_mode, "InvalidArgumentException",
                 StreamARN=arn, StreamModeDetails={"StreamMode": "PROVISIONED"}, WarmThroughputMiBps=10)
    expect_error(raw.update_stream_mode, "ValidationException",
                 contains="at 'warmThroughputMiBps' failed to satisfy constraint: Member must have value greater than or equal to 0",
                 StreamARN=arn, StreamModeDetails={"StreamMode": "ON_DEMAND"}, WarmThroughputMiBps=-1)


def test_on_demand_streams_start_with_four_shards(kinesis):
    name = unique("on-demand")
    kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    wait_active(kinesis, name)
    described = summary(kinesis, name)
    assert described["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert described["OpenShardCount"] == 4
    assert "WarmThroughput" not in described
    kinesis.delete_stream(StreamName=name)


def test_max_record_size_governs_puts(kinesis, raw, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    assert summary(kinesis, name)["MaxRecordSizeInKiB"] == 1024
    key = "k"
    one_mib = 1 << 20
    kinesis.put_record(StreamName=name, Data=b"a" * (one_mib - len(key)), PartitionKey=key)
    expect_error(kinesis.put_record, "ValidationException",
                 contains=f"at 'data' failed to satisfy constraint: Member must have length less than or equal to {one_mib}",
                 StreamName=name, Data=b"a" * one_mib, PartitionKey=key)

    kinesis.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=2048)
    assert summary(kinesis, name)["MaxRecordSizeInKiB"] == 2048
    big = b"b" * (3 * one_mib // 2)
    kinesis.put_record(StreamName=name, Data=big, PartitionKey=key)
    # Over 5 MiB in all: allowed once the stream takes records over 1 MiB (10 MiB per request).
    result = kinesis.put_records(StreamName=name, Records=[{"Data": big, "PartitionKey": key}] * 4)
    assert result["FailedRecordCount"] == 0
    expect_error(kinesis.put_records, "ValidationException",
                 contains="at 'records.2.member.data' failed to satisfy constraint: Member must have length "
                          f"less than or equal to {2 * one_mib}",
                 StreamName=name, Records=[{"Data": b"x", "PartitionKey": key},
                                           {"Data": b"c" * (2 * one_mib), "PartitionKey": key}])
    iterator = kinesis.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    sizes = [len(r["Data"]) for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
    assert sizes == [one_mib - 1, len(big), len(big), len(big), len(big), len(big)]

    kinesis.update_max_record_size(StreamARN=arn, MaxRecordSizeInKiB=1024)
    expect_error(kinesis.put_record, "ValidationException", StreamName=name, Data=big, PartitionKey=key)


def test_max_record_size_errors_and_creation(kinesis, raw, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    expect_error(raw.update_max_record_size, "ValidationException",
                 message="1 validation error detected: Value '100' at 'maxRecordSizeInKiB' failed to satisfy "
                         "constraint: Member must have value greater than or equal to 1024",
                 StreamARN=arn, MaxRecordSizeInKiB=100)
    expect_error(raw.update_max_record_size, "ValidationException",
                 message="1 validation error detected: Value '10241' at 'maxRecordSizeInKiB' failed to satisfy "
                         "constraint: Member must have value less than or equal to 10240",
                 StreamARN=arn, MaxRecordSizeInKiB=10241)
    expect_error(raw.update_max_record_size, "ValidationException",
                 contains="Value null at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must not be null",
                 StreamARN=arn)
    expect_error(kinesis.update_max_record_size, "ResourceNotFoundException",
                 message=f"Stream gone-stream under account {ACCOUNT} not found.",
                 StreamARN=arn.rsplit("/", 1)[0] + "/gone-stream", MaxRecordSizeInKiB=2048)

    created = unique("big-records")
    kinesis.create_stream(StreamName=created, ShardCount=1, MaxRecordSizeInKiB=4096)
    wait_active(kinesis, created)
    assert summary(kinesis, created)["MaxRecordSizeInKiB"] == 4096
    kinesis.delete_stream(StreamName=created)
    expect_error(raw.create_stream, "ValidationException",
                 contains="at 'maxRecordSizeInKiB' failed to satisfy constraint: Member must have value less than or equal to 10240",
                 StreamName=unique("too-big"), ShardCount=1, MaxRecordSizeInKiB=20000)


def test_account_settings_commitment_lifecycle(node):
    # Account settings are per account and region; a region of its own keeps this test's
    # changes away from the others'.
    client = node.client(region="ap-southeast-2")
    initial = client.describe_account_settings()["MinimumThroughputBillingCommitment"]
    assert initial == {"Status": "DISABLED"}

    before = datetime.now().astimezone()
    enabled = client.update_account_settings(
        MinimumThroughputBillingCommitment={"Status": "ENABLED"})["MinimumThroughputBillingCommitment"]
    assert enabled["Status"] == "ENABLED"
    assert enabled["StartedAt"] >= before.replace(microsecond=0) - timedelta(seconds=1)
    assert enabled["EarliestAllowedEndAt"] - enabled["StartedAt"] == DAY
    assert "EndedAt" not in enabled
    assert client.describe_account_settings()["MinimumThroughputBillingCommitment"] == enabled

    # Disabling within the first 24 hours schedules the end for the earliest allowed time.
    disabled = client.update_account_settings(
        MinimumThroughputBillingCommitment={"Status": "DISABLED"})["MinimumThroughputBillingCommitment"]
    assert disabled["Status"] == "ENABLED_UNTIL_EARLIEST_ALLOWED_END"
    assert disabled["EndedAt"] == enabled["EarliestAllowedEndAt"]
    # Enabling again cancels the pending end.
    again = client.update_account_settings(
        MinimumThroughputBillingCommitment={"Status": "ENABLED"})["MinimumThroughputBillingCommitment"]
    assert again["Status"] == "ENABLED"
    assert again["StartedAt"] == enabled["StartedAt"]
    assert "EndedAt" not in again
    # Another region of the same account is untouched.
    assert node.client(region="ap-southeast-1").describe_account_settings()[
        "MinimumThroughputBillingCommitment"]["Status"] == "DISABLED"


def test_account_settings_errors(node):
    raw = node.client(region="ap-south-2", validate=False)
    expect_error(raw.update_account_settings, "ValidationException",
                 message="1 validation error detected: Value 'MAYBE' at 'minimumThroughputBillingCommitment.status' "
                         "failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED]",
                 MinimumThroughputBillingCommitment={"Status": "MAYBE"})
    expect_error(raw.update_account_settings, "ValidationException",
                 message="1 validation error detected: Value null at 'minimumThroughputBillingCommitment' "
                         "failed to satisfy constraint: Member must not be null")


def test_warm_throughput_needs_on_demand_and_the_commitment(node):
    client = node.client(region="eu-north-1")
    raw = node.client(region="eu-north-1", validate=False)
    provisioned = unique("warm-provisioned")
    client.create_stream(StreamName=provisioned, ShardCount=1)
    on_demand = unique("warm-on-demand")
    client.create_stream(StreamName=on_demand, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    wait_active(client, provisioned)
    wait_active(client, on_demand)

    expect_error(client.update_stream_warm_throughput, "InvalidArgumentException",
                 StreamName=on_demand, WarmThroughputMiBps=100)
    expect_error(client.create_stream, "InvalidArgumentException", StreamName=unique("warm"),
                 StreamModeDetails={"StreamMode": "ON_DEMAND"}, WarmThroughputMiBps=10)
    client.update_account_settings(MinimumThroughputBillingCommitment={"Status": "ENABLED"})
    expect_error(client.update_stream_warm_throughput, "InvalidArgumentException",
                 StreamName=provisioned, WarmThroughputMiBps=100)

    updated = client.update_stream_warm_throughput(StreamName=on_demand, WarmThroughputMiBps=100)
    assert updated["StreamName"] == on_demand
    assert updated["StreamARN"] == arn_of(client, on_demand)
    assert updated["WarmThroughput"] == {"TargetMiBps": 100, "CurrentMiBps": 100}
    assert summary(client, on_demand)["WarmThroughput"] == {"TargetMiBps": 100, "CurrentMiBps": 100}

    # Switching to on-demand may carry the warm throughput; back to provisioned drops it.
    client.update_stream_mode(StreamARN=arn_of(client, provisioned),
                              StreamModeDetails={"StreamMode": "ON_DEMAND"}, WarmThroughputMiBps=50)
    assert summary(client, provisioned)["WarmThroughput"] == {"TargetMiBps": 50, "CurrentMiBps": 50}
    client.update_stream_mode(StreamARN=arn_of(client, provisioned),
                              StreamModeDetails={"StreamMode": "PROVISIONED"})
    assert "WarmThroughput" not in summary(client, provisioned)

    expect_error(raw.update_stream_warm_throughput, "ValidationException",
                 message="1 validation error detected: Value null at 'warmThroughputMiBps' failed to satisfy "
                         "constraint: Member must not be null",
                 StreamName=on_demand)
    expect_error(client.update_stream_warm_throughput, "ResourceNotFoundException",
                 message=f"Stream nowhere under account {ACCOUNT} not found.",
                 StreamName="nowhere", WarmThroughputMiBps=1)
    for name in (provisioned, on_demand):
        client.delete_stream(StreamName=name)
