"""The serving view of the registry: loaded at start-up, refreshed when the file changes.

The registry file is stat-ed at most once per ``check_interval_s`` (from the request path; a stat
costs a microsecond or two), re-parsed only when its mtime changed, and every cached lookup plan is
dropped when the revision moves. No request ever parses the registry. A registry on an object
store (``s3://``) is checked by a background thread instead (a HEAD is a network round trip, never
paid by a request).

The plan cache is bounded twice, least recently used first out: by entries (``serving.plan_cache_size``)
and by the feature references its keys hold in total (:data:`PLAN_CACHE_MAX_REFS`), so clients
sending ever-new lists of features cannot grow the process without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from featurestream.api.errors import BadRequest, NotFound
from featurestream.api.plan import LookupPlan, build_plan
from featurestream.definitions import FeatureService
from featurestream.errors import FeatureStreamError
from featurestream.ondemand import OnDemandFeature, OnDemandRegistry
from featurestream.registry import BadReference, Registry

__all__ = ["PLAN_CACHE_MAX_REFS", "Catalog", "PlanCache"]

log = logging.getLogger(__name__)
PLAN_CACHE_MAX_REFS = 200_000
_PlanKey = tuple[str, tuple[str, ...], str]


class PlanCache:
    """An LRU of lookup plans bounded by entries and by the references its keys hold."""

    def __init__(self, max_entries: int, max_refs: int = PLAN_CACHE_MAX_REFS) -> None:
        self.max_entries = max_entries
        self.max_refs = max_refs
        # values are 1-tuples made by put(): one object per entry, so the newest entry is known by identity
        self._plans: OrderedDict[_PlanKey, tuple[LookupPlan]] = OrderedDict()
        self._refs = 0
        self._newest: tuple[LookupPlan] | None = None  # the most recently used entry: already last in the order

    def __len__(self) -> int:
        return len(self._plans)

    def get(self, key: _PlanKey) -> LookupPlan | None:
        entry = self._plans.get(key)
        if entry is None:
            return None
        if entry is not self._newest:  # (a key of 50 refs is hashed and compared once, not twice, when it is)
            self._plans.move_to_end(key)
            self._newest = entry
        return entry[0]

    def put(self, key: _PlanKey, plan: LookupPlan) -> None:
        if len(key[1]) > self.max_refs:
            return
        old = self._plans.pop(key, None)
        if old is not None:
            self._refs -= len(key[1])
        entry = self._newest = (plan,)
        self._plans[key] = entry
        self._refs += len(key[1])
        while len(self._plans) > self.max_entries or self._refs > self.max_refs:
            dropped, _ = self._plans.popitem(last=False)
            self._refs -= len(dropped[1])

    def clear(self) -> None:
        self._plans.clear()
        self._refs = 0
        self._newest = None


class Catalog:
    def __init__(
        self, registry: Registry, udfs: OnDemandRegistry, *, check_interval_s: float = 1.0, plan_cache_size: int = 1024
    ) -> None:
        self.registry = registry
        self.udfs = udfs
        self.check_interval_s = check_interval_s
        self._next_check = time.monotonic() + check_interval_s
        self._plans = PlanCache(plan_cache_size)
        self.revision = registry.revision
        self._checking = threading.Lock()

    def maybe_refresh(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self.check_interval_s
        if not self.registry.remote:
            self.refresh()
        elif self._checking.acquire(blocking=False):  # one background check at a time
            threading.Thread(target=self._refresh_in_background, name="registry-check", daemon=True).start()

    def _refresh_in_background(self) -> None:
        try:
            self.refresh()
        finally:
            self._checking.release()

    def refresh(self) -> bool:
        try:
            changed = self.registry.reload()
        except FeatureStreamError as exc:  # a half-written or corrupt file: keep serving what we have
            log.warning("registry reload failed, still serving revision %s: %s", self.revision, exc.message)
            return False
        if changed and self.registry.revision != self.revision:
            self._plans.clear()
            self.revision = self.registry.revision
            log.info("registry revision %s loaded", self.revision)
        return changed

    def plan(self, namespace: str, refs: Sequence[str]) -> LookupPlan:
        key = (namespace, tuple(refs), "")
        plan = self._plans.get(key)
        if plan is None:
            plan = build_plan(self.registry, self.udfs, namespace, refs)
            self._plans.put(key, plan)
        return plan

    def usable_in(self, namespace: str, udf: OnDemandFeature) -> bool:
        """True when every stored-feature input of ``udf`` resolves in ``namespace`` (so a lookup
        there can run it); functions of request data only are usable everywhere."""
        refs = [i for i in udf.inputs if ":" in i]
        if not refs:
            return True
        try:
            self.registry.resolve(namespace, refs)
        except FeatureStreamError:
            return False
        return True

    def service(self, namespace: str, name: str) -> FeatureService:
        """The feature service ``name[@version]`` (:meth:`Registry.find_service`); 422 if malformed, else 404."""
        try:
            return self.registry.find_service(namespace, name)
        except BadReference as exc:
            raise BadRequest(exc.message, hint=exc.hint) from exc
        except FeatureStreamError as exc:
            raise NotFound(exc.message, hint=exc.hint) from exc

    def service_plan(self, namespace: str, name: str) -> LookupPlan:
        key = (namespace, (name,), "service")
        plan = self._plans.get(key)
        if plan is None:
            self.service(namespace, name)  # an unknown service is a 404, not a bad request
            plan = build_plan(self.registry, self.udfs, namespace, service=name)
            self._plans.put(key, plan)
        return plan
