"""Compose services of the per-view jobs, for the one-host install in ``docker/compose.yaml``.

Compose runs one Flink session cluster (a JobManager, two TaskManagers); each view version gets a
one-shot service that submits its job with ``featurestream jobs submit NAME@VERSION`` from the
runtime image (resuming from the savepoint recorded in the shared state volume, if any). The
environment those services need is :data:`SERVICE_ENV`, the same the hand-written ``apply``
service of ``docker/compose.yaml`` uses (a unit test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

from featurestream.config import DeployConfig
from featurestream.deploy.jobs import ViewJob

__all__ = ["SERVICE_ENV", "compose_jobs", "job_service"]

# Addresses inside the compose network, and the volumes every featurestream container mounts.
SERVICE_ENV: dict[str, str] = {
    "FEATURESTREAM_KAFKA_BOOTSTRAP": "kafka:9092",
    "FEATURESTREAM_REDIS_URL": "redis://redis:6379/0",
    "FEATURESTREAM_FLINK_REST_URL": "http://jobmanager:8081",
    "FEATURESTREAM_OFFLINE_PATH": "/data/offline",
    "FEATURESTREAM_STATE_DIR": "/data/state",
}
SERVICE_VOLUMES = [
    "../sql:/repo/sql:ro",
    "../featurestream.yaml:/repo/featurestream.yaml:ro",
    "offline:/data/offline",
    "state:/data/state",
]


def job_service(job: ViewJob, deploy: DeployConfig) -> dict[str, Any]:
    """The one-shot service submitting one view version's job (after ``apply`` has succeeded)."""
    return {
        "image": deploy.runtime_image,
        "command": ["featurestream", "--repo", "/repo", "jobs", "submit", job.view.ref],
        "environment": dict(SERVICE_ENV),
        "volumes": list(SERVICE_VOLUMES),
        "depends_on": {
            "apply": {"condition": "service_completed_successfully"},
            "jobmanager": {"condition": "service_healthy"},
        },
        "restart": "no",
        # Parallelism is the session cluster's parallelism.default here (deploy.parallelism applies
        # to the Kubernetes FlinkDeployments only: `jobs submit` takes no per-job parallelism yet).
        "labels": {"featurestream.dev/job": job.name},
    }


def compose_jobs(jobs: list[ViewJob], deploy: DeployConfig) -> dict[str, Any]:
    """A compose file with one ``submit-<job>`` service per view version, used on top of
    ``docker/compose.yaml`` (``docker compose -f docker/compose.yaml -f compose.jobs.yaml up``)."""
    return {
        "name": "featurestream",
        "services": {f"submit-{job.object_name}": job_service(job, deploy) for job in jobs},
        "volumes": {"offline": {}, "state": {}},
    }
