"""Repository benchmark: a 200 MB document in (ITI-41) and out (ITI-39), and ITI-41 submissions/s.

Run `python bench/retrieve.py` (`--size-mb`, `--submissions`, `--clients` to vary it). The
script starts `xcads serve` on the embedded default (SQLite and files in a temporary folder) and
talks HTTP to it from this process. For the large document it reports throughput and how much the
server's resident memory grew (VmRSS before, VmHWM after, from /proc); the targets are growth
under 64 MB and at least 100 submissions/s. It prints figures; it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path, where `registry.py` would hide the
# package of that name: the repository's root, with the packages measured, takes its place.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx

from bench.support import (
    CHUNK,
    MB,
    REPOSITORY_PATH,
    SUCCESS,
    XCA_PATH,
    Provide,
    Server,
    generated,
    retrieve_envelope,
)

TARGET_GROWTH_MB = 64
TARGET_SUBMISSIONS_PER_SECOND = 100


# --- Measurements ------------------------------------------------------------------------------


@dataclass
class Figure:
    """One line of the result table."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None


def large_document(server: Server, http: httpx.Client, size: int) -> list[Figure]:
    """ITI-41 of one `size`-byte document, then its ITI-39 retrieve; throughput and memory."""
    provide = Provide.of()
    sent = hashlib.sha1(usedforsecurity=False)
    peak_reset = server.reset_peak()
    rss_before, _ = server.memory()
    started = time.perf_counter()
    reply = http.post(
        REPOSITORY_PATH,
        content=provide.body(generated(size, sent)),
        headers={"Content-Type": provide.content_type},
    )
    upload_seconds = time.perf_counter() - started
    _, upload_peak = server.memory()
    if reply.status_code != 200 or SUCCESS not in reply.content:
        raise SystemExit(f"ITI-41 of the large document failed: {reply.status_code}")

    server.reset_peak()
    rss_before_retrieve, _ = server.memory()
    received = hashlib.sha1(usedforsecurity=False)
    total = 0
    started = time.perf_counter()
    with http.stream(
        "POST",
        XCA_PATH,
        content=retrieve_envelope(provide.entry.unique_id),
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    ) as response:
        for chunk in response.iter_raw(CHUNK):
            total += len(chunk)
            received.update(chunk)
    retrieve_seconds = time.perf_counter() - started
    _, retrieve_peak = server.memory()
    if response.status_code != 200 or total < size:
        raise SystemExit(f"ITI-39 of the large document failed: {response.status_code}")

    upload_growth = (upload_peak - rss_before) / MB
    retrieve_growth = (retrieve_peak - rss_before_retrieve) / MB
    peak_note = "" if peak_reset else " (VmHWM since start)"
    size_mb = size / MB
    return [
        Figure(f"ITI-41 {size_mb:.0f} MB document", f"{size_mb / upload_seconds:.0f} MB/s"),
        Figure(
            "  server memory growth" + peak_note,
            f"{upload_growth:.1f} MB",
            f"< {TARGET_GROWTH_MB} MB",
            upload_growth < TARGET_GROWTH_MB,
        ),
        Figure(f"ITI-39 {size_mb:.0f} MB document", f"{size_mb / retrieve_seconds:.0f} MB/s"),
        Figure(
            "  server memory growth" + peak_note,
            f"{retrieve_growth:.1f} MB",
            f"< {TARGET_GROWTH_MB} MB",
            retrieve_growth < TARGET_GROWTH_MB,
        ),
    ]


def submissions(base: str, count: int, clients: int, size: int) -> list[Figure]:
    """`count` ITI-41 submissions of one `size`-byte document each, from `clients` threads."""
    document = os.urandom(size)
    requests = [Provide.of("text/plain") for _ in range(count)]
    bodies = [(b"".join(p.body(iter([document]))), p.content_type) for p in requests]

    def submit(http: httpx.Client, item: tuple[bytes, str]) -> bool:
        body, content_type = item
        reply = http.post(REPOSITORY_PATH, content=body, headers={"Content-Type": content_type})
        return reply.status_code == 200 and SUCCESS in reply.content

    measured = timed_requests(base, bodies, clients, submit)
    name = f"ITI-41 {size // 1024} KB documents, {clients} clients"
    return rate_figures(name, "submissions", TARGET_SUBMISSIONS_PER_SECOND, measured)


def timed_requests(
    base: str, items: list[Any], clients: int, send: Callable[[httpx.Client, Any], bool]
) -> tuple[float, list[float], int]:
    """Send `items` from `clients` threads; (requests/s, latencies, failures) after a warm-up."""
    local = threading.local()

    def one(item: Any) -> tuple[bool, float]:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=base, timeout=60)
        started = time.perf_counter()
        ok = send(local.http, item)
        return ok, time.perf_counter() - started

    # A few first, so that start-up costs (imports, connections) stay out of the figure.
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, items[:clients]))
        started = time.perf_counter()
        results = list(pool.map(one, items[clients:]))
        seconds = time.perf_counter() - started
    latencies = sorted(latency for _, latency in results)
    return len(results) / seconds, latencies, sum(1 for ok, _ in results if not ok)


def rate_figures(
    name: str, unit: str, target: int, measured: tuple[float, list[float], int]
) -> list[Figure]:
    """The rate row against its target, then latency p50 / p95 and failures."""
    rate, latencies, failed = measured
    p95 = latencies[int(0.95 * (len(latencies) - 1))] * 1000
    return [
        Figure(name, f"{rate:.0f} {unit}/s", f">= {target}/s", rate >= target and not failed),
        Figure("  latency p50 / p95", f"{statistics.median(latencies) * 1000:.0f} / {p95:.0f} ms"),
        Figure("  failed", f"{failed} of {len(latencies)}"),
    ]


def print_table(figures: list[Figure]) -> None:
    """Print the figures as a table."""
    width = max(len(figure.name) for figure in figures)
    for figure in figures:
        verdict = {True: "met", False: "MISSED", None: ""}[figure.met]
        print(f"{figure.name:<{width}}  {figure.value:>20}  {figure.target:>10}  {verdict}")


def main() -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200, help="the large document's size")
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--document-kb", type=int, default=100)
    args = parser.parse_args()

    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="xcads-bench-") as folder:
        server = Server(Path(folder) / "data", max_request_bytes=size + 64 * MB)
        try:
            with httpx.Client(base_url=server.base, timeout=600) as http:
                figures = large_document(server, http, size)
            figures += submissions(
                server.base, args.submissions, args.clients, args.document_kb * 1024
            )
        finally:
            server.stop()

    print(f"xcads repository benchmark: embedded default, {os.cpu_count()} CPUs")
    print_table(figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
