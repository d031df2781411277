"""The online-store key and value encoding: the single implementation every reader and writer uses.

One Redis key per ``(namespace, view, version, entity)``::

    {<namespace>:<entity>}:<view>:<version>

The ``{...}`` part is a Redis Cluster hash tag, so every view of one entity lives in one slot and a
lookup of one entity touches one node. ``<entity>`` is the entity value, or for a composite key the
values in the view's declared entity order joined by ``|``; each value is ``str()``-ed with ``\\`` and
``|`` backslash-escaped, so ``("a|b", "c")`` and ``("a", "b|c")`` never collide.

A row whose entity value is NULL, or a string empty or of spaces only (:func:`is_keyless`), has no
key: it is never stored (it would collide as ``None`` or ``""``); writers count it instead, and the
streaming job dead-letters such events before they reach a window (``jobs.compiler``).

The value (**the compact row**) is a string: the whole row as ONE JSON array,
``[feature_time, created_at, value_1, ..., value_n]`` (:func:`encode_row`): times as integer epoch
ms UTC, then every feature of the view version in its declared order (``FeatureView.feature_names``,
fixed per version), each value as :func:`encode_value` writes it (orjson: numbers, strings,
booleans, lists, null; NaN and infinities become null). A read is one ``GET`` per entity and view
and one JSON parse; the write rule reads the two times from the row's head (:func:`row_times`, and
the same in Lua). A string, not a hash: a row is longer than a small hash's listpack values may be
(64 bytes by default), and the hash it would become costs twice the memory of the string.

A key written before the compact row holds a hash (**the per-feature layout**): ``_ft`` ->
``feature_time``, ``_ct`` -> ``created_at`` (epoch ms), and one field per feature name holding its
JSON value. It is still read: the read script returns its fields and :func:`row_text` turns them
into the same JSON array. The next applied write of the key replaces it with the compact row
(``online.scripts.WRITE_LUA``), so a store converts itself as rows are rewritten.

One more key, outside every namespace: :data:`GENERATION_KEY`, the store's generation marker
(written and read by :mod:`featurestream.online.generation`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

import orjson

__all__ = [
    "CREATED_FIELD",
    "FEATURE_TIME_FIELD",
    "GENERATION_KEY",
    "KEY_BLANKS",
    "ROW_HEAD",
    "RowLayout",
    "RowReply",
    "decode_entity",
    "decode_row",
    "decode_value",
    "encode_entity",
    "encode_row",
    "encode_value",
    "entity_key",
    "entity_keys",
    "entity_part",
    "is_keyless",
    "key_parts",
    "key_pattern",
    "row_layout",
    "row_text",
    "row_times",
]

FEATURE_TIME_FIELD = "_ft"
CREATED_FIELD = "_ct"
_FT, _CT = FEATURE_TIME_FIELD.encode(), CREATED_FIELD.encode()
# A row's JSON array starts with this many items (feature_time, created_at) before the values.
ROW_HEAD = 2
# The online store's generation marker (featurestream.online.generation); no namespace, no hash tag.
GENERATION_KEY = "featurestream:generation"

# The characters a blank entity value consists of (Flink SQL's TRIM removes exactly these).
KEY_BLANKS = " "

_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|"})
_ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _one(value: Any) -> str:
    s = value if isinstance(value, str) else str(value)
    if "\\" in s or "|" in s:
        return s.translate(_ESCAPES)
    return s


def is_keyless(value: Any) -> bool:
    """True when an entity value cannot key a row: ``None``, or a string empty or of spaces only."""
    return value is None or (isinstance(value, str) and not value.strip(KEY_BLANKS))


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


def key_parts(namespace: str, view_name: str, version: int | str) -> tuple[str, str]:
    """``(prefix, suffix)`` with ``prefix + entity + suffix`` the key of ``entity`` in one view version.

    The one place the key layout ``{<namespace>:<entity>}:<view>:<version>`` is written: the prefix is
    ``{<namespace>:`` and the suffix ``}:<view>:<version>``. Hot paths (lookups, bulk writes) compute the
    pair once per view and concatenate ``prefix + encode_entity(values) + suffix`` per key.
    """
    return "{" + namespace + ":", "}:" + view_name + ":" + str(version)


def entity_key(namespace: str, view_name: str, version: int, entity: str) -> str:
    """The Redis key of one entity's row in one view version; ``entity`` from :func:`encode_entity`."""
    prefix, suffix = key_parts(namespace, view_name, version)
    return prefix + entity + suffix


def entity_keys(prefix: str, suffix: str, columns: Sequence[Sequence[Any]]) -> list[str]:
    """The keys of many entities of one view version, from :func:`key_parts` and one column of values
    per entity key (declared order, equal lengths): the lookup hot path, one call per view.

    Same keys as :func:`entity_key` with :func:`encode_entity`; a plain string without ``|`` or ``\\``
    (the common single-key case) is used as is, without a call.
    """
    if len(columns) == 1:
        return [
            prefix + (v if type(v) is str and "|" not in v and "\\" not in v else _one(v)) + suffix for v in columns[0]
        ]
    return [prefix + encode_entity(vals) + suffix for vals in zip(*columns, strict=True)]


