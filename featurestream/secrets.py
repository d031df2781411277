"""Secrets in connection URLs: the one place that hides, removes and restores them.

The rules this module owns:

* **Redaction.** :func:`redact` replaces the password of every ``scheme://user:password@host`` URL
  in a text with ``***``. Everything that prints, logs or lists configuration passes through it.
* **Jobs carry no password.** A compiled job spec holds a URL without its password
  (:func:`split_password`) and the *name* of the environment variable the job reads it from on
  the TaskManager (:data:`REDIS_PASSWORD_ENV`); :func:`with_password` puts it back at run time.
  A spec file can then be stored, submitted and shown without leaking the password.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["REDACTED", "REDIS_PASSWORD_ENV", "redact", "split_password", "with_password"]

REDACTED = "***"
REDIS_PASSWORD_ENV = "FEATURESTREAM_REDIS_PASSWORD"
"""Where a running job finds the online store's password (set it on every TaskManager)."""

# scheme://[user]:password@ (a URL's password holds no unescaped '/', '@' or whitespace)
_USERINFO = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*):(?P<password>[^\s/@]+)@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _USERINFO.sub(lambda m: f"{m['head']}:{REDACTED}@", text)


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
