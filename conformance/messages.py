"""SOAP 1.2 requests the plans send, and the answers read back (plain SOAP or MTOM/XOP)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import uuid
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "s11": "http://schemas.xmlsoap.org/soap/envelope/",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "query": "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0",
    "rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0",
    "rs": "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0",
    "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0",
    "xds": "urn:ihe:iti:xds-b:2007",
    "rmd": "urn:ihe:iti:rmd:2017",
    "xop": "http://www.w3.org/2004/08/xop/include",
}
STORED_QUERIES = {
    "FindDocuments": "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d",
    "FindDocumentsByReferenceId": "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492",
    "FindSubmissionSets": "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9",
    "FindFolders": "urn:uuid:958f3006-baad-4929-a4de-ff1114824431",
    "GetAll": "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3",
    "GetDocuments": "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4",
    "GetFolders": "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4",
    "GetAssociations": "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155",
    "GetDocumentsAndAssociations": "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a",
    "GetSubmissionSets": "urn:uuid:51224314-5390-4169-9b91-b1980040715a",
    "GetSubmissionSetAndContents": "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83",
    "GetFolderAndContents": "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7",
    "GetFoldersForDocument": "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578",
    "GetRelatedDocuments": "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6",
}
# A hostile or broken target must not make the runner resolve entities or fetch DTDs.
PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


class GarbageAnswer(ValueError):
    """An answer that is not the SOAP or MTOM message it claims to be."""


@dataclass(frozen=True)
class Part:
    """One MIME part of a multipart/related message."""

    content_id: str
    content_type: str
    data: bytes


def envelope(action: str, body: str, message_id: str, reply_to: str = ANONYMOUS) -> str:
    """Wrap a body in a SOAP 1.2 envelope with the WS-Addressing headers of ITI TF-2x V.3."""
    return (
        f'<s:Envelope xmlns:s="{NS["s"]}" xmlns:wsa="{NS["wsa"]}"><s:Header>'
        f'<wsa:Action s:mustUnderstand="1">{escape(action)}</wsa:Action>'
        f"<wsa:MessageID>{escape(message_id)}</wsa:MessageID>"
        f"<wsa:ReplyTo><wsa:Address>{escape(reply_to)}</wsa:Address></wsa:ReplyTo>"
        f"</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    )


def adhoc_query(
    query: str, return_type: str, parameters: dict[str, list[str]], home: str | None
) -> str:
    """An AdhocQueryRequest (ITI-18, ITI-38); `query` is a stored query name or its id."""
    query_id = STORED_QUERIES.get(query, query)
    slots = "".join(
        f"<rim:Slot name={quoteattr(name)}><rim:ValueList>"
        + "".join(f"<rim:Value>{escape(value)}</rim:Value>" for value in values)
        + "</rim:ValueList></rim:Slot>"
        for name, values in parameters.items()
    )
    home_attribute = f" home={quoteattr(home)}" if home else ""
    return (
        f'<query:AdhocQueryRequest xmlns:query="{NS["query"]}" xmlns:rim="{NS["rim"]}">'
        f"<query:ResponseOption returnType={quoteattr(return_type)}"
        ' returnComposedObjects="true"/>'
        f"<rim:AdhocQuery id={quoteattr(query_id)}{home_attribute}>{slots}</rim:AdhocQuery>"
        "</query:AdhocQueryRequest>"
    )


def document_requests(element: str, documents: list[dict[str, str]]) -> str:
    """A RetrieveDocumentSetRequest (ITI-39, ITI-43) or RemoveDocumentsRequest (ITI-86)."""
    items = []
    for document in documents:
        home = document.get("home")
        home_xml = f"<xds:HomeCommunityId>{escape(home)}</xds:HomeCommunityId>" if home else ""
        items.append(
            f"<xds:DocumentRequest>{home_xml}"
            f"<xds:RepositoryUniqueId>{escape(document['repository'])}</xds:RepositoryUniqueId>"
            f"<xds:DocumentUniqueId>{escape(document['unique_id'])}</xds:DocumentUniqueId>"
            "</xds:DocumentRequest>"
        )
    prefix = "rmd" if element == "RemoveDocumentsRequest" else "xds"
    return (
        f'<{prefix}:{element} xmlns:xds="{NS["xds"]}" xmlns:rmd="{NS["rmd"]}">'
        f"{''.join(items)}</{prefix}:{element}>"
    )


def remove_objects(references: list[str]) -> str:
    """An ITI-62 RemoveObjectsRequest naming objects by entryUUID."""
    refs = "".join(f"<rim:ObjectRef id={quoteattr(ref)}/>" for ref in references)
    return (
        f'<lcm:RemoveObjectsRequest xmlns:lcm="{NS["lcm"]}" xmlns:rim="{NS["rim"]}">'
        f"<rim:ObjectRefList>{refs}</rim:ObjectRefList></lcm:RemoveObjectsRequest>"
    )


def as_mtom(message: str, action: str) -> tuple[bytes, str]:
    """Send inline base64 xds:Document contents as MTOM/XOP parts (ITI TF-2b 3.41.4.1.2)."""
    root = etree.fromstring(message.encode(), PARSER)
    parts = []
    for document in root.iterfind(".//xds:Document", NS):
        content_id = f"{uuid.uuid4().hex}@conformance"
        parts.append((content_id, base64.b64decode(document.text or "")))
        document.text = None
        include = etree.SubElement(document, f"{{{NS['xop']}}}Include")
        include.set("href", f"cid:{content_id}")
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
    chunks = [
        f"--{boundary}\r\n"
        'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        "Content-Transfer-Encoding: binary\r\nContent-ID: <root@conformance>\r\n\r\n".encode()
        + etree.tostring(root)
    ]
    for content_id, data in parts:
        chunks.append(
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n".encode()
            + data
        )
    body = b"".join(chunks) + f"\r\n--{boundary}--\r\n".encode()
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml";'
        f' start="<root@conformance>"; start-info="application/soap+xml"; action="{action}"'
    )
    return body, content_type


def split_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/related body, root first."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise GarbageAnswer("multipart/related answer without parts")
    parts = [
        Part(
            (part.get("Content-ID") or "").strip().strip("<>"),
            part.get_content_type(),
            part.get_payload(decode=True) or b"",
        )
        for part in message.iter_parts()
    ]
    if not parts:
        raise GarbageAnswer("multipart/related answer without parts")
    start = message.get_param("start")
    if start:
        start = start.strip("<>")
        parts.sort(key=lambda part: part.content_id != start)
    return parts


def read_soap(content_type: str, body: bytes) -> etree._Element:
    """The SOAP envelope of an answer, each xop:Include replaced by its part's base64 text."""
    if not body:
        raise GarbageAnswer("empty answer")
    parts = (
        split_multipart(content_type, body)
        if content_type.lower().startswith("multipart/")
        else [Part("", content_type, body)]
    )
    try:
        root = etree.fromstring(parts[0].data, PARSER)
    except etree.XMLSyntaxError as exc:
        raise GarbageAnswer(f"answer is not well-formed XML: {exc}") from exc
    # A SOAP 1.2 node answers a SOAP 1.1 request with a SOAP 1.1 VersionMismatch Fault.
    if root.tag not in (f"{{{NS['s']}}}Envelope", f"{{{NS['s11']}}}Envelope"):
        raise GarbageAnswer(f"answer is not a SOAP Envelope but {root.tag}")
    by_id = {part.content_id: part for part in parts[1:]}
    for include in root.iterfind(".//xop:Include", NS):
        content_id = include.get("href", "").removeprefix("cid:")
        part = by_id.get(content_id) or by_id.get(unquote(content_id))
        if part is None:
            raise GarbageAnswer(f"xop:Include names no part: {include.get('href')}")
        parent = include.getparent()
        parent.remove(include)
        parent.text = base64.b64encode(part.data).decode()
    return root
