"""The XCA Responding Gateway endpoint: ITI-38 and ITI-39 over SOAP 1.2, plain and MTOM."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from servers import threaded_uvicorn

from gateway.app import create_app
from gateway.config import Settings
from gateway.mtom import parse_multipart
from registry.metadata import (
    Association,
    AssociationType,
    Code,
    DocumentEntry,
    Submission,
    SubmissionSet,
)

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
REPOSITORY = "1.3.6.1.4.1.21367.13.70.200.1"
PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"
URL = "/XCA/services/RespondingGatewayService"
SOAP = "application/soap+xml; charset=utf-8"
QUERY = "urn:ihe:iti:2007:CrossGatewayQuery"
RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
FIXTURES = Path(__file__).parent / "fixtures" / "xca"

NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "xds": "urn:ihe:iti:xds-b:2007",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", home_community_id=HOME, repository_unique_id=REPOSITORY
    )


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    app.state.registry.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def store_document(
    app,
    data: bytes,
    *,
    mime_type: str = "text/plain",
    patient_id: str = PATIENT,
    bytes_too=True,
    event_codes: tuple[str, ...] = (),
) -> DocumentEntry:
    """Register one document the way ITI-65 does: metadata and bytes in one step.

    `event_codes` are codes of the coding scheme `s`.
    """
    unique_id = f"2.25.{uuid.uuid4().int}"
    entry = DocumentEntry(
        entry_uuid=uuid.uuid4().urn,
        unique_id=unique_id,
        patient_id=patient_id,
        mime_type=mime_type,
        hash=hashlib.sha1(data).hexdigest(),
        size=len(data),
        repository_unique_id=REPOSITORY,
        creation_time="20240131120000",
        event_code_list=[Code(code, "s") for code in event_codes],
    )
    submission_set = SubmissionSet(
        entry_uuid=uuid.uuid4().urn,
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id="1.2.3",
        patient_id=patient_id,
        submission_time="20240131120500",
    )
    association = Association(
        entry_uuid=uuid.uuid4().urn,
        association_type=AssociationType.HAS_MEMBER,
        source_object=submission_set.entry_uuid,
        target_object=entry.entry_uuid,
        submission_set_status="Original",
    )
    documents = app.state.documents
    staged = documents.stage([data])
    app.state.registry.register(
        Submission(submission_set, [entry], associations=[association]),
        before_commit=lambda: documents.promote(staged, unique_id) if bytes_too else None,
    )
    return entry


# --- Messages ----------------------------------------------------------------------------------


def envelope(action: str | None, body: str, *, headers: str = "", message_id="urn:uuid:m1"):
    action_header = f"<wsa:Action env:mustUnderstand='1'>{action}</wsa:Action>" if action else ""
    return (
        f"<env:Envelope xmlns:env='{NS['env']}' xmlns:wsa='{NS['wsa']}'><env:Header>"
        f"{action_header}<wsa:MessageID>{message_id}</wsa:MessageID>{headers}"
        f"</env:Header><env:Body>{body}</env:Body></env:Envelope>"
    ).encode()


def adhoc_query(query_id: str, slots: dict[str, list[list[str]]], return_type="LeafClass", home=""):
    """An AdhocQueryRequest; `slots` gives per parameter one list of Value texts per Slot."""
    home_attribute = f' home="{home}"' if home else ""
    slot_xml = "".join(
        f'<rim:Slot name="{name}"><rim:ValueList>'
        + "".join(f"<rim:Value>{value}</rim:Value>" for value in values)
        + "</rim:ValueList></rim:Slot>"
        for name, occurrences in slots.items()
        for values in occurrences
    )
    return (
        f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}" xmlns:rim="{NS["rim"]}">'
        f'<query:ResponseOption returnType="{return_type}" returnComposedObjects="true"/>'
        f'<rim:AdhocQuery id="{query_id}"{home_attribute}>{slot_xml}</rim:AdhocQuery>'
        "</query:AdhocQueryRequest>"
    )


def find_documents(
    patient_id: str = PATIENT,
    return_type: str = "LeafClass",
    *,
    extra_slots: dict[str, list[list[str]]] | None = None,
) -> str:
    xml_cx = patient_id.replace("&", "&amp;")
    return adhoc_query(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": [[f"'{xml_cx}'"]],
            "$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]],
            **(extra_slots or {}),
        },
        return_type,
    )


def retrieve(*requests: tuple[str | None, str, str]) -> str:
    parts = []
    for home, repository, unique_id in requests:
        home_xml = f"<xds:HomeCommunityId>{home}</xds:HomeCommunityId>" if home else ""
        parts.append(
            f"<xds:DocumentRequest>{home_xml}"
            f"<xds:RepositoryUniqueId>{repository}</xds:RepositoryUniqueId>"
            f"<xds:DocumentUniqueId>{unique_id}</xds:DocumentUniqueId></xds:DocumentRequest>"
        )
    return (
        f"<xds:RetrieveDocumentSetRequest xmlns:xds='{NS['xds']}'>{''.join(parts)}"
        "</xds:RetrieveDocumentSetRequest>"
    )


def as_mtom(message: bytes, *, action: str | None = None, start: bool = True):
    boundary = "MIMEBoundary_xca_test"
    body = (
        (
            f"--{boundary}\r\n"
            'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
            "Content-Transfer-Encoding: binary\r\n"
            "Content-ID: <root.xca@test>\r\n\r\n"
        ).encode()
        + message
        + f"\r\n--{boundary}--\r\n".encode()
    )
    content_type = f'multipart/related; boundary="{boundary}"; type="application/xop+xml"'
    if start:
        content_type += '; start="<root.xca@test>"'
    content_type += '; start-info="application/soap+xml"'
    if action:
        content_type += f'; action="{action}"'
    return body, content_type


def post(client, message: bytes, content_type: str = SOAP, url: str = URL) -> httpx.Response:
    return client.post(url, content=message, headers={"Content-Type": content_type})


def soap_root(reply: httpx.Response) -> etree._Element:
    content_type = reply.headers["content-type"]
    if content_type.startswith("multipart/related"):
        return etree.fromstring(parse_multipart(reply.content, content_type).root.data)
    return etree.fromstring(reply.content)


def retrieved(reply: httpx.Response) -> tuple[etree._Element, dict[str, tuple[str, bytes]]]:
    """The response envelope and each returned document's (mimeType, bytes) by uniqueId."""
    assert reply.headers["content-type"].startswith("multipart/related")
    package = parse_multipart(reply.content, reply.headers["content-type"])
    root = etree.fromstring(package.root.data)
    documents = {}
    for response in root.iterfind(".//xds:DocumentResponse", NS):
        href = response.find("xds:Document/xop:Include", NS).get("href")
        part = package.parts[href.removeprefix("cid:")]
        assert part.content_type == response.findtext("xds:mimeType", namespaces=NS)
        documents[response.findtext("xds:DocumentUniqueId", namespaces=NS)] = (
            part.content_type,
            part.data,
        )
    return root, documents


