"""The NIST XDS Toolkit registry tests, replayed against the registry SOAP endpoint.

Each NIST test section is one pytest item (`test_nist_registry[11992-rplc]`). Its steps send
ITI-42 RegisterDocumentSet-b or ITI-18 RegistryStoredQuery requests to
`/Registry/services/RegistryService` and check status, error codes and object counts as the NIST
test does. Tests sharing a context (the 12346 data and every stored query test that reads it) run
against one app; any other test has an app and a patient of its own. A section first runs the
sections it builds on, so any single item can be selected on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from nist_plans import Expectation, Plan, Query, Section, Step, Values, load_plans
from soap_messages import envelope, split_multipart

from conformance.messages import STORED_QUERIES
from gateway.app import create_app
from gateway.config import Settings

URL = "/Registry/services/RegistryService"
REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"


RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
SUBMISSION_SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
FOLDER_UNIQUE_ID = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"
ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"

PLANS = load_plans()


@dataclass
class Outcome:
    """What the registry answered to one request, reduced to what the NIST tests check."""

    status: str
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    documents: list[etree._Element] = field(default_factory=list)
    submission_sets: list[etree._Element] = field(default_factory=list)
    folders: list[etree._Element] = field(default_factory=list)
    associations: list[etree._Element] = field(default_factory=list)
    object_refs: list[etree._Element] = field(default_factory=list)

    def summary(self) -> str:
        """One line for a failure message: status, error codes and counts."""
        errors = ", ".join(f"{code} ({context[:120]})" for code, _, context in self.errors)
        return (
            f"status={self.status} errors=[{errors}] documents={len(self.documents)} "
            f"submission_sets={len(self.submission_sets)} folders={len(self.folders)} "
            f"associations={len(self.associations)} object_refs={len(self.object_refs)}"
        )


class Replay:
    """One app and its Values, where the sections of the plans sharing a context run."""

    def __init__(self, client: TestClient, plans: dict[str, Plan] | None = None) -> None:
        self.client = client
        self.plans = plans or PLANS
        self.values = Values()
        self.results: dict[tuple[str, str], list[str]] = {}

    def run(self, plan: Plan, section: Section) -> list[str]:
        """Run a section once (after what it builds on); the failures it found, if any."""
        key = (plan.test, section.name)
        if key not in self.results:
            prerequisites = self._prerequisites(plan, section)
            failures = [f for step in section.steps for f in self._step(plan, step)]
            if failures and prerequisites:
                failures.append("prerequisite sections that failed: " + ", ".join(prerequisites))
            self.results[key] = failures
        return self.results[key]

    def _prerequisites(self, plan: Plan, section: Section) -> list[str]:
        failed = []
        for test in plan.requires:
            for required in self.plans[test].sections:
                if self.run(self.plans[test], required):
                    failed.append(f"{test}-{required.name}")
        for earlier in plan.sections[: plan.sections.index(section)]:
            if self.run(plan, earlier):
                failed.append(f"{plan.test}-{earlier.name}")
        return failed

    def _step(self, plan: Plan, step: Step) -> list[str]:
        if step.register is not None:
            template = step.register.read_text()
            body = self.values.fill(template, plan, step, xml=True)
            body = body.split("?>", 1)[1] if body.startswith("<?xml") else body
            outcome = self._post(REGISTER, body)
        else:
            assert step.query is not None
            outcome = self._post(STORED_QUERY, self._adhoc_query(step.query, plan, step))
        return [f"step {step.name}: {problem}" for problem in check(outcome, step.expect)]

    def _adhoc_query(self, query: Query, plan: Plan, step: Step) -> str:
        slots = "".join(
            f"<rim:Slot name={quoteattr(name)}><rim:ValueList>"
            + "".join(
                f"<rim:Value>{escape(self.values.fill(value, plan, step, xml=False))}</rim:Value>"
                for value in values
            )
            + "</rim:ValueList></rim:Slot>"
            for name, values in query.slots
        )
        home = self.values.fill(query.home, plan, step, xml=False) if query.home else ""
        home = f" home={quoteattr(home)}" if home else ""
        return (
            '<query:AdhocQueryRequest xmlns:query="urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"'
            f' xmlns:rim="{RIM}">'
            f'<query:ResponseOption returnType="{query.return_type}" returnComposedObjects="true"/>'
            f'<rim:AdhocQuery id="{STORED_QUERIES[query.name]}"{home}>{slots}</rim:AdhocQuery>'
            "</query:AdhocQueryRequest>"
        )

    def _post(self, action: str, body: str, url: str = URL) -> Outcome:
        response = self.client.post(
            url,
            content=envelope(action, body).encode(),
            headers={"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'},
        )
        content_type = response.headers.get("content-type", "")
        data = response.content
        if content_type.startswith("multipart/related"):
            data = split_multipart(content_type, data)[0].data
        try:
            root = etree.fromstring(data)
        except etree.XMLSyntaxError:
            return Outcome(status=f"HTTP {response.status_code} {data[:200]!r}")
        return outcome_of(root, response.status_code)


def outcome_of(root: etree._Element, http_status: int) -> Outcome:
    """Read a SOAP response: its RegistryResponse or AdhocQueryResponse, or its Fault."""
    body = root.find(f"{{{SOAP_ENV}}}Body")
    answer = body[0] if body is not None and len(body) else root
    if etree.QName(answer).localname == "Fault":
        reason = " ".join(answer.itertext()).split()
        return Outcome(status=f"Fault (HTTP {http_status}): {' '.join(reason)[:300]}")

    outcome = Outcome(status=answer.get("status", "").rsplit(":", 1)[-1] or "(none)")
    for error in answer.iter(f"{{{RS}}}RegistryError"):
        outcome.errors.append(
            (error.get("errorCode", ""), error.get("severity", ERROR), error.get("codeContext", ""))
        )

    object_list = answer.find(f"{{{RIM}}}RegistryObjectList")
    children = list(object_list) if object_list is not None else []
    nodes = {
        item.get("classifiedObject"): item.get("classificationNode")
        for item in children
        if etree.QName(item).localname == "Classification"
    }
    for item in children:
        kind = etree.QName(item).localname
        if kind == "ExtrinsicObject":
            outcome.documents.append(item)
        elif kind == "Association":
            outcome.associations.append(item)
        elif kind == "ObjectRef":
            outcome.object_refs.append(item)
        elif kind == "RegistryPackage" and _is_folder(item, nodes.get(item.get("id"))):
            outcome.folders.append(item)
        elif kind == "RegistryPackage":
            outcome.submission_sets.append(item)
    return outcome


def _is_folder(package: etree._Element, sibling_node: str | None) -> bool:
    nodes = {c.get("classificationNode") for c in package.iter(f"{{{RIM}}}Classification")}
    nodes.add(sibling_node)
    schemes = {e.get("identificationScheme") for e in package.iter(f"{{{RIM}}}ExternalIdentifier")}
    if FOLDER_NODE in nodes:
        return True
    return SUBMISSION_SET_NODE not in nodes and FOLDER_UNIQUE_ID in schemes


def check(outcome: Outcome, expect: Expectation) -> list[str]:
    """Every way the outcome differs from the expectation, as readable lines."""
    problems = []
    if outcome.status != expect.status:
        problems.append(f"status {outcome.status}, expected {expect.status}")

    codes = [code for code, severity, _ in outcome.errors if severity == ERROR]
    for code in expect.errors:
        if code not in codes:
            problems.append(f"error code {code} missing")
    if expect.status == "Failure" and not codes:
        problems.append("no RegistryError of severity Error")

    for name in ("documents", "submission_sets", "folders", "associations", "object_refs"):
        wanted = getattr(expect, name)
        found = len(getattr(outcome, name))
        if wanted is not None and found != wanted:
            problems.append(f"{found} {name}, expected {wanted}")

    problems += _statuses("DocumentEntry", outcome.documents, expect.document_status)
    problems += _statuses("Folder", outcome.folders, expect.folder_status)
    problems += _statuses("SubmissionSet", outcome.submission_sets, expect.submission_set_status)

    types = {a.get("associationType") for a in outcome.associations}
    problems += [f"no {t} Association" for t in expect.association_types if t not in types]
    titles = {s.get("value") for d in outcome.documents for s in d.iterfind(f"{{{RIM}}}Name/*")}
    problems += [
        f"no DocumentEntry titled {t!r}" for t in expect.document_titles if t not in titles
    ]

    if problems:
        note = f" [expectation: {expect.note}]" if expect.note else ""
        problems.append(f"registry answered {outcome.summary()}{note}")
    return problems


def _statuses(kind: str, objects: list[etree._Element], wanted: str | None) -> list[str]:
    if wanted is None:
        return []
    if not objects:
        return [f"no {kind} to check for status {wanted}"]
    found = [o.get("status", "").rsplit(":", 1)[-1] for o in objects]
    return [] if all(s == wanted for s in found) else [f"{kind} status {found}, expected {wanted}"]


class Replays:
    """One Replay per context, each on an app with a data folder of its own."""

    def __init__(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        make: Callable[[TestClient], Replay] = Replay,
    ) -> None:
        self._tmp = tmp_path_factory
        self._make = make
        self._replays: dict[str, Replay] = {}
        self._apps: list[tuple[TestClient, object]] = []

    def get(self, context: str) -> Replay:
        """The Replay of a context, with a fresh app the first time it is asked for."""
        if context not in self._replays:
            app = create_app(Settings(data_dir=self._tmp.mktemp(f"nist-{context}")))
            client = TestClient(app, raise_server_exceptions=False)
            client.__enter__()
            self._apps.append((client, app))
            self._replays[context] = self._make(client)
        return self._replays[context]

    def close(self) -> None:
        """Stop every app and close its registry."""
        for client, app in self._apps:
            client.__exit__(None, None, None)
            app.state.registry.close()


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replays]:
    """The contexts of this module's run, closed when it ends."""
    replays = Replays(tmp_path_factory)
    yield replays
    replays.close()


def _ordered_plans() -> list[Plan]:
    """Plans that others build on first, so the report reads in the order things happen."""
    required = {test for plan in PLANS.values() for test in plan.requires}
    return sorted(PLANS.values(), key=lambda plan: (plan.test not in required, plan.test))


CASES = [
    f"{plan.test}-{section.name}"
    for plan in _ordered_plans()
    if plan.applies
    for section in plan.sections
]


@pytest.mark.parametrize("case", CASES)
def test_nist_registry(replays: Replays, case: str) -> None:
    """A NIST registry test section gives the status, error codes and counts NIST expects."""
    test, name = case.split("-", 1)
    plan = PLANS[test]
    section = next(s for s in plan.sections if s.name == name)

    failures = replays.get(plan.context).run(plan, section)

    assert not failures, f"NIST {test} ({plan.title}) section {name}:\n" + "\n".join(failures)
