"""The Document Registry endpoint: Registry Stored Query (ITI-18), Register Document Set-b
(ITI-42), Update Document Set (ITI-57) and Delete Document Set (ITI-62), on
`POST /Registry/services/RegistryService`.

`ACTIONS` is the dispatch table: each wsa:Action names the body it takes, the action its answer
carries, and the function turning one into the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from lxml import etree

from gateway.registry_lifecycle import (
    DELETE_DOCUMENT_SET,
    DELETE_DOCUMENT_SET_RESPONSE,
    UPDATE_DOCUMENT_SET,
    UPDATE_DOCUMENT_SET_RESPONSE,
    delete_document_set,
    update_document_set,
)
from gateway.registry_transaction import run_transaction
from gateway.service_description import wsdl_response
from gateway.soap_endpoint import Exchange, SoapEndpoint, expect_body, reply, service_route
from gateway.stored_query import answer_stored_query
from registry.ebrim import parse_submit_objects_request
from registry.ebrim.xml import QUERY, qname
from registry.service import register_submission
from registry.validation import Transaction, ValidationOptions

log = logging.getLogger("xcads.registry")

SERVICE_PATH = "/Registry/services/RegistryService"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"

REGISTRY_STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
REGISTRY_STORED_QUERY_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
REGISTER_DOCUMENT_SET_B = "urn:ihe:iti:2007:RegisterDocumentSet-b"
REGISTER_DOCUMENT_SET_B_RESPONSE = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"


@dataclass(frozen=True)
class RegistryAction:
    """One transaction of the endpoint: its request body, its response action, its work."""

    body: str
    response_action: str
    run: Callable[[etree._Element, Exchange], etree._Element | bytes]

    def __call__(self, exchange: Exchange) -> Response:
        """Check the body, do the work, answer with the response action."""
        body = expect_body(exchange.request, self.body)
        return reply(exchange, self.run(body, exchange), self.response_action)


def registry_stored_query(body: etree._Element, exchange: Exchange) -> etree._Element | bytes:
    """ITI-18: the stored queries of ITI-38; a named community is not checked, only echoed."""
    return answer_stored_query(exchange, log=log, event="iti18.query", cross_community=False)


def register_document_set(body: etree._Element, exchange: Exchange) -> etree._Element:
    """ITI-42: validate and register an lcm:SubmitObjectsRequest, all or nothing."""
    options = ValidationOptions.from_settings(exchange.settings, Transaction.REGISTER)
    counts = {"entries": 0}

    def work() -> None:
        submission = parse_submit_objects_request(body)
        counts["entries"] = len(submission.document_entries)
        register_submission(exchange.registry, submission, options=options)

    return run_transaction("iti42.register", counts, work)


ACTIONS: dict[str, RegistryAction] = {
    REGISTRY_STORED_QUERY: RegistryAction(
        qname(QUERY, "AdhocQueryRequest"), REGISTRY_STORED_QUERY_RESPONSE, registry_stored_query
    ),
    REGISTER_DOCUMENT_SET_B: RegistryAction(
        qname(LCM, "SubmitObjectsRequest"), REGISTER_DOCUMENT_SET_B_RESPONSE, register_document_set
    ),
    UPDATE_DOCUMENT_SET: RegistryAction(
        qname(LCM, "SubmitObjectsRequest"), UPDATE_DOCUMENT_SET_RESPONSE, update_document_set
    ),
    DELETE_DOCUMENT_SET: RegistryAction(
        qname(LCM, "RemoveObjectsRequest"), DELETE_DOCUMENT_SET_RESPONSE, delete_document_set
    ),
}

_ENDPOINT = SoapEndpoint("registry", ACTIONS, queries=[REGISTRY_STORED_QUERY])

router = APIRouter()


@router.post(service_route(SERVICE_PATH), response_class=Response, include_in_schema=False)
async def registry_service(request: Request, service: str) -> Response:
    """Answer one ITI-18, ITI-42, ITI-57 or ITI-62 SOAP request, or a SOAP Fault."""
    return await _ENDPOINT.answer(request)


@router.get(service_route(SERVICE_PATH), include_in_schema=False)
async def registry_service_wsdl(request: Request, service: str) -> Response:
    """Describe the endpoint: its WSDL at `?wsdl`."""
    return wsdl_response(request, "registry.wsdl")
