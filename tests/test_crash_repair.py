"""A server killed in the middle of a submission leaves nothing that `xcads repair --fix` misses.

Run with the repository on the filesystem and on S3 (SeaweedFS).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from bundles import Document, encode, provide_bundle
from servers import REPOSITORY, Server
from test_end_to_end import patient, submit

from registry.sql import SqlRegistryStore
from repository.filesystem import FilesystemDocumentStore
from repository.s3 import S3DocumentStore
from repository.store import DocumentStore

DOCUMENTS = 200
DOCUMENT_BYTES = 64 * 1024


@pytest.fixture(params=["filesystem", "s3"])
def repository(request, tmp_path) -> tuple[dict[str, str], DocumentStore]:
    """The XCADS_* variables of the server's document store, and that store."""
    if request.param == "filesystem":
        return {}, FilesystemDocumentStore(tmp_path / "data" / "documents")
    seaweedfs, url = request.getfixturevalue("seaweedfs"), request.getfixturevalue("s3_url")
    return seaweedfs.environment(url), S3DocumentStore.from_url(url, seaweedfs.connection)


def xcads_repair(data_dir, environment: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "XCADS_REPOSITORY_UNIQUE_ID": REPOSITORY}
    env.pop("XCADS_DATABASE_URL", None)
    env.pop("XCADS_REPOSITORY_URL", None)
    env.update(environment)
    command = [sys.executable, "-m", "gateway.cli", "repair", "--data-dir", str(data_dir), *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_server_killed_while_storing_a_submission_is_repaired(tmp_path, repository):
    environment, store = repository
    data_dir = tmp_path / "data"
    server = Server(data_dir, environment=environment)
    kept = Document(b"stored before the crash")
    assert submit(server, provide_bundle(patient(), [kept])).status_code == 200

    documents = [Document(os.urandom(DOCUMENT_BYTES)) for _ in range(DOCUMENTS)]
    body = encode(provide_bundle(patient(), documents))

    def post() -> None:
        # The server dies under this request; its failure is the point.
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                f"{server.base}/fhir",
                content=body,
                headers={"Content-Type": "application/fhir+json"},
                timeout=60,
            )

    sender = threading.Thread(target=post)
    sender.start()
    deadline = time.monotonic() + 60
    while not any(store.staged()) and time.monotonic() < deadline:
        time.sleep(0.001)
    staged_at_kill = len(list(store.staged()))
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=20)
    sender.join(timeout=60)
    server.http.close()

    left = [item for item in [*store.staged(), *store.documents()] if item.key != kept.unique_id]
    assert staged_at_kill > 0, "the server was not storing the submission when it was killed"
    assert left, "the kill left nothing to repair"

    fixed = xcads_repair(data_dir, environment, "--fix", "--stale-minutes", "0")
    assert fixed.returncode == 0, fixed.stderr
    assert "repair.done fix=True" in fixed.stderr

    registry = SqlRegistryStore(f"sqlite:///{data_dir / 'registry.sqlite3'}")
    try:
        unique_ids = [document.unique_id for document in documents]
        registered = registry.registered_unique_ids(unique_ids)
        assert list(store.staged()) == []
        assert {item.key for item in store.documents()} == {kept.unique_id, *registered}
        assert all(store.exists(unique_id) for unique_id in registered)
        assert registered in (set(), set(unique_ids)), "half of a submission was stored"
    finally:
        registry.close()

    again = xcads_repair(data_dir, environment, "--stale-minutes", "0")
    assert again.returncode == 0, again.stderr
    assert "orphans=0 stale_staged=0 missing=0" in again.stderr
