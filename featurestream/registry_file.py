"""The registry file on disk: one writer at a time, never half-written, the last good copy kept.

The rules this module owns (and :class:`featurestream.registry.Registry` follows):

* **One writer at a time.** A write is a read-modify-write of the whole document done while
  holding an exclusive ``fcntl.flock`` on ``<file>.lock`` beside the registry, so two ``apply``
  runs in separate processes serialise and neither loses the other's definitions.
* **Never half-written.** A new document goes to a temp file in the same folder, is fsynced, and
  is renamed over the registry; the folder is fsynced after the rename. A reader sees the old
  document or the new one, never a mix, even after a power loss.
* **A way back.** Before the rename, the current document -- if it parses -- is kept as
  ``<file>.prev``. A registry that no longer parses raises :class:`CorruptRegistry` naming the file
  and the way back: ``featurestream registry restore`` (:func:`restore_previous`) puts ``.prev``
  back in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from featurestream.errors import RegistryError
from featurestream.storage import replace_local

__all__ = [
    "CorruptRegistry",
    "corrupt_error",
    "lock_path",
    "locked",
    "prev_path",
    "read_document",
    "restore_previous",
    "write_document",
]


class CorruptRegistry(RegistryError):
    """The registry file exists but is not a registry document (truncated, edited, overwritten)."""


def lock_path(path: Path) -> Path:
    """``registry.json`` -> ``registry.json.lock``: the file every writer locks."""
    return path.with_name(path.name + ".lock")


def prev_path(path: Path) -> Path:
    """``registry.json`` -> ``registry.json.prev``: the last good document before the latest write."""
    return path.with_name(path.name + ".prev")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the inter-process write lock of the registry at ``path`` (blocks until it is free)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _parse(path: Path, text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        found = f"invalid JSON ({exc})"
    else:
        if isinstance(doc, dict):
            return doc
        found = f"a JSON {type(doc).__name__}"
    raise corrupt_error(path, found)


def corrupt_error(path: Path, found: str) -> CorruptRegistry:
    """The error for a registry file that is not a registry document: names the file and the way back."""
    prev = prev_path(path)
    way_back = (
        f"run 'featurestream registry restore' to put back the last good copy ({prev}), or"
        if prev.exists()
        else "no previous copy exists;"
    )
    return CorruptRegistry(
        f"registry {path} is corrupt: expected the JSON object 'featurestream apply' writes, found {found}",
        hint=f"{way_back} move {path} away and re-run 'featurestream apply' to rebuild it from the repo",
    )


def read_document(path: Path) -> dict[str, Any] | None:
    """The registry document at ``path``; None when there is no file yet. Raises CorruptRegistry."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RegistryError(f"cannot read registry {path}: {exc}", hint="check the file's permissions") from exc
    return _parse(path, text)


def _replace_atomically(path: Path, text: str) -> None:
    replace_local(path, text.encode())


def write_document(path: Path, doc: dict[str, Any]) -> None:
    """Replace the registry with ``doc`` (temp file + fsync + rename), keeping the current good
    document as ``.prev``. The caller holds :func:`locked`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = None
    if current is not None:
        with contextlib.suppress(CorruptRegistry):
            _parse(path, current)
            _replace_atomically(prev_path(path), current)
    _replace_atomically(path, json.dumps(doc, indent=1, sort_keys=True))


def restore_previous(path: Path) -> dict[str, Any]:
    """Put ``<file>.prev`` back as the registry (atomically, under the lock); returns its document.

    The document being replaced is kept as ``.prev`` when it parses, so a restore can be undone.
    """
    prev = prev_path(path)
    with locked(path):
        try:
            text = prev.read_text()
        except FileNotFoundError:
            raise RegistryError(
                f"no previous registry to restore: expected {prev}, found no such file",
                hint=f"move {path} away and re-run 'featurestream apply' to rebuild the registry from the repo",
            ) from None
        doc = _parse(prev, text)
        write_document(path, doc)
    return doc
