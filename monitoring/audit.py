"""Online/offline consistency audit: does Redis serve what the offline store says it should?

For a sample of entities (half from the online keys, half from the offline rows that should be live):

* read the online row and its ``feature_time`` (one batched read);
* recompute the offline value for the same entity *at that feature_time* with the one PIT join
  (:func:`offline.pit.pit_join`), and compare per feature.

Mismatch kinds, per feature:

* ``value``   — the offline row at the same ``feature_time`` holds a different value;
* ``extra``   — online holds a row the offline store does not have at that ``feature_time``
  (no offline row, or only an older one);
* ``missing`` — the offline store has a row younger than the view's max age that online lacks
  (no online row, or an older one).

Floats compare with a relative and absolute tolerance of 1e-9 (JSON round trips); lists compare
element-wise.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.monitoring.online_scan import sample_keys
from featurestream.offline.duck import connect, quote, view_select
from featurestream.offline.pit import ViewRequest, pit_join
from featurestream.online.keys import decode_entity, entity_part
from featurestream.online.store import OnlineRow, RedisOnlineStore
from featurestream.semantics import default_for, to_epoch_ms, validity

__all__ = ["AuditReport", "FeatureAudit", "audit_view", "values_equal"]

_T = "__audit_t"
_FT = "__audit_ft"


def values_equal(a: Any, b: Any, *, tol: float = 1e-9) -> bool:
    """Equality for feature values after a JSON (online) or Parquet (offline) round trip."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b) and type(a) is type(b)
    if isinstance(a, int | float) and isinstance(b, int | float):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(float(a), float(b), rel_tol=tol, abs_tol=tol)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(values_equal(x, y, tol=tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class FeatureAudit:
    feature: str
    checked: int = 0
    value: int = 0
    missing: int = 0
    extra: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def mismatches(self) -> int:
        return self.value + self.missing + self.extra

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "checked": self.checked,
            "value": self.value,
            "missing": self.missing,
            "extra": self.extra,
            "mismatches": self.mismatches,
            "examples": self.examples,
        }


@dataclass
class AuditReport:
    view: str
    sampled_online: int
    sampled_offline: int
    entities: int
    features: list[FeatureAudit]
    seconds: float = 0.0

    @property
    def mismatches(self) -> int:
        return sum(f.mismatches for f in self.features)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "sampled_online": self.sampled_online,
            "sampled_offline": self.sampled_offline,
            "entities": self.entities,
            "mismatches": self.mismatches,
            "ok": self.ok,
            "seconds": self.seconds,
            "features": [f.to_dict() for f in self.features],
        }


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _offline_live(
    config: Config, view: FeatureView, now: datetime, n: int, seed: int
) -> list[tuple[tuple[Any, ...], int]]:
    """Up to ``n`` entities whose newest offline row is live at ``now`` (:func:`semantics.validity`):
    (entity, newest ft ms)."""
    con = connect(config)
    try:
        lo_ms = validity(view).fresh_after(to_epoch_ms(now))
        lo = datetime.fromtimestamp(lo_ms / 1000, UTC).replace(tzinfo=None)
        hi = now.astimezone(UTC).replace(tzinfo=None)
        select = view_select(con, config, view, start=lo.date(), end=(hi + timedelta(days=1)).date())
        keys = ", ".join(quote(k) for k in view.entities)
        sql = (
            f"SELECT {keys}, epoch_ms(max(feature_time)) FROM ({select}) "
            f"WHERE feature_time > ? AND feature_time <= ? GROUP BY ALL "
            f"USING SAMPLE reservoir({int(n)} ROWS) REPEATABLE ({int(seed)})"
        )
        rows = con.execute(sql, [lo, hi]).fetchall()
    finally:
        con.close()
    k = len(view.entities)
    return [(tuple(r[:k]), int(r[k])) for r in rows]