def key_pattern(namespace: str, view_name: str, version: int | str) -> str:
    """The SCAN MATCH pattern of every key of one view version; ``"*"`` for ``view_name`` and
    ``version`` matches every view of the namespace. Names are not glob-escaped (registry names are
    ``[a-z][a-z0-9_]*``)."""
    prefix, suffix = key_parts(namespace, view_name, version)
    return prefix + "*" + suffix


def entity_part(namespace: str, view_name: str, version: int, key: str | bytes) -> str:
    """The inverse of :func:`entity_key`: the (still encoded) entity part of a key of this view version;
    :func:`decode_entity` turns it into values. Raises ``ValueError`` for a key of another view."""
    text = key.decode() if isinstance(key, bytes) else key
    prefix, suffix = key_parts(namespace, view_name, version)
    if not (text.startswith(prefix) and text.endswith(suffix) and len(text) >= len(prefix) + len(suffix)):
        raise ValueError(f"expected a key {prefix}<entity>{suffix}, found {text!r}")
    return text[len(prefix) : len(text) - len(suffix)]


def encode_value(value: Any) -> bytes:
    """A feature value -> the bytes stored in its hash field (JSON)."""
    return orjson.dumps(value, option=_ORJSON_OPTS)


def decode_value(raw: bytes | None) -> Any:
    """Stored bytes -> the feature value (``None`` for a missing field)."""
    return None if raw is None else orjson.loads(raw)


def encode_row(feature_time_ms: int, created_ms: int, values: Sequence[Any]) -> bytes:
    """One row -> the stored bytes: ``[feature_time, created_at, value_1, ..., value_n]``
    with the values in the view version's feature order, each as :func:`encode_value` writes it.
    (``online.columnar.encode_rows`` is the vectorised form; a test keeps the two equal.)"""
    return b"[%d,%d,%b]" % (feature_time_ms, created_ms, b",".join(encode_value(v) for v in values))


@dataclass(frozen=True)
class RowLayout:
    """Where each feature of a view version sits in its stored row (:func:`row_layout`)."""

    names: tuple[bytes, ...]  # the feature names, UTF-8, in order: how a per-feature hash is read (row_text)
    positions: Mapping[str, int]  # feature -> its index in the row: ROW_HEAD + its position
    null_row: bytes  # the JSON array of a missing row: null at every position


@lru_cache(maxsize=4096)
def row_layout(feature_names: tuple[str, ...]) -> RowLayout:
    """The :class:`RowLayout` of a view version's ``feature_names`` (``FeatureView.feature_names``),
    derived once per feature list."""
    return RowLayout(
        names=tuple(n.encode() for n in feature_names),
        positions={n: ROW_HEAD + i for i, n in enumerate(feature_names)},
        null_row=b"[" + b",".join([b"null"] * (ROW_HEAD + len(feature_names))) + b"]",
    )


RowReply: TypeAlias = bytes | Sequence[bytes] | Mapping[bytes, bytes] | None
"""One key's reply from a row read: the bytes of a compact row; ``None`` for no row; for a hash in
the per-feature layout, its fields and values (``HGETALL``: a flat list from the read script, a
mapping from a redis-py client)."""


def _hash_fields(reply: Sequence[bytes] | Mapping[bytes, bytes]) -> Mapping[bytes, bytes]:
    """A per-feature hash's fields from either reply shape (a mapping, or HGETALL's flat list)."""
    return reply if isinstance(reply, Mapping) else dict(zip(reply[::2], reply[1::2], strict=True))


def row_text(reply: RowReply, names: Sequence[bytes]) -> bytes | None:
    """One key's :data:`RowReply` -> the row's JSON array text as :func:`encode_row` writes it, or
    ``None`` when the key holds no row. ``names`` are the view version's feature names, UTF-8, in
    order: a per-feature hash is turned into ``[_ft, _ct, value_1, ..., value_n]`` by them (a missing
    field is ``null``). A compact row is returned as it is."""
    if reply is None or isinstance(reply, bytes):
        return reply
    fields = _hash_fields(reply)
    if not fields:
        return None
    items = [fields.get(_FT), fields.get(_CT), *(fields.get(n) for n in names)]
    return b"[" + b",".join(b"null" if v is None else v for v in items) + b"]"


def decode_row(reply: RowReply, names: Sequence[bytes]) -> list[Any] | None:
    """One key's :data:`RowReply` -> ``[feature_time_ms, created_ms, value_1, ..., value_n]``
    (``created_ms`` may be ``None`` in a per-feature hash), or ``None`` when the key holds no row."""
    text = row_text(reply, names)
    return None if text is None else orjson.loads(text)


def row_times(reply: RowReply) -> tuple[int, int | None] | None:
    """``(feature_time_ms, created_ms)`` of one key's :data:`RowReply` without decoding its values
    (``created_ms`` may be ``None`` in a per-feature hash), or ``None`` when the key holds no row."""
    if reply is None:
        return None
    if isinstance(reply, bytes):
        a = reply.index(b",")
        b = reply.index(b",", a + 1)
        ct = reply[a + 1 : b]
        return int(reply[1:a]), None if ct == b"null" else int(ct)
    fields = _hash_fields(reply)
    if not fields:
        return None
    ct_raw = fields.get(_CT)
    return int(fields[_FT]), None if ct_raw is None else int(ct_raw)
