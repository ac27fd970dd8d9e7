"""The S3 store's own promises, on a real S3 server (SeaweedFS): credentials, bucket, layout.

What every store does, the S3 store included, is in test_document_store.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from uuid import uuid4

import pytest
from s3_server import ACCESS_KEY, BUCKET, SECRET_KEY, free_port

from repository.factory import open_document_store
from repository.filesystem import FilesystemDocumentStore
from repository.naming import object_name
from repository.s3 import S3AccessError, S3Connection, S3DocumentStore


def test_wrong_secret_key_is_refused_with_a_clear_error(seaweedfs, s3_url):
    with pytest.raises(S3AccessError) as raised:
        S3DocumentStore.from_url(s3_url, seaweedfs.connection_with("not-the-secret"))

    message = str(raised.value)
    assert seaweedfs.endpoint in message
    assert repr(ACCESS_KEY) in message
    assert "secret key" in message
    assert "not-the-secret" not in message and SECRET_KEY not in message


def test_unreachable_endpoint_is_a_clear_error():
    connection = S3Connection(endpoint=f"127.0.0.1:{free_port()}", secure=False)

    with pytest.raises(S3AccessError, match="cannot be reached"):
        S3DocumentStore.from_url("s3://xcads-nowhere/p", connection)


def test_missing_bucket_is_created(seaweedfs):
    bucket = f"xcads-{uuid4().hex[:12]}"
    assert not seaweedfs.client().bucket_exists(bucket)

    store = S3DocumentStore.from_url(f"s3://{bucket}", seaweedfs.connection)
    store.promote(store.stage([b"x"]), "k")

    assert seaweedfs.client().bucket_exists(bucket)
    S3DocumentStore.from_url(f"s3://{bucket}", seaweedfs.connection)


def test_objects_and_staged_bytes_live_under_the_prefix(seaweedfs):
    prefix = f"{uuid4().hex}/deep"
    store = S3DocumentStore.from_url(f"s3://{BUCKET}/{prefix}/", seaweedfs.connection)
    store.promote(store.stage([b"kept"]), "1.2.3^x")
    staged = store.stage([b"pending"])

    names = sorted(
        item.object_name
        for item in seaweedfs.client().list_objects(BUCKET, prefix=prefix, recursive=True)
    )

    assert names == [
        f"{prefix}/objects/{object_name('1.2.3^x')}",
        f"{prefix}/staging/{staged.token}",
    ]


@pytest.mark.parametrize("claimed_size", [None, 6 * 1024**3], ids=["copied", "composed"])
def test_promote_copies_server_side_in_one_request_up_to_5_gib_and_composes_beyond(
    seaweedfs, claimed_size
):
    store = S3DocumentStore.from_url(f"s3://{BUCKET}/{uuid4().hex}", seaweedfs.connection)
    staged = store.stage([b"promoted bytes"])
    if claimed_size is not None:
        # A staged size above one CopyObject's limit takes the part-by-part path.
        staged = dataclasses.replace(staged, size=claimed_size)

    store.promote(staged, "1.2.3")

    assert b"".join(store.open("1.2.3")) == b"promoted bytes"
    assert list(store.staged()) == []


def test_repository_url_scheme_picks_the_store(seaweedfs, s3_url, tmp_path: Path):
    assert isinstance(open_document_store(s3_url, s3=seaweedfs.connection), S3DocumentStore)
    assert isinstance(open_document_store(tmp_path.as_uri()), FilesystemDocumentStore)
    assert isinstance(open_document_store(str(tmp_path / "plain")), FilesystemDocumentStore)


def test_s3_url_without_endpoint_is_refused():
    with pytest.raises(ValueError, match="XCADS_S3_ENDPOINT"):
        open_document_store("s3://bucket/prefix")


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="s3://bucket/prefix"):
        open_document_store("gs://bucket/prefix")


@pytest.mark.parametrize(
    ("endpoint", "secure", "expected"),
    [
        ("minio:9000", True, ("minio:9000", True)),
        ("minio:9000", False, ("minio:9000", False)),
        ("http://minio:9000", True, ("minio:9000", False)),
        ("https://s3.example.org/", False, ("s3.example.org", True)),
    ],
)
def test_endpoint_is_host_and_port_or_a_url_whose_scheme_decides_tls(endpoint, secure, expected):
    assert S3Connection(endpoint=endpoint, secure=secure).host_and_tls() == expected


def test_endpoint_url_with_a_path_is_refused():
    with pytest.raises(ValueError, match="host:port"):
        S3Connection(endpoint="https://s3.example.org/bucket").host_and_tls()
