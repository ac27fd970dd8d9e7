"""A cap on request body size, answered with 413 in the shape of the endpoint's protocol."""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import soap
from mhd.outcome import FhirIssue, operation_outcome
from registry.errors import ErrorCode

log = logging.getLogger("xcads.gateway")


class RequestTooLarge(Exception):
    """The request body passed the configured limit."""


class BodySizeLimit:
    """Refuse bodies above `max_bytes`, by Content-Length up front or by counting as they arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting receive channel."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return

        received = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise RequestTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app answers to the aborted read (its own error) is replaced by 413.
            if exceeded and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except RequestTooLarge:
            if started:
                raise
        if exceeded and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        log.warning("request.too_large path=%r max_bytes=%d", scope["path"], self.max_bytes)
        message = f"the request body is larger than this service accepts ({self.max_bytes} bytes)"
        if scope["path"].lower().startswith("/fhir"):
            issue = FhirIssue(ErrorCode.REGISTRY_ERROR, message, issue_type="too-costly")
            body = json.dumps(operation_outcome([issue])).encode()
            media_type = "application/fhir+json"
        else:
            fault = soap.fault(soap.SoapFault(soap.FaultCode.SENDER, message))
            body, media_type = fault.body, fault.content_type
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
