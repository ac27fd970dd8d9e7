"""Document bytes in an S3-compatible object store (MinIO, SeaweedFS, AWS S3) through `minio`.

Objects live under `<prefix>/objects/<name>`, named as the filesystem store names its files;
staged bytes under `<prefix>/staging/<token>`. Bytes stream both ways: a document is uploaded
part by part as its chunks arrive and downloaded chunk by chunk, never held whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import certifi
import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.error import S3Error

from repository.naming import key_of, object_name
from repository.store import DocumentNotFound, DocumentStore, StagedDocument, StoredBytes

log = logging.getLogger("xcads.repository")

CHUNK_SIZE = 64 * 1024
# S3's smallest multipart part; an upload holds about two parts in memory. Parts go one at a
# time: minio's parallel uploader leaves its threads waiting forever when the source fails.
PART_SIZE = 5 * 1024 * 1024

# S3 copies an object of up to 5 GiB in one CopyObject request; larger ones part by part.
_LARGEST_COPY = 5 * 1024**3
_MISSING = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
_REFUSED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken"}
)


class S3AccessError(RuntimeError):
    """The object store cannot be reached, or refuses the configured credentials."""


@dataclass(frozen=True)
class S3Connection:
    """Where an S3 service is and how to sign in to it.

    `endpoint` is `host:port` or a URL (`https://host:port`, whose scheme then decides TLS);
    `ca_bundle` is a PEM file of the CAs to trust instead of the system's.
    """

    endpoint: str
    access_key: str | None = None
    secret_key: str | None = None
    region: str | None = None
    secure: bool = True
    ca_bundle: Path | None = None

    def host_and_tls(self) -> tuple[str, bool]:
        """Return the endpoint's `host:port` and whether it speaks TLS."""
        if "://" not in self.endpoint:
            return self.endpoint.strip().rstrip("/"), self.secure
        parsed = urlparse(self.endpoint.strip())
        if parsed.scheme not in ("http", "https") or parsed.path.strip("/") or not parsed.netloc:
            raise ValueError(
                f"S3 endpoint {self.endpoint!r} is neither host:port nor http(s)://host:port"
            )
        return parsed.netloc, parsed.scheme == "https"

    def client(self) -> Minio:
        """Open a minio client for this service."""
        host, secure = self.host_and_tls()
        ca_certs = self.ca_bundle or os.environ.get("SSL_CERT_FILE") or certifi.where()
        # Short connect timeout so that a wrong endpoint fails start-up quickly; a long read
        # timeout for slow large downloads.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10, read=300),
            maxsize=16,
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(ca_certs),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]
            ),
        )
        return Minio(
            host,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region or None,
            secure=secure,
            http_client=http,
        )


