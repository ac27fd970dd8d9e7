"""The shared MHD samples read back through the Document Responder: what ITI-65 took in, ITI-67
renders as the DocumentReference that was sent, and ITI-68 returns its bytes; our status and
relatesTo tables agree with the IG's ConceptMaps.

These samples live outside the repository (../shared). A missing sample fails the run unless
XCADS_NO_SHARED=1 says they are knowingly absent.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from mhd_support import make_app, post
from responder_support import found
from test_shared_samples_mhd import (
    IHE_PATIENT,
    IHE_SAMPLES,
    NHN_SAMPLE,
    NHN_SETTINGS,
    ihe_sample,
    sample_bytes,
    with_resolvable_patient,
)

from gateway.app import create_app
from gateway.config import Settings
from mhd.resources import DOCUMENT_STATUS, RELATES_TO

NHN_PATIENT = "urn:oid:2.16.578.1.12.4.1.4.1|20912198708"


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path / "data"), raise_server_exceptions=False) as client:
        yield client


def concept_map(name: str) -> dict[str, str]:
    """Source code to target code of an IG ConceptMap."""
    resource = json.loads(sample_bytes(IHE_SAMPLES / f"ConceptMap-{name}.json"))
    return {
        element["code"]: element["target"][0]["code"]
        for group in resource["group"]
        for element in group["element"]
    }


def test_status_table_is_the_igs_concept_map():
    assert concept_map("FhirStatusVsStatusCode") == DOCUMENT_STATUS


def test_relates_to_table_is_the_igs_concept_map():
    ours = {
        association_type.rsplit(":", 1)[-1]: code for association_type, code in RELATES_TO.items()
    }

    assert ours == concept_map("AssociationTypeVsRelatesTo")


def sent_document_reference(bundle: dict) -> dict:
    return next(
        entry["resource"]
        for entry in bundle["entry"]
        if entry["resource"]["resourceType"] == "DocumentReference"
    )


def codes(concept: dict) -> list[tuple[str, str]]:
    return [(coding["system"], coding["code"]) for coding in concept["coding"]]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def digest_of(hash_element: str) -> bytes:
    """The SHA-1 an attachment.hash holds; the IG examples base64 the hex digest instead."""
    raw = base64.b64decode(hash_element)
    return bytes.fromhex(raw.decode()) if len(raw) == 40 else raw


def assert_renders_as_sent(ours: dict, sent: dict) -> None:
    """The elements MHD maps to XDS and back come back as they were sent."""
    assert ours["id"] == sent["id"]
    assert ours["masterIdentifier"]["value"] == sent["masterIdentifier"]["value"]
    assert ours["status"] == sent["status"]
    assert codes(ours["type"]) == codes(sent["type"])
    assert [codes(c) for c in ours["category"]] == [codes(c) for c in sent["category"]]
    assert [codes(c) for c in ours["securityLabel"]] == [codes(c) for c in sent["securityLabel"]]
    ours_attachment = ours["content"][0]["attachment"]
    sent_attachment = sent["content"][0]["attachment"]
    for element in ("contentType", "size", "title"):
        assert ours_attachment.get(element) == sent_attachment.get(element), element
    # XDS keeps times in UTC: the same instant comes back in UTC.
    assert instant(ours_attachment["creation"]) == instant(sent_attachment["creation"])
    assert digest_of(ours_attachment["hash"]) == digest_of(sent_attachment["hash"])
    assert ours["content"][0]["format"] == sent["content"][0]["format"]
    for element in ("facilityType", "practiceSetting"):
        assert codes(ours["context"][element]) == codes(sent["context"][element])


def test_nhn_sample_comes_back_from_iti67_as_sent_and_its_bytes_from_iti68(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", **NHN_SETTINGS)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert_nhn_sample_comes_back(client)


def assert_nhn_sample_comes_back(client: TestClient) -> None:
    """Post NHN's sample, then find it with ITI-67 and read its bytes with ITI-68."""
    body = sample_bytes(NHN_SAMPLE)
    assert post(client, body).status_code == 200
    sent = sent_document_reference(json.loads(body.decode("utf-8-sig")))

    response = client.get(
        "/fhir/DocumentReference", params={"patient.identifier": NHN_PATIENT, "status": "current"}
    )

    (ours,) = found(response)
    assert_renders_as_sent(ours, sent)
    assert ours["context"]["period"] == sent["context"]["period"]
    document = client.get(ours["content"][0]["attachment"]["url"])
    assert document.headers["content-type"].startswith("text/xml")
    digest = base64.b64encode(hashlib.sha1(document.content).digest()).decode()
    assert digest == sent["content"][0]["attachment"]["hash"]


def test_ihe_simple_sample_comes_back_from_iti67_as_sent(client):
    bundle = with_resolvable_patient(ihe_sample("comprehensiveProvideDocumentBundleSimple"))
    assert post(client, bundle).status_code == 200
    patient = f"{IHE_PATIENT['system']}|{IHE_PATIENT['value']}"

    response = client.get(
        "/fhir/DocumentReference",
        params={"patient.identifier": patient, "status": "current", "_format": "xml"},
    )

    assert response.status_code == 200
    json_answer = client.get(
        "/fhir/DocumentReference", params={"patient.identifier": patient, "status": "current"}
    )
    (ours,) = found(json_answer)
    assert_renders_as_sent(ours, sent_document_reference(bundle))


def test_our_searchset_has_the_shape_of_the_ihe_find_response_example(client):
    example = ihe_sample("findDocumentReferencesResponse")
    bundle = with_resolvable_patient(ihe_sample("comprehensiveProvideDocumentBundleSimple"))
    assert post(client, bundle).status_code == 200
    patient = f"{IHE_PATIENT['system']}|{IHE_PATIENT['value']}"

    answer = client.get(
        "/fhir/DocumentReference", params={"patient.identifier": patient, "status": "current"}
    ).json()

    assert answer["type"] == example["type"]
    assert answer["total"] == len(answer["entry"]) == example["total"]
    assert [link["relation"] for link in answer["link"]] == ["self"]
    assert answer["entry"][0]["fullUrl"].endswith(
        "/DocumentReference/" + answer["entry"][0]["resource"]["id"]
    )
    assert answer["entry"][0]["resource"]["resourceType"] == "DocumentReference"
