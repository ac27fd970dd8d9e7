"""Large documents stream both ways: an ITI-41 document goes from the socket to the document store,
and an ITI-43 retrieve from the store to the socket, without the server holding it whole."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from registry_support import submit_objects_request
from repository_support import SUCCESS, provide_request, retrieve_request
from servers import threaded_uvicorn
from validation_samples import document_entry, submission

from gateway.app import create_app
from gateway.config import Settings

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
REPOSITORY = "1.3.6.1.4.1.21367.13.70.200.1"
URL = "/Repository/services/RepositoryService"
SIZE = 48 * 1024 * 1024
CHUNK = 64 * 1024
# Far below the document's size: what the server may hold at once while the document passes.
MEMORY_LIMIT = 12 * 1024 * 1024
PLACEHOLDER = b"@@document@@"


@pytest.fixture
def served(tmp_path) -> Iterator[str]:
    settings = Settings(
        data_dir=tmp_path / "data",
        home_community_id=HOME,
        repository_unique_id=REPOSITORY,
        max_request_bytes=SIZE + 1024 * 1024,
        max_envelope_bytes=1024 * 1024,
    )
    app = create_app(settings)
    with threaded_uvicorn(app) as url:
        yield url
    app.state.registry.close()


def pattern(size: int) -> Iterator[bytes]:
    piece = bytes(range(256)) * (CHUNK // 256)
    for start in range(0, size, CHUNK):
        yield piece[: min(CHUNK, size - start)]


def sha1_of(chunks) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def peak_while(action) -> tuple[object, int]:
    """Run `action`; return its result and the most memory Python held above the start meanwhile."""
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        result = action()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak - baseline


def test_a_large_document_streams_in_with_iti41_and_out_with_iti43(served):
    entry = document_entry(hash=sha1_of(pattern(SIZE)), size=SIZE, mime_type="application/pdf")
    message, content_type = provide_request(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, PLACEHOLDER)]
    )
    head, tail = message.split(PLACEHOLDER)

    def body() -> Iterator[bytes]:
        yield head
        yield from pattern(SIZE)
        yield tail

    with httpx.Client(base_url=served, timeout=120) as http:
        provided, upload_peak = peak_while(
            lambda: http.post(URL, content=body(), headers={"Content-Type": content_type})
        )

        def retrieve() -> tuple[int, str]:
            request = retrieve_request([(REPOSITORY, entry.unique_id)])
            headers = {"Content-Type": "application/soap+xml"}
            with http.stream("POST", URL, content=request, headers=headers) as response:
                size = sum(len(chunk) for chunk in response.iter_raw(CHUNK))
                return response.status_code, size

        (status, size), retrieve_peak = peak_while(retrieve)

    assert provided.status_code == 200
    assert SUCCESS.encode() in provided.content
    assert upload_peak < MEMORY_LIMIT
    assert status == 200
    assert size > SIZE
    assert retrieve_peak < MEMORY_LIMIT


@pytest.fixture
def small_client(tmp_path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=tmp_path / "data", max_request_bytes=64 * 1024, max_envelope_bytes=4096
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield client
    app.state.registry.close()


def test_mtom_body_over_the_request_cap_sent_in_chunks_gets_413(small_client):
    message, content_type = provide_request("<x/>", [("Document01", PLACEHOLDER)])
    head, tail = message.split(PLACEHOLDER)

    def body() -> Iterator[bytes]:
        yield head
        yield from pattern(128 * 1024)
        yield tail

    reply = small_client.post(URL, content=body(), headers={"Content-Type": content_type})

    assert reply.status_code == 413
    assert b"Sender" in reply.content


def test_plain_envelope_over_the_envelope_cap_gets_413_naming_mtom(small_client):
    message = retrieve_request([(REPOSITORY, "2.25.1")]).replace(b"</", b" " * 5000 + b"</", 1)

    reply = small_client.post(
        URL, content=message, headers={"Content-Type": "application/soap+xml"}
    )

    assert reply.status_code == 413
    assert b"MTOM" in reply.content


def test_mtom_root_part_over_the_envelope_cap_gets_413(small_client):
    message, content_type = provide_request(" " * 5000, [("Document01", b"tiny")])

    reply = small_client.post(URL, content=message, headers={"Content-Type": content_type})

    assert reply.status_code == 413
    assert b"envelope part is larger" in reply.content
