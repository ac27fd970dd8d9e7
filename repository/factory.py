"""Pick the document store that a repository URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from repository.filesystem import FilesystemDocumentStore
from repository.store import DocumentStore


def open_document_store(url: str) -> DocumentStore:
    """Open the document store for `url` (`file:///path` or a plain path)."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return FilesystemDocumentStore(Path(unquote(parsed.path) if parsed.scheme else url))
    raise ValueError(f"unsupported XCADS_REPOSITORY_URL scheme {parsed.scheme!r}: use file:///path")
