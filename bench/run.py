"""Every benchmark in one table: each xcads figure beside the floor of its HTTP stack, on the
embedded default and on PostgreSQL + S3.

Run `python bench/run.py` (`--smoke` for a short run that only shows it works). It needs `wrk`
(Debian: `apt-get install wrk`), which sends the load from a process of its own with one thread;
`bench/load.lua` makes each request (new ids for each submission, patients in turn for queries).

For each backend it starts `xcads serve` (the embedded default in a temporary folder; or a fresh
database on the PostgreSQL at XCADS_BENCH_POSTGRES_URL and a SeaweedFS S3 server started here),
and for each row it sends one request to check the endpoint and keep its answer, runs wrk against
xcads, then runs the same wrk against the floor: `bench/floor.py`, a bare ASGI app on uvicorn
(as many worker processes as xcads) answering every request with that answer, pre-rendered. The
ITI-38 row also measures xcads' own app answering that answer pre-rendered from a route that does
no work: the ceiling that FastAPI and xcads' middleware leave under the floor. The ratio
xcads/floor shows how close xcads runs to the HTTP stack's own limit; both share the machine with
the load generator. A row whose endpoint answers 404 prints "not available". It prints figures;
it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where `registry.py` would hide the
# package of that name: the repository's root, with the packages measured, takes its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx

from bench.registry import DEFAULT_SERVER_URL, patient_submission
from bench.support import (
    CHUNK,
    MB,
    QUERY,
    REPOSITORY_PATH,
    SOAP_MEDIA_TYPE,
    SUCCESS,
    XCA_PATH,
    Floor,
    Load,
    Provide,
    Server,
    generated,
    retrieve_envelope,
    submission_ids,
    with_counter,
    wrk,
    wrk_binary,
)
from registry.service import register_submission
from registry.sql import SqlRegistryStore
from tests.databases import throwaway_database
from tests.s3_server import BUCKET, SeaweedFS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
FHIR_JSON = "application/fhir+json"
PATIENT_AUTHORITY = "2.16.578.1.12.4.1.4.1"
DOCUMENTS_PER_PATIENT = 10
TARGET_SEARCHES_PER_SECOND = 300
TARGET_QUERIES_PER_SECOND = 500
TARGET_QUERY_FLOOR_RATIO = 0.3
TARGET_BUNDLES_PER_SECOND = 100
TARGET_SUBMISSIONS_PER_SECOND = 100
TARGET_GROWTH_MB = 64
NOT_FOUND = (404, 405)
# The ids of examples/iti65-provide-bundle.json: its fullUrls and identifiers, its uniqueIds.
_EXAMPLE_IDS = re.compile(rb"5b0e1d3c-[0-9a-f-]{27}|2\.25\.\d{20,}")


@dataclass
class Row:
    """One line of the table: a figure of xcads and of the floor, and the target it has."""

    measure: str
    backend: str
    unit: str
    value: float | None = None
    floor: float | None = None
    detail: str = ""
    target: str = ""
    met: bool | None = None


@dataclass
class Bench:
    """One running xcads and what the rows share: the arguments, a folder, an HTTP client."""

    server: Server
    backend: str
    registry_url: str
    folder: Path
    args: argparse.Namespace
    http: httpx.Client
    patients_loaded: bool = False
    notes: list[str] = field(default_factory=list)

    def side_by_side(self, sample: httpx.Response, path: str, **request) -> tuple[Load, Load]:
        """wrk against xcads, then against the floor answering `sample`; both figures."""
        measured = wrk(self.server.base, path, **self.load(request))
        return measured, self.against_floor(sample, path, **request)

    def load(self, request: dict) -> dict:
        """wrk's arguments for `request`: the seconds and connections asked for."""
        return dict(seconds=self.args.seconds, connections=self.args.connections, **request)

    def against_floor(
        self, sample: httpx.Response, path: str, *, framework: bool = False, **request
    ) -> Load:
        """wrk against the floor (or xcads' framework ceiling) answering `sample` at `path`."""
        floor = Floor(
            self.folder,
            body=sample.content,
            content_type=sample.headers.get("content-type", ""),
            status=sample.status_code,
            workers=self.args.workers,
            framework_path=path if framework else None,
        )
        try:
            return wrk(floor.base, path, **self.load(request))
        finally:
            floor.stop()

    def load_patients(self) -> None:
        """Register the query patients, ten DocumentEntries each, once (ITI-42 in-process)."""
        if self.patients_loaded:
            return
        store = SqlRegistryStore(self.registry_url)
        try:
            for number in range(self.args.patients):
                register_submission(store, patient_submission(number, DOCUMENTS_PER_PATIENT))
        finally:
            store.close()
        self.patients_loaded = True


