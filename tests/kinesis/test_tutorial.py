"""The AWS tutorial flow, unchanged except for the endpoint: create DataProcessingStream in
eu-west-1, put a JSON document, describe the stream, and read it back with GetRecords."""

import json
import time

from conftest import wait_active


def test_tutorial_flow(node):
    kinesis = node.client(region="eu-west-1")
    stream = "DataProcessingStream"
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    wait_active(kinesis, stream)
    try:
        document = {"sensor": "a01", "temperature": 21.5, "tags": ["x", "y"]}
        put = kinesis.put_record(StreamName=stream, Data=json.dumps(document), PartitionKey="a01")
        assert put["ShardId"] == "shardId-000000000000"
        assert put["SequenceNumber"].isdigit()

        description = kinesis.describe_stream(StreamName=stream)["StreamDescription"]
        assert description["StreamName"] == stream
        assert description["StreamARN"] == f"arn:aws:kinesis:eu-west-1:000000000000:stream/{stream}"
        assert description["StreamStatus"] == "ACTIVE"
        assert description["HasMoreShards"] is False
        assert description["RetentionPeriodHours"] == 24
        shard_id = description["Shards"][0]["ShardId"]

        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        received = []
        deadline = time.time() + 10
        while not received and time.time() < deadline:
            response = kinesis.get_records(ShardIterator=iterator, Limit=5)
            for record in response["Records"]:
                received.append(json.loads(record["Data"]))
                assert record["PartitionKey"] == "a01"
                assert record["SequenceNumber"] == put["SequenceNumber"]
                assert record["ApproximateArrivalTimestamp"].year >= 2024
            assert response["MillisBehindLatest"] >= 0
            iterator = response["NextShardIterator"]
        assert received == [document]
    finally:
        kinesis.delete_stream(StreamName=stream)