def _offline_at(
    config: Config, view: FeatureView, entities: list[tuple[str, ...]], times_ms: list[int]
) -> tuple[pa.Table, list[int | None]]:
    labels = pa.table(
        {
            **{e: pa.array([ent[i] for ent in entities], pa.string()) for i, e in enumerate(view.entities)},
            _T: pa.array(times_ms, pa.timestamp("ms")).cast(pa.timestamp("us", tz="UTC")),
        }
    )
    req = ViewRequest(
        view=view,
        columns=tuple((f, f) for f in view.feature_names),
        defaults=tuple(default_for(view, f) for f in view.feature_names),
        validity=validity(view),
        feature_time_column=_FT,
    )
    con = connect(config)
    try:
        table, _ = pit_join(con, config, labels, _T, [req])
    finally:
        con.close()
    fts = [None if v is None else int(v.timestamp() * 1000) for v in table[_FT].to_pylist()]
    return table, fts


def audit_view(
    config: Config,
    view: FeatureView,
    store: RedisOnlineStore,
    *,
    sample: int | None = None,
    now: datetime | None = None,
    seed: int = 0,
    examples: int = 5,
) -> AuditReport:
    """Audit ``view``: sample entities, compare online rows with the offline PIT value (module docs)."""
    started = time.perf_counter()
    n = sample or config.monitoring.audit_sample
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    found = sample_keys(store, view, max(n * 4, n))
    keys = found.keys if len(found.keys) <= n else rng.sample(found.keys, n)
    online_ents = [decode_entity(entity_part(store.namespace, view.name, view.version, k)) for k in keys]
    offline_live = _offline_live(config, view, now, n, seed)
    newest_offline: dict[tuple[str, ...], int] = {tuple(str(v) for v in e): ft for e, ft in offline_live}
    entities: list[tuple[str, ...]] = list(dict.fromkeys([*online_ents, *newest_offline]))
    rows: list[OnlineRow | None] = store.read(view, entities) if entities else []
    feats = {f: FeatureAudit(f) for f in view.feature_names}

    def note(
        fa: FeatureAudit, kind: str, ent: tuple[str, ...], on: Any, off: Any, on_ft: int | None, off_ft: int | None
    ) -> None:
        setattr(fa, kind, getattr(fa, kind) + 1)
        if len(fa.examples) < examples:
            fa.examples.append(
                {
                    "kind": kind,
                    "entity": dict(zip(view.entities, ent, strict=True)),
                    "online": on,
                    "offline": off,
                    "online_feature_time": _iso(on_ft),
                    "offline_feature_time": _iso(off_ft),
                }
            )

    present = [(e, r) for e, r in zip(entities, rows, strict=True) if r is not None]
    if present:
        table, off_fts = _offline_at(config, view, [e for e, _ in present], [r.feature_time_ms for _, r in present])
        columns = {f: table[f].to_pylist() for f in view.feature_names}
        for i, (ent, row) in enumerate(present):
            off_ft = off_fts[i]
            for f, fa in feats.items():
                fa.checked += 1
                on_v, off_v = row.values.get(f), columns[f][i]
                if off_ft is None or off_ft != row.feature_time_ms:
                    note(fa, "extra", ent, on_v, None if off_ft is None else off_v, row.feature_time_ms, off_ft)
                elif not values_equal(on_v, off_v):
                    note(fa, "value", ent, on_v, off_v, row.feature_time_ms, off_ft)
    for ent, maybe in zip(entities, rows, strict=True):
        newest = newest_offline.get(ent)
        if newest is None or (maybe is not None and maybe.feature_time_ms >= newest):
            continue
        for fa in feats.values():
            if maybe is None:
                fa.checked += 1
            note(
                fa,
                "missing",
                ent,
                None if maybe is None else maybe.values.get(fa.feature),
                None,
                None if maybe is None else maybe.feature_time_ms,
                newest,
            )
    return AuditReport(
        view=view.ref,
        sampled_online=len(online_ents),
        sampled_offline=len(newest_offline),
        entities=len(entities),
        features=list(feats.values()),
        seconds=time.perf_counter() - started,
    )
