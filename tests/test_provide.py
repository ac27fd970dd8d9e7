"""Provide and Register: documents and metadata are stored together or not at all.

Each test runs on every registry database and every document store.
"""

from __future__ import annotations

import hashlib

import pytest
from validation_samples import document_entry, submission

from registry.errors import ErrorCode, XdsError
from repository.provide import provide_and_register
from repository.store import DocumentStore, StoredBytes

REPOSITORY = "1.2.3.4.5"


@pytest.fixture
def documents(document_store: DocumentStore) -> DocumentStore:
    return document_store


def stored_files(documents: DocumentStore) -> list[StoredBytes]:
    """Every byte the store holds, promoted or staged."""
    return [*documents.documents(), *documents.staged()]


def provide(registry_store, documents, sub, contents, expected=None):
    provide_and_register(
        sub,
        contents,
        registry=registry_store,
        documents=documents,
        repository_unique_id=REPOSITORY,
        expected=expected,
    )


def test_provide_sets_hash_size_and_repository_and_stores_bytes(registry_store, documents):
    entry = document_entry("1.2.3.1")
    data = b"hello world" * 1000

    provide(registry_store, documents, submission(entry), {entry.entry_uuid: iter([data])})

    (stored,) = registry_store.document_entries_by_unique_id(["1.2.3.1"])
    assert stored.hash == hashlib.sha1(data).hexdigest()
    assert stored.size == len(data)
    assert stored.repository_unique_id == REPOSITORY
    assert b"".join(documents.open("1.2.3.1")) == data


def test_stated_hash_mismatch_is_repository_metadata_error(registry_store, documents):
    entry = document_entry("1.2.3.2")

    with pytest.raises(XdsError) as raised:
        provide(
            registry_store,
            documents,
            submission(entry),
            {entry.entry_uuid: b"abc"},
            expected={entry.entry_uuid: ("0" * 40, None)},
        )

    (issue,) = raised.value.issues
    assert (issue.code, issue.object_id, issue.attribute) == (
        ErrorCode.REPOSITORY_METADATA_ERROR,
        entry.entry_uuid,
        "hash",
    )
    assert registry_store.document_entries_by_unique_id(["1.2.3.2"]) == []
    assert stored_files(documents) == []


def test_stated_size_mismatch_is_repository_metadata_error(registry_store, documents):
    entry = document_entry("1.2.3.3")

    with pytest.raises(XdsError) as raised:
        provide(
            registry_store,
            documents,
            submission(entry),
            {entry.entry_uuid: b"abc"},
            expected={entry.entry_uuid: (hashlib.sha1(b"abc").hexdigest().upper(), 4)},
        )

    assert [(i.code, i.attribute) for i in raised.value.issues] == [
        (ErrorCode.REPOSITORY_METADATA_ERROR, "size")
    ]
    assert stored_files(documents) == []


def test_entry_without_document_is_missing_document(registry_store, documents):
    entry = document_entry("1.2.3.4")

    with pytest.raises(XdsError) as raised:
        provide(registry_store, documents, submission(entry), {})

    assert [i.code for i in raised.value.issues] == [ErrorCode.MISSING_DOCUMENT]


def test_document_without_entry_is_missing_document_metadata(registry_store, documents):
    entry = document_entry("1.2.3.5")

    with pytest.raises(XdsError) as raised:
        provide(
            registry_store,
            documents,
            submission(entry),
            {entry.entry_uuid: b"a", "urn:uuid:stray": b"b"},
        )

    assert [i.code for i in raised.value.issues] == [ErrorCode.MISSING_DOCUMENT_METADATA]
    assert stored_files(documents) == []


def test_registry_conflict_removes_every_byte_of_the_submission(registry_store, documents):
    existing = document_entry("1.2.3.6")
    provide(registry_store, documents, submission(existing), {existing.entry_uuid: b"first"})
    fresh, clash = document_entry("1.2.3.7"), document_entry("1.2.3.6")

    with pytest.raises(XdsError) as raised:
        provide(
            registry_store,
            documents,
            submission(fresh, clash),
            {fresh.entry_uuid: b"new", clash.entry_uuid: b"second"},
        )

    assert [i.code for i in raised.value.issues] == [
        ErrorCode.NON_IDENTICAL_HASH,
        ErrorCode.NON_IDENTICAL_SIZE,
    ]
    assert not documents.exists("1.2.3.7")
    assert b"".join(documents.open("1.2.3.6")) == b"first"
    assert len(stored_files(documents)) == 1


def test_failure_while_promoting_rolls_back_metadata_and_bytes(
    registry_store, documents, monkeypatch
):
    first, second = document_entry("1.2.3.8"), document_entry("1.2.3.9")
    promote = documents.promote
    calls = []

    def failing_promote(staged, key):
        calls.append(key)
        if len(calls) == 2:
            raise OSError("disk full")
        promote(staged, key)

    monkeypatch.setattr(documents, "promote", failing_promote)

    with pytest.raises(OSError):
        provide(
            registry_store,
            documents,
            submission(first, second),
            {first.entry_uuid: b"1", second.entry_uuid: b"2"},
        )

    assert registry_store.document_entries_by_unique_id(["1.2.3.8", "1.2.3.9"]) == []
    assert stored_files(documents) == []


def test_resubmitted_identical_document_is_kept_once(registry_store, documents):
    first = document_entry("1.2.3.10")
    provide(registry_store, documents, submission(first), {first.entry_uuid: b"same"})
    again = document_entry("1.2.3.10")

    provide(registry_store, documents, submission(again), {again.entry_uuid: b"same"})

    (stored,) = registry_store.document_entries_by_unique_id(["1.2.3.10"])
    assert stored.entry_uuid == first.entry_uuid
    assert b"".join(documents.open("1.2.3.10")) == b"same"
    assert len(stored_files(documents)) == 1
