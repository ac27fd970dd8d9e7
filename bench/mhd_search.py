"""MHD Document Responder benchmark: ITI-67 searches per second through `xcads serve`.

Run `python bench/mhd_search.py` (`--patients`, `--seconds`, `--clients` to vary it). The script
registers ten DocumentEntries for each of `--patients` patients in a fresh embedded registry
(SQLite), starts `xcads serve` on it, and has `--clients` threads send ITI-67 searches
(patient.identifier, status, category) for random patients, each answered with a Bundle of ten
DocumentReferences. The target is at least 300 searches/s. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path; the packages measured are xcads'.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import httpx

from registry.sql import SqlRegistryStore

TARGET_SEARCHES_PER_SECOND = 300
DOCUMENTS_PER_PATIENT = 10
PATIENT_AUTHORITY = "2.16.578.1.12.4.1.4.1"
CLASS_CODE = "urn:oid:2.16.578.1.12.4.1.1.9602|A00-1"


def _retrieve_bench():
    """bench/retrieve.py, for its `xcads serve` runner and its ITI-41 submission."""
    spec = importlib.util.spec_from_file_location(
        "retrieve", Path(__file__).with_name("retrieve.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["retrieve"] = module
    spec.loader.exec_module(module)
    return module


def seed(data_dir: Path, patients: int, one_document) -> list[str]:
    """Register ten documents per patient; return each patient's id number."""
    data_dir.mkdir(parents=True)
    store = SqlRegistryStore(f"sqlite:///{data_dir / 'registry.sqlite3'}")
    numbers = []
    for _ in range(patients):
        number = str(uuid.uuid4().int)[:11]
        patient_id = f"{number}^^^&{PATIENT_AUTHORITY}&ISO"
        for _ in range(DOCUMENTS_PER_PATIENT):
            submission, entry = one_document()
            entry.patient_id = entry.source_patient_id = patient_id
            submission.submission_set.patient_id = patient_id
            store.register(submission, lambda: None)
        numbers.append(number)
    store.close()
    return numbers


def drive(
    base: str, numbers: list[str], clients: int, seconds: float
) -> tuple[int, list[float], int]:
    """Search from `clients` threads for `seconds`; return (searches, latencies, failures)."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client() -> None:
        nonlocal failures
        mine, failed = [], 0
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.perf_counter() < deadline:
                params = {
                    "patient.identifier": f"urn:oid:{PATIENT_AUTHORITY}|{random.choice(numbers)}",
                    "status": "current",
                    "category": CLASS_CODE,
                }
                started = time.perf_counter()
                response = http.get("/fhir/DocumentReference", params=params)
                mine.append(time.perf_counter() - started)
                ok = response.status_code == 200
                failed += not ok or len(response.json()["entry"]) != DOCUMENTS_PER_PATIENT
        with lock:
            latencies.extend(mine)
            failures += failed

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies, failures


def main() -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    retrieve = _retrieve_bench()
    with tempfile.TemporaryDirectory(prefix="xcads-bench-") as folder:
        data_dir = Path(folder) / "data"
        numbers = seed(data_dir, args.patients, retrieve.one_document)
        server = retrieve.Server(data_dir, max_request_bytes=1024 * 1024)
        try:
            drive(server.base, numbers, args.clients, min(2.0, args.seconds / 10))
            count, latencies, failures = drive(server.base, numbers, args.clients, args.seconds)
        finally:
            server.stop()

    rate = count / args.seconds
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 1 else 0.0
    verdict = "met" if rate >= TARGET_SEARCHES_PER_SECOND and not failures else "MISSED"
    print(f"xcads MHD responder benchmark: embedded default, {os.cpu_count()} CPUs")
    print(f"ITI-67 searches, {args.clients} clients   {rate:8.0f} searches/s  >= 300  {verdict}")
    print(f"  latency p50 / p95          {statistics.median(latencies) * 1000:5.1f} / {p95:.1f} ms")
    print(f"  failed                     {failures} of {count}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
