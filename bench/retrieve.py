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
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run as a script, this file's folder comes first on sys.path; the packages measured are xcads'.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import httpx
from lxml import etree

from registry.ebrim import association_to_rim, document_entry_to_rim, submission_set_to_rim
from registry.ebrim.xml import LCM, RIM, qname
from registry.metadata import (
    Association,
    AssociationType,
    Author,
    Code,
    DocumentEntry,
    Submission,
    SubmissionSet,
)

HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
REPOSITORY = "1.3.6.1.4.1.21367.13.70.200.1"
PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"
REPOSITORY_PATH = "/Repository/services/RepositoryService"
XCA_PATH = "/XCA/services/RespondingGatewayService"
PROVIDE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
SUCCESS = b"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
XDS = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
CHUNK = 64 * 1024
MB = 1024 * 1024
TARGET_GROWTH_MB = 64
TARGET_SUBMISSIONS_PER_SECOND = 100


# --- The server --------------------------------------------------------------------------------


class Server:
    """`xcads serve` on the embedded default, in a folder of its own."""

    def __init__(self, data_dir: Path, max_request_bytes: int) -> None:
        env = {
            **os.environ,
            "XCADS_HOME_COMMUNITY_ID": HOME,
            "XCADS_REPOSITORY_UNIQUE_ID": REPOSITORY,
            "XCADS_MAX_REQUEST_BYTES": str(max_request_bytes),
        }
        for name in ("XCADS_DATABASE_URL", "XCADS_REPOSITORY_URL", "XCADS_PROFILE"):
            env.pop(name, None)
        command = [sys.executable, "-m", "gateway.cli", "serve", "--port", "0"]
        self.process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)], env=env, stderr=subprocess.PIPE, text=True
        )
        self.base = ""
        for line in self.process.stderr:
            found = re.search(r"endpoint\.ready name='health' url=(\S+)", line)
            if found:
                self.base = found.group(1).removesuffix("/health")
                break
        if not self.base:
            raise SystemExit("xcads serve did not start")
        # One log line per request: keep reading so the pipe never fills.
        threading.Thread(target=self.process.stderr.read, daemon=True).start()

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
        return int(values["VmRSS"]) * 1024, int(values["VmHWM"]) * 1024

    def reset_peak(self) -> bool:
        """Start VmHWM afresh from VmRSS (Linux clear_refs); False where that is not allowed."""
        try:
            Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop the process."""
        self.process.terminate()
        self.process.wait(timeout=30)


# --- Messages ----------------------------------------------------------------------------------


def provide_envelope(document_id: str, content_id: str, submission: Submission) -> bytes:
    """An ITI-41 envelope whose one Document is the MIME part `content_id`."""
    root = etree.Element(qname(SOAP12, "Envelope"), nsmap={"env": SOAP12, "wsa": WSA})
    header = etree.SubElement(root, qname(SOAP12, "Header"))
    etree.SubElement(header, qname(WSA, "Action")).text = PROVIDE
    etree.SubElement(header, qname(WSA, "MessageID")).text = uuid.uuid4().urn
    body = etree.SubElement(root, qname(SOAP12, "Body"))
    request = etree.SubElement(
        body, qname(XDS, "ProvideAndRegisterDocumentSetRequest"), nsmap={"xds": XDS, "xop": XOP}
    )
    submit = etree.SubElement(request, qname(LCM, "SubmitObjectsRequest"), nsmap={"lcm": LCM})
    objects = etree.SubElement(submit, qname(RIM, "RegistryObjectList"), nsmap={"rim": RIM})
    objects.append(submission_set_to_rim(submission.submission_set))
    objects.extend(document_entry_to_rim(entry) for entry in submission.document_entries)
    objects.extend(association_to_rim(link) for link in submission.associations)
    document = etree.SubElement(request, qname(XDS, "Document"), id=document_id)
    etree.SubElement(document, qname(XOP, "Include"), href=f"cid:{content_id}")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def one_document(mime_type: str = "application/pdf") -> tuple[Submission, DocumentEntry]:
    """A submission of one DocumentEntry with the metadata ITI-41 requires."""
    entry = DocumentEntry(
        entry_uuid=uuid.uuid4().urn,
        unique_id=f"2.25.{uuid.uuid4().int}",
        patient_id=PATIENT,
        source_patient_id=PATIENT,
        mime_type=mime_type,
        class_code=Code("A00-1", "2.16.578.1.12.4.1.1.9602", "Epikrise"),
        type_code=Code("J01-2", "2.16.578.1.12.4.1.1.9603", "Epikrise fra sykehus"),
        format_code=Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3"),
        healthcare_facility_type_code=Code("86.211", "2.16.578.1.12.4.1.1.1303", "Sykehus"),
        practice_setting_code=Code("ALL", "2.16.578.1.12.4.1.1.8451", "Allmennmedisin"),
        confidentiality_codes=[Code("N", "2.16.840.1.113883.5.25", "Normal")],
        language_code="nb-NO",
        creation_time="20240102030405",
        title="Benchmark",
        authors=[Author(person="^Lege^Bench")],
    )
    submission_set = SubmissionSet(
        entry_uuid=uuid.uuid4().urn,
        unique_id=f"2.25.{uuid.uuid4().int}",
        source_id="1.3.6.1.4.1.21367.13.70.200.9",
        patient_id=PATIENT,
        submission_time="20240102030500",
        content_type_code=Code("A00-1", "2.16.578.1.12.4.1.1.9602", "Epikrise"),
        authors=[Author(person="^Lege^Bench")],
    )
    association = Association(
        entry_uuid=uuid.uuid4().urn,
        association_type=AssociationType.HAS_MEMBER,
        source_object=submission_set.entry_uuid,
        target_object=entry.entry_uuid,
        submission_set_status="Original",
    )
    return Submission(submission_set, [entry], associations=[association]), entry


@dataclass
class Provide:
    """An ITI-41 MTOM request, its body produced piece by piece."""

    entry: DocumentEntry
    head: bytes
    tail: bytes
    content_type: str

    @classmethod
    def of(cls, mime_type: str = "application/pdf") -> Provide:
        submission, entry = one_document(mime_type)
        boundary = f"MIMEBoundary_{uuid.uuid4().hex}"
        content_id = f"{uuid.uuid4().hex}@bench"
        envelope = provide_envelope(entry.entry_uuid, content_id, submission)
        head = (
            f"--{boundary}\r\nContent-Type: application/xop+xml; charset=UTF-8; "
            'type="application/soap+xml"\r\nContent-ID: <root@bench>\r\n\r\n'
        ).encode()
        head += (
            envelope
            + (
                f"\r\n--{boundary}\r\nContent-Type: {mime_type}\r\n"
                f"Content-Transfer-Encoding: binary\r\nContent-ID: <{content_id}>\r\n\r\n"
            ).encode()
        )
        content_type = (
            f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
            'start="<root@bench>"; start-info="application/soap+xml"'
        )
        return cls(entry, head, f"\r\n--{boundary}--\r\n".encode(), content_type)

    def body(self, document: Iterator[bytes]) -> Iterator[bytes]:
        """The request body around the document's bytes."""
        yield self.head
        yield from document
        yield self.tail


