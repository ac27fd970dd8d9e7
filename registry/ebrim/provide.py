"""xds:ProvideAndRegisterDocumentSetRequest (ITI-41): the metadata and the documents it carries."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree

from registry.ebrim.objects import parse_submit_objects_request
from registry.ebrim.xml import LCM, XDS, XOP, qname
from registry.errors import ErrorCode, Issue, XdsError
from registry.metadata import Submission


@dataclass(frozen=True)
class ProvidedDocument:
    """One xds:Document: the id of its ExtrinsicObject and where its bytes are.

    MTOM-optimised, `href` is the xop:Include's `cid:` URL naming the MIME part; sent inline,
    `content` holds the decoded base64 text.
    """

    id: str
    href: str | None = None
    content: bytes | None = None


@dataclass(frozen=True)
class ProvideAndRegisterRequest:
    """An ITI-41 request read: the submission and its documents in request order."""

    submission: Submission
    documents: list[ProvidedDocument]


def parse_provide_and_register_request(element: etree._Element) -> ProvideAndRegisterRequest:
    """Read an xds:ProvideAndRegisterDocumentSetRequest (ITI TF-2b 3.41.4.1.2).

    Raises XdsError with XDSRegistryMetadataError for unusable metadata, as ITI-42 does, and
    XDSRepositoryError for a Document whose inline content is not base64.
    """
    request = element.find(qname(LCM, "SubmitObjectsRequest"))
    if request is None:
        message = "ProvideAndRegisterDocumentSetRequest has no SubmitObjectsRequest"
        raise XdsError(Issue(ErrorCode.REGISTRY_METADATA_ERROR, message))
    submission = parse_submit_objects_request(request)
    return ProvideAndRegisterRequest(
        submission, [_document(document) for document in element.findall(qname(XDS, "Document"))]
    )


def _document(element: etree._Element) -> ProvidedDocument:
    document_id = element.get("id", "").strip()
    include = element.find(qname(XOP, "Include"))
    if include is not None:
        return ProvidedDocument(document_id, href=include.get("href", ""))
    try:
        # Line breaks are allowed in xs:base64Binary; anything else outside the alphabet is not,
        # where b64decode alone would drop it and register what is left (nothing, for "!!!").
        content = base64.b64decode("".join((element.text or "").split()), validate=True)
    except (binascii.Error, ValueError):
        message = "the Document's content is neither an xop:Include nor base64"
        raise XdsError(Issue(ErrorCode.REPOSITORY_ERROR, message, document_id)) from None
    return ProvidedDocument(document_id, content=content)
