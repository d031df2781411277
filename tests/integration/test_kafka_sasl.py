"""Kafka as teams run it (issue 11 item 4), on the local broker's SASL_PLAINTEXT listener.

A repo that reaches Kafka only through that listener (``kafka.properties``: SASL_PLAINTEXT,
PLAIN, ``password="${KAFKA_PASSWORD}"``) applies, its job runs on the shared Flink cluster and
its rows reach Redis; the password is nowhere in the job's spec file nor in ``jobs list``.
Wrong credentials fail ``jobs submit`` within seconds, naming the listener and the mechanism,
and leave no job on the cluster.

The shared stack's broker serves the listener because the demo repo's featurestream.yaml sets
``stack.kafka.sasl_port`` and a test user; the test takes both from there.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from featurestream import generator
from featurestream.apply import apply
from featurestream.cli.main import main
from featurestream.config import Config
from featurestream.jobs.control import JobManager
from featurestream.kafka_props import KafkaConnectError
from featurestream.naming import job_name, source_topic
from featurestream.secrets import SECRET_VAR_PREFIX
from tests.support.pipeline import isolated_repo, online_rows, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MIN = 60_000
VIEW = "user_clicks_1m"
VIEW_SQL = """\
-- name: user_clicks_1m
-- version: 1
-- entities: user_id
-- ttl: 1d
-- freshness_sla: 1h
-- defaults: clicks_1m=0, amount_1m=0.0
SELECT
    user_id,
    window_end AS feature_time,
    COUNT(*) AS clicks_1m,
    SUM(amount) AS amount_1m
FROM TABLE(
    TUMBLE(TABLE clicks, DESCRIPTOR(event_time), INTERVAL '1' MINUTE)
)
GROUP BY
    user_id,
    window_start,
    window_end
