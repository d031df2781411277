"""``featurestream.Client``: the Python client of ``featurestream serve`` for model servers and notebooks.

The rules it owns:

- one HTTP connection pool per client (``httpx.Client``), reused by every call; close it with
  ``close()`` or a ``with`` block;
- every call has a timeout; a connection error, a timeout or a 502/503/504/429 is retried up to
  ``retries`` times with full jitter (``uniform(0, min(max_backoff_s, backoff_s * 2**attempt))``),
  and never sooner than the server's ``Retry-After``; any other 4xx/5xx raises :class:`ClientError`
  at once with the server's message and hint;
- online features come back in request order, as Feast's ``to_dict()`` shape (``{name: [values]}``),
  a pandas DataFrame or a pyarrow Table; ``include_statuses`` adds ``<name>__status`` columns;
- ``get_historical_features`` runs locally, on the repo's offline store, through the one training-set
  path (``FeatureStore.get_training_set``): the same PIT join as ``featurestream training-set``.

Importing this module needs neither PyFlink nor DuckDB.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from featurestream.errors import FeatureStreamError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from featurestream.offline.labels import Labels
    from featurestream.store import FeatureStore

__all__ = ["RETRY_STATUSES", "Client", "ClientError"]

RETRY_STATUSES = frozenset({429, 502, 503, 504})
Output = Literal["dict", "pandas", "arrow"]


class ClientError(FeatureStreamError):
    """The server refused a request, or could not be reached after the retries.

    ``status`` is the HTTP status (None when no response came back), ``name`` the server's error name.
    """

    def __init__(self, message: str, *, status: int | None = None, name: str = "", hint: str | None = None) -> None:
        self.status = status
        self.name = name
        super().__init__(message, hint=hint)


def _retry_after_s(value: str | None, now: float) -> float:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date); 0 when absent/bad."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


class Client:
    """A client of one featurestream server (``url``), optionally with an API key.

    ``repo`` is the feature repo ``get_historical_features`` reads (default: the current folder).
    ``transport``, ``sleep`` and ``rng`` are for tests.
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:6566",
        api_key: str | None = None,
        *,
        timeout: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        max_retry_after_s: float = 30.0,
        namespace: str | None = None,
        repo: str | Path = ".",
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, found {retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, found {timeout}")
        headers = {"accept": "application/json"}
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        if namespace:
            headers["x-featurestream-namespace"] = namespace
        self.url = url.rstrip("/")
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_retry_after_s = max_retry_after_s
        self.repo = Path(repo)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)
        self._store: FeatureStore | None = None

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        jitter = self._rng.uniform(0.0, min(self.max_backoff_s, self.backoff_s * (2**attempt)))
        asked = _retry_after_s(response.headers.get("retry-after") if response is not None else None, time.time())
        return max(jitter, min(asked, self.max_retry_after_s))

    def request(self, method: str, path: str, *, json: Any = None) -> Any:
        """One call with the retry rule above; returns the decoded JSON body."""
        last: str = ""
        for attempt in range(self.retries + 1):
            response: httpx.Response | None = None
            try:
                response = self._http.request(method, path, json=json)
            except httpx.TransportError as exc:  # connection refused/reset, timeouts
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 400:
                    return response.json()
                if response.status_code not in RETRY_STATUSES:
                    raise self._error(response)
                last = f"HTTP {response.status_code}"
            if attempt == self.retries:
                if response is not None:
                    raise self._error(response, attempts=attempt + 1)
                break
            self._sleep(self._backoff(attempt, response))
        raise ClientError(
            f"expected an answer from {self.url}{path}, "
            f"found no connection after {self.retries + 1} attempt(s) ({last})",
            hint="check that `featurestream serve` runs at this URL (featurestream status, the server's log)",
        )

    def _error(self, response: httpx.Response, *, attempts: int = 1) -> ClientError:
        name, message, hint = "", response.text[:500], None
        try:
            err = response.json().get("error", {})
            name, message, hint = err.get("name", ""), err.get("message", message), err.get("hint")
        except (ValueError, AttributeError):
            pass
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        return ClientError(
            f"{response.request.method} {response.request.url.path} answered {response.status_code}"
            f"{' ' + name if name else ''}{tried}: {message}",
            status=response.status_code,
            name=name,
            hint=hint,
        )

    # ------------------------------------------------------------------ online

    def get_online_response(
        self,
        features: Sequence[str] | None = None,
        entities: Mapping[str, Sequence[Any]] | None = None,
        *,
        feature_service: str | None = None,
        full_feature_names: bool = False,
    ) -> dict[str, Any]:
        """The server's Feast-shaped JSON (``metadata.feature_names``, ``results[].values/statuses/...``)."""
        if (features is None) == (feature_service is None):
            raise ClientError(
                "expected exactly one of features or feature_service, found "
                + ("both" if features is not None else "neither"),
                hint="pass features=['view:feature', ...] or feature_service='name'",
            )
        if not entities:
            raise ClientError(
                "expected entities as {key: [values]}, found none", hint="e.g. entities={'card_id': ['c1', 'c2']}"
            )
        body: dict[str, Any] = {
            "entities": {k: list(v) for k, v in entities.items()},
            "full_feature_names": full_feature_names,
        }
        if feature_service is not None:
            body["feature_service"] = feature_service
        else:
            body["features"] = list(features or [])
        return dict(self.request("POST", "/get-online-features", json=body))

    @overload
    def get_online_features(
        self,
        features: Sequence[str] | None = None,
        entities: Mapping[str, Sequence[Any]] | None = None,
        *,
        feature_service: str | None = None,
        full_feature_names: bool = False,
        include_statuses: bool = False,
        output: Literal["dict"] = "dict",
    ) -> dict[str, list[Any]]: ...

    @overload
    def get_online_features(
        self,
        features: Sequence[str] | None = None,
        entities: Mapping[str, Sequence[Any]] | None = None,
        *,
        feature_service: str | None = None,
        full_feature_names: bool = False,
        include_statuses: bool = False,
        output: Literal["pandas"],
    ) -> pd.DataFrame: ...

    @overload
    def get_online_features(
        self,
        features: Sequence[str] | None = None,
        entities: Mapping[str, Sequence[Any]] | None = None,
        *,
        feature_service: str | None = None,
        full_feature_names: bool = False,
        include_statuses: bool = False,
        output: Literal["arrow"],
    ) -> pa.Table: ...

    def get_online_features(
        self,
        features: Sequence[str] | None = None,
        entities: Mapping[str, Sequence[Any]] | None = None,
        *,
        feature_service: str | None = None,
        full_feature_names: bool = False,
        include_statuses: bool = False,
        output: Output = "dict",
    ) -> dict[str, list[Any]] | pd.DataFrame | pa.Table:
        """Feature values for ``entities`` (``{key: [values]}``), entity columns first, in request order.

        ``output`` is ``"dict"`` (``{name: [values]}``, as Feast's ``to_dict()``), ``"pandas"`` or
        ``"arrow"``. A missing entity or an expired row gives ``None`` (its status says which).
        """
        resp = self.get_online_response(
            features, entities, feature_service=feature_service, full_feature_names=full_feature_names
        )
        columns: dict[str, list[Any]] = {}
        for name, result in zip(resp["metadata"]["feature_names"], resp["results"], strict=True):
            columns[name] = list(result["values"])
            if include_statuses:
                columns[f"{name}__status"] = list(result["statuses"])
        if output == "dict":
            return columns
        if output == "arrow":
            import pyarrow as pa

            return pa.table(columns)
        if output == "pandas":
            import pandas as pd

            return pd.DataFrame(columns)
        raise ClientError(f"expected output 'dict', 'pandas' or 'arrow', found {output!r}")

    # ------------------------------------------------------------------ offline

    def get_historical_features(
        self,
        labels: Labels,
        features: Sequence[str] | None = None,
        *,
        feature_service: str | None = None,
        as_served: bool = False,
        output: Literal["pandas", "arrow"] = "pandas",
        **options: Any,
    ) -> pd.DataFrame | pa.Table:
        """Label rows + point-in-time feature values from the repo's offline store (DuckDB, local).

        ``labels``: a DataFrame, Arrow table or file with entity keys and a label-time column.
        Same join, defaults and TTL rule as serving; see ``FeatureStore.get_training_set``.
        """
        if self._store is None:
            from featurestream.store import FeatureStore

            self._store = FeatureStore(self.repo)
        return self._store.get_training_set(
            labels,
            features,
            feature_service=feature_service,
            as_served=as_served,
            arrow=output == "arrow",
            **options,
        )

    def health(self) -> dict[str, Any]:
        """``GET /healthz``."""
        return dict(self.request("GET", "/healthz"))
