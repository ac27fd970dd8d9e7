"""Stored queries run in at most XCADS_QUERY_THREADS threads per process at once; other work
(retrieves, submissions, health) keeps the shared thread pool and never waits behind them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import httpx
import pytest
from servers import HOME, REPOSITORY, SOAP, threaded_uvicorn
from soap_messages import adhoc_query, as_mtom, envelope, find_documents, retrieve

from gateway.app import create_app
from gateway.config import Settings
from registry.sql import SqlRegistryStore

PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"
XCA = "/XCA/services/RespondingGatewayService"
REGISTRY = "/Registry/services/RegistryService"
SUCCESS = b"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
CONCURRENT_REQUESTS = 6


class WatchedRegistry(SqlRegistryStore):
    """The registry, counting how many DocumentEntry searches run at once; each search first
    waits for `gate`, then holds on for `hold` seconds."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.gate = threading.Event()
        self.gate.set()
        self.hold = 0.0
        self.running = 0
        self.most_running = 0
        self.calls = 0
        self._count = threading.Lock()

    def find_document_entries(self, query, limit):
        with self._count:
            self.calls += 1
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            self.gate.wait(timeout=30)
            time.sleep(self.hold)
            return super().find_document_entries(query, limit)
        finally:
            with self._count:
                self.running -= 1


@pytest.fixture
def serve(tmp_path):
    """Start xcads with `query_threads` query threads on a watched registry; its URL and it."""
    started = []

    def start(query_threads: int) -> tuple[str, WatchedRegistry]:
        settings = Settings(
            data_dir=tmp_path / "data",
            home_community_id=HOME,
            repository_unique_id=REPOSITORY,
            query_threads=query_threads,
        )
        app = create_app(settings)
        app.state.registry.close()
        app.state.registry = WatchedRegistry(settings.resolved_database_url)
        server = threaded_uvicorn(app)
        started.append((server, app))
        return server.__enter__(), app.state.registry

    yield start
    for server, app in started:
        server.__exit__(None, None, None)
        app.state.registry.close()


def iti38(base: str, timeout: float = 30) -> httpx.Response:
    message = find_documents(PATIENT)
    return httpx.post(base + XCA, content=message, headers={"Content-Type": SOAP}, timeout=timeout)


def iti38_padded(base: str) -> httpx.Response:
    """ITI-38 in an envelope above the size read on the event loop (64 KiB)."""
    message = find_documents(PATIENT).replace("<s:Body>", f"<!-- {'x' * 70_000} --><s:Body>")
    return httpx.post(base + XCA, content=message, headers={"Content-Type": SOAP})


def iti38_mtom(base: str) -> httpx.Response:
    body, content_type = as_mtom(find_documents(PATIENT), "urn:ihe:iti:2007:CrossGatewayQuery")
    return httpx.post(base + XCA, content=body, headers={"Content-Type": content_type})


def iti18(base: str) -> httpx.Response:
    body = adhoc_query(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": [f"'{PATIENT.replace('&', '&amp;')}'"],
            "$XDSDocumentEntryStatus": [f"('{APPROVED}')"],
        },
    )
    message = envelope("urn:ihe:iti:2007:RegistryStoredQuery", body)
    return httpx.post(base + REGISTRY, content=message, headers={"Content-Type": SOAP})


def iti67(base: str, timeout: float = 30) -> httpx.Response:
    identifier = "urn:oid:2.16.578.1.12.4.1.4.1|13116900216"
    parameters = {"patient.identifier": identifier, "status": "current"}
    return httpx.get(base + "/fhir/DocumentReference", params=parameters, timeout=timeout)


def answered(response: httpx.Response) -> bool:
    if response.request.url.path.startswith("/fhir"):
        return response.status_code == 200 and response.json()["resourceType"] == "Bundle"
    return response.status_code == 200 and SUCCESS in response.content


@pytest.mark.parametrize("query_threads", [1, 2])
@pytest.mark.parametrize(
    "send",
    [iti38, iti38_padded, iti38_mtom, iti18, iti67],
    ids=["ITI-38", "ITI-38 above 64 KiB", "ITI-38 as MTOM", "ITI-18", "ITI-67"],
)
def test_stored_queries_run_in_at_most_query_threads_at_once(serve, query_threads, send):
    base, registry = serve(query_threads)
    registry.hold = 0.2

    with ThreadPoolExecutor(CONCURRENT_REQUESTS) as pool:
        responses = list(pool.map(lambda _: send(base), range(CONCURRENT_REQUESTS)))

    assert all(answered(response) for response in responses)
    assert registry.most_running == query_threads


def test_the_query_threads_are_one_pool_for_every_kind_of_query(serve):
    base, registry = serve(1)
    registry.hold = 0.2

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda send: send(base), [iti38, iti18, iti67]))

    assert all(answered(response) for response in responses)
    assert registry.most_running == 1


def holding_the_query_thread(pool, send, base: str, registry: WatchedRegistry) -> Future:
    """Send a query from `pool` and wait until it holds the query thread, at the closed gate."""
    query = pool.submit(send, base)
    deadline = time.monotonic() + 10
    while registry.running == 0:
        assert time.monotonic() < deadline, "the query never reached the registry"
        time.sleep(0.01)
    return query


def test_a_retrieve_and_health_answer_while_every_query_thread_is_busy(serve):
    base, registry = serve(1)
    registry.gate.clear()

    with ThreadPoolExecutor(2) as pool:
        waiting_query = holding_the_query_thread(pool, iti38, base, registry)

        unknown = retrieve([(HOME, REPOSITORY, "2.25.1")])
        answer = httpx.post(base + XCA, content=unknown, headers={"Content-Type": SOAP}, timeout=5)
        health = httpx.get(base + "/health", timeout=5)
        query_still_waiting = not waiting_query.done()
        registry.gate.set()
        query = waiting_query.result(timeout=30)

    assert answer.status_code == 200
    assert b"XDSDocumentUniqueIdError" in answer.content
    assert health.status_code == 200
    assert query_still_waiting
    assert answered(query)


@pytest.mark.parametrize("send", [iti38, iti67], ids=["ITI-38", "ITI-67"])
def test_queued_queries_of_clients_that_left_are_not_run(serve, send):
    base, registry = serve(1)
    registry.gate.clear()

    with ThreadPoolExecutor(4) as pool:
        held = holding_the_query_thread(pool, send, base, registry)

        def give_up(_) -> None:
            with pytest.raises(httpx.ReadTimeout):
                send(base, timeout=0.5)

        list(pool.map(give_up, range(3)))
        registry.gate.set()
        first = held.result(timeout=30)
        after = send(base)

    assert answered(first) and answered(after)
    assert registry.calls == 2
