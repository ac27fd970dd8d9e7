"""The XCA Responding Gateway endpoint: Cross Gateway Query (ITI-38) and Retrieve (ITI-39)."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from gateway import soap
from gateway.config import Settings, strip_urn_oid
from gateway.mtom import (
    MULTIPART_RELATED,
    Attachment,
    MtomMessage,
    new_content_id,
    parse_content_type,
    parse_multipart,
    resolve_xop,
    root_xml,
)
from gateway.soap import FaultCode, SoapFault, SoapRequest
from registry.ebrim import (
    ResponseStatus,
    XmlRejected,
    adhoc_query_response,
    parse_adhoc_query_request,
    parse_xml,
    status_for,
)
from registry.ebrim.retrieve import (
    DocumentRequest,
    DocumentResponse,
    parse_retrieve_document_set_request,
    retrieve_document_set_response,
)
from registry.ebrim.xml import QUERY, XDS, qname
from registry.errors import ErrorCode, Issue, XdsError
from registry.queries import run_stored_query
from registry.store import QueryResult, RegistryStore
from repository.store import DocumentNotFound, DocumentStore

log = logging.getLogger("xcads.xca")

SERVICE_PATH = "/XCA/services/RespondingGatewayService"

CROSS_GATEWAY_QUERY = "urn:ihe:iti:2007:CrossGatewayQuery"
CROSS_GATEWAY_QUERY_RESPONSE = "urn:ihe:iti:2007:CrossGatewayQueryResponse"
CROSS_GATEWAY_RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
CROSS_GATEWAY_RETRIEVE_RESPONSE = "urn:ihe:iti:2007:CrossGatewayRetrieveResponse"

_XML_MEDIA_TYPES = ("", soap.SOAP12_MEDIA_TYPE, "text/xml", "application/xml")


class _ServicePath(Convertor[str]):
    """The service path in any letter case, as gateways spell the XCA URL variously."""

    regex = "(?i:" + re.escape(SERVICE_PATH.lstrip("/")) + ")"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


# A path convertor rather than a route subclass: FastAPI recompiles included routes' patterns.
register_url_convertor("xcads_xca_service", _ServicePath())

router = APIRouter()


@dataclasses.dataclass
class _Exchange:
    """One request as the handlers see it."""

    request: SoapRequest
    mtom: bool
    settings: Settings
    registry: RegistryStore
    documents: DocumentStore


@router.post("/{service:xcads_xca_service}", response_class=Response, include_in_schema=False)
async def responding_gateway(request: Request, service: str) -> Response:
    """Answer one ITI-38 or ITI-39 SOAP request, or a SOAP Fault."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    state = request.app.state
    return await run_in_threadpool(
        _handle, body, content_type, state.settings, state.registry, state.documents
    )


def _handle(
    body: bytes,
    content_type: str,
    settings: Settings,
    registry: RegistryStore,
    documents: DocumentStore,
) -> Response:
    message_id = None
    action = None
    try:
        soap_request, mtom = read_request(body, content_type)
        message_id, action = soap_request.message_id, soap_request.action
        if not action:
            raise SoapFault(
                FaultCode.SENDER,
                "a wsa:Action header is required",
                subcode=qname(soap.WSA, "MessageAddressingHeaderRequired"),
                problem_header=qname(soap.WSA, "Action"),
            )
        handler = _HANDLERS.get(action)
        if handler is None:
            raise SoapFault(
                FaultCode.SENDER,
                f"the action {action} is not supported by this endpoint",
                subcode=qname(soap.WSA, "ActionNotSupported"),
                problem_action=action,
            )
        return handler(_Exchange(soap_request, mtom, settings, registry, documents))
    except SoapFault as error:
        log.info("xca.fault code=%s action=%s reason=%s", error.code, action, error.reason)
        return _fault(error, message_id)
    except Exception as error:
        # Exception texts can quote SQL parameters (patient ids), so only the type goes above DEBUG.
        log.error("xca.failed action=%s error=%s", action, type(error).__name__)
        log.debug("xca.failed.detail", exc_info=True)
        return _fault(SoapFault(FaultCode.RECEIVER, "the request could not be processed"), None)


