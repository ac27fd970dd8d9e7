"""The callback listener: a small local HTTP server receiving asynchronous XCA answers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from lxml import etree

from conformance.messages import NS, GarbageAnswer, read_soap

MAX_BODY = 256 * 1024 * 1024


@dataclass(frozen=True)
class Delivery:
    """One message POSTed to the listener."""

    content_type: str
    body: bytes
    relates_to: str | None


class CallbackListener:
    """Receives answers POSTed to `http://HOST:PORT/callback` (ITI TF-2x V.3 wsa:ReplyTo)."""

    def __init__(self, host: str, port: int, url: str | None = None) -> None:
        """Listen on host:port (port 0 picks a free one); `url` is the address to advertise
        when the target must reach the listener by another name (a proxy, a container)."""
        self.deliveries: list[Delivery] = []
        self.arrived = threading.Condition()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(min(length, MAX_BODY))
                content_type = self.headers.get("Content-Type", "")
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                listener._received(Delivery(content_type, body, _relates_to(content_type, body)))

            def log_message(self, format: str, *args: object) -> None:
                """Keep the terminal for the progress bar."""

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.host, self.port = self.server.server_address[:2]
        self.advertised = url
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """The wsa:ReplyTo address to give the target."""
        return self.advertised or f"http://{self.host}:{self.port}/callback"

    def _received(self, delivery: Delivery) -> None:
        with self.arrived:
            self.deliveries.append(delivery)
            self.arrived.notify_all()

    def wait_for(self, message_id: str, timeout: float) -> Delivery | None:
        """The answer whose wsa:RelatesTo is `message_id`, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for delivery in self.deliveries:
                    if delivery.relates_to == message_id:
                        self.deliveries.remove(delivery)
                        return delivery
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(left)

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()


def _relates_to(content_type: str, body: bytes) -> str | None:
    try:
        root = read_soap(content_type, body)
    except (GarbageAnswer, etree.XMLSyntaxError, ValueError):
        return None
    found = root.find("s:Header/wsa:RelatesTo", NS)
    return found.text.strip() if found is not None and found.text else None
