"""An ITI-65 replacement through a real `xcads serve`: the original is Deprecated in ITI-18 and
ITI-38, and the RPLC Association links the two."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from bundles import Document, encode, provide_bundle
from lxml import etree
from mhd_support import as_xml
from servers import PERSON_ID_AUTHORITY, SOAP, Server
from soap_messages import FIND_DOCUMENTS, NS, adhoc_query, envelope

APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
GET_ASSOCIATIONS = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("replace") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def replaced(server) -> dict[str, str]:
    """Submit a document as JSON, then its replacement as FHIR XML; their ids and patient."""
    patient_id = str(uuid.uuid4().int)[:11]
    original = provide_bundle(patient_id, [Document(b"first version")])
    response = server.http.post(
        "/fhir", content=encode(original), headers={"Content-Type": "application/fhir+json"}
    )
    assert response.status_code == 200, response.text

    replacement = provide_bundle(patient_id, [Document(b"second version")])
    original_uuid = original["entry"][3]["fullUrl"]
    replacement["entry"][3]["resource"]["relatesTo"] = [
        {
            "code": "replaces",
            "target": {"reference": "DocumentReference/" + original_uuid.removeprefix("urn:uuid:")},
        }
    ]
    response = server.http.post(
        "/fhir", content=as_xml(replacement), headers={"Content-Type": "application/fhir+xml"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+xml")
    return {
        "patient": f"{patient_id}^^^&{PERSON_ID_AUTHORITY}&ISO".replace("&", "&amp;"),
        "original": original_uuid,
        "replacement": replacement["entry"][3]["fullUrl"],
    }


def statuses(server: Server, path: str, action: str, patient: str) -> dict[str, str]:
    """Run FindDocuments for Approved and Deprecated entries; each entryUUID's status."""
    body = adhoc_query(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": [f"'{patient}'"],
            "$XDSDocumentEntryStatus": [f"('{APPROVED}','{DEPRECATED}')"],
        },
    )
    root = soap(server, path, action, body)
    return {
        e.get("id"): e.get("status") for e in root.xpath("//rim:ExtrinsicObject", namespaces=NS)
    }


def soap(server: Server, path: str, action: str, body: str) -> etree._Element:
    response = server.http.post(
        path, content=envelope(action, body), headers={"Content-Type": SOAP}
    )
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ("/Registry/services/RegistryService", "urn:ihe:iti:2007:RegistryStoredQuery"),
        ("/XCA/services/RespondingGatewayService", "urn:ihe:iti:2007:CrossGatewayQuery"),
    ],
    ids=["ITI-18", "ITI-38"],
)
def test_find_documents_shows_the_original_deprecated_and_the_replacement_approved(
    server, replaced, path, action
):
    found = statuses(server, path, action, replaced["patient"])

    assert found == {replaced["original"]: DEPRECATED, replaced["replacement"]: APPROVED}


def test_iti18_get_associations_shows_the_rplc(server, replaced):
    body = adhoc_query(GET_ASSOCIATIONS, {"$uuid": [f"('{replaced['replacement']}')"]})
    root = soap(
        server, "/Registry/services/RegistryService", "urn:ihe:iti:2007:RegistryStoredQuery", body
    )
    links = [
        (a.get("associationType"), a.get("sourceObject"), a.get("targetObject"))
        for a in root.xpath("//rim:Association", namespaces=NS)
    ]
    assert (RPLC, replaced["replacement"], replaced["original"]) in links
