"""Secrets: ${VAR} in the config, and job specs / output that carry references, never values."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from featurestream.config import Config, KafkaConfig, load_config
from featurestream.errors import ConfigError, FeatureStreamError
from featurestream.jobs import flink as jobs_flink
from featurestream.jobs.compiler import compile_streaming_job
from featurestream.jobs.flink import FlinkClient, FlinkError
from featurestream.secrets import config_secrets, redact, seal, unseal
from tests.support.views import make_view, txn_source

REDIS_PW = "r3dis/p@ss"  # %-escaped in the URL
KAFKA_PW = "kafka-S3cret"
JAAS = f'org.apache.kafka.common.security.plain.PlainLoginModule required username="svc" password="{KAFKA_PW}";'
SOURCE = txn_source()
VIEW = make_view("card_spend", ["card_id"], {"spend": "DOUBLE"}, version=2, namespace="risk")


def _write(root: Path, data: dict[str, Any]) -> None:
    (root / "featurestream.yaml").write_text(yaml.safe_dump(data))


def test_env_references_resolve_at_load(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "redis": {"url": "redis://:${REDIS_PASSWORD}@redis-1:6379/0"},
            "kafka": {
                "properties": {"security.protocol": "SASL_SSL", "sasl.jaas.config": JAAS.replace(KAFKA_PW, "${KP}")}
            },
            "project": "cost-$${NOT_EXPANDED}",
        },
    )
    cfg = load_config(tmp_path, env={"REDIS_PASSWORD": "pw", "KP": KAFKA_PW})
    assert cfg.redis.url == "redis://:pw@redis-1:6379/0"
    assert cfg.kafka.properties["sasl.jaas.config"] == JAAS
    assert cfg.project == "cost-${NOT_EXPANDED}"


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    _write(tmp_path, {"redis": {"url": "redis://:${REDIS_PASSWORD}@redis-1:6379/0"}})
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path, env={})
    assert "redis.url: references the environment variable ${REDIS_PASSWORD}, which is not set" in str(err.value)
    assert "export REDIS_PASSWORD=" in str(err.value)


def _secret_config(tmp_path: Path) -> Config:
    return Config(
        root=tmp_path,
        state_dir=str(tmp_path / "state"),
        redis={"url": "redis+cluster://default:r3dis%2Fp%40ss@redis-1:7000"},  # type: ignore[arg-type]
        kafka=KafkaConfig(
            properties={"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.jaas.config": JAAS}
        ),
    )


def test_a_compiled_spec_is_sealed_and_the_runner_unseals_it(tmp_path: Path) -> None:
    cfg = _secret_config(tmp_path)
    spec = compile_streaming_job(VIEW, SOURCE, cfg)
    assert KAFKA_PW in json.dumps(spec)  # the compiled spec needs them ...
    secrets = config_secrets(cfg.redis.url, cfg.kafka.properties)
    assert {REDIS_PW, "r3dis%2Fp%40ss", KAFKA_PW, JAAS} <= set(secrets)
    sealed, env = seal(spec, secrets)
    text = json.dumps(sealed)
    for s in (REDIS_PW, "r3dis%2Fp%40ss", KAFKA_PW):
        assert s not in text  # ... the spec file never holds them
    assert "${FEATURESTREAM_SECRET_" in text and set(env.values()) <= set(secrets)
    assert unseal(sealed, env) == spec
    with pytest.raises(FeatureStreamError, match=r"FEATURESTREAM_SECRET_\d+}, which is not set"):
        unseal(sealed, {})


def test_seal_never_rewrites_its_own_references() -> None:
    spec = {"a": "x-longsecret-y", "b": "E"}
    sealed, env = seal(spec, ["longsecret", "E", "SECRET"])  # "E" and "SECRET" occur in the reference text
    assert unseal(sealed, env) == spec


def test_submit_writes_a_sealed_spec_and_redacts_the_client_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _secret_config(tmp_path)
    spec = compile_streaming_job(VIEW, SOURCE, cfg)
    seen: dict[str, Any] = {}

    def fake_run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        seen["spec"] = Path(cmd[cmd.index("--spec") + 1]).read_text()
        seen["env"] = kw["env"]
        return subprocess.CompletedProcess(cmd, 1, f"Caused by: SaslException: bad password {KAFKA_PW}", "")

    monkeypatch.setattr(jobs_flink.subprocess, "run", fake_run)
    with pytest.raises(FlinkError) as err:
        FlinkClient(cfg).submit(spec)
    assert KAFKA_PW not in str(err.value) and "bad password ***" in str(err.value)
    assert KAFKA_PW not in seen["spec"] and REDIS_PW not in seen["spec"] and "r3dis%2Fp%40ss" not in seen["spec"]
    assert any(KAFKA_PW in v for v in seen["env"].values())  # the values travel in the runner's environment only
    assert unseal(json.loads(seen["spec"]), seen["env"]) == spec


def test_redact() -> None:
    assert redact("url redis://:pw1@h and pw1", ["pw1"]) == "url redis://:***@h and ***"
