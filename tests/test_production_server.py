"""A real `xcads serve` process as production runs it: graceful shutdown, timeouts, readiness
and JSON logs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from production_support import DrainedServer, TcpRelay, provide_one
from repository_support import read_reply, retrieve_request
from s3_server import SeaweedFS
from servers import REPOSITORY, SOAP
from sqlalchemy.engine import make_url

from registry.sql import normalize_url

REPOSITORY_PATH = "/Repository/services/RepositoryService"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
CHUNK = 256 * 1024


def large(size: int) -> bytes:
    """Bytes that differ all along, so that a lost or repeated chunk shows."""
    block = hashlib.sha256(uuid.uuid4().bytes).digest() * (CHUNK // 32)
    return (block * (size // len(block) + 1))[:size]


def raw_request(port: int, head: bytes, timeout: float = 30) -> bytes:
    """Send `head` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(head)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received


def port_of(server: DrainedServer) -> int:
    return httpx.URL(server.base).port


def ended_by_sigterm(server: DrainedServer) -> bool:
    """Whether the process ended after a complete graceful shutdown, no task cut short.

    uvicorn raises the signal again once shut down, so the exit status is SIGTERM's own.
    """
    code = server.wait()
    log = "".join(server.log)
    return (
        code in (0, -signal.SIGTERM)
        and "Finished server process" in log
        and "timeout graceful shutdown exceeded" not in log
    )


# --- Graceful shutdown -------------------------------------------------------------------------


def test_sigterm_during_a_slow_large_upload_lets_it_finish_and_store(tmp_path):
    data = large(6 * 1024 * 1024)
    body, content_type, entry = provide_one(data)
    server = DrainedServer(tmp_path / "data", {"XCADS_SHUTDOWN_GRACE_SECONDS": "60"})
    alive_after_signal = []

    def slowly() -> Iterator[bytes]:
        for start in range(0, len(body), CHUNK):
            if start == 4 * CHUNK:
                server.terminate_gracefully()
                time.sleep(0.5)
                alive_after_signal.append(server.process.poll() is None)
            yield body[start : start + CHUNK]
            time.sleep(0.02)

    try:
        response = server.http.post(
            REPOSITORY_PATH, content=slowly(), headers={"Content-Type": content_type}
        )
        assert read_reply(response).status == SUCCESS, response.text
        assert alive_after_signal == [True]
        assert ended_by_sigterm(server)
    finally:
        server.stop()

    restarted = DrainedServer(tmp_path / "data")
    try:
        fetched = restarted.http.post(
            REPOSITORY_PATH,
            content=retrieve_request([(REPOSITORY, entry.unique_id)]),
            headers={"Content-Type": SOAP},
        )
    finally:
        restarted.stop()
    assert fetched.status_code == 200
    (stored,) = read_reply(fetched).documents.values()
    assert stored[1] == data


def test_sigterm_during_a_streaming_retrieve_lets_it_finish(tmp_path):
    data = large(48 * 1024 * 1024)
    body, content_type, entry = provide_one(data)
    server = DrainedServer(tmp_path / "data", {"XCADS_SHUTDOWN_GRACE_SECONDS": "60"})
    try:
        stored = server.http.post(
            REPOSITORY_PATH, content=body, headers={"Content-Type": content_type}
        )
        assert read_reply(stored).status == SUCCESS, stored.text
        request = retrieve_request([(REPOSITORY, entry.unique_id)])

        received = bytearray()
        with server.http.stream(
            "POST", REPOSITORY_PATH, content=request, headers={"Content-Type": SOAP}
        ) as response:
            chunks = response.iter_raw(CHUNK)
            received += next(chunks)
            server.terminate_gracefully()
            time.sleep(1)
            alive_while_streaming = server.process.poll() is None
            for chunk in chunks:
                received += chunk
            content_type_received = response.headers["content-type"]

        assert alive_while_streaming
        assert ended_by_sigterm(server)
    finally:
        server.stop()
    reply = httpx.Response(
        200, content=bytes(received), headers={"Content-Type": content_type_received}
    )
    (document,) = read_reply(reply).documents.values()
    assert document[1] == data


# --- Timeouts ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def impatient(tmp_path_factory) -> Iterator[DrainedServer]:
    environment = {"XCADS_BODY_READ_TIMEOUT_SECONDS": "1", "XCADS_KEEP_ALIVE_SECONDS": "1"}
    server = DrainedServer(tmp_path_factory.mktemp("impatient"), environment)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("path", "content_type", "shape"),
    [
        ("/fhir", "application/fhir+json", b'"resourceType": "OperationOutcome"'),
        (REPOSITORY_PATH, SOAP, b"Fault"),
    ],
)
def test_a_body_that_stalls_gets_408_in_the_endpoints_shape(impatient, path, content_type, shape):
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        "Content-Length: 10000\r\n\r\n"
    ).encode() + b"{" * 100

    started = time.monotonic()
    answer = raw_request(port_of(impatient), head)

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert shape in answer
    assert time.monotonic() - started < 10


