"""XDS.b RetrieveDocumentSetRequest and RetrieveDocumentSetResponse (ITI-39, ITI-43), and the
DocumentRequest list ITI-86 RemoveDocumentsRequest shares with them."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from lxml import etree

from registry.ebrim.response import ResponseStatus, registry_response
from registry.ebrim.xml import RS, XDS, XOP, qname, text_of
from registry.errors import ErrorCode, Issue, XdsError

# Characters a `cid:` URL may carry unescaped (RFC 2392 over RFC 3986).
_CID_SAFE = "@.-_~!$&'()*+,;=:"


@dataclass(frozen=True)
class DocumentRequest:
    """One DocumentRequest; home_community_id is None when the element is absent."""

    repository_unique_id: str
    document_unique_id: str
    home_community_id: str | None = None


@dataclass(frozen=True)
class DocumentResponse:
    """One DocumentResponse whose Document is an xop:Include of the part `content_id`.

    `home_community_id` is None in an ITI-43 answer, which carries no HomeCommunityId.
    """

    home_community_id: str | None
    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    content_id: str


def parse_retrieve_document_set_request(element: etree._Element) -> list[DocumentRequest]:
    """Read the DocumentRequests of a RetrieveDocumentSetRequest or RemoveDocumentsRequest.

    Raises XdsError(XDSRepositoryError) if there are none.
    """
    requests = [
        DocumentRequest(
            repository_unique_id=text_of(request.find(qname(XDS, "RepositoryUniqueId"))),
            document_unique_id=text_of(request.find(qname(XDS, "DocumentUniqueId"))),
            home_community_id=(
                None
                if (home := request.find(qname(XDS, "HomeCommunityId"))) is None
                else text_of(home)
            ),
        )
        for request in element.findall(qname(XDS, "DocumentRequest"))
    ]
    if not requests:
        message = f"{etree.QName(element).localname} has no DocumentRequest"
        raise XdsError(Issue(ErrorCode.REPOSITORY_ERROR, message))
    return requests


def retrieve_document_set_response(
    status: ResponseStatus, issues: list[Issue], documents: list[DocumentResponse]
) -> etree._Element:
    """Return an xds:RetrieveDocumentSetResponse whose Documents point at MIME parts."""
    element = etree.Element(
        qname(XDS, "RetrieveDocumentSetResponse"), nsmap={"xds": XDS, "rs": RS, "xop": XOP}
    )
    element.append(registry_response(status, issues))
    for document in documents:
        response = etree.SubElement(element, qname(XDS, "DocumentResponse"))
        if document.home_community_id is not None:
            home = etree.SubElement(response, qname(XDS, "HomeCommunityId"))
            home.text = document.home_community_id
        etree.SubElement(
            response, qname(XDS, "RepositoryUniqueId")
        ).text = document.repository_unique_id
        etree.SubElement(
            response, qname(XDS, "DocumentUniqueId")
        ).text = document.document_unique_id
        etree.SubElement(response, qname(XDS, "mimeType")).text = document.mime_type
        include = etree.SubElement(
            etree.SubElement(response, qname(XDS, "Document")), qname(XOP, "Include")
        )
        include.set("href", "cid:" + quote(document.content_id, safe=_CID_SAFE))
    return element
