"""The registry storage seam: what the rest of xcads asks of a registry database."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from registry.metadata import Association, Code, DocumentEntry, Folder, Submission, SubmissionSet


@dataclass
class StoredQueryRequest:
    """An ITI-18/ITI-38 AdhocQuery as it arrived: the query id and its raw slot values.

    `slots` maps a parameter name to one list per Slot of that name, in request order, each
    holding that Slot's Value texts: ITI-18 ORs the values within one Slot and ANDs same-named
    Slots (ITI TF-2a 3.18.4.1.2.3), so the grouping must survive until the query reads it.
    """

    query_id: str
    slots: dict[str, list[list[str]]]
    return_type: str = "LeafClass"
    return_composed_objects: bool = False
    home_community_id: str | None = None


@dataclass
class QueryResult:
    """The registry objects a stored query returns, in response order."""

    document_entries: list[DocumentEntry] = field(default_factory=list)
    submission_sets: list[SubmissionSet] = field(default_factory=list)
    folders: list[Folder] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)

    def __len__(self) -> int:
        """Count every object in the result."""
        return (
            len(self.document_entries)
            + len(self.submission_sets)
            + len(self.folders)
            + len(self.associations)
        )


@dataclass
class DocumentEntryQuery:
    """What FindDocuments selects DocumentEntries by, parsed; every field given narrows the result.

    A code list matches when the entry has any of its codes (OR). `event_codes` and
    `confidentiality_codes` are lists of such lists, all of which must match (AND). Times are DTM
    at any precision, compared as `registry.dtm.dtm_key` describes: `*_from` inclusive, `*_to`
    exclusive. `author_persons` are SQL LIKE patterns (`%`, `_`), any of which may match.
    """

    patient_id: str
    availability_statuses: list[str]
    object_types: list[str]
    class_codes: list[Code] | None = None
    type_codes: list[Code] | None = None
    practice_setting_codes: list[Code] | None = None
    healthcare_facility_type_codes: list[Code] | None = None
    format_codes: list[Code] | None = None
    event_codes: list[list[Code]] = field(default_factory=list)
    confidentiality_codes: list[list[Code]] = field(default_factory=list)
    creation_time_from: str | None = None
    creation_time_to: str | None = None
    service_start_time_from: str | None = None
    service_start_time_to: str | None = None
    service_stop_time_from: str | None = None
    service_stop_time_to: str | None = None
    author_persons: list[str] | None = None


class RegistryStore(ABC):
    """Registry persistence; implementations are picked by database URL."""

    @abstractmethod
    def register(self, submission: Submission, before_commit: Callable[[], None]) -> None:
        """Store a whole submission in one transaction.

        `before_commit` runs after every row is written and before the commit; if it raises, nothing
        is stored. Raises `XdsError` (XDSDuplicateUniqueIdInRegistry, ...) on conflicts.
        """

    @abstractmethod
    def document_entries_by_unique_id(self, unique_ids: list[str]) -> list[DocumentEntry]:
        """Return the DocumentEntries with these uniqueIds, any status."""

    @abstractmethod
    def document_entries_by_uuid(self, entry_uuids: list[str]) -> list[DocumentEntry]:
        """Return the DocumentEntries with these entryUUIDs, any status."""

    @abstractmethod
    def find_document_entries(self, query: DocumentEntryQuery, limit: int) -> list[DocumentEntry]:
        """Return at most `limit` DocumentEntries matching `query`, ordered by entryUUID."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
