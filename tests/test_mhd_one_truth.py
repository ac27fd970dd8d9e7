"""One registry behind every face: what ITI-41, ITI-42 and ITI-65 store, ITI-18 and ITI-67 find.

The same query asked as a FindDocuments over SOAP and as an ITI-67 search returns the same
documents, on SQLite and on PostgreSQL; ITI-68 streams a multi-megabyte document over a socket.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from mhd_support import fixture_bundle, post
from registry_support import (
    NAMESPACES,
    SOAP,
    STORED_QUERY,
    SUCCESS,
    body_of,
    register,
    submit_objects_request,
)
from registry_support import URL as REGISTRY_URL
from repository_support import URL as REPOSITORY_URL
from repository_support import provide_request
from responder_support import found, search, seed, unique_ids
from servers import REPOSITORY as SERVER_REPOSITORY
from servers import Server
from soap_messages import FIND_DOCUMENTS, adhoc_query, envelope
from validation_samples import CONTENT, PATIENT, document_entry, submission

from gateway.app import create_app
from gateway.config import Settings
from registry.ebrim.vocabulary import DOC_UNIQUE_ID
from registry.metadata import AvailabilityStatus, Code

APPROVED = AvailabilityStatus.APPROVED.value
DEPRECATED = AvailabilityStatus.DEPRECATED.value
IHE_PATIENT = "IHERED-994^^^&1.3.6.1.4.1.21367.13.20.1000&ISO"
SCHEME = "1.2.3.4"


@pytest.fixture
def app(tmp_path, registry_url) -> Iterator[FastAPI]:
    app = create_app(Settings(data_dir=tmp_path / "data", database_url=registry_url))
    yield app
    app.state.registry.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def find_documents(client, slots: dict[str, list[str]]) -> set[str]:
    """The uniqueIds an ITI-18 FindDocuments over SOAP returns; each value is a Slot of its own."""
    body = adhoc_query(FIND_DOCUMENTS, {})
    slot_xml = "".join(
        f'<Slot name="{name}"><ValueList><Value>{escape(value)}</Value></ValueList></Slot>'
        for name, values in slots.items()
        for value in values
    )
    body = body.replace("</AdhocQuery>", slot_xml + "</AdhocQuery>")
    message = envelope(STORED_QUERY, body).encode()
    reply = client.post(REGISTRY_URL, content=message, headers={"Content-Type": SOAP})
    assert reply.status_code == 200, reply.text
    response = body_of(reply)
    assert response.get("status") == SUCCESS, reply.text
    return {
        identifier.get("value")
        for identifier in response.iterfind(".//rim:ExternalIdentifier", NAMESPACES)
        if identifier.get("identificationScheme") == DOC_UNIQUE_ID
    }


def test_a_document_registered_with_iti42_is_found_with_iti67(client):
    entry = document_entry()

    reply = register(client, submission(entry))

    assert SUCCESS in reply.text
    assert unique_ids(search(client, {})) == {entry.unique_id}


def test_a_document_provided_with_iti41_is_found_with_iti67_and_retrieved_with_iti68(client):
    entry = document_entry()
    message, content_type = provide_request(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, CONTENT)]
    )

    reply = client.post(REPOSITORY_URL, content=message, headers={"Content-Type": content_type})

    assert SUCCESS in reply.text
    (resource,) = found(search(client, {}))
    attachment = resource["content"][0]["attachment"]
    document = client.get(attachment["url"])
    assert document.content == CONTENT
    assert document.headers["content-type"] == "application/pdf"


def test_a_document_provided_with_iti65_is_found_with_iti18(client):
    assert post(client, fixture_bundle("ihe")).status_code == 200

    found_by_iti18 = find_documents(
        client,
        {
            "$XDSDocumentEntryPatientId": [f"'{IHE_PATIENT}'"],
            "$XDSDocumentEntryStatus": [f"('{APPROVED}')"],
        },
    )

    assert found_by_iti18 == {"1.2.3.4.5.200.1", "1.2.3.4.5.200^2"}


# Each case: the ITI-67 parameters, and the FindDocuments slots they translate to by hand.
SAME_QUERIES = {
    "status": ({}, {}),
    "both statuses": (
        {"status": "current,superseded"},
        {"$XDSDocumentEntryStatus": [f"('{APPROVED}','{DEPRECATED}')"]},
    ),
    "class code": (
        {"category": f"urn:oid:{SCHEME}|a"},
        {"$XDSDocumentEntryClassCode": [f"('a^^{SCHEME}')"]},
    ),
    "event codes ANDed": (
        [("event", f"urn:oid:{SCHEME}|e1"), ("event", f"urn:oid:{SCHEME}|e2")],
        {"$XDSDocumentEntryEventCodeList": [f"('e1^^{SCHEME}')", f"('e2^^{SCHEME}')"]},
    ),
    "creation range": (
        [("creation", "ge2024-02"), ("creation", "lt2024-04")],
        {
            "$XDSDocumentEntryCreationTimeFrom": ["'202402'"],
            "$XDSDocumentEntryCreationTimeTo": ["'202404'"],
        },
    ),
    "author": (
        {"author.family": "Lege"},
        {"$XDSDocumentEntryAuthorPerson": ["('%^Lege^%')"]},
    ),
}


@pytest.mark.parametrize("case", sorted(SAME_QUERIES))
def test_the_same_query_through_iti18_and_iti67_finds_the_same_documents(app, client, case):
    def code(value: str) -> Code:
        return Code(value, SCHEME)

    seed(
        app.state.registry,
        document_entry(class_code=code("a"), event_code_list=[code("e1"), code("e2")]),
        document_entry(class_code=code("b"), event_code_list=[code("e1")], creation_time="202403"),
        document_entry(class_code=code("a"), availability_status=DEPRECATED),
        document_entry(creation_time="20240215", authors=[]),
    )
    fhir_params, slots = SAME_QUERIES[case]
    status = None if "status" in dict(fhir_params) else "current"
    base_slots = {
        "$XDSDocumentEntryPatientId": [f"'{PATIENT}'"],
        "$XDSDocumentEntryStatus": [f"('{APPROVED}')"],
    }

    by_iti67 = unique_ids(search(client, fhir_params, status=status))
    by_iti18 = find_documents(client, {**base_slots, **slots})

    assert by_iti67 == by_iti18
    assert by_iti67


@pytest.mark.parametrize("store", ["files", "s3"])
def test_iti68_streams_a_multi_megabyte_document_over_a_real_socket(tmp_path, request, store):
    environment = {}
    if store == "s3":
        seaweedfs = request.getfixturevalue("seaweedfs")
        environment = seaweedfs.environment(request.getfixturevalue("s3_url"))
    size = 6 * 1024 * 1024
    data = bytes(range(256)) * (size // 256)
    entry = document_entry(
        hash=hashlib.sha1(data).hexdigest(), size=size, repository_unique_id=SERVER_REPOSITORY
    )
    message, content_type = provide_request(
        submit_objects_request(submission(entry)), [(entry.entry_uuid, data)]
    )
    server = Server(tmp_path / "data", environment=environment)
    try:
        reply = server.http.post(
            REPOSITORY_URL, content=message, headers={"Content-Type": content_type}
        )
        assert SUCCESS in reply.text
        (resource,) = found(search(server.http, {}))
        attachment = resource["content"][0]["attachment"]

        digest, received, chunks = hashlib.sha1(), 0, 0
        with server.http.stream("GET", attachment["url"]) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/pdf"
            assert response.headers.get("transfer-encoding") == "chunked"
            for chunk in response.iter_raw():
                digest.update(chunk)
                received += len(chunk)
                chunks += 1
    finally:
        server.stop()

    assert received == size == attachment["size"]
    assert base64.b64encode(digest.digest()).decode() == attachment["hash"]
    assert chunks > 1
