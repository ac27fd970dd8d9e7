"""Document bytes in a local folder: the embedded default store.

Good for a laptop or a single node; it offers no replication, so a hosted deployment uses the
S3 store instead.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import quote

from repository.store import DocumentNotFound, DocumentStore, StagedDocument

CHUNK_SIZE = 64 * 1024

# Longer encoded names would break the 255-byte file name limit of common file systems.
MAX_NAME_LENGTH = 200


def object_name(key: str) -> str:
    """Return a file name that is safe and unique for any key (uniqueId, UUID, free text)."""
    name = quote(key, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > MAX_NAME_LENGTH:
        # `%s` never occurs in a quoted name, so hashed names cannot collide with quoted ones.
        name = "%sha256-" + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return name


class FilesystemDocumentStore(DocumentStore):
    """Documents as files under `root/objects`, staged in `root/staging`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging = self.root / "staging"
        self.objects = self.root / "objects"
        self.staging.mkdir(parents=True, exist_ok=True)
        self.objects.mkdir(parents=True, exist_ok=True)

    def path_for(self, key: str) -> Path:
        """Return where the bytes under `key` live."""
        name = object_name(key)
        # A shard level keeps folders small at millions of documents.
        shard = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:2]
        return self.objects / shard / name

    def stage(self, chunks: Iterable[bytes]) -> StagedDocument:
        """Write bytes to a staging file, computing SHA-1 and size as they pass."""
        token = uuid.uuid4().hex
        path = self.staging / token
        digest = hashlib.sha1(usedforsecurity=False)
        size = 0
        try:
            with path.open("wb") as file:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedDocument(token=token, hash=digest.hexdigest(), size=size)

    def promote(self, staged: StagedDocument, key: str) -> None:
        """Move staged bytes under `key` atomically."""
        target = self.path_for(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.staging / staged.token, target)

    def discard(self, staged: StagedDocument) -> None:
        """Remove a staging file."""
        (self.staging / staged.token).unlink(missing_ok=True)

    def open(self, key: str) -> Iterator[bytes]:
        """Stream the bytes under `key`; raises DocumentNotFound before the first chunk."""
        try:
            file = self.path_for(key).open("rb")
        except FileNotFoundError:
            raise DocumentNotFound(key) from None
        return _read_chunks(file)

    def delete(self, key: str) -> None:
        """Remove the bytes under `key` if present."""
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        """Tell whether bytes are stored under `key`."""
        return self.path_for(key).is_file()


def _read_chunks(file) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk
