"""The ``featurestream-redis`` sink (jobs/java) encodes keys and rows as Python's ``online.keys`` does.

The Java encoder runs through its check entry point (``dev.featurestream.redis.EncoderCheck``) on
rows of every column type the sink takes, with tricky values (separators, backslashes, blanks,
unicode, quotes and control characters, NULLs, NaN and infinities, signed zeros, extreme floats,
FLOAT widening, timestamps before 1970 and with microseconds); the reference is the value a pandas
UDF received, written by ``online.keys`` (``encode_entity``, ``is_keyless``, ``encode_row``).

Keys must be equal byte for byte (keyless rows: no key on either side). Rows must read back equal:
the Java row parsed and re-encoded by orjson is Python's row byte for byte, so every float is the
same float64 (``-0.0`` included). The hand-picked rows are also byte-equal as written; of random
doubles a few are not, where Java 17's ``Double.toString`` is not the shortest text (Java 19+'s is),
and those still read back as the same double.
Needs the JVM and Maven (the jar is built as ``featurestream setup`` builds it), not the stack.
"""

from __future__ import annotations

import json
import math
import random
import struct
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from featurestream.config import Config
from featurestream.online.keys import encode_entity, encode_row, is_keyless, key_parts
from featurestream.stack.jars import ensure_format_jar, format_jar

pytestmark = pytest.mark.integration

PREFIX, SUFFIX = key_parts("ns:odd{", "view", 3)
ODD = ["plain", "a|b", "back\\slash", "", "   ", " x ", "\t", 'quote"d', "new\nline", "nul\0", "é😀", "|", "\\|", "\\"]
FLOATS = [0.1, -0.0, 0.0, 1e20, 1e16, 1e15, 1.5e-7, 1e-5, 123.0, 1.7976931348623157e308, math.nan, math.inf]
FLOATS += [-math.inf, 1 / 3, 12345.678, 0.000123, 1e22, 9007199254740993.0, 3.0, -2.5e-300, 2.2250738585072014e-308]
# Java 17's Double.toString is not the shortest text for these (4.9E-324, 5.6843418860808015E-14,
# 9.999999999999999E22); Java 19+ prints the shortest. They read back as the same double.
JAVA17_LONGER = [5e-324, 2.0**-44, 1e23]
TYPES = {  # column -> Flink SQL type; entities, feature_time, created_at, then the features
    "card": "STRING",
    "shop": "STRING",
    "feature_time": "TIMESTAMP(3)",
    "created_at": "TIMESTAMP(3)",
    "n": "BIGINT",
    "i": "INT",
    "x": "DOUBLE",
    "f": "FLOAT",
    "s": "STRING",
    "b": "BOOLEAN",
    "emb": "ARRAY<DOUBLE>",
    "tags": "ARRAY<STRING>",
    "ts": "TIMESTAMP(3)",
    "lts": "TIMESTAMP_LTZ(3)",
    "d": "DATE",
}
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW_MS = 1_800_000_000_123


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "card": None if i % 13 == 0 else ODD[i % len(ODD)] + ("" if i % 3 else str(i)),
            "shop": None if i % 17 == 0 else ODD[(i * 5) % len(ODD)],
            "feature_time": T0 + timedelta(seconds=i * 7919 - 10**6, microseconds=(i * 1500) % 10**6),
            "created_at": None if i % 5 == 0 else T0 + timedelta(hours=1, milliseconds=i),
            "n": None if i % 9 == 0 else (i * 10**9 - 3) * (-1) ** i,
            "i": None if i % 10 == 0 else i - 50,
            "x": FLOATS[i % len(FLOATS)],
            "f": None if i % 7 == 0 else _float32(FLOATS[(i * 3) % len(FLOATS)] * 1.1),
            "s": None if i % 8 == 0 else ODD[(i * 3) % len(ODD)] + "\x1f\x7f\b\f\r/",
            "b": None if i % 6 == 0 else bool(i % 2),
            "emb": None if i % 4 == 0 else [float(i), math.nan, 0.25, None, -0.0][: i % 6],
            "tags": None if i % 11 == 0 else [ODD[(i + k) % len(ODD)] for k in range(i % 3)] + [None],
            "ts": None if i % 3 == 0 else (T0 - timedelta(days=i, milliseconds=i)).replace(tzinfo=None),
            "lts": None if i % 4 == 1 else T0 + timedelta(days=i, milliseconds=7 * i),
            "d": None if i % 5 == 2 else date(1969, 12, 1) + timedelta(days=i * 3),
        }
        for i in range(n)
    ] + [
        {**{c: None for c in TYPES}, "card": "k", "shop": "v", "feature_time": T0, "x": v, "f": _float32(v)}
        for v in [*JAVA17_LONGER, *_random_doubles(3000)]
    ]


