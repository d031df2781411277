"""The local broker's optional SASL_PLAINTEXT listener: config, generated properties, escaping,
and the preflight's message when a listener answers TCP but refuses the session (no broker)."""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import KafkaTimeoutError

from featurestream.config import load_config
from featurestream.errors import ConfigError, StackError
from featurestream.kafka_props import FLINK_SHADED_PREFIX, KafkaConnectError, flink_options, preflight
from featurestream.stack import kafka as kafka_mod
from featurestream.stack.kafka import KafkaService
from featurestream.stack.kafka_sasl import jaas_quote, properties_escape

SASL_YAML = """\
stack:
  kafka:
    port: 19092
    controller_port: 19093
    sasl_port: 19094
    sasl_users:
      alice: ${ALICE_PASSWORD}
      svc.reader: plain-pw
"""


def _cfg(tmp_path: Path, text: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    (tmp_path / "featurestream.yaml").write_text(text)
    return load_config(tmp_path, env=env or {})


def _java_properties_value(line: str) -> str:
    """Decode one ``key=value`` line as java.util.Properties does (escapes, \\uXXXX)."""
    value = line.split("=", 1)[1]
    utf16 = re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == "u" and len(m.group(1)) == 5 else m.group(1),
        value,
    )
    return utf16.encode("utf-16-le", "surrogatepass").decode("utf-16-le")  # Java strings are UTF-16


def _jaas_users(jaas: str) -> dict[str, str]:
    """``user_<name>`` options of a JAAS config, unquoted as Kafka's StreamTokenizer does."""
    opts = re.findall(r'user_([\w.-]+)="((?:[^"\\]|\\.)*)"', jaas)
    return {name: re.sub(r"\\(.)", r"\1", pw) for name, pw in opts}


def test_sasl_listener_is_off_by_default(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "stack:\n  kafka:\n    port: 19092\n    controller_port: 19093\n")
    assert cfg.stack.kafka.sasl_port == 0
    text = KafkaService(cfg).server_properties()
    assert "SASL" not in text and "jaas" not in text
    assert "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT" in text


