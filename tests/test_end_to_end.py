"""The main job through a real `xcads serve` process: ITI-65 in, ITI-38 and ITI-39 out."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from bundles import Document, encode, provide_bundle, sha1_base64
from lxml import etree
from servers import HOME, PERSON_ID_AUTHORITY, REPOSITORY, SOAP, Server
from soap_messages import (
    GET_DOCUMENTS,
    NS,
    adhoc_query,
    as_mtom,
    envelope,
    find_documents,
    retrieve,
    split_multipart,
)


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    yield running
    running.stop()


def patient() -> str:
    return str(uuid.uuid4().int)[:11]


def patient_cx(patient_id: str) -> str:
    return f"{patient_id}^^^&{PERSON_ID_AUTHORITY}&ISO"


def submit(server: Server, bundle: dict) -> httpx.Response:
    return server.http.post(
        "/fhir", content=encode(bundle), headers={"Content-Type": "application/fhir+json"}
    )


def soap(server: Server, message: str) -> etree._Element:
    response = server.http.post(
        "/XCA/services/RespondingGatewayService", content=message, headers={"Content-Type": SOAP}
    )
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content)


def query(server: Server, patient_id: str, return_type: str = "LeafClass") -> etree._Element:
    return soap(server, find_documents(patient_cx(patient_id), return_type))


def slot(element: etree._Element, name: str) -> list[str]:
    return element.xpath(f"rim:Slot[@name='{name}']/rim:ValueList/rim:Value/text()", namespaces=NS)


def stored_files(server: Server) -> list[Path]:
    return [path for path in (server.data_dir / "documents").rglob("*") if path.is_file()]


def error_codes(root: etree._Element) -> list[str]:
    return root.xpath("//rs:RegistryError/@errorCode", namespaces=NS)


def outcome_codes(response: httpx.Response) -> list[str]:
    assert response.json()["resourceType"] == "OperationOutcome"
    return [
        coding["code"]
        for issue in response.json()["issue"]
        for coding in issue.get("details", {}).get("coding", [])
    ]


def test_every_endpoint_url_is_logged_and_health_answers(server):
    assert server.endpoints["ITI-65 Provide Document Bundle"].endswith("/fhir")
    assert server.http.get("/health").status_code == 200


def test_submitted_document_is_found_and_retrieved_byte_for_byte(server):
    patient_id = patient()
    data = "Epikrise for KARI TESTESEN – øæå".encode()
    document = Document(data, stated_hash=sha1_base64(data), stated_size=len(data))

    response = submit(server, provide_bundle(patient_id, [document]))

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["type"] == "transaction-response"
    assert [entry["response"]["status"][:3] for entry in result["entry"]] == ["201"] * 4
    assert all(entry["response"].get("location") for entry in result["entry"])

    leaf = query(server, patient_id)
    assert leaf.xpath("//query:AdhocQueryResponse/@status", namespaces=NS) == [
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    ]
    (extrinsic,) = leaf.xpath("//rim:ExtrinsicObject", namespaces=NS)
    assert extrinsic.get("home") == HOME
    assert extrinsic.get("mimeType") == "text/plain"
    assert slot(extrinsic, "repositoryUniqueId") == [REPOSITORY]
    assert slot(extrinsic, "size") == [str(len(data))]
    assert slot(extrinsic, "hash") == [hashlib.sha1(data).hexdigest()]
    unique_ids = extrinsic.xpath(
        "rim:ExternalIdentifier[@identificationScheme="
        "'urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab']/@value",
        namespaces=NS,
    )
    assert unique_ids == [document.unique_id]

    refs = query(server, patient_id, "ObjectRef")
    (ref,) = refs.xpath("//rim:ObjectRef", namespaces=NS)
    assert ref.get("id") == extrinsic.get("id")
    assert ref.get("home") == HOME

    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=retrieve([(HOME, REPOSITORY, document.unique_id)]),
        headers={"Content-Type": SOAP},
    )
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("multipart/related")
    parts = split_multipart(reply.headers["content-type"], reply.content)
    root = etree.fromstring(parts[0].data)
    (response_part,) = root.xpath("//xds:DocumentResponse", namespaces=NS)
    assert response_part.findtext("xds:DocumentUniqueId", namespaces=NS) == document.unique_id
    assert response_part.findtext("xds:mimeType", namespaces=NS) == "text/plain"
    assert response_part.findtext("xds:HomeCommunityId", namespaces=NS) == HOME
    assert response_part.findtext("xds:RepositoryUniqueId", namespaces=NS) == REPOSITORY
    href = response_part.xpath("xds:Document/xop:Include/@href", namespaces=NS)[0]
    (document_part,) = [part for part in parts if f"cid:{part.content_id}" == href]
    assert document_part.data == data


def test_retrieve_as_mtom_request_without_urn_oid_prefix(server):
    patient_id = patient()
    data = b"%PDF-1.7 synthetic"
    document = Document(data, content_type="application/pdf")
    assert submit(server, provide_bundle(patient_id, [document])).status_code == 200

    action = "urn:ihe:iti:2007:CrossGatewayRetrieve"
    body, content_type = as_mtom(
        retrieve([(HOME.removeprefix("urn:oid:"), REPOSITORY, document.unique_id)]), action
    )
    reply = server.http.post(
        "/xca/services/respondinggatewayservice",
        content=body,
        headers={"Content-Type": content_type},
    )

    assert reply.status_code == 200, reply.text
    parts = split_multipart(reply.headers["content-type"], reply.content)
    assert [part.data for part in parts[1:]] == [data]
    assert parts[1].content_type == "application/pdf"


def test_retrieve_of_several_documents_with_one_missing_is_partial_success(server):
    patient_id = patient()
    first, second = Document(b"first"), Document(b"second")
    assert submit(server, provide_bundle(patient_id, [first, second])).status_code == 200

    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=retrieve(
            [
                (HOME, REPOSITORY, first.unique_id),
                (HOME, REPOSITORY, "urn:uuid:00000000-0000-0000-0000-000000000000"),
                (HOME, REPOSITORY, second.unique_id),
            ]
        ),
        headers={"Content-Type": SOAP},
    )

    parts = split_multipart(reply.headers["content-type"], reply.content)
    root = etree.fromstring(parts[0].data)
    assert root.xpath("//rs:RegistryResponse/@status", namespaces=NS) == [
        "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
    ]
    assert error_codes(root) == ["XDSDocumentUniqueIdError"]
    assert sorted(part.data for part in parts[1:]) == [b"first", b"second"]


@pytest.mark.parametrize(
    ("home", "repository", "code"),
    [
        (HOME, REPOSITORY, "XDSDocumentUniqueIdError"),
        (HOME, "1.2.3.4.5", "XDSUnknownRepositoryId"),
        ("urn:oid:1.2.3.4.5", REPOSITORY, "XDSUnknownCommunity"),
    ],
)
def test_retrieve_failure_names_the_error(server, home, repository, code):
    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=retrieve([(home, repository, "1.2.3.999")]),
        headers={"Content-Type": SOAP},
    )

    assert reply.status_code == 200
    content_type = reply.headers["content-type"]
    if content_type.startswith("multipart/related"):
        root = etree.fromstring(split_multipart(content_type, reply.content)[0].data)
    else:
        root = etree.fromstring(reply.content)
    assert root.xpath("//rs:RegistryResponse/@status", namespaces=NS) == [
        "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    ]
    assert error_codes(root) == [code]


def test_get_documents_by_unique_id(server):
    patient_id = patient()
    document = Document(b"get me")
    assert submit(server, provide_bundle(patient_id, [document])).status_code == 200

    message = envelope(
        "urn:ihe:iti:2007:CrossGatewayQuery",
        adhoc_query(
            GET_DOCUMENTS,
            {
                "$XDSDocumentEntryUniqueId": [f"('{document.unique_id}')"],
                "$homeCommunityId": [f"'{HOME}'"],
            },
        ),
    )
    root = soap(server, message)

    (extrinsic,) = root.xpath("//rim:ExtrinsicObject", namespaces=NS)
    assert extrinsic.get("home") == HOME


def test_stated_hash_that_does_not_match_stores_nothing(server):
    patient_id = patient()
    document = Document(b"real bytes", stated_hash=sha1_base64(b"other bytes"))

    response = submit(server, provide_bundle(patient_id, [document]))

    assert 400 <= response.status_code < 500
    assert "XDSRepositoryMetadataError" in outcome_codes(response)
    expressions = [e for issue in response.json()["issue"] for e in issue.get("expression", [])]
    assert any(expression.endswith("attachment.hash") for expression in expressions)
    assert query(server, patient_id).xpath("//rim:ExtrinsicObject", namespaces=NS) == []
    assert stored_files(server) == []


def test_stated_size_that_does_not_match_stores_nothing(server):
    patient_id = patient()
    document = Document(b"real bytes", stated_size=3)

    response = submit(server, provide_bundle(patient_id, [document]))

    assert 400 <= response.status_code < 500
    assert "XDSRepositoryMetadataError" in outcome_codes(response)
    assert query(server, patient_id).xpath("//rim:ExtrinsicObject", namespaces=NS) == []
    assert stored_files(server) == []


def test_documents_of_another_patient_store_nothing(server):
    patient_id = patient()

    response = submit(
        server, provide_bundle(patient_id, [Document(b"x")], document_patient_id=patient())
    )

    assert 400 <= response.status_code < 500
    assert "XDSPatientIdDoesNotMatch" in outcome_codes(response)
    assert query(server, patient_id).xpath("//rim:ExtrinsicObject", namespaces=NS) == []
    assert stored_files(server) == []


def test_unique_id_with_other_bytes_is_refused_and_the_first_document_survives(server):
    patient_id = patient()
    first = Document(b"first version")
    assert submit(server, provide_bundle(patient_id, [first])).status_code == 200

    again = Document(b"second version", unique_id=first.unique_id)
    response = submit(server, provide_bundle(patient_id, [again]))

    assert 400 <= response.status_code < 500
    assert "XDSNonIdenticalHash" in outcome_codes(response)
    reply = server.http.post(
        "/XCA/services/RespondingGatewayService",
        content=retrieve([(HOME, REPOSITORY, first.unique_id)]),
        headers={"Content-Type": SOAP},
    )
    parts = split_multipart(reply.headers["content-type"], reply.content)
    assert [part.data for part in parts[1:]] == [b"first version"]


def test_soap_faults_instead_of_bare_errors(server):
    url = "/XCA/services/RespondingGatewayService"
    cases = [
        envelope("urn:ihe:iti:2007:Unknown", "<x/>"),
        "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Body>",
        envelope("urn:ihe:iti:2007:CrossGatewayQuery", "<x:Wrong xmlns:x='urn:x'/>"),
    ]
    for message in cases:
        reply = server.http.post(url, content=message, headers={"Content-Type": SOAP})
        assert reply.status_code in (400, 500), message
        root = etree.fromstring(reply.content)
        assert root.xpath("/s:Envelope/s:Body/s:Fault", namespaces=NS), reply.text


def test_data_survives_a_restart(tmp_path):
    patient_id = patient()
    document = Document(b"still here")
    first = Server(tmp_path / "data")
    try:
        assert submit(first, provide_bundle(patient_id, [document])).status_code == 200
    finally:
        first.stop()

    second = Server(tmp_path / "data")
    try:
        (extrinsic,) = query(second, patient_id).xpath("//rim:ExtrinsicObject", namespaces=NS)
        assert slot(extrinsic, "size") == [str(len(b"still here"))]
    finally:
        second.stop()


def test_reply_carries_response_action_and_relates_to_the_request(server):
    message_id = f"urn:uuid:{uuid.uuid4()}"
    message = envelope(
        "urn:ihe:iti:2007:CrossGatewayQuery",
        adhoc_query(GET_DOCUMENTS, {"$XDSDocumentEntryUniqueId": ["('1.2.3')"]}),
        message_id=message_id,
    )

    root = soap(server, message)

    assert root.xpath("//a:Action/text()", namespaces=NS) == [
        "urn:ihe:iti:2007:CrossGatewayQueryResponse"
    ]
    assert root.xpath("//a:RelatesTo/text()", namespaces=NS) == [message_id]
