"""The embedded document store: staging, promotion, streaming and safe object names."""

from __future__ import annotations

import hashlib

import pytest

from repository.filesystem import FilesystemDocumentStore, object_name
from repository.store import DocumentNotFound


@pytest.fixture
def store(tmp_path):
    return FilesystemDocumentStore(tmp_path / "documents")


def test_stage_computes_sha1_and_size_across_chunks(store):
    chunks = [b"a" * 70_000, b"b" * 3, b""]
    staged = store.stage(iter(chunks))
    assert staged.hash == hashlib.sha1(b"".join(chunks)).hexdigest()
    assert staged.size == 70_003


def test_staged_bytes_are_invisible_until_promoted(store):
    staged = store.stage([b"hello"])
    assert not store.exists("1.2.3")
    store.promote(staged, "1.2.3")
    assert store.exists("1.2.3")
    assert b"".join(store.open("1.2.3")) == b"hello"
    assert list(store.staging.iterdir()) == []


def test_open_streams_in_chunks(store):
    data = bytes(range(256)) * 1000
    store.promote(store.stage([data]), "doc")
    chunks = list(store.open("doc"))
    assert len(chunks) > 1
    assert b"".join(chunks) == data


def test_open_of_missing_key_raises_before_iteration(store):
    with pytest.raises(DocumentNotFound):
        store.open("nope")


def test_discard_removes_staging_file(store):
    staged = store.stage([b"x"])
    store.discard(staged)
    assert list(store.staging.iterdir()) == []


def test_delete_removes_promoted_bytes(store):
    store.promote(store.stage([b"x"]), "k")
    store.delete("k")
    assert not store.exists("k")
    store.delete("k")


@pytest.mark.parametrize(
    "key",
    [
        "..",
        ".",
        "../../etc/passwd",
        "a/b\\c",
        "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "2.16.578.1.12.4.1.4.1^^^&x",
        "ø æ å \u0000 ?*",
        "x" * 1000,
    ],
)
def test_any_unique_id_maps_to_a_file_inside_the_store(store, key):
    store.promote(store.stage([key.encode("utf-8", "surrogatepass")]), key)
    path = store.path_for(key)
    assert path.resolve().is_relative_to(store.objects.resolve())
    assert b"".join(store.open(key)) == key.encode("utf-8", "surrogatepass")


def test_distinct_keys_get_distinct_names():
    keys = ["a.b", "a%2Eb", "A.b", ".a", "%2Ea", "x" * 300, "x" * 301]
    assert len({object_name(key) for key in keys}) == len(keys)
