"""Running stored queries in tests, and registering the objects they are to find."""

from __future__ import annotations

from uuid import uuid4

import pytest
from registry_samples import APPROVED, PATIENT, new_uuid

from registry.errors import ErrorCode, XdsError
from registry.metadata import (
    Association,
    AssociationType,
    DocumentEntry,
    Folder,
    Submission,
    SubmissionSet,
)
from registry.queries import run_stored_query
from registry.store import QueryResult, RegistryStore, StoredQueryRequest

Slots = list[list[str]]
"""One parameter as it arrives: one list per Slot of its name, each holding that Slot's Values."""

HAS_MEMBER = AssociationType.HAS_MEMBER.value
RPLC = AssociationType.REPLACE.value
APND = AssociationType.APPEND.value
XFRM = AssociationType.TRANSFORM.value


def quoted(*values: str) -> str:
    """An ITI-18 list value: ('a','b'), quotes inside doubled."""
    return "(" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def one(value: str) -> Slots:
    """One Slot holding one quoted value."""
    return [["'" + value.replace("'", "''") + "'"]]


def run(
    store: RegistryStore,
    query_id: str,
    *,
    return_type: str = "LeafClass",
    max_results: int = 100,
    **slots: Slots,
) -> QueryResult:
    """Run a stored query; a keyword names a parameter (the `$` may be left off), `[]` drops it."""
    params = {(k if k.startswith("$") else f"${k}"): v for k, v in slots.items() if v}
    request = StoredQueryRequest(query_id, params, return_type=return_type)
    return run_stored_query(store, request, max_results=max_results)


def approved_of(patient: str, prefix: str) -> dict[str, Slots]:
    """The patient and status parameters of a Find query for `patient`'s Approved objects.

    `prefix` is the query's: XDSDocumentEntry, XDSSubmissionSet or XDSFolder.
    """
    return {f"{prefix}PatientId": one(patient), f"{prefix}Status": [[quoted(APPROVED)]]}


def id_parameter_errors(uuid_parameter: str, unique_id_parameter: str) -> list:
    """`pytest.param`s of a Get query taking an object by entryUUID or uniqueId, given wrongly.

    Each is (slots, the error code): neither parameter, or both.
    """
    return [
        pytest.param({}, ErrorCode.STORED_QUERY_MISSING_PARAM, id="neither"),
        pytest.param(
            {uuid_parameter: one(new_uuid()), unique_id_parameter: one("1")},
            ErrorCode.STORED_QUERY_PARAM_NUMBER,
            id="both",
        ),
    ]


def error_of(call, *args, **kwargs) -> tuple[ErrorCode, str]:
    """The first issue's code and attribute of the XdsError `call` raises."""
    with pytest.raises(XdsError) as error:
        call(*args, **kwargs)
    return error.value.issues[0].code, error.value.issues[0].attribute


def unique_ids(objects: list[DocumentEntry] | list[SubmissionSet] | list[Folder]) -> list[str]:
    """The uniqueIds of `objects`, sorted."""
    return sorted(o.unique_id for o in objects)


def links(result: QueryResult) -> list[tuple[str, str, str]]:
    """The result's Associations as sorted (type, source, target)."""
    found = result.associations
    return sorted((a.association_type, a.source_object, a.target_object) for a in found)


def submission_set(unique_id: str | None = None, **attributes) -> SubmissionSet:
    """A SubmissionSet of PATIENT; `attributes` override any field."""
    values = {
        "entry_uuid": new_uuid(),
        "unique_id": unique_id or f"2.25.{uuid4().int}",
        "source_id": "1.2.3",
        "patient_id": PATIENT,
        "submission_time": "20240102030405",
    }
    values.update(attributes)
    return SubmissionSet(**values)


def folder(unique_id: str | None = None, **attributes) -> Folder:
    """A Folder of PATIENT; `attributes` override any field."""
    values = {
        "entry_uuid": new_uuid(),
        "unique_id": unique_id or f"2.25.{uuid4().int}",
        "patient_id": PATIENT,
        "last_update_time": "20240102030405",
    }
    values.update(attributes)
    return Folder(**values)


def association(association_type: str, source: str, target: str, **attributes) -> Association:
    """An Association from `source` to `target` (entryUUIDs)."""
    return Association(new_uuid(), association_type, source, target, **attributes)


def submit(
    store: RegistryStore,
    *members: DocumentEntry | Folder,
    submission_set_: SubmissionSet | None = None,
    associations: tuple[Association, ...] = (),
) -> SubmissionSet:
    """Register `members` under a SubmissionSet with HasMember to each, plus `associations`."""
    package = submission_set_ or submission_set(patient_id=_patient_of(members))
    memberships = [
        association(HAS_MEMBER, package.entry_uuid, m.entry_uuid, submission_set_status="Original")
        for m in members
    ]
    store.register(
        Submission(
            submission_set=package,
            document_entries=[m for m in members if isinstance(m, DocumentEntry)],
            folders=[m for m in members if isinstance(m, Folder)],
            associations=[*memberships, *associations],
        ),
        lambda: None,
    )
    return package


def _patient_of(members: tuple[DocumentEntry | Folder, ...]) -> str:
    return members[0].patient_id if members else PATIENT
