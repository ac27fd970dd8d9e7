"""Prometheus metrics at `GET /metrics`: requests, errors and latency per IHE transaction,
documents stored, and bytes received and sent.

Each replica is one process, so the client library's default registry holds everything.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import APIRouter
from fastapi.responses import Response
from lxml import etree
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from repository.store import DocumentStore, StagedDocument, StoredBytes

# Requests that reach no IHE endpoint, or name no action it has, are counted under this label.
OTHER = "other"

# wsa:Action of each SOAP request, by the transaction it starts (ITI TF-2 and its supplements).
SOAP_TRANSACTIONS = {
    "urn:ihe:iti:2007:RegistryStoredQuery": "ITI-18",
    "urn:ihe:iti:2007:CrossGatewayQuery": "ITI-38",
    "urn:ihe:iti:2007:CrossGatewayRetrieve": "ITI-39",
    "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b": "ITI-41",
    "urn:ihe:iti:2007:RegisterDocumentSet-b": "ITI-42",
    "urn:ihe:iti:2007:RetrieveDocumentSet": "ITI-43",
    "urn:ihe:iti:2010:UpdateDocumentSet": "ITI-57",
    "urn:ihe:iti:2010:DeleteDocumentSet": "ITI-62",
    "urn:ihe:iti:2017:RemoveDocuments": "ITI-86",
}

# MHD resources below /fhir, by the transaction that reads them (ITI-65 posts to /fhir itself).
FHIR_TRANSACTIONS = {"List": "ITI-66", "DocumentReference": "ITI-67", "Binary": "ITI-68"}
MHD_DOCUMENTS_PATH = "/mhd/documents/"

_FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"

REQUESTS = Counter("xcads_requests", "Requests answered, by IHE transaction.", ["transaction"])
ERRORS = Counter(
    "xcads_request_errors",
    "Requests answered with an error (HTTP 4xx/5xx, SOAP Fault or Failure status).",
    ["transaction"],
)
LATENCY = Histogram(
    "xcads_request_duration_seconds",
    "Time from a request's arrival to the last byte of its answer.",
    ["transaction"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
RECEIVED = Counter("xcads_received_bytes", "Request body bytes received.", ["transaction"])
SENT = Counter("xcads_sent_bytes", "Response body bytes sent.", ["transaction"])
DOCUMENTS_STORED = Counter(
    "xcads_documents_stored", "Documents whose bytes were stored.", ["transaction"]
)


@dataclass(slots=True)
class Observation:
    """What is learnt about one request while it is answered."""

    transaction: str | None = None
    failed: bool = False


observation: ContextVar[Observation | None] = ContextVar("xcads_observation", default=None)


@dataclass(slots=True)
class _Series:
    requests: Counter
    errors: Counter
    latency: Histogram
    received: Counter
    sent: Counter


_series: dict[str, _Series] = {}
_series_lock = threading.Lock()


def _series_of(transaction: str) -> _Series:
    # labels() takes a lock and builds a key on every call; the children are kept here instead.
    found = _series.get(transaction)
    if found is None:
        with _series_lock:
            found = _Series(
                REQUESTS.labels(transaction),
                ERRORS.labels(transaction),
                LATENCY.labels(transaction),
                RECEIVED.labels(transaction),
                SENT.labels(transaction),
            )
            _series[transaction] = found
    return found


def record(transaction: str, seconds: float, *, failed: bool, received: int, sent: int) -> None:
    """Count one answered request of `transaction`."""
    series = _series_of(transaction)
    series.requests.inc()
    series.latency.observe(seconds)
    if failed:
        series.errors.inc()
    if received:
        series.received.inc(received)
    if sent:
        series.sent.inc(sent)


def http_transaction(method: str, path: str) -> str | None:
    """The MHD transaction a request's method and path name; None for the SOAP endpoints."""
    if path.startswith(MHD_DOCUMENTS_PATH):
        return "ITI-68"
    if not path.startswith("/fhir"):
        return None
    resource = path[len("/fhir") :].strip("/").split("/", 1)[0]
    if not resource:
        return "ITI-65" if method == "POST" else OTHER
    return FHIR_TRANSACTIONS.get(resource, OTHER)


def note_action(action: str | None) -> None:
    """Name the current request's transaction after its wsa:Action."""
    current = observation.get()
    if current is not None:
        current.transaction = SOAP_TRANSACTIONS.get(action or "", OTHER)


def note_response(body: etree._Element) -> None:
    """Count the current request as an error if its response body says Failure."""
    current = observation.get()
    if current is None:
        return
    status = body.get("status")
    if status is None and len(body):
        status = body[0].get("status")
    if status == _FAILURE:
        current.failed = True


def note_fault() -> None:
    """Count the current request as an error: it was answered with a SOAP Fault."""
    current = observation.get()
    if current is not None:
        current.failed = True


class CountedDocumentStore(DocumentStore):
    """A document store that counts, by transaction, the documents promoted into it."""

    def __init__(self, inner: DocumentStore) -> None:
        self.inner = inner

    def stage(self, chunks: Iterable[bytes]) -> StagedDocument:
        """Stage bytes in the inner store."""
        return self.inner.stage(chunks)

    def promote(self, staged: StagedDocument, key: str) -> None:
        """Promote in the inner store and count one document stored."""
        self.inner.promote(staged, key)
        current = observation.get()
        DOCUMENTS_STORED.labels(current.transaction if current else OTHER).inc()

    def discard(self, staged: StagedDocument) -> None:
        """Discard in the inner store."""
        self.inner.discard(staged)

    def open(self, key: str) -> Iterator[bytes]:
        """Stream from the inner store."""
        return self.inner.open(key)

    def delete(self, key: str) -> None:
        """Delete from the inner store."""
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        """Ask the inner store."""
        return self.inner.exists(key)

    def documents(self) -> Iterator[StoredBytes]:
        """List the inner store's documents."""
        return self.inner.documents()

    def staged(self) -> Iterator[StoredBytes]:
        """List the inner store's staged bytes."""
        return self.inner.staged()

    def remove(self, item: StoredBytes) -> None:
        """Remove from the inner store."""
        self.inner.remove(item)


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    """Every metric in the Prometheus text format."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
