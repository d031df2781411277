"""``featurestream init``: a new feature repo that ``plan``, ``apply`` and ``jobs submit`` accept as is.

The rule: the scaffold is a complete, working repo (config, one source, a windowed view, a
row-wise view, a feature service, an on-demand function, a README), and init never overwrites a
file that exists: it refuses and names the files, so running it in a non-empty folder is safe.
"""

from __future__ import annotations

import json
from pathlib import Path

from featurestream.config import CONFIG_FILE
from featurestream.errors import FeatureStreamError

__all__ = ["SCAFFOLD", "ScaffoldError", "init_repo"]


class ScaffoldError(FeatureStreamError):
    """``init`` would overwrite existing files, or the target is not a folder."""


_CONFIG = """\
# The feature repo's configuration. Every key has a default (see `featurestream --help` and
# docs/reference.md); environment variables override, e.g. FEATURESTREAM_REDIS_URL.
project: {project}
namespace: default
offline:
  path: .featurestream/offline
"""

_SOURCE = """\
-- topic: orders
-- event_id: order_id
-- format: json
-- description: Orders as the shop's checkout service emits them (one JSON object per message).
CREATE TABLE orders (
    order_id STRING NOT NULL,
    customer_id STRING NOT NULL,
    amount DOUBLE NOT NULL,
    items INT,
    event_time TIMESTAMP_LTZ(3) NOT NULL,
    WATERMARK FOR event_time AS event_time - INTERVAL '5' SECOND
);
"""

_WINDOWED = """\
-- name: customer_orders_1h
-- version: 1
-- entities: customer_id
-- ttl: 2h
-- freshness_sla: 5m
-- owner: you@example.com
-- description: Orders and spend per customer per hour (tumbling window).
-- defaults: orders_1h=0, spend_1h=0.0
SELECT
    customer_id,
    window_end AS feature_time,
    COUNT(*) AS orders_1h,
    SUM(amount) AS spend_1h
FROM TABLE(
    TUMBLE(TABLE orders, DESCRIPTOR(event_time), INTERVAL '1' HOUR)
)
GROUP BY
    customer_id,
    window_start,
    window_end
"""

_ROWWISE = """\
-- name: customer_last_order
-- version: 1
-- entities: customer_id
-- ttl: 30d
-- freshness_sla: 1m
-- owner: you@example.com
-- description: The customer's latest order (row-wise: one row per event, no window).
-- defaults: last_amount=0.0, last_items=0
SELECT
    customer_id,
    event_time AS feature_time,
    amount AS last_amount,
    COALESCE(items, 0) AS last_items
FROM orders
"""

_SERVICE = """\
name: churn_model
version: 1
owner: you@example.com
description: Features of the churn model.
features:
  - customer_orders_1h:orders_1h
  - customer_orders_1h:spend_1h
  - customer_last_order:last_amount
  - on_demand:amount_over_hourly_spend
"""

_UDF = '''\
"""Request-time (on-demand) features: computed by the server and the training-set builder alike."""

from __future__ import annotations

from featurestream.ondemand import on_demand


@on_demand(
    name="amount_over_hourly_spend",
    inputs=["amount", "customer_orders_1h:spend_1h"],
    dtype="DOUBLE",
    default=0.0,
    budget_ms=5,
)
def amount_over_hourly_spend(amount: float, spend_1h: float) -> float:
    """This request's amount as a share of the customer's spend in the last hour."""
    return float(amount) / float(spend_1h) if spend_1h else 0.0
'''

_README = """\
# {project}: a featurestream feature repo

```
featurestream.yaml                  configuration (every key has a default)
sql/sources/orders.sql              the orders stream: schema, event time + watermark, topic, event id
sql/features/customer_orders_1h.sql a windowed view (TUMBLE, 1 hour)
sql/features/customer_last_order.sql a row-wise view (latest order per customer)
sql/services/churn_model.yaml       a feature service: the features one model reads
udfs/orders.py                      an on-demand function, computed at request time
```

```bash
featurestream plan              # validate with Flink's planner; writes nothing
featurestream setup && featurestream up
featurestream apply             # register (all or nothing)
featurestream jobs submit --all # one streaming job per view: Kafka -> Redis + Parquet
featurestream serve             # HTTP: /get-online-features (Feast JSON) and /v1/features
```

Produce JSON events to the `orders` topic, then read features:

```bash
curl -s localhost:6566/get-online-features \\
  -d '{{"feature_service": "churn_model", "entities": {{"customer_id": ["c1"]}}}}'
```

A semantic change to a view gets a new `version` header; both versions serve side by side.
"""

SCAFFOLD: dict[str, str] = {
    CONFIG_FILE: _CONFIG,
    "sql/sources/orders.sql": _SOURCE,
    "sql/features/customer_orders_1h.sql": _WINDOWED,
    "sql/features/customer_last_order.sql": _ROWWISE,
    "sql/services/churn_model.yaml": _SERVICE,
    "udfs/orders.py": _UDF,
    "README.md": _README,
}


def init_repo(directory: Path, *, project: str | None = None) -> list[Path]:
    """Write the scaffold into ``directory`` (created if missing); returns the files written.

    Refuses, writing nothing, when any scaffold file already exists there.
    """
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise ScaffoldError(
            f"expected a folder for the new feature repo, found a file at {directory}", hint="pick another path"
        )
    name = project or directory.resolve().name or "features"
    taken = [rel for rel in SCAFFOLD if (directory / rel).exists()]
    if taken:
        raise ScaffoldError(
            f"expected no scaffold files in {directory}, found {', '.join(taken)}",
            hint="run init in an empty folder, or move these files away",
        )
    written = []
    for rel, text in SCAFFOLD.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if rel == CONFIG_FILE:
            text = text.format(project=json.dumps(name))  # a JSON string is a valid YAML scalar
        elif rel == "README.md":
            text = text.format(project=name)
        path.write_text(text)
        written.append(path)
    return written
