"""How the compiler renders the online sink: the ``featurestream-redis`` table (jobs/java) fed by a
plain INSERT, every rule an option taken from its Python owner (key parts, write script, ttl, URL
without its password), and no Python function left in the streaming job."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from featurestream.config import load_config
from featurestream.jobs.compiler import REDIS_SINK, compile_streaming_job, online_table_ddl
from featurestream.online.keys import key_parts
from featurestream.online.scripts import WRITE_LUA
from featurestream.online.store import key_ttl_ms
from featurestream.secrets import REDIS_PASSWORD_ENV
from tests.support.registry import demo_views
from tests.support.views import make_view, txn_source


def _cfg(tmp_path: Path, url: str = "redis://127.0.0.1:6379/0"):  # type: ignore[no-untyped-def]
    (tmp_path / "featurestream.yaml").write_text(f"redis:\n  url: {url}\n")
    return load_config(tmp_path, env={})


def _options(ddl: str) -> dict[str, str]:
    """The WITH options of a DDL statement (values unquoted, '' -> ')."""
    body = ddl[ddl.index(") WITH (") :]
    return {k: v.replace("''", "'") for k, v in re.findall(r"'((?:[^']|'')*)' = '((?:[^']|'')*)'", body)}


def test_online_sink_is_the_java_connector_with_every_rule_from_python(tmp_path: Path) -> None:
    view = make_view("spend", ["card_id", "shop"], {"spend": "DOUBLE", "n": "BIGINT NOT NULL"}, ttl=timedelta(hours=3))
    ddl = online_table_ddl(view, _cfg(tmp_path, "rediss://app:s3cret@cache.internal:6380/2"))
    prefix, suffix = key_parts(view.namespace, view.name, view.version)
    opts = _options(ddl)
    assert opts == {
        "connector": REDIS_SINK,
        "url": "rediss://app@cache.internal:6380/2",  # the password stays out of the job
        "password-env": REDIS_PASSWORD_ENV,
        "key.prefix": prefix,
        "key.suffix": suffix,
        "key.columns": "2",
        "ttl-ms": str(key_ttl_ms(view)),
        "write-script": WRITE_LUA,  # the very text of the write rule, quotes and all
    }
    assert key_ttl_ms(view) == 3 * 3600 * 1000
    assert "s3cret" not in ddl
    # <entities> (as STRING), feature_time, created_at, <features> (NOT NULL dropped), in that order
    cols = re.findall(r"^    `(\w+)` ([A-Z0-9()]+)", ddl, re.MULTILINE)
    assert cols == [
        ("card_id", "STRING"),
        ("shop", "STRING"),
        ("feature_time", "TIMESTAMP(3)"),
        ("created_at", "TIMESTAMP(3)"),
        ("spend", "DOUBLE"),
        ("n", "BIGINT"),
    ]


def test_streaming_job_inserts_rows_into_the_sink_without_python(tmp_path: Path) -> None:
    view = next(v for v in demo_views("default") if v.name == "card_spend_1h")
    spec = compile_streaming_job(view, txn_source(), _cfg(tmp_path))
    assert spec["python_functions"] == []
    assert not [k for k in spec["config"] if k.startswith("python.fn-execution")]
    (ddl,) = [s for s in spec["statements"] if s.startswith("CREATE TEMPORARY TABLE `fs_online`")]
    assert _options(ddl)["connector"] == REDIS_SINK
    feats = ", ".join(f"`{f}`" for f in view.feature_names)
    assert (
        f"INSERT INTO fs_online SELECT `card_id`, `feature_time`, created_at, {feats} FROM fs_rows" in spec["inserts"]
    )
    offline_only = compile_streaming_job(view, txn_source(), _cfg(tmp_path), online=False)
    assert not [i for i in offline_only["inserts"] if "fs_online" in i]
    assert not [s for s in offline_only["statements"] if "fs_online" in s]
