"""The registry storage seam: what the rest of xcads asks of a registry database."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from registry.errors import Issue
from registry.metadata import Association, Code, DocumentEntry, Folder, Submission, SubmissionSet


class ObjectKind(StrEnum):
    """The four kinds of registry object (ITI TF-3 4.1.1)."""

    DOCUMENT_ENTRY = "DocumentEntry"
    SUBMISSION_SET = "SubmissionSet"
    FOLDER = "Folder"
    ASSOCIATION = "Association"


@dataclass(frozen=True)
class StoredObject:
    """What validation needs of an object already in the registry: its kind and its patient."""

    entry_uuid: str
    kind: ObjectKind
    patient_id: str | None
    availability_status: str


@dataclass(frozen=True)
class StatusChange:
    """An object's availabilityStatus to move from `original_status` to `new_status`.

    The store makes the change only if the object still has `original_status` when it commits;
    otherwise it stores nothing and raises `XdsError(conflict)`. That compare-and-set is what lets
    exactly one of two concurrent replacements of one document win.
    """

    kind: ObjectKind
    entry_uuid: str
    original_status: str
    new_status: str
    conflict: Issue


@dataclass
class LifecyclePlan:
    """What a submission does to objects already in the registry, decided by `registry.lifecycle`.

    `status_changes` are applied after the submission's rows are written; `associations` are
    made by the registry itself (a replacement's Folder memberships) and stored with the
    submission; `new_versions` maps the entryUUID of each new DocumentEntry version (ITI-57) to
    the entryUUID of the version it supersedes, whose uniqueId it legitimately shares.
    """

    status_changes: list[StatusChange] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    new_versions: dict[str, str] = field(default_factory=dict)


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
    """What DocumentEntries are selected by, parsed; every field given narrows the result.

    A code list matches when the entry has any of its codes (OR). `event_codes`,
    `confidentiality_codes` and `reference_ids` are lists of such lists, all of which must match
    (AND). Times are DTM at any precision, compared as `registry.dtm.dtm_key` describes: `*_from`
    inclusive, `*_to` exclusive. `author_persons` are SQL LIKE patterns (`%`, `_`), any of which
    may match. `entry_uuids` keeps only those entries, as when reading a SubmissionSet's members.
    """

    patient_id: str | None = None
    availability_statuses: list[str] | None = None
    object_types: list[str] | None = None
    entry_uuids: list[str] | None = None
    class_codes: list[Code] | None = None
    type_codes: list[Code] | None = None
    practice_setting_codes: list[Code] | None = None
    healthcare_facility_type_codes: list[Code] | None = None
    format_codes: list[Code] | None = None
    event_codes: list[list[Code]] = field(default_factory=list)
    confidentiality_codes: list[list[Code]] = field(default_factory=list)
    reference_ids: list[list[str]] = field(default_factory=list)
    creation_time_from: str | None = None
    creation_time_to: str | None = None
    service_start_time_from: str | None = None
    service_start_time_to: str | None = None
    service_stop_time_from: str | None = None
    service_stop_time_to: str | None = None
    author_persons: list[str] | None = None


@dataclass
class SubmissionSetQuery:
    """What FindSubmissionSets selects one patient's SubmissionSets by; as `DocumentEntryQuery`."""

    patient_id: str
    availability_statuses: list[str]
    source_ids: list[str] | None = None
    submission_time_from: str | None = None
    submission_time_to: str | None = None
    author_person: str | None = None
    content_type_codes: list[Code] | None = None


@dataclass
class FolderQuery:
    """What FindFolders selects one patient's Folders by; `codes` as `event_codes` above."""

    patient_id: str
    availability_statuses: list[str]
    last_update_time_from: str | None = None
    last_update_time_to: str | None = None
    codes: list[list[Code]] = field(default_factory=list)


@dataclass
class AssociationQuery:
    """Which Associations to select by their ends, type and status; at least one end is given.

    `objects` matches an Association with either end among them. `source_objects` and
    `target_objects` constrain that end; given both, both ends must be among them.
    """

    objects: list[str] | None = None
    source_objects: list[str] | None = None
    target_objects: list[str] | None = None
    association_types: list[str] | None = None
    availability_statuses: list[str] | None = None


class RegistryStore(ABC):
    """Registry persistence; implementations are picked by database URL."""

    @abstractmethod
    def register(
        self,
        submission: Submission,
        before_commit: Callable[[], None],
        plan: LifecyclePlan | None = None,
    ) -> None:
        """Store a whole submission and its lifecycle effects in one transaction.

        `plan` says what the submission does to objects already stored; without one, the store
        asks `registry.lifecycle.plan` (ITI-42 semantics: replacement deprecates the original).
        `before_commit` runs after every row is written and before the commit; if it raises,
        nothing is stored. Raises `XdsError` (XDSDuplicateUniqueIdInRegistry, ...) on conflicts.
        """

    @abstractmethod
    def document_entry_versions(self, logical_ids: list[str]) -> list[DocumentEntry]:
        """Return every version of the DocumentEntries with these logicalIDs, any status."""

    @abstractmethod
    def remove_objects(self, entry_uuids: list[str]) -> None:
        """Delete these registry objects in one transaction, all or none (ITI-62).

        Raises `XdsError` with UnresolvedReferenceException for an id the registry does not
        hold, ReferencesExistException when an Association that stays would point at one, and
        XDSUnreferencedObjectException when a DocumentEntry or Folder that stays would be left in
        no SubmissionSet.
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
    def submission_sets_by_uuid(self, entry_uuids: list[str]) -> list[SubmissionSet]:
        """Return the SubmissionSets with these entryUUIDs, any status, in the order asked."""

    @abstractmethod
    def submission_sets_by_unique_id(self, unique_ids: list[str]) -> list[SubmissionSet]:
        """Return the SubmissionSets with these uniqueIds, any status, in the order asked."""

    @abstractmethod
    def find_submission_sets(self, query: SubmissionSetQuery, limit: int) -> list[SubmissionSet]:
        """Return at most `limit` SubmissionSets matching `query`, ordered by entryUUID."""

    @abstractmethod
    def folders_by_uuid(self, entry_uuids: list[str]) -> list[Folder]:
        """Return the Folders with these entryUUIDs, any status, in the order asked."""

    @abstractmethod
    def folders_by_unique_id(self, unique_ids: list[str]) -> list[Folder]:
        """Return the Folders with these uniqueIds, any status, in the order asked."""

    @abstractmethod
    def find_folders(self, query: FolderQuery, limit: int) -> list[Folder]:
        """Return at most `limit` Folders matching `query`, ordered by entryUUID."""

    @abstractmethod
    def find_associations(self, query: AssociationQuery, limit: int) -> list[Association]:
        """Return at most `limit` Associations matching `query`, ordered by entryUUID."""

    @abstractmethod
    def stored_objects(self, entry_uuids: list[str]) -> list[StoredObject]:
        """Return the registry objects of any kind with these entryUUIDs, any status."""

    @abstractmethod
    def registered_unique_ids(self, unique_ids: list[str]) -> set[str]:
        """Return those of these uniqueIds that some DocumentEntry has, any status or repository."""

    @abstractmethod
    def document_unique_ids(
        self, repository_unique_id: str, *, after: str | None = None, limit: int = 1000
    ) -> list[str]:
        """Return the next `limit` uniqueIds above `after` of DocumentEntries in a repository.

        Ordered and distinct, so that `after=` the last one pages through them all.
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""
