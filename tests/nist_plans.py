"""The NIST XDS Toolkit registry, repository and XCA tests, restated as xcads' own plans and
ebRIM 3.0 templates.

Each folder under `fixtures/nist_registry/` (or `fixtures/nist_repository/`) holds one NIST test:
a `plan.json` with its sections and steps, the SubmitObjectsRequest templates its register and
provide steps send, and the documents they carry. A step is a register (ITI-42), a stored query
(ITI-18, or ITI-38 with `"transaction": "ITI-38"`), a provide (ITI-41), a retrieve (ITI-43, or
ITI-39 with `"transaction": "ITI-39"`) or a remove (ITI-86). Templates and queries carry
placeholders that a `Values` store fills:

- `{patient_id}` the plan's patient, `{patient_id:NAME}` another patient of the same test;
- `{uuid:KEY}` a `urn:uuid:` and `{uid:KEY}` an OID, fresh the first time KEY is seen in its
  own step and the same value ever after. KEY is `name` (this step's scope), `scope/name` (another
  scope of this test) or `test/scope/name` (another test of the same context);
- `{now}`, `{last_year}`, `{tomorrow}` DTM values;
- `{NAME}` a variable of the step (`vars`), itself a placeholder text, or a constant of the run
  (`{repository}`, `{home}`: the repositoryUniqueId and homeCommunityId of the server under test).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

PLANS = Path(__file__).parent / "fixtures" / "nist_registry"
REPOSITORY_PLANS = Path(__file__).parent / "fixtures" / "nist_repository"

# The IHE Connectathon "red" patient identity domain: a test domain no national rule applies to.
PATIENT_DOMAIN = "1.3.6.1.4.1.21367.13.20.1000"

_PLACEHOLDER = re.compile(r"\{(\w+)(?::([^{}]+))?\}")


@dataclass(frozen=True)
class Query:
    """An ITI-18 stored query: its IHE name, return type and Slots in order (names may repeat)."""

    name: str
    return_type: str
    slots: list[tuple[str, list[str]]]
    home: str | None = None


@dataclass(frozen=True)
class Expectation:
    """What a step's response must show; a count left as None is not checked.

    `home` and `repository` are what every returned object or DocumentResponse names;
    `retrieved` maps a document uniqueId to the file whose bytes it must come back with.
    """

    status: str
    errors: list[str] = field(default_factory=list)
    documents: int | None = None
    submission_sets: int | None = None
    folders: int | None = None
    associations: int | None = None
    object_refs: int | None = None
    document_status: str | None = None
    folder_status: str | None = None
    submission_set_status: str | None = None
    association_types: list[str] = field(default_factory=list)
    document_titles: list[str] = field(default_factory=list)
    note: str | None = None
    home: str | None = None
    repository: str | None = None
    mime_type: str | None = None
    document_responses: int | None = None
    retrieved: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DocumentRequest:
    """One DocumentRequest of a retrieve or remove step; `home` is sent only if given."""

    repository: str
    document: str
    home: str | None = None


@dataclass(frozen=True)
class Step:
    """One transaction: a register, stored query, provide, retrieve or remove (see above).

    `documents` maps each xds:Document id (a placeholder text) of a provide to its file.
    """

    name: str
    scope: str
    expect: Expectation
    register: Path | None = None
    query: Query | None = None
    variables: dict[str, str] = field(default_factory=dict)
    transaction: str | None = None
    provide: Path | None = None
    documents: dict[str, Path] = field(default_factory=dict)
    retrieve: list[DocumentRequest] | None = None
    remove: list[DocumentRequest] | None = None


@dataclass(frozen=True)
class Section:
    """A NIST test section: steps run in order against the registry."""

    name: str
    checks: str
    steps: list[Step]


@dataclass(frozen=True)
class Plan:
    """One NIST test: its sections, the context it shares and the tests it builds on."""

    test: str
    title: str
    context: str
    patient: str
    requires: list[str]
    sections: list[Section]
    applies: bool = True
    reason: str | None = None
    folder: Path = PLANS


def load_plans(folder: Path = PLANS) -> dict[str, Plan]:
    """Every plan under `folder` (fixtures/nist_registry by default), by NIST test id."""
    plans = [_plan(path) for path in sorted(folder.glob("*/plan.json"))]
    return {plan.test: plan for plan in plans}


def _plan(path: Path) -> Plan:
    data = json.loads(path.read_text())
    test = data["test"]
    sections = [
        Section(
            name=section["section"],
            checks=section["checks"],
            steps=[_step(path.parent, section["section"], step) for step in section["steps"]],
        )
        for section in data["sections"]
    ]
    return Plan(
        test=test,
        title=data["title"],
        context=data.get("context", test),
        patient=data.get("patient", test),
        requires=data.get("requires", []),
        sections=sections,
        applies=data.get("applies", True),
        reason=data.get("reason"),
        folder=path.parent,
    )


def _step(folder: Path, section: str, data: dict) -> Step:
    query = data.get("query")
    return Step(
        name=data["step"],
        scope=data.get("scope", section),
        expect=Expectation(**data["expect"]),
        register=(folder / data["register"]).resolve() if "register" in data else None,
        query=Query(
            name=query["name"],
            return_type=query["return_type"],
            slots=[(name, values) for name, values in query["slots"]],
            home=query.get("home"),
        )
        if query
        else None,
        variables=data.get("vars", {}),
        transaction=data.get("transaction"),
        provide=(folder / data["provide"]).resolve() if "provide" in data else None,
        documents={
            key: (folder / name).resolve() for key, name in data.get("documents", {}).items()
        },
        retrieve=_requests(data["retrieve"]) if "retrieve" in data else None,
        remove=_requests(data["remove"]) if "remove" in data else None,
    )


def _requests(items: list[dict[str, str]]) -> list[DocumentRequest]:
    return [
        DocumentRequest(item["repository"], item["document"], item.get("home")) for item in items
    ]


class Values:
    """The ids, patients and times one context has handed out, so later steps can refer back."""

    def __init__(self, constants: dict[str, str] | None = None) -> None:
        self._constants = constants or {}
        self._uuids: dict[str, str] = {}
        self._uids: dict[str, str] = {}
        self._patients: dict[str, str] = {}
        self._now = datetime.now(UTC)

    def fill(self, text: str, plan: Plan, step: Step, *, xml: bool) -> str:
        """Replace every placeholder in text; values are XML-escaped when text is XML."""

        def replace(match: re.Match[str]) -> str:
            value = self._value(match.group(1), match.group(2), plan, step)
            return escape(value, {'"': "&quot;"}) if xml else value

        return _PLACEHOLDER.sub(replace, text)

    def _value(self, kind: str, argument: str | None, plan: Plan, step: Step) -> str:
        if kind == "patient_id":
            name = f"{plan.test}/{argument}" if argument else plan.patient
            return self._fresh(self._patients, name, _patient_id)
        if kind in ("uuid", "uid"):
            store, make = (self._uuids, _urn_uuid) if kind == "uuid" else (self._uids, _oid)
            return self._id(store, make, argument or "", plan, step)
        if kind in ("now", "last_year", "tomorrow"):
            offset = {"now": 0, "last_year": -365, "tomorrow": 1}[kind]
            return (self._now + timedelta(days=offset)).strftime("%Y%m%d%H%M%S")
        if kind in step.variables:
            return self.fill(step.variables[kind], plan, step, xml=False)
        if kind in self._constants:
            return self._constants[kind]
        raise KeyError(f"{plan.test}/{step.name}: unknown placeholder {{{kind}}}")

    def _id(self, store: dict[str, str], make, key: str, plan: Plan, step: Step) -> str:
        parts = key.split("/")
        if len(parts) == 1:
            return self._fresh(store, f"{plan.test}/{step.scope}/{key}", make)

        full = f"{plan.test}/{key}" if len(parts) == 2 else key
        if full not in store:
            # A reference to another step's id: that step must have run, or the fixture is wrong.
            raise KeyError(f"{plan.test}/{step.name}: {key} was never handed out")
        return store[full]

    @staticmethod
    def _fresh(store: dict[str, str], key: str, make) -> str:
        if key not in store:
            store[key] = make()
        return store[key]


def _urn_uuid() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _oid() -> str:
    return f"2.25.{uuid.uuid4().int}"


def _patient_id() -> str:
    return f"NIST{uuid.uuid4().hex[:10].upper()}^^^&{PATIENT_DOMAIN}&ISO"