def generated(size: int, digest: hashlib._Hash) -> Iterator[bytes]:
    """`size` bytes of a repeating pattern, hashed into `digest` as they are made."""
    pattern = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    while sent < size:
        chunk = pattern[: min(CHUNK, size - sent)]
        digest.update(chunk)
        sent += len(chunk)
        yield chunk


def retrieve_envelope(unique_id: str) -> bytes:
    """An ITI-39 request for one document."""
    return (
        f"<env:Envelope xmlns:env='{SOAP12}' xmlns:wsa='{WSA}'><env:Header>"
        f"<wsa:Action>{RETRIEVE}</wsa:Action><wsa:MessageID>{uuid.uuid4().urn}</wsa:MessageID>"
        f"</env:Header><env:Body><xds:RetrieveDocumentSetRequest xmlns:xds='{XDS}'>"
        f"<xds:DocumentRequest><xds:HomeCommunityId>{HOME}</xds:HomeCommunityId>"
        f"<xds:RepositoryUniqueId>{REPOSITORY}</xds:RepositoryUniqueId>"
        f"<xds:DocumentUniqueId>{unique_id}</xds:DocumentUniqueId></xds:DocumentRequest>"
        "</xds:RetrieveDocumentSetRequest></env:Body></env:Envelope>"
    ).encode()


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
