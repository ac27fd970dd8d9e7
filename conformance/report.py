"""The reports of a run: an HTML page for people and JUnit XML for CI."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from lxml import etree

from conformance.messages import PARSER
from conformance.runner import Exchange, Options, TestResult

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
td, th { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
.passed { background: #e6f4ea; } .failed { background: #fce8e6; }
.error { background: #fdf1d6; } .skipped { background: #eee; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; max-height: 30em;
      white-space: pre-wrap; }
.difference { color: #a50e0e; font-weight: bold; }
"""


def summary(results: list[TestResult]) -> Counter[str]:
    """How many tests passed, failed, erred and were skipped."""
    return Counter(result.outcome for result in results)


def write_html(path: Path, results: list[TestResult], options: Options) -> None:
    """A page with the summary table, then each failing step's request, answer and differences."""
    counts = summary(results)
    rows = "".join(
        f'<tr class="{result.outcome}"><td>{escape(result.suite)}</td>'
        f'<td><a href="#{escape(result.suite)}-{escape(result.id)}">{escape(result.id)}</a></td>'
        f"<td>{escape(result.title)}</td><td>{escape(result.spec)}</td>"
        f"<td>{result.outcome}</td><td>{escape(result.reason)}</td>"
        f"<td>{result.seconds:.2f}</td></tr>"
        for result in results
    )
    details = "".join(
        _details(result) for result in results if result.outcome in ("failed", "error")
    )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>xcads conformance: {escape(options.target)}</title><style>{STYLE}</style></head>"
        f"<body><h1>Conformance run against {escape(options.target)}</h1>"
        f"<p>{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC · homeCommunityId "
        f"{escape(options.home_community_id)} · repositoryUniqueId "
        f"{escape(options.repository_unique_id)} · patient domain "
        f"{escape(options.patient_domain)}</p>"
        f"<p><b>{len(results)} tests:</b> {counts['passed']} passed, {counts['failed']} failed, "
        f"{counts['error']} errors, {counts['skipped']} not run</p>"
        "<table><tr><th>suite</th><th>test</th><th>checks</th><th>spec</th><th>outcome</th>"
        f"<th>reason</th><th>seconds</th></tr>{rows}</table>{details}</body></html>"
    )
    path.write_text(page, encoding="utf-8")


def _details(result: TestResult) -> str:
    steps = []
    for step in result.steps:
        if step.outcome == "passed":
            continue
        differences = "".join(
            f'<li class="difference">{escape(text)}</li>' for text in step.differences
        )
        exchanges = "".join(_exchange(exchange) for exchange in step.exchanges)
        steps.append(
            f"<h3>step {escape(step.name)} ({escape(step.transaction)}): {step.outcome}</h3>"
            f"<ul>{differences}</ul>{exchanges}"
        )
    anchor = f"{escape(result.suite)}-{escape(result.id)}"
    return (
        f'<section id="{anchor}"><h2>{escape(result.suite)} / {escape(result.id)}: '
        f"{escape(result.title)}</h2><p>{escape(result.spec)}</p>{''.join(steps)}</section>"
    )


def _exchange(exchange: Exchange) -> str:
    status = exchange.status if exchange.status is not None else "none"
    request = f"{_headers(exchange.request_headers)}\n\n{_pretty(exchange.request)}"
    response = f"{_headers(exchange.response_headers)}\n\n{_pretty(exchange.response)}"
    return (
        f"<h4>request: {escape(exchange.method)} {escape(exchange.url)}</h4>"
        f"<pre>{escape(request)}</pre><h4>response: {status}</h4><pre>{escape(response)}</pre>"
    )


def _pretty(text: str) -> str:
    """Indent an XML or JSON body for reading; anything else (MTOM, garbage) as it came."""
    stripped = text.strip()
    try:
        if stripped.startswith("<"):
            root = etree.fromstring(stripped.encode(), PARSER)
            return etree.tostring(root, pretty_print=True, encoding="unicode")
        if stripped.startswith(("{", "[")):
            return json.dumps(json.loads(stripped), indent=2, ensure_ascii=False)
    except (etree.XMLSyntaxError, ValueError):
        pass
    return text


def _headers(headers: dict[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def write_junit(path: Path, results: list[TestResult]) -> None:
    """JUnit XML: one testsuite per suite, a failure or error element per test not passed."""
    root = etree.Element("testsuites", name="xcads conformance")
    suites: dict[str, etree._Element] = {}
    for result in results:
        suite = suites.get(result.suite)
        if suite is None:
            suite = suites[result.suite] = etree.SubElement(root, "testsuite", name=result.suite)
        case = etree.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{result.suite}",
            name=result.id,
            time=f"{result.seconds:.3f}",
        )
        if result.outcome == "skipped":
            etree.SubElement(case, "skipped", message=result.reason)
        elif result.outcome in ("failed", "error"):
            element = etree.SubElement(
                case, "failure" if result.outcome == "failed" else "error", message=result.reason
            )
            element.text = "\n".join(
                f"{step.name}: {difference}"
                for step in result.steps
                for difference in step.differences
            )
    for name, suite in suites.items():
        outcomes = summary([result for result in results if result.suite == name])
        suite.set("tests", str(sum(outcomes.values())))
        suite.set("failures", str(outcomes["failed"]))
        suite.set("errors", str(outcomes["error"]))
        suite.set("skipped", str(outcomes["skipped"]))
    path.write_bytes(
        etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
