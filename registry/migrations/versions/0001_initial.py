"""The first registry schema: DocumentEntry, SubmissionSet, Folder, Association and their indexes.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _fk(table: str) -> sa.ForeignKey:
    return sa.ForeignKey(f"{table}.entry_uuid", ondelete="CASCADE")


def _code_columns(name: str) -> list[sa.Column]:
    return [sa.Column(name, sa.String()), sa.Column(f"{name}_scheme", sa.String())]


def upgrade() -> None:
    """Create every table and index."""
    op.create_table(
        "document_entry",
        sa.Column("entry_uuid", sa.String(), primary_key=True),
        sa.Column("unique_id", sa.String(), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(), nullable=False),
        sa.Column("availability_status", sa.String(), nullable=False),
        sa.Column("object_type", sa.String(), nullable=False),
        *_code_columns("class_code"),
        *_code_columns("type_code"),
        *_code_columns("format_code"),
        *_code_columns("healthcare_facility_type_code"),
        *_code_columns("practice_setting_code"),
        sa.Column("creation_time", sa.String(14)),
        sa.Column("service_start_time", sa.String(14)),
        sa.Column("service_stop_time", sa.String(14)),
        sa.Column("repository_unique_id", sa.String()),
        sa.Column("metadata", sa.Text(), nullable=False),
    )
    for name, columns in {
        "ix_document_entry_patient_status": ["patient_id", "availability_status", "object_type"],
        "ix_document_entry_patient_creation": ["patient_id", "creation_time"],
        "ix_document_entry_patient_service_start": ["patient_id", "service_start_time"],
        "ix_document_entry_patient_service_stop": ["patient_id", "service_stop_time"],
        "ix_document_entry_class_code": ["class_code", "class_code_scheme"],
        "ix_document_entry_type_code": ["type_code", "type_code_scheme"],
        "ix_document_entry_format_code": ["format_code", "format_code_scheme"],
        "ix_document_entry_healthcare_facility_type_code": [
            "healthcare_facility_type_code",
            "healthcare_facility_type_code_scheme",
        ],
        "ix_document_entry_practice_setting_code": [
            "practice_setting_code",
            "practice_setting_code_scheme",
        ],
    }.items():
        op.create_index(name, "document_entry", columns)

    op.create_table(
        "document_code",
        sa.Column("entry_uuid", sa.String(), _fk("document_entry"), primary_key=True),
        sa.Column("kind", sa.String(), primary_key=True),
        sa.Column("code", sa.String(), primary_key=True),
        sa.Column("scheme", sa.String(), primary_key=True),
    )
    op.create_index(
        "ix_document_code_lookup", "document_code", ["kind", "code", "scheme", "entry_uuid"]
    )

    op.create_table(
        "document_author",
        sa.Column("entry_uuid", sa.String(), _fk("document_entry"), primary_key=True),
        sa.Column("person", sa.String(), primary_key=True),
    )
    op.create_index("ix_document_author_person", "document_author", ["person"])

    op.create_table(
        "submission_set",
        sa.Column("entry_uuid", sa.String(), primary_key=True),
        sa.Column("unique_id", sa.String(), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(), nullable=False),
        sa.Column("source_id", sa.String(), nullable=False),
        sa.Column("submission_time", sa.String(14)),
        *_code_columns("content_type_code"),
        sa.Column("availability_status", sa.String(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_submission_set_patient_status",
        "submission_set",
        ["patient_id", "availability_status"],
    )
    op.create_index("ix_submission_set_source_id", "submission_set", ["source_id"])

    op.create_table(
        "submission_set_author",
        sa.Column("entry_uuid", sa.String(), _fk("submission_set"), primary_key=True),
        sa.Column("person", sa.String(), primary_key=True),
    )
    op.create_index("ix_submission_set_author_person", "submission_set_author", ["person"])

    op.create_table(
        "folder",
        sa.Column("entry_uuid", sa.String(), primary_key=True),
        sa.Column("unique_id", sa.String(), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(), nullable=False),
        sa.Column("last_update_time", sa.String(14)),
        sa.Column("availability_status", sa.String(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
    )
    op.create_index("ix_folder_patient_status", "folder", ["patient_id", "availability_status"])

    op.create_table(
        "folder_code",
        sa.Column("entry_uuid", sa.String(), _fk("folder"), primary_key=True),
        sa.Column("code", sa.String(), primary_key=True),
        sa.Column("scheme", sa.String(), primary_key=True),
    )
    op.create_index("ix_folder_code_lookup", "folder_code", ["code", "scheme", "entry_uuid"])

    op.create_table(
        "association",
        sa.Column("entry_uuid", sa.String(), primary_key=True),
        sa.Column("association_type", sa.String(), nullable=False),
        sa.Column("source_object", sa.String(), nullable=False),
        sa.Column("target_object", sa.String(), nullable=False),
        sa.Column("availability_status", sa.String(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
    )
    op.create_index("ix_association_source", "association", ["source_object", "association_type"])
    op.create_index("ix_association_target", "association", ["target_object", "association_type"])


def downgrade() -> None:
    """Drop every table."""
    for table in (
        "association",
        "folder_code",
        "folder",
        "submission_set_author",
        "submission_set",
        "document_author",
        "document_code",
        "document_entry",
    ):
        op.drop_table(table)
