"""Test plans: YAML files of tests, each a list of steps sent in order to the target."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PLANS = Path(__file__).parent / "plans"
TEMPLATES = PLANS / "templates"
TRANSACTIONS = {
    "ITI-18",
    "ITI-38",
    "ITI-39",
    "ITI-41",
    "ITI-42",
    "ITI-43",
    "ITI-57",
    "ITI-62",
    "ITI-65",
    "ITI-66",
    "ITI-67",
    "ITI-68",
    "ITI-86",
}


class PlanError(ValueError):
    """A plan file that cannot be run as written."""


@dataclass(frozen=True)
class Check:
    """One assertion on the response: an XPath (SOAP) or a dotted path (FHIR) and its value."""

    path: str
    equals: str | None = None
    contains: str | None = None
    count: int | None = None
    exists: bool | None = None
    decodes_to: str | None = None
    matches: str | None = None


@dataclass(frozen=True)
class Expectation:
    """What a step's answer must show; whatever is left as None is not checked.

    `counts` maps an ebRIM element (ExtrinsicObject, RegistryPackage, Association, ObjectRef,
    Classification...) or `DocumentResponse` / `Document` (retrieved bytes) to how many the answer
    holds; for FHIR, `entry` counts Bundle entries. `errors` lists the XDS error codes (or FHIR
    OperationOutcome codes) that must all appear; an empty list demands none.
    """

    http: int | None = None
    status: str | None = None
    fault: bool | None = None
    fault_subcode: str | None = None
    errors: list[str] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """One request: a transaction, what to send, what to expect and what to keep for later."""

    name: str
    transaction: str
    expect: Expectation
    template: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    remove: list[str] = field(default_factory=list)
    set: dict[str, str] = field(default_factory=dict)
    query: str | None = None
    return_type: str = "LeafClass"
    parameters: dict[str, list[str]] = field(default_factory=dict)
    home: str | None = None
    documents: list[dict[str, str]] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    raw: str | None = None
    action: str | None = None
    content_type: str | None = None
    path: str | None = None
    asynchronous: bool = False
    scope: str | None = None
    save: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Test:
    """A test: an id unique in its suite, what it checks, the spec it comes from, its steps."""

    id: str
    title: str
    spec: str
    steps: list[Step]
    suite: str = ""

    @property
    def asynchronous(self) -> bool:
        """Whether any step needs the callback listener."""
        return any(step.asynchronous for step in self.steps)


@dataclass(frozen=True)
class Suite:
    """The tests of one plan file; `in_all` says whether `--suite all` runs it."""

    name: str
    title: str
    tests: list[Test]
    in_all: bool = True


def _expectation(data: dict[str, Any]) -> Expectation:
    checks = [Check(**check) for check in data.pop("checks", [])]
    return Expectation(checks=checks, **data)


def _step(data: dict[str, Any], index: int) -> Step:
    data = dict(data)
    transaction = data.get("transaction")
    if transaction not in TRANSACTIONS:
        raise PlanError(f"step {index + 1}: unknown transaction {transaction!r}")
    expect = _expectation(dict(data.pop("expect", {})))
    data["asynchronous"] = data.pop("async", False)
    data.setdefault("name", f"{index + 1}-{transaction}")
    parameters = data.get("parameters") or {}
    data["parameters"] = {
        name: value if isinstance(value, list) else [value] for name, value in parameters.items()
    }
    data["values"] = {name: str(value) for name, value in (data.get("values") or {}).items()}
    return Step(expect=expect, **data)


def load_suite(path: Path) -> Suite:
    """Read one plan file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        name = data["suite"]
        tests = []
        for test in data["tests"]:
            if any(test["id"] == known.id for known in tests):
                raise PlanError(f"test id {test['id']!r} twice")
            try:
                steps = [_step(step, index) for index, step in enumerate(test["steps"])]
            except (PlanError, TypeError) as exc:
                raise PlanError(f"{test['id']}: {exc}") from exc
            tests.append(Test(test["id"], test["title"], test.get("spec", ""), steps, name))
    except (yaml.YAMLError, KeyError, TypeError, PlanError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise PlanError(f"{path.name}: {detail}") from exc
    return Suite(name, data.get("title", name), tests, data.get("in_all", True))


def load_suites(folder: Path = PLANS) -> dict[str, Suite]:
    """Read every plan file of a folder, by suite name; files of one suite are joined in order."""
    suites: dict[str, Suite] = {}
    for path in sorted(folder.glob("*.yaml")):
        suite = load_suite(path)
        if suite.name in suites:
            known = suites[suite.name]
            clash = {test.id for test in known.tests} & {test.id for test in suite.tests}
            if clash:
                raise PlanError(f"{path.name}: test ids already in suite {suite.name}: {clash}")
            suite = Suite(known.name, known.title, known.tests + suite.tests, known.in_all)
        suites[suite.name] = suite
    return suites


def select(suites: dict[str, Suite], name: str) -> list[Suite]:
    """The suites `--suite NAME` runs: one by name, or every suite marked `in_all` for `all`."""
    if name == "all":
        return [suite for suite in suites.values() if suite.in_all]
    if name not in suites:
        raise PlanError(f"no suite {name!r}; known: {', '.join(sorted(suites))}, all")
    return [suites[name]]
