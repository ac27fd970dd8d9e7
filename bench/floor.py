"""The floor of bench/run.py: a bare ASGI app on uvicorn answering every request with one
pre-rendered response, so that each xcads figure stands beside what the HTTP stack itself does.

It runs uvicorn as `xcads serve` does (httptools and uvloop where installed, no access log, the
same number of worker processes) and reads each request body whole before answering, as xcads
must. With `--stream-bytes N` it sends N bytes in 64 KiB chunks without a Content-Length, as
xcads streams an ITI-39 document.

Run it as `python -m bench.floor` from the repository's root. With `--framework` it serves
xcads' own app instead (FastAPI, its middleware: request ids, metrics, limits) with one route
more, answering the same pre-rendered response: what an xcads endpoint that did no work at all
would reach, the framework's ceiling under the bare floor.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import uvicorn

CHUNK = 64 * 1024
# How the worker processes learn their arguments: uvicorn starts them from an import string.
_ARGUMENTS = "XCADS_BENCH_FLOOR"


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


def framework_app(body: bytes, content_type: str, status: int, path: str):
    """xcads' own app, on a registry of its own, with a route at `path` answering `body`."""
    from fastapi import Request
    from fastapi.responses import Response

    from gateway.app import create_app
    from gateway.config import Settings

    app = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="xcads-ceiling-"))))

    async def ceiling(request: Request) -> Response:
        await request.body()
        return Response(body, status_code=status, media_type=content_type)

    # Inserted first, so that this path is not taken for one of xcads' own endpoints.
    app.router.add_api_route(path, ceiling, methods=["GET", "POST"])
    app.router.routes.insert(0, app.router.routes.pop())
    return app


def app_from_environment():
    """The app that the arguments in the environment describe (uvicorn's factory)."""
    arguments = json.loads(os.environ[_ARGUMENTS])
    body = Path(arguments["response"]).read_bytes()
    if arguments["framework"]:
        return framework_app(
            body, arguments["content_type"], arguments["status"], arguments["path"]
        )
    return floor_app(
        body, arguments["content_type"], arguments["status"], arguments["stream_bytes"]
    )


def main() -> None:
    """Serve the pre-rendered response on 127.0.0.1 until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", type=Path, required=True, help="the body to answer with")
    parser.add_argument("--content-type", default="application/octet-stream")
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--stream-bytes", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--framework", action="store_true", help="xcads' app, one route more")
    parser.add_argument("--path", default="/", help="the --framework route's path")
    args = parser.parse_args()

    os.environ[_ARGUMENTS] = json.dumps(
        {
            "response": str(args.response.resolve()),
            "content_type": args.content_type,
            "status": args.status,
            "stream_bytes": args.stream_bytes,
            "framework": args.framework,
            "path": args.path,
        }
    )
    uvicorn.run(
        "bench.floor:app_from_environment",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        lifespan="on" if args.framework else "off",
    )


if __name__ == "__main__":
    main()
