"""Helpers for the repository endpoint tests: ITI-41, ITI-43 and ITI-86 requests, and replies."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import quoteattr

import httpx
from lxml import etree
from soap_messages import NS, envelope

from gateway.mtom import parse_multipart, resolve_xop

URL = "/Repository/services/RepositoryService"
SOAP = "application/soap+xml; charset=utf-8"
PROVIDE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"
REMOVE = "urn:ihe:iti:2017:RemoveDocuments"
RMD = "urn:ihe:iti:rmd:2017"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
SCHEMAS = Path(__file__).resolve().parents[1] / "gateway" / "schemas"
NAMESPACES = {**NS, "rmd": RMD, "lcm": "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"}


def provide_envelope(
    submit_objects: str, documents: list[tuple[str, bytes]], *, inline: bool = False
) -> tuple[bytes, dict[str, bytes]]:
    """An ITI-41 envelope and, unless the documents are inline base64, its MTOM parts.

    `documents` lists each xds:Document's id (its ExtrinsicObject's id) and bytes.
    """
    content_ids = [f"{uuid.uuid4().hex}@document" for _ in documents]
    elements = "".join(
        f"<xds:Document id={quoteattr(document_id)}>"
        + (base64.b64encode(data).decode() if inline else f'<xop:Include href="cid:{cid}"/>')
        + "</xds:Document>"
        for cid, (document_id, data) in zip(content_ids, documents, strict=True)
    )
    body = (
        f'<xds:ProvideAndRegisterDocumentSetRequest xmlns:xds="{NS["xds"]}"'
        f' xmlns:xop="{NS["xop"]}">{submit_objects}{elements}'
        "</xds:ProvideAndRegisterDocumentSetRequest>"
    )
    parts = {} if inline else dict(zip(content_ids, (data for _, data in documents), strict=True))
    return envelope(PROVIDE, body).encode(), parts


def provide_request(
    submit_objects: str, documents: list[tuple[str, bytes]], *, inline: bool = False
) -> tuple[bytes, str]:
    """An ITI-41 request: MTOM with one part per document, or plain SOAP with base64 inline."""
    message, parts = provide_envelope(submit_objects, documents, inline=inline)
    return (message, SOAP) if inline else mtom(message, parts)


def mtom(
    message: bytes,
    parts: dict[str, bytes],
    *,
    start: bool = True,
    brackets: bool = True,
    action: str | None = None,
) -> tuple[bytes, str]:
    """A multipart/related MTOM body: the envelope first, then each part by Content-ID."""
    boundary = f"MIMEBoundary_{uuid.uuid4().hex}"

    def content_id(value: str) -> str:
        return f"<{value}>" if brackets else value

    chunks = [
        f"--{boundary}\r\n"
        'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml"\r\n'
        "Content-Transfer-Encoding: binary\r\n"
        f"Content-ID: {content_id('root@test')}\r\n\r\n".encode()
        + message
    ]
    for cid, data in parts.items():
        chunks.append(
            f"\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Transfer-Encoding: binary\r\nContent-ID: {content_id(cid)}\r\n\r\n".encode()
            + data
        )
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="application/xop+xml";'
        ' start-info="application/soap+xml"'
    )
    if start:
        content_type += '; start="<root@test>"'
    if action:
        content_type += f'; action="{action}"'
    return b"".join(chunks), content_type


def document_requests(element: str, requests: list[tuple[str, str]], home: str = "") -> str:
    """A RetrieveDocumentSetRequest or RemoveDocumentsRequest of (repository, uniqueId) pairs."""
    home_xml = f"<xds:HomeCommunityId>{home}</xds:HomeCommunityId>" if home else ""
    items = "".join(
        f"<xds:DocumentRequest>{home_xml}"
        f"<xds:RepositoryUniqueId>{repository}</xds:RepositoryUniqueId>"
        f"<xds:DocumentUniqueId>{unique_id}</xds:DocumentUniqueId></xds:DocumentRequest>"
        for repository, unique_id in requests
    )
    prefix = "rmd" if element == "RemoveDocumentsRequest" else "xds"
    return (
        f'<{prefix}:{element} xmlns:xds="{NS["xds"]}" xmlns:rmd="{RMD}">'
        f"{items}</{prefix}:{element}>"
    )


def retrieve_request(requests: list[tuple[str, str]], home: str = "") -> bytes:
    """An ITI-43 request for (repositoryUniqueId, documentUniqueId) pairs."""
    return envelope(
        RETRIEVE, document_requests("RetrieveDocumentSetRequest", requests, home)
    ).encode()


def remove_request(requests: list[tuple[str, str]]) -> bytes:
    """An ITI-86 request for (repositoryUniqueId, documentUniqueId) pairs."""
    return envelope(REMOVE, document_requests("RemoveDocumentsRequest", requests)).encode()


def post(client, message: bytes, content_type: str = SOAP, url: str = URL) -> httpx.Response:
    """POST a SOAP request."""
    return client.post(url, content=message, headers={"Content-Type": content_type})


@dataclass
class Reply:
    """A SOAP reply read: envelope, body element, and retrieved documents by uniqueId."""

    root: etree._Element
    body: etree._Element
    documents: dict[str, tuple[str, bytes]]

    @property
    def status(self) -> str:
        """The RegistryResponse status."""
        (value,) = self.body.xpath("./@status | rs:RegistryResponse/@status", namespaces=NS)
        return value

    @property
    def errors(self) -> list[tuple[str, str]]:
        """(errorCode, location) of every RegistryError."""
        return [
            (error.get("errorCode"), error.get("location", ""))
            for error in self.body.iterfind(".//rs:RegistryError", NS)
        ]

    @property
    def action(self) -> str:
        """The response's wsa:Action."""
        return self.root.findtext("s:Header/a:Action", namespaces=NS)


def read_reply(reply: httpx.Response) -> Reply:
    """Read a plain or MTOM reply; documents come from the parts their xop:Include names."""
    content_type = reply.headers["content-type"]
    documents: dict[str, tuple[str, bytes]] = {}
    if not content_type.startswith("multipart/related"):
        root = etree.fromstring(reply.content)
        return Reply(root, root.find("s:Body", NS)[0], documents)

    package = parse_multipart(reply.content, content_type)
    root = etree.fromstring(package.root.data)
    for response in root.iterfind(".//xds:DocumentResponse", NS):
        href = response.find("xds:Document/xop:Include", NS).get("href")
        part = package.parts[href.removeprefix("cid:")]
        unique_id = response.findtext("xds:DocumentUniqueId", namespaces=NS)
        documents[unique_id] = (response.findtext("xds:mimeType", namespaces=NS), part.data)
    resolve_xop(root, package.parts)
    return Reply(root, root.find("s:Body", NS)[0], documents)


_SCHEMA: list[etree.XMLSchema] = []


def assert_schema_valid(element: etree._Element) -> None:
    """Assert an element (XOP resolved) is valid against the ebRS 3.0 / XDS.b / RMD schemas."""
    if not _SCHEMA:
        _SCHEMA.append(etree.XMLSchema(etree.parse(str(SCHEMAS / "rmd.xsd"))))
    document = etree.fromstring(etree.tostring(element))
    assert _SCHEMA[0].validate(document), _SCHEMA[0].error_log
