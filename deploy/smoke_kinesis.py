#!/usr/bin/env python3
"""A boto3 round trip against a running cluster: create a stream through one node, write a
record, read it back through another node, delete the stream.

Usage: smoke_kinesis.py WRITE_ENDPOINT [READ_ENDPOINT]
"""

import sys
import time
import uuid

import boto3


def client(endpoint):
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="strait",
        aws_secret_access_key="strait",
    )


def main():
    writer = client(sys.argv[1])
    reader = client(sys.argv[2] if len(sys.argv) > 2 else sys.argv[1])
    stream = f"smoke-{uuid.uuid4().hex[:8]}"
    writer.create_stream(StreamName=stream, ShardCount=1)
    writer.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    put = writer.put_record(StreamName=stream, PartitionKey="smoke", Data=b"hello from compose")
    iterator = reader.get_shard_iterator(
        StreamName=stream, ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    deadline = time.monotonic() + 30
    while True:
        response = reader.get_records(ShardIterator=iterator)
        if response["Records"]:
            break
        if time.monotonic() > deadline:
            sys.exit("the record was not readable within 30s")
        iterator = response["NextShardIterator"]
        time.sleep(0.2)
    record = response["Records"][0]
    assert record["Data"] == b"hello from compose", record
    assert record["SequenceNumber"] == put["SequenceNumber"], (record, put)
    writer.delete_stream(StreamName=stream)
    print(f"boto3 round trip ok: {stream} {put['ShardId']} {put['SequenceNumber']}")


if __name__ == "__main__":
    main()
