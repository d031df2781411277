"""API keys -> namespaces. Keys are compared in constant time and never logged or echoed."""

from __future__ import annotations

import hmac

from featurestream.api.errors import Forbidden, Unauthorized
from featurestream.config import ServingConfig

__all__ = ["KeyRing"]


class KeyRing:
    """Who may read which namespace. With no keys configured, auth is off: one namespace for all."""

    def __init__(self, serving: ServingConfig, default_namespace: str) -> None:
        self.default_namespace = default_namespace
        self._keys = [(k.key.get_secret_value().encode(), k.namespace, k.name) for k in serving.api_keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def namespace_for(self, api_key: str | None, requested: str | None = None) -> str:
        """The namespace a request may read; 401 for a missing or wrong key, 403 for another namespace."""
        ns = self.default_namespace
        if self._keys:
            if not api_key:
                raise Unauthorized(
                    "missing API key", hint="send it as 'x-api-key: <key>' or 'Authorization: Bearer <key>'"
                )
            given = api_key.encode()
            found = None
            for secret, namespace, _ in self._keys:
                if hmac.compare_digest(secret, given):
                    found = namespace
            if found is None:
                raise Unauthorized("invalid API key", hint="check the key configured in serving.api_keys")
            ns = found
        if requested is not None and requested != ns:
            raise Forbidden(
                f"this API key may not read namespace {requested!r}",
                hint=f"it reads namespace {ns!r} only" if self._keys else f"this server serves namespace {ns!r}",
            )
        return ns
