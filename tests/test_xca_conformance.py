"""ITI-38 and ITI-39 as a Responding Gateway must answer them: every stored query of ITI-18,
the community a query without a patient names, several DocumentRequests across repositories,
responses valid against the ebRS 3.0 / XDS.b schemas, and real-world MTOM senders.
"""

from __future__ import annotations

import pytest
from repository_support import assert_schema_valid, mtom, read_reply
from test_xca import (
    APPROVED,
    FAILURE,
    HOME,
    NS,
    PARTIAL_SUCCESS,
    PATIENT,
    QUERY,
    REPOSITORY,
    RETRIEVE,
    SUCCESS,
    adhoc_query,
    envelope,
    error_codes,
    post,
    retrieve,
    soap_root,
    status,
    store_document,
)

from registry import queries

CX = PATIENT.replace("&", "&amp;")


def query_slots(entry) -> dict[str, dict[str, list[list[str]]]]:
    """Each stored query with the parameters it needs, selecting `entry` where it can."""
    uid = [[f"('{entry.unique_id}')"]]
    return {
        queries.FIND_DOCUMENTS: {
            "$XDSDocumentEntryPatientId": [[f"'{CX}'"]],
            "$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]],
        },
        queries.FIND_DOCUMENTS_BY_REFERENCE_ID: {
            "$XDSDocumentEntryPatientId": [[f"'{CX}'"]],
            "$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]],
            "$XDSDocumentEntryReferenceIdList": [["('ref^^^&amp;1.2.3&amp;ISO')"]],
        },
        queries.FIND_SUBMISSION_SETS: {
            "$XDSSubmissionSetPatientId": [[f"'{CX}'"]],
            "$XDSSubmissionSetStatus": [[f"('{APPROVED}')"]],
        },
        queries.FIND_FOLDERS: {
            "$XDSFolderPatientId": [[f"'{CX}'"]],
            "$XDSFolderStatus": [[f"('{APPROVED}')"]],
        },
        queries.GET_ALL: {
            "$patientId": [[f"'{CX}'"]],
            "$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]],
            "$XDSSubmissionSetStatus": [[f"('{APPROVED}')"]],
            "$XDSFolderStatus": [[f"('{APPROVED}')"]],
        },
        queries.GET_DOCUMENTS: {"$XDSDocumentEntryUniqueId": uid},
        queries.GET_FOLDERS: {"$XDSFolderUniqueId": [["('2.25.1')"]]},
        queries.GET_ASSOCIATIONS: {"$uuid": [[f"('{entry.entry_uuid}')"]]},
        queries.GET_DOCUMENTS_AND_ASSOCIATIONS: {"$XDSDocumentEntryUniqueId": uid},
        queries.GET_SUBMISSION_SETS: {"$uuid": [[f"('{entry.entry_uuid}')"]]},
        queries.GET_SUBMISSION_SET_AND_CONTENTS: {"$XDSSubmissionSetUniqueId": [["'2.25.1'"]]},
        queries.GET_FOLDER_AND_CONTENTS: {"$XDSFolderUniqueId": [["'2.25.1'"]]},
        queries.GET_FOLDERS_FOR_DOCUMENT: {"$XDSDocumentEntryUniqueId": [[f"'{entry.unique_id}'"]]},
        queries.GET_RELATED_DOCUMENTS: {
            "$XDSDocumentEntryUniqueId": [[f"'{entry.unique_id}'"]],
            "$AssociationTypes": [["('urn:ihe:iti:2007:AssociationType:RPLC')"]],
        },
    }


# What each query finds of the one stored document and its SubmissionSet.
FINDS = {
    queries.FIND_DOCUMENTS: {"ExtrinsicObject": 1},
    queries.FIND_SUBMISSION_SETS: {"RegistryPackage": 1},
    queries.GET_ALL: {"ExtrinsicObject": 1, "RegistryPackage": 1, "Association": 1},
    queries.GET_DOCUMENTS: {"ExtrinsicObject": 1},
    queries.GET_ASSOCIATIONS: {"Association": 1},
    queries.GET_DOCUMENTS_AND_ASSOCIATIONS: {"ExtrinsicObject": 1, "Association": 1},
    queries.GET_SUBMISSION_SETS: {"RegistryPackage": 1, "Association": 1},
}

_ANY = type("AnyEntry", (), {"unique_id": "1", "entry_uuid": "urn:uuid:1"})()
ALL_QUERIES = sorted(query_slots(_ANY))


@pytest.mark.parametrize("query_id", ALL_QUERIES)
def test_every_stored_query_is_answered_across_communities(app, client, query_id):
    entry = store_document(app, b"x")
    body = adhoc_query(query_id, query_slots(entry)[query_id], home=HOME)

    root = soap_root(post(client, envelope(QUERY, body)))

    assert status(root) == SUCCESS, error_codes(root)
    objects = root.findall(".//rim:RegistryObjectList/*", NS)
    assert {element.get("home") for element in objects} <= {HOME}
    for tag, count in FINDS.get(query_id, {}).items():
        assert len(root.findall(f".//rim:RegistryObjectList/rim:{tag}", NS)) == count, tag
    assert_schema_valid(root.find("env:Body/query:AdhocQueryResponse", NS))


