"""DocumentEntry versions (ITI-57): logicalID and version columns; uniqueId unique per version.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BACKFILL_BATCH = 1000

_document_entry = sa.table(
    "document_entry",
    sa.column("entry_uuid", sa.String()),
    sa.column("logical_id", sa.String()),
    sa.column("version", sa.String()),
    sa.column("metadata", sa.Text()),
)


def upgrade() -> None:
    """Add logical_id and version, fill them, and make uniqueId unique per version only."""
    bind = op.get_bind()
    with op.batch_alter_table("document_entry") as batch:
        batch.add_column(sa.Column("logical_id", sa.String()))
        batch.add_column(sa.Column("version", sa.String()))
    _backfill_versions(bind)

    if bind.dialect.name == "sqlite":
        _drop_unique_unique_id_on_sqlite(bind)
    else:
        op.drop_constraint("document_entry_unique_id_key", "document_entry", type_="unique")
        op.alter_column("document_entry", "logical_id", nullable=False)
        op.alter_column("document_entry", "version", nullable=False)

    op.create_index(
        "ix_document_entry_unique_id_version",
        "document_entry",
        ["unique_id", "version"],
        unique=True,
    )
    op.create_index(
        "ix_document_entry_logical_id_version",
        "document_entry",
        ["logical_id", "version"],
        unique=True,
    )


def _backfill_versions(connection: sa.Connection) -> None:
    # Every entry stored so far is a first version: its own logical document, version 1.
    last = ""
    while True:
        page = connection.execute(
            sa.select(_document_entry.c.entry_uuid, _document_entry.c.metadata)
            .where(_document_entry.c.entry_uuid > last)
            .order_by(_document_entry.c.entry_uuid)
            .limit(_BACKFILL_BATCH)
        ).all()
        if not page:
            return

        for entry_uuid, text in page:
            data = json.loads(text)
            data["logical_id"] = data.get("logical_id") or entry_uuid
            data["version"] = data.get("version") or "1"
            connection.execute(
                _document_entry.update()
                .where(_document_entry.c.entry_uuid == entry_uuid)
                .values(
                    logical_id=data["logical_id"],
                    version=data["version"],
                    metadata=json.dumps(data, ensure_ascii=False, separators=(",", ":")),
                )
            )
        last = page[-1][0]


def _drop_unique_unique_id_on_sqlite(connection: sa.Connection) -> None:
    naming = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
    with (
        _children_kept(connection),
        op.batch_alter_table(
            "document_entry", naming_convention=naming, recreate="always"
        ) as batch,
    ):
        batch.drop_constraint("uq_document_entry_unique_id", type_="unique")
        batch.alter_column("logical_id", existing_type=sa.String(), nullable=False)
        batch.alter_column("version", existing_type=sa.String(), nullable=False)


@contextmanager
def _children_kept(connection: sa.Connection) -> Iterator[None]:
    """Keep the rows of document_entry's child tables across a rebuild of it on SQLite.

    SQLite changes a constraint only by rebuilding the table, and dropping the old table runs ON
    DELETE CASCADE on its children. Foreign keys cannot be switched off inside the migration's
    transaction, so the children's rows are set aside and put back.
    """
    children = _child_tables(connection, "document_entry")
    for child in children:
        op.execute(f'CREATE TEMP TABLE "_keep_{child}" AS SELECT * FROM "{child}"')
    yield
    for child in children:
        op.execute(f'DELETE FROM "{child}"')
        op.execute(f'INSERT INTO "{child}" SELECT * FROM "_keep_{child}"')
        op.execute(f'DROP TABLE "_keep_{child}"')


def _child_tables(connection: sa.Connection, parent: str) -> list[str]:
    inspector = sa.inspect(connection)
    return [
        table
        for table in inspector.get_table_names()
        if any(fk["referred_table"] == parent for fk in inspector.get_foreign_keys(table))
    ]


def downgrade() -> None:
    """Drop the version columns; fails while two versions of a document share a uniqueId."""
    bind = op.get_bind()
    op.drop_index("ix_document_entry_logical_id_version", "document_entry")
    op.drop_index("ix_document_entry_unique_id_version", "document_entry")
    if bind.dialect.name != "sqlite":
        op.create_unique_constraint("document_entry_unique_id_key", "document_entry", ["unique_id"])
        op.drop_column("document_entry", "version")
        op.drop_column("document_entry", "logical_id")
        return
    with _children_kept(bind), op.batch_alter_table("document_entry") as batch:
        batch.create_unique_constraint("uq_document_entry_unique_id", ["unique_id"])
        batch.drop_column("version")
        batch.drop_column("logical_id")
