"""What the benchmarks share: `xcads serve` in a process of its own, the floor server, wrk as the
load generator, and the SOAP messages they send."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

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
from tests.s3_server import free_port

BENCH = Path(__file__).resolve().parent
HOME = "urn:oid:1.3.6.1.4.1.21367.13.70.200"
REPOSITORY = "1.3.6.1.4.1.21367.13.70.200.1"
PATIENT = "13116900216^^^&2.16.578.1.12.4.1.4.1&ISO"
REPOSITORY_PATH = "/Repository/services/RepositoryService"
XCA_PATH = "/XCA/services/RespondingGatewayService"
PROVIDE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
QUERY = "urn:ihe:iti:2007:CrossGatewayQuery"
RETRIEVE = "urn:ihe:iti:2007:CrossGatewayRetrieve"
SUCCESS = b"urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP_MEDIA_TYPE = "application/soap+xml; charset=utf-8"
WSA = "http://www.w3.org/2005/08/addressing"
XDS = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
CHUNK = 64 * 1024
MB = 1024 * 1024
START_TIMEOUT_S = 60


# --- Servers -----------------------------------------------------------------------------------


class Server:
    """`xcads serve` in a folder of its own: the embedded default, unless `environment` names a
    registry database or document store (XCADS_DATABASE_URL, XCADS_REPOSITORY_URL, XCADS_S3_*).

    Its log goes to `xcads.log` beside the data folder, so that no pipe needs reading meanwhile.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        max_request_bytes: int = 100 * MB,
        environment: dict[str, str] | None = None,
    ) -> None:
        env = {
            **os.environ,
            "XCADS_HOME_COMMUNITY_ID": HOME,
            "XCADS_REPOSITORY_UNIQUE_ID": REPOSITORY,
            "XCADS_MAX_REQUEST_BYTES": str(max_request_bytes),
        }
        for name in ("XCADS_DATABASE_URL", "XCADS_REPOSITORY_URL", "XCADS_PROFILE"):
            env.pop(name, None)
        env.update(environment or {})
        data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = data_dir
        self.log_path = data_dir.parent / "xcads.log"
        command = [sys.executable, "-m", "gateway.cli", "serve", "--port", "0"]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(data_dir)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.base = self._wait_until_ready()

    def _wait_until_ready(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = re.search(
                r"endpoint\.ready name='health' url=(\S+)",
                self.log_path.read_text(errors="replace"),
            )
            if found:
                return found.group(1).removesuffix("/health")
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise SystemExit(f"xcads serve did not start:\n{tail}")

    def memory(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server, its worker processes summed, in bytes."""
        rss = peak = 0
        for pid in self._pids():
            status = Path(f"/proc/{pid}/status").read_text()
            values = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.MULTILINE))
            rss += int(values["VmRSS"]) * 1024
            peak += int(values["VmHWM"]) * 1024
        return rss, peak

    def reset_peak(self) -> bool:
        """Start VmHWM afresh from VmRSS (Linux clear_refs); False where that is not allowed."""
        try:
            for pid in self._pids():
                Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            return False
        return True

    def _pids(self) -> list[int]:
        # `xcads serve --workers N` answers from child processes of the one started here.
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [pid, *map(int, children)]

    def stop(self) -> None:
        """Stop the process."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


class Floor:
    """`bench/floor.py`: a bare ASGI app on uvicorn answering every request with one pre-rendered
    response, `body`, or `stream_bytes` bytes sent in chunks as xcads streams a document; with
    `framework_path`, xcads' own app answering `body` at that path (the framework's ceiling)."""

    def __init__(
        self,
        folder: Path,
        *,
        body: bytes = b"",
        content_type: str = "application/octet-stream",
        status: int = 200,
        stream_bytes: int = 0,
        workers: int = 1,
        framework_path: str | None = None,
    ) -> None:
        response = folder / "floor-response"
        response.write_bytes(body)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # As a module from the repository's root, so that `bench.floor` imports as uvicorn's
        # workers import it, with the packages measured beside it.
        command = [
            sys.executable,
            "-m",
            "bench.floor",
            f"--port={self.port}",
            f"--response={response}",
            f"--content-type={content_type}",
            f"--status={status}",
            f"--stream-bytes={stream_bytes}",
            f"--workers={workers}",
        ]
        if framework_path is not None:
            command += ["--framework", f"--path={framework_path}"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, cwd=BENCH.parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        # Answered, not only connected: with workers the socket listens before they are ready.
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                httpx.get(self.base + "/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the floor server did not start")

    def stop(self) -> None:
        """Stop the process."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


# --- Load --------------------------------------------------------------------------------------

# In a request template, @N@ becomes a number of eight digits counting the requests, so that each
# submission has ids of its own; @P@ becomes a patient number of eleven digits, the requests going
# round the patients 0 to BENCH_PATIENTS - 1 (see bench/load.lua).
COUNTER = "@N@"
PATIENT_NUMBER = "@P@"


def with_counter(body: bytes, ids: Iterable[str]) -> bytes:
    """`body` with each of `ids` made new for every request: the first group of a UUID and the
    first nine digits of a 2.25 OID become @N@."""
    for value in ids:
        if value.startswith("2.25."):
            numbered = "2.25.1" + COUNTER + value[len("2.25.") + 9 :]
        else:
            prefix = "urn:uuid:" if value.startswith("urn:uuid:") else ""
            numbered = prefix + COUNTER + value[len(prefix) + 8 :]
        body = body.replace(value.encode(), numbered.encode())
    return body


def submission_ids(submission: Submission) -> list[str]:
    """The ids a submission must not share with any other: entryUUIDs and uniqueIds."""
    return [
        submission.submission_set.entry_uuid,
        submission.submission_set.unique_id,
        *(entry.entry_uuid for entry in submission.document_entries),
        *(entry.unique_id for entry in submission.document_entries),
        *(association.entry_uuid for association in submission.associations),
    ]


@dataclass
class Load:
    """What wrk measured over one run."""

    requests: int
    seconds: float
    bytes: int
    p50_ms: float
    p99_ms: float
    failed: int

    @property
    def per_second(self) -> float:
        """Requests answered per second."""
        return self.requests / self.seconds

    @property
    def mb_per_second(self) -> float:
        """Response bytes per second, in MB (2**20)."""
        return self.bytes / MB / self.seconds


def wrk_binary() -> str:
    """The `wrk` on PATH; exit with how to get it if there is none."""
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("bench/run.py needs wrk: apt-get install wrk (or build it from source)")
    return found


def wrk(
    base: str,
    path: str,
    *,
    seconds: float,
    connections: int,
    method: str = "POST",
    body: bytes | None = None,
    content_type: str = "",
    patients: int = 1,
    timeout_s: int = 120,
) -> Load:
    """Send requests to `base` + `path` from `connections` connections for `seconds`, with wrk
    in a process of its own (one thread) and `bench/load.lua`; what it measured."""
    with tempfile.NamedTemporaryFile(prefix="xcads-bench-", suffix=".body") as file:
        file.write(body or b"")
        file.flush()
        env = {
            **os.environ,
            "BENCH_METHOD": method,
            "BENCH_PATH": path,
            "BENCH_BODY": file.name if body is not None else "",
            "BENCH_CONTENT_TYPE": content_type,
            "BENCH_PATIENTS": str(patients),
        }
        command = [
            wrk_binary(),
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(BENCH / "load.lua"),
            base + "/",
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    figures = json.loads(lines[-1])
    return Load(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        bytes=figures["bytes"],
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        failed=figures["failed"],
    )


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
    submission: Submission

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
        tail = f"\r\n--{boundary}--\r\n".encode()
        return cls(entry, head, tail, content_type, submission)

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
