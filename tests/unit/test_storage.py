"""Storage locations without services: joining, Flink URIs, config locations, local atomic writes."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestream import storage
from featurestream.config import Config, S3Config
from featurestream.errors import ConfigError


def test_join_keeps_uris_and_local_paths() -> None:
    assert storage.join("s3://b/offline/", "ns", "view", "v1") == "s3://b/offline/ns/view/v1"
    assert storage.join("s3://b", "x") == "s3://b/x"
    assert storage.join("/data/offline", "ns", "v1") == "/data/offline/ns/v1"
    assert storage.is_s3("s3://b/k") and not storage.is_s3("/tmp/x") and storage.is_uri("gs://b")


def test_flink_uris() -> None:
    assert storage.as_flink_uri("s3://b/offline") == "s3://b/offline"
    assert storage.as_flink_uri("/data/offline") == "file:///data/offline"


def test_config_locations(tmp_path: Path) -> None:
    local = Config(root=tmp_path, offline={"path": "data/offline"})
    assert local.offline_location == str(tmp_path.resolve() / "data/offline") and local.offline_is_local
    assert local.offline_path == Path(local.offline_location)
    assert Config(root=tmp_path, offline={"path": "file:///srv/offline"}).offline_location == "/srv/offline"
    remote = Config(root=tmp_path, offline={"path": "s3://b/offline/"}, registry_path="s3://b/registry.json")
    assert remote.offline_location == "s3://b/offline" and not remote.offline_is_local
    assert remote.registry_location == "s3://b/registry.json"
    with pytest.raises(ConfigError, match="expected a local directory"):
        _ = remote.offline_path
    with pytest.raises(ConfigError, match="expected a local file"):
        _ = remote.registry_file


def test_local_writes_are_atomic_and_leave_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b.json"
    storage.write_bytes(S3Config(), target, b"one")
    storage.write_bytes(S3Config(), str(target), b"two")
    assert storage.read_bytes(S3Config(), target) == b"two"
    assert [p.name for p in target.parent.iterdir()] == ["b.json"]
    assert storage.stamp(S3Config(), target) is not None and storage.stamp(S3Config(), tmp_path / "no") is None
    with pytest.raises(FileNotFoundError):
        storage.read_bytes(S3Config(), tmp_path / "missing")


def test_unknown_schemes_and_bucketless_uris_are_refused() -> None:
    with pytest.raises(storage.StorageError, match="expected a local path, file:// or s3://"):
        storage.filesystem(S3Config(), "gs://bucket/x")
    with pytest.raises(storage.StorageError, match="expected s3://bucket/prefix"):
        storage.filesystem(S3Config(), "s3:///key")
