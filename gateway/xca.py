"""The XCA Responding Gateway endpoint: Cross Gateway Query (ITI-38) and Retrieve (ITI-39)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.retrieve import answer_retrieve
from gateway.service_description import wsdl_response
from gateway.soap_endpoint import Exchange, SoapEndpoint, reply, service_route
from gateway.stored_query import answer_stored_query

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


@router.get(service_route(SERVICE_PATH), include_in_schema=False)
async def responding_gateway_wsdl(request: Request, service: str) -> Response:
    """Describe the endpoint: its WSDL at `?wsdl`."""
    return wsdl_response(request, "xca.wsdl")


def cross_gateway_query(exchange: Exchange) -> Response:
    """ITI-38: run the stored query and answer with an AdhocQueryResponse."""
    response = answer_stored_query(exchange, log=log, event="iti38.query", cross_community=True)
    return reply(exchange, response, CROSS_GATEWAY_QUERY_RESPONSE)


def cross_gateway_retrieve(exchange: Exchange) -> Response:
    """ITI-39: answer with the documents found, as MTOM, and an error for each one missing."""
    return answer_retrieve(
        exchange,
        response_action=CROSS_GATEWAY_RETRIEVE_RESPONSE,
        cross_community=True,
        log=log,
        event="iti39.retrieve",
    )


_ENDPOINT = SoapEndpoint(
    "xca",
    {
        CROSS_GATEWAY_QUERY: cross_gateway_query,
        CROSS_GATEWAY_RETRIEVE: cross_gateway_retrieve,
    },
    queries=[CROSS_GATEWAY_QUERY],
)
