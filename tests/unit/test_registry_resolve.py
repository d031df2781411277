"""Registry.resolve: the one resolver of feature references, shared by serving and training."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from featurestream.definitions import FeatureService
from featurestream.errors import RegistryError
from featurestream.registry import BadReference, OnDemandRef, Registry, StoredFeature
from tests.support.views import make_view

V1 = make_view("clicks", ["user_id"], {"n": "BIGINT"}, ttl=timedelta(hours=1), namespace="a")
V2 = make_view("clicks", ["user_id"], {"n": "BIGINT", "m": "DOUBLE"}, ttl=timedelta(hours=1), version=2, namespace="a")
OTHER_NS = make_view("secret", ["user_id"], {"s": "DOUBLE"}, ttl=timedelta(hours=1), namespace="b")
SVC1 = FeatureService("model", 1, ("clicks@1:n",), namespace="a")
SVC2 = FeatureService("model", 2, ("clicks:m", "on_demand:score"), namespace="a")


@pytest.fixture(params=["file", "memory"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Registry:
    if request.param == "memory":
        return Registry.of([V1, V2, OTHER_NS], [SVC1, SVC2])
    Registry(tmp_path / "registry.json").save(views=[V1, V2, OTHER_NS], services=[SVC1, SVC2])
    return Registry(tmp_path / "registry.json")


def test_references_resolve_in_order_latest_or_pinned(reg: Registry) -> None:
    out = reg.resolve("a", ["clicks:n", "clicks@1:n", "clicks@v2:m", "on_demand:score", "clicks:n"])
    assert [type(r) for r in out] == [StoredFeature] * 3 + [OnDemandRef, StoredFeature]
    first, pinned, v2, od, again = out
    assert isinstance(first, StoredFeature) and isinstance(pinned, StoredFeature) and isinstance(v2, StoredFeature)
    assert (first.view.version, first.feature.name, first.pinned, first.canonical) == (2, "n", False, "clicks@2:n")
    assert (pinned.view.version, pinned.pinned, pinned.canonical) == (1, True, "clicks@1:n")
    assert v2.feature.dtype == "DOUBLE" and v2.ref == "clicks@v2:m"
    assert od == OnDemandRef("on_demand:score", "score")
    assert again == first


def test_feature_services_resolve_by_name_and_version(reg: Registry) -> None:
    latest = reg.resolve("a", service="model")
    assert [r.ref for r in latest] == ["clicks:m", "on_demand:score"]
    assert [r.ref for r in reg.resolve("a", service="model@1")] == ["clicks@1:n"]
    assert reg.find_service("a", "model@v1") == SVC1


@pytest.mark.parametrize(
    ("namespace", "refs", "service", "error", "needle"),
    [
        ("a", ["nope:n"], None, RegistryError, "unknown feature view 'nope' in namespace 'a'"),
        ("a", ["clicks@3:n"], None, RegistryError, "has no version 3"),
        ("a", ["clicks@1:m"], None, RegistryError, "clicks@1 has no feature 'm'"),
        ("a", ["clicks"], None, BadReference, "expected a feature reference 'view:feature'"),
        ("a", ["clicks@x:n"], None, BadReference, "must be a positive integer, found 'x'"),
        ("a", ["on_demand@2:score"], None, BadReference, "on-demand features have no versions"),
        ("a", [], None, BadReference, "at least one feature"),
        ("a", [7], None, BadReference, "must be strings"),
        ("b", ["clicks:n"], None, RegistryError, "unknown feature view 'clicks' in namespace 'b'"),
        ("a", ["secret:s"], None, RegistryError, "in namespace 'a'"),  # namespaces stay isolated
        ("a", [], "nope", RegistryError, "unknown feature service 'nope'"),
        ("a", [], "model@9", RegistryError, "version 9"),
        ("a", [], "model@x", BadReference, "found 'x'"),
        ("a", ["clicks:n"], "model", BadReference, "found both"),
    ],
)
def test_errors_name_what_is_wrong_and_the_fix(
    reg: Registry, namespace: str, refs: list[str], service: str | None, error: type[Exception], needle: str
) -> None:
    with pytest.raises(error) as err:
        reg.resolve(namespace, refs, service=service)
    assert needle in str(err.value)
    assert "fix:" in str(err.value) or "version" in needle


def test_errors_inside_a_service_name_the_service(tmp_path: Path) -> None:
    reg = Registry.of([V1], [FeatureService("broken", 1, ("clicks:zzz",), namespace="a")])
    with pytest.raises(RegistryError, match="in feature service 'broken': feature view clicks@1 has no feature 'zzz'"):
        reg.resolve("a", service="broken")


def test_an_in_memory_registry_cannot_be_saved() -> None:
    with pytest.raises(RegistryError, match="in-memory"):
        Registry.of([V1]).save(views=[V2])
