"""The NIST XDS Toolkit repository and XCA tests, replayed against the repository, registry and
XCA SOAP endpoints.

Plans live in `fixtures/nist_repository/` (see its README) and are read by `nist_plans`. The
runner is the registry replay's (`test_nist_registry.Replay`) with the steps the repository and
the Responding Gateway add: ITI-41 provide, ITI-43/ITI-39 retrieve, ITI-86 remove and ITI-38
query. Each NIST test section is one pytest item (`test_nist_repository[12029-retrieve]`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from nist_plans import (
    REPOSITORY_PLANS,
    DocumentRequest,
    Expectation,
    Plan,
    Step,
    Values,
    load_plans,
)
from repository_support import mtom, provide_envelope
from soap_messages import envelope
from test_nist_registry import ERROR, RS, Outcome, Replay, Replays, check, outcome_of

from gateway.mtom import parse_multipart

PLANS = load_plans(REPOSITORY_PLANS)

REPOSITORY_URL = "/Repository/services/RepositoryService"
XCA_URL = "/XCA/services/RespondingGatewayService"
XDS = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
SOAP_ENV = "http://www.w3.org/2003/05/soap-envelope"

ACTIONS = {
    "ITI-41": "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b",
    "ITI-43": "urn:ihe:iti:2007:RetrieveDocumentSet",
    "ITI-39": "urn:ihe:iti:2007:CrossGatewayRetrieve",
    "ITI-86": "urn:ihe:iti:2017:RemoveDocuments",
    "ITI-38": "urn:ihe:iti:2007:CrossGatewayQuery",
}


@dataclass
class Retrieved:
    """One DocumentResponse: its addressing, mimeType and the bytes of its MIME part."""

    home: str | None
    repository: str
    mime_type: str
    data: bytes


@dataclass
class RepositoryOutcome(Outcome):
    """An Outcome with the DocumentResponses of a retrieve, by document uniqueId."""

    retrieved: dict[str, Retrieved] = field(default_factory=dict)


class RepositoryReplay(Replay):
    """The registry replay, with provide, retrieve, remove and cross-gateway query steps."""

    def __init__(self, client: TestClient) -> None:
        super().__init__(client, PLANS)
        settings = client.app.state.settings
        self.values = Values(
            {"repository": settings.repository_unique_id, "home": settings.home_community_id}
        )

    def _step(self, plan: Plan, step: Step) -> list[str]:
        if step.provide is not None:
            outcome = self._provide(plan, step)
        elif step.retrieve is not None:
            xca = step.transaction == "ITI-39"
            outcome = self._retrieve(plan, step, step.retrieve, "ITI-39" if xca else "ITI-43")
        elif step.remove is not None:
            outcome = self._remove(plan, step)
        elif step.query is not None and step.transaction == "ITI-38":
            query = self._adhoc_query(step.query, plan, step)
            outcome = self._post(ACTIONS["ITI-38"], query, XCA_URL)
        else:
            return super()._step(plan, step)
        problems = check(outcome, step.expect) + self._check_more(outcome, plan, step)
        return [f"step {step.name}: {problem}" for problem in problems]

    def _provide(self, plan: Plan, step: Step) -> Outcome:
        template = self.values.fill(step.provide.read_text(), plan, step, xml=True)
        template = template.split("?>", 1)[1] if template.startswith("<?xml") else template
        documents = [
            (self.values.fill(key, plan, step, xml=False), path.read_bytes())
            for key, path in step.documents.items()
        ]
        message, parts = provide_envelope(template, documents)
        body, content_type = mtom(message, parts)
        return self._send(body, content_type, REPOSITORY_URL)

    def _retrieve(
        self, plan: Plan, step: Step, requests: list[DocumentRequest], transaction: str
    ) -> Outcome:
        body = self._document_requests(plan, step, requests, "xds:RetrieveDocumentSetRequest")
        url = XCA_URL if transaction == "ITI-39" else REPOSITORY_URL
        return self._send(envelope(ACTIONS[transaction], body).encode(), None, url)

    def _remove(self, plan: Plan, step: Step) -> Outcome:
        body = self._document_requests(plan, step, step.remove, "rmd:RemoveDocumentsRequest")
        return self._send(envelope(ACTIONS["ITI-86"], body).encode(), None, REPOSITORY_URL)

    def _document_requests(
        self, plan: Plan, step: Step, requests: list[DocumentRequest], element: str
    ) -> str:
        def text(value: str) -> str:
            return escape(self.values.fill(value, plan, step, xml=False))

        items = "".join(
            "<xds:DocumentRequest>"
            + (f"<xds:HomeCommunityId>{text(r.home)}</xds:HomeCommunityId>" if r.home else "")
            + f"<xds:RepositoryUniqueId>{text(r.repository)}</xds:RepositoryUniqueId>"
            + f"<xds:DocumentUniqueId>{text(r.document)}</xds:DocumentUniqueId>"
            + "</xds:DocumentRequest>"
            for r in requests
        )
        return f'<{element} xmlns:xds="{XDS}" xmlns:rmd="urn:ihe:iti:rmd:2017">{items}</{element}>'

    def _send(self, body: bytes, content_type: str | None, url: str) -> Outcome:
        content_type = content_type or "application/soap+xml; charset=utf-8"
        response = self.client.post(url, content=body, headers={"Content-Type": content_type})
        received = response.headers.get("content-type", "")
        if not received.startswith("multipart/related"):
            try:
                return outcome_of(etree.fromstring(response.content), response.status_code)
            except etree.XMLSyntaxError:
                return Outcome(status=f"HTTP {response.status_code} {response.content[:200]!r}")
        package = parse_multipart(response.content, received)
        root = etree.fromstring(package.root.data)
        answer = root.find(f"{{{SOAP_ENV}}}Body")[0]
        if etree.QName(answer).localname != "RetrieveDocumentSetResponse":
            return outcome_of(root, response.status_code)
        return _retrieve_outcome(answer, package.parts)

    def _check_more(self, outcome: Outcome, plan: Plan, step: Step) -> list[str]:
        """The checks the registry replay has not: community, repository, retrieved bytes."""
        expect: Expectation = step.expect
        problems: list[str] = []
        retrieved = getattr(outcome, "retrieved", {})
        if expect.document_responses is not None and len(retrieved) != expect.document_responses:
            problems.append(
                f"{len(retrieved)} DocumentResponses, expected {expect.document_responses}"
            )

        if expect.home:
            home = self.values.fill(expect.home, plan, step, xml=False)
            found = [o.get("home") for o in outcome.documents + outcome.object_refs]
            found += [r.home for r in retrieved.values()]
            if not found or any(value != home for value in found):
                problems.append(f"home values {found}, expected each to be {home}")
        if expect.repository:
            repository = self.values.fill(expect.repository, plan, step, xml=False)
            found = [r.repository for r in retrieved.values()] + [
                value
                for entry in outcome.documents
                for value in entry.xpath(
                    "rim:Slot[@name='repositoryUniqueId']/rim:ValueList/rim:Value/text()",
                    namespaces={"rim": "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"},
                )
            ]
            if not found or any(value != repository for value in found):
                problems.append(f"repositoryUniqueId values {found}, expected {repository}")
        if expect.mime_type and any(r.mime_type != expect.mime_type for r in retrieved.values()):
            mime_types = [r.mime_type for r in retrieved.values()]
            problems.append(f"mimeTypes {mime_types}, expected {expect.mime_type}")

        for unique_id, name in expect.retrieved.items():
            unique_id = self.values.fill(unique_id, plan, step, xml=False)
            wanted = (plan.folder / name).read_bytes()
            got = retrieved.get(unique_id)
            if got is None:
                problems.append(f"document {unique_id} not retrieved")
            elif hashlib.sha1(got.data).hexdigest() != hashlib.sha1(wanted).hexdigest():
                problems.append(
                    f"document {unique_id}: {len(got.data)} bytes that are not {name}'s "
                    f"{len(wanted)} (SHA-1 differs)"
                )
        return problems


def _retrieve_outcome(answer: etree._Element, parts: dict) -> RepositoryOutcome:
    response = answer.find(f"{{{RS}}}RegistryResponse")
    outcome = RepositoryOutcome(status=response.get("status", "").rsplit(":", 1)[-1])
    for error in response.iter(f"{{{RS}}}RegistryError"):
        outcome.errors.append(
            (error.get("errorCode", ""), error.get("severity", ERROR), error.get("codeContext", ""))
        )
    for document in answer.iterfind(f"{{{XDS}}}DocumentResponse"):
        href = document.find(f"{{{XDS}}}Document/{{{XOP}}}Include").get("href", "")
        part = parts[href.removeprefix("cid:")]
        outcome.retrieved[document.findtext(f"{{{XDS}}}DocumentUniqueId")] = Retrieved(
            home=document.findtext(f"{{{XDS}}}HomeCommunityId"),
            repository=document.findtext(f"{{{XDS}}}RepositoryUniqueId"),
            mime_type=document.findtext(f"{{{XDS}}}mimeType"),
            data=part.data,
        )
    return outcome


@pytest.fixture(scope="module")
def replays(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replays]:
    """The contexts of this module's run, closed when it ends."""
    replays = Replays(tmp_path_factory, RepositoryReplay)
    yield replays
    replays.close()


def _ordered_plans() -> list[Plan]:
    required = {test for plan in PLANS.values() for test in plan.requires}
    return sorted(PLANS.values(), key=lambda plan: (plan.test not in required, plan.test))


CASES = [
    f"{plan.test}-{section.name}"
    for plan in _ordered_plans()
    if plan.applies
    for section in plan.sections
]


@pytest.mark.parametrize("case", CASES)
def test_nist_repository(replays: Replays, case: str) -> None:
    """A NIST repository or XCA test section gives the status, errors, counts and bytes NIST
    expects."""
    test, name = case.split("-", 1)
    plan = PLANS[test]
    section = next(s for s in plan.sections if s.name == name)

    failures = replays.get(plan.context).run(plan, section)

    assert not failures, f"NIST {test} ({plan.title}) section {name}:\n" + "\n".join(failures)
