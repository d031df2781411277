"""Faults testable without the stack (issue 15 item 3): every sync client has connect and socket
timeouts, jobs restart with exponential backoff, and the CLI prints one clear error instead of a
traceback when a service cannot be reached."""

from __future__ import annotations

import ast
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis
import yaml
from click.testing import CliRunner
from kafka.errors import KafkaConnectionError

from featurestream.cli.failures import connection_failure
from featurestream.cli.main import main
from featurestream.config import Config, DeployConfig, FlinkConfig, load_config
from featurestream.definitions import Source
from featurestream.deploy.kubernetes import flink_deployment
from featurestream.jobs.compiler import compile_streaming_job
from featurestream.online.store import RedisOnlineStore
from featurestream.stack.flink import FlinkService
from tests.deploy_support import sample_job
from tests.support.registry import REPO_ROOT, demo_registry
from tests.support.views import make_view, txn_source

SHIPPED = ["featurestream", "api", "jobs", "online", "offline", "monitoring", "udfs"]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a Redis stopped with SIGSTOP)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(srv.accept()[0])
            except TimeoutError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    t.join()
    for c in accepted:
        c.close()
    srv.close()


@pytest.mark.timeout(60)
def test_a_hanging_redis_raises_a_timeout_instead_of_blocking(silent_server: int) -> None:
    store = RedisOnlineStore.from_url(f"redis://127.0.0.1:{silent_server}/0", "t", socket_timeout_s=0.3)
    with pytest.raises(redis.TimeoutError):
        store.client.ping()
    store.close()


def test_the_store_has_connect_and_socket_timeouts_by_default() -> None:
    store = RedisOnlineStore.from_url("redis://127.0.0.1:1/0", "t")
    kwargs = store.client.connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] and kwargs["socket_timeout"]
    store.close()


_CLIENTS = {"KafkaConsumer", "KafkaProducer", "KafkaAdminClient"}
_KAFKA_TIMEOUTS = {"request_timeout_ms", "bootstrap_timeout_ms"}