def status(root: etree._Element) -> str:
    (value,) = root.xpath(
        "//query:AdhocQueryResponse/@status | //rs:RegistryResponse/@status", namespaces=NS
    )
    return value


def error_codes(root: etree._Element) -> list[str]:
    return root.xpath("//rs:RegistryError/@errorCode", namespaces=NS)


def fault_code(reply: httpx.Response) -> tuple[str, str | None]:
    """The fault's Code and Subcode values as `prefix:local` with the prefixes of NS."""
    root = etree.fromstring(reply.content)
    names = []
    for value in root.iterfind("env:Body/env:Fault/env:Code//env:Value", NS):
        prefix, local = value.text.split(":")
        namespace = value.nsmap[prefix]
        names.append(next(p for p, uri in NS.items() if uri == namespace) + ":" + local)
    return names[0], names[1] if len(names) > 1 else None


def slot(element: etree._Element, name: str) -> list[str]:
    return element.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=NS)


# --- ITI-38 ------------------------------------------------------------------------------------


def test_find_documents_leaf_class_carries_home_and_repository_slots(app, client):
    entry = store_document(app, b"hello")

    reply = post(client, envelope(QUERY, find_documents()))

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/soap+xml")
    root = soap_root(reply)
    assert status(root) == SUCCESS
    assert root.findtext("env:Header/wsa:Action", namespaces=NS) == (
        "urn:ihe:iti:2007:CrossGatewayQueryResponse"
    )
    assert root.findtext("env:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:m1"
    (extrinsic,) = root.iterfind(".//rim:ExtrinsicObject", NS)
    assert extrinsic.get("id") == entry.entry_uuid
    assert extrinsic.get("home") == HOME
    assert slot(extrinsic, "repositoryUniqueId") == [REPOSITORY]
    assert slot(extrinsic, "hash") == [hashlib.sha1(b"hello").hexdigest()]
    assert slot(extrinsic, "size") == ["5"]


def test_find_documents_object_refs_carry_home(app, client):
    first, second = store_document(app, b"a"), store_document(app, b"b")

    root = soap_root(post(client, envelope(QUERY, find_documents(return_type="ObjectRef"))))

    refs = root.findall(".//rim:RegistryObjectList/rim:ObjectRef", NS)
    assert {ref.get("id") for ref in refs} == {first.entry_uuid, second.entry_uuid}
    assert {ref.get("home") for ref in refs} == {HOME}
    assert root.find(".//rim:ExtrinsicObject", NS) is None


def test_find_documents_of_a_patient_without_documents_is_an_empty_success(app, client):
    store_document(app, b"a")

    root = soap_root(post(client, envelope(QUERY, find_documents("1^^^&1.2.3&ISO"))))

    assert status(root) == SUCCESS
    assert root.findall(".//rim:RegistryObjectList/*", NS) == []


def test_get_documents_by_unique_id(app, client):
    entry = store_document(app, b"get me")
    body = adhoc_query(
        GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [[f"('{entry.unique_id}')"]]}, home=HOME
    )

    root = soap_root(post(client, envelope(QUERY, body)))

    (extrinsic,) = root.iterfind(".//rim:ExtrinsicObject", NS)
    assert extrinsic.get("home") == HOME


