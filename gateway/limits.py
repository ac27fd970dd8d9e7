"""A cap on request body size (413) and on how long a body may stall between chunks (408), each
answered in the shape of the endpoint's protocol."""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import soap
from mhd.outcome import FhirIssue, operation_outcome
from registry.errors import ErrorCode

log = logging.getLogger("xcads.gateway")


class RequestTooLarge(Exception):
    """The request body passed the configured limit."""


class RequestStalled(Exception):
    """The next chunk of the request body did not arrive in time."""


class BodySizeLimit:
    """Refuse bodies above `max_bytes`, by Content-Length up front or by counting as they arrive,
    and bodies whose next chunk takes longer than `read_timeout` seconds to arrive."""

    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

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
        body_complete = False
        refusal: Exception | None = None
        started = False

        async def counting_receive() -> Message:
            nonlocal received, body_complete, refusal
            if body_complete or not self.read_timeout:
                message = await receive()
            else:
                # Only the body's arrival is timed: once it is whole, receive() waits for the
                # client to disconnect, as long as a streamed answer takes.
                try:
                    async with asyncio.timeout(self.read_timeout):
                        message = await receive()
                except TimeoutError:
                    refusal = RequestStalled()
                    raise refusal from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_complete = not message.get("more_body", False)
                if received > self.max_bytes:
                    refusal = RequestTooLarge()
                    raise refusal
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the app answers to the aborted read (its own error) is replaced by ours.
            if refusal is not None and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except (RequestTooLarge, RequestStalled):
            if started:
                raise
        if isinstance(refusal, RequestStalled) and not started:
            log.warning("request.stalled path=%r timeout_s=%s", scope["path"], self.read_timeout)
            message = f"the request body stalled for more than {self.read_timeout} seconds"
            await refuse(scope, send, 408, message)
        elif refusal is not None and not started:
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        log.warning("request.too_large path=%r max_bytes=%d", scope["path"], self.max_bytes)
        message = f"the request body is larger than this service accepts ({self.max_bytes} bytes)"
        await refuse(scope, send, 413, message)


async def refuse(scope: Scope, send: Send, status: int, message: str) -> None:
    """Answer `status` with an OperationOutcome on /fhir, else a SOAP Fault, and close."""
    if scope["path"].lower().startswith("/fhir"):
        issue_type = "too-costly" if status == 413 else "timeout"
        issue = FhirIssue(ErrorCode.REGISTRY_ERROR, message, issue_type=issue_type)
        body = json.dumps(operation_outcome([issue])).encode()
        media_type = "application/fhir+json"
    else:
        fault = soap.fault(soap.SoapFault(soap.FaultCode.SENDER, message))
        body, media_type = fault.body, fault.content_type
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
