"""Resource policies on streams and consumers: stored verbatim in the control plane,
validated as JSON, never evaluated."""

import json

from conftest import ACCOUNT
from helpers import expect_error

POLICY = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                   "Action": "kinesis:GetRecords", "Resource": "*"}],
})


def arn_of(client, name):
    return client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def test_stream_policy_lifecycle(kinesis, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"
    kinesis.put_resource_policy(ResourceARN=arn, Policy=POLICY)
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == POLICY
    replaced = json.dumps({"Version": "2012-10-17", "Statement": []})
    kinesis.put_resource_policy(ResourceARN=arn, Policy=replaced)
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == replaced
    kinesis.delete_resource_policy(ResourceARN=arn)
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == "{}"
    expect_error(kinesis.delete_resource_policy, "ResourceNotFoundException",
                 message=f"No resource policy found for resource ARN {arn}.", ResourceARN=arn)


def test_consumer_policy_goes_with_the_consumer(kinesis, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    consumer = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="reader")["Consumer"]["ConsumerARN"]
    kinesis.put_resource_policy(ResourceARN=consumer, Policy=POLICY)
    assert kinesis.get_resource_policy(ResourceARN=consumer)["Policy"] == POLICY
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == "{}", "the stream's policy is separate"
    kinesis.deregister_stream_consumer(ConsumerARN=consumer)
    expect_error(kinesis.get_resource_policy, "ResourceNotFoundException",
                 message=f"Consumer reader under stream {name} under account {ACCOUNT} not found.",
                 ResourceARN=consumer)
    again = kinesis.register_stream_consumer(StreamARN=arn, ConsumerName="reader")["Consumer"]["ConsumerARN"]
    assert kinesis.get_resource_policy(ResourceARN=again)["Policy"] == "{}"
    kinesis.deregister_stream_consumer(ConsumerARN=again)


def test_policy_errors(kinesis, raw, stream):
    name = stream()
    arn = arn_of(kinesis, name)
    expect_error(kinesis.put_resource_policy, "InvalidArgumentException", ResourceARN=arn, Policy="{not json")
    assert kinesis.get_resource_policy(ResourceARN=arn)["Policy"] == "{}", "a refused policy is not stored"
    missing = arn.rsplit("/", 1)[0] + "/no-such-stream"
    for call in (kinesis.get_resource_policy, kinesis.delete_resource_policy):
        expect_error(call, "ResourceNotFoundException",
                     message=f"Stream no-such-stream under account {ACCOUNT} not found.", ResourceARN=missing)
    expect_error(kinesis.put_resource_policy, "ResourceNotFoundException", ResourceARN=missing, Policy=POLICY)
    expect_error(kinesis.put_resource_policy, "ResourceNotFoundException",
                 ResourceARN=f"{arn}/consumer/nobody:1700000000", Policy=POLICY)
    expect_error(raw.get_resource_policy, "ValidationException",
                 message="1 validation error detected: Value 'arn:aws:s3:::bucket' at 'resourceARN' failed to "
                         r"satisfy constraint: Member must satisfy regular expression pattern: "
                         r"arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+",
                 ResourceARN="arn:aws:s3:::bucket")
    expect_error(raw.put_resource_policy, "ValidationException",
                 message="1 validation error detected: Value null at 'policy' failed to satisfy constraint: "
                         "Member must not be null",
                 ResourceARN=arn)
    expect_error(raw.delete_resource_policy, "ValidationException",
                 contains="Value null at 'resourceARN' failed to satisfy constraint: Member must not be null")
