"""Registry benchmark on PostgreSQL: FindDocuments latency at 10k and 1M entries, registrations/s.

Run `python bench/registry.py` (or `--entries N` for a quick run, `--explain` for the query plans).
The script creates two databases of its own on the server at XCADS_BENCH_POSTGRES_URL, one of
10,000 and one of N DocumentEntries, ten per patient, and drops them when done. It prints
figures; it asserts nothing.

Queries alternate between the two databases in short rounds, so that whatever else the machine is
doing weighs on both figures alike and their ratio shows what the registry's size costs.

The bulk of the entries are not registered one by one, which would take hours: each patient's
submission is turned into rows by the store's own `submission_rows` and copied in with COPY, so
the tables hold exactly what `register` would have written. Latency is measured through
`run_stored_query` on the real `SqlRegistryStore`, registrations through `register_submission`
with full validation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path and its name would hide the
# `registry` package; the repository's root, with the package this script measures, takes its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import psycopg
from sqlalchemy import event, text

from registry.metadata import (
    Association,
    AssociationType,
    Author,
    AvailabilityStatus,
    Code,
    DocumentEntry,
    Submission,
    SubmissionSet,
)
from registry.queries import FIND_DOCUMENTS, run_stored_query
from registry.service import as_registered, register_submission
from registry.sql import SqlRegistryStore, submission_rows
from registry.store import StoredQueryRequest
from registry.tables import ALL_TABLES
from tests.databases import throwaway_database

DEFAULT_SERVER_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DOCUMENTS_PER_PATIENT = 10
BASELINE_ENTRIES = 10_000
DEFAULT_ENTRIES = 1_000_000
PATIENTS_PER_BATCH = 1_000
# One loader per core: while one builds rows in Python, the server indexes the other's.
LOADERS = os.cpu_count() or 2
REBUILD_INDEXES_ABOVE = 20_000
INDEX_BUILD_MEMORY = "512MB"
QUERY_SAMPLES = 3_000
WARM_UP = 200
ROUND = 100
REGISTRATIONS = 1_000

APPROVED = AvailabilityStatus.APPROVED.value
PATIENT_AUTHORITY = "2.16.578.1.12.4.1.4.1"
SOURCE_ID = "2.16.578.1.12.4.5.100.1"
REPOSITORY_ID = "2.16.578.1.12.4.5.100.1.2"

# A handful of realistic values per coded attribute, so that code indexes see a real spread.
CLASS_CODES = [Code(c, "2.16.578.1.12.4.1.1.9602", "") for c in ("A00-1", "A01-1", "B00-1")]
TYPE_CODES = [Code(c, "2.16.578.1.12.4.1.1.9603", "") for c in ("J01-2", "J02-1", "K01-4")]
FORMAT_CODE = Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3")
FACILITY_CODES = [Code(c, "2.16.578.1.12.4.1.1.1303", "") for c in ("86.211", "86.221")]
PRACTICE_CODES = [Code(c, "2.16.578.1.12.4.1.1.8451", "") for c in ("ALL", "KIR", "MED")]
CONFIDENTIALITY = Code("N", "2.16.840.1.113883.5.25", "Normal")
EVENT_CODES = [Code(c, "SNM3", "") for c in ("T-D4909", "P1-3020", "T-32000")]


@dataclass
class Registry:
    """One benchmark database: its store and how many patients it holds."""

    store: SqlRegistryStore
    patients: int
    timings_ms: list[float] = field(default_factory=list)

    @property
    def entries(self) -> int:
        """DocumentEntries loaded."""
        return self.patients * DOCUMENTS_PER_PATIENT


def main() -> None:
    """Parse the arguments, run the benchmark in databases of its own, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=DEFAULT_ENTRIES, help="entries to load")
    parser.add_argument("--samples", type=int, default=QUERY_SAMPLES, help="queries per size")
    parser.add_argument("--registrations", type=int, default=REGISTRATIONS)
    parser.add_argument("--explain", action="store_true", help="print FindDocuments' plans")
    args = parser.parse_args()
    server = os.environ.get("XCADS_BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)
    sizes = sorted({min(BASELINE_ENTRIES, args.entries), args.entries})

    with ExitStack() as stack:
        registries = []
        for entries in sizes:
            store = SqlRegistryStore(stack.enter_context(throwaway_database(server, "xcads_bench")))
            stack.callback(store.close)
            registries.append(Registry(store, entries // DOCUMENTS_PER_PATIENT))

        for registry in registries:
            load_timed(registry)
        measure_find_documents(registries, args.samples)
        for registry in registries:
            figures = statistics.quantiles(registry.timings_ms, n=100)
            print(
                f"find_documents entries={registry.entries} samples={len(registry.timings_ms)} "
                f"p50_ms={figures[49]:.2f} p99_ms={figures[98]:.2f}",
                flush=True,
            )
            if args.explain:
                print(explain_find_documents(registry), flush=True)

        largest = registries[-1]
        per_second = registrations_per_second(largest, args.registrations)
        print(
            f"register_submission documents=1 entries={largest.entries} "
            f"n={args.registrations} per_s={per_second:.0f}",
            flush=True,
        )


def load_timed(registry: Registry) -> None:
    """Load `registry` and print how long copying, indexing and analyzing took."""
    started = time.perf_counter()
    # Below some hundred thousand rows, keeping the indexes up costs less than rebuilding them.
    rebuild = registry.patients > REBUILD_INDEXES_ABOVE
    with indexes_rebuilt(registry.store) if rebuild else nullcontext():
        load(registry.store, 0, registry.patients)
        copied = time.perf_counter()
    indexed = time.perf_counter()
    analyze(registry.store)
    done = time.perf_counter()
    print(
        f"loaded entries={registry.entries} s={done - started:.1f} copy_s={copied - started:.1f} "
        f"index_s={indexed - copied:.1f} analyze_s={done - indexed:.1f}",
        flush=True,
    )


def patient_id(number: int) -> str:
    """The CX patient id of benchmark patient `number`."""
    return f"{number:011d}^^^&{PATIENT_AUTHORITY}&ISO"


def patient_submission(number: int, documents: int = DOCUMENTS_PER_PATIENT) -> Submission:
    """One SubmissionSet of patient `number` with `documents` DocumentEntries and HasMembers."""
    patient = patient_id(number)
    submission_set = SubmissionSet(
        entry_uuid=uuid.uuid4().urn,
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id=SOURCE_ID,
        patient_id=patient,
        submission_time="20240102030405",
        content_type_code=CLASS_CODES[0],
        authors=[Author(person=f"^Lege{number % 97}^Kari")],
    )
    entries = [document_entry(patient, number * documents + n) for n in range(documents)]
    associations = [
        Association(
            entry_uuid=uuid.uuid4().urn,
            association_type=AssociationType.HAS_MEMBER,
            source_object=submission_set.entry_uuid,
            target_object=entry.entry_uuid,
            submission_set_status="Original",
        )
        for entry in entries
    ]
    return Submission(submission_set, entries, associations=associations)


def document_entry(patient: str, serial: int) -> DocumentEntry:
    """A DocumentEntry as an EPJ system would send it, its codes varying with `serial`."""
    day = 1 + serial % 28
    return DocumentEntry(
        entry_uuid=uuid.uuid4().urn,
        unique_id=f"2.25.{uuid.uuid4().int}",
        patient_id=patient,
        mime_type="application/pdf",
        hash=f"{serial:040x}",
        size=1000 + serial % 5000,
        repository_unique_id=REPOSITORY_ID,
        class_code=CLASS_CODES[serial % len(CLASS_CODES)],
        type_code=TYPE_CODES[serial % len(TYPE_CODES)],
        format_code=FORMAT_CODE,
        healthcare_facility_type_code=FACILITY_CODES[serial % len(FACILITY_CODES)],
        practice_setting_code=PRACTICE_CODES[serial % len(PRACTICE_CODES)],
        confidentiality_codes=[CONFIDENTIALITY],
        event_code_list=[EVENT_CODES[serial % len(EVENT_CODES)]],
        language_code="nb-NO",
        creation_time=f"2024{1 + serial % 12:02d}{day:02d}103000",
        service_start_time=f"2024{1 + serial % 12:02d}{day:02d}0800",
        title=f"Epikrise {serial}",
        authors=[
            Author(person=f"^Lege{serial % 997}^Ola", institutions=["Sykehuset^^^^^^^^^1.2.3"])
        ],
        source_patient_id=patient,
    )


def load(store: SqlRegistryStore, first: int, end: int) -> None:
    """Copy in the rows of patients `first` to `end` (exclusive), batches in parallel."""
    url = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    batches = [
        (url, start, min(start + PATIENTS_PER_BATCH, end))
        for start in range(first, end, PATIENTS_PER_BATCH)
    ]
    with ProcessPoolExecutor(max_workers=LOADERS) as pool:
        for _ in pool.map(_load_batch, *zip(*batches, strict=True)):
            pass


def _load_batch(url: str, first: int, end: int) -> None:
    """Copy in the rows of patients `first` to `end` in one transaction on its own connection."""
    rows: dict[str, list[tuple]] = {table.name: [] for table in ALL_TABLES}
    for number in range(first, end):
        submission = as_registered(patient_submission(number), {})
        for table, table_rows in submission_rows(submission):
            names = _COLUMNS[table.name]
            rows[table.name] += [tuple(row[n] for n in names) for row in table_rows]

    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        # Losing the last commits in a crash is fine for a benchmark's own database.
        cursor.execute("SET synchronous_commit = off")
        for table in ALL_TABLES:
            if rows[table.name]:
                quoted = ", ".join(f'"{name}"' for name in _COLUMNS[table.name])
                with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
                    for row in rows[table.name]:
                        copy.write_row(row)


_COLUMNS = {table.name: table.c.keys() for table in ALL_TABLES}


@contextmanager
def indexes_rebuilt(store: SqlRegistryStore) -> Iterator[None]:
    """Drop the tables' secondary indexes for a bulk load and build them again after it.

    The indexes come back from `registry.tables`, which the migrations match, so the schema
    ends as it began; primary keys and unique constraints stay throughout.
    """
    indexes = [index for table in ALL_TABLES for index in table.indexes]
    with store.engine.begin() as connection:
        for index in indexes:
            index.drop(connection)
    yield
    with store.engine.begin() as connection:
        connection.execute(text(f"SET LOCAL maintenance_work_mem = '{INDEX_BUILD_MEMORY}'"))
        for index in indexes:
            index.create(connection)


def analyze(store: SqlRegistryStore) -> None:
    """Refresh the planner's statistics, as autovacuum would after a bulk load."""
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def find_documents_request(patient: str) -> StoredQueryRequest:
    """A FindDocuments for `patient`'s Approved entries, LeafClass."""
    return StoredQueryRequest(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": [[f"'{patient}'"]],
            "$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]],
        },
        return_type="LeafClass",
    )


def measure_find_documents(registries: list[Registry], samples: int) -> None:
    """Time FindDocuments for random patients, alternating between the registries in rounds."""
    rng = random.Random(20250101)
    for registry in registries:
        for number in rng.sample(range(registry.patients), min(WARM_UP, registry.patients)):
            find_documents(registry, number)

    for _ in range(0, samples, ROUND):
        for registry in registries:
            for _ in range(ROUND):
                number = rng.randrange(registry.patients)
                started = time.perf_counter()
                found = find_documents(registry, number)
                registry.timings_ms.append((time.perf_counter() - started) * 1000)
                if found != DOCUMENTS_PER_PATIENT:
                    raise SystemExit(f"FindDocuments found {found} entries, not ten")


def find_documents(registry: Registry, number: int) -> int:
    """Run FindDocuments, LeafClass, for patient `number`'s Approved entries; count them."""
    request = StoredQueryRequest(
        FIND_DOCUMENTS,
        {
            "$XDSDocumentEntryPatientId": [[f"'{patient_id(number)}'"]],
            "$XDSDocumentEntryStatus": [[f"('{APPROVED}')"]],
        },
        return_type="LeafClass",
    )
    return len(run_stored_query(registry.store, request, max_results=100).document_entries)


def explain_find_documents(registry: Registry) -> str:
    """The plan PostgreSQL runs FindDocuments with: the very SQL the store sends, analyzed."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "FROM document_entry" in statement:
            sent.append((statement, parameters))

    event.listen(registry.store.engine, "before_cursor_execute", capture)
    try:
        find_documents(registry, registry.patients // 2)
    finally:
        event.remove(registry.store.engine, "before_cursor_execute", capture)

    statement, parameters = sent[-1]
    with registry.store.engine.connect() as connection:
        plan = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters)
        return "\n".join(f"  {line}" for (line,) in plan)


def registrations_per_second(registry: Registry, count: int) -> float:
    """Register `count` single-document submissions for new patients; submissions per second."""
    first = registry.patients
    submissions = [patient_submission(first + n, documents=1) for n in range(count)]
    started = time.perf_counter()
    for submission in submissions:
        register_submission(registry.store, submission)
    return count / (time.perf_counter() - started)


if __name__ == "__main__":
    main()
