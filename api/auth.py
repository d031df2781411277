"""API keys -> namespaces: where keys come from, how they are kept, how a request's key is checked.

The rules this module owns:

* a configured key is read once, at start-up, from its source (an environment variable, a secret
  file, an inline value, or given directly as its SHA-256; see :class:`~featurestream.config.ApiKey`);
* only the SHA-256 digest of each key is kept in the process; a request's key is hashed and
  compared with every digest in constant time (``hmac.compare_digest``), so neither the key nor a
  timing difference leaks;
* a key travels in a header (``x-api-key`` or ``Authorization: Bearer``), or for the dashboard's
  GET requests in the ``featurestream_api_key`` cookie -- never in a URL, where it would land in
  logs, history and ``Referer`` headers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from featurestream.api.errors import Forbidden, Unauthorized
from featurestream.config import ApiKey, ServingConfig
from featurestream.errors import ConfigError

__all__ = ["API_KEY_COOKIE", "KeyRing", "key_digest"]

API_KEY_COOKIE = "featurestream_api_key"


def key_digest(key: str) -> bytes:
    """The SHA-256 of a key: what the server keeps and compares."""
    return hashlib.sha256(key.encode()).digest()


def _digest_of(k: ApiKey, root: Path, env: Mapping[str, str]) -> bytes:
    if k.key_sha256 is not None:
        return bytes.fromhex(k.key_sha256)
    if k.key is not None:
        secret = k.key.get_secret_value()
    elif k.key_env is not None:
        value = env.get(k.key_env)
        if not value:
            raise ConfigError(
                f"API key {k.name!r}: expected its value in the environment variable {k.key_env}, found it unset",
                hint=f"export {k.key_env}=<key> before starting the server, or use key_file",
            )
        secret = value
    elif k.key_file is not None:
        path = Path(k.key_file)
        path = path if path.is_absolute() else root / path
        try:
            secret = path.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"API key {k.name!r}: expected a readable secret file {path}, found {type(exc).__name__}",
                hint="mount or write the file holding the key, or fix serving.api_keys[].key_file",
            ) from exc
    else:
        raise ConfigError(f"API key {k.name!r} has no source", hint="set key_env, key_file or key_sha256")
    if not secret:
        raise ConfigError(f"API key {k.name!r}: its source holds an empty key", hint="put the key in it")
    return key_digest(secret)


class KeyRing:
    """Who may read which namespace. With no keys configured, auth is off: one namespace for all."""

    def __init__(self, serving: ServingConfig, default_namespace: str, *, root: Path, env: Mapping[str, str]) -> None:
        self.default_namespace = default_namespace
        self._keys = [(_digest_of(k, root, env), k.namespace, k.name) for k in serving.api_keys]

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
            given = key_digest(api_key)
            found = None
            for digest, namespace, _ in self._keys:
                if hmac.compare_digest(digest, given):
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
