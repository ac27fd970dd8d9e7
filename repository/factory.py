"""Pick the document store that a repository URL names."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from repository.filesystem import FilesystemDocumentStore
from repository.s3 import S3Connection, S3DocumentStore
from repository.store import DocumentStore


def open_document_store(url: str, *, s3: S3Connection | None = None) -> DocumentStore:
    """Open the document store for `url`: `file:///path` (or a plain path), or `s3://bucket/prefix`.

    An `s3://` URL needs `s3`, the service to find the bucket on.
    """
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        return FilesystemDocumentStore(Path(unquote(parsed.path) if parsed.scheme else url))
    if parsed.scheme == "s3":
        if s3 is None or not s3.endpoint:
            raise ValueError(f"repository URL {url!r} needs an S3 endpoint (XCADS_S3_ENDPOINT)")
        return S3DocumentStore.from_url(url, s3)
    raise ValueError(
        f"unsupported XCADS_REPOSITORY_URL scheme {parsed.scheme!r}: "
        "use file:///path or s3://bucket/prefix"
    )
