"""The `xcads` command line: serve, migrate and repair; query, retrieve and submit as a client;
conformance."""

from __future__ import annotations

import argparse
import logging
from datetime import timedelta
from pathlib import Path

import uvicorn

from conformance.cli import add_commands as add_conformance_commands
from conformance.client.commands import add_client_commands
from gateway.app import ENDPOINTS, create_app, open_documents
from gateway.config import Settings
from gateway.logs import configure_logging
from mhd.codemap import CodeMapError
from registry.sql import SqlRegistryStore
from repository.repair import repair as repair_store

log = logging.getLogger("xcads.gateway")


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
    overrides = {"data_dir": Path(args.data_dir)} if args.data_dir else {}
    settings = Settings(**overrides)
    try:
        app = create_app(settings)
    except CodeMapError as error:
        log.error("config.invalid XCADS_CODE_MAP %s", error)
        return 2
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
    AnnouncingServer(config).run()
    return 0


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
    configure_logging(args.log_level, Settings().log_format)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