class S3DocumentStore(DocumentStore):
    """Documents as objects in one bucket under a key prefix; the bucket is made if missing."""

    def __init__(self, client: Minio, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        root = f"{self.prefix}/" if self.prefix else ""
        self.objects_prefix = f"{root}objects/"
        self.staging_prefix = f"{root}staging/"

    @classmethod
    def from_url(cls, url: str, connection: S3Connection) -> S3DocumentStore:
        """Open the store that `s3://bucket/prefix` names on `connection`, making the bucket.

        Raises S3AccessError, naming the endpoint and access key, when the service cannot be
        reached or refuses the credentials.
        """
        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError(f"an S3 repository URL reads s3://bucket/prefix, not {url!r}")
        store = cls(connection.client(), parsed.netloc, unquote(parsed.path))
        where = f"S3 at {connection.endpoint}"
        try:
            store.ensure_bucket()
        except S3Error as error:
            if error.code in _REFUSED:
                raise S3AccessError(
                    f"{where} refused access key {connection.access_key!r} for bucket "
                    f"{store.bucket!r} ({error.code}): check the access key and secret key"
                ) from None
            raise S3AccessError(f"{where}, bucket {store.bucket!r}: {error.code}") from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise S3AccessError(f"{where} cannot be reached: {error}") from error
        return store

    def ensure_bucket(self) -> None:
        """Make the bucket unless it exists."""
        if self.client.bucket_exists(self.bucket):
            return
        try:
            self.client.make_bucket(self.bucket)
        except S3Error as error:
            # Another instance made it first.
            if error.code != "BucketAlreadyOwnedByYou":
                raise
        log.info("s3.bucket_created bucket=%s", self.bucket)

    def stage(self, chunks: Iterable[bytes]) -> StagedDocument:
        """Upload bytes to a staging object part by part, computing SHA-1 and size as they pass."""
        token = uuid.uuid4().hex
        name = self.staging_prefix + token
        reader = _HashingReader(chunks)
        try:
            self.client.put_object(
                self.bucket,
                name,
                reader,
                length=-1,
                part_size=PART_SIZE,
                num_parallel_uploads=1,
            )
        except BaseException:
            # put_object aborts an unfinished multipart upload itself; a finished one is ours.
            self._remove_quietly(name)
            raise
        return StagedDocument(token=token, hash=reader.digest.hexdigest(), size=reader.size)

    def promote(self, staged: StagedDocument, key: str) -> None:
        """Copy staged bytes under `key` server-side, then drop the staging object."""
        staging = self.staging_prefix + staged.token
        if staged.size <= _LARGEST_COPY:
            # One CopyObject request; compose_object would first ask the object's size (HEAD).
            self.client.copy_object(
                self.bucket, self._object_of(key), CopySource(self.bucket, staging)
            )
        else:
            self.client.compose_object(
                self.bucket, self._object_of(key), [ComposeSource(self.bucket, staging)]
            )
        # The document is visible now; a staging object left behind is for `xcads repair`.
        self._remove_quietly(staging)

    def discard(self, staged: StagedDocument) -> None:
        """Remove a staging object."""
        self.client.remove_object(self.bucket, self.staging_prefix + staged.token)

    def open(self, key: str) -> Iterator[bytes]:
        """Stream the object under `key`; raises DocumentNotFound before the first chunk."""
        try:
            response = self.client.get_object(self.bucket, self._object_of(key))
        except S3Error as error:
            if error.code in _MISSING:
                raise DocumentNotFound(key) from None
            raise
        return _ObjectStream(response)

    def delete(self, key: str) -> None:
        """Remove the object under `key` if present."""
        self.client.remove_object(self.bucket, self._object_of(key))

    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under `key`."""
        try:
            self.client.stat_object(self.bucket, self._object_of(key))
        except S3Error as error:
            if error.code in _MISSING:
                return False
            raise
        return True

    def documents(self) -> Iterator[StoredBytes]:
        """List every promoted document, page by page."""
        for name, modified in self._list(self.objects_prefix):
            yield StoredBytes(name=name, key=key_of(name), modified=modified)

    def staged(self) -> Iterator[StoredBytes]:
        """List the staging objects."""
        for name, modified in self._list(self.staging_prefix):
            yield StoredBytes(name=name, key=None, modified=modified, staged=True)

    def remove(self, item: StoredBytes) -> None:
        """Remove a listed document or staging object if still present."""
        prefix = self.staging_prefix if item.staged else self.objects_prefix
        self.client.remove_object(self.bucket, prefix + item.name)

    def _object_of(self, key: str) -> str:
        return self.objects_prefix + object_name(key)

    def _list(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        for item in self.client.list_objects(self.bucket, prefix=prefix, recursive=True):
            name = item.object_name or ""
            if not item.is_dir and "/" not in name[len(prefix) :]:
                yield name[len(prefix) :], item.last_modified

    def _remove_quietly(self, name: str) -> None:
        try:
            self.client.remove_object(self.bucket, name)
        except Exception as error:
            log.warning("s3.remove_failed error=%s", type(error).__name__)


class _HashingReader:
    """A file-like view of a chunk iterator that hashes and counts bytes as they are read."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self.digest = hashlib.sha1(usedforsecurity=False)
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Return up to `size` bytes (all that remain when negative); empty at the end."""
        out = bytearray()
        while size < 0 or len(out) < size:
            if not self._pending:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self.digest.update(chunk)
                self.size += len(chunk)
                self._pending = memoryview(chunk)
            take = len(self._pending) if size < 0 else min(size - len(out), len(self._pending))
            out += self._pending[:take]
            self._pending = self._pending[take:]
        return bytes(out)


class _ObjectStream(Iterator[bytes]):
    """The chunks of one GET response; the connection goes back to the pool once read or closed."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response: urllib3.BaseHTTPResponse | None = response
        self._chunks = response.stream(CHUNK_SIZE)

    def __next__(self) -> bytes:
        """Return the next chunk."""
        if self._response is None:
            raise StopIteration
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._release(read_whole=True)
            raise
        except BaseException:
            self.close()
            raise
        return chunk

    def close(self) -> None:
        """Stop reading; the connection is closed, as unread bytes would spoil its next use."""
        self._release(read_whole=False)

    def __del__(self) -> None:
        self.close()

    def _release(self, *, read_whole: bool) -> None:
        response, self._response = self._response, None
        if response is None:
            return
        if not read_whole:
            response.close()
        response.release_conn()
