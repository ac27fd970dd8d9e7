"""ITI-42 document relationships: replace, transform, append and sign (ITI TF-3 4.2.2.2)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import validation_samples as valid
from fastapi.testclient import TestClient
from lifecycle_samples import (
    codes,
    filed,
    folder_members,
    link,
    race,
    registered,
    related,
    stored,
    unique_id,
)
from registry_samples import APPROVED, DEPRECATED, OTHER_PATIENT, document_entry, submission
from registry_support import FAILURE, SUCCESS, errors, register
from test_registry_service import status_of

from gateway.app import create_app
from gateway.config import Settings
from registry import lifecycle
from registry.errors import ErrorCode, XdsError
from registry.metadata import AssociationType, DocumentEntry
from registry.sql import SqlRegistryStore

RPLC = AssociationType.REPLACE
XFRM = AssociationType.TRANSFORM
APND = AssociationType.APPEND
XFRM_RPLC = AssociationType.TRANSFORM_AND_REPLACE
SIGNS = AssociationType.SIGNS


def _noop() -> None:
    pass


def test_register_gives_a_first_version_its_entry_uuid_as_logical_id_and_version_1(
    registry_store,
):
    entry = registered(registry_store)

    assert (entry.logical_id, entry.version) == (entry.entry_uuid, "1")
    assert registry_store.document_entry_versions([entry.entry_uuid]) == [entry]


@pytest.mark.parametrize("association_type", [RPLC, XFRM_RPLC])
def test_replacement_deprecates_the_original(registry_store, association_type):
    original = registered(registry_store)
    replacement = related(association_type, original)

    registry_store.register(replacement, _noop)

    assert stored(registry_store, original.entry_uuid).availability_status == DEPRECATED
    new = replacement.document_entries[0]
    assert stored(registry_store, new.entry_uuid).availability_status == APPROVED


@pytest.mark.parametrize("association_type", [XFRM, APND, SIGNS])
def test_transform_append_and_signature_leave_the_original_approved(
    registry_store, association_type
):
    original = registered(registry_store)

    registry_store.register(related(association_type, original), _noop)

    assert stored(registry_store, original.entry_uuid).availability_status == APPROVED


def test_a_signature_may_sign_a_document_of_its_own_submission(registry_store):
    signed = document_entry(unique_id())
    signature = document_entry(unique_id())
    whole = submission(signed, signature)
    whole.associations.append(link(SIGNS, signature.entry_uuid, signed.entry_uuid))

    registry_store.register(whole, _noop)

    assert stored(registry_store, signed.entry_uuid).availability_status == APPROVED


@pytest.mark.parametrize("association_type", [RPLC, XFRM_RPLC, XFRM, APND])
def test_relationship_to_a_deprecated_document_fails_with_deprecated_document_error(
    registry_store, association_type
):
    original = registered(registry_store)
    registry_store.register(related(RPLC, original), _noop)
    late = related(association_type, original)

    with pytest.raises(XdsError) as error:
        registry_store.register(late, _noop)

    assert codes(error.value) == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR]
    assert error.value.issues[0].object_id == late.associations[-1].entry_uuid
    assert registry_store.document_entries_by_uuid([late.document_entries[0].entry_uuid]) == []


def test_replacement_of_a_document_not_in_the_registry_fails_with_unresolved_reference(
    registry_store,
):
    never_registered = document_entry(unique_id())

    with pytest.raises(XdsError) as error:
        registry_store.register(related(RPLC, never_registered), _noop)

    assert codes(error.value) == [ErrorCode.UNRESOLVED_REFERENCE]
    assert error.value.issues[0].attribute == "targetObject"


def test_replacement_of_another_patients_document_fails_with_patient_id_does_not_match(
    registry_store,
):
    original = registered(registry_store, patient_id=OTHER_PATIENT)

    with pytest.raises(XdsError) as error:
        registry_store.register(related(RPLC, original), _noop)

    assert codes(error.value) == [ErrorCode.PATIENT_ID_DOES_NOT_MATCH]
    assert stored(registry_store, original.entry_uuid).availability_status == APPROVED


def test_relationship_whose_source_is_not_in_the_submission_fails_with_metadata_error(
    registry_store,
):
    original, bystander = registered(registry_store), registered(registry_store)
    whole = submission(document_entry(unique_id()))
    whole.associations.append(link(RPLC, bystander.entry_uuid, original.entry_uuid))

    with pytest.raises(XdsError) as error:
        registry_store.register(whole, _noop)

    assert codes(error.value) == [ErrorCode.REGISTRY_METADATA_ERROR]
    assert error.value.issues[0].attribute == "sourceObject"
    assert stored(registry_store, original.entry_uuid).availability_status == APPROVED


def test_one_original_replaced_twice_in_one_submission_fails_with_metadata_error(
    registry_store,
):
    original = registered(registry_store)
    first, second = document_entry(unique_id()), document_entry(unique_id())
    whole = submission(first, second)
    whole.associations += [
        link(RPLC, first.entry_uuid, original.entry_uuid),
        link(RPLC, second.entry_uuid, original.entry_uuid),
    ]

    with pytest.raises(XdsError) as error:
        registry_store.register(whole, _noop)

    assert codes(error.value) == [ErrorCode.REGISTRY_METADATA_ERROR]
    assert stored(registry_store, original.entry_uuid).availability_status == APPROVED


def test_replacement_joins_every_folder_of_the_original(registry_store):
    original = registered(registry_store)
    folders = [filed(registry_store, original), filed(registry_store, original)]
    replacement = related(RPLC, original)

    registry_store.register(replacement, _noop)

    new = replacement.document_entries[0].entry_uuid
    for folder in folders:
        assert folder_members(registry_store, folder) == {original.entry_uuid, new}


def test_transformation_does_not_join_the_folders_of_the_original(registry_store):
    original = registered(registry_store)
    folder = filed(registry_store, original)

    registry_store.register(related(XFRM, original), _noop)

    assert folder_members(registry_store, folder) == {original.entry_uuid}


def test_replacement_that_fails_before_commit_leaves_the_original_approved(registry_store):
    original = registered(registry_store)
    filed(registry_store, original)
    replacement = related(RPLC, original)

    def fail() -> None:
        raise RuntimeError("repository commit failed")

    with pytest.raises(RuntimeError):
        registry_store.register(replacement, fail)

    assert stored(registry_store, original.entry_uuid).availability_status == APPROVED
    new = replacement.document_entries[0].entry_uuid
    assert registry_store.document_entries_by_uuid([new]) == []


def test_concurrent_replacements_of_one_original_store_exactly_one(registry_url):
    stores = [SqlRegistryStore(registry_url) for _ in range(2)]
    try:
        original = registered(stores[0])
        replacements = [related(RPLC, original), related(RPLC, original)]
        # Both plan while the original is still Approved, so only the store can tell them apart.
        plans = [lifecycle.plan(r, s) for r, s in zip(replacements, stores, strict=True)]

        def hold() -> None:
            time.sleep(0.3)

        outcomes = race(
            lambda: stores[0].register(replacements[0], hold, plans[0]),
            lambda: stores[1].register(replacements[1], hold, plans[1]),
        )

        failures = [o for o in outcomes if o is not None]
        assert len(failures) == 1, outcomes
        assert isinstance(failures[0], XdsError)
        assert codes(failures[0]) == [ErrorCode.REGISTRY_DEPRECATED_DOCUMENT_ERROR]
        new_uuids = [r.document_entries[0].entry_uuid for r in replacements]
        assert len(stores[0].document_entries_by_uuid(new_uuids)) == 1
        assert stored(stores[0], original.entry_uuid).availability_status == DEPRECATED
    finally:
        for store in stores:
            store.close()


def test_register_refuses_a_logical_id_of_a_stored_document(registry_store):
    original = registered(registry_store)
    impostor = document_entry(original.unique_id, logical_id=original.logical_id, version="2")

    with pytest.raises(XdsError) as error:
        registry_store.register(submission(impostor), _noop)

    assert codes(error.value) == [ErrorCode.REGISTRY_METADATA_ERROR]
    assert error.value.issues[0].attribute == "logicalID"


def test_register_refuses_an_update_availability_status_association(registry_store):
    original = registered(registry_store)
    whole = submission()
    whole.associations.append(
        link(
            AssociationType.UPDATE_AVAILABILITY_STATUS,
            whole.submission_set.entry_uuid,
            original.entry_uuid,
            OriginalStatus=APPROVED,
            NewStatus=DEPRECATED,
        )
    )

    with pytest.raises(XdsError) as error:
        registry_store.register(whole, _noop)

    assert codes(error.value) == [ErrorCode.REGISTRY_METADATA_ERROR]
    assert stored(registry_store, original.entry_uuid).availability_status == APPROVED


# --- ITI-42 over SOAP ------------------------------------------------------------------------


@pytest.fixture
def client(tmp_path, registry_url) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", database_url=registry_url)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _replacement_over_soap(client: TestClient, original: DocumentEntry):
    replacement = valid.document_entry()
    whole = valid.submission(replacement)
    whole.associations.append(link(RPLC, replacement.entry_uuid, original.entry_uuid))
    return register(client, whole)


def test_register_document_set_over_soap_replaces_and_refuses_a_second_replacement(client):
    original = valid.document_entry()
    assert status_of(register(client, valid.submission(original))) == SUCCESS

    first = _replacement_over_soap(client, original)
    second = _replacement_over_soap(client, original)

    assert (status_of(first), errors(first)) == (SUCCESS, [])
    assert stored(client.app.state.registry, original.entry_uuid).availability_status == DEPRECATED
    assert status_of(second) == FAILURE
    assert [code for code, _ in errors(second)] == ["XDSRegistryDeprecatedDocumentError"]