# --- Rows --------------------------------------------------------------------------------------


def iti65_bundles(bench: Bench) -> Row:
    """ITI-65 Provide Document Bundle: one small document per transaction Bundle."""
    row = Row("ITI-65 bundles, one document each", bench.backend, "bundles/s")
    bundle = (EXAMPLES / "iti65-provide-bundle.json").read_bytes()
    ids = {found.decode() for found in _EXAMPLE_IDS.findall(bundle)}
    template = with_counter(bundle, ids)
    sample = bench.http.post("/fhir", content=_filled(template), headers=_media(FHIR_JSON))
    if sample.status_code in NOT_FOUND:
        return row
    _check(sample.status_code < 300, "ITI-65", sample)

    measured, floor = bench.side_by_side(sample, "/fhir", body=template, content_type=FHIR_JSON)
    return _rate(row, measured, floor, TARGET_BUNDLES_PER_SECOND)


def iti41_submissions(bench: Bench) -> Row:
    """ITI-41 Provide and Register Document Set-b: one 100 KB document per MTOM submission."""
    size = 100 * 1024
    row = Row(f"ITI-41 submissions, {size // 1024} KB document", bench.backend, "submissions/s")
    provide = Provide.of("text/plain")
    body = b"".join(provide.body(iter([os.urandom(size)])))
    template = with_counter(body, submission_ids(provide.submission))
    request = dict(body=template, content_type=provide.content_type)
    sample = bench.http.post(
        REPOSITORY_PATH, content=_filled(template), headers=_media(provide.content_type)
    )
    if sample.status_code in NOT_FOUND:
        return row
    _check(SUCCESS in sample.content, "ITI-41", sample)

    measured, floor = bench.side_by_side(sample, REPOSITORY_PATH, **request)
    return _rate(row, measured, floor, TARGET_SUBMISSIONS_PER_SECOND)


def iti38_queries(bench: Bench) -> Row:
    """ITI-38 Cross Gateway Query: FindDocuments, LeafClass, ten entries, patients in turn."""
    row = Row(
        f"ITI-38 FindDocuments, {DOCUMENTS_PER_PATIENT} results, LeafClass",
        bench.backend,
        "queries/s",
    )
    bench.load_patients()
    example = (EXAMPLES / "iti38-find-documents.xml").read_bytes()
    template = example.replace(b"13116900216^^^", b"@P@^^^")
    sample = bench.http.post(XCA_PATH, content=_filled(template), headers=_media(SOAP_MEDIA_TYPE))
    if sample.status_code in NOT_FOUND:
        return row
    found = sample.content.count(b"ExtrinsicObject ")
    _check(found == DOCUMENTS_PER_PATIENT, f"ITI-38 ({found} entries found)", sample)

    request = dict(
        body=template,
        content_type=f'{SOAP_MEDIA_TYPE}; action="{QUERY}"',
        patients=bench.args.patients,
    )
    measured, floor = bench.side_by_side(sample, XCA_PATH, **request)
    ceiling = bench.against_floor(sample, "/bench-ceiling", framework=True, **request)
    row = _rate(row, measured, floor, TARGET_QUERIES_PER_SECOND)
    ratio = measured.per_second / floor.per_second
    row.detail += (
        f"; xcads' app answering it pre-rendered, no work: {ceiling.per_second:,.0f}/s "
        f"({ceiling.per_second / floor.per_second:.3f} of floor)"
    )
    row.target = f">= {TARGET_QUERIES_PER_SECOND}/s, >= {TARGET_QUERY_FLOOR_RATIO} of floor"
    row.met = row.met and ratio >= TARGET_QUERY_FLOOR_RATIO
    return row


