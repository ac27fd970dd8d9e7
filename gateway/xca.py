"""The XCA Responding Gateway endpoint: Cross Gateway Query (ITI-38) and Retrieve (ITI-39)."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from gateway import soap
from gateway.config import Settings, strip_urn_oid
from gateway.mtom import Attachment, MtomMessage, new_content_id
from gateway.soap import FaultCode, SoapFault
from gateway.soap_endpoint import Exchange, SoapEndpoint, expect_body, reply, service_route
from gateway.stored_query import answer_stored_query
from registry.ebrim import (
    status_for,
)
from registry.ebrim.retrieve import (
    DocumentRequest,
    DocumentResponse,
    parse_retrieve_document_set_request,
    retrieve_document_set_response,
)
from registry.ebrim.xml import XDS, qname
from registry.errors import ErrorCode, Issue, XdsError
from repository.store import DocumentNotFound

log = logging.getLogger("xcads.xca")

SERVICE_PATH = "/XCA/services/RespondingGatewayService"

CROSS_GATEWAY_QUERY = "urn:ihe:iti:2007:CrossGatewayQuery"
CROSS_GATEWAY_QUERY_RESPONSE = "urn:ihe:iti:2007:CrossGatewayQueryResponse"
CROSS_GATEWAY_RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
CROSS_GATEWAY_RETRIEVE_RESPONSE = "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"

router = APIRouter()


@router.post(service_route(SERVICE_PATH), response_class=Response, include_in_schema=False)
async def responding_gateway(request: Request, service: str) -> Response:
    """Answer one ITI-38 or ITI-39 SOAP request, or a SOAP Fault."""
    return await _ENDPOINT.answer(request)


def cross_gateway_query(exchange: Exchange) -> Response:
    """ITI-38: run the stored query and answer with an AdhocQueryResponse."""
    response = answer_stored_query(exchange, log=log, event="iti38.query", cross_community=True)
    return reply(exchange, response, CROSS_GATEWAY_QUERY_RESPONSE)


def cross_gateway_retrieve(exchange: Exchange) -> Response:
    """ITI-39: answer with the documents found, as MTOM, and an error for each one missing."""
    started = time.perf_counter()
    settings = exchange.settings
    body = expect_body(exchange.request, qname(XDS, "RetrieveDocumentSetRequest"))
    try:
        requests = parse_retrieve_document_set_request(body)
    except XdsError as error:
        raise SoapFault(FaultCode.SENDER, error.issues[0].message) from None

    mime_types = _mime_types(exchange, requests)
    issues: list[Issue] = []
    found: list[DocumentResponse] = []
    attachments: list[Attachment] = []
    for request in requests:
        issue = _check(settings, request, mime_types)
        if issue is None:
            try:
                chunks = exchange.documents.open(request.document_unique_id)
            except DocumentNotFound:
                issue = _unknown_document(request)
        if issue is not None:
            issues.append(issue)
            continue
        content_id = new_content_id("document")
        mime_type = mime_types[request.document_unique_id]
        found.append(
            DocumentResponse(
                home_community_id=settings.home_community_id,
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
        "iti39.retrieve requested=%d found=%d status=%s errors=%s ms=%.1f",
        len(requests),
        len(found),
        status.name,
        ",".join(issue.code for issue in issues),
        (time.perf_counter() - started) * 1000,
    )
    envelope = soap.envelope(
        response, action=CROSS_GATEWAY_RETRIEVE_RESPONSE, relates_to=exchange.request.message_id
    )
    message = MtomMessage(soap.serialize(envelope), attachments, CROSS_GATEWAY_RETRIEVE_RESPONSE)
    return StreamingResponse(message.stream(), media_type=message.content_type)


_ENDPOINT = SoapEndpoint(
    "xca",
    {
        CROSS_GATEWAY_QUERY: cross_gateway_query,
        CROSS_GATEWAY_RETRIEVE: cross_gateway_retrieve,
    },
)


def _mime_types(exchange: Exchange, requests: list[DocumentRequest]) -> dict[str, str]:
    unique_ids = sorted({request.document_unique_id for request in requests})
    entries = exchange.registry.document_entries_by_unique_id(unique_ids)
    return {entry.unique_id: entry.mime_type for entry in entries}


def _check(
    settings: Settings, request: DocumentRequest, mime_types: dict[str, str]
) -> Issue | None:
    location = request.document_unique_id
    if not request.home_community_id:
        return Issue(ErrorCode.MISSING_HOME_COMMUNITY_ID, "HomeCommunityId is required", location)
    if strip_urn_oid(request.home_community_id) != strip_urn_oid(settings.home_community_id):
        message = f"homeCommunityId {request.home_community_id} is not this community"
        return Issue(ErrorCode.UNKNOWN_COMMUNITY, message, location)
    if strip_urn_oid(request.repository_unique_id) != settings.repository_unique_id:
        message = f"repositoryUniqueId {request.repository_unique_id} is not this repository"
        return Issue(ErrorCode.UNKNOWN_REPOSITORY_ID, message, location)
    if request.document_unique_id not in mime_types:
        return _unknown_document(request)
    return None


def _unknown_document(request: DocumentRequest) -> Issue:
    message = f"no document with uniqueId {request.document_unique_id} in this repository"
    return Issue(ErrorCode.DOCUMENT_UNIQUE_ID_ERROR, message, request.document_unique_id)
