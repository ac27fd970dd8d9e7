"""A real `xcads serve` process for end-to-end tests."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from gateway.app import ENDPOINTS

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
REPOSITORY = "1.3.6.1.4.1.21367.13.70.200.1"
PERSON_ID_AUTHORITY = "2.16.578.1.12.4.1.4.1"
SOAP = "application/soap+xml; charset=utf-8"
# Every endpoint the service announces once it listens.
ANNOUNCED = {name for name, _ in ENDPOINTS}


@contextmanager
def threaded_uvicorn(app, lifespan: str = "auto") -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan=lifespan, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Server:
    """A running `xcads serve` process."""

    def __init__(
        self,
        data_dir: Path,
        home: str = HOME,
        repository: str = REPOSITORY,
        environment: dict[str, str] | None = None,
    ) -> None:
        """Start `xcads serve`; `environment` adds XCADS_* variables (an S3 repository URL...)."""
        self.data_dir = data_dir
        env = {
            **os.environ,
            "XCADS_HOME_COMMUNITY_ID": home,
            "XCADS_REPOSITORY_UNIQUE_ID": repository,
        }
        env.pop("XCADS_DATABASE_URL", None)
        env.pop("XCADS_REPOSITORY_URL", None)
        env.update(environment or {})
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.endpoints: dict[str, str] = {}
        self.log: list[str] = []
        for line in self.process.stderr:
            self.log.append(line)
            found = re.search(r"endpoint\.ready name='([^']+)' url=([^\s\"]+)", line)
            if found:
                self.endpoints[found.group(1)] = found.group(2)
            if set(self.endpoints) >= ANNOUNCED:
                break
        assert set(self.endpoints) >= ANNOUNCED, "".join(self.log)
        # Keep reading the log: a full pipe would block the server at its next log line.
        threading.Thread(target=self._drain, daemon=True).start()
        self.base = self.endpoints["health"].removesuffix("/health")
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)

    def stop(self) -> None:
        """Stop the process and close the client."""
        self.http.close()
        self.process.terminate()
        self.process.wait(timeout=20)