def test_home_community_id_parameter_names_the_community(app, client):
    entry = store_document(app, b"x")
    query_id = queries.GET_DOCUMENTS
    slots = {**query_slots(entry)[query_id], "$homeCommunityId": [[f"'{HOME}'"]]}

    root = soap_root(post(client, envelope(QUERY, adhoc_query(query_id, slots))))

    assert status(root) == SUCCESS
    (extrinsic,) = root.findall(".//rim:ExtrinsicObject", NS)
    assert extrinsic.get("home") == HOME


def test_home_community_id_parameter_naming_another_community_is_unknown(app, client):
    entry = store_document(app, b"x")
    query_id = queries.GET_DOCUMENTS
    slots = {**query_slots(entry)[query_id], "$homeCommunityId": [["'urn:oid:1.2.555'"]]}

    root = soap_root(post(client, envelope(QUERY, adhoc_query(query_id, slots))))

    assert error_codes(root) == ["XDSUnknownCommunity"]


def _needs_home(query_id: str) -> bool:
    return not any("atient" in name for name in query_slots(_ANY)[query_id])


@pytest.mark.parametrize("query_id", [q for q in ALL_QUERIES if _needs_home(q)])
def test_query_without_a_patient_must_name_the_community(app, client, query_id):
    entry = store_document(app, b"x")
    body = adhoc_query(query_id, query_slots(entry)[query_id])

    root = soap_root(post(client, envelope(QUERY, body)))

    assert status(root) == FAILURE
    assert error_codes(root) == ["XDSMissingHomeCommunityId"]
    assert_schema_valid(root.find("env:Body/query:AdhocQueryResponse", NS))


@pytest.mark.parametrize("query_id", [q for q in ALL_QUERIES if not _needs_home(q)])
def test_query_with_a_patient_needs_no_community(app, client, query_id):
    entry = store_document(app, b"x")
    body = adhoc_query(query_id, query_slots(entry)[query_id])

    root = soap_root(post(client, envelope(QUERY, body)))

    assert status(root) == SUCCESS, error_codes(root)


# --- ITI-39 ------------------------------------------------------------------------------------


def test_retrieve_across_repositories_fails_each_unknown_one(app, client):
    entry = store_document(app, b"ours")

    reply = read_reply(
        post(
            client,
            envelope(
                RETRIEVE,
                retrieve(
                    (HOME, "1.2.3.4.1", "2.25.7"),
                    (HOME, REPOSITORY, entry.unique_id),
                    (HOME, "1.2.3.4.2", "2.25.8"),
                ),
            ),
        )
    )

    assert reply.status == PARTIAL_SUCCESS
    assert reply.errors == [
        ("XDSUnknownRepositoryId", "2.25.7"),
        ("XDSUnknownRepositoryId", "2.25.8"),
    ]
    assert reply.documents == {entry.unique_id: ("text/plain", b"ours")}
    assert_schema_valid(reply.body)


def test_retrieve_failure_response_is_schema_valid(client):
    reply = read_reply(post(client, envelope(RETRIEVE, retrieve((None, REPOSITORY, "2.25.1")))))

    assert reply.status == FAILURE
    assert_schema_valid(reply.body)


def test_retrieve_response_with_documents_is_schema_valid(app, client):
    entry = store_document(app, b"valid")

    reply = read_reply(
        post(client, envelope(RETRIEVE, retrieve((HOME, REPOSITORY, entry.unique_id))))
    )

    assert reply.status == SUCCESS
    assert_schema_valid(reply.body)


# --- Real-world senders ------------------------------------------------------------------------


def test_mime_part_header_with_a_latin1_byte_is_accepted(app, client):
    entry = store_document(app, b"latin")
    message = envelope(None, retrieve((HOME, REPOSITORY, entry.unique_id)))
    body, content_type = mtom(message, {}, action=RETRIEVE)
    body = body.replace(
        b"Content-Transfer-Encoding: binary\r\n",
        b"Content-Transfer-Encoding: binary\r\nContent-Description: Bj\xf8rn's request\r\n",
        1,
    )

    reply = read_reply(post(client, body, content_type))

    assert reply.status == SUCCESS
    assert reply.documents[entry.unique_id][1] == b"latin"


@pytest.mark.parametrize(
    "media_type",
    [
        'application/soap+xml;charset="UTF-8";action="urn:ihe:iti:2007:CrossGatewayRetrieve"',
        "application/soap+xml; charset=utf-8; action=urn:ihe:iti:2007:CrossGatewayRetrieve",
        'Application/SOAP+XML; action="urn:ihe:iti:2007:CrossGatewayRetrieve"; charset=UTF-8',
    ],
)
def test_action_and_charset_parameters_in_any_spelling(app, client, media_type):
    entry = store_document(app, b"plain")
    message = envelope(None, retrieve((HOME, REPOSITORY, entry.unique_id)))

    reply = read_reply(post(client, message, media_type))

    assert reply.status == SUCCESS
