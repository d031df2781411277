"""Typed configuration: ``featurestream.yaml`` at the feature-repo root plus environment overrides.

Precedence (highest first): named environment variables (``FEATURESTREAM_REDIS_URL`` …), generic
nested overrides (``FEATURESTREAM__SERVING__PORT=7000``), the YAML file, the defaults below.
Defaults fit a 2-core / 24 GB machine running the whole local stack.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from featurestream.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "ApiKey",
    "Config",
    "FlinkStackConfig",
    "KafkaStackConfig",
    "MonitoringConfig",
    "OnDemandConfig",
    "RedisStackConfig",
    "ServingConfig",
    "load_config",
]

CONFIG_FILE = "featurestream.yaml"

# Named overrides: environment variable -> dotted path in the config.
ENV_ALIASES: dict[str, str] = {
    "FEATURESTREAM_NAMESPACE": "namespace",
    "FEATURESTREAM_STATE_DIR": "state_dir",
    "FEATURESTREAM_REDIS_URL": "redis.url",
    "FEATURESTREAM_KAFKA_BOOTSTRAP": "kafka.bootstrap_servers",
    "FEATURESTREAM_FLINK_REST_URL": "flink.rest_url",
    "FEATURESTREAM_OFFLINE_PATH": "offline.path",
    "FEATURESTREAM_SERVING_PORT": "serving.port",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaStackConfig(_Model):
    """The embedded single-node KRaft broker."""

    enabled: bool = True
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    heap: str = "768m"
    partitions: int = Field(2, ge=1)


class RedisStackConfig(_Model):
    """The embedded Redis (or Valkey) server."""

    enabled: bool = True
    port: int = Field(6379, ge=1, le=65535)
    maxmemory: str = "2gb"


class FlinkStackConfig(_Model):
    """The embedded Flink standalone cluster (one JobManager, one TaskManager)."""

    enabled: bool = True
    rest_port: int = Field(8081, ge=1, le=65535)
    rpc_port: int = Field(6123, ge=1, le=65535)
    jobmanager_memory: str = "1024m"
    taskmanager_memory: str = "4096m"
    task_slots: int = Field(8, ge=1)
    parallelism: int = Field(1, ge=1)
    checkpoint_interval: str = "5s"
    checkpoints_retained: int = Field(3, ge=1)


class StackConfig(_Model):
    # Where the Maven-resolved jars live; empty means one cache per user, shared by every feature
    # repo: $XDG_CACHE_HOME/featurestream/jars (default ~/.cache/featurestream/jars).
    jars_dir: str = ""
    kafka: KafkaStackConfig = KafkaStackConfig()
    redis: RedisStackConfig = RedisStackConfig()
    flink: FlinkStackConfig = FlinkStackConfig()
    startup_timeout_s: float = Field(120.0, gt=0)


class KafkaConfig(_Model):
    bootstrap_servers: str = "localhost:9092"
    # Prepended to every source topic (isolates environments or test runs on one cluster).
    topic_prefix: str = ""


class RedisConfig(_Model):
    url: str = "redis://localhost:6379/0"

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"expected a redis://, rediss:// or unix:// URL, found {v!r}")
        return v


class FlinkConfig(_Model):
    rest_url: str = "http://localhost:8081"
    # Mark a Kafka partition idle after this long without data (e.g. "30 s"), so it stops holding
    # the watermark back. Off by default: an idle partition that wakes up with older data would
    # otherwise turn its events late. Turn it on for topics with partitions that stay empty.
    source_idle_timeout: str = ""
    checkpoint_interval: str = "5 s"


class OfflineConfig(_Model):
    path: str = "data/offline"
    # DuckDB (training sets, ad-hoc SQL): spills to `duckdb_temp_directory` (default
    # `<state_dir>/duckdb_tmp`) beyond `duckdb_memory_limit`; `duckdb_threads` 0 = all cores.
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: Annotated[int, Field(ge=0)] = 0
    duckdb_temp_directory: str = ""


class ApiKey(_Model):
    """One API key; it reads and writes only its namespace. The key itself is never printed."""

    name: str
    key: SecretStr
    namespace: str


class ServingConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(6566, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    deadline_ms: float = Field(50.0, gt=0)
    max_entities: int = Field(1000, ge=1)
    cache_ttl_ms: float = Field(0.0, ge=0)
    # Empty means auth is off and every request uses the repo's `namespace`.
    api_keys: tuple[ApiKey, ...] = ()


class MonitoringConfig(_Model):
    """Monitoring: drift and quality thresholds, sampling bounds, and served-vector logging.

    ``log_served`` is off by default; when on, a ``log_sample_rate`` share of served vectors is
    queued (bounded, dropped when full) and written to Parquet by a background thread, never on
    the request path. ``refresh_interval_s`` > 0 refreshes the freshness gauges in the API.
    """

    psi_threshold: float = Field(0.2, gt=0)
    ks_threshold: float = Field(0.1, gt=0, le=1)
    psi_bins: int = Field(10, ge=2, le=100)
    null_rate_threshold: float = Field(0.05, ge=0, le=1)
    reference_window: str = "7d"
    current_window: str = "1d"
    max_rows: int = Field(1_000_000, ge=100)
    freshness_sample_keys: int = Field(2000, ge=1)
    audit_sample: int = Field(200, ge=1)
    refresh_interval_s: float = Field(0.0, ge=0)
    log_served: bool = False
    log_sample_rate: float = Field(0.01, ge=0, le=1)
    log_queue_size: int = Field(10_000, ge=1)
    log_flush_rows: int = Field(50_000, ge=1)
    log_flush_interval_s: float = Field(10.0, gt=0)

    @field_validator("reference_window", "current_window")
    @classmethod
    def _window(cls, v: str) -> str:
        from featurestream.durations import parse_duration

        parse_duration(v)  # raises ValueError naming the accepted forms
        return v


class OnDemandConfig(_Model):
    """Where the repo's on-demand (request-time) functions live: one setting read by the server,
    the training-set builder and everything else that runs them (``featurestream.ondemand.load_udfs``)."""

    # A folder of the feature repo (relative to its root, or absolute); a missing folder means
    # "no on-demand functions". Its modules load by path, so its name never clashes with a package.
    path: str = "udfs"


class Config(_Model):
    """The whole configuration of one feature repo."""

    project: str = "featurestream"
    namespace: str = "default"
    root: Path = Path(".")
    state_dir: str = ".featurestream"
    # Where the registry lives; empty means <state_dir>/registry.json.
    registry_path: str = ""
    stack: StackConfig = StackConfig()
    kafka: KafkaConfig = KafkaConfig()
    redis: RedisConfig = RedisConfig()
    flink: FlinkConfig = FlinkConfig()
    offline: OfflineConfig = OfflineConfig()
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()  # type: ignore[call-arg]  # (no pydantic mypy plugin)
    ondemand: OnDemandConfig = OnDemandConfig()

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "_-" for c in v):
            raise ValueError(f"namespace must be letters, digits, '_' or '-', found {v!r}")
        return v

    @property
    def state_path(self) -> Path:
        """Where pids, logs, jars, data of the local stack and the registry live."""
        p = Path(self.state_dir)
        return p if p.is_absolute() else (self.root / p).resolve()

    @property
    def jars_path(self) -> Path:
        """The Maven-resolved jars (setting ``stack.jars_dir``; default: the per-user cache), the one
        place ``setup`` writes them and the planner, Flink and Kafka read them."""
        if self.stack.jars_dir:
            p = Path(self.stack.jars_dir).expanduser()
            return p if p.is_absolute() else (self.root / p).resolve()
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "featurestream" / "jars"

    @property
    def registry_file(self) -> Path:
        if not self.registry_path:
            return self.state_path / "registry.json"
        p = Path(self.registry_path)
        return p if p.is_absolute() else (self.root / p).resolve()

    @property
    def ondemand_path(self) -> Path:
        """The folder of the repo's on-demand functions (setting ``ondemand.path``)."""
        p = Path(self.ondemand.path)
        return p if p.is_absolute() else (self.root / p).resolve()

    @property
    def offline_path(self) -> Path:
        p = Path(self.offline.path)
        return p if p.is_absolute() else (self.root / p).resolve()


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _env_overrides(env: dict[str, str]) -> list[tuple[str, str, str]]:
    """(variable, dotted path, value) for every override present in ``env``."""
    found: list[tuple[str, str, str]] = []
    for var, value in sorted(env.items()):
        if var in ENV_ALIASES:
            found.append((var, ENV_ALIASES[var], value))
        elif var.startswith("FEATURESTREAM__"):
            dotted = ".".join(p.lower() for p in var[len("FEATURESTREAM__") :].split("__") if p)
            found.append((var, dotted, value))
    return found


def load_config(root: str | Path = ".", *, env: dict[str, str] | None = None) -> Config:
    """Load ``featurestream.yaml`` from ``root`` (optional) and apply environment overrides.

    Raises :class:`ConfigError` naming the file, the field and what was expected.
    """
    root = Path(root).resolve()
    env = dict(os.environ) if env is None else env
    path = root / CONFIG_FILE
    data: dict[str, Any] = {}
    if path.exists():
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}", hint="fix the YAML syntax") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{path}: expected a mapping at the top level, found {type(loaded).__name__}",
                hint="write `key: value` lines, e.g. `namespace: default`",
            )
        data = loaded
    sources = {"<file>": str(path)}
    for var, dotted, value in _env_overrides(env):
        _set_dotted(data, dotted, value)
        sources[dotted] = var
    data["root"] = root
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            dotted = ".".join(str(p) for p in err["loc"])
            origin = sources.get(dotted, str(path))
            problems.append(f"{dotted} ({origin}): {err['msg']}")
        raise ConfigError(
            "invalid configuration:\n  " + "\n  ".join(problems),
            hint=f"correct these fields in {path} or the named environment variables",
        ) from exc
