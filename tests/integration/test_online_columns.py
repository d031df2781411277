"""The columnar writer against a real Redis: the same stored bytes as the row writer, the tie rule
(equal feature_time: the newer-or-equal created_at wins), replays and errors. (The streaming job's
sink, on the JVM, is held to the same bytes by test_redis_sink_parity.py.)"""

from __future__ import annotations

import functools
import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
import redis

from featurestream.columns import CREATED_AT, FEATURE_TIME
from featurestream.definitions import FeatureView
from featurestream.online.errors import OnlineStoreError
from featurestream.online.keys import ROW_HEAD, decode_row, entity_key, row_times
from featurestream.online.store import FillProbe, RedisOnlineStore
from tests.support.views import make_view

pytestmark = pytest.mark.integration

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
Fill = bool | FillProbe  # False: write_columns' default probe; a probe name: fill=True with that fill_probe
FEATURES = {
    "n": "BIGINT",
    "x": "DOUBLE",
    "s": "STRING",
    "b": "BOOLEAN",
    "emb": "ARRAY<DOUBLE>",
    "ts": "TIMESTAMP_LTZ(3)",
}
VIEW = make_view("cols_view", ["card", "shop"], FEATURES, ttl=timedelta(days=2))
ODD = ["plain", "a|b", "back\\slash", "", 'quote"d', "new\nline", "nul\0", "é😀", "|", "\\|"]


