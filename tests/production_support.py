"""Helpers for the production tests: ITI-41 requests of one document, metric values, and servers
whose log is kept."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import signal
import socket
import threading
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from registry_support import submit_objects_request
from repository_support import provide_request
from servers import Server
from validation_samples import PATIENT, document_entry, submission

from registry.metadata import DocumentEntry


def provide_one(
    data: bytes, *, patient: str = PATIENT, unique_id: str | None = None
) -> tuple[bytes, str, DocumentEntry]:
    """An ITI-41 MTOM request of one document of `patient`; its body, Content-Type and entry."""
    entry = document_entry(
        unique_id, hash=hashlib.sha1(data).hexdigest(), size=len(data), mime_type="text/plain"
    )
    entry = dataclasses.replace(entry, patient_id=patient, source_patient_id=patient)
    body, content_type = provide_request(
        submit_objects_request(submission(entry, patient_id=patient)), [(entry.entry_uuid, data)]
    )
    return body, content_type, entry


def metric(exposition: str, name: str, **labels: str) -> float:
    """The value of the sample `name` with `labels` in a Prometheus text exposition; 0 if absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return 0.0


class DrainedServer(Server):
    """A `xcads serve` process whose log is read on a thread, so that it never blocks on a full
    pipe, and kept in `log`."""

    def __init__(self, data_dir: Path, environment: dict[str, str] | None = None) -> None:
        super().__init__(data_dir, environment=environment)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)

    def terminate_gracefully(self) -> None:
        """Send SIGTERM, as a container runtime does to stop a replica."""
        self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = 60) -> int:
        """Wait for the process to end and its log to be read; its exit code."""
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        self.http.close()
        return code

    def stop(self) -> None:
        """Stop the process if it still runs, and close the client."""
        if self.process.poll() is None:
            self.process.terminate()
        self.wait()


class TcpRelay:
    """A TCP relay on 127.0.0.1 to a real server: closing it is, to its clients, that server
    stopping; opening it again on the same port is the server coming back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Listen (on the same port as before, if it was open) and relay every connection."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening and cut every relayed connection."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
