"""`xcads conformance run` and `xcads conformance list`: the command line of the runner."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path

from tqdm import tqdm

from conformance.plans import PLANS, PlanError, Suite, load_suites, select
from conformance.report import summary, write_html, write_junit
from conformance.runner import (
    DEFAULT_HOME,
    DEFAULT_PATIENT_DOMAIN,
    DEFAULT_REPOSITORY,
    Options,
    Runner,
    TestResult,
)

log = logging.getLogger("xcads.conformance")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add the `conformance` command group to the `xcads` parser."""
    group = commands.add_parser("conformance", help="run the conformance test plans")
    actions = group.add_subparsers(dest="conformance_command", required=True)
    run_parser = actions.add_parser("run", help="run test plans against a target")
    run_parser.add_argument("--target", required=True, help="base URL, e.g. http://host:8080")
    run_parser.add_argument(
        "--suite", default="all", help="xca, registry, repository, mhd, mhd-query or all"
    )
    run_parser.add_argument(
        "--test",
        action="append",
        metavar="ID",
        help="run only the tests whose id matches this pattern (fnmatch, repeatable)",
    )
    run_parser.add_argument("--report", type=Path, help="write an HTML report here")
    run_parser.add_argument("--junit", type=Path, help="write JUnit XML here")
    run_parser.add_argument("--home-community-id", default=DEFAULT_HOME)
    run_parser.add_argument("--repository-unique-id", default=DEFAULT_REPOSITORY)
    run_parser.add_argument(
        "--patient-id-domain",
        default=DEFAULT_PATIENT_DOMAIN,
        help="assigning authority OID of the fresh patient ids",
    )
    run_parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds allowed for each answer"
    )
    run_parser.add_argument(
        "--callback",
        metavar="HOST:PORT",
        help="listen here for asynchronous XCA answers; the target must allow it in"
        " XCADS_ASYNC_ALLOWED_REPLY_HOSTS. Without it the async tests are not run",
    )
    run_parser.add_argument(
        "--callback-url",
        help="the wsa:ReplyTo to send when the target reaches the listener by another address"
        " (default http://HOST:PORT/callback)",
    )
    run_parser.add_argument(
        "--callback-timeout", type=float, default=30.0, help="seconds to wait for an async answer"
    )
    run_parser.add_argument("--plans", type=Path, default=PLANS, help="folder of plan files")
    run_parser.add_argument("--quiet", action="store_true", help="no progress bar")
    run_parser.set_defaults(run=run)

    list_parser = actions.add_parser("list", help="list the tests of the plans")
    list_parser.add_argument("--suite", default="all")
    list_parser.add_argument("--plans", type=Path, default=PLANS, help="folder of plan files")
    list_parser.set_defaults(run=list_tests)


def list_tests(args: argparse.Namespace) -> int:
    """Print each test's suite, id, transactions and title."""
    try:
        suites = select(load_suites(args.plans), args.suite)
    except (PlanError, OSError) as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2
    for suite in suites:
        for test in suite.tests:
            transactions = ",".join(dict.fromkeys(step.transaction for step in test.steps))
            print(f"{suite.name}/{test.id}\t{transactions}\t{test.title}")
    return 0


def chosen(suites: list[Suite], patterns: list[str] | None) -> list[Suite]:
    """The suites with only the tests whose id matches one of the patterns (all without any)."""
    if not patterns:
        return suites
    return [
        replace(suite, tests=[t for t in suite.tests if any(fnmatch(t.id, p) for p in patterns)])
        for suite in suites
    ]


def run(args: argparse.Namespace) -> int:
    """Run the chosen suites; exit 0 when every test run passed, 1 otherwise, 2 on a bad plan."""
    try:
        suites = chosen(select(load_suites(args.plans), args.suite), args.test)
    except (PlanError, OSError) as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return 2

    options = Options(
        target=args.target,
        home_community_id=args.home_community_id,
        repository_unique_id=args.repository_unique_id,
        patient_domain=args.patient_id_domain,
        timeout=args.timeout,
        callback=args.callback,
        callback_url=args.callback_url,
        callback_timeout=args.callback_timeout,
    )
    # One INFO line per request would scroll the progress bar away.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    total = sum(len(suite.tests) for suite in suites)
    try:
        runner = Runner(options)
    except (ValueError, OSError) as exc:
        print(f"conformance: cannot listen for callbacks: {exc}", file=sys.stderr)
        return 2
    with tqdm(total=total, unit="test", disable=args.quiet, file=sys.stderr) as bar:

        def advance(result: TestResult) -> None:
            bar.set_postfix_str(f"{result.suite}/{result.id} {result.outcome}", refresh=False)
            bar.update(1)

        try:
            results = runner.run(suites, advance)
        finally:
            runner.close()

    if args.report:
        write_html(args.report, results, options)
    if args.junit:
        write_junit(args.junit, results)
    counts = summary(results)
    for result in results:
        if result.outcome in ("failed", "error"):
            print(f"{result.outcome.upper()} {result.suite}/{result.id}: {result.reason}")
    log.info(
        "conformance.done tests=%d passed=%d failed=%d errors=%d skipped=%d",
        len(results),
        counts["passed"],
        counts["failed"],
        counts["error"],
        counts["skipped"],
    )
    return 0 if counts["failed"] == 0 and counts["error"] == 0 else 1
