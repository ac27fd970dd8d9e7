"""Find and fix what a crash can leave between the registry and the document store.

Provide-and-Register removes the bytes of a failed submission itself; a process killed in the
middle cannot. It may leave staged bytes, or promoted bytes whose registry transaction never
committed. Both are orphans: bytes no DocumentEntry names. The opposite, a DocumentEntry whose
bytes are gone, is reported but never fixed here: its metadata is the only trace left of the
document, and removing it is a decision for a person (ITI-62).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from registry.store import RegistryStore
from repository.naming import object_name
from repository.store import DocumentStore, StoredBytes

log = logging.getLogger("xcads.repair")

BATCH = 500


@dataclass
class RepairReport:
    """What one repair pass found, and how many bytes it removed."""

    orphans: list[StoredBytes] = field(default_factory=list)
    stale_staged: list[StoredBytes] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    removed: int = 0
    refused: bool = False

    @property
    def clean(self) -> bool:
        """Tell whether nothing found is left unfixed."""
        found = len(self.orphans) + len(self.stale_staged)
        return not self.missing and not self.refused and self.removed == found


def repair(
    registry: RegistryStore,
    documents: DocumentStore,
    repository_unique_id: str,
    *,
    fix: bool = False,
    stale_after: timedelta = timedelta(minutes=60),
    now: datetime | None = None,
) -> RepairReport:
    """Find orphaned and stale bytes and DocumentEntries without bytes; remove the bytes if `fix`.

    Bytes written or promoted within `stale_after` are left alone: their submission may still be
    running. Bytes are orphans when no DocumentEntry of any repository has their uniqueId;
    missing bytes are looked for among this repository's DocumentEntries. With `fix`, orphans
    are removed only if the registry holds some DocumentEntry of this repository, so that a
    repair pointed at the wrong or an empty database cannot empty the store.
    """
    started = time.perf_counter()
    cutoff = (now or datetime.now(UTC)) - stale_after
    report = RepairReport()

    report.stale_staged = [item for item in documents.staged() if item.modified < cutoff]

    # Hashed names do not tell their key; they are matched against the registry's uniqueIds.
    hashed: dict[str, StoredBytes] = {}
    for batch in _batches(item for item in documents.documents() if item.modified < cutoff):
        named = [item for item in batch if item.key is not None]
        hashed.update((item.name, item) for item in batch if item.key is None)
        report.orphans += _unregistered(registry, named)

    has_entries = False
    for page in _pages(registry, repository_unique_id):
        has_entries = True
        for unique_id in page:
            hashed.pop(object_name(unique_id), None)
            if not documents.exists(unique_id):
                report.missing.append(unique_id)
    report.orphans += hashed.values()

    if fix:
        report.removed += _remove(documents, report.stale_staged)
        if report.orphans and not has_entries:
            report.refused = True
            log.warning(
                "repair.refused orphans=%d reason=no_document_entries_in_repository",
                len(report.orphans),
            )
        else:
            # Registered since they were listed: a resubmission of the same document.
            again = _registered(registry, report.orphans)
            report.orphans = [item for item in report.orphans if item.name not in again]
            report.removed += _remove(documents, report.orphans)

    _log(report, fix, started)
    return report


class PeriodicRepair:
    """Runs `repair(..., fix=True)` every `interval` seconds in a daemon thread until stopped."""

    def __init__(self, interval: float, run: Callable[[], RepairReport]) -> None:
        self.interval = interval
        self._run = run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="xcads-repair", daemon=True)

    def start(self) -> None:
        """Start the thread; the first pass runs one interval from now."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting for a pass under way to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._run()
            except Exception as error:
                # A store or database outage must not end the task; the next pass retries.
                log.exception("repair.failed error=%s", type(error).__name__)


def _unregistered(registry: RegistryStore, items: list[StoredBytes]) -> list[StoredBytes]:
    if not items:
        return []
    registered = registry.registered_unique_ids([item.key for item in items if item.key])
    return [item for item in items if item.key not in registered]


def _registered(registry: RegistryStore, items: list[StoredBytes]) -> set[str]:
    """The names of those items whose key some DocumentEntry now has."""
    names: set[str] = set()
    for batch in _batches(iter(items)):
        keys = [item.key for item in batch if item.key is not None]
        registered = registry.registered_unique_ids(keys)
        names.update(item.name for item in batch if item.key in registered)
    return names


def _pages(registry: RegistryStore, repository_unique_id: str) -> Iterator[list[str]]:
    after = None
    while page := registry.document_unique_ids(repository_unique_id, after=after, limit=BATCH):
        yield page
        after = page[-1]


def _batches(items: Iterator[StoredBytes]) -> Iterator[list[StoredBytes]]:
    batch: list[StoredBytes] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _remove(documents: DocumentStore, items: list[StoredBytes]) -> int:
    for item in items:
        documents.remove(item)
    return len(items)


def _log(report: RepairReport, fix: bool, started: float) -> None:
    # Names and uniqueIds at DEBUG only: with the registry they lead to a patient.
    for item in report.stale_staged:
        log.debug("repair.stale_staged token=%s modified=%s", item.name, item.modified.isoformat())
    for item in report.orphans:
        log.debug("repair.orphan name=%s modified=%s", item.name, item.modified.isoformat())
    for unique_id in report.missing:
        log.debug("repair.missing_bytes unique_id=%s", unique_id)
    if report.missing:
        log.warning("repair.entries_without_bytes count=%d", len(report.missing))
    log.info(
        "repair.done fix=%s orphans=%d stale_staged=%d missing=%d removed=%d ms=%.1f",
        fix,
        len(report.orphans),
        len(report.stale_staged),
        len(report.missing),
        report.removed,
        (time.perf_counter() - started) * 1000,
    )
