"""`xcads serve --workers N`: worker processes on one socket, one registry, one set of metrics."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

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


def test_two_workers_serve_one_socket(served):
    assert len(worker_pids(served)) == 2
    assert httpx.get(f"{served.base}/health").status_code == 200


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
