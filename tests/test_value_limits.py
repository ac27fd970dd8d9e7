"""Rule VALUE_TOO_LONG: a value the registry indexes fits its index, on every register path.

PostgreSQL refuses a btree index entry over 2704 bytes; unchecked, a long authorPerson or code
failed ITI-42 and ITI-65 with a database error. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import replace

import pytest
import validation_samples as valid
from fastapi.testclient import TestClient
from lifecycle_samples import UPDATE_DOCUMENT_SET, post, stored
from mhd_support import fixture_bundle, issues, resource, stored_files
from mhd_support import post as post_bundle
from registry_support import FAILURE, SUCCESS, errors, register, submit_objects_request
from sqlalchemy import func, select
from test_registry_service import status_of

from gateway.app import create_app
from gateway.config import Settings
from registry import lifecycle
from registry.errors import ErrorCode, XdsError
from registry.metadata import Author, Code
from registry.service import register_submission
from registry.sql import SqlRegistryStore
from registry.tables import ALL_TABLES
from registry.validation import Rule, Transaction, ValidationOptions, validate_submission
from registry.validation.limits import (
    COMPOSITE_MAX_LENGTH,
    ENTRY_ID_MAX_LENGTH,
    IDENTIFIER_MAX_LENGTH,
)

META = ErrorCode.REGISTRY_METADATA_ERROR
AUTHORITY = "^^^&2.16.578.1.12.4.1.4.1&ISO"
_RANDOM = random.Random(2704)


def noise(length: int) -> str:
    """Random letters: PostgreSQL cannot compress them below its index limit."""
    return "".join(_RANDOM.choices(string.ascii_letters, k=length))


def wide(length: int) -> str:
    """Random characters of four UTF-8 bytes each, the widest a value can be per character."""
    return "".join(chr(_RANDOM.randrange(0x1F300, 0x1F5FF)) for _ in range(length))


def row_counts(store: SqlRegistryStore) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in ALL_TABLES
        }


def too_long(store, submission, options=None) -> list[tuple[str, str]]:
    """(object, attribute) of every issue, each of which must be XDSRegistryMetadataError."""
    found = validate_submission(submission, options=options, registry_store=store)
    assert {issue.code for issue in found} <= {META}
    return [(issue.object_id, issue.attribute) for issue in found]


# The rule, attribute by attribute


@pytest.mark.parametrize(
    ("attribute", "values"),
    [
        ("authorPerson", {"authors": [Author(person=noise(3000))]}),
        ("classCode", {"class_code": Code(noise(10_000), valid.VOLVEN_9602)}),
        (
            "formatCode",
            {"format_code": Code("urn:ihe:iti:xds:2017:mimeTypeSufficient", noise(300))},
        ),
        ("typeCode", {"type_code": Code(noise(257), valid.VOLVEN_9602)}),
        ("eventCodeList", {"event_code_list": [Code(noise(300), "2.16.578.1.12.4.1.1.7210")]}),
        ("referenceIdList", {"reference_id_list": [noise(600)]}),
        ("logicalID", {"logical_id": noise(ENTRY_ID_MAX_LENGTH + 1)}),
    ],
)
def test_document_entry_value_longer_than_its_index_takes_is_metadata_error(
    registry_store, attribute, values
):
    entry = valid.document_entry(**values)

    assert too_long(registry_store, valid.submission(entry)) == [(entry.entry_uuid, attribute)]


def test_patient_id_longer_than_its_index_takes_is_metadata_error(registry_store):
    patient = noise(3000) + AUTHORITY
    entry = valid.document_entry(patient_id=patient, source_patient_id=patient)
    sub = valid.submission(entry, patient_id=patient)

    assert too_long(registry_store, sub) == [
        (sub.submission_set.entry_uuid, "patientId"),
        (entry.entry_uuid, "patientId"),
    ]


def test_submission_set_source_id_longer_than_its_index_takes_is_metadata_error(registry_store):
    # MHD senders may use OIDs of any length (ITI-65 robustness), but not past the index.
    sub = valid.submission(valid.document_entry(), source_id="1." + "2" * 300)
    iti_65 = ValidationOptions(transaction=Transaction.PROVIDE_DOCUMENT_BUNDLE)

    assert too_long(registry_store, sub, iti_65) == [(sub.submission_set.entry_uuid, "sourceId")]


def test_folder_code_longer_than_its_index_takes_is_metadata_error(registry_store):
    the_folder = valid.folder(code_list=[Code(noise(IDENTIFIER_MAX_LENGTH + 1), "1.2.3")])

    assert too_long(registry_store, valid.submission(folders=(the_folder,))) == [
        (the_folder.entry_uuid, "codeList")
    ]


def test_value_too_long_names_object_attribute_and_limit(registry_store):
    entry = valid.document_entry(authors=[Author(person=noise(3000))])

    (issue,) = validate_submission(valid.submission(entry), registry_store=registry_store)

    assert (issue.code, issue.object_id, issue.attribute) == (
        META,
        entry.entry_uuid,
        "authorPerson",
    )
    assert "DocumentEntry.authorPerson" in issue.message
    assert str(COMPOSITE_MAX_LENGTH) in issue.message
    assert Rule.VALUE_TOO_LONG.code == META


# The limits keep PostgreSQL's indexes whole


def test_values_at_the_limits_in_four_byte_characters_are_stored(registry_store):
    code = Code(wide(IDENTIFIER_MAX_LENGTH), wide(IDENTIFIER_MAX_LENGTH))
    patient = wide(IDENTIFIER_MAX_LENGTH - len(AUTHORITY)) + AUTHORITY
    entry = valid.document_entry(
        patient_id=patient,
        source_patient_id=patient,
        class_code=code,
        event_code_list=[code],
        confidentiality_codes=[code],
        authors=[Author(person=wide(COMPOSITE_MAX_LENGTH))],
        reference_id_list=[wide(COMPOSITE_MAX_LENGTH)],
    )
    the_folder = valid.folder(patient_id=patient, code_list=[code])
    sub = valid.submission(entry, folders=(the_folder,), patient_id=patient)
    sub.submission_set.authors = [Author(person=wide(COMPOSITE_MAX_LENGTH))]

    register_submission(registry_store, sub)

    assert registry_store.document_entries_by_uuid([entry.entry_uuid])[0].class_code == code


def test_registering_an_overlong_value_stores_nothing(registry_store):
    entry = valid.document_entry(authors=[Author(person=noise(3000))])

    with pytest.raises(XdsError) as error:
        register_submission(registry_store, valid.submission(entry))

    assert [(i.code, i.attribute) for i in error.value.issues] == [(META, "authorPerson")]
    assert set(row_counts(registry_store).values()) == {0}


# Every register path: ITI-42, ITI-65 and ITI-57


@pytest.fixture
def client(tmp_path, registry_url) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=registry_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_iti42_with_an_overlong_logical_id_fails_with_metadata_error(client):
    # The ebRIM schema bounds Slot values and codes at 256 characters; lid is an unbounded URI.
    entry = valid.document_entry(logical_id="urn:uuid:" + noise(3000))

    reply = register(client, valid.submission(entry))

    assert reply.status_code == 200, reply.text
    assert status_of(reply) == FAILURE
    assert errors(reply) == [("XDSRegistryMetadataError", f"{entry.entry_uuid} logicalID")]
    assert set(row_counts(client.app.state.registry).values()) == {0}


def _practitioner_family(bundle: dict, index: int) -> None:
    contained = resource(bundle, index)["contained"]
    practitioner = next(r for r in contained if r["resourceType"] == "Practitioner")
    practitioner["name"][0]["family"] = noise(3000)


def _type_code(bundle: dict, index: int) -> None:
    resource(bundle, index)["type"]["coding"][0]["code"] = noise(10_000)


def _patient_id(bundle: dict, index: int) -> None:
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    patient["identifier"][0]["value"] = noise(3000)


@pytest.mark.parametrize("change", [_practitioner_family, _type_code, _patient_id])
def test_iti65_with_an_overlong_value_fails_with_metadata_error(client, tmp_path, change):
    bundle = fixture_bundle("nhn")
    index = next(
        i
        for i, e in enumerate(bundle["entry"])
        if e["resource"]["resourceType"] == "DocumentReference"
    )
    change(bundle, index)

    response = post_bundle(client, bundle)

    assert response.status_code == 400, response.text
    assert "XDSRegistryMetadataError" in {code for code, _ in issues(response)}
    assert set(row_counts(client.app.state.registry).values()) == {0}
    assert stored_files(tmp_path / "data") == []


def test_iti57_new_version_with_an_overlong_value_fails_with_metadata_error(client):
    first = valid.document_entry()
    assert status_of(register(client, valid.submission(first))) == SUCCESS
    previous = stored(client.app.state.registry, first.entry_uuid)
    whole = valid.submission(replace(previous, entry_uuid=valid.new_uuid(), version=None))
    member = whole.associations[0]
    member.entry_uuid = "urn:uuid:" + noise(3000)
    member.extra_slots[lifecycle.PREVIOUS_VERSION] = ["1"]

    reply = post(client, UPDATE_DOCUMENT_SET, submit_objects_request(whole))

    assert status_of(reply) == FAILURE
    assert errors(reply) == [("XDSRegistryMetadataError", f"{member.entry_uuid} entryUUID")]
    versions = client.app.state.registry.document_entry_versions([previous.logical_id])
    assert [v.version for v in versions] == ["1"]
