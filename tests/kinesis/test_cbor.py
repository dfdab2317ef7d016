"""The `application/x-amz-cbor-1.1` dialect the Java SDKs speak by default: raw CBOR requests,
CBOR responses with byte-string blobs and millisecond timestamps, and CBOR error bodies."""

import time

import cbor2
import requests

from conftest import wait_active, unique

CBOR = "application/x-amz-cbor-1.1"


def call(node, operation, body):
    response = requests.post(
        node.endpoint(),
        data=cbor2.dumps(body),
        headers={
            "Content-Type": CBOR,
            "X-Amz-Target": f"Kinesis_20131202.{operation}",
            "Authorization": "AWS4-HMAC-SHA256 Credential=000000000000/20260101/us-east-1/kinesis/aws4_request, "
                             "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=00",
        },
        timeout=10,
    )
    assert response.headers["Content-Type"] == CBOR
    return response.status_code, (cbor2.loads(response.content) if response.content else None)


def test_cbor_put_and_get(node, kinesis):
    name = unique("cbor")
    status, body = call(node, "CreateStream", {"StreamName": name, "ShardCount": 1})
    assert (status, body) == (200, None)
    wait_active(kinesis, name)
    payload = bytes([0, 1, 2, 255]) * 10
    before_ms = int(time.time() * 1000) - 1000
    status, put = call(node, "PutRecord", {"StreamName": name, "Data": payload, "PartitionKey": "k"})
    assert status == 200
    assert put["ShardId"] == "shardId-000000000000"

    # A tagged (tag 1) epoch-millisecond timestamp, as the Java SDK v1 writes it.
    status, iterator = call(node, "GetShardIterator", {
        "StreamName": name, "ShardId": "shardId-000000000000", "ShardIteratorType": "AT_TIMESTAMP",
        "Timestamp": cbor2.CBORTag(1, before_ms - 60_000),
    })
    assert status == 200
    status, records = call(node, "GetRecords", {"ShardIterator": iterator["ShardIterator"], "Limit": 10})
    assert status == 200
    [record] = records["Records"]
    assert record["Data"] == payload  # a byte string, no base64
    assert record["SequenceNumber"] == put["SequenceNumber"]
    arrival = record["ApproximateArrivalTimestamp"]
    assert isinstance(arrival, int) and before_ms <= arrival <= before_ms + 120_000  # milliseconds
    assert isinstance(records["NextShardIterator"], str)

    status, description = call(node, "DescribeStream", {"StreamName": name})
    assert status == 200
    assert description["StreamDescription"]["StreamStatus"] == "ACTIVE"
    kinesis.delete_stream(StreamName=name)


def test_cbor_errors_are_cbor(node):
    status, body = call(node, "DescribeStream", {"StreamName": "missing-cbor-stream"})
    assert status == 400
    assert body == {
        "__type": "ResourceNotFoundException",
        "message": "Stream missing-cbor-stream under account 000000000000 not found.",
    }
    status, body = call(node, "NoSuchOperation", {})
    assert (status, body) == (400, {"__type": "UnknownOperationException"})
    response = requests.post(node.endpoint(), data=b"\xff\x00", headers={
        "Content-Type": CBOR, "X-Amz-Target": "Kinesis_20131202.ListStreams"}, timeout=10)
    assert response.status_code == 400
    assert cbor2.loads(response.content)["__type"] == "SerializationException"
