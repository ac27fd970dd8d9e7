"""What the registry endpoint's write transactions (ITI-42, ITI-57, ITI-62) share.

Each is done whole or not at all and answered with an rs:RegistryResponse: Success, or Failure
with one RegistryError per issue. Each logs one line: its event, its counts, status, error codes
and time taken.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from lxml import etree

from registry.ebrim import ResponseStatus, registry_response
from registry.errors import Issue, XdsError, errors_in

log = logging.getLogger("xcads.registry")


def run_transaction(event: str, counts: dict[str, int], work: Callable[[], None]) -> etree._Element:
    """Run `work` and answer with its outcome; `work` may update `counts`, which are logged."""
    started = time.perf_counter()
    try:
        work()
        issues: list[Issue] = []
    except XdsError as error:
        issues = error.issues

    status = ResponseStatus.FAILURE if errors_in(issues) else ResponseStatus.SUCCESS
    log.info(
        "%s %s status=%s errors=%s ms=%.1f",
        event,
        " ".join(f"{name}={count}" for name, count in counts.items()),
        status.name,
        ",".join(sorted({issue.code for issue in issues})),
        (time.perf_counter() - started) * 1000,
    )
    return registry_response(status, issues)
