"""Typed configuration: ``featurestream.yaml`` at the feature-repo root plus environment overrides.

Precedence (highest first): named environment variables (``FEATURESTREAM_REDIS_URL`` …), generic
nested overrides (``FEATURESTREAM__SERVING__PORT=7000``), the YAML file, the defaults below.
Defaults fit a 2-core / 24 GB machine running the whole local stack.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from featurestream.errors import ConfigError
from featurestream.secrets import expand_tree

__all__ = [
    "CONFIG_FILE",
    "ApiKey",
    "Config",
    "DeployConfig",
    "FlinkStackConfig",
    "KafkaConfig",
    "KafkaStackConfig",
    "KafkaTopicsConfig",
    "MonitoringConfig",
    "OnDemandConfig",
    "RedisClusterStackConfig",
    "RedisStackConfig",
    "S3Config",
    "ServingConfig",
    "TopicSettings",
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
    """The embedded single-node KRaft broker.

    ``port`` is its PLAINTEXT listener (the stack's own tools use it). ``sasl_port`` > 0 adds a
    SASL_PLAINTEXT listener (mechanisms PLAIN and SCRAM-SHA-256) for the users of ``sasl_users``
    (name -> password; write passwords as ``${VAR}``), so a repo can be tested against a secured
    listener as teams run Kafka. See :mod:`featurestream.stack.kafka_sasl`.
    """

    enabled: bool = True
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    sasl_port: int = Field(0, ge=0, le=65535)  # 0 = no SASL listener
    sasl_users: dict[str, SecretStr] = {}
    heap: str = "768m"
    partitions: int = Field(2, ge=1)

    @model_validator(mode="after")
    def _sasl(self) -> KafkaStackConfig:
        if self.sasl_port and not self.sasl_users:
            raise ValueError(
                f"sasl_port is {self.sasl_port} but sasl_users is empty: a SASL listener nobody can log in to; "
                "add `sasl_users: {name: ${KAFKA_PASSWORD}}` or set sasl_port: 0"
            )
        if self.sasl_port and self.sasl_port in (self.port, self.controller_port):
            raise ValueError(
                f"sasl_port {self.sasl_port} is also the broker's port or controller_port; "
                "choose a free port (e.g. 9094)"
            )
        for name in self.sasl_users:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9._-]*", name):
                raise ValueError(
                    f"sasl_users: expected user names of letters, digits, '.', '_' and '-' (starting with a letter), "
                    f"found {name!r}"
                )
        return self


class RedisStackConfig(_Model):
    """The embedded Redis (or Valkey) server."""

    enabled: bool = True
    port: int = Field(6379, ge=1, le=65535)
    maxmemory: str = "2gb"


class RedisClusterStackConfig(_Model):
    """The local 3-master Redis Cluster (started on demand: ``featurestream up --only redis-cluster``).

    Masters listen on ``base_port`` .. ``base_port + masters - 1`` (cluster bus: port + 10000),
    hold no replicas and no persistence: each start creates a fresh, empty cluster.
    """

    enabled: bool = True
    base_port: int = Field(7000, ge=1, le=55535 - 16)
    masters: int = Field(3, ge=1, le=16)
    maxmemory: str = "256mb"


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
    # TaskManager processes (each with `task_slots` slots).
    taskmanagers: int = Field(1, ge=1)
    # The Python the cluster runs UDFs with (its `python.executable`): the cluster's own runtime,
    # never the feature repo. Empty means the interpreter running featurestream.
    python: str = ""


class StackConfig(_Model):
    # Where the Maven-resolved jars live; empty means one cache per user, shared by every feature
    # repo: $XDG_CACHE_HOME/featurestream/jars (default ~/.cache/featurestream/jars).
    jars_dir: str = ""
    # `setup` builds a class-data-sharing archive of the apply-time planner JVM's classes next to
    # the jars (jars_dir/planner-cds/) and the planner starts on it; false: neither.
    planner_cds: bool = True
    kafka: KafkaStackConfig = KafkaStackConfig()
    redis: RedisStackConfig = RedisStackConfig()
    redis_cluster: RedisClusterStackConfig = RedisClusterStackConfig()
    flink: FlinkStackConfig = FlinkStackConfig()
    startup_timeout_s: float = Field(120.0, gt=0)


class TopicSettings(_Model):
    """How featurestream creates a topic it needs (existing topics are never altered)."""

    partitions: int = Field(1, ge=1)
    replication_factor: int = Field(1, ge=1)


class KafkaTopicsConfig(_Model):
    """Partitions and replication of the topics ``jobs submit`` creates when missing: the source
    topic a view reads, and its job's dead-letter and late topics. Use RF 3 on a real cluster."""

    source: TopicSettings = TopicSettings(partitions=2)
    dlq: TopicSettings = TopicSettings(partitions=1)
    late: TopicSettings = TopicSettings(partitions=1)

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A partial entry (``dlq: {replication_factor: 3}``) keeps its kind's default partitions."""
        if not isinstance(data, dict):
            return data
        defaults = {"source": 2, "dlq": 1, "late": 1}
        return {
            k: ({"partitions": defaults[k], **v} if k in defaults and isinstance(v, dict) else v)
            for k, v in data.items()
        }


class KafkaConfig(_Model):
    """The Kafka cluster. ``properties`` are Java client properties (``security.protocol``,
    ``sasl.mechanism``, ``sasl.jaas.config``, PEM ``ssl.*`` files ...), passed verbatim to the Flink
    connector as ``properties.<key>`` and translated for every Python client; the accepted keys
    and their translation are :mod:`featurestream.kafka_props`' (checked at load). Write secrets as
    ``${VAR}`` (e.g. ``password="${KAFKA_PASSWORD}"`` inside ``sasl.jaas.config``)."""

    bootstrap_servers: str = "localhost:9092"
    # Prepended to every source topic (isolates environments or test runs on one cluster).
    topic_prefix: str = ""
    properties: dict[str, str] = {}
    topics: KafkaTopicsConfig = KafkaTopicsConfig()

    @field_validator("properties")
    @classmethod
    def _properties(cls, v: dict[str, str]) -> dict[str, str]:
        from featurestream.kafka_props import check_properties

        try:
            check_properties(v)
        except ConfigError as exc:  # pydantic wants ValueError; keep our message and hint
            raise ValueError(f"{exc.message}" + (f" (fix: {exc.hint})" if exc.hint else "")) from exc
        return v


_REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")


class RedisConfig(_Model):
    """The online store. ``url`` is the ONE setting that picks standalone Redis or Redis Cluster:

    * ``redis://[user:password@]host:6379/0`` (``rediss://`` for TLS, ``unix://``) -> one server;
    * ``redis+cluster://[user:password@]host:7000`` (``rediss+cluster://`` for TLS) -> a Redis
      Cluster seeded from that node (the other masters are discovered; database 0 only).

    The streaming jobs' sink, the HTTP server, ``materialize`` and monitoring all connect through
    :func:`featurestream.online.client.redis_client`, so the URL switches every one of them.
    Write the password as ``${REDIS_PASSWORD}`` to keep it out of the file (see :func:`load_config`).
    """

    url: str = "redis://localhost:6379/0"
    # The HTTP server only: the online store of another namespace it serves (an API key's
    # namespace) when that store is not `url`, e.g. {team_b: "redis://redis-b:6379/0"}. The repo's
    # own `namespace` always uses `url` (its jobs and materialize write there). Whatever the URL,
    # the server gives every namespace its own connection and its own breaker (api.stores), so an
    # outage or an exhausted pool in one namespace leaves the others served.
    namespaces: dict[str, str] = {}

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not v.startswith(_REDIS_SCHEMES):
            raise ValueError(
                f"expected a URL starting with one of {', '.join(_REDIS_SCHEMES)}, found {v.split('://')[0]}://"
            )
        return v

    @field_validator("namespaces")
    @classmethod
    def _namespace_urls(cls, v: dict[str, str]) -> dict[str, str]:
        for ns, url in v.items():
            if not url.startswith(_REDIS_SCHEMES):
                raise ValueError(
                    f"redis.namespaces.{ns}: expected a URL starting with one of {', '.join(_REDIS_SCHEMES)}, "
                    f"found {url.split('://')[0]}://"
                )
        return v


class FlinkConfig(_Model):
    """The Flink cluster jobs run on: any REST endpoint, not only the local stack's.

    ``checkpoints_dir`` / ``savepoints_dir`` (URIs such as ``s3://bucket/prefix/checkpoints``) are
    set in each job's own configuration, so a job keeps its state where the team's cluster can
    reach it; empty means the cluster's own setting (the local stack: under ``<state_dir>/flink``).
    """

    rest_url: str = "http://localhost:8081"
    checkpoints_dir: str = ""
    savepoints_dir: str = ""
    # Each job's parallelism; empty means 1 (the cluster's slots bound it).
    parallelism: int | None = Field(None, ge=1)
    # The Python on the cluster's TaskManagers that runs the job's Python functions (a path in the
    # cluster's runtime image, e.g. /opt/featurestream/venv/bin/python). Flink reads it from each
    # job's configuration. Empty: the local stack's runtime when the job goes to the local stack,
    # else `python` on the TaskManagers' PATH (Flink's default).
    python_executable: str = ""
    # Mark a Kafka partition idle after this long without data (e.g. "30 s"), so it stops holding
    # the watermark back. Off by default: an idle partition that wakes up with older data would
    # otherwise turn its events late. Turn it on for topics with partitions that stay empty.
    source_idle_timeout: str = ""
    checkpoint_interval: str = "5 s"
    # Chained operators hand rows on without a serializer copy (Flink's pipeline.object-reuse): a
    # view without an event id drained at 0.54 -> ~0.98 of the plain-SQL ceiling with it (bench/README.md,
    # issue 13). It was off by default while jobs had a Python operator: a TaskManager died 3 times in
    # ~25 cancels of busy jobs (PyFlink's Beam runner: "Reference count must not be negative" on
    # close). With the online sink on the JVM no job has one; 36 cancels of busy jobs with it on
    # killed no TaskManager (bench/README.md), so it is on. Turn it off if a job adds Python functions.
    object_reuse: bool = True
    # A failing job restarts after 1 s, then 2, 4, ... up to `restart_max_backoff` (with 10% jitter),
    # forever, never a thousand times a minute; a job that ran `restart_reset_after` without failing
    # starts again from the initial delay. Set on every job (restart_strategy) and on the local cluster.
    restart_initial_backoff: str = "1 s"
    restart_max_backoff: str = "2 min"
    restart_backoff_multiplier: float = Field(2.0, gt=1.0)
    restart_reset_after: str = "10 min"

    def restart_strategy(self) -> dict[str, str]:
        """Flink's exponential-delay restart options: the one restart rule of every job."""
        prefix = "restart-strategy.exponential-delay."
        return {
            "restart-strategy.type": "exponential-delay",
            prefix + "initial-backoff": self.restart_initial_backoff,
            prefix + "max-backoff": self.restart_max_backoff,
            prefix + "backoff-multiplier": str(self.restart_backoff_multiplier),
            prefix + "reset-backoff-threshold": self.restart_reset_after,
            prefix + "jitter-factor": "0.1",
        }


class S3Config(_Model):
    """An S3-compatible object store (AWS, MinIO, Ceph, ...) for ``s3://`` paths.

    Credentials never live in the config: they come from the environment of each process
    (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, or the platform's instance credentials).
    """

    endpoint: str = ""  # e.g. http://127.0.0.1:9000; empty means AWS
    path_style_access: bool = False  # most non-AWS stores need path-style URLs
    region: str = "us-east-1"


class OfflineConfig(_Model):
    path: str = "data/offline"
    # DuckDB (training sets, ad-hoc SQL): spills to `duckdb_temp_directory` (default
    # `<state_dir>/duckdb_tmp`) beyond `duckdb_memory_limit`; `duckdb_threads` 0 = all cores.
    duckdb_memory_limit: str = "4GB"
    duckdb_threads: Annotated[int, Field(ge=0)] = 0
    duckdb_temp_directory: str = ""


class ApiKey(_Model):
    """One API key; it reads only its namespace. The key itself is never printed.

    Give the key as exactly one of: ``key_env`` (an environment variable holding it), ``key_file``
    (a secret file holding it, e.g. a mounted Kubernetes secret; relative to the repo root),
    ``key_sha256`` (its hex SHA-256: the server never needs the key itself), or ``key`` (inline;
    for configs built in code -- a key written in featurestream.yaml ends up in version control).
    The server keeps only the SHA-256 (:mod:`featurestream.api.auth`).
    """

    name: str
    namespace: str
    key: SecretStr | None = None
    key_env: str | None = None
    key_file: str | None = None
    key_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    @model_validator(mode="after")
    def _one_source(self) -> ApiKey:
        given = [f for f in ("key", "key_env", "key_file", "key_sha256") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                f"API key {self.name!r}: expected exactly one of key_env, key_file, key_sha256 or key, found "
                + (", ".join(given) if given else "none")
            )
        return self


class ServingConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(6566, ge=1, le=65535)
    workers: int = Field(1, ge=1)
    deadline_ms: float = Field(50.0, gt=0)
    max_entities: int = Field(1000, ge=1)
    # Limits checked before a request costs anything (api.limits): body bytes before parsing (413),
    # JSON arrays + objects in a body before parsing (413), entities x features before planning (413),
    # plans kept in the per-process cache.
    max_body_bytes: int = Field(1_000_000, ge=1024)
    max_cost: int = Field(10_000, ge=1)
    max_json_containers: int = Field(10_000, ge=16)
    plan_cache_size: int = Field(1024, ge=1)
    cache_ttl_ms: float = Field(0.0, ge=0)
    # Admission control per worker (api.admission): lookups in flight beyond this are shed with a 503
    # (reason queue_full), and so is a lookup whose deadline, counted from its arrival, cannot be met.
    max_in_flight: int = Field(32, ge=1)
    # Plain lookups (HTTP/1.1, content-length, no expect/upgrade) answered by the HTTP protocol itself,
    # head and body in one write (api.server); false: every request goes through uvicorn's ASGI cycle.
    http_fast_path: bool = True
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


class DeployConfig(_Model):
    """What `featurestream deploy render` writes into compose and Kubernetes manifests.

    ``state_uri`` is the durable root of each job's checkpoints, savepoints and HA metadata
    (``<state_uri>/<kind>/<job name>``): an ``s3://`` URI on a cluster, never a client-local path.
    ``parallelism`` maps ``name`` or ``name@version`` to a job's parallelism (default ``1``).
    """

    runtime_image: str = "featurestream-runtime:0.1.0"
    serve_image: str = "featurestream-serve:0.1.0"
    k8s_namespace: str = "featurestream"
    service_account: str = "flink"
    state_uri: str = "s3://featurestream/state"
    # The S3-compatible endpoint for the jobs' filesystem plugin; empty = AWS S3 itself.
    s3_endpoint: str = ""
    # The Secret holding S3 credentials, the Redis URL and API keys (referenced, never rendered).
    secret_name: str = "featurestream-credentials"
    parallelism: dict[str, Annotated[int, Field(ge=1)]] = {}
    task_slots: int = Field(2, ge=1)
    # JobManagers per job: 1, or 2 for a standby that takes over on a JobManager loss (Kubernetes HA).
    jobmanager_replicas: int = Field(1, ge=1)
    jobmanager_memory: str = "1600m"
    taskmanager_memory: str = "2048m"
    jobmanager_cpu: float = Field(0.5, gt=0)
    taskmanager_cpu: float = Field(1.0, gt=0)

    @field_validator("state_uri")
    @classmethod
    def _durable(cls, v: str) -> str:
        if "://" not in v or v.startswith("file://"):
            raise ValueError(f"expected a URI every pod reaches (s3://bucket/prefix, gs://, hdfs://), found {v!r}")
        return v.rstrip("/")


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
    s3: S3Config = S3Config()
    serving: ServingConfig = ServingConfig()
    monitoring: MonitoringConfig = MonitoringConfig()  # type: ignore[call-arg]  # (no pydantic mypy plugin)
    ondemand: OnDemandConfig = OnDemandConfig()
    deploy: DeployConfig = DeployConfig()

    @field_validator("namespace")
    @classmethod
    def _ns(cls, v: str) -> str:
        if not v or not all(c.isalnum() or c in "_-" for c in v):
            raise ValueError(f"namespace must be letters, digits, '_' or '-', found {v!r}")
        return v

    @model_validator(mode="after")
    def _own_store(self) -> Config:
        if self.namespace in self.redis.namespaces:
            raise ValueError(
                f"redis.namespaces names this repo's own namespace {self.namespace!r}: its store is redis.url, "
                "where its jobs and materialize write; drop it from redis.namespaces or set redis.url"
            )
        return self

    def redis_url_for(self, namespace: str) -> str:
        """The URL of ``namespace``'s online store: ``redis.namespaces[namespace]``, else ``redis.url``."""
        return self.redis.namespaces.get(namespace, self.redis.url)

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
    def registry_location(self) -> str:
        """Where the registry lives: an absolute local path or an ``s3://bucket/key`` URI."""
        if "://" in self.registry_path and not self.registry_path.startswith("file://"):
            return self.registry_path
        return str(self.registry_file)

    @property
    def registry_file(self) -> Path:
        """The registry as a local file (see :attr:`registry_location` for object stores)."""
        if self.registry_path.startswith("file://"):
            return Path(self.registry_path[len("file://") :])
        if "://" in self.registry_path:
            raise ConfigError(
                f"registry_path: expected a local file here, found the URI {self.registry_path!r}",
                hint="read the registry through Config.registry_location and featurestream.storage",
            )
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
    def targets_local_stack(self) -> bool:
        """Whether ``flink.rest_url`` is the REST endpoint of the local stack's Flink cluster."""
        from urllib.parse import urlparse

        url = urlparse(self.flink.rest_url)
        return url.hostname in ("localhost", "127.0.0.1") and (url.port or 8081) == self.stack.flink.rest_port

    @property
    def offline_location(self) -> str:
        """The offline store's root: an absolute local path, or an object-store URI (``s3://bucket/prefix``).

        ``file://`` URIs become local paths; relative paths are resolved against the repo root.
        """
        text = self.offline.path
        if text.startswith("file://"):
            text = text[len("file://") :]
        elif "://" in text:
            return text.rstrip("/")
        p = Path(text)
        return str(p if p.is_absolute() else (self.root / p).resolve())

    @property
    def offline_is_local(self) -> bool:
        """Whether the offline store is a local directory (not an object store)."""
        return "://" not in self.offline_location

    @property
    def offline_path(self) -> Path:
        """The offline store as a local directory; a ConfigError when it is on an object store."""
        if not self.offline_is_local:
            raise ConfigError(
                f"offline.path: expected a local directory here, found {self.offline_location!r}",
                hint="use Config.offline_location with featurestream.storage for s3:// stores",
            )
        return Path(self.offline_location)


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

    Every ``${NAME}`` in the file's strings is replaced by the environment variable ``NAME`` (from
    ``env``) first; a missing one is a ConfigError naming the key (see :mod:`featurestream.secrets`).

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
        data = expand_tree(loaded, env)  # ${VAR} references (featurestream.secrets rule 1)
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
