"""ITI-65 against hostile and malformed bodies: a clear 4xx OperationOutcome, nothing stored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from mhd_support import fixture_bundle, issues, make_app, post, resource, stored_files


@pytest.fixture
def client(tmp_path):
    with TestClient(make_app(tmp_path / "data")) as test_client:
        yield test_client


def document_index(bundle: dict) -> int:
    return next(
        index
        for index, entry in enumerate(bundle["entry"])
        if entry["resource"]["resourceType"] == "DocumentReference"
    )


@pytest.mark.parametrize("character", ["\u0001", "\u000b", "\u0000", "\ufffe", "\ud800"])
def test_control_characters_in_a_string_reject_the_bundle(client, tmp_path, character):
    bundle = fixture_bundle("nhn")
    index = document_index(bundle)
    resource(bundle, index)["content"][0]["attachment"]["title"] = f"abc{character}def"
    # ASCII-escaped JSON can carry even a lone surrogate, as a hostile sender's would.
    response = post(client, json.dumps(bundle).encode("ascii"))

    assert response.status_code == 400
    path = f"Bundle.entry[{index}].resource.content[0].attachment.title"
    assert ("XDSRegistryMetadataError", path) in issues(response)
    assert stored_files(tmp_path / "data") == []


def test_tab_carriage_return_and_line_feed_are_allowed(client):
    bundle = fixture_bundle("nhn")
    resource(bundle, document_index(bundle))["description"] = "line one\r\n\tline two"

    assert post(client, bundle).status_code == 200


def test_deeply_nested_json_is_a_structure_error(client):
    body = b'{"resourceType": "Bundle", "type": "transaction", "x": ' + b"[" * 100_000
    body += b"]" * 100_000 + b"}"

    response = post(client, body)

    assert response.status_code == 400
    assert issues(response)[0] == ("XDSRegistryMetadataError", "Bundle")


def test_nesting_beyond_the_limit_is_rejected_before_validation(client):
    bundle = fixture_bundle("nhn")
    nested: list = []
    for _ in range(200):
        nested = [nested]
    bundle["extension"] = nested

    response = post(client, bundle)

    assert response.status_code == 400
    assert "deeper" in response.json()["issue"][0]["diagnostics"]


_XML_HEAD = "<Bundle xmlns='http://hl7.org/fhir'><type value='transaction'/>"


@pytest.mark.parametrize(
    "body",
    [
        _XML_HEAD + "<foo value='x'/></Bundle>",
        _XML_HEAD + "<entry><resource><List><entry><item><zzz/></item></entry></List>"
        "</resource></entry></Bundle>",
        _XML_HEAD + "<entry><resource><Binary><data value='!!'/></Binary></resource></entry>"
        "</Bundle>",
        _XML_HEAD + "<timestamp value='not a time'/></Bundle>",
        "<Patient xmlns='http://hl7.org/fhir'><id value='x'/></Patient>",
        "<Nothing xmlns='http://hl7.org/fhir'/>",
        "\ufeff",
        "",
    ],
    ids=[
        "unknown-element",
        "unknown-nested-element",
        "bad-base64",
        "bad-instant",
        "not-a-bundle",
        "not-a-resource",
        "bom-only",
        "empty",
    ],
)
def test_malformed_fhir_xml_is_a_400_operation_outcome(client, tmp_path, body):
    headers = {"Content-Type": "application/fhir+xml", "Accept": "application/fhir+json"}
    response = client.post("/fhir", content=body.encode("utf-8"), headers=headers)

    assert response.status_code == 400, response.text
    assert issues(response)[0][0] == "XDSRegistryMetadataError"
    assert stored_files(tmp_path / "data") == []