def test_get_query_without_home_is_missing_home_community_id(app, client):
    entry = store_document(app, b"get me")
    body = adhoc_query(GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [[f"('{entry.unique_id}')"]]})

    root = soap_root(post(client, envelope(QUERY, body)))

    assert status(root) == FAILURE
    assert error_codes(root) == ["XDSMissingHomeCommunityId"]
    assert root.find(".//rim:ExtrinsicObject", NS) is None


def found_by_event_codes(client, event_code_list: list[list[str]]) -> set[str]:
    """The entryUUIDs FindDocuments returns for these EventCodeList Slots, over ITI-38."""
    body = find_documents(extra_slots={"$XDSDocumentEntryEventCodeList": event_code_list})

    root = soap_root(post(client, envelope(QUERY, body)))

    assert status(root) == SUCCESS
    return {extrinsic.get("id") for extrinsic in root.iterfind(".//rim:ExtrinsicObject", NS)}


def test_find_documents_ors_event_code_values_within_a_slot(app, client):
    a = store_document(app, b"a", event_codes=("A",))
    b = store_document(app, b"b", event_codes=("B",))
    store_document(app, b"c", event_codes=("C",))

    found = found_by_event_codes(client, [["('A^^s')", "('B^^s')"]])

    assert found == {a.entry_uuid, b.entry_uuid}


def test_find_documents_ands_event_code_slots_of_the_same_name(app, client):
    a_c = store_document(app, b"a-c", event_codes=("A", "C"))
    b_c = store_document(app, b"b-c", event_codes=("B", "C"))
    store_document(app, b"a-d", event_codes=("A", "D"))
    store_document(app, b"c", event_codes=("C",))

    found = found_by_event_codes(client, [["('A^^s')", "('B^^s')"], ["('C^^s')"]])

    assert found == {a_c.entry_uuid, b_c.entry_uuid}


