"""A bad-input matrix over every operation: the exact `__type`, and the exact message where
the Kinesis API notes give one. The client runs without botocore's own parameter validation
so that every bad value reaches Strait, as it does from clients that validate less."""

import json

import pytest
import requests

from conftest import ACCOUNT

MAX_KEY = 2**128 - 1
NAME_PATTERN = "[a-zA-Z0-9_.-]+"


def error_of(call, **kwargs):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400, response
    return response["Error"]["Code"], response["Error"]["Message"]


def violation(value, field, constraint):
    shown = "null" if value is None else f"'{value}'"
    return f"Value {shown} at '{field}' failed to satisfy constraint: {constraint}"


def validation(*entries):
    noun = "error" if len(entries) == 1 else "errors"
    return f"{len(entries)} validation {noun} detected: " + "; ".join(entries)


def pattern(value, field, regex=NAME_PATTERN):
    return violation(value, field, f"Member must satisfy regular expression pattern: {regex}")


# (operation, arguments, expected __type, expected message or None)
CASES = [
    ("create_stream", {"StreamName": "bad name!", "ShardCount": 1}, "ValidationException",
     validation(pattern("bad name!", "streamName"))),
    ("create_stream", {"StreamName": "x" * 129, "ShardCount": 1}, "ValidationException",
     validation(violation("x" * 129, "streamName", "Member must have length less than or equal to 128"))),
    ("create_stream", {"StreamName": "ok", "ShardCount": 0}, "ValidationException",
     validation(violation("0", "shardCount", "Member must have value greater than or equal to 1"))),
    ("create_stream", {"StreamName": "ok", "StreamModeDetails": {"StreamMode": "FAST"}}, "ValidationException",
     validation(violation("FAST", "streamModeDetails.streamMode",
                          "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"))),
    ("create_stream", {"ShardCount": 1}, "ValidationException",
     validation(violation(None, "streamName", "Member must not be null"))),
    ("delete_stream", {"StreamName": "missing-stream"}, "ResourceNotFoundException",
     f"Stream missing-stream under account {ACCOUNT} not found."),
    ("delete_stream", {}, "InvalidArgumentException", None),
    ("describe_stream", {"StreamName": "missing-stream"}, "ResourceNotFoundException",
     f"Stream missing-stream under account {ACCOUNT} not found."),
    ("describe_stream", {"StreamName": "s", "Limit": 100000}, "ValidationException",
     validation(violation("100000", "limit", "Member must have value less than or equal to 10000"))),
    ("describe_stream", {"StreamName": ""}, "ValidationException",
     validation(pattern("", "streamName"),
                violation("", "streamName", "Member must have length greater than or equal to 1"))),
    ("describe_stream_summary", {"StreamARN": "arn:nope"}, "ValidationException",
     validation(pattern("arn:nope", "streamARN", r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+"))),
    ("describe_stream_summary", {"StreamName": "a", "StreamARN": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/b"},
     "InvalidArgumentException", None),
    ("list_streams", {"Limit": 0}, "ValidationException",
     validation(violation("0", "limit", "Member must have value greater than or equal to 1"))),
    ("list_streams", {"NextToken": "not-a-token"}, "InvalidArgumentException", "Invalid NextToken."),
    ("list_shards", {}, "InvalidArgumentException", "Either NextToken or StreamName should be provided."),
    ("list_shards", {"StreamName": "s", "NextToken": "abc"}, "InvalidArgumentException",
     "NextToken and StreamName cannot be provided together."),
    ("list_shards", {"NextToken": "abc"}, "InvalidArgumentException", "Invalid NextToken."),
    ("list_shards", {"StreamName": "s", "MaxResults": 0}, "ValidationException",
     validation(violation("0", "maxResults", "Member must have value greater than or equal to 1"))),
    ("list_shards", {"StreamName": "s", "ShardFilter": {"Type": "SOMETIMES"}}, "ValidationException",
     validation(violation("SOMETIMES", "shardFilter.type",
                          "Member must satisfy enum value set: [AFTER_SHARD_ID, AT_TRIM_HORIZON, "
                          "FROM_TRIM_HORIZON, AT_LATEST, AT_TIMESTAMP, FROM_TIMESTAMP]"))),
    ("list_shards", {"StreamName": "missing-stream"}, "ResourceNotFoundException",
     f"Stream missing-stream under account {ACCOUNT} not found."),
    ("put_record", {"StreamName": "s", "Data": b"x", "PartitionKey": ""}, "ValidationException",
     validation(violation("", "partitionKey", "Member must have length greater than or equal to 1"))),
    ("put_record", {"StreamName": "s", "Data": b"x", "PartitionKey": "k" * 257}, "ValidationException",
     validation(violation("k" * 257, "partitionKey", "Member must have length less than or equal to 256"))),
    ("put_record", {"StreamName": "s", "PartitionKey": "k"}, "ValidationException",
     validation(violation(None, "data", "Member must not be null"))),
    ("put_record", {"StreamName": "s", "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": "01"},
     "ValidationException", validation(pattern("01", "explicitHashKey", r"0|([1-9]\d{0,38})"))),
    ("put_record", {"StreamName": "s", "Data": b"x", "PartitionKey": "k", "ExplicitHashKey": str(MAX_KEY + 1)},
     "InvalidArgumentException",
     f"Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was "
     f"{MAX_KEY + 1}"),
    ("put_record", {"StreamName": "missing-stream", "Data": b"x", "PartitionKey": "k"},
     "ResourceNotFoundException", f"Stream missing-stream under account {ACCOUNT} not found."),
    ("put_records", {"StreamName": "s", "Records": []}, "ValidationException",
     validation(violation("[]", "records", "Member must have length greater than or equal to 1"))),
    ("put_records", {"StreamName": "missing-stream", "Records": [{"Data": b"x", "PartitionKey": "k"}]},
     "ResourceNotFoundException", f"Stream missing-stream under account {ACCOUNT} not found."),
    ("get_shard_iterator", {"StreamName": "s", "ShardId": "shardId-000000000000", "ShardIteratorType": "OLDEST"},
     "ValidationException",
     validation(violation("OLDEST", "shardIteratorType",
                          "Member must satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, "
                          "TRIM_HORIZON, LATEST, AT_TIMESTAMP]"))),
    ("get_shard_iterator", {"StreamName": "s", "ShardId": "?", "ShardIteratorType": "LATEST"},
     "ValidationException", validation(pattern("?", "shardId"))),
    ("get_shard_iterator", {"StreamName": "s", "ShardId": "shardId-000000000000",
                            "ShardIteratorType": "TRIM_HORIZON", "StartingSequenceNumber": "1"},
     "InvalidArgumentException",
     "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
     "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified TRIM_HORIZON and also a "
     "StartingSequenceNumber."),
    ("get_shard_iterator", {"StreamName": "s", "ShardId": "shardId-000000000000",
                            "ShardIteratorType": "AT_SEQUENCE_NUMBER"},
     "InvalidArgumentException",
     "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and StartingSequenceNumber or (2) "
     "TRIM_HORIZON or LATEST and no StartingSequenceNumber. Request specified AT_SEQUENCE_NUMBER and no "
     "StartingSequenceNumber."),
    ("get_shard_iterator", {"StreamName": "s", "ShardId": "shardId-000000000000",
                            "ShardIteratorType": "AT_TIMESTAMP"},
     "InvalidArgumentException",
     "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current request has no "
     "timestamp parameter."),
    ("get_records", {"ShardIterator": "garbage"}, "InvalidArgumentException", "Invalid ShardIterator."),
    ("get_records", {"ShardIterator": "x", "Limit": 10001}, "ValidationException",
     validation(violation("10001", "limit", "Member must have value less than or equal to 10000"))),
    ("get_records", {"ShardIterator": ""}, "ValidationException",
     validation(violation("", "shardIterator", "Member must have length greater than or equal to 1"))),
    ("split_shard", {"StreamName": "s", "ShardToSplit": "?", "NewStartingHashKey": "1"}, "ValidationException",
     "1 validation error detected: Value '?' at 'shardToSplit' failed to satisfy constraint: Member must satisfy "
     "regular expression pattern: [a-zA-Z0-9_.-]+"),
    ("split_shard", {"StreamName": "s", "ShardToSplit": "shardId-000000000000", "NewStartingHashKey": "abc"},
     "ValidationException", validation(pattern("abc", "newStartingHashKey", r"0|([1-9]\d{0,38})"))),
    ("split_shard", {"StreamName": "missing-stream", "ShardToSplit": "shardId-000000000000",
                     "NewStartingHashKey": "1"},
     "ResourceNotFoundException", f"Stream missing-stream under account {ACCOUNT} not found."),
    ("merge_shards", {"StreamName": "s"}, "ValidationException",
     validation(violation(None, "shardToMerge", "Member must not be null"),
                violation(None, "adjacentShardToMerge", "Member must not be null"))),
    ("update_shard_count", {"StreamName": "s", "TargetShardCount": 2, "ScalingType": "FAST"},
     "ValidationException",
     validation(violation("FAST", "scalingType", "Member must satisfy enum value set: [UNIFORM_SCALING]"))),
    ("update_shard_count", {"StreamName": "s", "TargetShardCount": 0, "ScalingType": "UNIFORM_SCALING"},
     "ValidationException",
     validation(violation("0", "targetShardCount", "Member must have value greater than or equal to 1"))),
    ("increase_stream_retention_period", {"StreamName": "s"}, "ValidationException",
     validation(violation(None, "retentionPeriodHours", "Member must not be null"))),
    ("decrease_stream_retention_period", {"StreamName": "bad name", "RetentionPeriodHours": 24},
     "ValidationException", validation(pattern("bad name", "streamName"))),
]


@pytest.mark.parametrize("operation,arguments,code,message", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_bad_input(raw, operation, arguments, code, message):
    got_code, got_message = error_of(getattr(raw, operation), **arguments)
    assert got_code == code, got_message
    if message is not None:
        assert got_message == message


def test_put_records_reports_at_most_ten_violations(raw):
    entries = [{"Data": b"x", "PartitionKey": ""} for _ in range(501)]
    code, message = error_of(raw.put_records, StreamName="", Records=entries)
    assert code == "ValidationException"
    assert message.startswith("10 validation errors detected: ")
    assert message.count("; ") == 9
    assert "at 'records' failed to satisfy constraint: Member must have length less than or equal to 500" in message
    assert "records.1.member.partitionKey" in message
    assert "streamName" not in message


def test_oversized_record_is_a_validation_error(raw, stream):
    name = stream()
    code, message = error_of(raw.put_record, StreamName=name, Data=b"x" * (1024 * 1024 + 1), PartitionKey="k")
    assert code == "ValidationException"
    assert "java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]" in message


def test_unknown_shard_and_foreign_sequence_number(raw, stream):
    name = stream(shards=2)
    code, message = error_of(raw.get_shard_iterator, StreamName=name, ShardId="shardId-000000000009",
                             ShardIteratorType="LATEST")
    assert (code, message) == ("ResourceNotFoundException",
                               f"Shard shardId-000000000009 in stream {name} under account {ACCOUNT} does not exist")
    sequence = raw.put_record(StreamName=name, Data=b"x", PartitionKey="k", ExplicitHashKey="0")["SequenceNumber"]
    code, message = error_of(raw.get_shard_iterator, StreamName=name, ShardId="shardId-000000000001",
                             ShardIteratorType="AT_SEQUENCE_NUMBER", StartingSequenceNumber=sequence)
    assert code == "InvalidArgumentException"
    assert message == ("Invalid StartingSequenceNumber. It encodes shardId-000000000000, while it was used in a "
                       "call to a shard with shardId-000000000001")


def test_existing_stream_is_in_use(raw, stream):
    name = stream()
    code, message = error_of(raw.create_stream, StreamName=name, ShardCount=1)
    assert (code, message) == ("ResourceInUseException", f"Stream {name} under account {ACCOUNT} already exists.")


# Protocol-level errors, sent as raw HTTP.

def post(node, target, body, content_type="application/x-amz-json-1.1"):
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    return requests.post(node.endpoint(), data=body, headers=headers, timeout=10)


def test_unknown_operation(node):
    for target in ["Kinesis_20131202.CreateChannel", "Kinesis_20131202.listStreams", "DynamoDB_20120810.ListTables",
                   None]:
        response = post(node, target, b"{}")
        assert response.status_code == 400
        assert response.json() == {"__type": "UnknownOperationException"}
        assert response.headers["x-amzn-RequestId"]


def test_malformed_body_is_a_serialization_error(node):
    response = post(node, "Kinesis_20131202.ListStreams", b"{not json")
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


def test_wrong_member_type_is_a_serialization_error(node):
    response = post(node, "Kinesis_20131202.DescribeStream", json.dumps({"StreamName": 5}))
    assert response.status_code == 400
    assert response.json()["__type"] == "SerializationException"


def test_invalid_base64_is_a_serialization_error(node):
    body = json.dumps({"StreamName": "s", "PartitionKey": "k", "Data": "abc"})
    response = post(node, "Kinesis_20131202.PutRecord", body)
    assert response.status_code == 400
    assert response.json() == {
        "__type": "SerializationException",
        "message": "'abc' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 "
                   "bytes but found: 3",
    }


def test_operations_without_output_answer_an_empty_body(node, stream):
    name = stream()
    response = post(node, "Kinesis_20131202.IncreaseStreamRetentionPeriod",
                    json.dumps({"StreamName": name, "RetentionPeriodHours": 24}))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Type"] == "application/x-amz-json-1.1"


def test_get_is_refused(node):
    response = requests.get(node.endpoint(), timeout=10)
    assert response.status_code == 403
    assert "AccessDeniedException" in response.text
