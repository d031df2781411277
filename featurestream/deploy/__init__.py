"""Deployment artifacts from the registry: per-view job manifests for compose and Kubernetes.

Engine layer: compiles each registered view version's job spec (``featurestream.jobs``) and wraps
it in the objects a cluster runs. See docs/deploy.md.
"""

from featurestream.deploy.jobs import ViewJob, client_local_references, k8s_name, view_jobs
from featurestream.deploy.render import TARGETS, Rendered, render, write_rendered

__all__ = [
    "TARGETS",
    "Rendered",
    "ViewJob",
    "client_local_references",
    "k8s_name",
    "render",
    "view_jobs",
    "write_rendered",
]
