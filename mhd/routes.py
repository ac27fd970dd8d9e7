"""HTTP edge of the MHD Document Recipient: `POST /fhir` with an ITI-65 transaction Bundle, and
`POST /fhir/Bundle/$validate` to check one without storing it.

Every failure of the submission answers 400 with an OperationOutcome: FHIR's transaction rules
(http.html#transaction) call for a 400-series status, and one status keeps senders simple. Only
failures of the server answer 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from gateway.failures import failure_fields
from mhd.codemap import translation_outcomes
from mhd.formats import FhirFormat, format_of, render, request_format, response_format, xml_to_json
from mhd.outcome import (
    BundleRejected,
    operation_outcome,
    server_error,
    transaction_response,
)
from mhd.recipient import receive_bundle
from mhd.validate import validate_bundle, validation_parameters

T = TypeVar("T")

log = logging.getLogger("xcads.mhd")
router = APIRouter()


@router.post("/fhir")
@router.post("/fhir/", include_in_schema=False)
async def provide_document_bundle(request: Request) -> Response:
    """ITI-65 Provide Document Bundle: answer a transaction-response or an OperationOutcome."""
    started = time.perf_counter()
    wanted = FhirFormat.JSON
    try:
        wanted = _answer_format(request)
        documents = request.app.state.documents
        received = await _handle_body(request, receive_bundle, documents=documents)
    except BundleRejected as rejected:
        log.info(
            "iti65.rejected status=%d codes=%s ms=%.1f",
            rejected.http_status,
            ",".join(sorted({str(issue.code) for issue in rejected.issues})),
            _ms(started),
        )
        return _fhir(operation_outcome(rejected.issues), rejected.http_status, wanted)
    except Exception as error:
        log.error("iti65.failed %s ms=%.1f", failure_fields(error), _ms(started))
        log.debug("iti65.failed.detail", exc_info=True)
        message = "the bundle could not be processed; nothing was stored"
        return _fhir(server_error(message), 500, wanted)

    locations = received.mapped.locations
    log.info(
        "iti65.stored entries=%d ms=%.1f translated=%d sent=%s",
        len(locations),
        _ms(started),
        len(received.translations),
        (format_of(request.headers.get("content-type")) or FhirFormat.JSON).name.lower(),
    )
    outcomes = translation_outcomes(received.translations)
    answer = transaction_response(locations, outcomes, received.mapped.statuses)
    return _fhir(answer, 200, wanted)


@router.post("/fhir/Bundle/$validate")
async def validate_document_bundle(request: Request) -> Response:
    """$validate of an ITI-65 bundle: Parameters with the OperationOutcome and the XDS metadata.

    A bundle that fails validation still answers 200: the operation succeeded and its outcome
    lists the errors. Only a request without a bundle to validate answers 4xx.
    """
    started = time.perf_counter()
    wanted = FhirFormat.JSON
    try:
        wanted = _answer_format(request)
        result = await _handle_body(request, validate_bundle)
    except BundleRejected as rejected:
        log.info("iti65.validate.refused status=%d ms=%.1f", rejected.http_status, _ms(started))
        return _fhir(operation_outcome(rejected.issues), rejected.http_status, wanted)
    except Exception as error:
        log.error("iti65.validate.failed %s ms=%.1f", failure_fields(error), _ms(started))
        log.debug("iti65.validate.failed.detail", exc_info=True)
        return _fhir(server_error("the bundle could not be validated"), 500, wanted)

    log.info(
        "iti65.validated valid=%s codes=%s translated=%d ms=%.1f",
        str(result.valid).lower(),
        ",".join(sorted({str(issue.code) for issue in result.issues})),
        len(result.translations),
        _ms(started),
    )
    return _fhir(validation_parameters(result), 200, wanted)


async def _handle_body(request: Request, handle: Callable[..., T], **arguments: Any) -> T:
    """Give a FHIR body, as JSON, with the app's settings, registry and code map, to `handle`.

    `handle` runs in a worker thread, as it parses, maps and reads the registry.
    """
    sent = request_format(request.headers.get("content-type"))
    body = await request.body()
    if sent == FhirFormat.XML:
        body = await run_in_threadpool(xml_to_json, body)
    state = request.app.state
    return await run_in_threadpool(
        handle,
        body,
        settings=state.settings,
        registry=state.registry,
        code_map=state.code_map,
        **arguments,
    )


def _answer_format(request: Request) -> FhirFormat:
    """The format of the answer: `_format`, Accept, else that of the request (JSON if unknown)."""
    sent = format_of(request.headers.get("content-type")) or FhirFormat.JSON
    return response_format(sent, request.query_params.get("_format"), request.headers.get("accept"))


def _fhir(resource: dict, status: int, wanted: FhirFormat) -> Response:
    return Response(render(resource, wanted), status_code=status, media_type=wanted.value)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