"""
JAAS = (
    'org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" password="${{KAFKA_PASSWORD}}";'
)


def _sasl_listener(stack: Any) -> tuple[str, str, int]:
    """(user, password, port) of the shared broker's SASL listener (from the demo repo's config)."""
    k = stack.config.stack.kafka
    assert k.sasl_port and k.sasl_users, "featurestream.yaml must set stack.kafka.sasl_port and sasl_users"
    user, password = next(iter(k.sasl_users.items()))
    return user, password.get_secret_value(), k.sasl_port


def _sasl_repo(tmp_path: Path, stack: Any, monkeypatch: pytest.MonkeyPatch, password: str) -> Config:
    """An isolated repo with one 1-minute TUMBLE view whose every Kafka connection is SASL PLAIN;
    its featurestream.yaml holds ``${KAFKA_PASSWORD}``, the value lives in the environment only."""
    user, _, port = _sasl_listener(stack)
    tag = f"sasl{uuid.uuid4().hex[:8]}"
    kafka = {
        "bootstrap_servers": f"localhost:{port}",
        "topic_prefix": f"{tag}.",
        "topics": {"source": {"partitions": 1}},
        "properties": {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.jaas.config": JAAS.format(user=user),
        },
    }
    monkeypatch.setenv("KAFKA_PASSWORD", password)  # what the CLI reads, as from a user's shell
    env = {"KAFKA_PASSWORD": password}
    cfg = isolated_repo(REPO, tmp_path, stack.config, name=tag, extra={"kafka": kafka}, env=env)
    root = cfg.root
    for path in (root / "sql" / "features").glob("*.sql"):
        path.unlink()
    for path in (root / "sql" / "services").glob("*"):
        path.unlink()
    (root / "sql" / "sources" / "transactions.sql").unlink()
    (root / "sql" / "features" / f"{VIEW}.sql").write_text(VIEW_SQL)
    assert "${KAFKA_PASSWORD}" in (root / "featurestream.yaml").read_text()
    assert password not in (root / "featurestream.yaml").read_text()
    return cfg


def _cli(cfg: Config, *args: str) -> Result:
    return CliRunner().invoke(main, ["--repo", str(cfg.root), *args])


def _event(event_id: str, user: str, amount: float, t_ms: int) -> bytes:
    return json.dumps(
        {"event_id": event_id, "user_id": user, "item_id": "i1", "amount": amount, "event_time": t_ms}
    ).encode()


def test_a_view_over_the_sasl_listener_runs_and_never_shows_the_password(  # type: ignore[no-untyped-def]
    stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, password, port = _sasl_listener(stack)
    cfg = _sasl_repo(tmp_path, stack, monkeypatch, password)
    listener = f"localhost:{port} (SASL_PLAINTEXT, SASL mechanism PLAIN)"

    applied = _cli(cfg, "apply")
    assert applied.exit_code == 0, applied.output
    assert f"checking Kafka at {listener}" in applied.output  # the preflight ran over SASL

    jm = JobManager(cfg)
    view = jm.view(VIEW)
    name = job_name(view)
    submitted = _cli(cfg, "jobs", "submit", VIEW)
    assert submitted.exit_code == 0, submitted.output
    job_id = jm.running()[name]["jid"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    t0 = int((now - timedelta(minutes=5)).timestamp() * 1000)  # window [t0, t0 + 1 min)
    try:
        jm.flink.wait_for_state(job_id, ("RUNNING",), timeout=180)
        payloads = [_event(f"e{i}", "u1", float(i), t0 + i * 1000) for i in (1, 2, 3)]
        payloads.append(_event("flush", "__flush__", 0.0, t0 + 3 * MIN))  # the watermark passes t0 + 1 min
        topic = source_topic(cfg.kafka, "clicks")
        list(generator.produce(cfg.kafka.bootstrap_servers, topic, payloads, properties=cfg.kafka.properties))
        wait_for(lambda: "u1" in online_rows(cfg.redis.url, view), 120, "the u1 row online (read over SASL)")
        row = online_rows(cfg.redis.url, view)["u1"]
        assert (row["clicks_1m"], row["amount_1m"], row["_ft"]) == (3, 6.0, t0 + MIN)

        spec = (cfg.state_path / "jobs" / f"{name}.json").read_text()
        # The job connects over SASL; its JAAS config (a secret as a whole) is sealed as a reference.
        assert "'properties.security.protocol' = 'SASL_PLAINTEXT'" in spec
        assert f"'properties.sasl.jaas.config' = 'org.apache.flink.kafka.shaded.${{{SECRET_VAR_PREFIX}" in spec
        assert password not in spec

        listed = _cli(cfg, "jobs", "list")
        assert listed.exit_code == 0, listed.output
        assert name in listed.output and job_id in listed.output
        assert password not in listed.output
        assert password not in submitted.output + applied.output
    finally:
        with contextlib.suppress(Exception):
            jm.flink.cancel(job_id)


def test_wrong_credentials_fail_submit_within_seconds_and_leave_no_job(  # type: ignore[no-untyped-def]
    stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = f"not-the-password-{uuid.uuid4().hex[:6]}"
    _, _, port = _sasl_listener(stack)
    cfg = _sasl_repo(tmp_path, stack, monkeypatch, wrong)
    listener = f"localhost:{port} (SASL_PLAINTEXT, SASL mechanism PLAIN)"
    apply(cfg)  # the library call registers without a Kafka preflight (the CLI's apply would refuse)
    jm = JobManager(cfg)
    view = jm.view(VIEW)

    # A deadline, not a benchmark: a submit that hangs or a job that restarts forever never returns.
    with ThreadPoolExecutor(max_workers=1) as pool, pytest.raises(KafkaConnectError) as err:
        pool.submit(jm.submit, view).result(timeout=15)
    msg = str(err.value)
    assert f"cannot authenticate to Kafka at {listener}" in msg
    assert wrong not in msg

    refused = _cli(cfg, "jobs", "submit", VIEW)
    assert refused.exit_code == 1, refused.output
    assert listener in refused.output and "sasl.jaas.config" in refused.output  # the fix names the setting
    assert wrong not in refused.output

    assert [j for j in jm.flink.jobs() if j["name"] == job_name(view)] == []
    assert not (cfg.state_path / "jobs" / f"{job_name(view)}.json").exists()  # nothing was compiled


def test_scram_sha_256_user_produces_and_a_plain_login_reads(kafka_bootstrap: str, repo_config: Config) -> None:
    """The listener's two mechanisms, through the clients every featurestream tool builds: a SCRAM
    user produces, the same user over PLAIN consumes; a wrong SCRAM password is refused by name."""
    from kafka import KafkaConsumer

    from featurestream.kafka_props import client_kwargs, preflight

    k = repo_config.stack.kafka
    assert k.sasl_port and k.sasl_users, "featurestream.yaml must set stack.kafka.sasl_port and sasl_users"
    user, secret = next(iter(k.sasl_users.items()))
    bootstrap = f"localhost:{k.sasl_port}"

    def props(mechanism: str, module: str, password: str) -> dict[str, str]:
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        jaas = f'org.apache.kafka.common.security.{module} required username="{user}" password="{quoted}";'
        return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": mechanism, "sasl.jaas.config": jaas}

    scram = props("SCRAM-SHA-256", "scram.ScramLoginModule", secret.get_secret_value())
    plain = props("PLAIN", "plain.PlainLoginModule", secret.get_secret_value())
    topic = f"sasl-scram-{uuid.uuid4().hex[:8]}"
    preflight(bootstrap, scram)
    payloads = [f"m{i}".encode() for i in range(3)]
    list(generator.produce(bootstrap, topic, payloads, properties=scram))
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
        **client_kwargs(plain),
    )
    try:
        assert sorted(m.value for m in consumer) == payloads
    finally:
        consumer.close()

    with pytest.raises(KafkaConnectError, match=rf"{bootstrap} \(SASL_PLAINTEXT, SASL mechanism SCRAM-SHA-256\)"):
        preflight(bootstrap, props("SCRAM-SHA-256", "scram.ScramLoginModule", "not-the-password"))
