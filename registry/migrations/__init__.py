"""Alembic migrations of the registry schema, runnable from the installed package."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at these migrations, built without an ini file."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    return config


def upgrade_engine(engine: Engine) -> None:
    """Bring the database behind `engine` to the newest schema, in one transaction."""
    config = alembic_config()
    with engine.connect() as connection:
        connection.execution_options(xcads_write=True)
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def upgrade(url: str) -> None:
    """Bring the registry database at `url` to the newest schema."""
    from registry.sql import create_registry_engine

    engine = create_registry_engine(url)
    try:
        upgrade_engine(engine)
    finally:
        engine.dispose()
