"""The online-store key and value encoding: the single implementation every reader and writer uses.

One Redis hash per ``(namespace, view, version, entity)``::

    {<namespace>:<entity>}:<view>:<version>

The ``{...}`` part is a Redis Cluster hash tag, so every view of one entity lives in one slot and a
lookup of one entity touches one node. ``<entity>`` is the entity value, or for a composite key the
values in the view's declared entity order joined by ``|``; each value is ``str()``-ed with ``\\`` and
``|`` backslash-escaped, so ``("a|b", "c")`` and ``("a", "b|c")`` never collide.

Hash fields: every feature name -> its value as JSON (orjson: numbers, strings, booleans, lists,
null; NaN and infinities become null); ``_ft`` -> ``feature_time`` as integer epoch ms
UTC; ``_ct`` -> ``created_at`` epoch ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

__all__ = [
    "CREATED_FIELD",
    "FEATURE_TIME_FIELD",
    "decode_entity",
    "decode_value",
    "encode_entity",
    "encode_value",
    "entity_key",
    "view_key_prefix",
]

FEATURE_TIME_FIELD = "_ft"
CREATED_FIELD = "_ct"

_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|"})
_ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _one(value: Any) -> str:
    s = value if isinstance(value, str) else str(value)
    if "\\" in s or "|" in s:
        return s.translate(_ESCAPES)
    return s


def encode_entity(values: Sequence[Any]) -> str:
    """Entity key values in the view's declared entity order -> the entity part of the key."""
    if len(values) == 1:
        return _one(values[0])
    return "|".join(_one(v) for v in values)


def decode_entity(text: str) -> tuple[str, ...]:
    """The inverse of :func:`encode_entity`: the entity part of a key -> its values, as strings."""
    parts: list[str] = []
    cur: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            cur.append(text[i + 1])
            i += 2
            continue
        if ch == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return tuple(parts)


def view_key_prefix(view_name: str, version: int) -> str:
    """The constant suffix ``:<view>:<version>`` of every key of one view version."""
    return f":{view_name}:{version}"


def entity_key(namespace: str, view_name: str, version: int, entity: str) -> str:
    """The Redis key of one entity's row in one view version; ``entity`` from :func:`encode_entity`."""
    return f"{{{namespace}:{entity}}}:{view_name}:{version}"


def encode_value(value: Any) -> bytes:
    """A feature value -> the bytes stored in its hash field (JSON)."""
    return orjson.dumps(value, option=_ORJSON_OPTS)


def decode_value(raw: bytes | None) -> Any:
    """Stored bytes -> the feature value (``None`` for a missing field)."""
    return None if raw is None else orjson.loads(raw)
