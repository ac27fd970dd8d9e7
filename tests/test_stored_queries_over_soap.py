"""Stored queries through the XCA Responding Gateway (ITI-38): LeafClass and ObjectRef answers."""

from __future__ import annotations

from collections import Counter
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from query_support import HAS_MEMBER, RPLC, association, folder, quoted, submit
from registry_samples import APPROVED, OTHER_PATIENT, PATIENT, document_entry

from gateway.app import create_app
from gateway.config import Settings
from registry.queries import (
    FIND_SUBMISSION_SETS,
    GET_ALL,
    GET_DOCUMENTS,
    GET_RELATED_DOCUMENTS,
    GET_SUBMISSION_SET_AND_CONTENTS,
)

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
URL = "/XCA/services/RespondingGatewayService"
ACTION = "urn:ihe:iti:2007:CrossGatewayQuery"
NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
}
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
LEAF_CLASSES = ("ExtrinsicObject", "RegistryPackage", "Association")


@pytest.fixture
def app(tmp_path):
    settings = Settings(
        data_dir=tmp_path / "data", home_community_id=HOME, repository_unique_id="1.2.3.4"
    )
    app = create_app(settings)
    yield app
    app.state.registry.close()


@pytest.fixture
def stored(app) -> dict[str, str]:
    """A filed and a loose entry in one submission, and a replacement of the loose one."""
    store = app.state.registry
    filed, loose, folder_ = document_entry("filed"), document_entry("loose"), folder("folder")
    membership = association(HAS_MEMBER, folder_.entry_uuid, filed.entry_uuid)
    package = submit(store, filed, loose, folder_, associations=(membership,))
    new = document_entry("new")
    submit(store, new, associations=(association(RPLC, new.entry_uuid, loose.entry_uuid),))
    return {"submission_set": package.entry_uuid, "loose": loose.entry_uuid}


def cross_gateway_query(client, query_id: str, slots: dict[str, str], return_type: str):
    """POST an ITI-38 AdhocQueryRequest; `slots` maps a parameter to its one Value's text."""
    slot_xml = "".join(
        f'<rim:Slot name="{name}"><rim:ValueList><rim:Value>{escape(value)}</rim:Value>'
        "</rim:ValueList></rim:Slot>"
        for name, value in slots.items()
    )
    body = (
        f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}" xmlns:rim="{NS["rim"]}">'
        f'<query:ResponseOption returnType="{return_type}" returnComposedObjects="true"/>'
        f'<rim:AdhocQuery id="{query_id}" home="{HOME}">{slot_xml}</rim:AdhocQuery>'
        "</query:AdhocQueryRequest>"
    )
    envelope = (
        f"<env:Envelope xmlns:env='{NS['env']}' xmlns:wsa='{NS['wsa']}'><env:Header>"
        f"<wsa:Action env:mustUnderstand='1'>{ACTION}</wsa:Action>"
        "<wsa:MessageID>urn:uuid:m1</wsa:MessageID></env:Header>"
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )
    reply = client.post(
        URL, content=envelope.encode(), headers={"Content-Type": "application/soap+xml"}
    )
    assert reply.status_code == 200
    return etree.fromstring(reply.content).find(".//query:AdhocQueryResponse", NS)


def returned(response) -> Counter[str]:
    """How many objects of each element name the RegistryObjectList holds."""
    objects = response.find("rim:RegistryObjectList", NS)
    return Counter(etree.QName(child).localname for child in objects)


STATUS = quoted(APPROVED)
QUERIES = {
    "GetAll": (
        GET_ALL,
        lambda ids: {
            "$patientId": f"'{PATIENT}'",
            "$XDSDocumentEntryStatus": STATUS,
            "$XDSSubmissionSetStatus": STATUS,
            "$XDSFolderStatus": STATUS,
        },
        # The replaced entry is Deprecated, so neither it nor its two Associations come back.
        {"ExtrinsicObject": 2, "RegistryPackage": 3, "Association": 4},
    ),
    "FindSubmissionSets": (
        FIND_SUBMISSION_SETS,
        lambda ids: {
            "$XDSSubmissionSetPatientId": f"'{PATIENT}'",
            "$XDSSubmissionSetStatus": STATUS,
        },
        {"RegistryPackage": 2},
    ),
    "GetSubmissionSetAndContents": (
        GET_SUBMISSION_SET_AND_CONTENTS,
        lambda ids: {"$XDSSubmissionSetEntryUUID": f"'{ids['submission_set']}'"},
        {"ExtrinsicObject": 2, "RegistryPackage": 2, "Association": 4},
    ),
    "GetRelatedDocuments": (
        GET_RELATED_DOCUMENTS,
        lambda ids: {
            "$XDSDocumentEntryEntryUUID": f"'{ids['loose']}'",
            "$AssociationTypes": quoted(RPLC),
        },
        {"ExtrinsicObject": 2, "Association": 1},
    ),
}


@pytest.mark.parametrize("name", list(QUERIES))
def test_leaf_class_answers_with_full_objects(client, stored, name):
    query_id, slots, expected = QUERIES[name]

    response = cross_gateway_query(client, query_id, slots(stored), "LeafClass")

    assert response.get("status") == SUCCESS
    assert returned(response) == Counter(expected)


@pytest.mark.parametrize("name", list(QUERIES))
def test_object_ref_answers_with_one_reference_per_object(client, stored, name):
    query_id, slots, expected = QUERIES[name]

    response = cross_gateway_query(client, query_id, slots(stored), "ObjectRef")

    assert response.get("status") == SUCCESS
    assert returned(response) == Counter({"ObjectRef": sum(expected.values())})
    refs = response.findall("rim:RegistryObjectList/rim:ObjectRef", NS)
    assert {ref.get("home") for ref in refs} == {HOME}


def test_leaf_class_across_patients_fails_with_result_not_single_patient(app, client):
    mine, theirs = document_entry("mine"), document_entry("theirs", patient_id=OTHER_PATIENT)
    submit(app.state.registry, mine)
    submit(app.state.registry, theirs)
    slots = {"$XDSDocumentEntryEntryUUID": quoted(mine.entry_uuid, theirs.entry_uuid)}

    leaf_class = cross_gateway_query(client, GET_DOCUMENTS, slots, "LeafClass")
    assert leaf_class.get("status") == FAILURE
    assert leaf_class.xpath("rs:RegistryErrorList/rs:RegistryError/@errorCode", namespaces=NS) == [
        "XDSResultNotSinglePatient"
    ]

    object_ref = cross_gateway_query(client, GET_DOCUMENTS, slots, "ObjectRef")
    assert object_ref.get("status") == SUCCESS
    assert returned(object_ref) == Counter({"ObjectRef": 2})
