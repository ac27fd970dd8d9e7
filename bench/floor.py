"""The floor of bench/run.py: a bare ASGI app on uvicorn answering every request with one
pre-rendered response, so that each xcads figure stands beside what the HTTP stack itself does.

It runs uvicorn as `xcads serve` does (httptools and uvloop where installed, no access log) and
reads each request body whole before answering, as xcads must. With `--stream-bytes N` it sends N
bytes in 64 KiB chunks without a Content-Length, as xcads streams an ITI-39 document.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn

CHUNK = 64 * 1024


def floor_app(body: bytes, content_type: str, status: int, stream_bytes: int):
    """The ASGI app answering every HTTP request with `body` (or `stream_bytes` bytes)."""
    headers = [(b"content-type", content_type.encode())]
    if not stream_bytes:
        headers.append((b"content-length", str(len(body)).encode()))
    pattern = bytes(range(256)) * (CHUNK // 256)

    async def app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)

        await send({"type": "http.response.start", "status": status, "headers": headers})
        if not stream_bytes:
            await send({"type": "http.response.body", "body": body})
            return
        left = stream_bytes
        while left > 0:
            chunk = pattern[: min(CHUNK, left)]
            left -= len(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})

    return app


def main() -> None:
    """Serve the pre-rendered response on 127.0.0.1 until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", type=Path, required=True, help="the body to answer with")
    parser.add_argument("--content-type", default="application/octet-stream")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--stream-bytes", type=int, default=0)
    args = parser.parse_args()

    app = floor_app(args.response.read_bytes(), args.content_type, args.status, args.stream_bytes)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
