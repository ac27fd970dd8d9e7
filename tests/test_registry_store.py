"""The SQL registry store: lossless storage, atomic registration, uniqueness, concurrency."""

from __future__ import annotations

import threading
import time
from dataclasses import MISSING, fields, replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from registry_samples import (
    complete_document_entry,
    complete_folder,
    document_entry,
    new_uuid,
    register,
    submission,
)
from sqlalchemy import func, select

from registry.errors import ErrorCode, XdsError
from registry.metadata import Association, DocumentEntry, Folder, SubmissionSet
from registry.migrations import upgrade
from registry.sql import SqlRegistryStore, from_json, normalize_url
from registry.store import ObjectKind, StoredObject
from registry.tables import ALL_TABLES, association, folder, registry_metadata, submission_set


def _row_counts(store: SqlRegistryStore) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            table.name: connection.scalar(select(func.count()).select_from(table))
            for table in ALL_TABLES
        }


def _codes(error: pytest.ExceptionInfo[XdsError]) -> list[ErrorCode]:
    return [issue.code for issue in error.value.issues]


def _fail() -> None:
    raise RuntimeError("repository commit failed")


def test_complete_document_entry_sets_every_attribute():
    entry = complete_document_entry()

    for f in fields(DocumentEntry):
        default = f.default if f.default is not MISSING else MISSING
        if f.default_factory is not MISSING:
            default = f.default_factory()
        assert getattr(entry, f.name) not in (default, None), f.name


def test_register_round_trips_every_document_entry_attribute(registry_store):
    entry = complete_document_entry()

    register(registry_store, entry)

    assert registry_store.document_entries_by_unique_id([entry.unique_id]) == [entry]
    assert registry_store.document_entries_by_uuid([entry.entry_uuid]) == [entry]


def test_register_round_trips_submission_set_folder_and_associations(registry_store):
    entry = document_entry("1.1")
    folder_ = complete_folder()
    whole = submission(entry, folders=[folder_])
    whole.submission_set.authors = complete_document_entry().authors
    whole.submission_set.intended_recipients = ["^Doe^John"]

    registry_store.register(whole, lambda: None)

    with registry_store.engine.connect() as connection:
        sets = [
            from_json(SubmissionSet, t)
            for t in connection.scalars(select(submission_set.c.metadata))
        ]
        folders = [from_json(Folder, t) for t in connection.scalars(select(folder.c.metadata))]
        links = [
            from_json(Association, t) for t in connection.scalars(select(association.c.metadata))
        ]
    assert sets == [whole.submission_set]
    assert folders == [folder_]
    assert links == whole.associations


def test_stored_objects_tells_kind_patient_and_status_of_objects_of_every_kind(registry_store):
    entry = document_entry("1.1")
    folder_ = complete_folder()
    whole = submission(entry, folders=[folder_])
    registry_store.register(whole, lambda: None)
    (link,) = whole.associations
    asked = [entry.entry_uuid, folder_.entry_uuid, link.entry_uuid, whole.submission_set.entry_uuid]

    found = registry_store.stored_objects([*asked, new_uuid(), entry.entry_uuid])

    approved = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    assert sorted(found, key=lambda stored: asked.index(stored.entry_uuid)) == [
        StoredObject(entry.entry_uuid, ObjectKind.DOCUMENT_ENTRY, entry.patient_id, approved),
        StoredObject(folder_.entry_uuid, ObjectKind.FOLDER, folder_.patient_id, approved),
        StoredObject(link.entry_uuid, ObjectKind.ASSOCIATION, None, approved),
        StoredObject(
            whole.submission_set.entry_uuid,
            ObjectKind.SUBMISSION_SET,
            whole.submission_set.patient_id,
            approved,
        ),
    ]


def test_register_stores_nothing_when_before_commit_raises(registry_store):
    entry = complete_document_entry()
    whole = submission(entry, folders=[complete_folder()])

    with pytest.raises(RuntimeError, match="repository commit failed"):
        registry_store.register(whole, _fail)

    assert set(_row_counts(registry_store).values()) == {0}
    assert registry_store.document_entries_by_unique_id([entry.unique_id]) == []


def test_register_rejects_unique_id_already_in_registry(registry_store):
    register(registry_store, document_entry("1.1"))
    again = document_entry("1.1")
    bystander = document_entry("1.2")
    called = []

    with pytest.raises(XdsError) as error:
        registry_store.register(submission(again, bystander), lambda: called.append(True))

    (issue,) = error.value.issues
    assert issue.code == ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY
    assert (issue.object_id, issue.attribute) == (again.entry_uuid, "uniqueId")
    assert called == []
    assert registry_store.document_entries_by_unique_id(["1.2"]) == []


