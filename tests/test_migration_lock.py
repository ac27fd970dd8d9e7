"""Replicas starting together migrate one PostgreSQL database one after another."""

from __future__ import annotations

import multiprocessing

import pytest
from databases import throwaway_database
from sqlalchemy import create_engine, inspect, text

from registry.migrations import upgrade
from registry.sql import normalize_url
from registry.tables import ALL_TABLES

REPLICAS = 3


def _migrate_when_all_are_ready(url: str, barrier, failures) -> None:
    barrier.wait(timeout=60)
    try:
        upgrade(url)
    except Exception as error:
        failures.put(f"{type(error).__name__}: {error}")


@pytest.fixture
def empty_database(postgres_database_url):
    """A PostgreSQL database with no tables at all, dropped afterwards."""
    with throwaway_database(postgres_database_url) as url:
        yield url


def test_replicas_migrating_an_empty_postgresql_database_at_once_all_succeed(empty_database):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(REPLICAS)
    failures = context.Queue()
    processes = [
        context.Process(
            target=_migrate_when_all_are_ready, args=(empty_database, barrier, failures)
        )
        for _ in range(REPLICAS)
    ]

    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)

    assert [process.exitcode for process in processes] == [0] * REPLICAS
    assert failures.empty(), failures.get()
    engine = create_engine(normalize_url(empty_database))
    try:
        assert {table.name for table in ALL_TABLES} <= set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
    finally:
        engine.dispose()