def _rows(n: int) -> list[dict[str, Any]]:
    floats = [0.1, -0.0, 1e20, math.nan, math.inf, -math.inf, None, 5e-324, 1.5e-7, 123.0]
    return [
        {
            "card": ODD[i % len(ODD)] + str(i // len(ODD)),
            "shop": i % 7 if i % 11 else None,
            FEATURE_TIME: T0 + timedelta(seconds=i, microseconds=1500),
            CREATED_AT: None if i % 5 == 0 else T0 + timedelta(hours=1, milliseconds=i),
            "n": None if i % 9 == 0 else i * 10**9 - 3,
            "x": floats[i % len(floats)],
            "s": None if i % 8 == 0 else ODD[(i * 3) % len(ODD)],
            "b": None if i % 6 == 0 else bool(i % 2),
            "emb": None if i % 4 == 0 else [float(i), math.nan, 0.25][: i % 4],
            "ts": None if i % 3 == 0 else T0 - timedelta(days=i),
        }
        for i in range(n)
    ]


def _dump(store: RedisOnlineStore, view: FeatureView) -> dict[str, bytes]:
    """Every stored row of the view in the store's namespace (its bytes), keyed without the namespace."""
    client = store.client
    prefix = "{" + store.namespace + ":"
    out: dict[str, bytes] = {}
    for raw in client.scan_iter(match=prefix + "*", count=1000):
        key = raw.decode()
        row = client.get(key)
        assert isinstance(row, bytes)
        ttl = client.pttl(key)
        assert isinstance(ttl, int) and 0 < ttl <= view.ttl.total_seconds() * 1000
        out[key[len(prefix) :]] = row
    return out


def _store(redis_url: str, fill: Fill = False, **kw: Any) -> RedisOnlineStore:
    """A store in a fresh namespace; a ``fill`` probe name sets its ``fill_probe``."""
    if isinstance(fill, str):
        kw["fill_probe"] = fill
    return RedisOnlineStore.from_url(redis_url, "cols" + uuid.uuid4().hex[:8], **kw)


def test_columns_store_the_same_bytes_as_rows(redis_url: str) -> None:
    rows = _rows(300)
    names = list(rows[0])
    ct = T0 + timedelta(hours=2)
    by_rows = _store(redis_url)
    keyless = sum(1 for r in rows if r["shop"] is None)  # a NULL entity part: no key (#15 item 10)
    assert keyless == 28
    stats = by_rows.write_rows(VIEW, rows, created_at=ct)
    assert (stats.rows, stats.written, stats.keyless, stats.skipped) == (300, 300 - keyless, keyless, 0)
    want = _dump(by_rows, VIEW)
    assert len(want) == 300 - keyless
    assert not any("None" in k for k in want), "a NULL entity value is never stored as str(None)"
    sample = want[f"plain4|5}}:{VIEW.name}:1"]  # row 40
    assert row_times(sample) == (int(rows[40][FEATURE_TIME].timestamp() * 1000), int(ct.timestamp() * 1000))
    stored = dict(zip(VIEW.feature_names, orjson.loads(sample)[ROW_HEAD:], strict=True))
    assert b",0.1," in sample and (stored["x"], stored["s"], stored["emb"]) == (0.1, None, None)

    table = pa.Table.from_pylist(rows)
    frame = pd.DataFrame(rows).astype({"shop": "Int64", "n": "Int64"})  # a plain int64 column has no null
    inputs: dict[str, dict[str, Any]] = {
        "arrow": {c: table.column(c) for c in names},
        "lists": {c: [r[c] for r in rows] for c in names},
        "pandas": {c: frame[c] for c in names},
    }
    for kind, columns in inputs.items():
        store = _store(redis_url, chunk_rows=17, pipeline_chunks=4)  # many batches, sent ahead of replies
        stats = store.write_columns(VIEW, columns, created_at=ct)
        assert (stats.rows, stats.written, stats.keyless) == (300, 300 - keyless, keyless), kind
        assert _dump(store, VIEW) == want, kind


def test_numpy_columns_and_float32_match_their_python_values(redis_url: str) -> None:
    view = make_view("np_view", ["user_id"], {"f": "FLOAT", "i": "BIGINT"}, ttl=timedelta(hours=1))
    f32 = np.array([0.1, np.nan, 3.0], dtype=np.float32)
    ft = np.array([1, 2, 3], dtype=np.int64) + int(datetime.now(UTC).timestamp() * 1000)
    a, b = _store(redis_url), _store(redis_url)
    a.write_columns(
        view, {"user_id": np.array([7, 8, 9]), FEATURE_TIME: ft, "f": f32, "i": np.arange(3)}, created_at=10
    )
    b.write_rows(
        view,
        [
            {"user_id": int(u), FEATURE_TIME: int(t), "f": float(f), "i": int(i)}
            for u, t, f, i in zip([7, 8, 9], ft, f32, range(3), strict=True)
        ],
        created_at=10,
    )
    got, want = _dump(a, view), _dump(b, view)
    assert got == want and got[f"7}}:{view.name}:1"] == b"[%d,10,0.10000000149011612,0]" % ft[0]


def _one(store: RedisOnlineStore, ft: int, ct: int | None, value: float, fill: Fill = False) -> int:
    view = make_view("tie_view", ["k"], {"v": "DOUBLE"}, ttl=timedelta(hours=1))
    cols: dict[str, list[Any]] = {"k": ["a"], FEATURE_TIME: [ft], "v": [value]}
    if ct is not None:
        cols[CREATED_AT] = [ct]
    return store.write_columns(view, cols, fill=bool(fill)).written


def _stored(store: RedisOnlineStore) -> tuple[int, int, float]:
    raw = store.client.get(entity_key(store.namespace, "tie_view", 1, "a"))
    assert isinstance(raw, bytes)
    row = decode_row(raw, [b"v"])
    assert row is not None and tuple(row[:ROW_HEAD]) == row_times(raw)
    return row[0], row[1], float(row[ROW_HEAD])


# One rule, three probes (online.scripts: WRITE_LUA probes with GET, FILL_LUA with SET NX GET inside
# the script; the store's fill_probe="set-nx" sends a plain SET NX per row first and only the rows
# whose key was held on to WRITE_LUA): each rule test runs with all three.
FILL = pytest.mark.parametrize("fill", [False, "script", "set-nx"], ids=["get-probe", "fill-probe", "set-nx-probe"])


@FILL
def test_ties_of_feature_time_go_to_the_newer_or_equal_created_at(redis_url: str, fill: Fill) -> None:
    store = _store(redis_url, fill)
    one = functools.partial(_one, fill=fill)
    t = int(datetime.now(UTC).timestamp() * 1000)
    assert one(store, t, 1000, 1.0) == 1
    pttl = store.client.pttl(entity_key(store.namespace, "tie_view", 1, "a"))  # a new key gets the ttl
    assert isinstance(pttl, int) and 3_500_000 < pttl <= 3_600_000
    assert one(store, t, 999, 2.0) == 0  # an older computation of the same row never wins
    assert _stored(store) == (t, 1000, 1.0)
    assert one(store, t, 1000, 1.0) == 1  # a replay (same row) is applied again: idempotent
    assert one(store, t, 1001, 3.0) == 1  # a newer computation of the same row wins
    assert _stored(store) == (t, 1001, 3.0)
    assert one(store, t + 1, 5, 4.0) == 1  # a newer feature_time wins whatever its created_at
    assert one(store, t, 10**15, 5.0) == 0  # an older feature_time loses whatever its created_at
    assert _stored(store) == (t + 1, 5, 4.0)
    # a row in the per-feature layout (a hash, from before the compact row) is judged by its _ft and
    # _ct and replaced by the compact row; one without _ct (written before created_at was kept) loses a tie
    key = entity_key(store.namespace, "tie_view", 1, "a")
    store.client.delete(key)
    store.client.hset(key, mapping={"_ft": t + 1, "_ct": 50, "v": "7.0"})
    assert one(store, t + 1, 49, 6.0) == 0 and store.client.type(key) == b"hash"
    assert one(store, t, 10**15, 6.0) == 0 and store.client.type(key) == b"hash"
    assert one(store, t + 1, 50, 6.0) == 1 and _stored(store) == (t + 1, 50, 6.0)
    store.client.delete(key)
    store.client.hset(key, mapping={"_ft": t + 1, "v": "7.0"})
    assert one(store, t + 1, 1, 8.0) == 1 and _stored(store) == (t + 1, 1, 8.0)
    # a key holding a string that is not a row is refused, not overwritten
    store.client.set(key, "not a row")
    with pytest.raises(OnlineStoreError, match=r"WRONGTYPE .* not a featurestream row"):
        one(store, t + 2, 1, 9.0)
    assert store.client.get(key) == b"not a row"


@FILL
def test_ties_inside_one_batch_resolve_the_same_in_any_order(redis_url: str, fill: Fill) -> None:
    view = make_view("tie_batch", ["k"], {"v": "DOUBLE"}, ttl=timedelta(hours=1))
    t = int(datetime.now(UTC).timestamp() * 1000)
    rows = [(t, 5, 1.0), (t, 7, 2.0), (t, 6, 3.0), (t - 1, 9, 4.0)]
    results = []
    for order in (rows, rows[::-1], rows[1:] + rows[:1]):
        store = _store(redis_url, fill)
        store.write_columns(
            view,
            {
                "k": ["a"] * 4,
                FEATURE_TIME: [r[0] for r in order],
                CREATED_AT: [r[1] for r in order],
                "v": [r[2] for r in order],
            },
            fill=bool(fill),
        )
        row = store.read(view, [["a"]])[0]
        assert row is not None
        results.append((row.feature_time_ms, row.created_ms, row.values["v"]))
    assert results == [(t, 7, 2.0)] * 3


@FILL
def test_replaying_columns_converges_and_skips_older(redis_url: str, fill: Fill) -> None:
    store = _store(redis_url, fill, chunk_rows=10, pipeline_chunks=2)
    view = make_view("replay_view", ["k"], {"v": "DOUBLE"}, ttl=timedelta(hours=1))
    t = int(datetime.now(UTC).timestamp() * 1000)
    cols = {"k": pa.array([f"k{i % 97}" for i in range(500)]), FEATURE_TIME: pa.array(t + np.arange(500))}
    cols["v"] = pa.array(np.arange(500, dtype=np.float64))
    cols[CREATED_AT] = pa.array(np.full(500, 42))
    first = store.write_columns(view, cols, fill=bool(fill))
    assert first.rows == 500 and first.written == 500  # ascending feature_time: every row applies
    before = _dump(store, view)
    again = store.write_columns(view, cols, fill=bool(fill))
    assert again.written == 97  # only each key's newest row is a tie; the older ones are skipped
    assert _dump(store, view) == before
    assert store.read(view, [["k3"]])[0].values["v"] == 488.0  # type: ignore[union-attr]


# where the rows of the probe test go, by row number i: a new key (k<i>) or one of two hot keys.
# Batches there: rows [0, 7), then 42 rows each; the last three are [1897, 1939), [1939, 1981), [1981, 2000).
KEY_MIXES = {
    "mostly-new-keys": lambda i, r: i < 50 or r > 0.3,  # stays on SET NX, held rows sent on to the script
    "mostly-held-keys": lambda i, r: i < 50 or r > 0.9,  # the first chunk switches to the script
    "new-then-held": lambda i, r: i < 1897,  # switches at the end, with a SET NX batch in flight
}


@pytest.mark.parametrize("mix", KEY_MIXES)
def test_the_fill_probes_store_and_count_exactly_what_the_get_probe_does(redis_url: str, mix: str) -> None:
    """The same rows, in small pipelined batches (a key's rows spread over batches in flight, ties of
    both times with different values, so only the order decides), over the same partly filled store
    (rows, a per-feature hash): every probe ends with the same stored rows and the same counts,
    whether the set-nx probe stays on SET NX, switches to the script at once, or part-way. (Checked
    to fail when the held rows of a batch go to the script out of order, or when the switch sends
    script calls before the SET NX batch in flight was read: keep the first chunk mostly new.)"""
    view = make_view("probe_view", ["k"], {"v": "DOUBLE"}, ttl=timedelta(hours=1))
    rng = np.random.default_rng(7)
    t = int(datetime.now(UTC).timestamp() * 1000)
    n = 2000
    new = KEY_MIXES[mix]
    keys = [f"k{i}" if new(i, rng.random()) else f"k{rng.integers(0, 2)}" for i in range(n)]
    cols = {
        "k": pa.array(keys),
        FEATURE_TIME: pa.array(t + rng.integers(0, 2, n)),
        CREATED_AT: pa.array(rng.choice([0, 1, 1, 1], n)),  # mostly ties, so the order decides
        "v": pa.array(np.arange(n, dtype=np.float64)),
    }
    prefill = {"k": [f"k{i}" for i in range(9, 51, 3)], FEATURE_TIME: [t + 1] * 14, CREATED_AT: [1] * 14}
    results = []
    for fill in (False, "script", "set-nx"):
        store = _store(redis_url, fill, chunk_rows=7, pipeline_chunks=6)
        store.write_columns(view, {**prefill, "v": [-1.0] * 14})
        store.client.hset(entity_key(store.namespace, view.name, view.version, "k1"), mapping={"_ft": t + 1, "v": "7"})
        stats = store.write_columns(view, cols, fill=bool(fill))
        results.append((stats, _dump(store, view)))
    assert results[0][0].written not in (0, n)  # some rows lose: the rule really decides
    assert results[1] == results[0] and results[2] == results[0]


def test_bad_columns_are_refused_and_the_connection_stays_usable(redis_url: str) -> None:
    store = _store(redis_url)
    view = make_view("bad_view", ["k"], {"v": "DOUBLE"}, ttl=timedelta(hours=1))
    ok = {"k": ["a"], FEATURE_TIME: [1], "v": [1.0]}
    with pytest.raises(OnlineStoreError, match="lack 'v'"):
        store.write_columns(view, {"k": ["a"], FEATURE_TIME: [1]})
    with pytest.raises(OnlineStoreError, match="differ in length"):
        store.write_columns(view, {**ok, "v": [1.0, 2.0]})
    with pytest.raises(OnlineStoreError, match="naive"):
        store.write_columns(view, {**ok, FEATURE_TIME: pa.array([datetime(2024, 1, 1)], pa.timestamp("ms"))})
    with pytest.raises(OnlineStoreError, match="feature_time is null in row 1"):
        store.write_columns(view, {"k": ["a", "b"], FEATURE_TIME: pa.array([1, None]), "v": [1.0, 2.0]})
    with pytest.raises(OnlineStoreError, match="not JSON serializable"):
        store.write_columns(view, {**ok, "v": [object()]})
    # an error reply in the middle of a pipeline (a key of another type) is reported, and the
    # connection, still in step, serves the next write
    store.client.rpush(entity_key(store.namespace, "bad_view", 1, "str"), "not a row")
    cols = {"k": ["a", "str", "c"], FEATURE_TIME: [1, 1, 1], "v": [1.0, 2.0, 3.0]}
    store.chunk_rows = 1
    with pytest.raises(OnlineStoreError, match="WRONGTYPE"):
        store.write_columns(view, cols)
    assert store.write_columns(view, {**ok, FEATURE_TIME: [2]}).written == 1
    assert store.read(view, [["a"], ["c"]])[1] is not None


def test_store_against_a_missing_server_is_unavailable() -> None:
    from featurestream.online.errors import OnlineStoreUnavailable

    store = RedisOnlineStore(redis.Redis(port=1, socket_connect_timeout=0.5), "x")
    view = make_view("gone_view", ["k"], {"v": "DOUBLE"})
    with pytest.raises(OnlineStoreUnavailable, match="cannot write to Redis"):
        store.write_columns(view, {"k": ["a"], FEATURE_TIME: [1], "v": [1.0]})
