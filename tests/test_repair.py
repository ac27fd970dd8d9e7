"""`xcads repair`: bytes without a DocumentEntry and DocumentEntries without bytes.

Each test runs on every registry database and every document store.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from validation_samples import document_entry, submission

from gateway.app import create_app
from gateway.cli import build_parser
from gateway.config import Settings
from repository.filesystem import FilesystemDocumentStore
from repository.naming import object_name
from repository.provide import provide_and_register
from repository.repair import repair
from repository.store import DocumentStore

REPOSITORY = "1.2.3.4.5"
# A uniqueId whose object name is too long to spell out, so the store names it by its hash.
HASHED_UNIQUE_ID = "1.2.3:" + ":" * 67
LATER = datetime.now(UTC) + timedelta(hours=2)


@pytest.fixture
def documents(document_store: DocumentStore) -> DocumentStore:
    return document_store


def provide(registry, documents, unique_id: str, data: bytes = b"kept") -> None:
    entry = document_entry(unique_id)
    provide_and_register(
        submission(entry),
        {entry.entry_uuid: data},
        registry=registry,
        documents=documents,
        repository_unique_id=REPOSITORY,
    )


def orphan(documents: DocumentStore, key: str) -> None:
    """Bytes promoted by a submission whose registry transaction never committed."""
    documents.promote(documents.stage([b"orphan"]), key)


def run(registry, documents, *, fix=False, now=LATER):
    return repair(registry, documents, REPOSITORY, fix=fix, now=now)


def test_bytes_no_document_entry_names_are_orphans(registry_store, documents):
    provide(registry_store, documents, "1.2.3.1")
    orphan(documents, "1.2.3.2")

    report = run(registry_store, documents)

    assert [item.key for item in report.orphans] == ["1.2.3.2"]
    assert (report.missing, report.removed, report.clean) == ([], 0, False)
    assert documents.exists("1.2.3.2")


def test_fix_removes_orphans_and_keeps_registered_documents(registry_store, documents):
    provide(registry_store, documents, "1.2.3.1")
    orphan(documents, "1.2.3.2")
    orphan(documents, "x" * 300)

    report = run(registry_store, documents, fix=True)

    assert (len(report.orphans), report.removed, report.clean) == (2, 2, True)
    assert [item.key for item in documents.documents()] == ["1.2.3.1"]
    assert run(registry_store, documents).orphans == []


def test_recent_bytes_are_left_alone_as_their_submission_may_be_running(registry_store, documents):
    provide(registry_store, documents, "1.2.3.1")
    orphan(documents, "1.2.3.2")
    documents.stage([b"in flight"])

    report = run(registry_store, documents, fix=True, now=datetime.now(UTC))

    assert (report.orphans, report.stale_staged, report.removed) == ([], [], 0)
    assert documents.exists("1.2.3.2")
    assert len(list(documents.staged())) == 1


def test_fix_removes_stale_staged_bytes(registry_store, documents):
    staged = documents.stage([b"left by a killed process"])

    report = run(registry_store, documents, fix=True)

    assert [item.name for item in report.stale_staged] == [staged.token]
    assert (report.removed, report.clean) == (1, True)
    assert list(documents.staged()) == []


def test_document_entry_without_bytes_is_reported_and_kept(registry_store, documents):
    provide(registry_store, documents, "1.2.3.1")
    provide(registry_store, documents, "1.2.3.3")
    documents.delete("1.2.3.1")

    report = run(registry_store, documents, fix=True)

    assert (report.missing, report.clean) == (["1.2.3.1"], False)
    assert len(registry_store.document_entries_by_unique_id(["1.2.3.1"])) == 1


def test_document_with_a_hashed_object_name_is_matched_to_its_entry(registry_store, documents):
    provide(registry_store, documents, HASHED_UNIQUE_ID)
    (listed,) = documents.documents()
    assert (listed.name, listed.key) == (object_name(HASHED_UNIQUE_ID), None)

    report = run(registry_store, documents, fix=True)

    assert (report.orphans, report.missing, report.clean) == ([], [], True)
    assert documents.exists(HASHED_UNIQUE_ID)


def test_orphans_are_kept_when_the_repository_has_no_document_entries(registry_store, documents):
    orphan(documents, "1.2.3.2")

    report = run(registry_store, documents, fix=True)

    assert (len(report.orphans), report.refused, report.removed) == (1, True, 0)
    assert documents.exists("1.2.3.2")


def test_entries_of_other_repositories_are_not_missing_bytes(registry_store, documents):
    provide(registry_store, documents, "1.2.3.1")

    report = repair(registry_store, documents, "9.9.9", now=LATER)

    assert report.missing == []


def test_identifiers_are_logged_at_debug_only(registry_store, documents, caplog):
    provide(registry_store, documents, "1.2.3.1")
    orphan(documents, "1.2.3.2")
    documents.delete("1.2.3.1")

    with caplog.at_level(logging.INFO, logger="xcads.repair"):
        run(registry_store, documents)

    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "repair.done" in logged and "orphans=1" in logged and "missing=1" in logged
    assert "1.2.3.1" not in logged and "1.2.3.2" not in logged


def test_xcads_repair_exits_1_until_orphans_are_fixed(tmp_path, monkeypatch):
    monkeypatch.setenv("XCADS_REPOSITORY_UNIQUE_ID", REPOSITORY)
    settings = Settings(data_dir=tmp_path)
    app = create_app(settings)
    provide(app.state.registry, app.state.documents, "1.2.3.1")
    orphan(app.state.documents, "1.2.3.2")
    app.state.registry.close()

    def xcads(*argv: str) -> int:
        args = build_parser().parse_args(["repair", "--data-dir", str(tmp_path), *argv])
        return args.run(args)

    assert xcads("--stale-minutes", "0") == 1
    assert xcads("--stale-minutes", "0", "--fix") == 0
    assert xcads("--stale-minutes", "0") == 0
    assert not app.state.documents.exists("1.2.3.2")


def test_periodic_repair_removes_stale_staged_bytes(tmp_path):
    settings = Settings(data_dir=tmp_path, repair_interval_seconds=1, repair_stale_minutes=0)
    app = create_app(settings)
    app.state.documents.stage([b"left by a killed process"])

    with TestClient(app):
        deadline = time.monotonic() + 10
        while list(app.state.documents.staged()) and time.monotonic() < deadline:
            time.sleep(0.1)

    assert list(app.state.documents.staged()) == []


def test_periodic_repair_is_off_by_default(tmp_path):
    assert create_app(Settings(data_dir=tmp_path)).state.periodic_repair is None


def test_registry_pages_through_the_unique_ids_of_a_repository(registry_store, tmp_path):
    documents = FilesystemDocumentStore(tmp_path / "documents")
    for unique_id in ("1.2.3.3", "1.2.3.1", "1.2.3.2"):
        provide(registry_store, documents, unique_id)

    first = registry_store.document_unique_ids(REPOSITORY, limit=2)
    rest = registry_store.document_unique_ids(REPOSITORY, after=first[-1], limit=2)

    assert (first, rest) == (["1.2.3.1", "1.2.3.2"], ["1.2.3.3"])
    assert registry_store.document_unique_ids("9.9.9") == []
    assert registry_store.registered_unique_ids(["1.2.3.2", "1.2.3.9"]) == {"1.2.3.2"}
