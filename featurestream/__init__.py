"""featurestream: real-time ML features. Flink SQL feature views, Redis online serving,
DuckDB point-in-time training sets, one definition for both paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from featurestream.config import Config, load_config
from featurestream.errors import FeatureStreamError

__all__ = ["Client", "Config", "FeatureStore", "FeatureStreamError", "load_config"]

if TYPE_CHECKING:
    from featurestream.client import Client
    from featurestream.store import FeatureStore


def __getattr__(name: str) -> Any:  # lazy: importing featurestream must not pull in DuckDB/pandas
    if name == "FeatureStore":
        from featurestream.store import FeatureStore

        return FeatureStore
    if name == "Client":
        from featurestream.client import Client

        return Client
    raise AttributeError(name)
