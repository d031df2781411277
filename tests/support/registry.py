"""The demo feature repo (``sql/`` at the repo root) registered without Flink, for tests and benchmarks.

``demo_registry(path, namespace)`` parses ``sql/features/*.sql`` and ``sql/services/*.yaml``, fills
each view's output schema from :data:`DEMO_SCHEMAS` (what Flink would infer), adds a version 2 of
``card_spend_1h`` (one more feature) and saves it all to ``path``.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path

from featurestream.definitions import Column, FeatureService, FeatureView, parse_feature_service, parse_feature_view
from featurestream.online.keys import encode_row
from featurestream.registry import Registry

__all__ = ["DEMO_SCHEMAS", "REPO_ROOT", "demo_registry", "demo_services", "demo_views"]

REPO_ROOT = Path(__file__).resolve().parents[2]
_TS = Column("feature_time", "TIMESTAMP_LTZ(3)")
DEMO_SCHEMAS: dict[str, list[Column]] = {
    "user_clicks_10m": [
        Column("user_id", "STRING"),
        _TS,
        Column("clicks_10m", "BIGINT"),
        Column("amount_10m", "DOUBLE"),
        Column("distinct_items_10m", "BIGINT"),
    ],
    "card_spend_1h": [
        Column("card_id", "STRING"),
        _TS,
        Column("spend_1h", "DOUBLE"),
        Column("txn_count_1h", "BIGINT"),
        Column("max_amount_1h", "DOUBLE"),
    ],
    "user_sessions": [
        Column("user_id", "STRING"),
        _TS,
        Column("session_clicks", "BIGINT"),
        Column("session_amount", "DOUBLE"),
        Column("session_minutes", "DOUBLE"),
    ],
    "card_spend_today": [
        Column("card_id", "STRING"),
        _TS,
        Column("spend_today", "DOUBLE"),
        Column("txn_count_today", "BIGINT"),
    ],
}


def demo_views(namespace: str = "default", root: Path = REPO_ROOT) -> list[FeatureView]:
    views = []
    for path in sorted((root / "sql" / "features").glob("*.sql")):
        view = parse_feature_view(path.read_text(), str(path), namespace=namespace)
        views.append(view.with_features(DEMO_SCHEMAS[view.name]))
    v1 = next(v for v in views if v.name == "card_spend_1h")
    v2 = replace(
        v1,
        version=2,
        sql=v1.sql.replace(
            "MAX(amount) AS max_amount_1h", "MAX(amount) AS max_amount_1h,\n    AVG(amount) AS avg_amount_1h"
        ),
        defaults={**v1.defaults, "avg_amount_1h": -1.0},
    )
    views.append(v2.with_features([*DEMO_SCHEMAS["card_spend_1h"], Column("avg_amount_1h", "DOUBLE")]))
    return views


def demo_services(namespace: str = "default", root: Path = REPO_ROOT) -> list[FeatureService]:
    return [
        parse_feature_service(p.read_text(), str(p), namespace=namespace)
        for p in sorted((root / "sql" / "services").glob("*.yaml"))
    ]


def demo_registry(path: Path, namespace: str = "default", *, extra_services: list[FeatureService] = ()) -> Registry:  # type: ignore[assignment]
    """Register the demo views and services of ``namespace`` into the registry file at ``path``."""
    reg = Registry(path)
    reg.save(views=demo_views(namespace), services=[*demo_services(namespace), *extra_services])
    return reg


@cache
def _demo_feature_counts() -> dict[tuple[str, int], int]:
    return {(v.name, v.version): len(v.feature_names) for v in demo_views()}


def demo_row(key: str, value: bytes, feature_time_ms: int) -> bytes:
    """The compact row (``online.keys.encode_row``) a demo view's ``key`` holds when every feature
    is the raw JSON ``value`` (which may be deliberately not JSON), stored at ``feature_time_ms``."""
    view, version = key.rsplit("}:", 1)[1].rsplit(":", 1)
    n = _demo_feature_counts()[(view, int(version))]
    return encode_row(feature_time_ms, feature_time_ms, [None] * n).replace(b"null", value)
