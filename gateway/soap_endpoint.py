"""What every SOAP endpoint of xcads shares: its path in any letter case, reading a plain or MTOM
request, dispatch on wsa:Action to a handler, the response envelope, and SOAP Faults."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Mapping

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from gateway import soap
from gateway.config import Settings
from gateway.mtom import (
    MULTIPART_RELATED,
    MtomMessage,
    parse_content_type,
    parse_multipart,
    resolve_xop,
    root_xml,
)
from gateway.soap import FaultCode, SoapFault, SoapRequest
from registry.ebrim import XmlRejected, parse_xml
from registry.ebrim.xml import qname
from registry.store import RegistryStore
from repository.store import DocumentStore

_XML_MEDIA_TYPES = ("", soap.SOAP12_MEDIA_TYPE, "text/xml", "application/xml")


@dataclasses.dataclass
class Exchange:
    """One request as a handler sees it, with the stores and settings to answer it from."""

    request: SoapRequest
    mtom: bool
    settings: Settings
    registry: RegistryStore
    documents: DocumentStore


Handler = Callable[[Exchange], Response]


class _ServicePath(Convertor[str]):
    """A service path in any letter case, as gateways spell IHE endpoint URLs variously."""

    def __init__(self, path: str) -> None:
        self.regex = "(?i:" + re.escape(path.lstrip("/")) + ")"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


def service_route(path: str) -> str:
    """Return a route pattern matching `path` in any letter case.

    A path convertor rather than a route subclass: FastAPI recompiles included routes' patterns.
    """
    name = "xcads_" + re.sub(r"\W+", "_", path.strip("/")).lower()
    register_url_convertor(name, _ServicePath(path))
    return "/{service:" + name + "}"


class SoapEndpoint:
    """A SOAP 1.2 endpoint answering each wsa:Action with its handler; anything else faults."""

    def __init__(self, name: str, handlers: Mapping[str, Handler]) -> None:
        self.name = name
        self.handlers = handlers
        self.log = logging.getLogger(f"xcads.{name}")

    async def answer(self, request: Request) -> Response:
        """Answer one HTTP request, reading it whole and handling it off the event loop."""
        body = await request.body()
        content_type = request.headers.get("content-type", "")
        state = request.app.state
        return await run_in_threadpool(
            self.handle, body, content_type, state.settings, state.registry, state.documents
        )

    def handle(
        self,
        body: bytes,
        content_type: str,
        settings: Settings,
        registry: RegistryStore,
        documents: DocumentStore,
    ) -> Response:
        """Dispatch one request to the handler of its action; answer a SOAP Fault otherwise."""
        message_id = None
        action = None
        try:
            soap_request, mtom = read_request(body, content_type)
            message_id, action = soap_request.message_id, soap_request.action
            handler = self._handler(action)
            return handler(Exchange(soap_request, mtom, settings, registry, documents))
        except SoapFault as error:
            self.log.info(
                "%s.fault code=%s action=%s reason=%s", self.name, error.code, action, error.reason
            )
            return fault_response(error, message_id)
        except Exception as error:
            # Exception texts can quote SQL parameters (patient ids): only the type above DEBUG.
            self.log.error("%s.failed action=%s error=%s", self.name, action, type(error).__name__)
            self.log.debug("%s.failed.detail", self.name, exc_info=True)
            error = SoapFault(FaultCode.RECEIVER, "the request could not be processed")
            return fault_response(error, None)

    def _handler(self, action: str | None) -> Handler:
        if not action:
            raise SoapFault(
                FaultCode.SENDER,
                "a wsa:Action header is required",
                subcode=qname(soap.WSA, "MessageAddressingHeaderRequired"),
                problem_header=qname(soap.WSA, "Action"),
            )
        handler = self.handlers.get(action)
        if handler is None:
            raise SoapFault(
                FaultCode.SENDER,
                f"the action {action} is not supported by this endpoint",
                subcode=qname(soap.WSA, "ActionNotSupported"),
                problem_action=action,
            )
        return handler


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


def expect_body(request: SoapRequest, tag: str) -> etree._Element:
    """Return the request's body element, or fault if it is not a `tag`."""
    if request.body.tag != tag:
        found = etree.QName(request.body).localname
        expected = etree.QName(tag).localname
        raise SoapFault(
            FaultCode.SENDER, f"the action {request.action} needs a {expected} body, not {found}"
        )
    return request.body


def reply(exchange: Exchange, body: etree._Element, action: str) -> Response:
    """Answer with `body` in an envelope; MTOM if the request came as MTOM."""
    relates_to = exchange.request.message_id
    if exchange.mtom:
        # ITI TF-2x V.3.6: a request sent as MTOM is answered as MTOM.
        envelope = soap.envelope(body, action=action, relates_to=relates_to)
        message = MtomMessage(soap.serialize(envelope), [], action)
        return StreamingResponse(message.stream(), media_type=message.content_type)
    message = soap.response(body, action=action, relates_to=relates_to)
    return Response(message.body, status_code=message.status, media_type=message.content_type)


def fault_response(error: SoapFault, relates_to: str | None) -> Response:
    """Answer with the SOAP Fault for `error`."""
    message = soap.fault(error, relates_to=relates_to)
    return Response(message.body, status_code=message.status, media_type=message.content_type)
