"""Kubernetes manifests: the hand-written API objects in docker/k8s and the per-view jobs that
`deploy render --target k8s` writes, validated against the Kubernetes OpenAPI schemas and the
Flink Kubernetes Operator's published CRD (no cluster, no container)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from featurestream.config import Config, DeployConfig, load_config
from featurestream.deploy import client_local_references, k8s_name, render, write_rendered
from featurestream.deploy.jobs import MAX_K8S_NAME
from featurestream.deploy.kubernetes import ENTRYPOINT, FLINK_PYTHON_JAR, SPEC_MOUNT, flink_deployment, job_objects
from featurestream.errors import ConfigError
from tests.deploy_support import (
    SchemaViolation,
    sample_job,
    validate_compose,
    validate_k8s_object,
    validate_k8s_objects,
)

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "docker" / "k8s"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


# ---------------------------------------------------------------- docker/k8s (hand-written)


def _api_docs() -> dict[str, dict]:  # type: ignore[type-arg]
    return {d["kind"]: d for d in validate_k8s_objects((K8S / "api.yaml").read_text())}


def test_api_objects_are_valid_kubernetes() -> None:
    assert set(_api_docs()) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"}


def test_api_deployment_two_replicas_probes_resources_and_secret() -> None:
    docs = _api_docs()
    dep = docs["Deployment"]
    assert dep["spec"]["replicas"] == 2
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert docs["Service"]["spec"]["selector"].items() <= labels.items()
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert docs["PodDisruptionBudget"]["spec"]["minAvailable"] < dep["spec"]["replicas"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in c["env"] if "valueFrom" in e}
    assert secrets == {DeployConfig().secret_name}  # credentials referenced, never written here
    # no command/args: the image's entrypoint (featurestream/entrypoints/api.sh) runs
    assert "command" not in c and "args" not in c
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["registry"]["configMap"]["name"] == "featurestream-registry"  # rendered by deploy render
    assert volumes["config"]["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    # the mounted featurestream.yaml is a valid config
    cfg = Config.model_validate(yaml.safe_load(docs["ConfigMap"]["data"]["featurestream.yaml"]))
    # it binds beyond loopback, so it needs API keys (serve refuses otherwise); the key is the Secret's
    assert cfg.serving.host == "0.0.0.0" and cfg.serving.api_keys
    env_names = {e["name"] for e in c["env"]}
    assert all(k.key_env in env_names for k in cfg.serving.api_keys)


def test_api_scales_on_request_rate_and_spreads_over_zones_and_nodes() -> None:
    docs = _api_docs()
    dep, hpa, pdb = docs["Deployment"], docs["HorizontalPodAutoscaler"], docs["PodDisruptionBudget"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] == dep["spec"]["replicas"] > pdb["spec"]["minAvailable"]
    (rate,) = [m for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert rate["pods"]["metric"]["name"] == "featurestream_requests_per_second"
    assert int(rate["pods"]["target"]["averageValue"]) > 0
    pod = dep["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    (anti,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert (
        anti["podAffinityTerm"]["labelSelector"]["matchLabels"].items()
        <= dep["spec"]["selector"]["matchLabels"].items()
    )


def test_kustomization_lists_existing_files() -> None:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kust["namespace"] == DeployConfig().k8s_namespace
    for res in kust["resources"]:
        assert (K8S / res).is_file(), res


# ---------------------------------------------------------------- per-view objects (no registry)


def test_flink_deployment_is_a_valid_operator_resource() -> None:
    for obj in job_objects(sample_job(parallelism=3), DeployConfig()):
        validate_k8s_object(obj)


def test_flink_deployment_runs_the_installed_runner_on_the_mounted_spec() -> None:
    job = sample_job(parallelism=3)
    dep = flink_deployment(job, DeployConfig())
    spec = dep["spec"]
    assert spec["job"]["jarURI"] == FLINK_PYTHON_JAR
    assert spec["job"]["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    args = spec["job"]["args"]
    # PyFlink's own options first, the runner's arguments last
    assert args[args.index("-pym") + 1] == "featurestream.jobs.runner"
    assert args[-2:] == ["--spec", f"{SPEC_MOUNT}/job.json"]
    assert spec["job"]["upgradeMode"] == "savepoint" and spec["job"]["parallelism"] == 3
    conf = spec["flinkConfiguration"]
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["kubernetes.entry.path"] == ENTRYPOINT  # the runtime image's entrypoint script
    assert conf["execution.checkpointing.savepoint-dir"] == job.savepoints
    assert all(conf[k].startswith("s3://") for k in ("execution.checkpointing.dir", "high-availability.storageDir"))
    # each role's pods spread over zones and nodes, selected by the labels native Kubernetes gives them
    for role in ("jobManager", "taskManager"):
        spread = spec[role]["podTemplate"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert {c["labelSelector"]["matchLabels"]["component"] for c in spread} == {role.lower()}
        assert all(c["labelSelector"]["matchLabels"]["app"] == job.object_name for c in spread)
    assert spec["jobManager"]["replicas"] == 1
    standby = flink_deployment(job, DeployConfig(jobmanager_replicas=2))
    assert standby["spec"]["jobManager"]["replicas"] == 2
    validate_k8s_object(standby)
    jm = spec["jobManager"]["podTemplate"]["spec"]
    assert jm["volumes"][0]["configMap"]["name"] == f"{job.object_name}-spec"
    assert jm["containers"][0]["volumeMounts"][0]["mountPath"] == SPEC_MOUNT


def test_a_misspelt_field_fails_the_crd_schema() -> None:
    dep = flink_deployment(sample_job(), DeployConfig())
    dep["spec"]["job"]["upgradeMod"] = "savepoint"
    with pytest.raises(SchemaViolation, match="upgradeMod"):
        validate_k8s_object(dep)
    dep = flink_deployment(sample_job(), DeployConfig())
    dep["spec"]["job"]["upgradeMode"] = "on-a-whim"
    with pytest.raises(SchemaViolation, match="on-a-whim"):
        validate_k8s_object(dep)


def test_k8s_names_are_dns_labels_unique_and_short() -> None:
    long_a = "featurestream-default-" + "a" * 60 + "-v1"
    long_b = "featurestream-default-" + "a" * 60 + "-v2"
    for name in ("featurestream-default-user_clicks_10m-v1", long_a, "9lives"):
        out = k8s_name(name)
        assert DNS_1035.match(out) and len(out) <= MAX_K8S_NAME, out
    assert k8s_name(long_a) != k8s_name(long_b)
    assert k8s_name(long_a) == k8s_name(long_a)


def test_client_local_references_are_found() -> None:
    spec = {
        "statements": [
            "... 'path' = 'file:///home/me/offline/x' ...",
            "'properties.bootstrap.servers' = 'localhost:9092'",
        ],
        "python_functions": [{"kwargs": {"redis_url": "redis://127.0.0.1:6379/0"}}],
        "ok": "s3://bucket/x redis://redis-cluster:6379 notlocalhost.example.com",
    }
    found = client_local_references(spec)
    assert len(found) == 3
    assert found[0].startswith("spec.statements[0]: file:///home/me/offline/x")


def test_state_uri_must_reach_every_pod() -> None:
    with pytest.raises(ConfigError, match="state_uri"):
        load_config(REPO, env={"FEATURESTREAM__DEPLOY__STATE_URI": "file:///tmp/state"})
    cfg = load_config(REPO, env={"FEATURESTREAM__DEPLOY__STATE_URI": "s3://b/p/"})
    assert cfg.deploy.state_uri == "s3://b/p"


# ---------------------------------------------------------------- deploy render of the demo repo


@pytest.fixture(scope="module")
def planner():  # type: ignore[no-untyped-def]
    from featurestream.jobs.planner import FlinkPlanner

    return FlinkPlanner(load_config(REPO))


@pytest.fixture
def demo(tmp_path: Path, planner) -> Config:  # type: ignore[no-untyped-def]
    from featurestream.apply import apply

    shutil.copytree(REPO / "sql", tmp_path / "sql")
    (tmp_path / "featurestream.yaml").write_text(
        "namespace: t\nregistry_path: registry.json\ndeploy:\n  parallelism: {card_spend_1h: 4}\n"
    )
    env = {"FEATURESTREAM_KAFKA_BOOTSTRAP": "kafka-0.kafka:9092", "FEATURESTREAM_REDIS_URL": "redis://redis:6379/0"}
    config = load_config(tmp_path, env=env)
    apply(config, planner=planner)
    return config


@pytest.mark.slow
def test_render_k8s_for_the_demo_repo_is_valid(demo: Config, planner, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from featurestream.apply import apply

    out = tmp_path / "out"
    rendered = render(demo, "k8s")
    write_rendered(rendered, out)
    kinds: dict[str, list[str]] = {}
    for path in sorted(out.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in validate_k8s_objects(path.read_text()):
            kinds.setdefault(doc["kind"], []).append(doc["metadata"]["name"])
    assert len(kinds["FlinkDeployment"]) == 4
    assert sorted(yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]) == sorted(
        p.name for p in out.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    by_view = {j.view.name: j for j in rendered.jobs}
    assert by_view["card_spend_1h"].parallelism == 4 and by_view["user_clicks_10m"].parallelism == 1
    # the spec travels in the manifest, compiled with the target's addresses
    cm, dep = yaml.safe_load_all((out / f"{by_view['card_spend_1h'].object_name}.yaml").read_text().split("\n", 1)[1])
    assert "kafka-0.kafka:9092" in cm["data"]["job.json"] and "redis://redis:6379/0" in cm["data"]["job.json"]
    assert dep["spec"]["job"]["parallelism"] == 4
    # the offline sink is still a local file:// path (object-store offline is issue 11): said, not hidden
    assert rendered.warnings and all("file://" in w for w in rendered.warnings)

    # the CLI writes the same files, with the image it is given
    from click.testing import CliRunner

    from featurestream.cli import main

    cli_out = tmp_path / "cli"
    args = ["--repo", str(demo.root), "deploy", "render", "--target", "k8s", "--out", str(cli_out), "--image", "r/x:2"]
    env = {"FEATURESTREAM_KAFKA_BOOTSTRAP": "kafka-0.kafka:9092", "FEATURESTREAM_REDIS_URL": "redis://redis:6379/0"}
    res = CliRunner().invoke(main, args, env=env)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in cli_out.iterdir()) == sorted(p.name for p in out.iterdir())
    _, cli_dep = yaml.safe_load_all((cli_out / f"{by_view['card_spend_1h'].object_name}.yaml").read_text())
    assert cli_dep["spec"]["image"] == "r/x:2"

    # the compose target for the same registry: valid, one submit service per view version, each at
    # its deploy.parallelism
    compose = yaml.safe_load(render(demo, "compose").files["compose.jobs.yaml"])
    validate_compose(compose)
    submits = {k: v for k, v in compose["services"].items() if k.startswith("submit-")}
    assert len(submits) == len(rendered.jobs)
    card = submits[f"submit-{by_view['card_spend_1h'].object_name}"]
    assert card["environment"]["FEATURESTREAM__FLINK__PARALLELISM"] == "4"

    # a new view version renders a new FlinkDeployment beside the old one
    path = demo.root / "sql" / "features" / "card_spend_1h.sql"
    path.write_text(path.read_text().replace("MAX(amount)", "MIN(amount)").replace("-- version: 1", "-- version: 2"))
    apply(demo, planner=planner)
    write_rendered(render(demo, "k8s"), out)
    names = sorted(p.name for p in out.glob("featurestream-t-card-spend-1h-*.yaml"))
    assert names == ["featurestream-t-card-spend-1h-v1.yaml", "featurestream-t-card-spend-1h-v2.yaml"]
    validate_k8s_objects((out / names[1]).read_text())


def test_deploy_render_help_and_unknown_target() -> None:
    from click.testing import CliRunner

    from featurestream.cli import main

    res = CliRunner().invoke(main, ["deploy", "render", "--help"])
    assert res.exit_code == 0 and "--target [compose|k8s]" in res.output and "savepoint" in res.output
    res = CliRunner().invoke(main, ["deploy", "render", "--target", "helm"])
    assert res.exit_code == 1 and "helm" in res.output  # a usage error is an error (2 means a breached check)
    with pytest.raises(ConfigError, match="expected one of compose, k8s"):
        render(load_config(REPO, env={}), "helm")
