"""Two `xcads serve` replicas on one PostgreSQL database and one S3 store, as the compose file
runs them, without containers: SeaweedFS stands in for MinIO."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from bundles import Document, encode, provide_bundle
from databases import throwaway_database
from lxml import etree
from production_support import DrainedServer, provide_one
from repository_support import read_reply, retrieve_request
from servers import HOME, PERSON_ID_AUTHORITY, REPOSITORY, SOAP
from soap_messages import NS, find_documents, retrieve, split_multipart

XCA = "/XCA/services/RespondingGatewayService"
REPOSITORY_PATH = "/Repository/services/RepositoryService"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
UNIQUE_ID_SCHEME = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
# A uniqueId sent twice at once: the registry keeps the first and refuses the second; its hash
# differing, the refusal may come from the hash check instead.
DUPLICATE_CODES = {"XDSDuplicateUniqueIdInRegistry", "XDSNonIdenticalHash"}
ROUNDS = 4


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, postgres_database_url, seaweedfs) -> Iterator[list[DrainedServer]]:
    folder = tmp_path_factory.mktemp("replicas")
    store = f"s3://xcads-test/{uuid.uuid4().hex}"
    with throwaway_database(postgres_database_url) as database:
        environment = {"XCADS_DATABASE_URL": database, **seaweedfs.environment(store)}
        started: list[DrainedServer] = []
        try:
            # Started together: both migrate the empty database at once.
            threads = [
                threading.Thread(
                    target=lambda n=n: started.append(
                        DrainedServer(folder / f"replica-{n}", environment=environment)
                    )
                )
                for n in range(2)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=120)
            assert len(started) == 2
            yield started
        finally:
            for server in started:
                server.stop()


def patient() -> str:
    return f"{uuid.uuid4().int % 10**11:011d}^^^&{PERSON_ID_AUTHORITY}&ISO"


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Make every call at the same moment, each on its own thread; their responses in order."""
    barrier = threading.Barrier(len(calls))
    responses: list[httpx.Response | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        responses[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(response is not None for response in responses)
    return responses  # type: ignore[return-value]


def provide_41(server: DrainedServer, data: bytes, patient_cx: str, unique_id: str | None = None):
    body, content_type, entry = provide_one(data, patient=patient_cx, unique_id=unique_id)
    return lambda: server.http.post(
        REPOSITORY_PATH, content=body, headers={"Content-Type": content_type}
    ), entry


def provide_65(server: DrainedServer, document: Document, patient_id: str):
    body = encode(provide_bundle(patient_id, [document]))
    return lambda: server.http.post(
        "/fhir", content=body, headers={"Content-Type": "application/fhir+json"}
    )


def found_unique_ids(server: DrainedServer, patient_cx: str) -> list[str]:
    response = server.http.post(
        XCA, content=find_documents(patient_cx), headers={"Content-Type": SOAP}
    )
    assert response.status_code == 200, response.text
    root = etree.fromstring(response.content)
    assert root.xpath("//query:AdhocQueryResponse/@status", namespaces=NS) == [SUCCESS]
    return sorted(
        root.xpath(
            f"//rim:ExternalIdentifier[@identificationScheme='{UNIQUE_ID_SCHEME}']/@value",
            namespaces=NS,
        )
    )


def retrieved(server: DrainedServer, unique_id: str) -> bytes:
    reply = server.http.post(
        XCA, content=retrieve([(HOME, REPOSITORY, unique_id)]), headers={"Content-Type": SOAP}
    )
    assert reply.status_code == 200, reply.text
    (part,) = split_multipart(reply.headers["content-type"], reply.content)[1:]
    return part.data


def test_concurrent_submissions_through_both_replicas_are_all_found_through_either(replicas):
    first, second = replicas
    patient_cx = patient()
    patient_id = patient_cx.split("^")[0]
    documents = [Document(f"dokument {n}".encode() * 100) for n in range(4)]
    calls = []
    entries = []
    for n in range(4):
        call, entry = provide_41(first if n % 2 else second, f"ITI-41 {n}".encode(), patient_cx)
        calls.append(call)
        entries.append(entry)
    calls += [
        provide_65(first if n % 2 else second, doc, patient_id) for n, doc in enumerate(documents)
    ]

    responses = at_once(*calls)

    for response in responses[:4]:
        assert read_reply(response).status == SUCCESS, response.text
    for response in responses[4:]:
        assert response.status_code == 200, response.text
    expected = sorted([entry.unique_id for entry in entries] + [d.unique_id for d in documents])
    assert found_unique_ids(first, patient_cx) == expected
    assert found_unique_ids(second, patient_cx) == expected
    for document in documents:
        assert retrieved(first, document.unique_id) == document.data
        assert retrieved(second, document.unique_id) == document.data


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_uniqueid_through_both_replicas_at_once_over_iti41_is_stored_once(replicas, round_):
    patient_cx = patient()
    unique_id = f"2.25.{uuid.uuid4().int}"
    calls = []
    for n, server in enumerate(replicas):
        call, _ = provide_41(server, f"versjon {n} av dokumentet".encode(), patient_cx, unique_id)
        calls.append(call)

    replies = [read_reply(response) for response in at_once(*calls)]

    statuses = [reply.status for reply in replies]
    assert statuses.count(SUCCESS) == 1, [reply.errors for reply in replies]
    (refused,) = [reply for reply in replies if reply.status != SUCCESS]
    assert {code for code, _ in refused.errors} & DUPLICATE_CODES, refused.errors
    winner = statuses.index(SUCCESS)
    for server in replicas:
        assert found_unique_ids(server, patient_cx) == [unique_id]
        fetched = server.http.post(
            REPOSITORY_PATH,
            content=retrieve_request([(REPOSITORY, unique_id)]),
            headers={"Content-Type": SOAP},
        )
        (stored,) = read_reply(fetched).documents.items()
        assert stored == (unique_id, ("text/plain", f"versjon {winner} av dokumentet".encode()))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_one_uniqueid_through_both_replicas_at_once_over_iti65_is_stored_once(replicas, round_):
    patient_cx = patient()
    patient_id = patient_cx.split("^")[0]
    unique_id = str(uuid.uuid4())
    documents = [Document(f"utgave {n}".encode(), unique_id=unique_id) for n in range(2)]
    calls = [
        provide_65(server, doc, patient_id) for server, doc in zip(replicas, documents, strict=True)
    ]

    responses = at_once(*calls)

    codes = [response.status_code for response in responses]
    assert sorted(codes) == [200, 400], [response.text for response in responses]
    refused = responses[codes.index(400)].json()
    found = {
        coding["code"]
        for issue in refused["issue"]
        for coding in issue.get("details", {}).get("coding", [])
    }
    assert found & DUPLICATE_CODES, refused
    winner = documents[codes.index(200)]
    for server in replicas:
        assert found_unique_ids(server, patient_cx) == [unique_id]
        assert retrieved(server, unique_id) == winner.data


def test_both_replicas_count_their_own_traffic_and_are_ready(replicas):
    for server in replicas:
        ready = server.http.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"status": "ready"}
        assert "xcads_requests_total" in server.http.get("/metrics").text