def test_slot_syntax_error_is_a_failure_with_registry_errors(client):
    body = adhoc_query(
        FIND_DOCUMENTS,
        {"$XDSDocumentEntryPatientId": [["not-quoted"]], "$XDSDocumentEntryStatus": [["x"]]},
    )

    reply = post(client, envelope(QUERY, body))

    assert reply.status_code == 200
    root = soap_root(reply)
    assert status(root) == FAILURE
    assert error_codes(root)
    assert root.find(".//rim:RegistryObjectList", NS) is not None


def test_missing_required_parameter_is_named(client):
    body = adhoc_query(FIND_DOCUMENTS, {"$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]]})

    assert error_codes(soap_root(post(client, envelope(QUERY, body)))) == [
        "XDSStoredQueryMissingParam"
    ]


def test_unknown_stored_query(client):
    body = adhoc_query("urn:uuid:00000000-0000-0000-0000-000000000000", {})

    assert error_codes(soap_root(post(client, envelope(QUERY, body)))) == ["XDSUnknownStoredQuery"]


def test_query_for_another_community_is_unknown_community(client):
    body = adhoc_query(
        GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": [["('1')"]]}, home="urn:oid:9.9"
    )

    root = soap_root(post(client, envelope(QUERY, body)))

    assert status(root) == FAILURE
    assert error_codes(root) == ["XDSUnknownCommunity"]


def test_query_sent_as_mtom_is_answered_as_mtom(app, client):
    store_document(app, b"a")
    body, content_type = as_mtom(envelope(QUERY, find_documents()))

    reply = post(client, body, content_type)

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("multipart/related")
    root = soap_root(reply)
    assert status(root) == SUCCESS
    assert len(root.findall(".//rim:ExtrinsicObject", NS)) == 1


def test_query_is_logged_without_patient_data(app, client, caplog):
    store_document(app, b"a")

    with caplog.at_level(logging.INFO, logger="xcads"):
        post(client, envelope(QUERY, find_documents()))

    (record,) = [r for r in caplog.records if r.getMessage().startswith("iti38.query")]
    assert f"query_id={FIND_DOCUMENTS}" in record.getMessage()
    assert "results=1" in record.getMessage()
    assert "13116900216" not in caplog.text


# --- ITI-39 ------------------------------------------------------------------------------------


def test_retrieve_returns_the_document_as_mtom(app, client):
    entry = store_document(app, b"%PDF-1.7 bytes", mime_type="application/pdf")

    reply = post(client, envelope(RETRIEVE, retrieve((HOME, REPOSITORY, entry.unique_id))))

    assert reply.status_code == 200
    root, documents = retrieved(reply)
    assert status(root) == SUCCESS
    assert documents == {entry.unique_id: ("application/pdf", b"%PDF-1.7 bytes")}
    (response,) = root.iterfind(".//xds:DocumentResponse", NS)
    assert response.findtext("xds:HomeCommunityId", namespaces=NS) == HOME
    assert response.findtext("xds:RepositoryUniqueId", namespaces=NS) == REPOSITORY
    assert root.findtext("env:Header/wsa:Action", namespaces=NS) == (
        "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"
    )
    assert root.findtext("env:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:m1"


def test_retrieve_request_sent_as_mtom(app, client):
    entry = store_document(app, b"mtom")
    body, content_type = as_mtom(envelope(RETRIEVE, retrieve((HOME, REPOSITORY, entry.unique_id))))

    _, documents = retrieved(post(client, body, content_type))

    assert documents[entry.unique_id][1] == b"mtom"


def test_retrieve_with_action_only_in_the_content_type(app, client):
    entry = store_document(app, b"mtom")
    message = envelope(None, retrieve((HOME, REPOSITORY, entry.unique_id)))
    body, content_type = as_mtom(message, action=RETRIEVE, start=False)

    root, documents = retrieved(post(client, body, content_type))

    assert status(root) == SUCCESS
    assert list(documents) == [entry.unique_id]


def test_retrieve_with_action_only_in_the_soap_media_type(app, client):
    entry = store_document(app, b"plain")
    message = envelope(None, retrieve((HOME, REPOSITORY, entry.unique_id)))

    _, documents = retrieved(post(client, message, f'{SOAP}; action="{RETRIEVE}"'))

    assert list(documents) == [entry.unique_id]


def test_retrieve_of_several_documents(app, client):
    first, second = store_document(app, b"first"), store_document(app, b"second", mime_type="a/b")

    root, documents = retrieved(
        post(
            client,
            envelope(
                RETRIEVE,
                retrieve((HOME, REPOSITORY, first.unique_id), (HOME, REPOSITORY, second.unique_id)),
            ),
        )
    )

    assert status(root) == SUCCESS
    assert documents == {
        first.unique_id: ("text/plain", b"first"),
        second.unique_id: ("a/b", b"second"),
    }


def test_home_community_id_without_urn_oid_prefix_is_accepted(app, client):
    entry = store_document(app, b"x")

    reply = post(
        client,
        envelope(RETRIEVE, retrieve(("1.3.6.1.4.1.21367.13.70.200", REPOSITORY, entry.unique_id))),
    )

    assert status(retrieved(reply)[0]) == SUCCESS


def test_some_documents_missing_is_partial_success(app, client):
    entry = store_document(app, b"found")

    root, documents = retrieved(
        post(
            client,
            envelope(
                RETRIEVE,
                retrieve((HOME, REPOSITORY, entry.unique_id), (HOME, REPOSITORY, "2.25.404")),
            ),
        )
    )

    assert status(root) == PARTIAL_SUCCESS
    assert error_codes(root) == ["XDSDocumentUniqueIdError"]
    assert root.xpath("//rs:RegistryError/@location", namespaces=NS) == ["2.25.404"]
    assert list(documents) == [entry.unique_id]


@pytest.mark.parametrize(
    ("home", "repository", "code"),
    [
        (HOME, REPOSITORY, "XDSDocumentUniqueIdError"),
        (HOME, "1.2.3.4.5", "XDSUnknownRepositoryId"),
        ("urn:oid:1.2.3.4.5", REPOSITORY, "XDSUnknownCommunity"),
        (None, REPOSITORY, "XDSMissingHomeCommunityId"),
    ],
)
def test_retrieve_error_codes(client, home, repository, code):
    reply = post(client, envelope(RETRIEVE, retrieve((home, repository, "2.25.404"))))

    assert reply.status_code == 200
    root, documents = retrieved(reply)
    assert status(root) == FAILURE
    assert error_codes(root) == [code]
    assert documents == {}


def test_registered_document_without_bytes_is_a_unique_id_error(app, client):
    entry = store_document(app, b"gone", bytes_too=False)

    root, _ = retrieved(
        post(client, envelope(RETRIEVE, retrieve((HOME, REPOSITORY, entry.unique_id))))
    )

    assert error_codes(root) == ["XDSDocumentUniqueIdError"]


def test_national_gateway_capture_shape_is_accepted(app, client):
    entry = store_document(app, b"from the fixture")
    body = (FIXTURES / "iti39-mtom-latin1-saml.bin").read_bytes()
    body = body.replace(b"2.25.111", entry.unique_id.encode())
    content_type = (FIXTURES / "iti39-mtom-latin1-saml.content-type").read_text().strip()

    root, documents = retrieved(post(client, body, content_type))

    assert status(root) == SUCCESS
    assert documents[entry.unique_id][1] == b"from the fixture"


# --- Faults ------------------------------------------------------------------------------------


def test_path_matches_in_any_case(app, client):
    entry = store_document(app, b"x")

    for url in ("/xca/services/respondinggatewayservice", "/XCA/Services/RESPONDINGGATEWAYSERVICE"):
        reply = post(
            client, envelope(RETRIEVE, retrieve((HOME, REPOSITORY, entry.unique_id))), url=url
        )
        assert reply.status_code == 200, url


def test_unknown_action_is_action_not_supported(client):
    reply = post(client, envelope("urn:ihe:iti:2007:Unknown", "<x/>"))

    assert reply.status_code == 400
    assert fault_code(reply) == ("env:Sender", "wsa:ActionNotSupported")


def test_missing_action_is_a_required_header_fault(client):
    reply = post(client, envelope(None, find_documents()))

    assert fault_code(reply) == ("env:Sender", "wsa:MessageAddressingHeaderRequired")


def test_body_that_does_not_match_the_action_is_a_sender_fault(client):
    reply = post(client, envelope(QUERY, retrieve((HOME, REPOSITORY, "1"))))

    assert reply.status_code == 400
    assert fault_code(reply)[0] == "env:Sender"
    root = etree.fromstring(reply.content)
    assert root.findtext("env:Header/wsa:RelatesTo", namespaces=NS) == "urn:uuid:m1"


def test_soap11_is_a_version_mismatch(client):
    message = (
        b"<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'>"
        b"<s:Body><x/></s:Body></s:Envelope>"
    )

    reply = post(client, message, "text/xml; charset=utf-8")

    assert reply.status_code == 500
    assert b"VersionMismatch" in reply.content


def test_header_that_must_be_understood_is_a_must_understand_fault(client):
    headers = "<v:Ctx xmlns:v='urn:vendor' env:mustUnderstand='true'/>"

    reply = post(client, envelope(QUERY, find_documents(), headers=headers))

    assert reply.status_code == 500
    assert fault_code(reply) == ("env:MustUnderstand", None)


def test_malformed_xml_is_a_sender_fault(client):
    reply = post(client, b"<env:Envelope xmlns:env='http://www.w3.org/2003/05/soap-envelope'>")

    assert reply.status_code == 400
    assert fault_code(reply)[0] == "env:Sender"


def test_doctype_is_rejected(client):
    message = b"<!DOCTYPE a [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>" + envelope(QUERY, "&x;")

    reply = post(client, message)

    assert reply.status_code == 400
    assert b"passwd" not in reply.content.replace(b"file:///etc/passwd", b"")
    assert fault_code(reply)[0] == "env:Sender"


def test_unsupported_media_type_is_a_fault(client):
    reply = post(client, b"{}", "application/json")

    assert reply.status_code == 415
    assert fault_code(reply)[0] == "env:Sender"


def test_unexpected_error_is_a_receiver_fault(app, client, monkeypatch, caplog):
    def broken(unique_ids):
        raise RuntimeError(f"database down for {PATIENT}")

    monkeypatch.setattr(app.state.registry, "document_entries_by_unique_id", broken)

    with caplog.at_level(logging.INFO, logger="xcads"):
        reply = post(client, envelope(RETRIEVE, retrieve((HOME, REPOSITORY, "2.25.1"))))

    assert reply.status_code == 500
    assert fault_code(reply)[0] == "env:Receiver"
    assert "xca.failed" in caplog.text
    assert "13116900216" not in "".join(
        r.getMessage() for r in caplog.records if r.levelno >= logging.INFO
    )


# --- Over a socket -----------------------------------------------------------------------------


@pytest.fixture
def served(app) -> Iterator[str]:
    with threaded_uvicorn(app) as url:
        yield url


def test_mtom_retrieve_over_a_real_socket_streams_large_documents(app, served):
    data = bytes(range(256)) * 4096 * 3
    entry = store_document(app, data, mime_type="application/octet-stream")
    body, content_type = as_mtom(envelope(RETRIEVE, retrieve((HOME, REPOSITORY, entry.unique_id))))

    with httpx.Client(base_url=served, timeout=30) as http:
        reply = http.post(URL, content=body, headers={"Content-Type": content_type})

    assert reply.status_code == 200
    assert "content-length" not in reply.headers
    _, documents = retrieved(reply)
    assert documents[entry.unique_id] == ("application/octet-stream", data)
