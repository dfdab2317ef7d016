"""Assertions shared by the Kinesis client tests."""

import pytest
from botocore.exceptions import ClientError


def expect_error(call, code: str, message: str | None = None, contains: str | None = None, **kwargs):
    """Calls `call(**kwargs)` and checks the Kinesis error code (`__type`) and message."""
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response["Error"]
    assert error["Code"] == code, error
    if message is not None:
        assert error["Message"] == message, error
    if contains is not None:
        assert contains in error["Message"], error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error


def read_all(client, stream: str, shard_id: str, iterator_type: str = "TRIM_HORIZON", **kwargs):
    """Reads a shard from `iterator_type` until a read returns nothing; returns the records."""
    iterator = client.get_shard_iterator(
        StreamName=stream, ShardId=shard_id, ShardIteratorType=iterator_type, **kwargs
    )["ShardIterator"]
    records = []
    while iterator:
        response = client.get_records(ShardIterator=iterator, Limit=1000)
        records.extend(response["Records"])
        if not response["Records"]:
            break
        iterator = response.get("NextShardIterator")
    return records
