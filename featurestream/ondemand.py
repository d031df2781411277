"""On-demand (request-time) features: plain Python functions run by the server and the offline builder.

A function declares its inputs: request fields (plain names, e.g. ``amount``) and stored features
(``view[@version]:feature``). Its positional parameters receive the inputs in declared order; stored
features arrive already default-filled exactly as served (see :mod:`featurestream.semantics`)::

    @on_demand(name="amount_over_avg_spend", inputs=["amount", "card_spend_1h:spend_1h",
               "card_spend_1h:txn_count_1h"], dtype="DOUBLE", default=0.0, budget_ms=2)
    def amount_over_avg_spend(amount, spend_1h, txn_count_1h): ...

Referenced as ``on_demand:<name>`` in requests and feature services. A call that raises or exceeds
its budget yields the declared ``default`` with status ``ERROR`` / ``TIMEOUT``, never an exception.
``budget_ms`` is what one *request* may spend in the function, over all its entities
(:meth:`OnDemandFeature.evaluate_many`); rows left when it is spent get the default with ``TIMEOUT``.
Budgets interrupt the function on any thread (:mod:`featurestream.budget`).
Offline, :func:`compute_frame` runs the very same functions row by row over joined training rows.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import orjson

from featurestream.budget import run_with_budget
from featurestream.config import Config
from featurestream.errors import FeatureStreamError
from featurestream.registry import ON_DEMAND_VIEW, FeatureRef, parse_ref
from featurestream.semantics import Status

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ON_DEMAND_VIEW",
    "OnDemandError",
    "OnDemandFeature",
    "OnDemandRegistry",
    "compute_frame",
    "load_udf_folder",
    "load_udfs",
    "on_demand",
]

_CACHE_MAX = 10_000


class OnDemandError(FeatureStreamError):
    """An on-demand definition is invalid, or a requested function or input is unknown."""


@dataclass
class OnDemandFeature:
    """One registered on-demand function and its declared inputs, default and budget."""

    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...]
    dtype: str = "DOUBLE"
    default: Any = None
    budget_ms: float = 5.0
    cache_ttl_s: float = 0.0
    description: str = ""
    _cache: dict[bytes, tuple[float, Any]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ref(self) -> str:
        return f"{ON_DEMAND_VIEW}:{self.name}"

    @property
    def request_fields(self) -> tuple[str, ...]:
        return tuple(i for i in self.inputs if ":" not in i)

    @property
    def feature_inputs(self) -> tuple[FeatureRef, ...]:
        return tuple(parse_ref(i) for i in self.inputs if ":" in i)

    def __call__(self, *args: Any) -> Any:
        """Plain call, no budget or cache: the function as written (for tests and notebooks)."""
        return self.func(*args)

    def evaluate_many(self, rows: Iterable[Sequence[Any]]) -> tuple[list[Any], list[Status]]:
        """One request's evaluations (one argument list per entity) within ONE ``budget_ms`` for all
        of them: each call gets what is left, and once it is spent the remaining rows get the
        default with ``TIMEOUT`` without running. Returns the values and statuses in row order."""
        deadline = time.perf_counter() + self.budget_ms / 1000.0
        values: list[Any] = []
        statuses: list[Status] = []
        for args in rows:
            left_ms = (deadline - time.perf_counter()) * 1000.0
            v, s = self.evaluate(args, budget_ms=left_ms) if left_ms > 0 else (self.default, Status.TIMEOUT)
            values.append(v)
            statuses.append(s)
        return values, statuses

    def evaluate(self, args: Sequence[Any], *, budget_ms: float | None = None) -> tuple[Any, Status]:
        """Run once with the budget and the cache; returns ``(value, status)``, never raises."""
        key = b""
        if self.cache_ttl_s > 0:
            try:
                key = orjson.dumps(list(args), option=orjson.OPT_SERIALIZE_NUMPY)
            except TypeError:
                key = b""
            hit = self._cache.get(key) if key else None
            if hit is not None and hit[0] > time.monotonic():
                return hit[1], Status.PRESENT
        value, status = run_with_budget(self.func, args, self.budget_ms if budget_ms is None else budget_ms)
        if status is not Status.PRESENT:
            return self.default, status
        if key:
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = (time.monotonic() + self.cache_ttl_s, value)
        return value, status


def on_demand(
    *,
    name: str,
    inputs: Sequence[str],
    dtype: str = "DOUBLE",
    default: Any = None,
    budget_ms: float = 5.0,
    cache_ttl_s: float = 0.0,
    description: str = "",
) -> Callable[[Callable[..., Any]], OnDemandFeature]:
    """Declare an on-demand feature (see the module docstring). Validates the declaration at once."""
    if not name or not name.replace("_", "").isalnum() or not name[0].isalpha() or name.lower() != name:
        raise OnDemandError(f"on-demand name must be snake_case, found {name!r}")
    if budget_ms <= 0:
        raise OnDemandError(f"{name}: budget_ms must be positive, found {budget_ms}")
    if cache_ttl_s < 0:
        raise OnDemandError(f"{name}: cache_ttl_s must be >= 0, found {cache_ttl_s}")
    for i in inputs:
        if ":" in i:
            parse_ref(i)
        elif not i.isidentifier():
            raise OnDemandError(f"{name}: request field must be an identifier, found {i!r}")

    def wrap(func: Callable[..., Any]) -> OnDemandFeature:
        return OnDemandFeature(
            name=name,
            func=func,
            inputs=tuple(inputs),
            dtype=dtype,
            default=default,
            budget_ms=budget_ms,
            cache_ttl_s=cache_ttl_s,
            description=description or (func.__doc__ or "").strip().split("\n")[0],
        )

    return wrap


class OnDemandRegistry:
    """The on-demand functions known to a process, by name."""

    def __init__(self, features: Iterable[OnDemandFeature] = ()) -> None:
        self._by_name: dict[str, OnDemandFeature] = {}
        for f in features:
            if f.name in self._by_name and self._by_name[f.name] is not f:
                raise OnDemandError(f"two on-demand functions are named {f.name!r}")
            self._by_name[f.name] = f

    def get(self, name: str) -> OnDemandFeature:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise OnDemandError(
                f"unknown on-demand feature {name!r}", hint=f"known on-demand features: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Any:
        return iter(self._by_name[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._by_name)


def load_udfs(config: Config) -> OnDemandRegistry:
    """The feature repo's on-demand functions: every module under ``config.ondemand_path``.

    The one place the server, the training-set builder and the CLI get their functions from, so
    they always run the same code (setting ``ondemand.path``, default the repo's ``udfs/`` folder).
    """
    return load_udf_folder(config.ondemand_path)


def load_udf_folder(folder: Path) -> OnDemandRegistry:
    """Import every module under ``folder`` (recursively) and collect its :class:`OnDemandFeature` objects.

    Modules load by file path under a private package name unique to the folder
    (``_featurestream_udfs_<hash>``), never through ``sys.path``: a user folder named ``udfs`` or
    ``jobs`` can neither shadow ``featurestream.udfs`` nor be shadowed by anything installed.
    Relative imports inside the folder work. Loading again re-executes the modules. A missing
    folder means no on-demand functions; a module that fails to import raises OnDemandError
    naming the file.
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        return OnDemandRegistry()
    root = "_featurestream_udfs_" + hashlib.sha1(str(folder).encode()).hexdigest()[:12]
    for name in [m for m in sys.modules if m == root or m.startswith(root + ".")]:
        del sys.modules[name]
    modules = _import_package(root, folder)
    found = [v for m in modules for v in vars(m).values() if isinstance(v, OnDemandFeature)]
    return OnDemandRegistry(found)


def _import_package(name: str, folder: Path) -> list[ModuleType]:
    """``folder`` as package ``name`` (its ``__init__.py`` if any), then its modules and sub-folders."""
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    else:
        spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
        spec.submodule_search_locations = [str(folder)]
    modules = [_exec(spec, init)]
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")) or not entry.stem.isidentifier():
            continue
        if entry.is_file() and entry.suffix == ".py":
            sub = importlib.util.spec_from_file_location(f"{name}.{entry.stem}", entry)
            modules.append(_exec(sub, entry))
        elif entry.is_dir() and any(entry.rglob("*.py")):
            modules += _import_package(f"{name}.{entry.name}", entry)
    return modules


def _exec(spec: importlib.machinery.ModuleSpec | None, path: Path) -> ModuleType:
    if spec is None:  # pragma: no cover - spec_from_file_location only fails on odd suffixes
        raise OnDemandError(f"cannot load on-demand module {path}", hint="on-demand modules are .py files")
    if spec.name in sys.modules:  # already imported by a sibling's relative import
        return sys.modules[spec.name]
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        if spec.loader is not None:
            spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[spec.name]
        raise OnDemandError(
            f"cannot load on-demand module {path}: {type(exc).__name__}: {exc}",
            hint="fix that file, or move it out of the on-demand folder (ondemand.path in featurestream.yaml)",
        ) from exc
    return module


# --------------------------------------------------------------------------- offline entry point


def _column_for(df: pd.DataFrame, ref: str, columns: Mapping[str, str]) -> str:
    if ref in columns:
        return columns[ref]
    candidates = [ref]
    if ":" in ref:
        r = parse_ref(ref)
        candidates = [f"{r.view}__{r.feature}", r.feature]
    for c in candidates:
        if c in df.columns:
            return c
    raise OnDemandError(
        f"no column for on-demand input {ref!r}; looked for {candidates}",
        hint="pass columns={input_ref: column_name} to compute_frame",
    )


def compute_frame(
    df: pd.DataFrame,
    names: Sequence[str],
    *,
    registry: OnDemandRegistry,
    columns: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Add one column per on-demand feature in ``names`` to a copy of ``df`` (joined training rows).

    Inputs are looked up by ``columns[input]``, else ``view__feature``, else ``feature`` (for stored
    features) or the request field's name. Rows where the function raises get its default — the same
    rule as online. No time budget offline. Column ``name`` holds the result.
    """
    reg = registry
    cols = dict(columns or {})
    out = df.copy()
    for name in names:
        fn = reg.get(name.removeprefix(ON_DEMAND_VIEW + ":"))
        arrays = [df[_column_for(df, i, cols)].tolist() for i in fn.inputs]
        values = []
        for args in zip(*arrays, strict=True):
            try:
                values.append(fn.func(*args))
            except Exception:
                values.append(fn.default)
        out[fn.name] = values
    return out
