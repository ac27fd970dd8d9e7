"""Asynchronous Web Services Exchange: answers POSTed later to the request's wsa:ReplyTo.

ITI TF-2x Appendix V.3 and WS-Addressing 1.0 SOAP Binding 5.2: a request whose wsa:ReplyTo is an
address of its own (neither anonymous nor none) is acknowledged with HTTP 202 and an empty body;
its response travels on a new HTTP connection to that address, or a fault to wsa:FaultTo when
given. The `Outbox` handles such requests in the background, POSTs each answer with bounded
retries and exponential backoff, and records the ones it could not deliver.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

import httpx
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from gateway import soap
from gateway.config import Settings
from gateway.mtom import CHUNK_SIZE, SPOOL_MEMORY_BYTES
from gateway.soap import EndpointReference, FaultCode, SoapFault, SoapRequest
from registry.ebrim.xml import qname

log = logging.getLogger("xcads.async")

MAX_BACKOFF_SECONDS = 300.0
# A receiver answering these may take the message on a later try; any other 4xx never will.
_RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Routing:
    """Where the answers to one asynchronous request go."""

    reply_to: EndpointReference
    fault_to: EndpointReference


@dataclass
class Answer:
    """A handled request: its response or fault, as the request's own connection would get it."""

    response: Response
    is_fault: bool


def routing_for(request: SoapRequest, settings: Settings) -> Routing | None:
    """Return where the answers to `request` go later, or None to answer on its own connection.

    Raise SoapFault(Sender) when the addresses cannot be used: asynchronous replies are off, a host
    is not allowed, or wsa:MessageID (which the answer's wsa:RelatesTo needs) is missing. A
    wsa:FaultTo that is absent or anonymous sends faults to wsa:ReplyTo, as the request's own
    connection has already been answered.
    """
    reply_to = request.reply_to
    if reply_to is None or reply_to.is_anonymous:
        return None

    if not request.message_id:
        raise SoapFault(
            FaultCode.SENDER,
            "a wsa:MessageID header is required when wsa:ReplyTo is not anonymous",
            subcode=qname(soap.WSA, "MessageAddressingHeaderRequired"),
            problem_header=qname(soap.WSA, "MessageID"),
        )
    fault_to = request.fault_to
    if fault_to is None or fault_to.is_anonymous:
        fault_to = reply_to
    for header, endpoint in (("ReplyTo", reply_to), ("FaultTo", fault_to)):
        if not endpoint.is_none:
            check_reply_address(endpoint.address, settings.async_allowed_reply_hosts, header)
    return Routing(reply_to, fault_to)


def check_reply_address(address: str, allowed_hosts: list[str], header: str = "ReplyTo") -> None:
    """Raise SoapFault(Sender) unless `address` is an http(s) URL on an allowed host.

    The address comes from the sender: without this check any client could make the gateway
    POST to hosts inside its own network.
    """
    problem = qname(soap.WSA, header)
    if not allowed_hosts:
        raise SoapFault(
            FaultCode.SENDER,
            f"this endpoint sends no asynchronous replies; wsa:{header} must be anonymous",
            subcode=qname(soap.WSA, "InvalidAddressingHeader"),
            subsubcode=qname(soap.WSA, "OnlyAnonymousAddressSupported"),
            problem_header=problem,
        )
    try:
        url = httpx.URL(address)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host or url.userinfo:
        raise SoapFault(
            FaultCode.SENDER,
            f"the wsa:{header} address is not an http or https URL",
            subcode=qname(soap.WSA, "InvalidAddressingHeader"),
            problem_header=problem,
        )
    port = url.port or (443 if url.scheme == "https" else 80)
    if not any(_host_matches(pattern, url.host, port) for pattern in allowed_hosts):
        raise SoapFault(
            FaultCode.SENDER,
            f"this endpoint sends no replies to the wsa:{header} host {url.host}",
            subcode=qname(soap.WSA, "InvalidAddressingHeader"),
            problem_header=problem,
        )


def _host_matches(pattern: str, host: str, port: int) -> bool:
    """Match `host` (and `port`) against 'name', 'name:port', '*.suffix', '[v6]:port' or '*'."""
    pattern_port = None
    if pattern.startswith("["):
        address, _, rest = pattern[1:].partition("]")
        pattern, pattern_port = address, rest.removeprefix(":") or None
    elif pattern.count(":") == 1:
        pattern, pattern_port = pattern.split(":")
    if pattern_port is not None and pattern_port != str(port):
        return False
    return fnmatch.fnmatchcase(host.lower(), pattern.lower())


@dataclass
class _Job:
    """One accepted request: its handling, where its answer goes, and what to release after."""

    handle: Callable[[], Answer]
    release: Callable[[], None]
    routing: Routing
    message_id: str
    action: str | None
    attempts: int = 0


