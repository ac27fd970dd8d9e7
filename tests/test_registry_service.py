"""The Document Registry endpoint: ITI-42 Register Document Set-b and ITI-18 over SOAP 1.2."""

from __future__ import annotations

from collections.abc import Iterator
from copy import deepcopy

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from registry_samples import new_uuid
from registry_support import (
    FAILURE,
    NAMESPACES,
    REGISTER,
    SOAP,
    SUCCESS,
    URL,
    body_of,
    errors,
    register,
    soap_root,
    stored_query,
    submit_objects_request,
)
from soap_messages import envelope
from test_xca import as_mtom
from validation_samples import PATIENT, document_entry, submission

from gateway.app import create_app
from gateway.config import Settings
from registry.metadata import Code

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
RESPONSE_ACTION = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"


@pytest.fixture
def settings(tmp_path, registry_url) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=registry_url, home_community_id=HOME)


@pytest.fixture
def client(settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def action_of(reply) -> str:
    return soap_root(reply).findtext("s:Header/a:Action", namespaces=NAMESPACES)


def status_of(reply) -> str:
    return body_of(reply).get("status")


# ITI-42


def test_register_document_set_b_answers_success_and_registers(client):
    entry = document_entry()

    reply = register(client, submission(entry))

    assert reply.status_code == 200, reply.text
    assert action_of(reply) == RESPONSE_ACTION
    assert status_of(reply) == SUCCESS
    assert errors(reply) == []
    (stored,) = client.app.state.registry.document_entries_by_unique_id([entry.unique_id])
    assert stored.entry_uuid == entry.entry_uuid


def test_register_failure_names_object_and_attribute_in_location(client):
    entry = document_entry(class_code=None, hash="xyz")

    reply = register(client, submission(entry))

    assert reply.status_code == 200
    assert status_of(reply) == FAILURE
    assert sorted(errors(reply)) == [
        ("XDSRegistryMetadataError", f"{entry.entry_uuid} classCode"),
        ("XDSRegistryMetadataError", f"{entry.entry_uuid} hash"),
    ]
    assert client.app.state.registry.document_entries_by_unique_id([entry.unique_id]) == []


def test_register_with_unreadable_metadata_is_a_failure_response(client):
    sub = submission(document_entry())
    request = submit_objects_request(sub).replace("XDSDocumentEntry.uniqueId", "x", 1)
    request = request.replace("urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab", "urn:uuid:0", 1)
    message = envelope(REGISTER, request).encode()

    reply = client.post(URL, content=message, headers={"Content-Type": SOAP})

    assert status_of(reply) == FAILURE
    assert [code for code, _ in errors(reply)] == ["XDSRegistryMetadataError"]


def test_register_with_two_class_codes_names_the_attribute_given_twice(client):
    entry = document_entry()
    request = etree.fromstring(submit_objects_request(submission(entry)))
    (class_code,) = request.xpath(
        "//rim:Classification[@classificationScheme=$scheme]",
        namespaces=NAMESPACES,
        scheme="urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    )
    twice = deepcopy(class_code)
    twice.set("id", new_uuid())
    class_code.addnext(twice)
    message = envelope(REGISTER, etree.tostring(request, encoding="unicode")).encode()

    reply = client.post(URL, content=message, headers={"Content-Type": SOAP})

    assert status_of(reply) == FAILURE
    assert errors(reply) == [("XDSRegistryMetadataError", f"{entry.entry_uuid} classCode")]
    assert client.app.state.registry.document_entries_by_unique_id([entry.unique_id]) == []


def test_identical_resubmission_is_accepted(client):
    first = document_entry()
    assert status_of(register(client, submission(first))) == SUCCESS

    again = document_entry(first.unique_id)
    reply = register(client, submission(again))

    assert status_of(reply) == SUCCESS
    (stored,) = client.app.state.registry.document_entries_by_unique_id([first.unique_id])
    assert stored.entry_uuid == first.entry_uuid


def test_resubmission_with_other_hash_and_size_is_refused_with_their_codes(client):
    first = document_entry()
    assert status_of(register(client, submission(first))) == SUCCESS

    again = document_entry(first.unique_id, hash="f" * 40, size=1)
    reply = register(client, submission(again))

    assert status_of(reply) == FAILURE
    assert errors(reply) == [
        ("XDSNonIdenticalHash", f"{again.entry_uuid} hash"),
        ("XDSNonIdenticalSize", f"{again.entry_uuid} size"),
    ]


def test_norwegian_profile_applies_when_configured(tmp_path, registry_url):
    settings = Settings(data_dir=tmp_path / "no", database_url=registry_url, profile="norway")
    entry = document_entry(class_code=Code("X00-1", "2.16.578.1.12.4.1.1.9602"))
    with TestClient(create_app(settings)) as client:
        reply = register(client, submission(entry))

    assert errors(reply) == [("XDSRegistryMetadataError", f"{entry.entry_uuid} classCode")]


# ITI-18


def test_registry_stored_query_finds_what_was_registered_without_home(client):
    entry = document_entry()
    register(client, submission(entry))

    reply = stored_query(client, PATIENT)

    assert action_of(reply) == "urn:ihe:iti:2007:RegistryStoredQueryResponse"
    assert status_of(reply) == SUCCESS
    (found,) = body_of(reply).iterfind(".//rim:ExtrinsicObject", NAMESPACES)
    assert found.get("id") == entry.entry_uuid
    assert found.get("home") is None


def test_registry_stored_query_naming_this_community_gets_home(client):
    register(client, submission(document_entry()))

    reply = stored_query(client, PATIENT, home=HOME)

    (found,) = body_of(reply).iterfind(".//rim:ExtrinsicObject", NAMESPACES)
    assert found.get("home") == HOME


def test_registry_stored_query_ignores_the_community_it_names(client):
    register(client, submission(document_entry()))

    reply = stored_query(client, PATIENT, home="urn:oid:1.1.1")

    assert status_of(reply) == SUCCESS
    (found,) = body_of(reply).iterfind(".//rim:ExtrinsicObject", NAMESPACES)
    assert found.get("home") == HOME


# SOAP


def test_registry_path_is_matched_in_any_letter_case(client):
    reply = register(client, submission(document_entry()), url=URL.lower())
    assert status_of(reply) == SUCCESS


def test_mtom_request_is_answered_as_mtom(client):
    message = envelope(REGISTER, submit_objects_request(submission(document_entry()))).encode()
    body, content_type = as_mtom(message, action=REGISTER)

    reply = client.post(URL, content=body, headers={"Content-Type": content_type})

    assert reply.headers["content-type"].startswith("multipart/related")
    assert status_of(reply) == SUCCESS


def test_unknown_action_is_an_action_not_supported_fault(client):
    message = envelope("urn:ihe:iti:2007:CrossGatewayQuery", "<x/>").encode()

    reply = client.post(URL, content=message, headers={"Content-Type": SOAP})

    assert reply.status_code == 400
    subcode = soap_root(reply).findtext(".//s:Subcode/s:Value", namespaces=NAMESPACES)
    assert subcode.endswith(":ActionNotSupported")


def test_register_with_a_query_body_is_a_sender_fault(client):
    message = envelope(REGISTER, "<x:AdhocQueryRequest xmlns:x='urn:x'/>").encode()

    reply = client.post(URL, content=message, headers={"Content-Type": SOAP})

    assert reply.status_code == 400
    assert soap_root(reply).find(".//s:Fault", NAMESPACES) is not None
