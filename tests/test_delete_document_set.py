"""ITI-62 Delete Document Set in the registry: all or nothing, no dangling Association."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import validation_samples as valid
from fastapi.testclient import TestClient
from lifecycle_samples import (
    DELETE_DOCUMENT_SET,
    codes,
    filed,
    link,
    post,
    registered,
    related,
    remove_objects_request,
)
from registry_samples import complete_document_entry, new_uuid, submission
from registry_support import FAILURE, SUCCESS, errors, register
from sqlalchemy import func, select
from test_registry_service import action_of, status_of

from gateway.app import create_app
from gateway.config import Settings
from registry.errors import ErrorCode, XdsError
from registry.metadata import AssociationType, Submission
from registry.sql import SqlRegistryStore
from registry.store import AssociationQuery
from registry.tables import ALL_TABLES


def _row_counts(store: SqlRegistryStore) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in ALL_TABLES
        }


def _everything(whole: Submission) -> list[str]:
    return [
        whole.submission_set.entry_uuid,
        *(e.entry_uuid for e in whole.document_entries),
        *(f.entry_uuid for f in whole.folders),
        *(a.entry_uuid for a in whole.associations),
    ]


def test_removing_a_whole_submission_leaves_no_row_behind(registry_store):
    entry = complete_document_entry()
    whole = submission(entry)
    registry_store.register(whole, lambda: None)

    registry_store.remove_objects(_everything(whole))

    assert set(_row_counts(registry_store).values()) == {0}


def test_removing_an_id_not_in_the_registry_fails_with_unresolved_reference(registry_store):
    entry = registered(registry_store)
    unknown = new_uuid()

    with pytest.raises(XdsError) as error:
        registry_store.remove_objects([unknown])

    assert codes(error.value) == [ErrorCode.UNRESOLVED_REFERENCE]
    assert error.value.issues[0].object_id == unknown
    assert registry_store.document_entries_by_uuid([entry.entry_uuid]) == [entry]


def test_removing_a_document_its_submission_set_still_lists_fails_with_references_exist(
    registry_store,
):
    entry = registered(registry_store)

    with pytest.raises(XdsError) as error:
        registry_store.remove_objects([entry.entry_uuid])

    assert codes(error.value) == [ErrorCode.REFERENCES_EXIST]
    assert error.value.issues[0].object_id == entry.entry_uuid
    assert registry_store.document_entries_by_uuid([entry.entry_uuid]) == [entry]


def test_removing_a_replaced_document_without_its_rplc_fails_with_references_exist(
    registry_store,
):
    original = registered(registry_store)
    replacement = related(AssociationType.REPLACE, original)
    registry_store.register(replacement, lambda: None)
    membership = [
        a.entry_uuid
        for a in replacement.associations
        if a.association_type == AssociationType.HAS_MEMBER
    ]

    with pytest.raises(XdsError) as error:
        registry_store.remove_objects([replacement.document_entries[0].entry_uuid, *membership])

    assert codes(error.value) == [ErrorCode.REFERENCES_EXIST]


def test_removal_is_all_or_nothing(registry_store):
    whole = submission(complete_document_entry())
    registry_store.register(whole, lambda: None)
    before = _row_counts(registry_store)

    with pytest.raises(XdsError):
        registry_store.remove_objects([*_everything(whole), new_uuid()])

    assert _row_counts(registry_store) == before


def test_removing_a_folder_membership_leaves_the_folder_and_the_document(registry_store):
    entry = registered(registry_store)
    folder = filed(registry_store, entry)
    before = _row_counts(registry_store)
    membership = _associations(registry_store, source_objects=[folder.entry_uuid])
    listing = _associations(registry_store, target_objects=membership)

    registry_store.remove_objects([*membership, *listing])

    after = _row_counts(registry_store)
    assert after["association"] == before["association"] - 2
    assert (after["document_entry"], after["folder"]) == (1, 1)


def test_removing_a_folder_with_its_associations_keeps_its_documents(registry_store):
    entry = registered(registry_store)
    folder = filed(registry_store, entry)
    around = _associations(registry_store, objects=[folder.entry_uuid])
    listing = _associations(registry_store, target_objects=around)

    registry_store.remove_objects([folder.entry_uuid, *around, *listing])

    assert registry_store.folders_by_uuid([folder.entry_uuid]) == []
    assert registry_store.document_entries_by_uuid([entry.entry_uuid]) == [entry]


def test_removing_only_the_submission_set_membership_fails_with_unreferenced_object(
    registry_store,
):
    entry = registered(registry_store)
    membership = _associations(registry_store, target_objects=[entry.entry_uuid])
    before = _row_counts(registry_store)

    with pytest.raises(XdsError) as error:
        registry_store.remove_objects(membership)

    assert codes(error.value) == [ErrorCode.UNREFERENCED_OBJECT]
    assert error.value.issues[0].object_id == entry.entry_uuid
    assert _row_counts(registry_store) == before


def test_removing_a_folder_from_its_submission_set_fails_with_unreferenced_object(registry_store):
    entry = registered(registry_store)
    folder = filed(registry_store, entry)
    listing = _associations(registry_store, target_objects=[folder.entry_uuid])

    with pytest.raises(XdsError) as error:
        registry_store.remove_objects(listing)

    assert codes(error.value) == [ErrorCode.UNREFERENCED_OBJECT]
    assert error.value.issues[0].object_id == folder.entry_uuid


def test_a_document_another_submission_set_lists_may_leave_its_first_one(registry_store):
    entry = registered(registry_store)
    first = _associations(registry_store, target_objects=[entry.entry_uuid])
    again = submission()
    again.associations.append(
        replace(
            link(AssociationType.HAS_MEMBER, again.submission_set.entry_uuid, entry.entry_uuid),
            submission_set_status="Reference",
        )
    )
    registry_store.register(again, lambda: None)

    registry_store.remove_objects(first)

    assert registry_store.document_entries_by_uuid([entry.entry_uuid]) == [entry]


def _associations(store: SqlRegistryStore, **ends: list[str]) -> list[str]:
    return [a.entry_uuid for a in store.find_associations(AssociationQuery(**ends), 100)]


# --- ITI-62 over SOAP ------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path, registry_url) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=registry_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _registered_over_soap(client: TestClient) -> Submission:
    whole = valid.submission(valid.document_entry())
    assert status_of(register(client, whole)) == SUCCESS
    return whole


def test_delete_document_set_over_soap_removes_the_metadata_and_keeps_the_bytes(client):
    whole = _registered_over_soap(client)
    entry = whole.document_entries[0]
    documents = client.app.state.documents
    documents.promote(documents.stage([valid.CONTENT]), entry.unique_id)

    reply = post(client, DELETE_DOCUMENT_SET, remove_objects_request(_everything(whole)))

    assert reply.status_code == 200, reply.text
    assert action_of(reply) == "urn:ihe:iti:2010:DeleteDocumentSetResponse"
    assert (status_of(reply), errors(reply)) == (SUCCESS, [])
    assert client.app.state.registry.document_entries_by_uuid([entry.entry_uuid]) == []
    # ITI-62 removes metadata only; emptying the repository is ITI-86's.
    assert b"".join(documents.open(entry.unique_id)) == valid.CONTENT


def test_delete_document_set_over_soap_answers_a_dangling_reference_with_failure(client):
    whole = _registered_over_soap(client)
    entry = whole.document_entries[0]

    reply = post(client, DELETE_DOCUMENT_SET, remove_objects_request([entry.entry_uuid]))

    assert status_of(reply) == FAILURE
    assert errors(reply) == [("ReferencesExistException", entry.entry_uuid)]
    assert client.app.state.registry.document_entries_by_uuid([entry.entry_uuid]) != []


def test_delete_document_set_over_soap_refuses_to_orphan_a_document(client):
    whole = _registered_over_soap(client)
    entry = whole.document_entries[0]
    membership = [a.entry_uuid for a in whole.associations]

    reply = post(client, DELETE_DOCUMENT_SET, remove_objects_request(membership))

    assert status_of(reply) == FAILURE
    assert errors(reply) == [("XDSUnreferencedObjectException", entry.entry_uuid)]
    assert client.app.state.registry.document_entries_by_uuid([entry.entry_uuid]) != []


def test_delete_document_set_over_soap_without_object_refs_fails_with_registry_error(client):
    reply = post(client, DELETE_DOCUMENT_SET, remove_objects_request([]))

    assert status_of(reply) == FAILURE
    assert [code for code, _ in errors(reply)] == ["XDSRegistryError"]
