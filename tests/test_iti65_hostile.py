"""ITI-65 against hostile and malformed bodies: a clear 4xx OperationOutcome, nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from mhd_support import FHIR_JSON, fixture_bundle, issues, make_app, post, resource, stored_files

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "iti65-provide-bundle.json"


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


def set_in_document(bundle: dict, index: int, place: str, value: object) -> None:
    """Set `place` (`content[0].attachment.size`) of the DocumentReference at entry `index`."""
    *parents, last = place.replace("[0]", ".0").split(".")
    holder = resource(bundle, index)
    for name in parents:
        holder = holder[int(name)] if name.isdigit() else holder[name]
    holder[last] = value


@pytest.mark.parametrize(
    ("place", "value"),
    [
        ("content[0].attachment.creation", 2026),
        ("context.period.start", 0),
        ("date", 1773149117),
        ("content[0].attachment.size", "46"),
        ("content[0].attachment.size", True),
    ],
)
def test_a_primitive_sent_as_another_json_type_rejects_the_bundle(client, tmp_path, place, value):
    # The FHIR models would read the number 2026 as 1970-01-01T00:33:46Z and "46" or true as sizes.
    bundle = fixture_bundle("nhn")
    index = document_index(bundle)
    set_in_document(bundle, index, place, value)

    response = post(client, bundle)

    assert response.status_code == 400
    assert ("XDSRegistryMetadataError", f"Bundle.entry[{index}].resource.{place}") in issues(
        response
    )
    assert stored_files(tmp_path / "data") == []


def test_an_empty_binary_rejects_the_bundle_and_registers_no_empty_document(client, tmp_path):
    bundle = fixture_bundle("nhn")
    binary = next(
        index
        for index, entry in enumerate(bundle["entry"])
        if entry["resource"]["resourceType"] == "Binary"
    )
    resource(bundle, binary)["data"] = ""

    response = post(client, bundle)

    assert response.status_code == 400
    assert ("XDSRegistryMetadataError", f"Bundle.entry[{binary}].resource.data") in issues(response)
    assert stored_files(tmp_path / "data") == []


@pytest.mark.parametrize(
    ("practitioner", "organization", "place"),
    [
        ("#role", None, "practitioner"),
        (None, "#role", "organization"),
        ("#org", None, "practitioner"),
        (None, "#person", "organization"),
    ],
    ids=[
        "practitioner-is-itself",
        "organization-is-itself",
        "practitioner-is-an-org",
        "org-is-a-person",
    ],
)
def test_practitioner_role_naming_the_wrong_kind_of_resource_is_a_metadata_error(
    client, tmp_path, practitioner, organization, place
):
    bundle = fixture_bundle("nhn")
    index = document_index(bundle)
    document = resource(bundle, index)
    role: dict = {"resourceType": "PractitionerRole", "id": "role"}
    if practitioner:
        role["practitioner"] = {"reference": practitioner}
    if organization:
        role["organization"] = {"reference": organization}
    document["contained"] = [
        role,
        {"resourceType": "Practitioner", "id": "person", "name": [{"family": "LEGE"}]},
        {"resourceType": "Organization", "id": "org", "name": "TESTSYKEHUSET HF"},
    ]
    document["author"] = [{"reference": "#role"}]

    response = post(client, bundle)

    assert response.status_code == 400
    path = f"Bundle.entry[{index}].resource.author[0].{place}"
    assert ("XDSRegistryMetadataError", path) in issues(response)
    assert stored_files(tmp_path / "data") == []


@pytest.mark.parametrize(
    ("place", "value"),
    [
        ("contained[0].resourceType", None),
        ("contained[0].resourceType", "2026-01-01"),
        ("content[0].attachment.url", {"resourceType": "Practitioner"}),
    ],
)
def test_a_value_the_fhir_models_trip_over_is_a_structure_error(client, tmp_path, place, value):
    # The models raise TypeError or KeyError here rather than a ValidationError.
    bundle = fixture_bundle("nhn")
    index = document_index(bundle)
    set_in_document(bundle, index, place, value)

    response = post(client, bundle)

    assert response.status_code == 400
    assert issues(response) == [("XDSRegistryMetadataError", "Bundle")]
    assert stored_files(tmp_path / "data") == []


def test_author_org_extension_naming_no_organization_is_a_metadata_error(client, tmp_path):
    # It was dropped without a word, registering the SubmissionSet without its author institution.
    bundle = json.loads(Path(EXAMPLE).read_text())
    binary_url = bundle["entry"][2]["fullUrl"]
    source = bundle["entry"][0]["resource"]["source"]
    source["extension"][0]["valueReference"] = {"reference": binary_url}

    response = post(client, bundle)

    assert response.status_code == 400
    path = "Bundle.entry[0].resource.source.extension[0].valueReference"
    assert ("XDSRegistryMetadataError", path) in issues(response)
    assert stored_files(tmp_path / "data") == []


def test_a_null_given_name_of_the_patient_is_skipped(client):
    # FHIR JSON allows null in a primitive array when _given carries that name's extension.
    bundle = fixture_bundle("nhn")
    patient = next(
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "Patient"
    )
    patient["name"][0]["given"] = [None, "KARI"]
    patient["name"][0]["_given"] = [{"extension": [{"url": "urn:x", "valueString": "x"}]}, None]

    response = post(client, bundle)

    assert response.status_code == 200, response.json()


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


@pytest.mark.parametrize(
    ("method", "path", "status", "issue_type"),
    [
        ("POST", "/fhir/Binary", 404, "not-found"),
        ("DELETE", "/fhir/DocumentReference", 405, "not-supported"),
        ("POST", "/fhir/Bundle", 404, "not-found"),
        ("GET", "/fhir", 405, "not-supported"),
        ("PUT", "/fhir/Bundle/$validate", 405, "not-supported"),
    ],
)
def test_a_fhir_path_or_method_not_served_answers_an_operation_outcome(
    client, method, path, status, issue_type
):
    response = client.request(method, path, content=b"{}", headers={"Content-Type": FHIR_JSON})

    assert response.status_code == status
    assert response.headers["content-type"].startswith(FHIR_JSON)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == issue_type
    if status == 405:
        assert response.headers["allow"] in ("GET", "POST")


def test_a_path_outside_fhir_keeps_the_plain_not_found(client):
    response = client.post("/nothing/here", content=b"{}")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}
