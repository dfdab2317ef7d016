"""HTTPS on the Kinesis listener (`--kinesis-tls-cert`, `--kinesis-tls-key`): boto3 and the
AWS CLI over TLS, and ALPN offering h2 and http/1.1 for HTTP/2 clients."""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import Cluster, unique, wait_active


@pytest.fixture(scope="module")
def certificate():
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    directory = Path(tempfile.mkdtemp(prefix="strait-tls-"))
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    yield cert, key
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def secure(certificate):
    cert, key = certificate
    cluster = Cluster(1, extra_args=["--kinesis-tls-cert", str(cert), "--kinesis-tls-key", str(key)],
                      verify=str(cert))
    yield cluster
    cluster.stop()


def test_boto3_over_https(secure, certificate):
    assert secure.endpoint().startswith("https://")
    client = secure.client()
    name = unique("tls")
    client.create_stream(StreamName=name, ShardCount=1)
    wait_active(client, name)
    client.put_record(StreamName=name, Data=b"over tls", PartitionKey="k")
    iterator = client.get_shard_iterator(StreamName=name, ShardId="shardId-000000000000",
                                         ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    assert [r["Data"] for r in client.get_records(ShardIterator=iterator)["Records"]] == [b"over tls"]
    # Without checking the certificate, as the KPL's verifyCertificate=false does.
    from conftest import kinesis_client
    unchecked = kinesis_client(secure.endpoint(), verify=False)
    assert name in unchecked.list_streams()["StreamNames"]
    client.delete_stream(StreamName=name)


def test_alpn_offers_h2_and_http11(secure, certificate):
    cert, _ = certificate
    host, port = secure.kinesis[0].split(":")
    for offered, chosen in [(["h2", "http/1.1"], "h2"), (["http/1.1"], "http/1.1")]:
        context = ssl.create_default_context(cafile=str(cert))
        context.set_alpn_protocols(offered)
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.selected_alpn_protocol() == chosen


def curl_supports_http2() -> bool:
    if shutil.which("curl") is None:
        return False
    version = subprocess.run(["curl", "-V"], capture_output=True, text=True, timeout=10).stdout
    return "HTTP2" in version


@pytest.mark.skipif(not curl_supports_http2(), reason="needs curl built with HTTP/2")
def test_http2_request_over_tls(secure, certificate):
    cert, _ = certificate
    result = subprocess.run(
        ["curl", "-sS", "--http2", "--cacert", str(cert), "-X", "POST", secure.endpoint() + "/",
         "-H", "X-Amz-Target: Kinesis_20131202.ListStreams",
         "-H", "Content-Type: application/x-amz-json-1.1",
         "-H", "Authorization: AWS4-HMAC-SHA256 Credential=000000000000/20260101/us-east-1/kinesis/aws4_request, "
               "SignedHeaders=host, Signature=0",
         "--data", "{}", "-w", "\n%{http_version} %{http_code}"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "2 200"
    assert "StreamNames" in json.loads(body)


def test_cleartext_http_is_not_served_on_the_tls_port(secure):
    host, port = secure.kinesis[0].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        raw.settimeout(10)
        try:
            answer = raw.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"HTTP/1.1 200")


def test_aws_cli_over_https(secure, certificate):
    cert, _ = certificate
    environment = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    result = subprocess.run(
        ["aws", "kinesis", "list-streams", "--endpoint-url", secure.endpoint(), "--ca-bundle", str(cert),
         "--output", "json"],
        capture_output=True, text=True, env=environment, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "StreamNames" in json.loads(result.stdout)