def iti39_retrieve(bench: Bench) -> Row:
    """ITI-39 Cross Gateway Retrieve of one large document, one connection; server memory."""
    size = bench.args.document_mb * MB
    row = Row(f"ITI-39 retrieve, {bench.args.document_mb} MB document", bench.backend, "MB/s")
    provide = Provide.of()
    stored = bench.http.post(
        REPOSITORY_PATH,
        content=provide.body(generated(size, hashlib.sha1(usedforsecurity=False))),
        headers=_media(provide.content_type),
    )
    _check(SUCCESS in stored.content, "ITI-41 of the large document", stored)
    request = dict(body=retrieve_envelope(provide.entry.unique_id), content_type=SOAP_MEDIA_TYPE)

    # The first retrieve counts the bytes of the answer, which the floor then sends as well.
    answer_bytes = 0
    with bench.http.stream(
        "POST", XCA_PATH, content=request["body"], headers=_media(SOAP_MEDIA_TYPE)
    ) as sample:
        if sample.status_code in NOT_FOUND:
            return row
        for chunk in sample.iter_raw(CHUNK):
            answer_bytes += len(chunk)
    _check(sample.status_code == 200 and answer_bytes > size, "ITI-39", sample)

    peak_reset = bench.server.reset_peak()
    before, _ = bench.server.memory()
    load = dict(seconds=bench.args.seconds, connections=1, **request)
    measured = wrk(bench.server.base, XCA_PATH, **load)
    _, peak = bench.server.memory()
    floor = Floor(
        bench.folder,
        content_type=sample.headers.get("content-type", ""),
        stream_bytes=answer_bytes,
        workers=bench.args.workers,
    )
    try:
        floor_load = wrk(floor.base, XCA_PATH, **load)
    finally:
        floor.stop()

    growth = (peak - before) / MB
    row.value, row.floor = measured.mb_per_second, floor_load.mb_per_second
    since = "" if peak_reset else " (peak since start)"
    row.detail = f"{measured.requests} retrieves, memory growth {growth:.1f} MB{since}"
    row.detail += _failures(measured)
    row.target = f"growth < {TARGET_GROWTH_MB} MB"
    row.met = growth < TARGET_GROWTH_MB and not measured.failed
    return row


def iti67_searches(bench: Bench) -> Row:
    """ITI-67 Find Document References by patient identifier, ten entries, patients in turn."""
    row = Row(f"ITI-67 searches, {DOCUMENTS_PER_PATIENT} results", bench.backend, "searches/s")
    bench.load_patients()
    identifier = f"urn:oid:{PATIENT_AUTHORITY}%7C@P@"
    path = f"/fhir/DocumentReference?patient.identifier={identifier}&status=current"
    sample = bench.http.get(_filled(path.encode()).decode())
    if sample.status_code in NOT_FOUND:
        return row
    found = len(sample.json().get("entry", [])) if sample.status_code == 200 else 0
    _check(found == DOCUMENTS_PER_PATIENT, f"ITI-67 ({found} entries found)", sample)

    measured, floor = bench.side_by_side(sample, path, method="GET", patients=bench.args.patients)
    return _rate(row, measured, floor, TARGET_SEARCHES_PER_SECOND)


ROWS: tuple[Callable[[Bench], Row], ...] = (
    iti65_bundles,
    iti41_submissions,
    iti38_queries,
    iti39_retrieve,
    iti67_searches,
)


def _filled(template: bytes) -> bytes:
    """One request of a template (see bench/load.lua): patient 0, a counter wrk never reaches."""
    return template.replace(b"@N@", b"99999999").replace(b"@P@", b"%011d" % 0)


def _media(content_type: str) -> dict[str, str]:
    return {"Content-Type": content_type}


def _check(ok: bool, what: str, response: httpx.Response) -> None:
    if not ok:
        body = response.content[:1000].decode(errors="replace") if response.is_closed else ""
        raise SystemExit(f"{what} failed before measuring: HTTP {response.status_code} {body}")


def _rate(row: Row, measured: Load, floor: Load, target: float | None) -> Row:
    row.value, row.floor = measured.per_second, floor.per_second
    row.detail = f"p50 {measured.p50_ms:.1f} ms, p99 {measured.p99_ms:.1f} ms"
    row.detail += _failures(measured)
    if target is not None:
        row.target = f">= {target}/s"
        row.met = measured.per_second >= target and not measured.failed
    return row


def _failures(load: Load) -> str:
    return f", {load.failed} of {load.requests} FAILED" if load.failed else ""


# --- Backends ----------------------------------------------------------------------------------


