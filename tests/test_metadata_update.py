"""ITI-57 Update Document Set in the registry: new versions and status updates (ITI TF-2b 3.57)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from uuid import uuid4

import pytest
import test_xca as xca
import validation_samples as valid
from alembic import command
from fastapi.testclient import TestClient
from lifecycle_samples import (
    UPDATE_DOCUMENT_SET,
    codes,
    filed,
    folder_members,
    new_version,
    post,
    race,
    registered,
    status_update,
    stored,
    update,
)
from registry_samples import (
    APPROVED,
    DEPRECATED,
    OTHER_PATIENT,
    PATIENT,
    complete_document_entry,
    new_uuid,
    submission,
)
from registry_support import FAILURE, SUCCESS, errors, register, submit_objects_request
from sqlalchemy import select, text
from test_registry_service import action_of, status_of

from gateway.app import create_app
from gateway.config import Settings
from registry import lifecycle
from registry.errors import ErrorCode, XdsError
from registry.metadata import AvailabilityStatus, DocumentEntry
from registry.migrations import alembic_config
from registry.sql import SqlRegistryStore, create_registry_engine, to_json
from registry.tables import document_code, document_entry


def _folder(store, folder_uuid):
    (folder,) = store.folders_by_uuid([folder_uuid])
    return folder


def test_new_version_is_previous_plus_one_and_deprecates_the_previous(registry_store):
    first = registered(registry_store)
    second_submission = new_version(first, title="corrected title")

    update(registry_store, second_submission)

    second = stored(registry_store, second_submission.document_entries[0].entry_uuid)
    assert (second.logical_id, second.version, second.title) == (
        first.logical_id,
        "2",
        "corrected title",
    )
    assert second.availability_status == APPROVED
    assert stored(registry_store, first.entry_uuid).availability_status == DEPRECATED


def test_every_version_shares_the_logical_id_and_unique_id(registry_store):
    first = registered(registry_store)
    second = new_version(first)
    update(registry_store, second)
    third = new_version(stored(registry_store, second.document_entries[0].entry_uuid))
    update(registry_store, third)

    versions = registry_store.document_entry_versions([first.logical_id])

    assert sorted(v.version for v in versions) == ["1", "2", "3"]
    assert {v.unique_id for v in versions} == {first.unique_id}


def test_previous_version_not_the_latest_fails_with_metadata_version_error(registry_store):
    first = registered(registry_store)
    update(registry_store, new_version(first))
    stale = new_version(first)

    with pytest.raises(XdsError) as error:
        update(registry_store, stale)

    assert codes(error.value) == [ErrorCode.METADATA_VERSION_ERROR]
    assert error.value.issues[0].attribute == lifecycle.PREVIOUS_VERSION
    assert len(registry_store.document_entry_versions([first.logical_id])) == 2


def test_new_version_without_previous_version_fails_with_update_operation_error(
    registry_store,
):
    first = registered(registry_store)
    whole = new_version(first)
    del whole.associations[0].extra_slots[lifecycle.PREVIOUS_VERSION]

    with pytest.raises(XdsError) as error:
        update(registry_store, whole)

    assert codes(error.value) == [ErrorCode.METADATA_UPDATE_OPERATION_ERROR]


def test_initial_version_in_an_update_fails_with_update_operation_error(registry_store):
    first = registered(registry_store)
    whole = new_version(first, logical_id=None)

    with pytest.raises(XdsError) as error:
        update(registry_store, whole)

    assert codes(error.value) == [ErrorCode.METADATA_UPDATE_OPERATION_ERROR]
    assert error.value.issues[0].attribute == "logicalID"


def test_new_version_of_an_unknown_logical_id_fails_with_unresolved_reference(registry_store):
    first = registered(registry_store)

    with pytest.raises(XdsError) as error:
        update(registry_store, new_version(first, logical_id=new_uuid()))

    assert codes(error.value) == [ErrorCode.UNRESOLVED_REFERENCE]


def test_new_version_for_another_patient_fails_with_patient_id_reconciliation_error(
    registry_store,
):
    first = registered(registry_store)
    whole = new_version(first, patient_id=OTHER_PATIENT)
    whole.submission_set.patient_id = OTHER_PATIENT

    with pytest.raises(XdsError) as error:
        update(registry_store, whole)

    assert codes(error.value) == [ErrorCode.PATIENT_ID_RECONCILIATION_ERROR]


@pytest.mark.parametrize(
    ("attribute", "name", "value"),
    [("unique_id", "uniqueId", "2.25.1"), ("hash", "hash", "0" * 40), ("size", "size", 7)],
)
def test_new_version_of_other_document_content_fails_with_metadata_update_error(
    registry_store, attribute, name, value
):
    first = registered(registry_store, hash="da39a3ee5e6b4b0d3255bfef95601890afd80709", size=0)

    with pytest.raises(XdsError) as error:
        update(registry_store, new_version(first, **{attribute: value}))

    assert codes(error.value) == [ErrorCode.METADATA_UPDATE_ERROR]
    assert error.value.issues[0].attribute == name
    assert stored(registry_store, first.entry_uuid).availability_status == APPROVED


def test_new_version_of_a_deprecated_document_stays_deprecated(registry_store):
    first = registered(registry_store)
    update(registry_store, status_update(first.entry_uuid, APPROVED, DEPRECATED))
    whole = new_version(stored(registry_store, first.entry_uuid))

    update(registry_store, whole)

    second = stored(registry_store, whole.document_entries[0].entry_uuid)
    assert second.availability_status == DEPRECATED


def test_new_version_joins_the_folders_of_the_previous_version(registry_store):
    first = registered(registry_store)
    folder = filed(registry_store, first)
    whole = new_version(first)

    update(registry_store, whole)

    second = whole.document_entries[0].entry_uuid
    assert folder_members(registry_store, folder) == {first.entry_uuid, second}


def test_association_propagation_no_keeps_the_new_version_out_of_folders(registry_store):
    first = registered(registry_store)
    folder = filed(registry_store, first)
    whole = new_version(first)
    whole.associations[0].extra_slots[lifecycle.ASSOCIATION_PROPAGATION] = ["no"]

    update(registry_store, whole)

    assert folder_members(registry_store, folder) == {first.entry_uuid}


def test_concurrent_updates_of_one_version_store_exactly_one(registry_url):
    stores = [SqlRegistryStore(registry_url) for _ in range(2)]
    try:
        first = registered(stores[0])
        updates = [new_version(first, title="a"), new_version(first, title="b")]
        plans = [lifecycle.plan_update(u, s) for u, s in zip(updates, stores, strict=True)]

        def hold() -> None:
            time.sleep(0.3)

        outcomes = race(
            lambda: stores[0].register(updates[0], hold, plans[0]),
            lambda: stores[1].register(updates[1], hold, plans[1]),
        )

        failures = [o for o in outcomes if o is not None]
        assert len(failures) == 1, outcomes
        assert isinstance(failures[0], XdsError)
        assert codes(failures[0]) == [ErrorCode.METADATA_VERSION_ERROR]
        assert len(stores[0].document_entry_versions([first.logical_id])) == 2
    finally:
        for store in stores:
            store.close()


@pytest.mark.parametrize(("original", "new"), [(APPROVED, DEPRECATED), (DEPRECATED, APPROVED)])
def test_status_update_moves_a_document_entry_between_approved_and_deprecated(
    registry_store, original, new
):
    entry = registered(registry_store, availability_status=original)

    update(registry_store, status_update(entry.entry_uuid, original, new))

    assert stored(registry_store, entry.entry_uuid).availability_status == new


def test_status_update_deprecates_a_folder(registry_store):
    folder = filed(registry_store, registered(registry_store))

    update(registry_store, status_update(folder.entry_uuid, APPROVED, DEPRECATED))

    assert _folder(registry_store, folder.entry_uuid).availability_status == DEPRECATED


def test_status_update_whose_original_status_is_not_current_fails_with_metadata_update_error(
    registry_store,
):
    entry = registered(registry_store)

    with pytest.raises(XdsError) as error:
        update(registry_store, status_update(entry.entry_uuid, DEPRECATED, APPROVED))

    assert codes(error.value) == [ErrorCode.METADATA_UPDATE_ERROR]
    assert error.value.issues[0].attribute == lifecycle.ORIGINAL_STATUS


def test_status_update_to_a_status_other_than_approved_or_deprecated_fails_with_operation_error(
    registry_store,
):
    entry = registered(registry_store)
    submitted = AvailabilityStatus.SUBMITTED.value

    with pytest.raises(XdsError) as error:
        update(registry_store, status_update(entry.entry_uuid, APPROVED, submitted))

    assert codes(error.value) == [ErrorCode.METADATA_UPDATE_OPERATION_ERROR]
    assert error.value.issues[0].attribute == lifecycle.NEW_STATUS


def test_status_update_of_an_object_not_in_the_registry_fails_with_unresolved_reference(
    registry_store,
):
    with pytest.raises(XdsError) as error:
        update(registry_store, status_update(new_uuid(), APPROVED, DEPRECATED))

    assert codes(error.value) == [ErrorCode.UNRESOLVED_REFERENCE]


def test_status_update_of_another_patients_document_fails_with_reconciliation_error(
    registry_store,
):
    entry = registered(registry_store, patient_id=OTHER_PATIENT)

    with pytest.raises(XdsError) as error:
        update(registry_store, status_update(entry.entry_uuid, APPROVED, DEPRECATED, PATIENT))

    assert codes(error.value) == [ErrorCode.PATIENT_ID_RECONCILIATION_ERROR]


def test_status_update_and_new_version_of_one_document_give_the_status_to_the_new_version(
    registry_store,
):
    first = registered(registry_store)
    whole = new_version(first)
    whole.associations += status_update(first.entry_uuid, APPROVED, DEPRECATED).associations[-1:]
    whole.associations[-1].source_object = whole.submission_set.entry_uuid

    update(registry_store, whole)

    second = stored(registry_store, whole.document_entries[0].entry_uuid)
    assert second.availability_status == DEPRECATED
    assert stored(registry_store, first.entry_uuid).availability_status == DEPRECATED


def test_folder_metadata_update_fails_with_update_operation_error(registry_store):
    folder = filed(registry_store, registered(registry_store))
    whole = submission(folders=[replace(folder, entry_uuid=new_uuid(), title="renamed")])

    with pytest.raises(XdsError) as error:
        update(registry_store, whole)

    assert codes(error.value) == [ErrorCode.METADATA_UPDATE_OPERATION_ERROR]


def test_migration_0003_numbers_stored_entries_and_keeps_their_codes(tmp_path):
    url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    engine = create_registry_engine(url)
    entry = replace(complete_document_entry(), logical_id=None, version=None)
    try:
        _migrate(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO document_entry (entry_uuid, unique_id, patient_id, "
                    "availability_status, object_type, metadata) VALUES (:u, :i, :p, :s, :o, :m)"
                ),
                {
                    "u": entry.entry_uuid,
                    "i": entry.unique_id,
                    "p": entry.patient_id,
                    "s": entry.availability_status,
                    "o": entry.object_type,
                    "m": to_json(entry),
                },
            )
            connection.execute(
                document_code.insert(),
                {"entry_uuid": entry.entry_uuid, "kind": "event", "code": "c", "scheme": "s"},
            )
        _migrate(engine, "head")

        with engine.connect() as connection:
            row = connection.execute(
                select(document_entry.c.logical_id, document_entry.c.version)
            ).one()
            kept = connection.execute(select(document_code.c.code)).scalars().all()
    finally:
        engine.dispose()

    assert tuple(row) == (entry.entry_uuid, "1")
    assert kept == ["c"]
    store = SqlRegistryStore(url)
    assert stored(store, entry.entry_uuid).logical_id == entry.entry_uuid
    store.close()


def _migrate(engine, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        connection.execution_options(xcads_write=True)
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


# --- ITI-57 over SOAP ------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path, registry_url) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=registry_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _registered_over_soap(client: TestClient) -> DocumentEntry:
    entry = valid.document_entry()
    assert status_of(register(client, valid.submission(entry))) == SUCCESS
    return stored(client.app.state.registry, entry.entry_uuid)


def _new_version_over_soap(previous: DocumentEntry, previous_version: str) -> str:
    entry = replace(previous, entry_uuid=new_uuid(), version=None, title="corrected")
    whole = valid.submission(entry)
    whole.associations[0].extra_slots[lifecycle.PREVIOUS_VERSION] = [previous_version]
    return submit_objects_request(whole)


def test_update_document_set_over_soap_stores_a_new_version(client):
    first = _registered_over_soap(client)

    reply = post(client, UPDATE_DOCUMENT_SET, _new_version_over_soap(first, "1"))

    assert reply.status_code == 200, reply.text
    assert action_of(reply) == "urn:ihe:iti:2010:UpdateDocumentSetResponse"
    assert (status_of(reply), errors(reply)) == (SUCCESS, [])
    versions = client.app.state.registry.document_entry_versions([first.logical_id])
    assert sorted((v.version, v.availability_status) for v in versions) == [
        ("1", DEPRECATED),
        ("2", APPROVED),
    ]


def test_update_document_set_over_soap_answers_a_stale_version_with_failure(client):
    first = _registered_over_soap(client)

    reply = post(client, UPDATE_DOCUMENT_SET, _new_version_over_soap(first, "7"))

    assert status_of(reply) == FAILURE
    assert [code for code, _ in errors(reply)] == ["XDSMetadataVersionError"]
    assert stored(client.app.state.registry, first.entry_uuid).availability_status == APPROVED


def test_update_document_set_over_soap_deprecates_a_document(client):
    first = _registered_over_soap(client)
    whole = status_update(first.entry_uuid, APPROVED, DEPRECATED, first.patient_id)

    reply = post(client, UPDATE_DOCUMENT_SET, submit_objects_request(whole))

    assert (status_of(reply), errors(reply)) == (SUCCESS, [])
    assert stored(client.app.state.registry, first.entry_uuid).availability_status == DEPRECATED


# --- The latest version stands for the document ------------------------------------------------


def test_latest_version_is_the_approved_one_then_the_highest():
    def version(unique_id: str, number: str, status: str) -> DocumentEntry:
        entry = complete_document_entry()
        return replace(entry, unique_id=unique_id, version=number, availability_status=status)

    v1, v2, v3 = (
        version("2.25.77", n, s) for n, s in (("1", DEPRECATED), ("2", APPROVED), ("3", DEPRECATED))
    )
    other = version("2.25.78", "1", APPROVED)

    assert lifecycle.latest_versions([v3, v1, other, v2]) == {"2.25.77": v2, "2.25.78": other}
    assert lifecycle.latest_versions([v3, v1]) == {"2.25.77": v3}


def test_retrieve_after_an_update_returns_the_latest_version_s_mime_type(tmp_path, registry_url):
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=registry_url,
        home_community_id=xca.HOME,
        repository_unique_id=xca.REPOSITORY,
    )
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        first = stored(app.state.registry, xca.store_document(app, b"text").entry_uuid)
        # The new version's entryUUID sorts first, so "the last row read wins" would pick v1.
        low_uuid = f"urn:uuid:00000000-0000-4000-8000-{uuid4().hex[:12]}"
        second = new_version(first, entry_uuid=low_uuid, mime_type="text/markdown")
        update(app.state.registry, second)

        request = xca.retrieve((xca.HOME, xca.REPOSITORY, first.unique_id))
        reply = xca.post(client, xca.envelope(xca.RETRIEVE, request))

    _, documents = xca.retrieved(reply)
    assert documents == {first.unique_id: ("text/markdown", b"text")}
