"""Security of the serving surface (issue 15 item 15): where keys come from and how they are kept,
no key in a URL, no open server by accident, and namespace isolation of monitoring gauges and the
on-demand listing."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from featurestream.api.auth import KeyRing
from featurestream.api.main import create_app
from featurestream.cli.serve import is_loopback, serve_command
from featurestream.config import ApiKey, Config, ServingConfig
from featurestream.errors import ConfigError
from featurestream.monitoring.ui import page
from tests.support.registry import demo_registry

DEAD_REDIS = "redis://127.0.0.1:1/0"


def _ring(*keys: ApiKey, root: Path = Path("."), env: dict[str, str] | None = None) -> KeyRing:
    return KeyRing(ServingConfig(api_keys=keys), "default", root=root, env=env or {})


def test_keys_come_from_the_environment_a_secret_file_or_a_hash(tmp_path: Path) -> None:
    (tmp_path / "team_b.key").write_text("key-from-file\n")
    ring = _ring(
        ApiKey(name="a", namespace="a", key_env="TEAM_A_KEY"),
        ApiKey(name="b", namespace="b", key_file="team_b.key"),
        ApiKey(name="c", namespace="c", key_sha256=hashlib.sha256(b"hashed-key").hexdigest()),
        root=tmp_path,
        env={"TEAM_A_KEY": "key-from-env"},
    )
    assert ring.namespace_for("key-from-env") == "a"
    assert ring.namespace_for("key-from-file") == "b"
    assert ring.namespace_for("hashed-key") == "c"


def test_only_digests_are_kept(tmp_path: Path) -> None:
    ring = _ring(ApiKey(name="a", namespace="a", key="plain-s3cret"))
    kept = repr(vars(ring))
    assert "plain-s3cret" not in kept and b"plain-s3cret" not in str(vars(ring)).encode()
    assert hashlib.sha256(b"plain-s3cret").digest() in [k[0] for k in ring._keys]


def test_a_missing_key_source_names_the_key_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'a'.*TEAM_A_KEY.*unset"):
        _ring(ApiKey(name="a", namespace="a", key_env="TEAM_A_KEY"))
    with pytest.raises(ConfigError, match=r"'b'.*secret file .*nope\.key"):
        _ring(ApiKey(name="b", namespace="b", key_file="nope.key"), root=tmp_path)


def test_a_key_has_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        ApiKey(name="a", namespace="a", key="x", key_env="X")
    with pytest.raises(ValueError, match="exactly one of"):
        ApiKey(name="a", namespace="a")


@pytest.fixture
def two_teams(tmp_path: Path) -> Config:
    reg = tmp_path / "state" / "registry.json"
    demo_registry(reg, "a")
    demo_registry(reg, "b")
    return Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        namespace="a",
        redis={"url": DEAD_REDIS},
        serving={
            "api_keys": [ApiKey(name="a", key="key-a", namespace="a"), ApiKey(name="b", key="key-b", namespace="b")]
        },
    )


def test_a_key_in_the_url_is_not_accepted(two_teams: Config) -> None:
    with TestClient(create_app(two_teams)) as c:
        for param in ("key", "api_key", "x-api-key", "token"):
            assert c.get(f"/v1/feature-views?{param}=key-a").status_code == 401
        assert c.get("/v1/feature-views", headers={"x-api-key": "key-a"}).status_code == 200
        c.cookies.set("featurestream_api_key", "key-a")
        assert c.get("/v1/feature-views").status_code == 200  # the dashboard's cookie
        # a request with a body needs the header: a cookie alone is refused before the body is read
        r = c.post("/v1/features", json={"features": ["card_spend_1h:spend_1h"], "entities": {"card_id": ["c"]}})
        assert r.status_code == 401


def test_the_dashboard_never_reads_a_key_from_the_url() -> None:
    html = page()
    assert 'params.get("key")' not in html and "featurestream_api_key" in html


def test_monitoring_gauges_are_labelled_with_the_callers_namespace(two_teams: Config) -> None:
    with TestClient(create_app(two_teams)) as c:
        r = c.get("/v1/monitoring/views/card_spend_1h/quality", headers={"x-api-key": "key-b"})
        assert r.status_code == 200, r.text
        metrics = c.get("/metrics").text
    rows = [line for line in metrics.splitlines() if line.startswith("featurestream_feature_null_rate{")]
    assert rows and all('namespace="b"' in line for line in rows), rows


def test_the_on_demand_listing_shows_only_what_the_namespace_can_run(tmp_path: Path) -> None:
    reg = tmp_path / "state" / "registry.json"
    demo_registry(reg, "a")  # namespace b has no views: functions reading a's views are not b's
    keys = [ApiKey(name="a", key="key-a", namespace="a"), ApiKey(name="b", key="key-b", namespace="b")]
    cfg = Config(
        root=tmp_path, state_dir=str(tmp_path / "state"), redis={"url": DEAD_REDIS}, serving={"api_keys": keys}
    )
    cfg = cfg.model_copy(update={"ondemand": cfg.ondemand.model_copy(update={"path": str(_udf_root())})})
    with TestClient(create_app(cfg)) as c:
        seen_a = {f["ref"]: f["inputs"] for f in c.get("/v1/on-demand-features", headers={"x-api-key": "key-a"}).json()}
        seen_b = {f["ref"]: f["inputs"] for f in c.get("/v1/on-demand-features", headers={"x-api-key": "key-b"}).json()}
    reads_views = {ref for ref, inputs in seen_a.items() if any(":" in i for i in inputs)}
    assert reads_views, seen_a
    assert not reads_views & set(seen_b)
    assert set(seen_b) == {ref for ref, inputs in seen_a.items() if not any(":" in i for i in inputs)}


def _udf_root() -> Path:
    return Path(__file__).resolve().parents[2] / "udfs"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("api.example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_serve_refuses_an_open_address_without_keys(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("namespace: t\n")
    result = CliRunner().invoke(serve_command, ["--repo", str(tmp_path), "--host", "0.0.0.0"])
    assert result.exit_code != 0
    assert "refusing to serve on 0.0.0.0 without API keys" in result.output and "--insecure" in result.output
