"""``deploy render``: the per-view job manifests of a feature repo, from its registry.

:func:`render` returns files (relative path -> YAML text) without touching the disk;
:func:`write_rendered` writes them. Targets:

``k8s``
    ``<job>.yaml`` per view version (its spec ConfigMap and FlinkDeployment), ``registry.yaml``
    (the registry as the ConfigMap the API mounts) and a ``kustomization.yaml`` listing them.
    A new view version is a new file and a new FlinkDeployment beside the old one; removing the
    old one is a separate, reviewed change.
``compose``
    ``compose.jobs.yaml``: one one-shot submit service per view version, on top of
    ``docker/compose.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from featurestream import storage
from featurestream.config import Config
from featurestream.deploy.compose import compose_jobs
from featurestream.deploy.jobs import ViewJob, view_jobs
from featurestream.deploy.kubernetes import job_objects, registry_config_map
from featurestream.errors import ConfigError, RegistryError
from featurestream.registry import Registry

__all__ = ["TARGETS", "Rendered", "render", "write_rendered"]

TARGETS = ("compose", "k8s")

_HEADER = "# Rendered by `featurestream deploy render --target {target}` from the registry; do not edit by hand.\n"


@dataclass
class Rendered:
    """What a render produced: ``files`` (relative path -> text), the jobs, and warnings."""

    target: str
    files: dict[str, str] = field(default_factory=dict)
    jobs: list[ViewJob] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the embedded job spec) as literal blocks, so a manifest diff reads."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(docs: list[dict[str, Any]], target: str) -> str:
    return _HEADER.format(target=target) + yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, width=120)


def render(config: Config, target: str, registry: Registry | None = None) -> Rendered:
    """Render every registered view version of ``config.namespace`` for ``target``.

    Raises :class:`ConfigError` for an unknown target. Warns (never fails) for each spec value that
    points at the rendering machine (``file://``, ``localhost``): such a job runs on the laptop stack
    but not on a cluster; render with the cluster's config (``FEATURESTREAM_*`` overrides) instead.
    """
    if target not in TARGETS:
        raise ConfigError(
            f"unknown deploy target {target!r}, expected one of {', '.join(TARGETS)}",
            hint="featurestream deploy render --target k8s",
        )
    registry = registry or Registry.open(config)
    jobs = view_jobs(config, registry)
    out = Rendered(target=target, jobs=jobs)
    if not jobs:
        out.warnings.append(f"no view is registered in namespace {config.namespace!r}: run 'featurestream apply' first")
    if target == "k8s":
        for job in jobs:
            out.files[f"{job.object_name}.yaml"] = _dump(job_objects(job, config.deploy), target)
        try:
            text = storage.read_bytes(config.s3, registry.location).decode()
        except FileNotFoundError:
            raise RegistryError(
                f"no registry at {registry.location}: the API's registry ConfigMap cannot be rendered",
                hint="run 'featurestream apply' first (with the same featurestream.yaml)",
            ) from None
        out.files["registry.yaml"] = _dump([registry_config_map(text, config.deploy)], target)
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": config.deploy.k8s_namespace,
            "resources": sorted(out.files),
        }
        out.files["kustomization.yaml"] = _dump([kustomization], target)
        for job in jobs:
            out.warnings.extend(f"{job.view.ref}: {ref} is local to this machine" for ref in job.local_references)
    else:
        out.files["compose.jobs.yaml"] = _dump([compose_jobs(jobs, config.deploy)], target)
    return out


def write_rendered(rendered: Rendered, out_dir: Path) -> list[Path]:
    """Write every rendered file under ``out_dir`` (created); returns the paths written.

    Files of earlier renders are left in place: a view version that is no longer registered keeps
    its manifest until someone removes it on purpose.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in sorted(rendered.files.items()):
        path = out_dir / rel
        path.write_text(text)
        written.append(path)
    return written
