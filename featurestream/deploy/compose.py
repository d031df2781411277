"""Compose services of the per-view jobs, for the one-host install in ``docker/compose.yaml``.

Compose runs one Flink session cluster (a JobManager, two TaskManagers); each view version gets a
one-shot service that submits its job with ``featurestream jobs submit NAME@VERSION`` from the
runtime image (resuming from the savepoint recorded in the shared state volume, if any), at the
job's ``deploy.parallelism`` (passed as ``FEATURESTREAM__FLINK__PARALLELISM``, which the compiled
job carries as its ``parallelism.default``). Layered on ``docker/compose.yaml``, the rendered file
also narrows its ``apply`` service to ``featurestream apply``: otherwise its ``jobs submit --all``
would start every job first at the cluster's default parallelism, and the per-view services would
find them running. The environment those services need is :data:`SERVICE_ENV`, the same the
hand-written ``apply`` service uses (a unit test keeps the two equal).
"""

from __future__ import annotations

from typing import Any

from featurestream.config import DeployConfig
from featurestream.deploy.jobs import ViewJob

__all__ = ["APPLY_ONLY", "PARALLELISM_ENV", "SERVICE_ENV", "compose_jobs", "job_service"]

# Addresses inside the compose network, and the volumes every featurestream container mounts.
SERVICE_ENV: dict[str, str] = {
    "FEATURESTREAM_KAFKA_BOOTSTRAP": "kafka:9092",
    "FEATURESTREAM_REDIS_URL": "redis://redis:6379/0",
    "FEATURESTREAM_FLINK_REST_URL": "http://jobmanager:8081",
    "FEATURESTREAM_OFFLINE_PATH": "/data/offline",
    "FEATURESTREAM_STATE_DIR": "/data/state",
}
# The config override each submit service sets to its job's deploy.parallelism (flink.parallelism).
PARALLELISM_ENV = "FEATURESTREAM__FLINK__PARALLELISM"
APPLY_ONLY = "featurestream --repo /repo apply"
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
        "environment": {**SERVICE_ENV, PARALLELISM_ENV: str(job.parallelism)},
        "volumes": list(SERVICE_VOLUMES),
        "depends_on": {
            "apply": {"condition": "service_completed_successfully"},
            "jobmanager": {"condition": "service_healthy"},
        },
        "restart": "no",
        "labels": {"featurestream.dev/job": job.name, "featurestream.dev/parallelism": str(job.parallelism)},
    }


def compose_jobs(jobs: list[ViewJob], deploy: DeployConfig) -> dict[str, Any]:
    """A compose file with one ``submit-<job>`` service per view version, used on top of
    ``docker/compose.yaml`` (``docker compose -f docker/compose.yaml -f compose.jobs.yaml up``)."""
    return {
        "name": "featurestream",
        "services": {
            # overrides docker/compose.yaml's `apply && jobs submit --all`: the services below submit
            "apply": {"command": [APPLY_ONLY]},
            **{f"submit-{job.object_name}": job_service(job, deploy) for job in jobs},
        },
        "volumes": {"offline": {}, "state": {}},
    }
