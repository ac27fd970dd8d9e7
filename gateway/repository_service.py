"""The Document Repository endpoint: Provide and Register Document Set-b (ITI-41), Retrieve
Document Set (ITI-43) and Remove Documents (ITI-86, RMD), on
`POST /Repository/services/RepositoryService`.

The repository and the registry are one process here, so ITI-41 registers the metadata directly
(what ITI-42 would carry) and the bytes become visible in the registry's commit.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.config import strip_urn_oid
from gateway.mtom import Part, normalize_content_id
from gateway.retrieve import answer_retrieve, unknown_document, unknown_repository
from gateway.service_description import wsdl_response
from gateway.soap import FaultCode, SoapFault
from gateway.soap_endpoint import Exchange, SoapEndpoint, expect_body, reply, service_route
from registry.ebrim import ResponseStatus, registry_response, status_for
from registry.ebrim.provide import (
    ProvideAndRegisterRequest,
    ProvidedDocument,
    parse_provide_and_register_request,
)
from registry.ebrim.retrieve import parse_retrieve_document_set_request
from registry.ebrim.xml import XDS, qname
from registry.errors import ErrorCode, Issue, XdsError, errors_in
from registry.validation import Transaction, ValidationOptions
from repository.provide import provide_and_register

log = logging.getLogger("xcads.repository")

SERVICE_PATH = "/Repository/services/RepositoryService"
RMD = "urn:ihe:iti:rmd:2017"

PROVIDE_AND_REGISTER = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
PROVIDE_AND_REGISTER_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
RETRIEVE_DOCUMENT_SET = "urn:ihe:iti:2007:RetrieveDocumentSet"
RETRIEVE_DOCUMENT_SET_RESPONSE = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
REMOVE_DOCUMENTS = "urn:ihe:iti:2017:RemoveDocuments"
REMOVE_DOCUMENTS_RESPONSE = "urn:ihe:iti:2017:RemoveDocumentsResponse"

router = APIRouter()


def provide_and_register_document_set(exchange: Exchange) -> Response:
    """ITI-41: store the documents and register their metadata, all or nothing."""
    started = time.perf_counter()
    body = expect_body(exchange.request, qname(XDS, "ProvideAndRegisterDocumentSetRequest"))
    settings = exchange.settings
    documents = size = 0
    try:
        request = parse_provide_and_register_request(body)
        documents = len(request.documents)
        contents = _contents(request.documents, exchange.request.attachments)
        size = sum(len(content) for content in contents.values())
        _check_unique_ids(request)
        provide_and_register(
            request.submission,
            contents,
            registry=exchange.registry,
            documents=exchange.documents,
            repository_unique_id=settings.repository_unique_id,
            expected={
                entry.entry_uuid: (entry.hash, entry.size)
                for entry in request.submission.document_entries
            },
            validation=ValidationOptions.from_settings(settings, Transaction.PROVIDE_AND_REGISTER),
        )
        issues: list[Issue] = []
    except XdsError as error:
        issues = error.issues

    status = ResponseStatus.FAILURE if errors_in(issues) else ResponseStatus.SUCCESS
    log.info(
        "iti41.provide documents=%d bytes=%d status=%s errors=%s ms=%.1f",
        documents,
        size,
        status.name,
        ",".join(sorted({issue.code for issue in issues})),
        (time.perf_counter() - started) * 1000,
    )
    return reply(exchange, registry_response(status, issues), PROVIDE_AND_REGISTER_RESPONSE)


def retrieve_document_set(exchange: Exchange) -> Response:
    """ITI-43: answer with the documents found, as MTOM, and an error for each one missing."""
    return answer_retrieve(
        exchange,
        response_action=RETRIEVE_DOCUMENT_SET_RESPONSE,
        cross_community=False,
        log=log,
        event="iti43.retrieve",
    )


def remove_documents(exchange: Exchange) -> Response:
    """ITI-86: delete the bytes of each document named; the registry's metadata stays.

    Each DocumentRequest naming another repository fails with XDSUnknownRepositoryId, one naming
    no document held here with XDSDocumentUniqueIdError; the others are removed regardless
    (PartialSuccess).
    """
    started = time.perf_counter()
    body = expect_body(exchange.request, qname(RMD, "RemoveDocumentsRequest"))
    try:
        requests = parse_retrieve_document_set_request(body)
    except XdsError as error:
        raise SoapFault(FaultCode.SENDER, error.issues[0].message) from None

    issues: list[Issue] = []
    removed = 0
    for request in dict.fromkeys(requests):
        unique_id = request.document_unique_id
        if strip_urn_oid(request.repository_unique_id) != exchange.settings.repository_unique_id:
            issues.append(unknown_repository(request))
        elif not exchange.documents.exists(unique_id):
            issues.append(unknown_document(request))
        else:
            exchange.documents.delete(unique_id)
            removed += 1

    status = status_for(issues, has_results=removed > 0)
    log.info(
        "iti86.remove requested=%d removed=%d status=%s errors=%s ms=%.1f",
        len(requests),
        removed,
        status.name,
        ",".join(issue.code for issue in issues),
        (time.perf_counter() - started) * 1000,
    )
    return reply(exchange, registry_response(status, issues), REMOVE_DOCUMENTS_RESPONSE)


def _contents(provided: list[ProvidedDocument], attachments: Mapping[str, Part]) -> dict[str, Part]:
    """Each Document's bytes by its id: its MIME part as received (not copied), or inline."""
    contents: dict[str, Part] = {}
    for document in provided:
        if document.href is None:
            contents[document.id] = Part.of(document.content or b"")
            continue
        part = attachments.get(normalize_content_id(document.href))
        if part is None:
            message = f"the xop:Include of Document {document.id} names no part: {document.href}"
            raise SoapFault(FaultCode.SENDER, message)
        contents[document.id] = part
    return contents


def _check_unique_ids(request: ProvideAndRegisterRequest) -> None:
    """XDSRepositoryDuplicateUniqueIdInMessage for a uniqueId or Document id sent twice."""
    code = ErrorCode.REPOSITORY_DUPLICATE_UNIQUE_ID_IN_MESSAGE
    entries = request.submission.document_entries
    unique_ids = Counter(entry.unique_id for entry in entries)
    issues = [
        Issue(
            code,
            f"uniqueId {entry.unique_id} is used by more than one DocumentEntry",
            entry.entry_uuid,
        )
        for entry in entries
        if unique_ids[entry.unique_id] > 1
    ]
    document_ids = Counter(document.id for document in request.documents)
    issues += [
        Issue(code, f"more than one Document has the id {document_id}", document_id)
        for document_id, count in document_ids.items()
        if count > 1
    ]
    if issues:
        raise XdsError(issues)


ACTIONS = {
    PROVIDE_AND_REGISTER: provide_and_register_document_set,
    RETRIEVE_DOCUMENT_SET: retrieve_document_set,
    REMOVE_DOCUMENTS: remove_documents,
}

_ENDPOINT = SoapEndpoint("repository", ACTIONS)


@router.post(service_route(SERVICE_PATH), response_class=Response, include_in_schema=False)
async def repository_service(request: Request, service: str) -> Response:
    """Answer one ITI-41, ITI-43 or ITI-86 SOAP request, or a SOAP Fault."""
    return await _ENDPOINT.answer(request)


@router.get(service_route(SERVICE_PATH), include_in_schema=False)
async def repository_service_wsdl(request: Request, service: str) -> Response:
    """Describe the endpoint: its WSDL at `?wsdl`."""
    return wsdl_response(request, "repository.wsdl")
