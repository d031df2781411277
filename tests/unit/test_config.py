from __future__ import annotations

from pathlib import Path

import pytest

from featurestream.config import load_config
from featurestream.errors import ConfigError


def test_defaults_without_file(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, env={})
    assert cfg.namespace == "default"
    assert cfg.redis.url == "redis://localhost:6379/0"
    assert cfg.state_path == tmp_path.resolve() / ".featurestream"


def test_file_and_env_overrides(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("namespace: risk\nserving:\n  port: 7000\n")
    cfg = load_config(
        tmp_path, env={"FEATURESTREAM_REDIS_URL": "redis://r:6380/1", "FEATURESTREAM__STACK__KAFKA__PORT": "19092"}
    )
    assert cfg.namespace == "risk"
    assert cfg.serving.port == 7000
    assert cfg.redis.url == "redis://r:6380/1"
    assert cfg.stack.kafka.port == 19092


def test_invalid_values_name_field_and_origin(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("serving:\n  port: 99999\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path, env={"FEATURESTREAM_REDIS_URL": "http://nope"})
    msg = str(exc.value)
    assert "serving.port" in msg and "redis.url" in msg and "FEATURESTREAM_REDIS_URL" in msg


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("redis:\n  uri: redis://x\n")
    with pytest.raises(ConfigError, match=r"redis\.uri"):
        load_config(tmp_path, env={})


def test_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path, env={})


def test_api_key_secret_not_printed(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text(
        "serving:\n  api_keys:\n    - {name: ci, key: s3cr3t-value, namespace: risk}\n"
    )
    cfg = load_config(tmp_path, env={})
    assert "s3cr3t-value" not in repr(cfg)
    key = cfg.serving.api_keys[0].key
    assert key is not None and key.get_secret_value() == "s3cr3t-value"
