"""SubscribeToShard's rule across calls: one subscription per consumer and shard every five
seconds; a later one takes over and the earlier ends with ResourceInUseException."""

import time

import pytest
from botocore.exceptions import EventStreamError

from helpers import expect_error


def first_event(response):
    for event in response["EventStream"]:
        return event["SubscribeToShardEvent"]
    raise AssertionError("the subscription ended without an event")


def test_resubscribing_within_five_seconds_is_refused_and_later_takes_over(kinesis, stream):
    name = stream(shards=2)
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="once")["Consumer"]["ConsumerARN"]
    subscribe = dict(ConsumerARN=consumer, ShardId="shardId-000000000000", StartingPosition={"Type": "LATEST"})

    started = time.time()
    first = kinesis.subscribe_to_shard(**subscribe)
    first_event(first)
    error = expect_error(kinesis.subscribe_to_shard, "ResourceInUseException", **subscribe)
    assert consumer in error["Message"]
    # Another shard is another subscription.
    other = kinesis.subscribe_to_shard(**{**subscribe, "ShardId": "shardId-000000000001"})
    other["EventStream"].close()

    time.sleep(max(0.0, started + 5.2 - time.time()))
    second = kinesis.subscribe_to_shard(**subscribe)
    first_event(second)
    # The first subscription ends with ResourceInUseException once the second took over.
    with pytest.raises(EventStreamError) as ended:
        deadline = time.time() + 10
        for _ in first["EventStream"]:
            assert time.time() < deadline, "the superseded subscription kept going"
    assert ended.value.response["Error"]["Code"] == "ResourceInUseException"
    second["EventStream"].close()
    kinesis.deregister_stream_consumer(ConsumerARN=consumer)