def test_an_idle_kept_alive_connection_is_closed_after_the_keep_alive_timeout(impatient):
    with socket.create_connection(("127.0.0.1", port_of(impatient)), timeout=10) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while not answer.endswith(b'{"status":"ok"}'):
            answer += connection.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()

        closed = connection.recv(65536)

    assert closed == b""
    assert time.monotonic() - started < 5


# --- Readiness ---------------------------------------------------------------------------------


def test_ready_is_503_with_a_reason_while_postgresql_is_unreachable(
    tmp_path, postgres_database_url
):
    url = make_url(normalize_url(postgres_database_url))
    relay = TcpRelay((url.host or "127.0.0.1", url.port or 5432))
    relay.open()
    through_relay = url.set(host="127.0.0.1", port=relay.port)
    environment = {
        "XCADS_DATABASE_URL": through_relay.render_as_string(hide_password=False),
        "XCADS_READY_TIMEOUT_SECONDS": "3",
    }
    server = DrainedServer(tmp_path / "data", environment)
    try:
        assert server.http.get("/ready").status_code == 200

        relay.close()
        down = server.http.get("/ready")
        relay.open()
        again = server.http.get("/ready")
    finally:
        relay.close()
        server.stop()

    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert "registry database" in down.json()["reason"]
    assert "document store" not in down.json()["reason"]
    assert again.status_code == 200


def test_ready_is_503_with_a_reason_once_the_s3_store_is_stopped(tmp_path):
    seaweedfs = SeaweedFS(tmp_path / "seaweedfs")
    seaweedfs.start()
    environment = {
        **seaweedfs.environment(f"s3://xcads-ready/{uuid.uuid4().hex}"),
        "XCADS_READY_TIMEOUT_SECONDS": "3",
    }
    try:
        server = DrainedServer(tmp_path / "data", environment)
    except BaseException:
        seaweedfs.stop()
        raise
    try:
        up = server.http.get("/ready")
        seaweedfs.stop()
        started = time.monotonic()
        down = server.http.get("/ready")
        waited = time.monotonic() - started
        alive = server.http.get("/health")
    finally:
        seaweedfs.stop()
        server.stop()

    assert up.status_code == 200, up.text
    assert down.status_code == 503
    assert "document store" in down.json()["reason"]
    assert "registry database" not in down.json()["reason"]
    assert waited < 10
    assert alive.status_code == 200


# --- Logs --------------------------------------------------------------------------------------


def test_json_logs_give_every_line_of_a_request_its_request_id(tmp_path):
    server = DrainedServer(tmp_path / "data", {"XCADS_LOG_FORMAT": "json"})
    body, content_type, _ = provide_one(b"logget som JSON")
    try:
        response = server.http.post(
            REPOSITORY_PATH,
            content=body,
            headers={"Content-Type": content_type, "X-Request-ID": "submit-77"},
        )
        assert response.headers["x-request-id"] == "submit-77"
    finally:
        server.stop()

    records = [json.loads(line) for line in server.log]
    assert all({"time", "level", "logger", "event", "request_id"} <= set(r) for r in records)
    (provided,) = [r for r in records if r["event"].startswith("iti41.")]
    assert provided["request_id"] == "submit-77"
    assert next(r for r in records if r["event"] == "endpoint.ready")["request_id"] == "-"


@pytest.mark.parametrize(
    ("environment", "arguments", "variable"),
    [
        ({"XCADS_QUERY_THREADS": "0"}, [], "XCADS_QUERY_THREADS"),
        ({"XCADS_QUERY_THREADS": "abc"}, [], "XCADS_QUERY_THREADS"),
        ({"XCADS_WORKERS": "65"}, [], "XCADS_WORKERS"),
        ({}, ["--workers", "0"], "XCADS_WORKERS"),
        ({"XCADS_LOG_FORMAT": "xml"}, [], "XCADS_LOG_FORMAT"),
    ],
)
def test_serve_with_an_invalid_setting_exits_naming_the_variable(
    tmp_path, environment, arguments, variable
):
    command = [sys.executable, "-m", "gateway.cli", "serve", "--port", "0", *arguments]

    finished = subprocess.run(
        command,
        env={**os.environ, "XCADS_DATA_DIR": str(tmp_path / "data"), **environment},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode == 2
    assert f"config.invalid {variable} " in finished.stderr
    assert "Traceback" not in finished.stderr
