"""Regions come from the SigV4 credential scope and isolate stream names."""

from conftest import ACCOUNT, unique, wait_active
from helpers import expect_error


def test_regions_isolate_stream_names(node):
    ireland = node.client(region="eu-west-1")
    virginia = node.client(region="us-east-1")
    name = unique("regional")
    ireland.create_stream(StreamName=name, ShardCount=1)
    wait_active(ireland, name)
    try:
        expect_error(virginia.describe_stream, "ResourceNotFoundException",
                     message=f"Stream {name} under account {ACCOUNT} not found.", StreamName=name)
        assert name not in virginia.list_streams()["StreamNames"]
        assert name in ireland.list_streams()["StreamNames"]

        # The same name is free in another region and names a different stream there.
        virginia.create_stream(StreamName=name, ShardCount=2)
        wait_active(virginia, name)
        assert virginia.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 2
        assert ireland.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["OpenShardCount"] == 1

        # An ARN names its own region, whichever region the client signs for.
        arn = f"arn:aws:kinesis:eu-west-1:{ACCOUNT}:stream/{name}"
        assert virginia.describe_stream_summary(StreamARN=arn)["StreamDescriptionSummary"]["OpenShardCount"] == 1
        put = virginia.put_record(StreamARN=arn, Data=b"to ireland", PartitionKey="k")
        iterator = ireland.get_shard_iterator(StreamName=name, ShardId=put["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        assert [r["Data"] for r in ireland.get_records(ShardIterator=iterator)["Records"]] == [b"to ireland"]
        virginia.delete_stream(StreamName=name)
    finally:
        ireland.delete_stream(StreamName=name)
