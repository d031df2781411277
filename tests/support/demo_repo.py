"""A small feature repo with monitoring-worthy data, for the monitoring tests (no Flink, no Kafka).

``build_demo_repo(root, redis_url)`` writes ``featurestream.yaml`` and the demo registry (from
:mod:`tests.support.registry`), then offline Parquet (via :func:`offline.layout.write_rows`) and online rows
(via :meth:`online.store.RedisOnlineStore.write_rows`):

* ``user_clicks_10m`` — fresh: hourly rows for ``hours`` hours up to 5 seconds ago; ``amount_10m``
  (log-normal, skewed) is shifted by a factor 1.8 in the last day (drift), ``distinct_items_10m`` is null in
  10 % of the last day's rows (missing values); online holds each user's newest row.
* ``card_spend_1h`` — stalled: its newest row is 3 hours old (SLA 5 minutes).
* ``user_sessions`` — fresh and stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from featurestream.config import Config, load_config
from featurestream.definitions import FeatureView
from featurestream.registry import Registry
from tests.support.registry import demo_registry

__all__ = ["DemoRepo", "build_demo_repo"]


@dataclass
class DemoRepo:
    config: Config
    registry: Registry
    now: datetime

    def view(self, name: str, version: int | None = None) -> FeatureView:
        return self.registry.get_view(self.config.namespace, name, version)


def _latest(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    newest: dict[Any, dict[str, Any]] = {}
    for r in rows:
        if r[key] not in newest or r["feature_time"] > newest[r[key]]["feature_time"]:
            newest[r[key]] = r
    return list(newest.values())


def build_demo_repo(
    root: Path, redis_url: str, *, namespace: str = "default", hours: int = 48, users: int = 300, seed: int = 1
) -> DemoRepo:
    from featurestream.offline.layout import write_rows
    from featurestream.online.store import RedisOnlineStore

    root.mkdir(parents=True, exist_ok=True)
    (root / "featurestream.yaml").write_text(
        f"project: monitoring-demo\nnamespace: {namespace}\nstate_dir: state\n"
        f"redis:\n  url: {redis_url}\noffline:\n  path: offline\n"
        "kafka:\n  bootstrap_servers: 127.0.0.1:1\nflink:\n  rest_url: http://127.0.0.1:1\n"
    )
    config = load_config(root, env={})
    registry = demo_registry(config.state_path / "registry.json", namespace)
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    end = now - timedelta(seconds=5)

    clicks: list[dict[str, Any]] = []
    for h in range(hours, 0, -1):
        ft = end - timedelta(hours=h - 1)
        recent = h <= 24
        for u in rng.choice(users, size=users // 3, replace=False):
            lag = float(rng.uniform(0.5, 3.0)) + (25.0 if h == 6 else 0.0)
            amount = float(rng.lognormal(3.0, 0.8)) * (1.8 if recent else 1.0)
            clicks.append(
                {
                    "user_id": f"u{u}",
                    "feature_time": ft,
                    "clicks_10m": int(rng.poisson(5)),
                    "amount_10m": round(amount, 4),
                    "distinct_items_10m": None if recent and rng.random() < 0.10 else int(rng.integers(0, 6)),
                    "created_at": ft + timedelta(seconds=lag),
                }
            )
    sessions: list[dict[str, Any]] = []
    for h in range(hours, 0, -1):
        ft = end - timedelta(hours=h - 1, minutes=3)
        for u in rng.choice(users, size=users // 6, replace=False):
            sessions.append(
                {
                    "user_id": f"u{u}",
                    "feature_time": ft,
                    "session_clicks": int(rng.poisson(8)),
                    "session_amount": round(float(rng.gamma(2.0, 20.0)), 4),
                    "session_minutes": round(float(rng.exponential(6.0)), 3),
                    "created_at": ft + timedelta(seconds=float(rng.uniform(1, 8))),
                }
            )
    stalled_end = now - timedelta(hours=3)
    spend: list[dict[str, Any]] = []
    for h in range(hours, 0, -1):
        ft = stalled_end - timedelta(hours=h - 1)
        for c in range(40):
            spend.append(
                {
                    "card_id": f"c{c}",
                    "feature_time": ft,
                    "spend_1h": round(float(rng.gamma(2.0, 30.0)), 4),
                    "txn_count_1h": int(rng.poisson(3)),
                    "max_amount_1h": round(float(rng.gamma(2.0, 12.0)), 4),
                    "created_at": ft + timedelta(seconds=float(rng.uniform(1, 4))),
                }
            )
    online = RedisOnlineStore.from_url(redis_url, namespace)
    try:
        for name, rows, key in (
            ("user_clicks_10m", clicks, "user_id"),
            ("user_sessions", sessions, "user_id"),
            ("card_spend_1h", spend, "card_id"),
        ):
            view = registry.get_view(namespace, name, 1)
            write_rows(config, view, rows)
            online.write_rows(view, _latest(rows, key))
    finally:
        online.close()
    return DemoRepo(config, registry, now)
