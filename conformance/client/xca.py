"""ITI-38 Cross Gateway Query and ITI-39 Cross Gateway Retrieve, as an initiating gateway."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import mimetypes
import os
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from lxml import etree

from conformance.client.soap import SoapAnswer, exchange, request_envelope
from conformance.client.transport import EXIT_USAGE, ClientError
from gateway.mtom import MtomMessage, normalize_content_id
from gateway.soap import content_type
from registry.ebrim.objects import document_entry_from_rim
from registry.ebrim.response import parse_registry_errors
from registry.ebrim.retrieve import DocumentRequest
from registry.ebrim.xml import QUERY, RIM, RS, XDS, XOP, qname, text_of
from registry.errors import Severity, XdsError
from registry.metadata import DocumentEntry

log = logging.getLogger("xcads.client")

CROSS_GATEWAY_QUERY = "urn:ihe:iti:2007:CrossGatewayQuery"
CROSS_GATEWAY_RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
STATUS_TYPE = "urn:oasis:names:tc:ebxml-regrep:StatusType:"
# The Norwegian national identity number (fødselsnummer) assigning authority.
NORWEGIAN_PERSON_ID = "2.16.578.1.12.4.1.4.1"
CHUNK_SIZE = 64 * 1024


@dataclass(frozen=True)
class RegistryError:
    """One rs:RegistryError of an answer."""

    code: str
    context: str
    location: str
    severity: str

    @property
    def is_error(self) -> bool:
        """Whether it is an Error rather than a Warning."""
        return not self.severity.endswith("Warning")


@dataclass
class FindDocuments:
    """The parameters of a FindDocuments stored query (ITI TF-2 3.18.4.1.2.3.7.1)."""

    patient_id: str
    statuses: list[str] = field(default_factory=lambda: [STATUS_TYPE + "Approved"])
    class_codes: list[str] = field(default_factory=list)
    return_type: str = "LeafClass"
    home_community_id: str | None = None


@dataclass
class QueryAnswer:
    """What an ITI-38 answer said: status, errors, and the DocumentEntries or ObjectRefs."""

    xml: bytes
    status: str
    errors: list[RegistryError]
    entries: list[DocumentEntry] = field(default_factory=list)
    object_refs: list[tuple[str, str]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetrievedDocument:
    """One document of an ITI-39 answer, saved to `path`."""

    unique_id: str
    repository_unique_id: str
    home_community_id: str | None
    mime_type: str
    size: int
    sha1: str
    path: Path


@dataclass
class RetrieveAnswer:
    """What an ITI-39 answer said: status, errors and the documents saved."""

    xml: bytes
    status: str
    errors: list[RegistryError]
    documents: list[RetrievedDocument] = field(default_factory=list)


def patient_cx(patient: str, authority: str = NORWEGIAN_PERSON_ID) -> str:
    """Return a patient id as CX: given as `id^^^&oid&ISO` it stays, a bare id gets `authority`."""
    patient = patient.strip()
    if "^" in patient:
        return patient
    if not patient:
        raise ClientError("the patient id is empty", EXIT_USAGE)
    return f"{patient}^^^&{authority.removeprefix('urn:oid:')}&ISO"


def status_urn(status: str) -> str:
    """Return an availabilityStatus as its URN; `Approved` stands for the full StatusType URN."""
    return status if status.startswith("urn:") else STATUS_TYPE + status


def coded_value(value: str) -> str:
    """Check a code given as `code^^codingScheme`, the form stored queries take."""
    code, _, scheme = value.partition("^^")
    if not code or not scheme:
        raise ClientError(f"{value!r}: give a code as code^^codingScheme", EXIT_USAGE)
    return value


def query_value_list(values: Iterable[str]) -> str:
    """Return values as an ebRS query list `('a','b')`, doubling single quotes inside values."""
    return "(" + ",".join(_quoted(value) for value in values) + ")"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def find_documents_request(query: FindDocuments) -> etree._Element:
    """Return the query:AdhocQueryRequest of a FindDocuments query."""
    request = etree.Element(qname(QUERY, "AdhocQueryRequest"), nsmap={None: QUERY})
    etree.SubElement(
        request,
        qname(QUERY, "ResponseOption"),
        returnType=query.return_type,
        returnComposedObjects="true",
    )
    adhoc = etree.SubElement(request, qname(RIM, "AdhocQuery"), nsmap={None: RIM})
    adhoc.set("id", FIND_DOCUMENTS)
    if query.home_community_id:
        adhoc.set("home", query.home_community_id)

    slots = [("$XDSDocumentEntryPatientId", _quoted(query.patient_id))]
    slots.append(("$XDSDocumentEntryStatus", query_value_list(query.statuses)))
    if query.class_codes:
        slots.append(("$XDSDocumentEntryClassCode", query_value_list(query.class_codes)))
    for name, value in slots:
        slot = etree.SubElement(adhoc, qname(RIM, "Slot"), name=name)
        value_list = etree.SubElement(slot, qname(RIM, "ValueList"))
        etree.SubElement(value_list, qname(RIM, "Value")).text = value
    return request


def cross_gateway_query(
    client: httpx.Client,
    url: str,
    query: FindDocuments,
    assertion: etree._Element | None = None,
) -> QueryAnswer:
    """Send an ITI-38 FindDocuments query and read its answer."""
    started = time.perf_counter()
    envelope = request_envelope(
        find_documents_request(query), action=CROSS_GATEWAY_QUERY, to=url, assertion=assertion
    )
    answer = exchange(client, url, envelope, content_type(CROSS_GATEWAY_QUERY))
    try:
        result = read_query_answer(url, answer)
    finally:
        answer.close()
    log.debug(
        "client.iti38 status=%s documents=%d refs=%d errors=%d ms=%.1f",
        result.status.rsplit(":", 1)[-1],
        len(result.entries),
        len(result.object_refs),
        len(result.errors),
        (time.perf_counter() - started) * 1000,
    )
    return result


def read_query_answer(url: str, answer: SoapAnswer) -> QueryAnswer:
    """Read a query:AdhocQueryResponse."""
    body = answer.body
    if body.tag != qname(QUERY, "AdhocQueryResponse"):
        raise ClientError(f"{url}: expected AdhocQueryResponse, got {etree.QName(body).localname}")

    result = QueryAnswer(
        xml=answer.xml, status=body.get("status", ""), errors=registry_errors(body)
    )
    objects = body.find(qname(RIM, "RegistryObjectList"))
    for element in () if objects is None else objects:
        if element.tag == qname(RIM, "ExtrinsicObject"):
            try:
                result.entries.append(document_entry_from_rim(element))
            except XdsError as error:
                messages = "; ".join(issue.message for issue in error.issues)
                result.unreadable.append(f"{element.get('id', '?')}: {messages}")
        elif element.tag == qname(RIM, "ObjectRef"):
            result.object_refs.append((element.get("id", ""), element.get("home", "")))
    return result


def registry_errors(element: etree._Element) -> list[RegistryError]:
    """Return every rs:RegistryError under an answer element."""
    return [RegistryError(*fields) for fields in parse_registry_errors(element)]


def retrieve_document_set_request(requests: list[DocumentRequest]) -> etree._Element:
    """Return the xds:RetrieveDocumentSetRequest naming each document."""
    element = etree.Element(qname(XDS, "RetrieveDocumentSetRequest"), nsmap={"xds": XDS})
    for request in requests:
        item = etree.SubElement(element, qname(XDS, "DocumentRequest"))
        if request.home_community_id:
            etree.SubElement(item, qname(XDS, "HomeCommunityId")).text = request.home_community_id
        etree.SubElement(item, qname(XDS, "RepositoryUniqueId")).text = request.repository_unique_id
        etree.SubElement(item, qname(XDS, "DocumentUniqueId")).text = request.document_unique_id
    return element


def cross_gateway_retrieve(
    client: httpx.Client,
    url: str,
    requests: list[DocumentRequest],
    out: Path | None,
    assertion: etree._Element | None = None,
) -> RetrieveAnswer:
    """Send an ITI-39 request as MTOM and save each document of the answer.

    With one document requested, `out` is the file to write (or a folder to write it in); with
    several, a folder. Documents pass from the answer to their files chunk by chunk.
    """
    started = time.perf_counter()
    envelope = request_envelope(
        retrieve_document_set_request(requests),
        action=CROSS_GATEWAY_RETRIEVE,
        to=url,
        assertion=assertion,
    )
    message = MtomMessage(envelope, [], action=CROSS_GATEWAY_RETRIEVE)
    answer = exchange(client, url, b"".join(message.stream()), message.content_type)
    try:
        result = save_documents(url, answer, out, single=len(requests) == 1)
    finally:
        answer.close()
    log.debug(
        "client.iti39 status=%s documents=%d errors=%d bytes=%d ms=%.1f",
        result.status.rsplit(":", 1)[-1],
        len(result.documents),
        len(result.errors),
        sum(document.size for document in result.documents),
        (time.perf_counter() - started) * 1000,
    )
    return result


def save_documents(
    url: str, answer: SoapAnswer, out: Path | None, *, single: bool
) -> RetrieveAnswer:
    """Read an xds:RetrieveDocumentSetResponse and write each document's bytes to a file."""
    body = answer.body
    if body.tag != qname(XDS, "RetrieveDocumentSetResponse"):
        message = f"{url}: expected RetrieveDocumentSetResponse, got {etree.QName(body).localname}"
        raise ClientError(message)
    response = body.find(qname(RS, "RegistryResponse"))
    result = RetrieveAnswer(
        xml=answer.xml,
        status="" if response is None else response.get("status", ""),
        errors=registry_errors(body),
    )

    responses = body.findall(qname(XDS, "DocumentResponse"))
    for item in responses:
        unique_id = text_of(item.find(qname(XDS, "DocumentUniqueId")))
        mime_type = text_of(item.find(qname(XDS, "mimeType")))
        target = _target(out, unique_id, mime_type, single=single and len(responses) == 1)
        size, sha1 = _write(target, _document_bytes(url, answer, item, unique_id))
        home = item.find(qname(XDS, "HomeCommunityId"))
        result.documents.append(
            RetrievedDocument(
                unique_id=unique_id,
                repository_unique_id=text_of(item.find(qname(XDS, "RepositoryUniqueId"))),
                home_community_id=None if home is None else text_of(home),
                mime_type=mime_type,
                size=size,
                sha1=sha1,
                path=target,
            )
        )
    return result


