"""Answering a RetrieveDocumentSetRequest, shared by ITI-39 (XCA) and ITI-43 (repository).

The answer is always MTOM (ITI TF-2b 3.43.4.2, 3.39.4.2): the RetrieveDocumentSetResponse in the
root part, one part per document found, streamed from the document store as the response is sent.
"""

from __future__ import annotations

import logging
import time

from fastapi.responses import Response

from gateway.config import Settings, strip_urn_oid
from gateway.mtom import Attachment, new_content_id
from gateway.soap import FaultCode, SoapFault
from gateway.soap_endpoint import Exchange, expect_body, mtom_reply
from registry.ebrim import status_for
from registry.ebrim.retrieve import (
    DocumentRequest,
    DocumentResponse,
    parse_retrieve_document_set_request,
    retrieve_document_set_response,
)
from registry.ebrim.xml import XDS, qname
from registry.errors import ErrorCode, Issue, XdsError
from registry.lifecycle import latest_versions
from repository.store import DocumentNotFound


def answer_retrieve(
    exchange: Exchange,
    *,
    response_action: str,
    cross_community: bool,
    log: logging.Logger,
    event: str,
) -> Response:
    """Answer with the documents found, as MTOM, and one RegistryError per document not sent.

    Across communities (ITI-39) every DocumentRequest must name this community
    (XDSMissingHomeCommunityId, XDSUnknownCommunity) and every DocumentResponse names it. A
    repository (ITI-43) reads no HomeCommunityId and answers without one.
    """
    started = time.perf_counter()
    settings = exchange.settings
    body = expect_body(exchange.request, qname(XDS, "RetrieveDocumentSetRequest"))
    try:
        requests = parse_retrieve_document_set_request(body)
    except XdsError as error:
        raise SoapFault(FaultCode.SENDER, error.issues[0].message) from None

    mime_types = _mime_types(exchange, requests)
    home = settings.home_community_id if cross_community else None
    issues: list[Issue] = []
    found: list[DocumentResponse] = []
    attachments: list[Attachment] = []
    for request in requests:
        issue = _check(settings, request, mime_types, cross_community=cross_community)
        if issue is None:
            try:
                chunks = exchange.documents.open(request.document_unique_id)
            except DocumentNotFound:
                issue = unknown_document(request)
        if issue is not None:
            issues.append(issue)
            continue
        content_id = new_content_id("document")
        mime_type = mime_types[request.document_unique_id]
        found.append(
            DocumentResponse(
                home_community_id=home,
                repository_unique_id=settings.repository_unique_id,
                document_unique_id=request.document_unique_id,
                mime_type=mime_type,
                content_id=content_id,
            )
        )
        attachments.append(Attachment(content_id, mime_type, chunks))

    status = status_for(issues, has_results=bool(found))
    response = retrieve_document_set_response(status, issues, found)
    log.info(
        "%s requested=%d found=%d status=%s errors=%s ms=%.1f",
        event,
        len(requests),
        len(found),
        status.name,
        ",".join(issue.code for issue in issues),
        (time.perf_counter() - started) * 1000,
    )
    return mtom_reply(exchange, response, response_action, attachments)


def unknown_repository(request: DocumentRequest) -> Issue:
    """XDSUnknownRepositoryId for a DocumentRequest naming another repository."""
    message = f"repositoryUniqueId {request.repository_unique_id} is not this repository"
    return Issue(ErrorCode.UNKNOWN_REPOSITORY_ID, message, request.document_unique_id)


def unknown_document(request: DocumentRequest) -> Issue:
    """XDSDocumentUniqueIdError for a DocumentRequest naming no document held here."""
    message = f"no document with uniqueId {request.document_unique_id} in this repository"
    return Issue(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, message, request.document_unique_id)


def _mime_types(exchange: Exchange, requests: list[DocumentRequest]) -> dict[str, str]:
    unique_ids = sorted({request.document_unique_id for request in requests})
    # Every version of a document shares its uniqueId (ITI-57); the latest one describes it.
    entries = latest_versions(exchange.registry.document_entries_by_unique_id(unique_ids))
    return {unique_id: entry.mime_type for unique_id, entry in entries.items()}


def _check(
    settings: Settings,
    request: DocumentRequest,
    mime_types: dict[str, str],
    *,
    cross_community: bool,
) -> Issue | None:
    location = request.document_unique_id
    if cross_community and not request.home_community_id:
        return Issue(ErrorCode.MISSING_HOME_COMMUNITY_ID, "HomeCommunityId is required", location)
    if cross_community and strip_urn_oid(request.home_community_id or "") != strip_urn_oid(
        settings.home_community_id
    ):
        message = f"homeCommunityId {request.home_community_id} is not this community"
        return Issue(ErrorCode.UNKNOWN_COMMUNITY, message, location)
    if strip_urn_oid(request.repository_unique_id) != settings.repository_unique_id:
        return unknown_repository(request)
    if request.document_unique_id not in mime_types:
        return unknown_document(request)
    return None
