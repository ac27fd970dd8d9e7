"""`POST /fhir/Bundle/$validate`: ITI-65's validation and code mapping, with nothing stored."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from codemap_support import (
    DOCUMENT,
    DOCUMENT_PATH,
    LOCAL_TYPES,
    VOLVEN_9602,
    YAML_MAP,
    document_unique_id,
    example_bundle,
    local_bundle,
)
from fastapi.testclient import TestClient
from fhir.resources.R4B.parameters import Parameters
from lxml import etree
from mhd_support import FHIR_JSON, encode, post, stored_files

from gateway.app import create_app
from gateway.config import Settings
from registry.ebrim import parse_submit_objects_request

VALIDATE = "/fhir/Bundle/$validate"
TYPE_CODE_SCHEME = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
NS = {"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(data_dir, registry_url):
    settings = Settings(data_dir=data_dir, database_url=registry_url, code_map=[YAML_MAP])
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def validate(client: TestClient, body: dict, content_type: str = FHIR_JSON):
    return client.post(VALIDATE, content=encode(body), headers={"Content-Type": content_type})


def answer(response) -> tuple[dict, etree._Element | None]:
    """The OperationOutcome and the SubmitObjectsRequest of a $validate answer."""
    assert response.status_code == 200, response.text
    Parameters.model_validate(response.json())
    parts = {part["name"]: part for part in response.json()["parameter"]}
    assert set(parts) <= {"return", "submitObjectsRequest"}
    outcome = parts["return"]["resource"]
    assert outcome["resourceType"] == "OperationOutcome"
    if "submitObjectsRequest" not in parts:
        return outcome, None
    attachment = parts["submitObjectsRequest"]["valueAttachment"]
    assert attachment["contentType"] == "application/xml"
    return outcome, etree.fromstring(base64.b64decode(attachment["data"]))


def errors(outcome: dict) -> list[tuple[str, str]]:
    return [
        (issue["details"]["coding"][0]["code"], issue["expression"][0])
        for issue in outcome["issue"]
        if issue["severity"] == "error"
    ]


def assert_nothing_stored(client: TestClient, data_dir: Path, bundle: dict) -> None:
    registry = client.app.state.registry
    assert registry.document_entries_by_unique_id([document_unique_id(bundle)]) == []
    assert registry.document_unique_ids(client.app.state.settings.repository_unique_id) == []
    assert list(client.app.state.documents.documents()) == []
    assert list(client.app.state.documents.staged()) == []
    assert stored_files(data_dir) == []


def test_valid_bundle_answers_the_outcome_and_the_metadata_and_stores_nothing(client, data_dir):
    bundle = example_bundle()
    outcome, request = answer(validate(client, bundle))

    assert [issue["severity"] for issue in outcome["issue"]] == ["information"]
    assert "nothing was stored" in outcome["issue"][0]["diagnostics"]
    submission = parse_submit_objects_request(request)
    (entry,) = submission.document_entries
    assert entry.unique_id == document_unique_id(bundle)
    assert entry.type_code.code == "A03-2"
    assert entry.repository_unique_id == client.app.state.settings.repository_unique_id
    assert entry.size == len(base64.b64decode(bundle["entry"][2]["resource"]["data"]))
    assert len(submission.associations) == 1
    assert_nothing_stored(client, data_dir, bundle)


def test_validated_bundle_is_still_accepted_by_iti65_afterwards(client, data_dir):
    bundle = example_bundle()
    answer(validate(client, bundle))

    assert post(client, bundle).status_code == 200
    assert len(stored_files(data_dir)) == 1


def test_invalid_bundle_answers_errors_by_fhirpath_and_no_metadata(client, data_dir):
    bundle = example_bundle()
    del bundle["entry"][DOCUMENT]["resource"]["type"]
    outcome, request = answer(validate(client, bundle))

    assert errors(outcome) == [("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.type")]
    assert request is None
    assert_nothing_stored(client, data_dir, bundle)


def test_registry_rules_are_checked_against_what_is_registered(client, data_dir):
    bundle = example_bundle()
    assert post(client, bundle).status_code == 200
    changed = example_bundle()
    changed["entry"][2]["resource"]["data"] = base64.b64encode(b"another document").decode()
    for stated in ("hash", "size"):
        changed["entry"][DOCUMENT]["resource"]["content"][0]["attachment"].pop(stated, None)
    changed["entry"][0]["resource"]["identifier"][0]["value"] = "urn:oid:2.25.1234567"

    outcome, request = answer(validate(client, changed))

    assert ("XDSNonIdenticalHash", f"{DOCUMENT_PATH}.content[0].attachment.hash") in errors(
        outcome
    ), outcome
    assert request is not None
    assert len(stored_files(data_dir)) == 1


def test_local_codes_are_translated_reported_and_in_the_metadata(client, data_dir):
    bundle = local_bundle()
    outcome, request = answer(validate(client, bundle))

    information = [i for i in outcome["issue"] if i["severity"] == "information"]
    assert f"{DOCUMENT_PATH}.type.coding[0]" in [i.get("expression", [""])[0] for i in information]
    translated = f"{LOCAL_TYPES}|EPI -> urn:oid:{VOLVEN_9602}|A03-2"
    assert any(translated in issue["diagnostics"] for issue in information)
    (classification,) = request.xpath(
        f"//rim:Classification[@classificationScheme='{TYPE_CODE_SCHEME}']", namespaces=NS
    )
    assert classification.get("nodeRepresentation") == "A03-2"
    assert_nothing_stored(client, data_dir, bundle)


def test_unmapped_local_code_is_an_error_naming_code_and_system(client, data_dir):
    bundle = local_bundle(type_code="UKJENT-TYPE")
    outcome, request = answer(validate(client, bundle))

    assert errors(outcome) == [("XDSRegistryMetadataError", f"{DOCUMENT_PATH}.type.coding[0]")]
    (error,) = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert "'UKJENT-TYPE'" in error["diagnostics"] and LOCAL_TYPES in error["diagnostics"]
    assert request is None
    assert_nothing_stored(client, data_dir, bundle)


def test_bundle_in_parameters_resource_is_validated(client, data_dir):
    bundle = example_bundle()
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": bundle},
            {"name": "mode", "valueCode": "create"},
        ],
    }
    outcome, request = answer(validate(client, parameters))

    assert errors(outcome) == []
    assert request is not None
    assert_nothing_stored(client, data_dir, bundle)


def test_mode_other_than_create_is_refused(client):
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": example_bundle()},
            {"name": "mode", "valueCode": "delete"},
        ],
    }
    response = validate(client, parameters)

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["expression"] == ["Parameters.parameter[1].valueCode"]


def test_parameters_without_a_resource_are_refused(client):
    response = validate(client, {"resourceType": "Parameters", "parameter": []})

    assert response.status_code == 400
    assert "exactly one part named 'resource'" in response.json()["issue"][0]["diagnostics"]


def test_body_that_is_not_json_answers_the_error_in_the_outcome(client):
    response = client.post(VALIDATE, content=b"{", headers={"Content-Type": FHIR_JSON})
    outcome, request = answer(response)

    assert errors(outcome) == [("XDSRegistryMetadataError", "Bundle")]
    assert request is None


def test_content_type_other_than_fhir_json_is_refused(client):
    response = validate(client, example_bundle(), content_type="text/plain")

    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"
