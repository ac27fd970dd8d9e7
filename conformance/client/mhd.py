"""ITI-65 Provide Document Bundle, as an MHD Document Source sends it."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conformance.client.transport import EXIT_USAGE, ClientError, talking_to

log = logging.getLogger("xcads.client")

FHIR_JSON = "application/fhir+json"
FHIR_XML = "application/fhir+xml"
# A transaction-response Bundle or an OperationOutcome is small; more is not a FHIR answer.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EntryResponse:
    """One entry of a transaction-response Bundle: its status and location."""

    status: str
    location: str


@dataclass(frozen=True)
class OutcomeIssue:
    """One OperationOutcome issue: severity, code, the XDS error codes, and where."""

    severity: str
    code: str
    xds_codes: list[str]
    expression: list[str]
    diagnostics: str

    @property
    def is_error(self) -> bool:
        """Whether the issue is an error or fatal."""
        return self.severity in ("error", "fatal")


@dataclass
class SubmitAnswer:
    """What the Document Recipient answered."""

    http_status: int
    entries: list[EntryResponse] = field(default_factory=list)
    issues: list[OutcomeIssue] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        """Whether the bundle was accepted: HTTP 2xx and no error issue."""
        return 200 <= self.http_status < 300 and not any(issue.is_error for issue in self.issues)


def read_bundle(path: Path) -> tuple[bytes, str]:
    """Return a bundle file's bytes and its media type (FHIR XML if it starts with `<`)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start not in (b"{", b"<"):
        raise ClientError(f"{path} is neither FHIR JSON nor FHIR XML", EXIT_USAGE)
    return data, FHIR_XML if start == b"<" else FHIR_JSON


def provide_document_bundle(client: httpx.Client, url: str, bundle: Path) -> SubmitAnswer:
    """POST an ITI-65 transaction Bundle and read the transaction-response or OperationOutcome."""
    started = time.perf_counter()
    data, media_type = read_bundle(bundle)
    headers = {"Content-Type": media_type, "Accept": FHIR_JSON}
    with talking_to(url), client.stream("POST", url, content=data, headers=headers) as response:
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise ClientError(f"{url}: the answer is larger than {MAX_ANSWER_BYTES} bytes")
        status = response.status_code

    answer = read_answer(url, status, bytes(body))
    log.debug(
        "client.iti65 http=%d entries=%d issues=%d ms=%.1f",
        status,
        len(answer.entries),
        len(answer.issues),
        (time.perf_counter() - started) * 1000,
    )
    return answer


def read_answer(url: str, status: int, body: bytes) -> SubmitAnswer:
    """Read a transaction-response Bundle or an OperationOutcome; ClientError for anything else."""
    try:
        resource = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        resource = None
    kind = resource.get("resourceType") if isinstance(resource, dict) else None
    if kind not in ("Bundle", "OperationOutcome"):
        glimpse = " ".join(body[:120].decode("utf-8", errors="replace").split()) or "(empty body)"
        raise ClientError(
            f"{url}: HTTP {status}, not a FHIR Bundle or OperationOutcome: {glimpse!r}"
        )

    answer = SubmitAnswer(http_status=status)
    if kind == "OperationOutcome":
        answer.issues = _issues(resource)
        return answer
    for entry in _list(resource.get("entry")):
        reply = entry.get("response") if isinstance(entry, dict) else None
        if not isinstance(reply, dict):
            continue
        answer.entries.append(
            EntryResponse(
                status=str(reply.get("status", "")), location=str(reply.get("location", ""))
            )
        )
        outcome = reply.get("outcome")
        if isinstance(outcome, dict) and outcome.get("resourceType") == "OperationOutcome":
            answer.issues.extend(_issues(outcome))
    return answer


def _issues(outcome: dict) -> list[OutcomeIssue]:
    issues = []
    for issue in _list(outcome.get("issue")):
        if not isinstance(issue, dict):
            continue
        details = issue.get("details") if isinstance(issue.get("details"), dict) else {}
        codings = [c for c in _list(details.get("coding")) if isinstance(c, dict)]
        issues.append(
            OutcomeIssue(
                severity=str(issue.get("severity", "")),
                code=str(issue.get("code", "")),
                xds_codes=[str(c["code"]) for c in codings if c.get("code")],
                expression=[str(e) for e in _list(issue.get("expression"))],
                diagnostics=str(issue.get("diagnostics") or details.get("text") or ""),
            )
        )
    return issues


def _list(value: object) -> list:
    return value if isinstance(value, list) else []
