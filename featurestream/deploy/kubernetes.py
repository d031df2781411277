"""Kubernetes objects of one view version's job, for the Flink Kubernetes Operator.

Application mode, one ``FlinkDeployment`` per view version (the reasons are in docs/deploy.md):

* the job's spec travels in a ``ConfigMap`` beside it, mounted read-only into the JobManager pod
  at :data:`SPEC_MOUNT`; nothing in the pod reads the feature repo or the machine that rendered it;
* the JobManager runs ``PythonDriver`` from the image's ``flink-python`` jar with
  ``-pym featurestream.jobs.runner --spec <mounted file>`` (the runner installed in the image);
* Kubernetes HA, RocksDB with incremental checkpoints, checkpoints/savepoints/HA metadata under
  the job's own prefix of ``deploy.state_uri``; ``upgradeMode: savepoint`` so a change to the
  manifest (image, parallelism) stops with a savepoint and resumes from it;
* S3 credentials come from the Secret ``deploy.secret_name`` as environment variables; the
  Secret itself is never rendered.
"""

from __future__ import annotations

import json
from typing import Any

from featurestream.config import DeployConfig
from featurestream.deploy.jobs import ViewJob
from featurestream.errors import ConfigError

__all__ = [
    "ENTRYPOINT",
    "FLINK_PYTHON_JAR",
    "FLINK_VERSION",
    "OPERATOR_API_VERSION",
    "PYTHON",
    "SPEC_MOUNT",
    "flink_deployment",
    "job_objects",
    "registry_config_map",
    "spec_config_map",
]

# The Flink the runtime image is built on (docker/runtime.Dockerfile; a test keeps them equal).
FLINK_VERSION = "2.2.1"
FLINK_PYTHON_JAR = f"local:///opt/flink/opt/flink-python-{FLINK_VERSION}.jar"
OPERATOR_API_VERSION = "flink.apache.org/v1beta1"
# The runtime image's Python (a virtualenv holding apache-flink and featurestream[stream]).
PYTHON = "/opt/featurestream/venv/bin/python"
# The runtime image's ENTRYPOINT (featurestream/entrypoints/flink.sh, copied there by
# docker/runtime.Dockerfile). Native Kubernetes pods run `kubernetes.entry.path` instead of the
# image's ENTRYPOINT, so every FlinkDeployment names it: the operator's pods run the same script
# as compose and the local stack (it passes the operator's commands through to Flink's own).
ENTRYPOINT = "/opt/featurestream/bin/flink-entrypoint.sh"
SPEC_MOUNT = "/opt/featurestream/spec"
SPEC_FILE = "job.json"
# Kubernetes refuses a ConfigMap over 1 MiB (etcd's object limit), data and metadata together.
MAX_CONFIG_MAP_BYTES = 1_000_000


def _labels(job: ViewJob) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "featurestream",
        "app.kubernetes.io/component": "feature-job",
        "featurestream.dev/namespace": job.view.namespace,
        "featurestream.dev/view": job.view.name[:63],
        "featurestream.dev/version": str(job.view.version),
    }


