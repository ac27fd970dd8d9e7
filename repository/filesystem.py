"""Document bytes in a local folder: the embedded default store.

Good for a laptop or a single node; it offers no replication, so a hosted deployment uses the
S3 store instead.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from repository.naming import key_of, object_name
from repository.store import DocumentNotFound, DocumentStore, StagedDocument, StoredBytes

CHUNK_SIZE = 64 * 1024


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
        return self._path_of_name(object_name(key))

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
        # The modification time now says when the document became visible: `xcads repair`
        # leaves recent documents alone, as their registry transaction may not have committed.
        os.utime(target)
        # The bytes were synced when staged; syncing the folder makes the new name durable
        # before the registry commits, so a registry row that survives a crash finds its file.
        _sync_folder(target.parent)

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

    def documents(self) -> Iterator[StoredBytes]:
        """List every promoted document, shard by shard."""
        for shard in _entries(self.objects):
            if shard.is_dir(follow_symlinks=False):
                for entry in _entries(Path(shard.path)):
                    yield from _listed(entry, key_of(entry.name), staged=False)

    def staged(self) -> Iterator[StoredBytes]:
        """List the staging files."""
        for entry in _entries(self.staging):
            yield from _listed(entry, None, staged=True)

    def remove(self, item: StoredBytes) -> None:
        """Remove a listed document or staging file if still present."""
        path = self.staging / item.name if item.staged else self._path_of_name(item.name)
        path.unlink(missing_ok=True)

    def _path_of_name(self, name: str) -> Path:
        # A shard level keeps folders small at millions of documents.
        shard = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:2]
        return self.objects / shard / name


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _entries(folder: Path) -> Iterator[os.DirEntry]:
    with os.scandir(folder) as entries:
        yield from entries


def _listed(entry: os.DirEntry, key: str | None, *, staged: bool) -> Iterator[StoredBytes]:
    try:
        if not entry.is_file(follow_symlinks=False):
            return
        stat = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return  # promoted, discarded or removed since the folder was read
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    yield StoredBytes(name=entry.name, key=key, modified=modified, staged=staged)


def _read_chunks(file) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_SIZE):
            yield chunk
