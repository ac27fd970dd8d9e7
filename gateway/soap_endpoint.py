"""What every SOAP endpoint of xcads shares: its path in any letter case, reading a plain or MTOM
request (MTOM parts stream to temporary files), dispatch on wsa:Action to a handler, the response
envelope, SOAP Faults, and asynchronous answers to a wsa:ReplyTo of the request's own."""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping

from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from lxml import etree
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor

from gateway import metrics, soap
from gateway.config import Settings
from gateway.failures import failure_fields
from gateway.mtom import (
    MULTIPART_RELATED,
    Attachment,
    MtomMessage,
    XopPackage,
    parse_content_type,
    read_multipart,
    resolve_xop,
    root_xml,
)
from gateway.outbox import Answer, Outbox, Routing, routing_for
from gateway.query_threads import CLIENT_CLOSED_REQUEST, ClientGone, run_query
from gateway.schema import check_body
from gateway.soap import FaultCode, SoapFault, SoapRequest
from registry.ebrim import XmlRejected, parse_xml
from registry.ebrim.xml import XDS, qname
from registry.store import RegistryStore
from repository.store import DocumentStore

_XML_MEDIA_TYPES = ("", soap.SOAP12_MEDIA_TYPE, "text/xml", "application/xml")

# A plain envelope up to this size is parsed on the event loop (queries are a few KB): longer
# ones, and MTOM packages, are parsed in a worker thread as parsing them takes long.
_READ_ON_LOOP_BYTES = 64 * 1024

# ITI-41 documents: read from their MIME part directly instead of through base64 text.
_BYTES_AS_THEY_ARE = frozenset({qname(XDS, "Document")})


@dataclasses.dataclass
class Exchange:
    """One request as a handler sees it, with the stores and settings to answer it from."""

    request: SoapRequest
    mtom: bool
    settings: Settings
    registry: RegistryStore
    documents: DocumentStore
    # Set when the answer goes to the request's wsa:ReplyTo (or wsa:FaultTo) later.
    routing: Routing | None = None


Handler = Callable[[Exchange], Response]


@dataclasses.dataclass
class IncomingMessage:
    """A request body as received: a plain envelope's bytes, or an MTOM package."""

    content_type: str
    envelope: bytes = b""
    package: XopPackage | None = None

    def close(self) -> None:
        """Release the temporary files of MTOM parts."""
        if self.package is not None:
            self.package.close()


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

    def __init__(
        self, name: str, handlers: Mapping[str, Handler], *, queries: Iterable[str] = ()
    ) -> None:
        self.name = name
        self.handlers = handlers
        # The actions answered from the registry alone, in the query threads (query_threads.py).
        self.queries = frozenset(queries)
        self.log = logging.getLogger(f"xcads.{name}")

    async def answer(self, request: Request) -> Response:
        """Answer one HTTP request, handling it off the event loop.

        A request whose wsa:ReplyTo is an address of its own gets 202 Accepted at once; its
        answer is POSTed there by the app's Outbox (ITI TF-2x Appendix V.3).
        """
        state = request.app.state
        try:
            incoming = await receive(request, state.settings)
        except SoapFault as error:
            return self._fault(error, None, None)

        stores = (state.settings, state.registry, state.documents)
        try:
            # The envelope is read first, so that its action chooses the threads; a small plain
            # one here, larger ones and MTOM packages in the shared threads.
            if incoming.package is None and len(incoming.envelope) <= _READ_ON_LOOP_BYTES:
                exchange = self._exchange(incoming, *stores)
            else:
                exchange = await run_in_threadpool(self._exchange, incoming, *stores)
            if isinstance(exchange, Response):
                incoming.close()
                return exchange

            if exchange.request.action in self.queries:
                gone = request.is_disconnected
                outcome = await run_query(state, self._answer_now, exchange, gone=gone)
            else:
                outcome = await run_in_threadpool(self._answer_now, exchange)
        except ClientGone:
            incoming.close()
            self.log.info("%s.abandoned action=%s", self.name, exchange.request.action)
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except BaseException:
            incoming.close()
            raise
        if isinstance(outcome, Response):
            incoming.close()
            return outcome
        return self._accept(outcome, incoming, state.outbox)

    def dispatch(self, exchange: Exchange) -> Answer:
        """Run the handler of the request's action; a SOAP Fault if there is none or it fails."""
        action = exchange.request.action
        routing = exchange.routing
        fault_to = routing.fault_to if routing else None
        try:
            return Answer(self._handler(action)(exchange), is_fault=False)
        except SoapFault as error:
            response = self._fault(error, action, exchange.request.message_id, fault_to)
            return Answer(response, is_fault=True)
        except Exception as error:
            # Exception texts can quote SQL parameters (patient ids): only the type above DEBUG.
            self.log.error("%s.failed action=%r %s", self.name, action, failure_fields(error))
            self.log.debug("%s.failed.detail", self.name, exc_info=True)
            error = SoapFault(FaultCode.RECEIVER, "the request could not be processed")
            return Answer(fault_response(error, None, fault_to), is_fault=True)

    def _answer_now(self, exchange: Exchange) -> Response | Exchange:
        """Answer a request read; the Exchange instead if the answer goes out later."""
        try:
            exchange.routing = routing_for(exchange.request, exchange.settings)
        except SoapFault as error:
            return self._fault(error, exchange.request.action, exchange.request.message_id)
        if exchange.routing is not None:
            return exchange
        return self.dispatch(exchange).response

    def _exchange(
        self,
        incoming: IncomingMessage,
        settings: Settings,
        registry: RegistryStore,
        documents: DocumentStore,
    ) -> Exchange | Response:
        """Read the envelope; a fault response if it cannot be read."""
        try:
            soap_request, mtom = read_request(incoming)
        except SoapFault as error:
            return self._fault(error, None, None)
        except Exception as error:
            self.log.error("%s.failed action=None %s", self.name, failure_fields(error))
            self.log.debug("%s.failed.detail", self.name, exc_info=True)
            error = SoapFault(FaultCode.RECEIVER, "the request could not be processed")
            return fault_response(error, None)
        metrics.note_action(soap_request.action)
        return Exchange(soap_request, mtom, settings, registry, documents)

    def _accept(self, exchange: Exchange, incoming: IncomingMessage, outbox: Outbox) -> Response:
        request = exchange.request
        try:
            outbox.accept(
                functools.partial(self.dispatch, exchange),
                routing=exchange.routing,
                message_id=request.message_id,
                action=request.action,
                release=incoming.close,
            )
        except SoapFault as error:
            incoming.close()
            return self._fault(error, request.action, request.message_id)
        self.log.info("%s.accepted action=%s pending=%d", self.name, request.action, outbox.pending)
        # WS-Addressing 1.0 SOAP Binding 5.2.2: the request's connection gets no SOAP envelope.
        return Response(status_code=202)

    def _fault(
        self,
        error: SoapFault,
        action: str | None,
        relates_to: str | None,
        to: soap.EndpointReference | None = None,
    ) -> Response:
        self.log.info(
            "%s.fault code=%s action=%s reason=%s", self.name, error.code, action, error.reason
        )
        return fault_response(error, relates_to, to)

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


async def receive(request: Request, settings: Settings) -> IncomingMessage:
    """Read a request body: MTOM parts as they arrive (see `read_mtom_stream`), a plain envelope
    up to max_envelope_bytes. Close the result once the request is answered."""
    content_type = request.headers.get("content-type", "")
    media_type = parse_content_type(content_type)[0] if content_type else ""
    if media_type == MULTIPART_RELATED:
        return IncomingMessage(content_type, package=await read_mtom_stream(request))

    limit = settings.max_envelope_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            message = f"the SOAP envelope is larger than {limit} bytes; send documents as MTOM"
            raise SoapFault(FaultCode.SENDER, message, http_status=413)
    return IncomingMessage(content_type, envelope=bytes(body))