def _document_bytes(
    url: str, answer: SoapAnswer, item: etree._Element, unique_id: str
) -> Iterator[bytes]:
    document = item.find(qname(XDS, "Document"))
    if document is None:
        raise ClientError(f"{url}: the DocumentResponse for {unique_id} has no Document")
    include = document.find(qname(XOP, "Include"))
    if include is None:
        # Inline base64: the envelope holding it is in memory already.
        try:
            yield base64.b64decode("".join(text_of(document).split()), validate=True)
        except binascii.Error:
            raise ClientError(f"{url}: the Document {unique_id} is not base64") from None
        return
    parts = answer.package.parts if answer.package is not None else {}
    part = parts.get(normalize_content_id(include.get("href", "")))
    if part is None:
        raise ClientError(f"{url}: the Document {unique_id} names a MIME part that is not there")
    yield from part.chunks(CHUNK_SIZE)


def _target(out: Path | None, unique_id: str, mime_type: str, *, single: bool) -> Path:
    file = out if single and out is not None and not out.is_dir() else None
    folder = file.parent if file is not None else out or Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ClientError(f"cannot make the folder {folder}: {exc.strerror}", EXIT_USAGE) from None
    return file or folder / file_name(unique_id, mime_type)


def file_name(unique_id: str, mime_type: str) -> str:
    """Return a file name for a document: its uniqueId made safe, and the mimeType's extension."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", unique_id).lstrip(".") or "document"
    extension = mimetypes.guess_extension(mime_type.split(";")[0].strip()) or ".bin"
    return stem[:200] + extension


def _write(target: Path, chunks: Iterable[bytes]) -> tuple[int, str]:
    """Write chunks to `target` through a temporary name, so a failure leaves no partial file."""
    partial = target.with_name(target.name + ".part")
    digest = hashlib.sha1(usedforsecurity=False)
    size = 0
    try:
        with partial.open("wb") as file:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                file.write(chunk)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise ClientError(f"cannot write {target}: {exc.strerror}", EXIT_USAGE) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def severity_name(severity: str) -> str:
    """Return `Error` or `Warning` for an ebRS severity URN."""
    return "Warning" if severity == Severity.WARNING else severity.rsplit(":", 1)[-1] or "Error"
