"""Passwords in connection URLs (issue 15 item 15): redacted everywhere they are shown, and never
written into a compiled job spec; /readyz names no host."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from featurestream.api.main import create_app
from featurestream.config import Config
from featurestream.definitions import Column, Source
from featurestream.jobs.compiler import compile_streaming_job
from featurestream.secrets import REDACTED, REDIS_PASSWORD_ENV, redact, split_password, with_password
from tests.support.registry import demo_registry
from tests.support.views import make_view

PASSWORD = "s3cr%2Ft-pw"  # percent-encoded '/' inside


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://:pw@cache:6379/0", "redis://:***@cache:6379/0"),
        ("rediss://app:p%40ss@cache/1", "rediss://app:***@cache/1"),
        (
            "cannot reach redis://u:pw@h:1/0, nor kafka://a:b@k:9093",
            "cannot reach redis://u:***@h:1/0, nor kafka://a:***@k:9093",
        ),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
        ("redis://user@cache:6379/0", "redis://user@cache:6379/0"),
        ("no url here: a:b@c", "no url here: a:b@c"),
    ],
)
def test_redact_hides_every_url_password(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(
    "url", ["redis://:pw@cache:6379/0", "rediss://app:p%40ss@cache/1", f"redis://u:{PASSWORD}@[::1]:7000/2"]
)
def test_split_and_restore_the_password(url: str) -> None:
    bare, password = split_password(url)
    assert password is not None and password not in bare and REDACTED not in bare
    assert split_password(with_password(bare, password)) == (bare, password)
    assert split_password("redis://cache:6379/0") == ("redis://cache:6379/0", None)


def test_a_compiled_job_spec_carries_no_password(tmp_path: Path) -> None:
    url = f"redis://app:{PASSWORD}@cache.internal:6379/0"
    config = Config(root=str(tmp_path), redis={"url": url}, offline={"path": str(tmp_path / "offline")})
    source = Source(
        name="txns",
        topic="transactions",
        columns=(Column("card_id", "STRING"), Column("amount", "DOUBLE"), Column("ts", "TIMESTAMP_LTZ(3)")),
        event_time="ts",
        watermark_delay=timedelta(seconds=5),
        event_id=None,
    )
    spec = compile_streaming_job(make_view("spend", ["card_id"], {"spend": "DOUBLE"}), source, config)
    text = json.dumps(spec)
    assert PASSWORD not in text and "s3cr" not in text
    assert redact(text) == text  # nothing left to redact
    (sink,) = [s for s in spec["statements"] if s.startswith("CREATE TEMPORARY TABLE `fs_online`")]
    assert "'url' = 'redis://app@cache.internal:6379/0'" in sink
    assert f"'password-env' = '{REDIS_PASSWORD_ENV}'" in sink
    # what the sink rebuilds on the TaskManager is the configured URL
    assert with_password("redis://app@cache.internal:6379/0", split_password(url)[1]) == url


def test_readyz_names_no_host(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo_registry(tmp_path / "state" / "registry.json", "default")
    cfg = Config(root=tmp_path, state_dir=str(tmp_path / "state"), redis={"url": f"redis://:pw@127.0.0.1:{port}/0"})
    with TestClient(create_app(cfg)) as c:
        r = c.get("/readyz")
    assert r.status_code == 503
    assert str(port) not in r.text and "127.0.0.1" not in r.text and "pw" not in r.text
    assert r.json()["redis"].startswith("down: ")
