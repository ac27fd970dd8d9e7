"""Object names for document keys, shared by every document store."""

from __future__ import annotations

import hashlib
from urllib.parse import quote, unquote

# Longer encoded names would break the 255-byte file name limit of common file systems.
MAX_NAME_LENGTH = 200

# `%s` never occurs in a quoted name, so hashed names cannot collide with quoted ones.
HASHED_PREFIX = "%sha256-"


def object_name(key: str) -> str:
    """Return a name that is safe and unique for any key (uniqueId, UUID, free text).

    The name is a file name and an S3 key segment alike: no `/`, no leading dot, ASCII only.
    """
    name = quote(key, safe="")
    if name.startswith("."):
        name = "%2E" + name[1:]
    if len(name) > MAX_NAME_LENGTH:
        name = HASHED_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()
    return name


def key_of(name: str) -> str | None:
    """Return the key an object name was made from, or None for a hashed name."""
    if name.startswith(HASHED_PREFIX):
        return None
    return unquote(name)
