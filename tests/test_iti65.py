"""ITI-65 Provide Document Bundle over HTTP: one test per rule, each failure storing nothing.

Each test that posts a bundle runs twice: sent as FHIR JSON, and sent as FHIR XML (asking for a
JSON answer), except those about JSON itself, whose bodies FHIR XML cannot express.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from mhd_support import (
    FHIR_JSON,
    FHIR_XML,
    FORMATS,
    as_xml,
    encode,
    fixture_bundle,
    issues,
    make_app,
    resource,
)
from mhd_support import post as post_json
from mhd_support import stored_files as files_under

NHN_ENTRY_UUID = "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a04"
NHN_UNIQUE_ID = NHN_ENTRY_UUID.removeprefix("urn:uuid:")
IHE_DOCUMENTS = ["1.2.3.4.5.200.1", "1.2.3.4.5.200^2"]
DOCUMENT = "Bundle.entry[3].resource"


# Tests of the JSON reading itself, or of bodies that are no FHIR Bundle at all.
JSON_ONLY = frozenset(
    {
        "test_accepts_a_utf8_bom_and_plain_application_json",
        "test_body_that_is_not_json_is_rejected",
        "test_resource_that_is_not_a_bundle_is_rejected",
        "test_fhir_validation_errors_point_at_the_element",
        "test_a_media_type_that_is_not_fhir_is_unsupported",
    }
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wire" in metafunc.fixturenames:
        json_only = metafunc.function.__name__ in JSON_ONLY
        metafunc.parametrize("wire", ["json"] if json_only else FORMATS)


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def app(data_dir) -> FastAPI:
    return make_app(data_dir)


@pytest.fixture
def client(app, wire) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["X-Test-Wire"] = wire
        yield client


def post(client: TestClient, body: dict | bytes, content_type: str = FHIR_JSON):
    """POST a bundle in the test's wire format; a dict goes as XML on the XML run."""
    if isinstance(body, dict) and client.headers["X-Test-Wire"] == "xml":
        headers = {"Content-Type": FHIR_XML, "Accept": FHIR_JSON}
        return client.post("/fhir", content=as_xml(body), headers=headers)
    return post_json(client, body, content_type)


@pytest.fixture
def assert_nothing_stored(app, data_dir):
    def check(unique_ids: list[str]) -> None:
        assert app.state.registry.document_entries_by_unique_id(unique_ids) == []
        assert files_under(data_dir) == []

    return check


