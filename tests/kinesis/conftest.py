"""Real `strait serve` processes for the Kinesis client tests.

Each test module talks to Strait's Kinesis HTTP API with unmodified clients (boto3, the AWS
CLI, raw HTTP for CBOR) through `endpoint_url` only. The processes are started from the binary
that `cargo test --workspace` builds (`$CARGO_TARGET_DIR/debug/strait`, or `STRAIT_BIN`), on
free loopback ports, each with its own data directory, and are stopped at the end of the
session.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "000000000000"

# Fake credentials: Strait reads the region from the SigV4 scope and checks no signature.
os.environ.setdefault("AWS_ACCESS_KEY_ID", ACCOUNT)
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "strait-test-secret")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


def strait_binary() -> Path:
    if "STRAIT_BIN" in os.environ:
        return Path(os.environ["STRAIT_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "strait"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """N `strait serve` processes forming one cluster. `extra_args` are added to every
    `strait serve`; `verify` is boto3's: a CA bundle path for an HTTPS cluster (whose
    endpoints then use `https://`), or None for plain HTTP."""

    def __init__(self, size: int, extra_args=(), verify=None):
        binary = strait_binary()
        if not binary.exists():
            raise RuntimeError(f"{binary} not found: run `cargo test --workspace` (or cargo build) first")
        self.dir = Path(tempfile.mkdtemp(prefix="strait-kinesis-"))
        self.grpc = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        self.kinesis = [f"127.0.0.1:{free_port()}" for _ in range(size)]
        self.verify = verify
        self.scheme = "http" if verify is None else "https"
        initial = ",".join(f"{i + 1}={address}" for i, address in enumerate(self.grpc))
        self.processes = []
        for i in range(size):
            log = open(self.dir / f"node-{i + 1}.log", "ab")
            self.processes.append(
                subprocess.Popen(
                    [
                        str(binary), "serve",
                        "--node-id", str(i + 1),
                        "--listen", self.grpc[i],
                        "--kinesis-listen", self.kinesis[i],
                        "--initial-cluster", initial,
                        "--data-dir", str(self.dir / f"node-{i + 1}"),
                        *extra_args,
                    ],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                )
            )
        self.wait_ready()

    def endpoint(self, index: int = 0) -> str:
        return f"{self.scheme}://{self.kinesis[index]}"

    def client(self, region: str = "us-east-1", index: int = 0, validate: bool = True, retries: int = 6):
        return kinesis_client(self.endpoint(index), region, validate, retries, verify=self.verify)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in sorted(self.dir.glob("node-*.log")))

    def wait_ready(self, timeout: float = 60.0):
        """Waits until every node serves the API and the cluster accepts a new stream."""
        deadline = time.time() + timeout
        name = f"ready-{uuid.uuid4().hex[:8]}"
        last = None
        while time.time() < deadline:
            try:
                for i in range(len(self.kinesis)):
                    kinesis_client(self.endpoint(i), retries=1, verify=self.verify).list_streams()
                self.client().create_stream(StreamName=name, ShardCount=1)
                wait_active(self.client(), name, timeout=max(1.0, deadline - time.time()))
                self.client().delete_stream(StreamName=name)
                return
            except Exception as error:  # noqa: BLE001 - any failure means "not ready yet"
                last = error
                if any(p.poll() is not None for p in self.processes):
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"cluster not ready: {last!r}\n{self.logs()}")

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if not os.environ.get("STRAIT_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def kinesis_client(endpoint: str, region: str = "us-east-1", validate: bool = True, retries: int = 6,
                   verify=None):
    """A boto3 Kinesis client for Strait. `validate=False` turns off botocore's client-side
    checks so that invalid input reaches the server; `verify` is the CA bundle (or False) for
    an HTTPS endpoint."""
    return boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        verify=verify,
        region_name=region,
        aws_access_key_id=ACCOUNT,
        aws_secret_access_key="strait-test-secret",
        config=Config(
            parameter_validation=validate,
            retries={"max_attempts": retries, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


def wait_active(client, name: str, timeout: float = 30.0):
    """Polls DescribeStreamSummary until the stream is ACTIVE (boto3's waiter polls every 10 s)."""
    deadline = time.time() + timeout
    while True:
        status = client.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamStatus"]
        if status == "ACTIVE":
            return
        if time.time() > deadline:
            raise AssertionError(f"stream {name} still {status} after {timeout}s")
        time.sleep(0.05)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def node():
    cluster = Cluster(1)
    yield cluster
    cluster.stop()


@pytest.fixture
def kinesis(node):
    return node.client()


@pytest.fixture
def raw(node):
    """A client without botocore's parameter validation."""
    return node.client(validate=False)


@pytest.fixture
def stream(node, kinesis):
    """Creates ACTIVE streams on demand: `stream(shards=2)` returns the new stream's name."""

    created = []

    def make(shards: int = 1, prefix: str = "test") -> str:
        name = unique(prefix)
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        wait_active(kinesis, name)
        created.append(name)
        return name

    yield make
    for name in created:
        try:
            kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
        except kinesis.exceptions.ResourceNotFoundException:
            pass
