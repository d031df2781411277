"""Secrets: ``${VAR}`` references in the config, and keeping secret values out of job specs and output.

The rules it owns:

1. **References** — any string in ``featurestream.yaml`` may contain ``${NAME}``; it is replaced by
   the environment variable ``NAME`` when the config loads (:func:`expand_env`). A missing
   variable is a ConfigError naming the config key and the variable. ``$${`` writes a literal ``${``.
2. **What is secret** (:func:`config_secrets`) — the password of ``redis.url``, and every value of
   ``kafka.properties`` whose key names a password, secret or JAAS config (plus the password parsed
   out of ``sasl.jaas.config``).
3. **Job specs carry references, never values** — :func:`seal` replaces each secret value in a
   compiled spec with ``${FEATURESTREAM_SECRET_<n>}`` and returns the values as environment
   variables for the process that runs the spec; the runner (:func:`unseal`, on the Flink client /
   JobManager side) resolves them from its own environment. So the spec file on disk, the logs
   that print it and ``jobs list`` hold references only. (Flink's own configuration display masks
   keys containing ``password``/``secret``/``jaas.config``.)
4. **Output** — anything printed that may contain a secret goes through :func:`redact`, which
   masks the password of every ``scheme://user:password@host`` URL and any listed secret value.
5. **The online store's password never enters a job** — a compiled spec holds the Redis URL
   without its password (:func:`split_password`) and the *name* of the variable the job reads it
   from on the TaskManager (:data:`REDIS_PASSWORD_ENV`); :func:`with_password` puts it back there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from featurestream.errors import ConfigError, FeatureStreamError
from featurestream.kafka_props import secret_values

__all__ = [
    "REDACTED",
    "REDIS_PASSWORD_ENV",
    "SECRET_VAR_PREFIX",
    "config_secrets",
    "expand_env",
    "expand_tree",
    "redact",
    "seal",
    "split_password",
    "unseal",
    "url_password",
    "with_password",
]

SECRET_VAR_PREFIX = "FEATURESTREAM_SECRET_"
_REF = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "***"
REDACTED = MASK
REDIS_PASSWORD_ENV = "FEATURESTREAM_REDIS_PASSWORD"
"""Where a running job finds the online store's password (set it on every TaskManager)."""
# scheme://[user]:password@ (a URL's password holds no unescaped '/', '@' or whitespace)
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):(?P<password>[^\s/@]+)@")


def expand_env(text: str, env: Mapping[str, str], where: str) -> str:
    """``text`` with every ``${NAME}`` replaced by ``env[NAME]`` (``$${NAME}`` stays ``${NAME}``)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return "${" + m.group(2) + "}"
        name = m.group(2)
        if name not in env:
            raise ConfigError(
                f"{where}: references the environment variable ${{{name}}}, which is not set",
                hint=f"export {name}=... before running featurestream, or write the value in place",
            )
        return env[name]

    return _REF.sub(sub, text)


def expand_tree(data: Any, env: Mapping[str, str], where: str = "") -> Any:
    """:func:`expand_env` applied to every string of a loaded YAML tree (keys named by dotted path)."""
    if isinstance(data, str):
        return expand_env(data, env, where or "<root>")
    if isinstance(data, dict):
        return {k: expand_tree(v, env, f"{where}.{k}" if where else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_tree(v, env, f"{where}[{i}]") for i, v in enumerate(data)]
    return data


def url_password(url: str) -> str | None:
    """The password of a ``scheme://user:password@host`` URL (``None`` when it has none)."""
    try:
        pw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(pw) if pw else None


def config_secrets(redis_url: str, kafka_properties: Mapping[str, str]) -> list[str]:
    """The secret values of a config (rule 2), longest first, without duplicates or empties."""
    found: list[str] = []
    pw = url_password(redis_url)
    if pw:
        found += [pw, urlsplit(redis_url).password or ""]  # decoded and as written (%-escaped)
    found += secret_values(kafka_properties)
    return sorted({s for s in found if s}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the password of every URL in it, and every listed secret value (longest
    first), replaced by ``***``."""
    for s in sorted(set(secrets), key=len, reverse=True):
        if s:
            text = text.replace(s, MASK)
    return _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)


def seal(spec: dict[str, Any], secrets: Iterable[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``(spec with secret values replaced by ${FEATURESTREAM_SECRET_<n>}, {variable: value})``.

    Pass the returned variables in the environment of the process that runs the spec.
    """
    text = json.dumps(spec)
    values = sorted({v for v in secrets if v}, key=len, reverse=True)
    var_of = {json.dumps(v)[1:-1]: f"{SECRET_VAR_PREFIX}{n}" for n, v in enumerate(values, 1)}
    env: dict[str, str] = {}
    if var_of:  # one pass, longest first: a replacement is never scanned again
        pattern = re.compile("|".join(re.escape(e) for e in var_of))

        def sub(m: re.Match[str]) -> str:
            var = var_of[m.group(0)]
            env[var] = values[int(var.removeprefix(SECRET_VAR_PREFIX)) - 1]
            return "${" + var + "}"

        text = pattern.sub(sub, text)
    sealed: dict[str, Any] = json.loads(text)
    return sealed, env


def unseal(spec: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The spec with every ``${FEATURESTREAM_SECRET_<n>}`` resolved from ``env`` (rule 3)."""
    pattern = re.compile(r"\$\{(" + SECRET_VAR_PREFIX + r"\d+)\}")

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in env:
            raise FeatureStreamError(
                f"job {spec.get('name')} references ${{{m.group(1)}}}, which is not set in this process's environment",
                hint="submit through 'featurestream jobs submit' (it passes the secrets), or export the variable "
                "on the machine that runs the job's client",
            )
        return json.dumps(env[m.group(1)])[1:-1]

    out: dict[str, Any] = json.loads(pattern.sub(sub, json.dumps(spec)))
    return out


def split_password(url: str) -> tuple[str, str | None]:
    """``redis://user:pw@host:6379/0`` -> (``redis://user@host:6379/0``, ``"pw"``); no password -> (url, None)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, None
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = (f"{quote(user, safe='')}@" if user else "") + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)), unquote(parts.password)


def with_password(url: str, password: str | None) -> str:
    """The inverse of :func:`split_password`: ``url`` with ``password`` in its user part (None: unchanged)."""
    if not password:
        return url
    parts = urlsplit(url)
    user = quote(unquote(parts.username or ""), safe="")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
