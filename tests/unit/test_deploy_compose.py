"""docker/compose.yaml, the per-view compose services `deploy render --target compose` writes,
the Prometheus scrape config and the Grafana dashboard: valid against the Compose Specification
schema, consistent with each other and with the metrics the API and monitoring export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from featurestream.config import DeployConfig
from featurestream.deploy.compose import APPLY_ONLY, PARALLELISM_ENV, SERVICE_ENV, SERVICE_VOLUMES, compose_jobs
from tests.deploy_support import sample_job, validate_compose

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"


def _compose() -> dict:  # type: ignore[type-arg]
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def test_compose_file_is_valid() -> None:
    doc = _compose()
    validate_compose(doc)
    services = doc["services"]
    assert {"kafka", "redis", "minio", "jobmanager", "taskmanager", "apply", "api", "prometheus", "grafana"} <= set(
        services
    )
    assert services["taskmanager"]["deploy"]["replicas"] == 2
    assert "jobs submit --all" in services["apply"]["command"][0]
    assert services["jobmanager"]["image"] == services["taskmanager"]["image"] == DeployConfig().runtime_image
    assert services["api"]["image"] == DeployConfig().serve_image


def test_apply_service_matches_the_rendered_submit_services() -> None:
    apply = _compose()["services"]["apply"]
    assert apply["environment"] == SERVICE_ENV
    assert apply["volumes"] == SERVICE_VOLUMES


def test_bind_mount_sources_exist() -> None:
    for name, svc in _compose()["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("."):
                assert (DOCKER / src).exists(), f"{name}: {src}"


def test_rendered_compose_jobs_are_valid() -> None:
    doc = compose_jobs(
        [sample_job(), sample_job(version=2), sample_job("card_spend_1h", parallelism=4)], DeployConfig()
    )
    validate_compose(doc)
    submits = {k: v for k, v in doc["services"].items() if k.startswith("submit-")}
    assert len(submits) == 3
    cmd = submits["submit-featurestream-default-user-clicks-10m-v2"]["command"]
    assert cmd[-3:] == ["jobs", "submit", "user_clicks_10m@2"]
    # every service it depends on exists in docker/compose.yaml
    base = _compose()["services"]
    for svc in submits.values():
        assert set(svc["depends_on"]) <= set(base)


def test_rendered_compose_jobs_honour_deploy_parallelism(tmp_path: Path) -> None:
    from featurestream.config import load_config
    from featurestream.jobs.compiler import job_placement

    doc = compose_jobs([sample_job(), sample_job("card_spend_1h", parallelism=4)], DeployConfig())
    env = doc["services"]["submit-featurestream-default-card-spend-1h-v1"]["environment"]
    assert env[PARALLELISM_ENV] == "4"
    assert doc["services"]["submit-featurestream-default-user-clicks-10m-v1"]["environment"][PARALLELISM_ENV] == "1"
    # the submitting container's config reads it, and the compiled job carries it as parallelism.default
    cfg = load_config(tmp_path, env=env)
    assert job_placement(cfg)["parallelism.default"] == "4"
    # layered on docker/compose.yaml, `apply` only applies: the submit services start the jobs
    assert doc["services"]["apply"] == {"command": [APPLY_ONLY]}
    base_apply = _compose()["services"]["apply"]["command"][0]
    assert base_apply.startswith(APPLY_ONLY + " && ") and base_apply.endswith("jobs submit --all")


def _exported_metric_names() -> set[str]:
    from prometheus_client import CollectorRegistry

    from featurestream.api.metrics import Metrics
    from featurestream.monitoring.metrics import MonitoringGauges

    names: set[str] = set()
    api = Metrics()
    reg = CollectorRegistry()
    MonitoringGauges(reg)
    for registry in (api.registry, reg):
        for collector in list(registry._collector_to_names):
            for metric in collector.describe():  # type: ignore[attr-defined]  # every collector we register has it
                suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_count", "_sum"]}.get(metric.type, [""])
                names.update(metric.name + s for s in suffixes)
    return names


def test_dashboard_queries_only_exported_metrics() -> None:
    dash = json.loads((DOCKER / "grafana" / "dashboards" / "featurestream.json").read_text())
    exported = _exported_metric_names()
    used = set()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            used.update(re.findall(r"\bfeaturestream_[a-z0-9_]+", target["expr"]))
    assert used, "the dashboard queries nothing"
    assert used <= exported, sorted(used - exported)
    # freshness per view, lookups and statuses, DLQ and late counts
    for needed in (
        "featurestream_view_newest_row_age_seconds",
        "featurestream_feature_values_total",
        "featurestream_request_seconds_count",
        "featurestream_dead_lettered_events",
        "featurestream_late_events",
    ):
        assert needed in used
    provider = yaml.safe_load((DOCKER / "grafana" / "provisioning" / "dashboards" / "featurestream.yaml").read_text())
    mount = next(v for v in _compose()["services"]["grafana"]["volumes"] if "dashboards:" in v)
    assert provider["providers"][0]["options"]["path"] == mount.split(":")[1]


def test_prometheus_scrapes_the_api_and_flink() -> None:
    prom = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    api = jobs["featurestream-api"]["dns_sd_configs"][0]
    assert api["names"] == ["api"] and api["port"] == 6566
    flink = jobs["flink"]["dns_sd_configs"][0]
    assert set(flink["names"]) == {"jobmanager", "taskmanager"} and flink["port"] == 9249
    props = _compose()["services"]["jobmanager"]["environment"]["FLINK_PROPERTIES"]
    assert "metrics.reporter.prom.port: 9249" in props
