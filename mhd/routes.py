"""HTTP edge of the MHD Document Recipient: `POST /fhir` with an ITI-65 transaction Bundle.

Every failure of the submission answers 400 with an OperationOutcome: FHIR's transaction rules
(http.html#transaction) call for a 400-series status, and one status keeps senders simple. Only
failures of the server answer 500.
"""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.failures import failure_fields
from mhd.outcome import (
    BundleRejected,
    FhirIssue,
    operation_outcome,
    server_error,
    transaction_response,
)
from mhd.recipient import receive_bundle
from registry.errors import ErrorCode

FHIR_JSON = "application/fhir+json"
JSON_MEDIA_TYPES = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})

log = logging.getLogger("xcads.mhd")
router = APIRouter()


@router.post("/fhir")
@router.post("/fhir/", include_in_schema=False)
async def provide_document_bundle(request: Request) -> JSONResponse:
    """ITI-65 Provide Document Bundle: answer a transaction-response or an OperationOutcome."""
    started = time.perf_counter()
    try:
        media_type = request.headers.get("content-type", FHIR_JSON).split(";")[0].strip().lower()
        if media_type not in JSON_MEDIA_TYPES:
            message = f"Content-Type {media_type!r} is not supported; send application/fhir+json"
            issue = FhirIssue(
                ErrorCode.REGISTRY_METADATA_ERROR, message, issue_type="not-supported"
            )
            raise BundleRejected([issue], status=415)

        body = await request.body()
        state = request.app.state
        locations = await run_in_threadpool(
            receive_bundle,
            body,
            settings=state.settings,
            registry=state.registry,
            documents=state.documents,
        )
    except BundleRejected as rejected:
        log.info(
            "iti65.rejected status=%d codes=%s ms=%.1f",
            rejected.http_status,
            ",".join(sorted({str(issue.code) for issue in rejected.issues})),
            _ms(started),
        )
        return _fhir(operation_outcome(rejected.issues), rejected.http_status)
    except Exception as error:
        log.error("iti65.failed %s ms=%.1f", failure_fields(error), _ms(started))
        log.debug("iti65.failed.detail", exc_info=True)
        return _fhir(server_error("the bundle could not be processed; nothing was stored"), 500)

    log.info("iti65.stored entries=%d ms=%.1f", len(locations), _ms(started))
    return _fhir(transaction_response(locations), 200)


def _fhir(resource: dict, status: int) -> JSONResponse:
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