class Outbox:
    """Handles accepted asynchronous requests and delivers their answers, retrying on failure.

    Bounded: at most `async_max_pending` answers wait at once, and a few are handled or sent at
    a time. On shutdown, deliveries still running after `async_shutdown_seconds` are stopped and
    recorded as failed.
    """

    def __init__(self, settings: Settings, *, concurrency: int = 4) -> None:
        self.settings = settings
        self.concurrency = concurrency
        self._tasks: set[asyncio.Task] = set()
        self._slots: asyncio.Semaphore | None = None
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        self._record_lock = threading.Lock()

    @property
    def pending(self) -> int:
        """How many accepted requests have not been answered yet."""
        return len(self._tasks)

    def accept(
        self,
        handle: Callable[[], Answer],
        *,
        routing: Routing,
        message_id: str,
        action: str | None,
        release: Callable[[], None],
    ) -> None:
        """Queue a request: `handle` runs in a worker thread, its answer goes to `routing`.

        Raise SoapFault(Receiver, 503) when too many answers wait already or shutdown began.
        """
        if self._closed or len(self._tasks) >= self.settings.async_max_pending:
            raise SoapFault(
                FaultCode.RECEIVER,
                "too many asynchronous requests are waiting; try again later",
                http_status=503,
            )
        if self._client is None:
            timeout = httpx.Timeout(self.settings.async_timeout_seconds)
            # Redirects are not followed: they could lead to a host the allow-list refuses.
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
            self._slots = asyncio.Semaphore(self.concurrency)
        job = _Job(handle, release, routing, message_id, action)
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Let pending deliveries finish for a while, then stop and record the rest."""
        self._closed = True
        if self._tasks:
            _, unfinished = await asyncio.wait(
                set(self._tasks), timeout=self.settings.async_shutdown_seconds
            )
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        # An app served again (as tests do) starts with an open outbox.
        self._closed = False

    async def _run(self, job: _Job) -> None:
        target = job.routing.reply_to
        try:
            async with self._slots:
                try:
                    answer = await run_in_threadpool(job.handle)
                finally:
                    job.release()
                target = job.routing.fault_to if answer.is_fault else job.routing.reply_to
                if target.is_none:
                    log.info("async.discarded action=%s fault=%s", job.action, answer.is_fault)
                    return
                body, size = await _spool(answer.response, self.settings)
            with body:
                content_type = answer.response.headers.get("content-type", "")
                await self._deliver(job, target, body, size, content_type)
        except asyncio.CancelledError:
            self._failed(job, target, "shutdown")
            raise
        except Exception as error:
            log.debug("async.failed.detail", exc_info=True)
            self._failed(job, target, type(error).__name__)

    async def _deliver(
        self, job: _Job, target: EndpointReference, body: BinaryIO, size: int, content_type: str
    ) -> None:
        """POST the answer until it is taken or the tries run out."""
        tries = 1 + max(self.settings.async_retries, 0)
        host = httpx.URL(target.address).host
        for attempt in range(1, tries + 1):
            job.attempts = attempt
            started = time.perf_counter()
            async with self._slots:
                outcome = await self._post(target.address, body, size, content_type)
            if isinstance(outcome, int) and 200 <= outcome < 300:
                log.info(
                    "async.delivered action=%s host=%s status=%d attempts=%d bytes=%d ms=%.1f",
                    job.action,
                    host,
                    outcome,
                    attempt,
                    size,
                    (time.perf_counter() - started) * 1000,
                )
                return
            error = f"HTTP {outcome}" if isinstance(outcome, int) else outcome
            retryable = not isinstance(outcome, int) or outcome >= 500 or outcome in _RETRY_STATUSES
            if not retryable or attempt == tries:
                self._failed(job, target, error)
                return
            delay = min(
                self.settings.async_backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS
            )
            log.info(
                "async.retry action=%s host=%s attempt=%d error=%s delay_s=%.1f",
                job.action,
                host,
                attempt,
                error,
                delay,
            )
            await asyncio.sleep(delay)

    async def _post(self, address: str, body: BinaryIO, size: int, content_type: str) -> int | str:
        """POST once; return the HTTP status, or the name of the transport error."""
        headers = {"content-type": content_type, "content-length": str(size)}
        try:
            async with self._client.stream(
                "POST", address, content=_chunks(body), headers=headers
            ) as response:
                # The receiver's body is not read: only its status matters.
                return response.status_code
        except httpx.HTTPError as error:
            return type(error).__name__

    def _failed(self, job: _Job, target: EndpointReference, error: str) -> None:
        """Log an undeliverable answer and append it to the record of failed deliveries."""
        log.warning(
            "async.failed action=%s host=%s attempts=%d error=%s",
            job.action,
            httpx.URL(target.address).host,
            job.attempts,
            error,
        )
        # Addresses and message ids only: the answer itself (patient data) is not kept.
        record = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "relates_to": job.message_id,
            "action": job.action,
            "address": target.address,
            "attempts": job.attempts,
            "error": error,
        }
        path = self.settings.failed_deliveries_path
        try:
            with self._record_lock, path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(record) + "\n")
        except OSError as exc:
            log.error("async.record_failed error=%s", type(exc).__name__)


async def _spool(response: Response, settings: Settings) -> tuple[BinaryIO, int]:
    """Write a response body to a temporary file once, so that every try sends the same bytes."""
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    file = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, dir=settings.spool_dir)  # noqa: SIM115
    try:
        if isinstance(response, StreamingResponse):
            async for chunk in response.body_iterator:
                file.write(chunk.encode() if isinstance(chunk, str) else chunk)
        else:
            file.write(response.body)
    except BaseException:
        file.close()
        raise
    return file, file.tell()


async def _chunks(file: BinaryIO) -> AsyncIterator[bytes]:
    file.seek(0)
    while chunk := file.read(CHUNK_SIZE):
        yield chunk
