"""The registry's tables: key columns to search on, plus each object's full metadata as JSON.

The `metadata` column holds the whole serialized object and is the only thing read back; every
other column is an index of it, written at register time. Migrations in `registry/migrations`
create exactly these tables; a test keeps the two in step.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, MetaData, String, Table, Text

registry_metadata = MetaData()

# Unbounded on purpose: identifiers and codes have no length limit in the spec, and a VARCHAR(n)
# overflow would fail a registration with a database error instead of an XDS one.
_UUID = String()
_OID = String()
_CODE = String()
_URN = String()
_DTM_KEY = String(14)


def _json_column() -> Column:
    return Column("metadata", Text, nullable=False)


def _fk(table: str) -> ForeignKey:
    return ForeignKey(f"{table}.entry_uuid", ondelete="CASCADE")


document_entry = Table(
    "document_entry",
    registry_metadata,
    Column("entry_uuid", _UUID, primary_key=True),
    # Not unique alone: every version of a document (ITI-57) shares its uniqueId.
    Column("unique_id", _OID, nullable=False),
    Column("patient_id", String(), nullable=False),
    Column("availability_status", _URN, nullable=False),
    Column("object_type", _URN, nullable=False),
    Column("class_code", _CODE),
    Column("class_code_scheme", _CODE),
    Column("type_code", _CODE),
    Column("type_code_scheme", _CODE),
    Column("format_code", _CODE),
    Column("format_code_scheme", _CODE),
    Column("healthcare_facility_type_code", _CODE),
    Column("healthcare_facility_type_code_scheme", _CODE),
    Column("practice_setting_code", _CODE),
    Column("practice_setting_code_scheme", _CODE),
    Column("creation_time", _DTM_KEY),
    Column("service_start_time", _DTM_KEY),
    Column("service_stop_time", _DTM_KEY),
    Column("repository_unique_id", _OID),
    Column("logical_id", _UUID, nullable=False),
    Column("version", String(), nullable=False),
    _json_column(),
    Index("ix_document_entry_unique_id_version", "unique_id", "version", unique=True),
    Index("ix_document_entry_logical_id_version", "logical_id", "version", unique=True),
    Index("ix_document_entry_patient_status", "patient_id", "availability_status", "object_type"),
    Index("ix_document_entry_patient_creation", "patient_id", "creation_time"),
    Index("ix_document_entry_patient_service_start", "patient_id", "service_start_time"),
    Index("ix_document_entry_patient_service_stop", "patient_id", "service_stop_time"),
    Index("ix_document_entry_class_code", "class_code", "class_code_scheme"),
    Index("ix_document_entry_type_code", "type_code", "type_code_scheme"),
    Index("ix_document_entry_format_code", "format_code", "format_code_scheme"),
    Index(
        "ix_document_entry_healthcare_facility_type_code",
        "healthcare_facility_type_code",
        "healthcare_facility_type_code_scheme",
    ),
    Index(
        "ix_document_entry_practice_setting_code",
        "practice_setting_code",
        "practice_setting_code_scheme",
    ),
)

document_code = Table(
    "document_code",
    registry_metadata,
    Column("entry_uuid", _UUID, _fk("document_entry"), primary_key=True),
    Column("kind", String(), primary_key=True),
    Column("code", _CODE, primary_key=True),
    Column("scheme", _CODE, primary_key=True),
    Index("ix_document_code_lookup", "kind", "code", "scheme", "entry_uuid"),
)

document_author = Table(
    "document_author",
    registry_metadata,
    Column("entry_uuid", _UUID, _fk("document_entry"), primary_key=True),
    Column("person", String(), primary_key=True),
    Index("ix_document_author_person", "person"),
)

document_reference_id = Table(
    "document_reference_id",
    registry_metadata,
    Column("entry_uuid", _UUID, _fk("document_entry"), primary_key=True),
    Column("reference_id", String(), primary_key=True),
    Index("ix_document_reference_id_lookup", "reference_id", "entry_uuid"),
)

submission_set = Table(
    "submission_set",
    registry_metadata,
    Column("entry_uuid", _UUID, primary_key=True),
    Column("unique_id", _OID, nullable=False, unique=True),
    Column("patient_id", String(), nullable=False),
    Column("source_id", _OID, nullable=False),
    Column("submission_time", _DTM_KEY),
    Column("content_type_code", _CODE),
    Column("content_type_code_scheme", _CODE),
    Column("availability_status", _URN, nullable=False),
    _json_column(),
    Index("ix_submission_set_patient_status", "patient_id", "availability_status"),
    Index("ix_submission_set_source_id", "source_id"),
    Index("ix_submission_set_patient_source", "patient_id", "source_id"),
    Index("ix_submission_set_patient_submission_time", "patient_id", "submission_time"),
)

submission_set_author = Table(
    "submission_set_author",
    registry_metadata,
    Column("entry_uuid", _UUID, _fk("submission_set"), primary_key=True),
    Column("person", String(), primary_key=True),
    Index("ix_submission_set_author_person", "person"),
)

folder = Table(
    "folder",
    registry_metadata,
    Column("entry_uuid", _UUID, primary_key=True),
    Column("unique_id", _OID, nullable=False, unique=True),
    Column("patient_id", String(), nullable=False),
    Column("last_update_time", _DTM_KEY),
    Column("availability_status", _URN, nullable=False),
    _json_column(),
    Index("ix_folder_patient_status", "patient_id", "availability_status"),
    Index("ix_folder_patient_last_update", "patient_id", "last_update_time"),
)

folder_code = Table(
    "folder_code",
    registry_metadata,
    Column("entry_uuid", _UUID, _fk("folder"), primary_key=True),
    Column("code", _CODE, primary_key=True),
    Column("scheme", _CODE, primary_key=True),
    Index("ix_folder_code_lookup", "code", "scheme", "entry_uuid"),
)

association = Table(
    "association",
    registry_metadata,
    Column("entry_uuid", _UUID, primary_key=True),
    Column("association_type", _URN, nullable=False),
    Column("source_object", _UUID, nullable=False),
    Column("target_object", _UUID, nullable=False),
    Column("availability_status", _URN, nullable=False),
    _json_column(),
    Index("ix_association_source", "source_object", "association_type"),
    Index("ix_association_target", "target_object", "association_type"),
)

# Every table, parents before children: the order rows are written and truncated in.
ALL_TABLES = (
    document_entry,
    document_code,
    document_author,
    document_reference_id,
    submission_set,
    submission_set_author,
    folder,
    folder_code,
    association,
)
