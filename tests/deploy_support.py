"""Test support for deployment artifacts: a sample view job, and validators against the published
schemas pinned in tests/data/schemas.

* compose files: the Compose Specification JSON schema;
* Kubernetes core objects: the OpenAPI-derived schemas shipped by ``kubernetes-validate``
  (strict: an unknown field fails), for :data:`K8S_VERSION`;
* Flink Kubernetes Operator custom resources: the CRD's ``openAPIV3Schema``, made structural the
  way the API server applies it (an unknown field of a typed object is an error here, where the
  server would silently prune it — which is how a misspelt field is lost).
"""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from featurestream.config import DeployConfig
from featurestream.definitions import FeatureView
from featurestream.deploy import ViewJob, k8s_name
from featurestream.naming import job_name

__all__ = [
    "K8S_VERSION",
    "SchemaViolation",
    "sample_job",
    "validate_compose",
    "validate_k8s_object",
    "validate_k8s_objects",
]

SCHEMAS = Path(__file__).resolve().parent / "data" / "schemas"
K8S_VERSION = "1.33.0"
_CRDS = {("flink.apache.org", "FlinkDeployment"): "flinkdeployments.flink.apache.org-v1.yml"}


@cache
def _compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())  # declares draft-07
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


class SchemaViolation(AssertionError):
    """A document does not match its schema: names the document, the field path and the rule."""


def _raise_first(what: str, errors: list[jsonschema.ValidationError]) -> None:
    if errors:
        e = min(errors, key=lambda e: len(e.absolute_path))
        path = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise SchemaViolation(f"{what}: at {path}: {e.message[:400]} ({len(errors)} error(s))")


def validate_compose(doc: dict[str, Any]) -> None:
    """Raise :class:`SchemaViolation` unless ``doc`` is a valid compose file."""
    _raise_first("compose file", list(_compose_validator().iter_errors(doc)))


def _structural(node: Any) -> Any:
    """Close every typed object schema (``additionalProperties: false``) unless it keeps unknown fields."""
    if isinstance(node, dict):
        out = {k: _structural(v) for k, v in node.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_structural(v) for v in node]
    return node


@cache
def _crd_validator(group: str, kind: str, version: str) -> jsonschema.protocols.Validator:
    crd = yaml.safe_load((SCHEMAS / _CRDS[(group, kind)]).read_text())
    for v in crd["spec"]["versions"]:
        if v["name"] == version:
            schema = _structural(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
            # the API server itself checks apiVersion, kind and metadata, not the CRD's schema
            schema["properties"].update(
                apiVersion={"type": "string"}, kind={"type": "string"}, metadata={"type": "object"}
            )
            return jsonschema.Draft7Validator(schema)
    raise LookupError(f"{kind} CRD has no version {version}")


def validate_k8s_object(doc: dict[str, Any]) -> None:
    """Validate one Kubernetes object: a custom resource by its CRD, anything else by kubernetes-validate."""
    group, _, version = doc["apiVersion"].rpartition("/")
    if (group, doc["kind"]) in _CRDS:
        name = doc.get("metadata", {}).get("name")
        _raise_first(f"{doc['kind']} {name}", list(_crd_validator(group, doc["kind"], version).iter_errors(doc)))
        return
    import kubernetes_validate

    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def validate_k8s_objects(text: str) -> list[dict[str, Any]]:
    """Validate every document of a multi-document YAML text; returns the documents."""
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    for doc in docs:
        validate_k8s_object(doc)
    return docs


def sample_job(name: str = "user_clicks_10m", version: int = 1, parallelism: int = 1) -> ViewJob:
    """A view version's job with a small stand-in spec (no registry, no Flink planner)."""
    view = FeatureView(
        name=name,
        version=version,
        entities=("user_id",),
        sql="SELECT 1",
        ttl=timedelta(hours=2),
        freshness_sla=timedelta(minutes=2),
    )
    jn = job_name(view)
    spec = {"name": jn, "mode": "streaming", "config": {}, "statements": ["CREATE TABLE t (x INT)"], "inserts": []}
    root = DeployConfig().state_uri
    return ViewJob(
        view=view,
        name=jn,
        object_name=k8s_name(jn),
        parallelism=parallelism,
        spec=spec,
        checkpoints=f"{root}/checkpoints/{jn}",
        savepoints=f"{root}/savepoints/{jn}",
        ha=f"{root}/ha/{jn}",
        local_references=(),
    )
