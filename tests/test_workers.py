"""`xcads serve --workers N`: worker processes on one port, each listening on a socket of its own,
one registry, one set of metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from lxml import etree
from production_support import DrainedServer, metric, provide_one
from repository_support import read_reply
from servers import PERSON_ID_AUTHORITY, SOAP
from soap_messages import NS, find_documents

REPOSITORY_PATH = "/Repository/services/RepositoryService"
XCA = "/XCA/services/RespondingGatewayService"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SUBMISSIONS = 12


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[DrainedServer]:
    server = DrainedServer(
        tmp_path_factory.mktemp("workers") / "data", environment={"XCADS_WORKERS": "2"}
    )
    try:
        wait_until_every_worker_listens(server)
        yield server
    finally:
        server.stop()


def worker_pids(server: DrainedServer) -> list[int]:
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    # Beside the workers runs multiprocessing's resource tracker.
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def test_two_workers_serve_one_port(served):
    assert len(worker_pids(served)) == 2
    assert httpx.get(f"{served.base}/health").status_code == 200


# --- Which process holds which socket, read from /proc ------------------------------------------

LISTEN = "0A"
ESTABLISHED = "01"


def tcp_sockets(state: str) -> list[tuple[int, int, int]]:
    """(local port, remote port, inode) of every IPv4 TCP socket of this machine in `state`."""
    found = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == state:
            local_port = int(fields[1].split(":")[1], 16)
            remote_port = int(fields[2].split(":")[1], 16)
            found.append((local_port, remote_port, int(fields[9])))
    return found


def socket_owners(pids: list[int]) -> dict[int, set[int]]:
    """Each socket inode held by one of `pids`, and which of them hold it."""
    owners: dict[int, set[int]] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                owners.setdefault(int(target[8:-1]), set()).add(pid)
    return owners


def port_of(server: DrainedServer) -> int:
    return urlsplit(server.base).port


def test_each_worker_listens_on_a_socket_of_its_own(served):
    workers = worker_pids(served)
    owners = socket_owners([served.process.pid, *workers])

    listening = [inode for port, _, inode in tcp_sockets(LISTEN) if port == port_of(served)]

    assert sorted(pid for inode in listening for pid in owners[inode]) == sorted(workers)


def test_a_burst_of_connections_reaches_every_worker(served):
    # Opened all at once, as a client opens its pool; one shared socket gave them all to one.
    connections = [socket.create_connection(("127.0.0.1", port_of(served))) for _ in range(32)]
    try:
        for connection in connections:
            connection.sendall(b"GET /health HTTP/1.1\r\nHost: xcads\r\n\r\n")
        for connection in connections:
            assert connection.recv(64).startswith(b"HTTP/1.1 200")
        ours = {connection.getsockname()[1] for connection in connections}
        workers = worker_pids(served)
        owners = socket_owners(workers)

        holding = [
            owners.get(inode, set())
            for port, remote_port, inode in tcp_sockets(ESTABLISHED)
            if port == port_of(served) and remote_port in ours
        ]
    finally:
        for connection in connections:
            connection.close()

    assert len(holding) == 32
    assert set().union(*holding) == set(workers)


def test_submissions_through_any_worker_are_found_by_every_query(served):
    patient_cx = f"{uuid.uuid4().int % 10**11:011d}^^^&{PERSON_ID_AUTHORITY}&ISO"
    unique_ids: list[str] = []
    failures: list[str] = []

    def submit(n: int) -> None:
        body, content_type, entry = provide_one(f"dokument {n}".encode(), patient=patient_cx)
        # A client of its own, so each submission opens its own connection to the shared socket.
        reply = httpx.post(
            f"{served.base}{REPOSITORY_PATH}",
            content=body,
            headers={"Content-Type": content_type},
            timeout=60,
        )
        if read_reply(reply).status != SUCCESS:
            failures.append(reply.text)
        unique_ids.append(entry.unique_id)

    threads = [threading.Thread(target=submit, args=(n,)) for n in range(SUBMISSIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    for _ in range(4):
        reply = httpx.post(
            f"{served.base}{XCA}",
            content=find_documents(patient_cx),
            headers={"Content-Type": SOAP},
        )
        found = etree.fromstring(reply.content).xpath(
            f"//rim:ExternalIdentifier[@identificationScheme='{UNIQUE_ID_SCHEME}']/@value",
            namespaces=NS,
        )
        assert sorted(found) == sorted(unique_ids)


def iti38_count(server: DrainedServer) -> float:
    exposition = httpx.get(f"{server.base}/metrics").text
    return metric(exposition, "xcads_requests_total", transaction="ITI-38")


def test_metrics_sum_the_requests_of_every_worker(served):
    before = iti38_count(served)
    for _ in range(10):
        # A connection of its own each time, so the kernel hands requests to either worker.
        httpx.post(
            f"{served.base}{XCA}",
            content=find_documents("1^^^&1.2.3&ISO"),
            headers={"Content-Type": SOAP},
        )

    # Whichever worker answers /metrics counts the other's requests too.
    assert [iti38_count(served) - before for _ in range(6)] == [10] * 6


def listening_workers(server: DrainedServer) -> set[int]:
    """The worker processes listening on the server's port."""
    owners = socket_owners(worker_pids(server))
    listening = [inode for port, _, inode in tcp_sockets(LISTEN) if port == port_of(server)]
    return {pid for inode in listening for pid in owners.get(inode, set())}


def wait_until_every_worker_listens(server: DrainedServer, workers: int = 2) -> None:
    # The server announces itself when its first worker is up; the others follow shortly.
    deadline = time.monotonic() + 60
    while len(listening_workers(server)) < workers:
        assert time.monotonic() < deadline, "the workers did not all start listening"
        time.sleep(0.1)


def test_a_worker_that_dies_is_replaced_and_no_connection_is_lost(tmp_path):
    server = DrainedServer(tmp_path / "data", environment={"XCADS_WORKERS": "2"})
    try:
        wait_until_every_worker_listens(server)
        first, second = worker_pids(server)
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while len(listening_workers(server) - {first, second}) != 1:
            assert time.monotonic() < deadline, "the dead worker was not replaced"
            time.sleep(0.2)

        # A connection of its own each: a socket left listening by the dead worker would hold
        # some of them unanswered.
        answers = [httpx.get(f"{server.base}/health", timeout=5).status_code for _ in range(40)]
    finally:
        server.stop()

    assert answers == [200] * 40


def test_a_port_another_process_listens_on_is_refused_even_with_so_reuseport(tmp_path):
    # The workers share their port with SO_REUSEPORT; another listener that set it too must not
    # silently get a share of xcads' connections, nor xcads of its.
    other = socket.socket()
    other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    other.bind(("127.0.0.1", 0))
    other.listen()
    port = other.getsockname()[1]
    try:
        served = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2"],
            env={**os.environ, "XCADS_DATA_DIR": str(tmp_path / "data")},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        other.close()

    assert served.returncode == 3
    assert "serve.bind_failed" in served.stderr and "Address already in use" in served.stderr
