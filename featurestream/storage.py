"""Storage locations: the one owner of how a local path or an ``s3://bucket/prefix`` is reached.

A *location* is a string: an absolute local path, or an object-store URI (``s3://bucket/key``).
Every module that reads or writes the offline store, backfill inputs or the registry goes through
here, so one rule holds everywhere:

- :func:`join` builds child locations without collapsing ``s3://`` (``os.path.join`` would not).
- :func:`filesystem` gives the :mod:`pyarrow.fs` filesystem and the path inside it. ``s3://`` uses
  the config's ``s3.endpoint`` / ``s3.path_style_access`` / ``s3.region``; credentials come only
  from the environment (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, else the platform's
  default chain) and are never printed or put in an error.
- :func:`write_bytes` is atomic on both stores: local = temp file + fsync + rename; S3 = one PUT,
  which is atomic per object (a reader sees the old object or the new one, never a part).
  S3 has no rename, so nothing here moves a directory: multi-object atomicity is built above this
  module with a manifest (see :mod:`offline.layout`).
- :func:`as_flink_uri` is how Flink is told a location (``file:///abs`` or the URI unchanged).

pyarrow is imported only when a filesystem is needed (the core install has no pyarrow).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from featurestream.config import S3Config
from featurestream.errors import FeatureStreamError

__all__ = [
    "Entry",
    "StorageError",
    "as_flink_uri",
    "delete",
    "exists",
    "filesystem",
    "is_s3",
    "is_uri",
    "join",
    "list_dirs",
    "list_files",
    "move",
    "put_file",
    "read_bytes",
    "replace_local",
    "stamp",
    "write_bytes",
]

if TYPE_CHECKING:
    import pyarrow.fs as pafs

_SCHEMES = ("s3", "s3a")


class StorageError(FeatureStreamError):
    """A location cannot be reached, read or written."""


@dataclass(frozen=True)
class Entry:
    """One file under a location: its full location, its name (last part) and its size in bytes."""

    location: str
    name: str
    size: int


def is_uri(location: str | Path) -> bool:
    """Whether ``location`` is a URI (``scheme://...``) rather than a local path."""
    return "://" in str(location)


def is_s3(location: str | Path) -> bool:
    """Whether ``location`` is on an S3-compatible object store (``s3://`` or ``s3a://``)."""
    return urlparse(str(location)).scheme in _SCHEMES


def _local(location: str | Path) -> str:
    text = str(location)
    if text.startswith("file://"):
        return urlparse(text).path
    if is_uri(text):
        raise StorageError(
            f"expected a local path, file:// or s3:// location, found {text!r}",
            hint="use s3://bucket/prefix for an object store (set s3.endpoint for a non-AWS one)",
        )
    return text


def join(base: str | Path, *parts: str) -> str:
    """``base/part/...`` as a string location; ``s3://`` and ``file://`` prefixes are kept intact."""
    text = str(base)
    if is_uri(text):
        scheme, rest = text.split("://", 1)
        pieces = [rest.rstrip("/"), *(p.strip("/") for p in parts if p)]
        return f"{scheme}://" + "/".join(pieces)
    return os.path.join(text, *parts)


def as_flink_uri(location: str | Path) -> str:
    """The location as Flink's filesystem connector expects it: URIs unchanged, local paths ``file:///``."""
    text = str(location)
    return text if is_uri(text) else Path(text).absolute().as_uri()


S3_CONNECT_TIMEOUT_S = 5.0
S3_REQUEST_TIMEOUT_S = 60.0


@lru_cache(maxsize=16)
def _s3(endpoint: str, path_style: bool, region: str, key: str | None, secret: str | None) -> pafs.FileSystem:
    import pyarrow.fs as pafs

    # explicit connect and request (socket read) timeouts: a store that hangs fails the call, never blocks it
    kwargs: dict[str, object] = {
        "region": region,
        "connect_timeout": S3_CONNECT_TIMEOUT_S,
        "request_timeout": S3_REQUEST_TIMEOUT_S,
    }
    if endpoint:
        url = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs["endpoint_override"] = url.netloc
        kwargs["scheme"] = url.scheme or "https"
        kwargs["force_virtual_addressing"] = not path_style
    if key and secret:
        kwargs["access_key"] = key
        kwargs["secret_key"] = secret
    return pafs.S3FileSystem(**kwargs)  # type: ignore[arg-type]


def filesystem(s3: S3Config, location: str | Path) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem holding ``location`` and the path inside it (``bucket/key`` on S3)."""
    import pyarrow.fs as pafs

    text = str(location)
    if is_s3(text):
        url = urlparse(text)
        if not url.netloc:
            raise StorageError(f"expected s3://bucket/prefix, found {text!r}", hint="name the bucket")
        env = os.environ
        fs = _s3(
            s3.endpoint, s3.path_style_access, s3.region, env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        )
        return fs, f"{url.netloc}/{url.path.strip('/')}".rstrip("/")
    return pafs.LocalFileSystem(), _local(text)


def _fail(action: str, location: str, exc: Exception) -> StorageError:
    return StorageError(
        f"cannot {action} {location}: {exc}",
        hint="check the path, the bucket, s3.endpoint / s3.path_style_access and the AWS_* credentials "
        "in the environment",
    )


def stamp(s3: S3Config, location: str | Path) -> tuple[int, int] | None:
    """``(mtime_ns, size)`` of a file, or None when it does not exist (a cheap change check)."""
    import pyarrow.fs as pafs

    fs, path = filesystem(s3, location)
    try:
        info = fs.get_file_info(path)
    except OSError as exc:
        raise _fail("stat", str(location), exc) from exc
    if info.type != pafs.FileType.File:
        return None
    mtime = info.mtime_ns if info.mtime_ns is not None else 0
    return int(mtime), int(info.size or 0)


def exists(s3: S3Config, location: str | Path) -> bool:
    """Whether a file exists at ``location``."""
    return stamp(s3, location) is not None


def list_files(s3: S3Config, location: str | Path, *, recursive: bool = False) -> list[Entry]:
    """Files under ``location`` (none when it does not exist), sorted by location."""
    import pyarrow.fs as pafs

    fs, path = filesystem(s3, location)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive))
    except OSError as exc:
        raise _fail("list", str(location), exc) from exc
    base = str(location).rstrip("/")
    out = []
    for info in infos:
        if info.type == pafs.FileType.File:
            rel = info.path[len(path) :].lstrip("/")
            out.append(Entry(join(base, rel), info.base_name, int(info.size or 0)))
    return sorted(out, key=lambda e: e.location)


def list_dirs(s3: S3Config, location: str | Path) -> list[str]:
    """Names of the direct sub-directories (prefixes on S3) of ``location``, sorted."""
    import pyarrow.fs as pafs

    fs, path = filesystem(s3, location)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))
    except OSError as exc:
        raise _fail("list", str(location), exc) from exc
    return sorted(i.base_name for i in infos if i.type == pafs.FileType.Directory)


def read_bytes(s3: S3Config, location: str | Path) -> bytes:
    """The whole content of one file (FileNotFoundError when there is none)."""
    if not is_s3(location):
        return Path(_local(location)).read_bytes()
    fs, path = filesystem(s3, location)
    try:
        with fs.open_input_stream(path) as fh:
            return bytes(fh.read())
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _fail("read", str(location), exc) from exc


def write_bytes(s3: S3Config, location: str | Path, data: bytes) -> None:
    """Write one file atomically: local temp + fsync + rename; S3 one PUT (atomic per object)."""
    if is_s3(location):
        fs, path = filesystem(s3, location)
        try:
            with fs.open_output_stream(path) as fh:
                fh.write(data)
        except OSError as exc:
            raise _fail("write", str(location), exc) from exc
        return
    replace_local(Path(_local(location)), data)


def replace_local(target: Path, data: bytes) -> None:
    """The one atomic local write: a temp file beside ``target``, fsync, rename over it, fsync the
    folder. A reader (or a crash) sees the old bytes or the new ones, never a part."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def put_file(s3: S3Config, source: Path, location: str | Path) -> None:
    """Copy a local file to ``location`` so it appears whole (local: hidden temp + rename; S3: upload)."""
    import pyarrow.fs as pafs

    if is_s3(location):
        fs, path = filesystem(s3, location)
        try:
            pafs.copy_files(str(source), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
        except OSError as exc:
            raise _fail("upload to", str(location), exc) from exc
        return
    target = Path(_local(location))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def move(s3: S3Config, source: str | Path, location: str | Path) -> None:
    """Move one file so it appears whole at ``location``: a rename locally, a server-side copy then a
    delete of the source on S3 (a copy is atomic per object), an upload from local to S3."""
    if not is_s3(source):
        src = Path(_local(source))
        if is_s3(location):
            put_file(s3, src, location)
            src.unlink(missing_ok=True)
            return
        target = Path(_local(location))
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(src, target)  # same filesystem: one rename
        except OSError:
            put_file(s3, src, location)  # across filesystems: copy to a hidden temp, rename
            src.unlink(missing_ok=True)
        return
    if not is_s3(location):
        raise StorageError(f"cannot move {source} to the local {location}", hint="download it instead")
    fs, src_key = filesystem(s3, source)
    _, dst_key = filesystem(s3, location)
    try:
        fs.copy_file(src_key, dst_key)
    except OSError as exc:
        raise _fail("copy", str(source), exc) from exc
    delete(s3, [str(source)])


def delete(s3: S3Config, locations: list[str]) -> None:
    """Delete files; missing ones are ignored."""
    for loc in locations:
        fs, path = filesystem(s3, loc)
        try:
            fs.delete_file(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _fail("delete", loc, exc) from exc
