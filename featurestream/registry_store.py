"""The registry document on an object store (``registry_path: s3://bucket/key``).

Read and written through :mod:`featurestream.storage`: each write is ONE PUT of the whole
document, so a reader sees the previous document or the new one, never a part.

Concurrency limit (written down, not hidden): an object store gives no cross-machine lock, and
pyarrow exposes no conditional PUT, so two ``apply`` runs against the same S3 registry are not
serialised. :meth:`ObjectRegistryFile.write` narrows the window: it re-reads the stored revision
just before the PUT and refuses when another writer moved it since this process loaded it
(re-run ``apply``). Two writers inside that window still race and the last PUT wins; run applies
from one place (CI) when the registry is on S3. Change checks compare ``(mtime, size)`` (S3 keeps
whole seconds): two writes of the same size in one second are seen at the next change. Local registries are handled by
:class:`featurestream.registry.Registry` itself.
"""

from __future__ import annotations

import json

from featurestream import storage
from featurestream.config import S3Config
from featurestream.errors import RegistryError

__all__ = ["ObjectRegistryFile"]


class ObjectRegistryFile:
    """One registry document at an ``s3://`` location."""

    def __init__(self, s3: S3Config, location: str) -> None:
        self.s3 = s3
        self.location = location

    def stamp(self) -> tuple[int, int] | None:
        """``(mtime_ns, size)`` of the stored document, None when there is none yet."""
        return storage.stamp(self.s3, self.location)

    def read(self) -> bytes:
        """The stored document (FileNotFoundError when there is none)."""
        return storage.read_bytes(self.s3, self.location)

    def _stored_revision(self) -> int:
        try:
            return int(json.loads(self.read()).get("revision", 0))
        except FileNotFoundError:
            return 0
        except ValueError as exc:
            raise RegistryError(
                f"cannot read registry {self.location}: expected a JSON document, found unreadable content",
                hint="run 'featurestream apply' to rebuild it",
            ) from exc

    def write(self, data: bytes, *, loaded_revision: int) -> None:
        """Store ``data`` with one PUT, unless another writer saved since ``loaded_revision`` was read."""
        stored = self._stored_revision()
        if stored != loaded_revision:
            raise RegistryError(
                f"registry {self.location}: expected revision {loaded_revision} (the one this apply read), "
                f"found revision {stored}: another apply saved it meanwhile",
                hint="re-run 'featurestream apply'; run applies against an S3 registry from one place (CI)",
            )
        storage.write_bytes(self.s3, self.location, data)
