"""``featurestream deploy``: manifests for a cluster, rendered from the registry."""

from __future__ import annotations

import json
from pathlib import Path

import click

from featurestream.cli.common import EXIT_CODES
from featurestream.deploy import TARGETS, render, write_rendered

__all__ = ["deploy"]


@click.group(epilog=EXIT_CODES)
def deploy() -> None:
    """Deployment manifests (compose, Kubernetes) for the registered feature views."""


@deploy.command("render", epilog=EXIT_CODES)
@click.option("--target", type=click.Choice(TARGETS), required=True, help="compose or k8s (Flink Kubernetes Operator).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write into (default: deploy/<target> in the feature repo).",
)
@click.option(
    "--image", help="Runtime image (overrides deploy.runtime_image), e.g. registry/featurestream-runtime:0.1.0."
)
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_obj
def render_cmd(c, target: str, out: Path | None, image: str | None, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    """Write one job manifest per registered view version (name, version, parallelism, savepoint
    path, image tag) under OUT.

    Run after 'featurestream apply', with the target cluster's configuration (its
    featurestream.yaml, or FEATURESTREAM_* environment overrides): the compiled job spec is
    embedded in the manifest, so its Kafka, Redis and offline settings are the cluster's. A new
    view version renders a new manifest beside the old one; nothing is deleted.

    \b
    k8s:     <job>.yaml (spec ConfigMap + FlinkDeployment) and kustomization.yaml
    compose: compose.jobs.yaml (one submit service per view version)
    """
    config = c.config
    if image:
        config = config.model_copy(update={"deploy": config.deploy.model_copy(update={"runtime_image": image})})
    rendered = render(config, target)
    out_dir = out or (config.root / "deploy" / target)
    written = write_rendered(rendered, out_dir)
    if as_json:
        doc = {
            "written": [str(p) for p in written],
            "jobs": [
                {"view": j.view.ref, "name": j.name, "parallelism": j.parallelism, "savepoints": j.savepoints}
                for j in rendered.jobs
            ],
            "warnings": list(rendered.warnings),
        }
        click.echo(json.dumps(doc, indent=1))
        return
    for path in written:
        click.echo(f"wrote {path}")
    for job in rendered.jobs:
        click.echo(f"{job.view.ref:<28} {job.name}  parallelism {job.parallelism}  savepoints {job.savepoints}")
    for warning in rendered.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
