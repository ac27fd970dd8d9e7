"""The document storage seam: bytes in, bytes out, hashed while they pass."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StagedDocument:
    """Bytes written to the store but not yet visible under their key."""

    token: str
    hash: str
    size: int


@dataclass(frozen=True)
class StoredBytes:
    """Bytes the store holds, as its listing shows them; what `xcads repair` works on.

    `name` is the store's own name (an object name, or a staging token when `staged`); `key` is
    the document key the name was made from, None when the name does not tell it (a hashed
    name, or staged bytes); `modified` is when the bytes were last written or promoted (UTC).
    """

    name: str
    key: str | None
    modified: datetime
    staged: bool = False


class DocumentNotFound(LookupError):
    """No document is stored under that key."""


class DocumentStore(ABC):
    """Document bytes keyed by document uniqueId; implementations are picked by repository URL."""

    @abstractmethod
    def stage(self, chunks: Iterable[bytes]) -> StagedDocument:
        """Write bytes to a staging place, computing SHA-1 (hex) and size as they pass."""

    @abstractmethod
    def promote(self, staged: StagedDocument, key: str) -> None:
        """Make staged bytes durable and readable under `key`."""

    @abstractmethod
    def discard(self, staged: StagedDocument) -> None:
        """Drop staged bytes that will not be kept."""

    @abstractmethod
    def open(self, key: str) -> Iterator[bytes]:
        """Stream the bytes under `key` in chunks; raise DocumentNotFound if absent.

        The iterator has a `close()`; a reader that stops early calls it to release the file or
        connection at once.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the bytes under `key` if present."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether bytes are stored under `key`."""

    @abstractmethod
    def documents(self) -> Iterator[StoredBytes]:
        """List every promoted document, in no particular order."""

    @abstractmethod
    def staged(self) -> Iterator[StoredBytes]:
        """List the bytes in the staging place, in no particular order."""

    @abstractmethod
    def remove(self, item: StoredBytes) -> None:
        """Remove listed bytes, promoted or staged, if still present."""
