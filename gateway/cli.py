"""The `xcads` command line: serve, migrate and repair; query, retrieve and submit as a client;
conformance."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from pydantic import ValidationError
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from conformance.cli import add_commands as add_conformance_commands
from conformance.client.commands import add_client_commands
from gateway.app import ENDPOINTS, create_app, open_documents
from gateway.config import Settings
from gateway.logs import configure_logging
from gateway.worker_sockets import SPREADS_CONNECTIONS, worker_socket
from mhd.codemap import CodeMapError
from registry.sql import SqlRegistryStore
from repository.repair import repair as repair_store

log = logging.getLogger("xcads.gateway")

# What `xcads serve --workers N` tells its worker processes, which build their app from the
# environment: where the shared socket listens, and the log level of the command line.
WORKER_ANNOUNCE = "XCADS_WORKER_ANNOUNCE"
WORKER_LOG_LEVEL = "XCADS_WORKER_LOG_LEVEL"
# The exit status of a command refused for its configuration (as an unusable code map).
INVALID_CONFIGURATION = 2


class AnnouncingServer(uvicorn.Server):
    """A uvicorn server that logs each endpoint's URL once its socket listens."""

    async def startup(self, sockets=None) -> None:
        """Start, then announce the bound endpoints."""
        await super().startup(sockets=sockets)
        if not self.started:
            return
        for server in self.servers:
            for sock in server.sockets:
                host, port = sock.getsockname()[:2]
                for name, path in ENDPOINTS:
                    log.info("endpoint.ready name=%r url=http://%s:%s%s", name, host, port, path)


def serve(args: argparse.Namespace) -> int:
    """Run the service until interrupted."""
    overrides = {"data_dir": Path(args.data_dir).resolve()} if args.data_dir else {}
    if args.workers is not None:
        overrides["workers"] = args.workers
    settings = configured(**overrides)
    if settings is None:
        return INVALID_CONFIGURATION
    try:
        app = create_app(settings)
    except CodeMapError as error:
        log.error("config.invalid XCADS_CODE_MAP %s", error)
        return INVALID_CONFIGURATION
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        timeout_keep_alive=settings.keep_alive_seconds,
    )
    if settings.workers == 1:
        AnnouncingServer(config).run()
        return 0
    # The app made above has checked the configuration and migrated the registry once, before
    # any worker opens it; each worker builds its own from the same settings.
    app.state.registry.close()
    return _serve_workers(args, settings, config)


def _serve_workers(args: argparse.Namespace, settings: Settings, config: uvicorn.Config) -> int:
    if SPREADS_CONNECTIONS:
        try:
            socket = worker_socket(config.host, config.port)
        except OSError as error:
            # As uvicorn reports it, with its exit status, when one process serves.
            log.error("serve.bind_failed host=%s port=%s error=%r", config.host, config.port, error)
            return STARTUP_FAILURE
    else:
        socket = config.bind_socket()
    host, port = socket.getsockname()[:2]
    metrics_dir = Path(tempfile.mkdtemp(prefix="metrics-", dir=_spool(settings)))
    os.environ.update(
        {
            "XCADS_DATA_DIR": str(settings.data_dir.resolve()),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            WORKER_ANNOUNCE: f"http://{host}:{port}",
            WORKER_LOG_LEVEL: args.log_level,
        }
    )
    config.app = "gateway.cli:worker_app"
    config.factory = True
    config.workers = settings.workers
    try:
        Multiprocess(config, sockets=[socket]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def worker_app() -> FastAPI:
    """Build the app of one worker process of `xcads serve --workers N`."""
    settings = Settings()
    configure_logging(os.environ.get(WORKER_LOG_LEVEL, "info"), settings.log_format)
    app = create_app(settings)
    for name, path in ENDPOINTS:
        log.info("endpoint.ready name=%r url=%s%s", name, os.environ[WORKER_ANNOUNCE], path)
    return app


def _spool(settings: Settings) -> Path:
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    return settings.spool_dir


def migrate(args: argparse.Namespace) -> int:
    """Bring the registry database schema to the newest version."""
    from registry.migrations import upgrade

    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    log.info("registry.migrated")
    return 0


def repair(args: argparse.Namespace) -> int:
    """Report orphaned bytes and DocumentEntries without bytes; remove the orphans with --fix.

    Exits 1 when anything found is left: entries without bytes, or orphans without --fix.
    """
    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    minutes = settings.repair_stale_minutes if args.stale_minutes is None else args.stale_minutes
    registry = SqlRegistryStore(settings.resolved_database_url)
    try:
        report = repair_store(
            registry,
            open_documents(settings),
            settings.repository_unique_id,
            fix=args.fix,
            stale_after=timedelta(minutes=minutes),
        )
    finally:
        registry.close()
    return 0 if report.clean else 1


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(prog="xcads", description=__doc__)
    parser.add_argument("--log-level", default="info")
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="start the service")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=8080)
    serve_parser.add_argument("--data-dir", help="folder for the embedded default (SQLite + files)")
    serve_parser.add_argument(
        "--workers", type=int, help="worker processes (default XCADS_WORKERS, 1)"
    )
    serve_parser.set_defaults(run=serve)

    migrate_parser = commands.add_parser("migrate", help="apply registry schema migrations")
    migrate_parser.add_argument("--data-dir")
    migrate_parser.set_defaults(run=migrate)

    repair_parser = commands.add_parser(
        "repair", help="find bytes without metadata and metadata without bytes"
    )
    repair_parser.add_argument("--data-dir")
    repair_parser.add_argument(
        "--fix", action="store_true", help="remove orphaned and stale staged bytes"
    )
    repair_parser.add_argument(
        "--stale-minutes",
        type=float,
        help="leave bytes younger than this alone (default XCADS_REPAIR_STALE_MINUTES, 60)",
    )
    repair_parser.set_defaults(run=repair)

    add_client_commands(commands)
    add_conformance_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xcads` console command."""
    args = build_parser().parse_args(argv)
    settings = configured()
    if settings is None:
        return INVALID_CONFIGURATION
    configure_logging(args.log_level, settings.log_format)
    return args.run(args)


def configured(**overrides: Any) -> Settings | None:
    """The settings from the environment and `overrides`; None, each problem logged in one line
    naming its variable, if they are not valid."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        if not logging.getLogger().handlers:
            configure_logging("info", "text")
        for problem in error.errors():
            name = "XCADS_" + "_".join(str(part) for part in problem["loc"]).upper()
            # The value is left out: it may be a secret.
            log.error("config.invalid %s %s", name, problem["msg"])
        return None


if __name__ == "__main__":
    raise SystemExit(main())
