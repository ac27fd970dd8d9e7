"""The threads that stored queries (ITI-18, ITI-38, ITI-66/67) run in: a few per process.

Everything else blocking runs in the shared thread pool, whose dozens of threads suit work
that waits on a disk, a database or S3. A query mostly computes under the GIL instead: eight
of them at once in eight threads answer fewer queries per second than two at a time, the
threads losing time to handing the GIL around (bench/run.py, ITI-38).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.datastructures import State

T = TypeVar("T")

# The status of an answer nobody receives, its client gone (not in HTTP; nginx's convention),
# so that metrics and logs tell such requests apart.
CLIENT_CLOSED_REQUEST = 499


class ClientGone(Exception):
    """The client closed its connection while its query waited for a thread."""


def query_limiter(state: State) -> anyio.CapacityLimiter:
    """The app's limiter of query threads, made on first use (it needs a running event loop)."""
    limiter = getattr(state, "query_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(state.settings.query_threads)
        state.query_limiter = limiter
    return limiter


async def run_query(
    state: State,
    function: Callable[..., T],
    *args: Any,
    gone: Callable[[], Awaitable[bool]] | None = None,
) -> T:
    """Run `function(*args)` in one of the app's query threads, waiting for one to be free.

    Raise ClientGone instead if `gone()` says, once a thread is free, that nobody waits for the
    answer any more: queued queries of clients that gave up are not run.
    """
    async with query_limiter(state):
        if gone is not None and await gone():
            raise ClientGone
        return await anyio.to_thread.run_sync(functools.partial(function, *args))