def spec_config_map(job: ViewJob, deploy: DeployConfig) -> dict[str, Any]:
    """The ConfigMap holding the compiled job spec (``job.json``) that the runner reads."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{job.object_name}-spec",
            "namespace": deploy.k8s_namespace,
            "labels": _labels(job),
        },
        "data": {SPEC_FILE: json.dumps(job.spec, indent=1, sort_keys=True)},
    }


def _flink_configuration(job: ViewJob, deploy: DeployConfig) -> dict[str, str]:
    conf = {
        "taskmanager.numberOfTaskSlots": str(deploy.task_slots),
        "state.backend.type": "rocksdb",
        "execution.checkpointing.incremental": "true",
        "execution.checkpointing.dir": job.checkpoints,
        "execution.checkpointing.savepoint-dir": job.savepoints,
        "execution.checkpointing.num-retained": "3",
        "high-availability.type": "kubernetes",
        "high-availability.storageDir": job.ha,
        "python.executable": PYTHON,
        "python.client.executable": PYTHON,
        "kubernetes.entry.path": ENTRYPOINT,
        "metrics.reporter.prom.factory.class": "org.apache.flink.metrics.prometheus.PrometheusReporterFactory",
        "metrics.reporter.prom.port": "9249",
    }
    if deploy.s3_endpoint:
        conf["s3.endpoint"] = deploy.s3_endpoint
        conf["s3.path.style.access"] = "true"
    # the cluster restarts like the job does (config.FlinkConfig.restart_strategy, compiled into the spec)
    conf.update({k: str(v) for k, v in job.spec.get("config", {}).items() if k.startswith("restart-strategy.")})
    return conf


def _spread(job: ViewJob, component: str) -> list[dict[str, Any]]:
    """Spread one role's pods of this job over zones, then nodes (``ScheduleAnyway``: a small
    cluster still schedules). The labels are the ones Flink's native Kubernetes mode puts on its
    pods (``app`` = the cluster id, ``component`` = jobmanager | taskmanager)."""
    selector = {"matchLabels": {"app": job.object_name, "component": component}}
    return [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": selector}
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def _pod_template(job: ViewJob, deploy: DeployConfig, component: str) -> dict[str, Any]:
    """A Flink pod with the S3 credentials, spread over zones and nodes (the JobManager's adds the
    job spec).

    Given per role, complete, rather than as a shared top-level template: the operator replaces
    (does not merge by name) container lists unless its merge-arrays-by-name option is set.
    """
    secret_env = [
        {
            "name": var,
            "valueFrom": {"secretKeyRef": {"name": deploy.secret_name, "key": var}},
        }
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "spec": {
            "topologySpreadConstraints": _spread(job, component),
            "containers": [
                {
                    "name": "flink-main-container",
                    "env": secret_env,
                    "ports": [{"name": "metrics", "containerPort": 9249}],
                }
            ],
        },
    }


def _jobmanager_template(job: ViewJob, deploy: DeployConfig) -> dict[str, Any]:
    template = _pod_template(job, deploy, "jobmanager")
    template["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "job-spec", "mountPath": SPEC_MOUNT, "readOnly": True}
    ]
    template["spec"]["volumes"] = [{"name": "job-spec", "configMap": {"name": f"{job.object_name}-spec"}}]
    return template


def flink_deployment(job: ViewJob, deploy: DeployConfig) -> dict[str, Any]:
    """The FlinkDeployment (application mode) running one view version's streaming job."""
    return {
        "apiVersion": OPERATOR_API_VERSION,
        "kind": "FlinkDeployment",
        "metadata": {"name": job.object_name, "namespace": deploy.k8s_namespace, "labels": _labels(job)},
        "spec": {
            "image": deploy.runtime_image,
            "imagePullPolicy": "IfNotPresent",
            "flinkVersion": "v" + "_".join(FLINK_VERSION.split(".")[:2]),
            "serviceAccount": deploy.service_account,
            "flinkConfiguration": _flink_configuration(job, deploy),
            "jobManager": {
                # > 1: standby JobManagers (Kubernetes HA elects one), so a JobManager loss costs a
                # leader election instead of a pod rescheduling (docs/scale.md)
                "replicas": deploy.jobmanager_replicas,
                "resource": {"memory": deploy.jobmanager_memory, "cpu": deploy.jobmanager_cpu},
                "podTemplate": _jobmanager_template(job, deploy),
            },
            "taskManager": {
                "resource": {"memory": deploy.taskmanager_memory, "cpu": deploy.taskmanager_cpu},
                "podTemplate": _pod_template(job, deploy, "taskmanager"),
            },
            "job": {
                "jarURI": FLINK_PYTHON_JAR,
                "entryClass": "org.apache.flink.client.python.PythonDriver",
                # PyFlink options first, the runner's own arguments last (PythonDriver's parsing order).
                "args": [
                    "-pyclientexec",
                    PYTHON,
                    "-pym",
                    "featurestream.jobs.runner",
                    "--spec",
                    f"{SPEC_MOUNT}/{SPEC_FILE}",
                ],
                "parallelism": job.parallelism,
                "upgradeMode": "savepoint",
                "state": "running",
            },
        },
    }


def job_objects(job: ViewJob, deploy: DeployConfig) -> list[dict[str, Any]]:
    """Everything one view version's job needs on the cluster: its spec ConfigMap, its FlinkDeployment."""
    return [spec_config_map(job, deploy), flink_deployment(job, deploy)]


def registry_config_map(registry_text: str, deploy: DeployConfig) -> dict[str, Any]:
    """The ConfigMap ``featurestream-registry`` the API Deployment (docker/k8s/api.yaml) mounts.

    Raises :class:`ConfigError` when the registry is too large for a ConfigMap (about 1 MiB).
    """
    size = len(registry_text.encode())
    if size > MAX_CONFIG_MAP_BYTES:
        raise ConfigError(
            f"the registry is {size} bytes; a ConfigMap holds at most {MAX_CONFIG_MAP_BYTES}",
            hint="keep the registry on an object store (registry_path: s3://...) instead of a ConfigMap",
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "featurestream-registry",
            "namespace": deploy.k8s_namespace,
            "labels": {"app.kubernetes.io/name": "featurestream", "app.kubernetes.io/component": "registry"},
        },
        "data": {"registry.json": registry_text},
    }
