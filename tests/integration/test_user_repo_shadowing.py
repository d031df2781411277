"""A user feature repo with its own ``jobs/``, ``udfs/`` and ``online/`` packages applies, runs,
serves and trains correctly: nothing of featurestream can be shadowed by a user repo (issue 10).

The repo root is on ``sys.path`` (as on the job client, which puts ``config.root`` on PYTHONPATH),
its ``jobs`` and ``online`` packages raise on import, its ``udfs/__init__.py`` defines names that
clash with ours, and its ``udfs/`` folder holds a real on-demand function, served over HTTP and
computed in a training set.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from featurestream import generator
from featurestream.api.main import create_app
from featurestream.apply import apply
from featurestream.jobs.control import JobManager
from featurestream.store import FeatureStore
from tests.support.pipeline import isolated_repo, offline_rows, online_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MIN = 60_000

VIEW_SQL = """\
-- name: user_clicks_1m
-- version: 1
-- entities: user_id
-- ttl: 1d
-- freshness_sla: 1h
-- defaults: clicks_1m=0, amount_1m=0.0
SELECT
    user_id,
    window_end AS feature_time,
    COUNT(*) AS clicks_1m,
    SUM(amount) AS amount_1m
FROM TABLE(
    TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '1' MINUTE)
)
GROUP BY
    user_id,
    window_start,
    window_end
"""

SHADOWS = {
    "jobs/__init__.py": "raise ImportError('the user repo jobs/ package shadowed featurestream.jobs')\n",
    "jobs/compiler.py": "raise ImportError('the user repo jobs/compiler.py shadowed featurestream.jobs.compiler')\n",
    "online/__init__.py": "raise ImportError('the user repo online/ package shadowed featurestream.online')\n",
    # Loaded by path as the repo's on-demand folder: names that clash with ours, but no raise.
    "udfs/__init__.py": """\
        ondemand = "the user's own name"

        def load_udfs(*args, **kwargs):
            raise RuntimeError("the user repo udfs/ package was called instead of featurestream's")
        """,
    "udfs/helpers.py": """\
        def share(amount, total):
            return float(amount) / float(total) if total else 0.0
        """,
    "udfs/scoring.py": """\
        from featurestream.ondemand import on_demand

        from .helpers import share

        @on_demand(name="amount_share", inputs=["amount", "user_clicks_1m:amount_1m"], default=0.0)
        def amount_share(amount, amount_1m):
            \"\"\"This click's amount as a share of the user's clicks in the last closed minute.\"\"\"
            return share(amount, amount_1m)
        """,
}


def _user_repo(tmp_path: Path, base):  # type: ignore[no-untyped-def]
    cfg = isolated_repo(REPO, tmp_path, base)
    root = cfg.root
    shutil.rmtree(root / "sql" / "services")
    for path in (root / "sql" / "features").glob("*.sql"):
        path.unlink()
    (root / "sql" / "sources" / "transactions.sql").unlink()
    (root / "sql" / "features" / "user_clicks_1m.sql").write_text(VIEW_SQL)
    for rel, text in SHADOWS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return cfg


def _event(event_id: str, user: str, amount: float, t_ms: int) -> bytes:
    return json.dumps(
        {"event_id": event_id, "user_id": user, "item_id": "i1", "amount": amount, "event_time": t_ms}
    ).encode()


def test_user_repo_with_its_own_jobs_and_udfs_packages(  # type: ignore[no-untyped-def]
    stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _user_repo(tmp_path, stack.config)
    monkeypatch.syspath_prepend(str(cfg.root))
    monkeypatch.chdir(cfg.root)
    with pytest.raises(ImportError, match=r"shadowed featurestream\.jobs"):
        importlib.import_module("jobs")  # the shadow is real: a plain `import jobs` gets the user's
    importlib.import_module("featurestream.jobs.compiler")

    view = next(v for v in apply(cfg).new_views if v.name == "user_clicks_1m")
    jm = JobManager(cfg)
    job_id, _ = jm.submit(view)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = int((now - timedelta(minutes=5)).timestamp() * 1000)  # window [t0, t0 + 1 min)
    try:
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        payloads = [_event(f"e{i}", "u1", float(i), t0 + i * 1000) for i in (1, 2, 3)]
        payloads.append(_event("flush", "__flush__", 0.0, t0 + 3 * MIN))  # the watermark passes t0 + 1 min
        list(generator.produce(cfg.kafka.bootstrap_servers, cfg.kafka.topic_prefix + "clicks", payloads))
        wait_for(lambda: "u1" in online_rows(cfg.redis.url, view), 120, "the u1 row online")
        row = online_rows(cfg.redis.url, view)["u1"]
        assert (row["clicks_1m"], row["amount_1m"], row["_ft"]) == (3, 6.0, t0 + MIN)

        with TestClient(create_app(cfg)) as client:
            r = client.post(
                "/v1/features",
                json={
                    "features": ["user_clicks_1m:amount_1m", "on_demand:amount_share"],
                    "entities": {"user_id": ["u1"]},
                    "request_data": {"amount": [3.0]},
                },
            )
            assert r.status_code == 200, r.text
            got = r.json()["results"][0]["features"]
            assert got["user_clicks_1m:amount_1m"]["value"] == 6.0
            assert got["on_demand:amount_share"]["value"] == pytest.approx(0.5)
            assert got["on_demand:amount_share"]["status"] == "PRESENT"

        wait_for(lambda: offline_rows(cfg, view).num_rows > 0, 120, "offline rows (a checkpoint)")
        labels = pd.DataFrame(
            {
                "user_id": ["u1"],
                "event_timestamp": [pd.Timestamp(t0 + 2 * MIN, unit="ms", tz="UTC")],
                "amount": [3.0],
            }
        )
        df = FeatureStore(cfg.root, config=cfg).get_training_set(
            labels, ["user_clicks_1m:amount_1m", "on_demand:amount_share"]
        )
        assert df["amount_1m"].tolist() == [6.0]
        assert df["amount_share"].tolist() == [pytest.approx(0.5)]
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)
