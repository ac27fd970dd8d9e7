"""MHD benchmark: ITI-65 Provide Document Bundles per second and ITI-67 searches per second.

Run `python bench/mhd.py` (`--bundles`, `--searches`, `--clients`, `--patients`,
`--document-kb` to vary it). The script starts `xcads serve` on the embedded default (SQLite and
files in a temporary folder) and posts from client threads of this process: each ITI-65 bundle is
the repository's example (`examples/iti65-provide-bundle.json`) with fresh ids, one of
`--patients` patients, and one document of `--document-kb` KB. Then it searches
`GET /fhir/DocumentReference?patient.identifier=system|value&status=current` for those patients,
each answered with the patient's documents (`--bundles` / `--patients` of them), for 10 s from
`wrk` in a process of its own where wrk is installed (`bench/load.lua`), else `--searches` from
client threads; where the server answers that URL with 404, the ITI-67 row says "not available".
Targets: at least 100 bundles/s and 300 searches/s. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where `mhd.py` would hide the
# package of that name: the repository's root, with the packages measured, takes its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx

from bench.retrieve import Figure, print_table, rate_figures, timed_requests
from bench.support import BENCH, MB, Server, wrk

EXAMPLE = BENCH.parent / "examples" / "iti65-provide-bundle.json"
EXAMPLE_UUID = "5b0e1d3c-0000-4000-8000-0000000000"
PATIENT_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"
FHIR_JSON = "application/fhir+json"
TARGET_BUNDLES_PER_SECOND = 100
TARGET_SEARCHES_PER_SECOND = 300


def patient_value(number: int) -> str:
    """An eleven-digit id per patient number (the bench's own, not a real person's), written as
    bench/load.lua writes @P@."""
    return f"{number:011d}"


def provide_bundle(template: str, patient: str, document: bytes) -> bytes:
    """The example bundle with fresh entryUUIDs and uniqueIds, `patient` and `document`."""
    text = template
    for suffix in ("01", "03", "04", "05"):
        text = text.replace(EXAMPLE_UUID + suffix, str(uuid.uuid4()))
    bundle = json.loads(text)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        if kind == "Patient":
            resource["identifier"] = [{"system": PATIENT_SYSTEM, "value": patient}]
        elif kind == "Binary":
            resource["data"] = base64.b64encode(document).decode("ascii")
        elif kind == "DocumentReference":
            resource["masterIdentifier"]["value"] = f"urn:oid:2.25.{uuid.uuid4().int}"
        elif kind == "List":
            for identifier in resource["identifier"]:
                if identifier["use"] == "usual":
                    identifier["value"] = f"urn:oid:2.25.{uuid.uuid4().int}"
    return json.dumps(bundle).encode("utf-8")


def provide(base: str, count: int, clients: int, patients: int, size: int) -> list[Figure]:
    """`count` ITI-65 bundles of one `size`-byte document each, from `clients` threads."""
    template = EXAMPLE.read_text(encoding="utf-8")
    document = os.urandom(size)
    bodies = [provide_bundle(template, patient_value(n % patients), document) for n in range(count)]

    def send(http: httpx.Client, body: object) -> bool:
        reply = http.post("/fhir", content=body, headers={"Content-Type": FHIR_JSON})
        return reply.status_code == 200

    measured = timed_requests(base, bodies, clients, send)
    name = f"ITI-65 bundles, one {size // 1024} KB document, {clients} clients"
    return rate_figures(name, "bundles", TARGET_BUNDLES_PER_SECOND, measured)


def search(base: str, count: int, clients: int, patients: int) -> list[Figure]:
    """ITI-67 searches by patient identifier: from wrk in a process of its own where wrk is
    installed, else `count` searches from `clients` threads of this process."""
    probe = httpx.get(f"{base}/fhir/DocumentReference", params=_by_patient(0), timeout=60)
    if probe.status_code == 404:
        name = "ITI-67 searches by patient.identifier"
        return [Figure(name, "not available", f">= {TARGET_SEARCHES_PER_SECOND}/s")]
    if shutil.which("wrk"):
        return _search_with_wrk(base, clients, patients)

    name = f"ITI-67 searches by patient.identifier, {clients} client threads"

    def send(http: httpx.Client, number: object) -> bool:
        reply = http.get("/fhir/DocumentReference", params=_by_patient(number))
        return reply.status_code == 200 and bool(reply.json().get("entry"))

    measured = timed_requests(base, [n % patients for n in range(count)], clients, send)
    return rate_figures(name, "searches", TARGET_SEARCHES_PER_SECOND, measured)


def _search_with_wrk(base: str, connections: int, patients: int) -> list[Figure]:
    # The client threads of this process would take a core's share from the server on a small
    # machine; wrk, in C, takes little.
    path = f"/fhir/DocumentReference?patient.identifier={PATIENT_SYSTEM}%7C@P@&status=current"
    load = wrk(base, path, seconds=10, connections=connections, method="GET", patients=patients)
    rate = load.per_second
    name = f"ITI-67 searches by patient.identifier, wrk, {connections} connections"
    met = rate >= TARGET_SEARCHES_PER_SECOND and not load.failed
    return [
        Figure(name, f"{rate:.0f} searches/s", f">= {TARGET_SEARCHES_PER_SECOND}/s", met),
        Figure("  latency p50 / p99", f"{load.p50_ms:.0f} / {load.p99_ms:.0f} ms"),
        Figure("  failed", f"{load.failed} of {load.requests}"),
    ]


def _by_patient(number: object) -> dict[str, str]:
    # ITI-67 requires status beside the patient (MHD 2:3.67.4.1.2.1).
    identifier = f"{PATIENT_SYSTEM}|{patient_value(int(number))}"
    return {"patient.identifier": identifier, "status": "current"}


def main() -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundles", type=int, default=1000)
    parser.add_argument("--searches", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--patients", type=int, default=100)
    parser.add_argument("--document-kb", type=int, default=100)
    args = parser.parse_args()

    size = args.document_kb * 1024
    with tempfile.TemporaryDirectory(prefix="xcads-bench-") as folder:
        server = Server(Path(folder) / "data", max_request_bytes=4 * size + 64 * MB)
        try:
            figures = provide(server.base, args.bundles, args.clients, args.patients, size)
            figures += search(server.base, args.searches, args.clients, args.patients)
        finally:
            server.stop()

    print(f"xcads MHD benchmark: embedded default, {os.cpu_count()} CPUs")
    print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
