"""`GET /ready`: whether this replica can answer, its registry database and document store both
reachable; 503 with a JSON reason when not, so that a balancer sends its traffic elsewhere."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from registry.sql import SqlRegistryStore
from repository.store import DocumentStore

log = logging.getLogger("xcads.gateway")

# A key no document has (uniqueIds are OIDs or UUIDs): asking for it touches the store only.
PROBE_KEY = "xcads-readiness-probe"

router = APIRouter()


def check_database(registry: SqlRegistryStore) -> None:
    """Run one trivial query on the registry database."""
    with registry.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def check_documents(documents: DocumentStore) -> None:
    """Ask the document store about one key."""
    documents.exists(PROBE_KEY)


async def _within(request: Request, seconds: float, what: str, check, *args) -> str | None:
    """Run a blocking check off the event loop; the reason it failed, or None.

    A check still running from an earlier probe is awaited rather than started again, so that a
    store that hangs cannot fill the threadpool with probes.
    """
    running: dict[str, asyncio.Task] = request.app.state.readiness_checks
    task = running.get(what)
    if task is None or task.done():
        task = asyncio.get_running_loop().create_task(run_in_threadpool(check, *args))
        running[what] = task
    try:
        async with asyncio.timeout(seconds):
            await asyncio.shield(task)
    except TimeoutError:
        return f"{what} did not answer within {seconds} seconds"
    except Exception as error:
        # The exception's text can carry a URL with credentials: its type tells enough.
        return f"{what} cannot be reached ({type(error).__name__})"
    return None


@router.get("/ready", include_in_schema=False)
async def ready(request: Request) -> JSONResponse:
    """Answer 200 when the database and document store answer, else 503 with the reason."""
    state = request.app.state
    if not hasattr(state, "readiness_checks"):
        state.readiness_checks = {}
    seconds = state.settings.ready_timeout_seconds
    reasons = [
        reason
        for reason in await asyncio.gather(
            _within(request, seconds, "the registry database", check_database, state.registry),
            _within(request, seconds, "the document store", check_documents, state.documents),
        )
        if reason
    ]
    if reasons:
        reason = "; ".join(reasons)
        log.warning("ready.not_ready reason=%r", reason)
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})