def _float32(v: float) -> float:
    """A FLOAT value as Python receives it: float32, widened to float64 (too large: infinity)."""
    with np.errstate(over="ignore"):
        return float(np.float32(v))


def _random_doubles(n: int) -> list[float]:
    rnd = random.Random(13)
    out: list[float] = []
    while len(out) < n:
        v = struct.unpack("<d", rnd.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(v):
            out.append(v if len(out) % 2 else float(f"{v:.{rnd.randint(1, 17)}g}"))  # short and long digits
    return out


def _micros(t: datetime) -> int:
    return (t.replace(tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _java_value(value: Any, dtype: str) -> Any:
    """A value as EncoderCheck reads it: floats as float.hex(), times as epoch us, dates as days."""
    if value is None:
        return None
    if dtype in ("DOUBLE", "FLOAT"):
        return value.hex() if math.isfinite(value) else ("nan" if math.isnan(value) else str(value))
    if dtype.startswith("TIMESTAMP"):
        return _micros(value)
    if dtype == "DATE":
        return (value - date(1970, 1, 1)).days
    if dtype.startswith("ARRAY"):
        return [_java_value(v, dtype[6:-1]) for v in value]
    return value


def _ms(t: datetime) -> int:
    return _micros(t) // 1000


def _python(row: dict[str, Any]) -> tuple[bytes | None, bytes]:
    """The reference: online.keys over the values a pandas UDF receives for these Flink types."""
    ents = [row["card"], row["shop"]]
    key = None if any(is_keyless(v) for v in ents) else (PREFIX + encode_entity(ents) + SUFFIX).encode()
    ct = NOW_MS if row["created_at"] is None else _ms(row["created_at"])
    values = [row[c] for c in list(TYPES)[4:]]
    return key, encode_row(_ms(row["feature_time"]), ct, values)


def _java(jar: Path, rows: list[dict[str, Any]]) -> list[tuple[bytes | None, bytes]]:
    import pyflink

    lib = Path(pyflink.__file__).parent / "lib"
    spec = {
        "prefix": PREFIX,
        "suffix": SUFFIX,
        "entities": 2,
        "now": NOW_MS,
        "types": list(TYPES.values()),
        "rows": [[_java_value(r[c], t) for c, t in TYPES.items()] for r in rows],
    }
    proc = subprocess.run(
        ["java", "-cp", f"{jar}:{lib}/*", "dev.featurestream.redis.EncoderCheck"],
        input=json.dumps(spec).encode(),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    out = []
    for line in proc.stdout.decode().splitlines():
        k, r = line.split("\t")
        out.append((None if k == "-" else bytes.fromhex(k), bytes.fromhex(r)))
    return out


def test_java_sink_encodes_keys_and_rows_as_python(repo_config: Config) -> None:
    config = repo_config
    ensure_format_jar(config.jars_path, quiet=True)
    rows = _rows(400)
    got = _java(format_jar(config.jars_path), rows)
    assert len(got) == len(rows)
    assert sum(1 for k, _ in got if k is None) > 20  # the keyless rules were exercised
    longer = 0
    for row, (jkey, jrow) in zip(rows, got, strict=True):
        pkey, prow = _python(row)
        assert jkey == pkey, (row, jkey, pkey)
        assert orjson.dumps(orjson.loads(jrow)) == prow, (row, jrow, prow)  # the same values, float64-exact
        longer += jrow != prow
    assert [r for _, r in got[:400]] == [_python(row)[1] for row in rows[:400]]  # hand-picked: byte for byte
    assert longer <= len(rows) // 20, f"{longer} of {len(rows)} rows differ in text"  # Java 17's longer doubles