def _calls() -> Iterator[tuple[str, ast.Call]]:
    for pkg in SHIPPED:
        for path in sorted((REPO_ROOT / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    yield f"{path.relative_to(REPO_ROOT)}:{node.lineno}", node


def test_every_sync_client_we_build_has_timeouts() -> None:
    missing = []
    for where, call in _calls():
        f = call.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
        given = {k.arg for k in call.keywords}
        owner = f.value if isinstance(f, ast.Attribute) else None
        # a Kafka client gets both timeouts by name, or from the one owner of its options (kafka_props.client_options)
        owned = any(
            k.arg is None and isinstance(k.value, ast.Call) and ast.unparse(k.value.func) == "client_options"
            for k in call.keywords
        )
        if name in _CLIENTS and not owned and not given >= _KAFKA_TIMEOUTS:
            missing.append(f"{where}: {name} without {sorted(_KAFKA_TIMEOUTS - given)}")
        if name in ("urlopen", "create_connection") and "timeout" not in given and len(call.args) < 2:
            missing.append(f"{where}: {name} without a timeout")
        if ast.unparse(f) == "httpx.Client" and "timeout" not in given:
            missing.append(f"{where}: httpx.Client without a timeout")
        if name in _CLIENTS:  # kafka-python raises on a key it does not know (e.g. a 2.x-only one)
            import kafka

            known = set(getattr(kafka, name).DEFAULT_CONFIG)
            unknown = sorted(k for k in given if k is not None and k not in known)
            if unknown:
                missing.append(f"{where}: {name} given {unknown}, not options of kafka-python {kafka.__version__}")
        is_redis = isinstance(owner, ast.Name | ast.Attribute) and ast.unparse(owner).endswith(
            ("Redis", "RedisCluster")
        )
        if name == "from_url" and is_redis and not {"socket_timeout", "socket_connect_timeout"} <= given:
            missing.append(f"{where}: {ast.unparse(f)} without socket_timeout and socket_connect_timeout")
    assert not missing, "\n".join(missing)


def _source() -> Source:
    return txn_source()


def test_a_compiled_job_restarts_with_exponential_backoff(tmp_path: Path) -> None:
    config = Config(root=str(tmp_path), offline={"path": str(tmp_path / "offline")})
    spec = compile_streaming_job(make_view("spend", ["card_id"], {"spend": "DOUBLE"}), _source(), config)
    conf = spec["config"]
    assert conf["restart-strategy.type"] == "exponential-delay"
    assert conf["restart-strategy.exponential-delay.initial-backoff"] == "1 s"
    assert conf["restart-strategy.exponential-delay.max-backoff"] == "2 min"
    assert float(conf["restart-strategy.exponential-delay.backoff-multiplier"]) > 1
    assert conf["restart-strategy.exponential-delay.reset-backoff-threshold"]
    assert not any("fixed-delay" in k for k in conf)


def test_the_local_cluster_restarts_with_the_same_backoff(tmp_path: Path) -> None:
    (tmp_path / "featurestream.yaml").write_text("flink:\n  restart_max_backoff: 5 min\n")
    cfg = load_config(tmp_path, env={})
    svc = FlinkService(cfg)
    svc.write_config()
    conf = yaml.safe_load((svc.conf_dir / "config.yaml").read_text())
    assert conf["restart-strategy.type"] == "exponential-delay"
    assert conf["restart-strategy.exponential-delay.max-backoff"] == "5 min"
    assert not any("fixed-delay" in k for k in conf)


def test_a_kubernetes_cluster_restarts_with_the_jobs_backoff(tmp_path: Path) -> None:
    config = Config(
        root=str(tmp_path), offline={"path": str(tmp_path / "offline")}, flink={"restart_max_backoff": "3 min"}
    )
    spec = compile_streaming_job(make_view("spend", ["card_id"], {"spend": "DOUBLE"}), _source(), config)
    conf = flink_deployment(replace(sample_job(), spec=spec), DeployConfig())["spec"]["flinkConfiguration"]
    assert {k: v for k, v in conf.items() if k.startswith("restart-strategy.")} == config.flink.restart_strategy()
    assert conf["restart-strategy.exponential-delay.max-backoff"] == "3 min"


def test_the_compose_cluster_restarts_with_the_default_backoff() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker" / "compose.yaml").read_text())
    props = compose["x-flink-properties"]["FLINK_PROPERTIES"]
    conf = dict(line.split(": ", 1) for line in props.strip().splitlines())
    assert {k: v for k, v in conf.items() if k.startswith("restart-strategy.")} == FlinkConfig().restart_strategy()


def test_a_cli_command_prints_one_error_when_redis_cannot_be_reached(tmp_path: Path) -> None:
    closed = _closed_port()
    (tmp_path / "featurestream.yaml").write_text(
        f"namespace: t\nredis: {{url: 'redis://:pw@127.0.0.1:{closed}/0'}}\n"
        f"kafka: {{bootstrap_servers: '127.0.0.1:{_closed_port()}'}}\nflink: {{rest_url: 'http://127.0.0.1:{_closed_port()}'}}\n"
    )
    demo_registry(tmp_path / ".featurestream" / "registry.json", "t")
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "audit", "card_spend_1h"])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # not an unhandled redis.ConnectionError
    first = result.output.splitlines()[0]
    assert first.startswith("error: cannot reach Redis") and str(closed) in first
    assert "Traceback" not in result.output and ":pw@" not in result.output


def test_kafka_and_socket_failures_map_to_the_same_kind_of_line() -> None:
    kafka = connection_failure(KafkaConnectionError("no broker at 127.0.0.1:1"))
    assert kafka is not None and kafka.message.startswith("cannot reach Kafka") and kafka.hint
    os_level = connection_failure(ConnectionRefusedError(111, "Connection refused"))
    assert os_level is not None and "Connection refused" in os_level.message
    assert connection_failure(ValueError("a bug")) is None  # bugs keep their traceback


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
