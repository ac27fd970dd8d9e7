"""Indexes for every ITI-18 stored query, and the referenceIdList of each DocumentEntry.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BACKFILL_BATCH = 1000

_document_entry = sa.table(
    "document_entry", sa.column("entry_uuid", sa.String()), sa.column("metadata", sa.Text())
)
_document_reference_id = sa.table(
    "document_reference_id",
    sa.column("entry_uuid", sa.String()),
    sa.column("reference_id", sa.String()),
)


def upgrade() -> None:
    """Create the reference id table, fill it from stored metadata, and add the indexes."""
    op.create_table(
        "document_reference_id",
        sa.Column(
            "entry_uuid",
            sa.String(),
            sa.ForeignKey("document_entry.entry_uuid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("reference_id", sa.String(), primary_key=True),
    )
    op.create_index(
        "ix_document_reference_id_lookup",
        "document_reference_id",
        ["reference_id", "entry_uuid"],
    )
    _backfill_reference_ids(op.get_bind())

    op.create_index(
        "ix_submission_set_patient_source", "submission_set", ["patient_id", "source_id"]
    )
    op.create_index(
        "ix_submission_set_patient_submission_time",
        "submission_set",
        ["patient_id", "submission_time"],
    )
    op.create_index("ix_folder_patient_last_update", "folder", ["patient_id", "last_update_time"])


def _backfill_reference_ids(connection: sa.Connection) -> None:
    # Keyset pages keep memory flat however many entries the registry already holds.
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

        rows = [
            {"entry_uuid": entry_uuid, "reference_id": reference_id}
            for entry_uuid, text in page
            for reference_id in sorted(set(json.loads(text).get("reference_id_list") or []))
        ]
        if rows:
            connection.execute(_document_reference_id.insert(), rows)
        last = page[-1][0]


def downgrade() -> None:
    """Drop what `upgrade` added."""
    op.drop_index("ix_folder_patient_last_update", "folder")
    op.drop_index("ix_submission_set_patient_submission_time", "submission_set")
    op.drop_index("ix_submission_set_patient_source", "submission_set")
    op.drop_table("document_reference_id")
