"""`GET /ready` of one app in process: its answers, and its care with a store that hangs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.config import Settings
from repository.s3 import S3Connection, S3DocumentStore


class SilentServer:
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a hung S3."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(connection)

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for connection in self.accepted:
            connection.close()


@pytest.fixture
def app(tmp_path):
    app = create_app(Settings(data_dir=tmp_path / "data", ready_timeout_seconds=0.5))
    yield app
    app.state.registry.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_ready_when_the_database_and_store_answer(client):
    response = client.get("/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_a_hung_store_is_probed_once_however_often_ready_is_asked(app, client):
    silent = SilentServer()
    connection = S3Connection(f"127.0.0.1:{silent.port}", "key", "secret", "us-east-1", False)
    app.state.documents = S3DocumentStore(connection.client(), "bucket")
    try:
        answers = [client.get("/ready") for _ in range(3)]
        probes = len(silent.accepted)
    finally:
        silent.close()

    assert [answer.status_code for answer in answers] == [503, 503, 503]
    assert answers[0].json() == {
        "status": "unavailable",
        "reason": "the document store did not answer within 0.5 seconds",
    }
    assert probes == 1