def rejected(response, status: int = 400) -> list[tuple[str, str]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    OperationOutcome.model_validate(response.json())
    return issues(response)


# Success


def test_stores_a_comprehensive_bundle_and_answers_a_transaction_response(client, app, data_dir):
    response = post(client, fixture_bundle("ihe"))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    answer = response.json()
    Bundle.model_validate(answer)
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 6
    assert [e["response"]["location"] for e in answer["entry"]] == [
        "List/0b7e3b5c-8a2d-4c1e-9f00-0000000000aa",
        "Patient/0b7e3b5c-8a2d-4c1e-9f00-000000000002",
        "DocumentReference/0b7e3b5c-8a2d-4c1e-9f00-0000000000bb",
        "Binary/0b7e3b5c-8a2d-4c1e-9f00-000000000004",
        "DocumentReference/0b7e3b5c-8a2d-4c1e-9f00-000000000005",
        "Binary/0b7e3b5c-8a2d-4c1e-9f00-000000000006",
    ]

    entries = app.state.registry.document_entries_by_unique_id(IHE_DOCUMENTS)
    assert sorted(e.unique_id for e in entries) == sorted(IHE_DOCUMENTS)
    settings = app.state.settings
    for entry in entries:
        assert entry.repository_unique_id == settings.repository_unique_id
        assert entry.hash is not None and entry.size is not None
        assert app.state.documents.exists(entry.unique_id)
    assert len(files_under(data_dir)) == 2


def test_registered_hash_and_size_are_computed_from_the_bytes(client, app):
    response = post(client, fixture_bundle("nhn"))

    assert response.status_code == 200, response.text
    (entry,) = app.state.registry.document_entries_by_unique_id([NHN_UNIQUE_ID])
    stored = b"".join(app.state.documents.open(NHN_UNIQUE_ID))
    data = base64.b64decode(resource(fixture_bundle("nhn"), 2)["data"])
    assert stored == data
    assert (entry.hash, entry.size) == ("b54fab4dfdd01c360c3737f841c749a6ea583b58", len(data))


def test_accepts_a_utf8_bom_and_plain_application_json(client):
    body = b"\xef\xbb\xbf" + encode(fixture_bundle("nhn"))
    assert post(client, body, content_type="application/json; charset=utf-8").status_code == 200


def test_accepts_the_base_url_with_a_trailing_slash(client):
    response = client.post(
        "/fhir/", content=encode(fixture_bundle("nhn")), headers={"Content-Type": FHIR_JSON}
    )
    assert response.status_code == 200, response.text


def test_logs_iti65_stored_without_patient_data(client, caplog, wire):
    with caplog.at_level(logging.INFO, logger="xcads.mhd"):
        assert post(client, fixture_bundle("nhn")).status_code == 200

    (record,) = [r for r in caplog.records if r.name == "xcads.mhd"]
    assert record.getMessage().startswith("iti65.stored entries=4 ms=")
    assert record.getMessage().endswith(f" sent={wire}")
    assert "01017000001" not in caplog.text
    assert "TESTESEN" not in caplog.text


# Structure


def test_body_that_is_not_json_is_rejected(client, assert_nothing_stored):
    response = post(client, b"<Bundle/>")
    assert rejected(response) == [("XDSRegistryMetadataError", "Bundle")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_resource_that_is_not_a_bundle_is_rejected(client, assert_nothing_stored):
    response = post(client, resource(fixture_bundle("nhn"), 3))
    assert rejected(response) == [("XDSRegistryMetadataError", "Bundle")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_bundle_that_is_not_a_transaction_is_rejected(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    bundle["type"] = "batch"
    assert rejected(post(client, bundle)) == [("XDSRegistryMetadataError", "Bundle.type")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_fhir_validation_errors_point_at_the_element(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["content"][0]["attachment"]["size"] = "large"
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", f"{DOCUMENT}.content[0].attachment.size")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_a_media_type_that_is_not_fhir_is_unsupported(client, assert_nothing_stored):
    response = post(client, b"<Bundle xmlns='http://hl7.org/fhir'/>", "text/plain")
    assert rejected(response, status=415) == [("XDSRegistryMetadataError", "")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_exactly_one_submission_set_is_required(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    bundle["entry"].append(
        {**bundle["entry"][0], "fullUrl": "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1a99"}
    )
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", "Bundle.entry[4].resource")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_a_submission_set_is_required(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    del bundle["entry"][0]
    assert rejected(post(client, bundle)) == [("XDSRegistryMetadataError", "Bundle.entry")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_every_document_reference_is_listed_in_the_submission_set(client, assert_nothing_stored):
    bundle = fixture_bundle("ihe")
    del resource(bundle, 0)["entry"][1]
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", "Bundle.entry[4].resource")
    ]
    assert_nothing_stored(IHE_DOCUMENTS)


def test_submission_set_members_must_be_in_the_bundle(client, assert_nothing_stored):
    bundle = fixture_bundle("ihe")
    resource(bundle, 0)["entry"].append({"item": {"reference": "DocumentReference/elsewhere"}})
    assert rejected(post(client, bundle)) == [
        ("UnresolvedReferenceException", "Bundle.entry[0].resource.entry[2].item")
    ]
    assert_nothing_stored(IHE_DOCUMENTS)


def test_attachment_url_must_resolve_to_a_binary_in_the_bundle(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["content"][0]["attachment"]["url"] = "urn:uuid:0000dead-0000-4000-8000-0"
    assert rejected(post(client, bundle)) == [
        ("XDSMissingDocument", f"{DOCUMENT}.content[0].attachment.url"),
        ("XDSMissingDocumentMetadata", "Bundle.entry[2].resource"),
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_binary_must_carry_data(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    del resource(bundle, 2)["data"]
    assert rejected(post(client, bundle)) == [
        ("XDSMissingDocument", "Bundle.entry[2].resource.data")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_only_folders_are_updated_and_only_superseded_is_patched(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    bundle["entry"][1]["request"] = {"method": "PUT", "url": "Patient/x"}
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", "Bundle.entry[1].request.method")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


# Comprehensive metadata


@pytest.mark.parametrize(
    ("index", "remove", "expression"),
    [
        (3, ["masterIdentifier"], f"{DOCUMENT}.masterIdentifier"),
        (3, ["subject"], f"{DOCUMENT}.subject"),
        (3, ["type"], f"{DOCUMENT}.type"),
        (3, ["category"], f"{DOCUMENT}.category"),
        (3, ["securityLabel"], f"{DOCUMENT}.securityLabel"),
        (3, ["content", 0, "format"], f"{DOCUMENT}.content[0].format"),
        (
            3,
            ["content", 0, "attachment", "contentType"],
            f"{DOCUMENT}.content[0].attachment.contentType",
        ),
        (3, ["content", 0, "attachment", "creation"], f"{DOCUMENT}.content[0].attachment.creation"),
        (3, ["context"], f"{DOCUMENT}.context"),
        (3, ["context", "facilityType"], f"{DOCUMENT}.context.facilityType"),
        (3, ["context", "practiceSetting"], f"{DOCUMENT}.context.practiceSetting"),
        (0, ["identifier", 0], "Bundle.entry[0].resource.identifier"),
        (0, ["extension", 1], "Bundle.entry[0].resource.extension"),
        (0, ["extension", 0], "Bundle.entry[0].resource.extension"),
        (0, ["date"], "Bundle.entry[0].resource.date"),
        (0, ["subject"], "Bundle.entry[0].resource.subject"),
    ],
    ids=lambda value: ".".join(map(str, value)) if isinstance(value, list) else None,
)
def test_comprehensive_metadata_elements_are_required(
    client, assert_nothing_stored, index, remove, expression
):
    bundle = fixture_bundle("nhn")
    parent = resource(bundle, index)
    for step in remove[:-1]:
        parent = parent[step]
    del parent[remove[-1]]

    assert ("XDSRegistryMetadataError", expression) in rejected(post(client, bundle))
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_document_reference_status_must_be_current(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["status"] = "superseded"
    assert rejected(post(client, bundle)) == [("XDSRegistryMetadataError", f"{DOCUMENT}.status")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_codings_need_a_system(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    del resource(bundle, 3)["type"]["coding"][0]["system"]
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", f"{DOCUMENT}.type.coding[0]")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


# Patient


def test_documents_share_the_submission_set_patient(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["subject"] = {
        "identifier": {"system": "urn:oid:2.16.578.1.12.4.1.4.1", "value": "01017000002"}
    }
    assert rejected(post(client, bundle)) == [("XDSPatientIdDoesNotMatch", f"{DOCUMENT}.subject")]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_subject_must_resolve_to_a_patient_identifier(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 0)["subject"] = {"reference": "Patient/ex-patient"}
    assert rejected(post(client, bundle)) == [
        ("XDSUnknownPatientId", "Bundle.entry[0].resource.subject")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


# Uniqueness, hash and size


def test_unique_ids_are_unique_within_the_message(client, assert_nothing_stored):
    bundle = fixture_bundle("ihe")
    resource(bundle, 4)["masterIdentifier"] = resource(bundle, 2)["masterIdentifier"]
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryDuplicateUniqueIdInMessage", "Bundle.entry[4].resource.masterIdentifier")
    ]
    assert_nothing_stored(IHE_DOCUMENTS)


def test_a_resubmitted_identical_document_is_registered_once(client, app, data_dir):
    assert post(client, fixture_bundle("nhn")).status_code == 200
    files_before = files_under(data_dir)

    bundle = fixture_bundle("nhn")
    resource(bundle, 0)["identifier"][0]["value"] = "urn:oid:2.25.222"
    resource(bundle, 0)["identifier"][1]["value"] = "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1b01"
    bundle["entry"][0]["fullUrl"] = "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1b01"
    bundle["entry"][3]["fullUrl"] = "urn:uuid:6f1e0a52-3c1b-4e0e-9a51-0c2f0d9e1b04"
    resource(bundle, 0)["entry"][0]["item"]["reference"] = bundle["entry"][3]["fullUrl"]

    assert post(client, bundle).status_code == 200
    (entry,) = app.state.registry.document_entries_by_unique_id([NHN_UNIQUE_ID])
    assert entry.entry_uuid == NHN_ENTRY_UUID
    assert files_under(data_dir) == files_before


def test_stated_hash_must_be_the_sha1_of_the_document(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["content"][0]["attachment"]["hash"] = base64.b64encode(b"x" * 20).decode()
    assert rejected(post(client, bundle)) == [
        ("XDSRepositoryMetadataError", f"{DOCUMENT}.content[0].attachment.hash")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_stated_size_must_be_the_document_size(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["content"][0]["attachment"]["size"] = 1
    assert rejected(post(client, bundle)) == [
        ("XDSRepositoryMetadataError", f"{DOCUMENT}.content[0].attachment.size")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_stated_hash_must_be_a_sha1_digest(client, assert_nothing_stored):
    bundle = fixture_bundle("nhn")
    resource(bundle, 3)["content"][0]["attachment"]["hash"] = base64.b64encode(b"x" * 8).decode()
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", f"{DOCUMENT}.content[0].attachment.hash")
    ]
    assert_nothing_stored([NHN_UNIQUE_ID])


def test_every_problem_is_reported_at_once(client, assert_nothing_stored):
    bundle = fixture_bundle("ihe")
    del resource(bundle, 2)["type"]
    del resource(bundle, 4)["category"]
    assert rejected(post(client, bundle)) == [
        ("XDSRegistryMetadataError", "Bundle.entry[2].resource.type"),
        ("XDSRegistryMetadataError", "Bundle.entry[4].resource.category"),
    ]
    assert_nothing_stored(IHE_DOCUMENTS)


# Failures of the server


def test_unexpected_failure_is_a_500_operation_outcome(client, app, assert_nothing_stored, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    app.state.registry.register = broken
    with caplog.at_level(logging.INFO, logger="xcads.mhd"):
        response = post(client, fixture_bundle("nhn"))

    assert rejected(response, status=500) == [("XDSRegistryError", "")]
    assert "disk on fire" not in response.text
    assert any(r.getMessage().startswith("iti65.failed") for r in caplog.records)
    assert_nothing_stored([NHN_UNIQUE_ID])
