"""SOAP request texts shaped like the national XCA initiating gateway's, for tests."""

from __future__ import annotations

import email.parser
import email.policy
import uuid
from dataclasses import dataclass

FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://www.w3.org/2005/08/addressing",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "xds": "urn:ihe:iti:xds-b:2007",
    "xop": "http://www.w3.org/2004/08/xop/include",
}


def envelope(action: str, body: str, message_id: str | None = None) -> str:
    """Wrap a body in a SOAP 1.2 envelope with WS-Addressing headers."""
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://www.w3.org/2005/08/addressing"><s:Header>'
        f'<a:Action s:mustUnderstand="1">{action}</a:Action>'
        f"<a:MessageID>{message_id}</a:MessageID>"
        "<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address>"
        "</a:ReplyTo>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def adhoc_query(query_id: str, slots: dict[str, list[str]], return_type: str = "LeafClass") -> str:
    """An ITI-38 AdhocQueryRequest body."""
    slot_xml = "".join(
        f'<Slot name="{name}"><ValueList>'
        + "".join(f"<Value>{value}</Value>" for value in values)
        + "</ValueList></Slot>"
        for name, values in slots.items()
    )
    return (
        '<AdhocQueryRequest xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0">'
        f'<ResponseOption returnType="{return_type}" returnComposedObjects="true"/>'
        f'<AdhocQuery xmlns="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="{query_id}">'
        f"{slot_xml}</AdhocQuery></AdhocQueryRequest>"
    )


def find_documents(patient_cx: str, return_type: str = "LeafClass") -> str:
    """An ITI-38 FindDocuments request for Approved documents of one patient."""
    xml_cx = patient_cx.replace("&", "&amp;")
    body = adhoc_query(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": [f"'{xml_cx}'"],
            "$XDSDocumentEntryStatus": [f"('{APPROVED}')"],
        },
        return_type,
    )
    return envelope("urn:ihe:iti:2007:CrossGatewayQuery", body)


def retrieve(requests: list[tuple[str, str, str]]) -> str:
    """An ITI-39 request for (homeCommunityId, repositoryUniqueId, documentUniqueId) triples."""
    body = "".join(
        "<xds:DocumentRequest>"
        f"<xds:HomeCommunityId>{home}</xds:HomeCommunityId>"
        f"<xds:RepositoryUniqueId>{repository}</xds:RepositoryUniqueId>"
        f"<xds:DocumentUniqueId>{document}</xds:DocumentUniqueId>"
        "</xds:DocumentRequest>"
        for home, repository, document in requests
    )
    return envelope(
        "urn:ihe:iti:2007:CrossGatewayRetrieve",
        f'<xds:RetrieveDocumentSetRequest xmlns:xds="urn:ihe:iti:xds-b:2007">{body}'
        "</xds:RetrieveDocumentSetRequest>",
    )


def as_mtom(soap: str, action: str) -> tuple[bytes, str]:
    """Package a SOAP envelope as an MTOM/XOP multipart/related body, Axis2 style."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    start = f"<0.{uuid.uuid4().hex}@apache.org>"
    body = (
        f"--{boundary}\r\n"
        'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: {start}\r\n\r\n"
        f'<?xml version="1.0" encoding="UTF-8"?>{soap}\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
        f'start="{start}"; start-info="application/soap+xml"; action="{action}"'
    )
    return body, content_type


@dataclass
class Part:
    """One MIME part of a multipart/related response."""

    content_id: str
    content_type: str
    data: bytes


def split_multipart(content_type: str, body: bytes) -> list[Part]:
    """Split a multipart/related body with the standard library's MIME parser."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    assert message.is_multipart(), "response is not multipart"
    return [
        Part(
            content_id=(part["Content-ID"] or "").strip("<>"),
            content_type=part.get_content_type(),
            data=part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    ]
