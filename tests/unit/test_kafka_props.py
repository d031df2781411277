"""kafka.properties: one map for the Flink connector and every Python client; the preflight (no broker)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka.admin import NewTopic
from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

from featurestream.config import Config, KafkaConfig, load_config
from featurestream.errors import ConfigError
from featurestream.jobs import control
from featurestream.jobs.compiler import compile_streaming_job
from featurestream.kafka_props import KafkaConnectError, client_kwargs, flink_options, preflight
from featurestream.naming import dlq_topic, late_topic, source_topic
from tests.support.views import make_view, txn_source

JAAS = 'org.apache.kafka.common.security.scram.ScramLoginModule required username="svc" password="p4ss\\"word";'
SASL = {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": JAAS}
SOURCE = txn_source()
VIEW = make_view("card_spend", ["card_id"], {"spend": "DOUBLE"}, version=2, namespace="risk")


def test_java_keys_map_to_kafka_python_kwargs() -> None:
    props = {
        **SASL,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": "/etc/kafka/ca.pem",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": "/etc/kafka/client.pem",
        "ssl.key.password": "kp",
        "ssl.endpoint.identification.algorithm": "",
        "request.timeout.ms": "15000",
    }
    assert client_kwargs(props) == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "svc",
        "sasl_plain_password": 'p4ss"word',
        "ssl_cafile": "/etc/kafka/ca.pem",
        "ssl_certfile": "/etc/kafka/client.pem",
        "ssl_password": "kp",
        "ssl_check_hostname": False,
        "request_timeout_ms": 15000,
    }
    assert client_kwargs({}) == {}
    plain = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";'
    assert (
        client_kwargs({"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": plain})["sasl_mechanism"] == "PLAIN"
    )


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        ({"linger.ms": "5"}, "kafka.properties.linger.ms: not a key featurestream can pass"),
        ({"bootstrap.servers": "x:9092"}, "kafka.properties.bootstrap.servers: featurestream sets this key itself"),
        ({"sasl.mechanism": "GSSAPI", "sasl.jaas.config": JAAS}, "expected one of PLAIN, SCRAM-SHA-256"),
        ({"ssl.truststore.location": "/x.jks"}, "ssl.truststore.type: expected PEM"),
        ({"security.protocol": "SASL_SSL", "sasl.jaas.config": "com.Other required;"}, "sasl.jaas.config: expected"),
    ],
)
def test_unsupported_properties_are_rejected_at_load(tmp_path: Path, props: dict[str, str], expected: str) -> None:
    import yaml

    (tmp_path / "featurestream.yaml").write_text(yaml.safe_dump({"kafka": {"properties": props}}))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, env={})
    assert expected in str(err.value)
    assert "p4ss" not in str(err.value)


def test_properties_reach_every_kafka_table_of_the_compiled_job(tmp_path: Path) -> None:
    config = Config(root=tmp_path, kafka=KafkaConfig(properties=SASL))
    spec = compile_streaming_job(VIEW, SOURCE, config)
    kafka_tables = [s for s in spec["statements"] if "'connector' = 'kafka'" in s]
    assert len(kafka_tables) == 3  # the source, the dead-letter and the late sinks
    for ddl in kafka_tables:
        for key in flink_options(SASL):
            assert f"'{key}' = " in ddl
    assert flink_options(SASL)["properties.sasl.mechanism"] == "SCRAM-SHA-512"


class _Admin:
    """A stand-in for KafkaAdminClient: records its kwargs, fails or lists topics as told."""

    instances: list[_Admin] = []

    def __init__(self, fail: Exception | None = None, topics: tuple[str, ...] = (), **kwargs: Any) -> None:
        self.kwargs, self.fail, self.topics, self.closed = kwargs, fail, topics, False
        self.created: list[NewTopic] = []
        _Admin.instances.append(self)

    def list_topics(self) -> list[str]:
        if self.fail is not None:
            raise self.fail
        return list(self.topics)

    def create_topics(self, topics: list[NewTopic]) -> None:
        self.created.extend(topics)

    def close(self) -> None:
        self.closed = True


def test_preflight_names_the_listener_and_mechanism_never_the_password() -> None:
    def factory(**kw: Any) -> _Admin:
        return _Admin(
            fail=SaslAuthenticationFailedError(
                "Authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-512"
            ),
            **kw,
        )

    with pytest.raises(KafkaConnectError) as err:
        preflight("broker-1:9094,broker-2:9094", SASL, timeout_s=3, admin_factory=factory)
    msg = str(err.value)
    assert "cannot authenticate to Kafka at broker-1:9094,broker-2:9094 (SASL_SSL, SASL mechanism SCRAM-SHA-512)" in msg
    assert "within 3s" in msg and "sasl.jaas.config" in msg  # the hint says what to check
    assert "p4ss" not in msg
    admin = _Admin.instances[-1]
    assert admin.closed and admin.kwargs["request_timeout_ms"] == 3000
    assert admin.kwargs["bootstrap_timeout_ms"] == 3000 and admin.kwargs["sasl_plain_username"] == "svc"

    def down(**kw: Any) -> _Admin:
        raise KafkaTimeoutError("Unable to bootstrap from k:9092")

    with pytest.raises(KafkaConnectError, match=r"cannot connect to Kafka at k:9092 \(PLAINTEXT\) within 5s"):
        preflight("k:9092", {}, admin_factory=down)


def test_submit_creates_source_dlq_and_late_topics_as_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(
        root=tmp_path,
        kafka=KafkaConfig(
            properties=SASL,
            topics={"source": {"partitions": 8, "replication_factor": 3}, "dlq": {"replication_factor": 3}},  # type: ignore[arg-type]
        ),
    )
    made: list[_Admin] = []

    def fake_admin(bootstrap: str, props: Any, *, timeout_s: float) -> _Admin:
        assert props == SASL and timeout_s == 5.0
        made.append(_Admin(topics=(source_topic(config.kafka, "transactions"),)))
        return made[-1]

    monkeypatch.setattr(control, "kafka_admin", fake_admin)
    jm = control.JobManager.__new__(control.JobManager)
    jm.config = config
    created = jm.ensure_topics(VIEW, SOURCE)
    assert created == [dlq_topic(VIEW, config.kafka), late_topic(VIEW, config.kafka)]  # the source existed
    specs = {(t.name, t.num_partitions, t.replication_factor) for t in made[0].created}
    assert specs == {(dlq_topic(VIEW, config.kafka), 1, 3), (late_topic(VIEW, config.kafka), 1, 1)}
    assert made[0].closed


def test_apply_with_unreachable_secured_kafka_fails_naming_the_listener(tmp_path: Path) -> None:
    """Port 1 on localhost accepts nothing: the preflight gives up within its timeout, before any
    definition is validated or registered."""
    import yaml
    from click.testing import CliRunner

    from featurestream.cli.main import main

    plain = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p4ss";'
    props = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": plain}
    (tmp_path / "featurestream.yaml").write_text(
        yaml.safe_dump({"kafka": {"bootstrap_servers": "127.0.0.1:1", "properties": props}})
    )
    result = CliRunner().invoke(main, ["--repo", str(tmp_path), "apply"])
    assert result.exit_code == 1, result.output
    assert "cannot connect to Kafka at 127.0.0.1:1 (SASL_PLAINTEXT, SASL mechanism PLAIN) within 5s" in result.output
    assert "p4ss" not in result.output and "validating definitions" not in result.output
