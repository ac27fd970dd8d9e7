"""Shared test fixtures."""

from __future__ import annotations

# --- Registry databases ------------------------------------------------------------------------
# Every registry store and stored query test runs on SQLite and on a real PostgreSQL. PostgreSQL
# is at XCADS_TEST_POSTGRES_URL; when it cannot be reached those tests fail rather than skip,
# unless XCADS_TEST_POSTGRES=off says so explicitly.
import os
from collections.abc import Iterator
from contextlib import ExitStack
from uuid import uuid4

import pytest
from databases import throwaway_database
from fastapi.testclient import TestClient
from s3_server import BUCKET, SeaweedFS
from servers import HOME, REPOSITORY
from sqlalchemy import text

from gateway.app import create_app
from gateway.config import Settings
from registry.sql import SqlRegistryStore
from registry.tables import ALL_TABLES
from repository.filesystem import FilesystemDocumentStore
from repository.s3 import S3DocumentStore
from repository.store import DocumentStore

POSTGRES_SERVER_URL = os.environ.get(
    "XCADS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
POSTGRES_OFF = os.environ.get("XCADS_TEST_POSTGRES", "").strip().lower() == "off"
REGISTRY_BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at its end."""
    if POSTGRES_OFF:
        pytest.skip("PostgreSQL tests are off (XCADS_TEST_POSTGRES=off)")

    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_database(POSTGRES_SERVER_URL, "xcads_test"))
        except Exception as exc:
            pytest.fail(
                f"PostgreSQL at {POSTGRES_SERVER_URL!r} is not usable ({exc}); "
                "set XCADS_TEST_POSTGRES=off"
            )
        yield url


@pytest.fixture(params=REGISTRY_BACKENDS)
def registry_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of an empty registry database: a SQLite file, or the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry' / 'registry.sqlite3'}"

    url = request.getfixturevalue("postgres_database_url")
    store = SqlRegistryStore(url)
    names = ", ".join(f'"{table.name}"' for table in ALL_TABLES)
    with store.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} CASCADE"))
    store.close()
    return url


@pytest.fixture
def registry_store(registry_url: str) -> Iterator[SqlRegistryStore]:
    """An empty registry store, on each backend in turn."""
    store = SqlRegistryStore(registry_url)
    yield store
    store.close()


# --- End of registry databases -----------------------------------------------------------------


# --- Document stores ---------------------------------------------------------------------------
# Every document store test runs on the filesystem store and on the S3 store against a real S3
# server, SeaweedFS, started once per session on 127.0.0.1. If it cannot start those tests fail
# rather than skip, unless XCADS_TEST_S3=off says so explicitly.
S3_OFF = os.environ.get("XCADS_TEST_S3", "").strip().lower() == "off"
DOCUMENT_STORES = ["filesystem", "s3"]


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A SeaweedFS S3 server for this test session, stopped and its data dropped at the end."""
    if S3_OFF:
        pytest.skip("S3 tests are off (XCADS_TEST_S3=off)")

    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except Exception as exc:
        pytest.fail(f"SeaweedFS could not start ({exc}); set XCADS_TEST_S3=off to skip S3 tests")

    yield server

    server.stop()


@pytest.fixture
def s3_url(seaweedfs: SeaweedFS) -> str:
    """The repository URL of an empty S3 store: a fresh prefix in the session's bucket."""
    return f"s3://{BUCKET}/{uuid4().hex}"


@pytest.fixture(params=DOCUMENT_STORES)
def document_store(request: pytest.FixtureRequest, tmp_path) -> DocumentStore:
    """An empty document store, on each backend in turn."""
    if request.param == "filesystem":
        return FilesystemDocumentStore(tmp_path / "documents")

    server = request.getfixturevalue("seaweedfs")
    return S3DocumentStore.from_url(request.getfixturevalue("s3_url"), server.connection)


# --- End of document stores --------------------------------------------------------------------


@pytest.fixture
def app(tmp_path):
    """The xcads app on the embedded default under tmp_path; modules override it as they need."""
    settings = Settings(
        data_dir=tmp_path / "data", home_community_id=HOME, repository_unique_id=REPOSITORY
    )
    app = create_app(settings)
    yield app
    app.state.registry.close()


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    """A TestClient of the module's `app` that answers 500s instead of raising."""
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
