"""The embedded document store's own promises: files stay inside its folder, dated at promotion.

What every store does is in test_document_store.py.
"""

from __future__ import annotations

import os
import time

import pytest
from test_document_store import AWKWARD_KEYS

from repository.filesystem import FilesystemDocumentStore


@pytest.fixture
def store(tmp_path):
    return FilesystemDocumentStore(tmp_path / "documents")


@pytest.mark.parametrize("key", AWKWARD_KEYS)
def test_any_unique_id_maps_to_a_file_inside_the_store(store, key):
    store.promote(store.stage([key.encode("utf-8")]), key)
    path = store.path_for(key)
    assert path.resolve().is_relative_to(store.objects.resolve())
    assert path.is_file()


def test_a_promoted_file_is_dated_when_promoted(store):
    staged = store.stage([b"x"])
    long_ago = time.time() - 86_400
    os.utime(store.staging / staged.token, (long_ago, long_ago))

    store.promote(staged, "k")

    (listed,) = store.documents()
    assert time.time() - listed.modified.timestamp() < 60
