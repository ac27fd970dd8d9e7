"""What every document store does, on the filesystem store and the S3 store alike."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator

import pytest

from repository.naming import key_of, object_name
from repository.store import DocumentNotFound

AWKWARD_KEYS = [
    "..",
    ".",
    "../../etc/passwd",
    "a/b\\c",
    "/leading/slash/",
    "urn:uuid:1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    "2.16.578.1.12.4.1.4.1^^^&x",
    "ø æ å \u0000 ?*",
    "%2E%2E",
    "x" * 1000,
]


class Source:
    """A document produced chunk by chunk, hashed as it goes, never held whole."""

    def __init__(self, size: int, chunk_size: int) -> None:
        self.size = size
        self.chunk_size = chunk_size
        self.digest = hashlib.sha1()

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        while sent < self.size:
            chunk = bytes([sent // self.chunk_size % 251]) * min(self.chunk_size, self.size - sent)
            self.digest.update(chunk)
            sent += len(chunk)
            yield chunk


def test_stage_computes_sha1_and_size_across_chunks(document_store):
    chunks = [b"a" * 70_000, b"b" * 3, b""]
    staged = document_store.stage(iter(chunks))
    assert staged.hash == hashlib.sha1(b"".join(chunks)).hexdigest()
    assert staged.size == 70_003


def test_stage_of_no_bytes_is_an_empty_document(document_store):
    staged = document_store.stage(iter([]))
    document_store.promote(staged, "empty")
    assert (staged.hash, staged.size) == (hashlib.sha1(b"").hexdigest(), 0)
    assert b"".join(document_store.open("empty")) == b""


def test_staged_bytes_are_invisible_until_promoted(document_store):
    staged = document_store.stage([b"hello"])
    assert not document_store.exists("1.2.3")
    assert [item.name for item in document_store.staged()] == [staged.token]

    document_store.promote(staged, "1.2.3")

    assert document_store.exists("1.2.3")
    assert b"".join(document_store.open("1.2.3")) == b"hello"
    assert list(document_store.staged()) == []


def test_promote_under_a_taken_key_replaces_the_bytes(document_store):
    document_store.promote(document_store.stage([b"first"]), "k")
    document_store.promote(document_store.stage([b"second"]), "k")
    assert b"".join(document_store.open("k")) == b"second"
    assert [item.key for item in document_store.documents()] == ["k"]


def test_open_streams_in_chunks(document_store):
    data = bytes(range(256)) * 1000
    document_store.promote(document_store.stage([data]), "doc")
    chunks = list(document_store.open("doc"))
    assert len(chunks) > 1
    assert b"".join(chunks) == data


def test_open_of_missing_key_raises_before_iteration(document_store):
    with pytest.raises(DocumentNotFound):
        document_store.open("nope")


def test_a_stream_closed_early_ends(document_store):
    document_store.promote(document_store.stage([b"z" * 300_000]), "doc")
    streams = [document_store.open("doc") for _ in range(40)]
    for stream in streams:
        next(stream)
        stream.close()
        assert list(stream) == []
    assert b"".join(document_store.open("doc")) == b"z" * 300_000


def test_discard_removes_staged_bytes(document_store):
    staged = document_store.stage([b"x"])
    document_store.discard(staged)
    assert list(document_store.staged()) == []


def test_failing_source_leaves_nothing_staged(document_store):
    def failing() -> Iterator[bytes]:
        yield b"a" * 6 * 1024 * 1024
        raise OSError("sender went away")

    with pytest.raises(OSError, match="sender went away"):
        document_store.stage(failing())

    assert list(document_store.staged()) == []
    assert list(document_store.documents()) == []


def test_delete_removes_promoted_bytes(document_store):
    document_store.promote(document_store.stage([b"x"]), "k")
    document_store.delete("k")
    assert not document_store.exists("k")
    document_store.delete("k")


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_any_unique_id_is_a_key(document_store, key):
    data = key.encode("utf-8")
    document_store.promote(document_store.stage([data]), key)

    assert document_store.exists(key)
    assert b"".join(document_store.open(key)) == data
    (listed,) = document_store.documents()
    assert listed.name == object_name(key)
    assert listed.key == (None if len(key) > 200 else key)


def test_listing_shows_documents_and_staged_bytes_apart(document_store):
    document_store.promote(document_store.stage([b"1"]), "1.2.1")
    document_store.promote(document_store.stage([b"2"]), "1.2.2")
    staged = document_store.stage([b"3"])

    documents = sorted(document_store.documents(), key=lambda item: item.name)
    (staging,) = document_store.staged()

    assert [(item.key, item.staged) for item in documents] == [("1.2.1", False), ("1.2.2", False)]
    assert (staging.name, staging.key, staging.staged) == (staged.token, None, True)
    assert all(item.modified.tzinfo is not None for item in [*documents, staging])


def test_remove_deletes_listed_bytes(document_store):
    document_store.promote(document_store.stage([b"1"]), "x" * 500)
    document_store.stage([b"2"])

    for item in [*document_store.documents(), *document_store.staged()]:
        document_store.remove(item)
        document_store.remove(item)

    assert list(document_store.documents()) == []
    assert list(document_store.staged()) == []


def test_50_mb_document_streams_in_and_out_without_being_held_whole(document_store):
    source = Source(50 * 1024 * 1024, chunk_size=256 * 1024)

    tracemalloc.start()
    try:
        staged = document_store.stage(source)
        _, stage_peak = tracemalloc.get_traced_memory()
        document_store.promote(staged, "big")

        tracemalloc.reset_peak()
        digest, size, largest = hashlib.sha1(), 0, 0
        for chunk in document_store.open("big"):
            digest.update(chunk)
            size += len(chunk)
            largest = max(largest, len(chunk))
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (staged.hash, staged.size) == (source.digest.hexdigest(), source.size)
    assert (digest.hexdigest(), size) == (source.digest.hexdigest(), source.size)
    assert largest <= 1024 * 1024
    assert stage_peak < 32 * 1024 * 1024
    assert open_peak < 4 * 1024 * 1024


def test_distinct_keys_get_distinct_object_names():
    keys = ["a.b", "a%2Eb", "A.b", ".a", "%2Ea", "x" * 300, "x" * 301]
    assert len({object_name(key) for key in keys}) == len(keys)


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_an_object_name_tells_its_key_unless_hashed(key):
    name = object_name(key)
    assert "/" not in name and not name.startswith(".") and name.isascii()
    assert key_of(name) == (None if len(key) > 200 else key)
