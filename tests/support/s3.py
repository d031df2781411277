"""A private moto S3 server for tests: started on a free port under a temp dir, stopped by pid.

Not the shared stack: each test module that needs S3 starts its own (``moto[server]`` is in the dev
extras). Credentials are dummies set in the environment, as featurestream reads them from there.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from featurestream.config import S3Config
from tests.support.remote_cluster import MotoS3

__all__ = ["TEST_CREDENTIALS", "free_port", "moto_s3", "moto_s3_with_credentials", "s3_config"]

TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "featurestream-test", "AWS_SECRET_ACCESS_KEY": "featurestream-test-secret"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def moto_s3(work: Path, buckets: tuple[str, ...] = ()) -> Iterator[MotoS3]:
    """A running moto S3 server with ``buckets`` created; the test credentials must be in the environment."""
    work.mkdir(parents=True, exist_ok=True)
    missing = [k for k in TEST_CREDENTIALS if k not in os.environ]
    if missing:
        raise RuntimeError(f"set {missing} in the environment before starting moto (monkeypatch.setenv)")
    store = MotoS3(work, free_port())
    store.start()
    try:
        for bucket in buckets:
            store.client().create_bucket(Bucket=bucket)
        yield store
    finally:
        store.stop()


@contextlib.contextmanager
def moto_s3_with_credentials(work: Path, buckets: tuple[str, ...] = ()) -> Iterator[MotoS3]:
    """:func:`moto_s3` with the test credentials set in the environment for as long as it runs (for
    a module-scoped fixture, where the function-scoped ``monkeypatch`` is not available)."""
    import pytest

    with pytest.MonkeyPatch.context() as mp:
        for k, v in TEST_CREDENTIALS.items():
            mp.setenv(k, v)
        with moto_s3(work, buckets) as store:
            yield store


def s3_config(store: MotoS3) -> S3Config:
    """The featurestream settings reaching ``store`` (path-style, as most non-AWS stores need)."""
    return S3Config(endpoint=store.endpoint, path_style_access=True)
