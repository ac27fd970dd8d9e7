"""The outermost layer of the app: gives each request its id and counts it in the metrics."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import logs, metrics

# Probes and scrapes are not IHE traffic; counting them would only blur the figures.
UNCOUNTED_PATHS = frozenset({"/health", "/ready", "/metrics"})
_REQUEST_ID_HEADER = logs.REQUEST_ID_HEADER.lower().encode()


class ObserveRequests:
    """Take X-Request-ID from the request if sane (else make one), echo it on the response, and
    record the request's transaction, outcome, latency and bytes once its answer is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request inside its id's and its observation's context."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        header = None
        for name, value in scope["headers"]:
            if name == _REQUEST_ID_HEADER:
                header = value
                break
        request_id = logs.request_id_from(header)
        echoed = (_REQUEST_ID_HEADER, request_id.encode("ascii"))
        observation = metrics.Observation(metrics.http_transaction(scope["method"], scope["path"]))
        id_token = logs.request_id.set(request_id)
        observation_token = metrics.observation.set(observation)
        received = 0
        sent = 0
        status = 500

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def tagging_send(message: Message) -> None:
            nonlocal sent, status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, tagging_send)
        finally:
            logs.request_id.reset(id_token)
            metrics.observation.reset(observation_token)
            if scope["path"] not in UNCOUNTED_PATHS:
                metrics.record(
                    observation.transaction or metrics.OTHER,
                    time.perf_counter() - started,
                    failed=observation.failed or status >= 400,
                    received=received,
                    sent=sent,
                )