def test_sasl_listener_properties_and_users(tmp_path: Path) -> None:
    password = 'p"w\\ü€-𝄞'  # a quote, a backslash, Latin-1, BMP and a surrogate pair
    svc = KafkaService(_cfg(tmp_path, SASL_YAML, env={"ALICE_PASSWORD": password}))
    svc.write_config()
    text = svc.properties.read_text()
    assert stat.S_IMODE(os.stat(svc.properties).st_mode) == 0o600
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert lines["listeners"] == (
        "PLAINTEXT://localhost:19092,SASL_PLAINTEXT://localhost:19094,CONTROLLER://localhost:19093"
    )
    assert lines["advertised.listeners"] == "PLAINTEXT://localhost:19092,SASL_PLAINTEXT://localhost:19094"
    assert lines["inter.broker.listener.name"] == "PLAINTEXT"  # the stack's own traffic stays plain
    assert "SASL_PLAINTEXT:SASL_PLAINTEXT" in lines["listener.security.protocol.map"]
    assert lines["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256"
    assert "ScramLoginModule required;" in lines["listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config"]
    plain = next(ln for ln in text.splitlines() if ln.startswith("listener.name.sasl_plaintext.plain."))
    assert plain.isascii()  # Kafka reads server.properties as ISO-8859-1
    jaas = _java_properties_value(plain)
    assert jaas.startswith("org.apache.kafka.common.security.plain.PlainLoginModule required ")
    assert _jaas_users(jaas) == {"alice": password, "svc.reader": "plain-pw"}


def test_rewriting_an_open_file_tightens_its_mode(tmp_path: Path) -> None:
    svc = KafkaService(_cfg(tmp_path, SASL_YAML, env={"ALICE_PASSWORD": "x"}))
    svc.home.mkdir(parents=True)
    svc.properties.write_text("old")
    os.chmod(svc.properties, 0o644)
    svc.write_config()
    assert stat.S_IMODE(os.stat(svc.properties).st_mode) == 0o600


def test_sasl_users_are_secret_in_the_config(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, SASL_YAML, env={"ALICE_PASSWORD": "hunter2-long"})
    assert "hunter2-long" not in repr(cfg) and "hunter2-long" not in str(cfg.model_dump())
    assert KafkaService(cfg).sasl_users["alice"] == "hunter2-long"


@pytest.mark.parametrize(
    ("kafka_yaml", "expected"),
    [
        ("sasl_port: 19094", "sasl_users is empty"),
        ("sasl_port: 19092\n    sasl_users: {a: b}", "also the broker's port"),
        ("sasl_port: 19094\n    sasl_users: {'bad name': b}", "expected user names of letters"),
    ],
)
def test_sasl_config_rejected_with_the_fix(tmp_path: Path, kafka_yaml: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        _cfg(tmp_path, f"stack:\n  kafka:\n    port: 19092\n    {kafka_yaml}\n")


def test_missing_password_variable_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"stack\.kafka\.sasl_users\.alice.*ALICE_PASSWORD"):
        _cfg(tmp_path, SASL_YAML)


def test_a_line_break_cannot_enter_the_jaas_config() -> None:
    with pytest.raises(StackError, match="line break"):
        jaas_quote("a\nb")
    assert properties_escape("a\\b") == "a\\\\b"


def test_a_broker_started_without_the_listener_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = KafkaService(_cfg(tmp_path, SASL_YAML, env={"ALICE_PASSWORD": "x"}))
    monkeypatch.setattr(kafka_mod, "port_open", lambda port: False)
    with pytest.raises(StackError, match="no SASL listener on port 19094") as err:
        svc.check_sasl()
    assert err.value.hint and "down --only kafka" in err.value.hint


def test_preflight_on_a_listener_that_refuses_the_session_says_authenticate() -> None:
    """kafka-python turns a refused SASL handshake into a bootstrap timeout; a listener that still
    accepts TCP is reported as an authentication (or protocol) failure, never with the password."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="s3cret-pw";'
    props = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas}

    def refused(**kw: Any) -> Any:
        raise KafkaTimeoutError(f"Unable to bootstrap from 127.0.0.1:{port}")

    try:
        with pytest.raises(KafkaConnectError) as err:
            preflight(f"127.0.0.1:{port}", props, timeout_s=2, admin_factory=refused)
    finally:
        server.close()
    msg = str(err.value)
    assert f"cannot authenticate to Kafka at 127.0.0.1:{port} (SASL_PLAINTEXT, SASL mechanism PLAIN)" in msg
    assert "wrong credentials" in msg and "s3cret-pw" not in msg


def test_flink_gets_the_login_module_as_the_connector_jar_holds_it() -> None:
    """flink-sql-connector-kafka relocates the Kafka client: the unshaded PlainLoginModule is not
    on a job's classpath, so the JAAS config names the relocated class (same options, same secret)."""
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="pw";'
    opts = flink_options({"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": jaas})
    assert opts["properties.sasl.jaas.config"] == FLINK_SHADED_PREFIX + jaas
    assert opts["properties.security.protocol"] == "SASL_PLAINTEXT"
    assert FLINK_SHADED_PREFIX == "org.apache.flink.kafka.shaded."


def test_redaction_never_eats_the_explanation() -> None:
    """Secrets are masked in the client's reason before our words are added: a password that is
    itself a word of the explanation ("wrong") leaves the explanation readable."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="wrong";'
    props = {"security.protocol": "SASL_PLAINTEXT", "sasl.jaas.config": jaas}

    def refused(**kw: Any) -> Any:
        raise KafkaTimeoutError("Unable to bootstrap (password=wrong)")

    try:
        with pytest.raises(KafkaConnectError) as err:
            preflight(f"127.0.0.1:{port}", props, timeout_s=2, admin_factory=refused)
    finally:
        server.close()
    assert "(password=***)" in str(err.value) and ": wrong credentials, or a sasl.mechanism" in str(err.value)
