"""The registry storage seam: what the rest of xcads asks of a registry database."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from registry.metadata import Association, DocumentEntry, Folder, Submission, SubmissionSet


@dataclass
class StoredQueryRequest:
    """An ITI-18/ITI-38 AdhocQuery as it arrived: the query id and its raw slot values."""

    query_id: str
    slots: dict[str, list[str]]
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
    def close(self) -> None:
        """Release connections."""