async def read_mtom_stream(request: Request) -> XopPackage:
    """Read an MTOM request as it arrives: the root part in memory (up to max_envelope_bytes),
    every other part spooled to a temporary file under <data_dir>/spool.

    Raise SoapFault(Sender) for a malformed body. The caller closes the package.
    """
    settings = request.app.state.settings
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    return await read_multipart(
        request.stream(),
        request.headers.get("content-type", ""),
        max_root_bytes=settings.max_envelope_bytes,
        spool_dir=settings.spool_dir,
    )


def read_request(incoming: IncomingMessage) -> tuple[SoapRequest, bool]:
    """Read a SOAP 1.2 request sent plain or as MTOM; tell which it was."""
    package = incoming.package
    if package is not None:
        try:
            root = parse_xml(root_xml(package))
        except XmlRejected as exc:
            raise SoapFault(FaultCode.SENDER, str(exc)) from None
        resolve_xop(root, package.parts, keep=_BYTES_AS_THEY_ARE)
        request = soap.read_envelope(root, action=package.action)
        request.attachments = dict(package.parts)
        return request, True

    media_type, params = (
        parse_content_type(incoming.content_type) if incoming.content_type else ("", {})
    )
    if media_type not in _XML_MEDIA_TYPES:
        raise SoapFault(FaultCode.SENDER, f"unsupported media type {media_type}", http_status=415)
    return soap.parse_envelope(incoming.envelope, action=params.get("action")), False


def expect_body(request: SoapRequest, tag: str) -> etree._Element:
    """Return the request's body element; fault if it is not a `tag` or not schema-valid."""
    if request.body.tag != tag:
        found = etree.QName(request.body).localname
        expected = etree.QName(tag).localname
        if found == expected:
            # The right name in the wrong (or no) namespace: say which, or the fault reads
            # "needs a AdhocQueryRequest body, not AdhocQueryRequest".
            found, expected = request.body.tag, tag
        raise SoapFault(
            FaultCode.SENDER, f"the action {request.action} needs a {expected} body, not {found}"
        )
    check_body(request.body)
    return request.body


def response_envelope(
    exchange: Exchange, body: etree._Element | None, action: str
) -> etree._Element:
    """Wrap `body` in the response envelope: RelatesTo the request, To its ReplyTo if async.

    Without `body` the Body is left empty for a body serialized already (`response_message`),
    which is only ever a successful AdhocQueryResponse, so there is no failure to note.
    """
    if body is not None:
        metrics.note_response(body)
    to = exchange.routing.reply_to if exchange.routing else None
    return soap.envelope(body, action=action, relates_to=exchange.request.message_id, to=to)


def response_message(exchange: Exchange, body: etree._Element | bytes, action: str) -> bytes:
    """The response envelope with `body` in it, serialized; `body` may be serialized already."""
    if isinstance(body, bytes):
        return soap.serialize_with_body(response_envelope(exchange, None, action), body)
    return soap.serialize(response_envelope(exchange, body, action))


def reply(exchange: Exchange, body: etree._Element | bytes, action: str) -> Response:
    """Answer with `body` in an envelope; MTOM if the request came as MTOM."""
    if exchange.mtom:
        # ITI TF-2x V.3.6: a request sent as MTOM is answered as MTOM.
        return mtom_reply(exchange, body, action, [])
    return Response(response_message(exchange, body, action), media_type=soap.content_type(action))


def mtom_reply(
    exchange: Exchange,
    body: etree._Element | bytes,
    action: str,
    attachments: Iterable[Attachment],
) -> Response:
    """Answer with `body` and `attachments` as MTOM; documents are read only while streaming."""
    message = MtomMessage(response_message(exchange, body, action), list(attachments), action)
    return StreamingResponse(message.stream(), media_type=message.content_type)


def fault_response(
    error: SoapFault, relates_to: str | None, to: soap.EndpointReference | None = None
) -> Response:
    """Answer with the SOAP Fault for `error`; `to` is the wsa:FaultTo of an async request."""
    metrics.note_fault()
    message = soap.fault(error, relates_to=relates_to, to=to)
    return Response(message.body, status_code=message.status, media_type=message.content_type)