def test_register_rejects_unique_id_twice_in_message(registry_store):
    first, second = document_entry("1.1"), document_entry("1.1")

    with pytest.raises(XdsError) as error:
        registry_store.register(submission(first, second), lambda: None)

    assert _codes(error) == [ErrorCode.REGISTRY_DUPLICATE_UNIQUE_ID_IN_MESSAGE]
    assert error.value.issues[0].attribute == "uniqueId"
    assert registry_store.document_entries_by_unique_id(["1.1"]) == []


def test_register_rejects_entry_uuid_already_in_registry(registry_store):
    stored = document_entry("1.1")
    register(registry_store, stored)

    with pytest.raises(XdsError) as error:
        register(registry_store, document_entry("1.2", entry_uuid=stored.entry_uuid))

    assert _codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR]
    assert error.value.issues[0].object_id == stored.entry_uuid
    assert registry_store.document_entries_by_unique_id(["1.2"]) == []


def test_register_rejects_entry_uuid_twice_in_message(registry_store):
    first = document_entry("1.1")
    second = document_entry("1.2", entry_uuid=first.entry_uuid)

    with pytest.raises(XdsError) as error:
        register(registry_store, first, second)

    assert _codes(error) == [ErrorCode.REGISTRY_METADATA_ERROR]


def _register_at_once(stores: list[SqlRegistryStore], unique_id: str) -> list[object]:
    start = threading.Barrier(len(stores))
    outcomes: list[object] = []

    def attempt(store: SqlRegistryStore) -> None:
        start.wait()
        try:
            register(store, document_entry(unique_id))
            outcomes.append("stored")
        except XdsError as exc:
            outcomes.append(exc.issues[0].code)

    threads = [threading.Thread(target=attempt, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_concurrent_register_of_one_unique_id_stores_it_once(registry_url):
    stores = [SqlRegistryStore(registry_url) for _ in range(2)]

    for round_ in range(5):
        outcomes = _register_at_once(stores, f"1.{round_}")

        assert sorted(outcomes) == sorted(["stored", ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY])
        assert len(stores[0].document_entries_by_unique_id([f"1.{round_}"])) == 1
    for store in stores:
        store.close()


def test_register_that_loses_a_race_after_its_check_reports_duplicate_unique_id(registry_url):
    winner_store, loser_store = SqlRegistryStore(registry_url), SqlRegistryStore(registry_url)
    winner_written = threading.Event()
    loser_error: list[XdsError] = []

    def hold_commit() -> None:
        winner_written.set()
        time.sleep(0.5)

    def lose() -> None:
        winner_written.wait()
        try:
            register(loser_store, document_entry("1.1"))
        except XdsError as exc:
            loser_error.append(exc)

    loser = threading.Thread(target=lose)
    loser.start()
    winner_store.register(submission(document_entry("1.1")), hold_commit)
    loser.join()

    assert [issue.code for issue in loser_error[0].issues] == [
        ErrorCode.DUPLICATE_UNIQUE_ID_IN_REGISTRY
    ]
    assert _row_counts(winner_store)["document_entry"] == 1
    winner_store.close()
    loser_store.close()


def test_register_from_many_threads_at_once_stores_everything(registry_store):
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for n in range(5):
                register(registry_store, document_entry(f"{worker}.{n}"))
                registry_store.document_entries_by_unique_id([f"{worker}.{n}"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert _row_counts(registry_store)["document_entry"] == 40


def test_document_entries_by_unique_id_returns_any_status_in_the_order_asked(registry_store):
    approved = document_entry("1.1")
    deprecated = replace(
        document_entry("1.2"), availability_status=complete_document_entry().availability_status
    )
    register(registry_store, approved, deprecated)

    found = registry_store.document_entries_by_unique_id(["1.2", "1.9", "1.1", "1.2"])

    assert [e.unique_id for e in found] == ["1.2", "1.1"]


def test_document_entries_by_uuid_skips_unknown_uuids(registry_store):
    entry = document_entry("1.1")
    register(registry_store, entry)

    assert registry_store.document_entries_by_uuid([new_uuid(), entry.entry_uuid]) == [entry]


def test_migrations_create_exactly_the_table_definitions(registry_store):
    with registry_store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, registry_metadata) == []


def test_upgrade_twice_is_harmless(registry_url):
    upgrade(registry_url)
    upgrade(registry_url)

    store = SqlRegistryStore(registry_url)
    register(store, document_entry("1.1"))
    assert len(store.document_entries_by_unique_id(["1.1"])) == 1
    store.close()


def test_sqlite_store_creates_its_folder(tmp_path):
    path = tmp_path / "a" / "b" / "registry.sqlite3"

    SqlRegistryStore(f"sqlite:///{path}").close()

    assert path.is_file()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgres_urls_use_the_psycopg_driver(url, expected):
    assert normalize_url(url) == expected