def read_request(body: bytes, content_type: str) -> tuple[SoapRequest, bool]:
    """Read a SOAP 1.2 request sent plain or as MTOM; tell which it was."""
    media_type, params = parse_content_type(content_type) if content_type else ("", {})
    if media_type == MULTIPART_RELATED:
        package = parse_multipart(body, content_type)
        try:
            root = parse_xml(root_xml(package))
        except XmlRejected as exc:
            raise SoapFault(FaultCode.SENDER, str(exc)) from None
        resolve_xop(root, package.parts)
        return soap.read_envelope(root, action=package.action), True

    if media_type not in _XML_MEDIA_TYPES:
        raise SoapFault(FaultCode.SENDER, f"unsupported media type {media_type}", http_status=415)
    return soap.parse_envelope(body, action=params.get("action")), False


def cross_gateway_query(exchange: _Exchange) -> Response:
    """ITI-38: run the stored query and answer with an AdhocQueryResponse."""
    started = time.perf_counter()
    settings = exchange.settings
    body = _expect(exchange.request, qname(QUERY, "AdhocQueryRequest"))
    query_id, return_type, results = "", "LeafClass", 0
    try:
        query = parse_adhoc_query_request(body)
        query_id, return_type = query.query_id, query.return_type
        home = query.home_community_id
        if home and strip_urn_oid(home.strip()) != strip_urn_oid(settings.home_community_id):
            message = f"homeCommunityId {home} is not this community"
            raise XdsError(Issue(ErrorCode.UNKNOWN_COMMUNITY, message))
        result = run_stored_query(exchange.registry, query, max_results=settings.max_query_results)
    except XdsError as error:
        status = status_for(error.issues, has_results=False)
        response = adhoc_query_response(status, issues=error.issues, return_type=return_type)
        codes = ",".join(issue.code for issue in error.issues)
    else:
        result = _with_repository(result, settings.repository_unique_id)
        results = len(result)
        response = adhoc_query_response(
            ResponseStatus.SUCCESS,
            result,
            return_type=return_type,
            home=settings.home_community_id,
        )
        status, codes = ResponseStatus.SUCCESS, ""

    log.info(
        "iti38.query query_id=%s return_type=%s status=%s results=%d errors=%s ms=%.1f",
        query_id,
        return_type,
        status.name,
        results,
        codes,
        (time.perf_counter() - started) * 1000,
    )
    return _reply(exchange, response, CROSS_GATEWAY_QUERY_RESPONSE)


def cross_gateway_retrieve(exchange: _Exchange) -> Response:
    """ITI-39: answer with the documents found, as MTOM, and an error for each one missing."""
    started = time.perf_counter()
    settings = exchange.settings
    body = _expect(exchange.request, qname(XDS, "RetrieveDocumentSetRequest"))
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


_HANDLERS: dict[str, Callable[[_Exchange], Response]] = {
    CROSS_GATEWAY_QUERY: cross_gateway_query,
    CROSS_GATEWAY_RETRIEVE: cross_gateway_retrieve,
}


def _expect(request: SoapRequest, tag: str) -> etree._Element:
    if request.body.tag != tag:
        found = etree.QName(request.body).localname
        expected = etree.QName(tag).localname
        raise SoapFault(
            FaultCode.SENDER, f"the action {request.action} needs a {expected} body, not {found}"
        )
    return request.body


def _mime_types(exchange: _Exchange, requests: list[DocumentRequest]) -> dict[str, str]:
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


def _with_repository(result: QueryResult, repository_unique_id: str) -> QueryResult:
    entries = [
        entry
        if entry.repository_unique_id
        else dataclasses.replace(entry, repository_unique_id=repository_unique_id)
        for entry in result.document_entries
    ]
    return dataclasses.replace(result, document_entries=entries)


def _reply(exchange: _Exchange, body: etree._Element, action: str) -> Response:
    relates_to = exchange.request.message_id
    if exchange.mtom:
        # ITI TF-2x V.3.6: a request sent as MTOM is answered as MTOM.
        envelope = soap.envelope(body, action=action, relates_to=relates_to)
        message = MtomMessage(soap.serialize(envelope), [], action)
        return StreamingResponse(message.stream(), media_type=message.content_type)
    message = soap.response(body, action=action, relates_to=relates_to)
    return Response(message.body, status_code=message.status, media_type=message.content_type)


def _fault(error: SoapFault, relates_to: str | None) -> Response:
    message = soap.fault(error, relates_to=relates_to)
    return Response(message.body, status_code=message.status, media_type=message.content_type)