@contextmanager
def embedded(folder: Path) -> Iterator[tuple[dict[str, str], str]]:
    """The embedded default: SQLite and files under the data folder."""
    yield {}, f"sqlite:///{folder / 'data' / 'registry.sqlite3'}"


@contextmanager
def postgresql_and_s3(folder: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A fresh database on the benchmark's PostgreSQL, and a SeaweedFS S3 server of its own."""
    server_url = os.environ.get("XCADS_BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)
    with throwaway_database(server_url, "xcads_bench") as database_url:
        seaweedfs = SeaweedFS(folder / "seaweedfs")
        seaweedfs.start()
        try:
            environment = seaweedfs.environment(f"s3://{BUCKET}/bench")
            yield {**environment, "XCADS_DATABASE_URL": database_url}, database_url
        finally:
            seaweedfs.stop()


BACKENDS = {"embedded": embedded, "postgresql-s3": postgresql_and_s3}


def run_backend(name: str, args: argparse.Namespace) -> list[Row]:
    """Start xcads on backend `name` and run every row against it."""
    with tempfile.TemporaryDirectory(prefix="xcads-bench-") as folder, ExitStack() as stack:
        environment, registry_url = stack.enter_context(BACKENDS[name](Path(folder)))
        max_request_bytes = args.document_mb * MB + 64 * MB
        environment = {**environment, "XCADS_WORKERS": str(args.workers)}
        server = Server(
            Path(folder) / "data", max_request_bytes=max_request_bytes, environment=environment
        )
        stack.callback(server.stop)
        http = stack.enter_context(httpx.Client(base_url=server.base, timeout=600))
        bench = Bench(server, name, registry_url, Path(folder), args, http)
        rows = []
        for row in ROWS:
            if not args.row or row.__name__ in args.row:
                rows.append(row(bench))
                print_row(rows[-1])
        return rows


# --- The table ---------------------------------------------------------------------------------

_COLUMNS = ("measure", "backend", "xcads", "floor", "ratio", "target", "", "detail")
_WIDTHS = (46, 13, 20, 20, 6, 34, 6, 0)


def print_header() -> None:
    """Print the machine and the column names."""
    load = " ".join(f"{figure:.2f}" for figure in os.getloadavg())
    print(f"xcads benchmarks: {platform.node()}, {platform.machine()}, {os.cpu_count()} CPUs")
    print(f"Python {platform.python_version()}, {platform.platform()}; load average {load}")
    print("load: wrk, one thread, in a process of its own; floor: bench/floor.py")
    print(_line(_COLUMNS), flush=True)


def print_row(row: Row) -> None:
    """Print one row as soon as it is measured."""
    if row.value is None:
        cells = (row.measure, row.backend, "not available", "", "", row.target, "", "")
    else:
        ratio = f"{row.value / row.floor:.3f}" if row.floor else ""
        verdict = {True: "met", False: "MISSED", None: ""}[row.met]
        value, floor = f"{row.value:,.0f} {row.unit}", f"{row.floor:,.0f} {row.unit}"
        cells = (row.measure, row.backend, value, floor, ratio, row.target, verdict, row.detail)
    print(_line(cells), flush=True)


def _line(cells: tuple[str, ...]) -> str:
    return "  ".join(f"{cell:<{width}}" for cell, width in zip(cells, _WIDTHS, strict=True))


def main() -> int:
    """Run the rows on each backend asked for, printing the table as it goes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    parser.add_argument(
        "--row", action="append", choices=[row.__name__ for row in ROWS], help="only these rows"
    )
    parser.add_argument("--seconds", type=float, default=10, help="of load per measurement")
    parser.add_argument("--connections", type=int, default=8, help="wrk's open connections")
    parser.add_argument("--workers", type=int, default=1, help="xcads serve --workers")
    parser.add_argument("--patients", type=int, default=200, help="query patients, 10 entries")
    parser.add_argument("--document-mb", type=int, default=200, help="the ITI-39 document's size")
    parser.add_argument(
        "--smoke", action="store_true", help="2 s per measurement, 20 patients, an 8 MB document"
    )
    args = parser.parse_args()
    if args.smoke:
        args.seconds, args.patients, args.document_mb = 2, 20, 8
    wrk_binary()

    print_header()
    backends = list(BACKENDS) if args.backend == "all" else [args.backend]
    for backend in backends:
        run_backend(backend, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
