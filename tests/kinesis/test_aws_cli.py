"""A walk-through with the AWS CLI, as a user would type it."""

import base64
import json
import os
import subprocess

from conftest import unique


def aws(node, *args):
    environment = dict(os.environ, AWS_DEFAULT_REGION="us-west-2", AWS_PAGER="")
    result = subprocess.run(
        ["aws", "kinesis", *args, "--endpoint-url", node.endpoint(), "--output", "json"],
        capture_output=True, text=True, env=environment, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else None


def test_aws_cli_walk_through(node):
    name = unique("cli")
    assert aws(node, "create-stream", "--stream-name", name, "--shard-count", "1") is None
    # The CLI's own waiter polls every 10 s; Strait activates streams within milliseconds,
    # so the first poll already succeeds.
    aws(node, "wait", "stream-exists", "--stream-name", name)
    put = aws(node, "put-record", "--stream-name", name, "--partition-key", "a01", "--data", "hello from the cli")
    assert put["ShardId"] == "shardId-000000000000"
    description = aws(node, "describe-stream-summary", "--stream-name", name)["StreamDescriptionSummary"]
    assert description["StreamARN"] == f"arn:aws:kinesis:us-west-2:000000000000:stream/{name}"
    iterator = aws(node, "get-shard-iterator", "--stream-name", name, "--shard-id", "shardId-000000000000",
                   "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    records = aws(node, "get-records", "--shard-iterator", iterator)["Records"]
    assert [base64.b64decode(r["Data"]) for r in records] == [b"hello from the cli"]
    assert name in aws(node, "list-streams")["StreamNames"]
    aws(node, "delete-stream", "--stream-name", name)


def test_aws_cli_capacity_and_policies(node):
    name = unique("cli-settings")
    aws(node, "create-stream", "--stream-name", name, "--shard-count", "1")
    aws(node, "wait", "stream-exists", "--stream-name", name)
    arn = f"arn:aws:kinesis:us-west-2:000000000000:stream/{name}"
    aws(node, "update-stream-mode", "--stream-arn", arn, "--stream-mode-details", "StreamMode=ON_DEMAND")
    aws(node, "update-max-record-size", "--stream-arn", arn, "--max-record-size-in-ki-b", "2048")
    summary = aws(node, "describe-stream-summary", "--stream-name", name)["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["MaxRecordSizeInKiB"] == 2048
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    aws(node, "put-resource-policy", "--resource-arn", arn, "--policy", policy)
    assert aws(node, "get-resource-policy", "--resource-arn", arn)["Policy"] == policy
    settings = aws(node, "describe-account-settings")["MinimumThroughputBillingCommitment"]
    assert settings["Status"] in ("ENABLED", "DISABLED", "ENABLED_UNTIL_EARLIEST_ALLOWED_END")
    aws(node, "delete-stream", "--stream-name", name)
