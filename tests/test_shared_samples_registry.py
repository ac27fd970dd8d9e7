"""The registry endpoint's messages against the ebRS 3.0 schemas of ../shared/schemas."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from registry_support import body_of, register, stored_query, submit_objects_request
from validation_samples import PATIENT, document_entry, folder, submission

from gateway.app import create_app
from gateway.config import Settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SCHEMAS = SHARED / "schemas"
NHN_BUNDLE = SHARED / "samples" / "nhn" / "iti65-provide-bundle.json"

pytestmark = pytest.mark.skipif(
    os.environ.get("XCADS_NO_SHARED") == "1", reason="XCADS_NO_SHARED=1: ../shared not used"
)


def schema(name: str) -> etree.XMLSchema:
    file = SCHEMAS / name
    if not file.is_file():
        pytest.fail(f"{file} is missing; set XCADS_NO_SHARED=1 if ../shared is knowingly absent")
    return etree.XMLSchema(etree.parse(str(file)))


def assert_valid(xsd: etree.XMLSchema, element: etree._Element) -> None:
    document = etree.fromstring(etree.tostring(element))
    assert xsd.validate(document), xsd.error_log


@pytest.fixture
def client(tmp_path, registry_url) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=registry_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_our_register_requests_are_lcm_valid():
    sub = submission(document_entry(), folders=(folder(),))
    assert_valid(schema("lcm.xsd"), etree.fromstring(submit_objects_request(sub)))


def test_register_success_and_failure_responses_are_rs_valid(client):
    rs = schema("rs.xsd")
    entry = document_entry()

    assert_valid(rs, body_of(register(client, submission(entry))))
    assert_valid(rs, body_of(register(client, submission(document_entry(class_code=None)))))


def test_registry_stored_query_response_is_query_valid(client):
    register(client, submission(document_entry()))
    assert_valid(schema("query.xsd"), body_of(stored_query(client, PATIENT)))


@pytest.mark.parametrize("accept_synthetic_ids", [True, False])
def test_nhn_bundle_passes_the_norwegian_profile_with_its_synthetic_patient(
    tmp_path, registry_url, accept_synthetic_ids
):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=registry_url,
        profile="norway",
        accept_synthetic_ids=accept_synthetic_ids,
        # The sourceId and homeCommunityId the sample names (ITI-65 checks them under norway).
        home_community_id="2.16.578.1.12.4.5.100.1.1",
        source_ids="1.1",
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/fhir",
            content=NHN_BUNDLE.read_bytes(),
            headers={"Content-Type": "application/fhir+json"},
        )

    if accept_synthetic_ids:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 400
        codes = [c["code"] for i in response.json()["issue"] for c in i["details"]["coding"]]
        assert codes == ["XDSUnknownPatientId"]
