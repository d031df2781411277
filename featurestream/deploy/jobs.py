"""The deployable job of each registered view version: its compiled spec and where its state lives.

One :class:`ViewJob` per (namespace, view, version) in the registry. The spec is the same JSON
``featurestream jobs submit`` runs locally (:func:`featurestream.jobs.compiler.compile_streaming_job`),
so a manifest carries the job's whole definition and no pod reads the feature repo.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from featurestream.config import Config
from featurestream.definitions import FeatureView
from featurestream.jobs.compiler import compile_streaming_job
from featurestream.jobs.control import view_source
from featurestream.naming import job_name
from featurestream.registry import Registry

__all__ = ["MAX_K8S_NAME", "ViewJob", "client_local_references", "k8s_name", "view_jobs"]

# Flink's kubernetes.cluster-id (the FlinkDeployment name) may hold at most 45 characters.
MAX_K8S_NAME = 45

_LOCAL_HOSTS = re.compile(r"(?<![\w.-])(localhost|127\.0\.0\.1|\[::1\])(?![\w.-])")


def k8s_name(name: str) -> str:
    """A Kubernetes object name (DNS-1035 label, at most :data:`MAX_K8S_NAME` characters) for ``name``.

    Lower case; every run of characters other than ``a-z0-9`` becomes ``-``. A name that must be
    shortened keeps its start and gets an 8-character hash of the whole name, so two long job
    names never collide and the same name always maps to the same object.
    """
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not base or not base[0].isalpha():
        base = "fs-" + base
    if len(base) <= MAX_K8S_NAME:
        return base
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return base[: MAX_K8S_NAME - 9].rstrip("-") + "-" + digest


def client_local_references(spec: Any) -> list[str]:
    """Every string in a job spec that points at the machine that compiled it.

    ``file://`` URIs and ``localhost``/``127.0.0.1`` addresses work on the laptop stack and nowhere
    else: a pod that receives them reads or writes its own disk, or itself. Returned as
    ``"<json path>: <value>"`` so the caller can name each one.
    """
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}[{i}]")
        elif isinstance(node, str) and ("file://" in node or _LOCAL_HOSTS.search(node)):
            m = re.search(r"file://[^'\s,)]*", node) or _LOCAL_HOSTS.search(node)
            found.append(f"{path}: {m.group(0) if m else node}")

    walk(spec, "spec")
    return found


@dataclass(frozen=True)
class ViewJob:
    """One view version's streaming job as it is deployed.

    ``checkpoints``/``savepoints``/``ha`` are ``<deploy.state_uri>/<kind>/<job name>``: one prefix
    per job, so two versions of a view (two jobs) never share state, and a redeployed version finds
    its own savepoints.
    """

    view: FeatureView
    name: str  # the Flink job name (featurestream.naming.job_name)
    object_name: str  # the Kubernetes / compose name derived from it
    parallelism: int
    spec: dict[str, Any]
    checkpoints: str
    savepoints: str
    ha: str
    local_references: tuple[str, ...]


def _parallelism(config: Config, view: FeatureView) -> int:
    table = config.deploy.parallelism
    return table.get(view.ref, table.get(view.name, 1))


def view_jobs(config: Config, registry: Registry) -> list[ViewJob]:
    """The job of every view version registered in ``config.namespace``, in registry order.

    Compiles each spec with ``config`` (so its Kafka, Redis and offline settings are those of the
    target cluster: render with that cluster's ``featurestream.yaml`` or environment overrides).
    """
    jobs: list[ViewJob] = []
    root = config.deploy.state_uri
    for view in registry.views(config.namespace):
        spec = compile_streaming_job(view, view_source(registry, view), config)
        name = job_name(view)
        jobs.append(
            ViewJob(
                view=view,
                name=name,
                object_name=k8s_name(name),
                parallelism=_parallelism(config, view),
                spec=spec,
                checkpoints=f"{root}/checkpoints/{name}",
                savepoints=f"{root}/savepoints/{name}",
                ha=f"{root}/ha/{name}",
                local_references=tuple(client_local_references(spec)),
            )
        )
    return jobs
