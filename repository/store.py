"""The document storage seam: bytes in, bytes out, hashed while they pass."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class StagedDocument:
    """Bytes written to the store but not yet visible under their key."""

    token: str
    hash: str
    size: int


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
        """Stream the bytes under `key` in chunks; raise DocumentNotFound if absent."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the bytes under `key` if present."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether bytes are stored under `key`."""
