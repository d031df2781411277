"""Resolve the Java side (Kafka broker, Flink connectors) from Maven Central with ``mvn``, and
build featurestream's own Java (``jobs/java``: the ``featurestream-json`` format and the
``featurestream-redis`` online sink, with Jedis shaded in) the same way."""

from __future__ import annotations

import collections
import hashlib
import importlib.resources
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from featurestream.errors import StackError

__all__ = [
    "POM",
    "downloaded_bytes",
    "ensure_format_jar",
    "ensure_jars",
    "flink_jars",
    "flink_plugins",
    "format_jar",
    "java_sources",
    "kafka_classpath",
    "require_jars",
]

POM = Path(__file__).with_name("pom.xml")
SETTINGS = Path(__file__).with_name("settings.xml")
# A jar whose presence means the resolution already ran (re-running is then a no-op).
_MARKERS = {
    "kafka": ("kafka_2.13-",),
    "flink": ("flink-sql-connector-kafka-", "flink-parquet-", "hadoop-common-"),
    "flink-plugins/s3-fs-hadoop": ("flink-s3-fs-hadoop-",),
}


def _resolved(jars_dir: Path) -> bool:
    for sub, prefixes in _MARKERS.items():
        d = jars_dir / sub
        names = [p.name for p in d.glob("*.jar")] if d.is_dir() else []
        if not all(any(n.startswith(prefix) for n in names) for prefix in prefixes):
            return False
    return True


def _need_tools() -> None:
    for tool, fix in (
        ("java", "install a Java 17 JDK (apt-get install openjdk-17-jdk-headless)"),
        ("mvn", "install Maven (apt-get install maven)"),
    ):
        if shutil.which(tool) is None:
            raise StackError(f"'{tool}' is not on PATH; the local stack needs it", hint=fix)


def require_jars(jars_dir: Path, *parts: str) -> None:
    """Raise :class:`StackError` saying "run `featurestream setup`" when the resolved jars of
    ``parts`` (``"flink"``, ``"kafka"``, ...; default all) are missing from ``jars_dir``. Without this
    check Flink only says "Could not find any factory for identifier 'kafka'"."""
    missing = []
    for sub in parts or tuple(_MARKERS):
        d = jars_dir / sub
        names = [p.name for p in d.glob("*.jar")] if d.is_dir() else []
        missing += [f"{sub}/{prefix}*.jar" for prefix in _MARKERS[sub] if not any(n.startswith(prefix) for n in names)]
    if "flink" in (parts or tuple(_MARKERS)) and not format_jar(jars_dir).exists():
        missing.append(f"{format_jar(jars_dir).relative_to(jars_dir)} (featurestream's own, built from jobs/java)")
    if missing:
        raise StackError(
            f"expected the resolved jars {', '.join(missing)} in {jars_dir}, found none",
            hint="run `featurestream setup` (resolves them with Maven, once per user)",
        )


# Maven's batch-mode line for each finished download: "[INFO] Downloaded from central: URL (1.2 MB at 3 MB/s)"
_DOWNLOADED = re.compile(r"Downloaded from [^:]+: \S+ \(([\d.]+) (B|kB|KB|MB|GB)")
_UNIT = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def downloaded_bytes(line: str) -> int | None:
    """The size of the download a Maven output line reports, or None for any other line."""
    m = _DOWNLOADED.search(line)
    return int(float(m.group(1)) * _UNIT[m.group(2)]) if m else None


def ensure_jars(jars_dir: Path, *, quiet: bool = False, on_download: Callable[[int, int], None] | None = None) -> bool:
    """Copy the stack's jars into ``jars_dir/{kafka,flink}``; returns False when already there.

    ``on_download(files, bytes)`` is called after each file Maven downloads (running totals)."""
    if _resolved(jars_dir):
        return False
    _need_tools()
    jars_dir.mkdir(parents=True, exist_ok=True)
    # Our settings are the *global* ones (-gs): a user's own ~/.m2/settings.xml (a company mirror,
    # a proxy) is still read and takes precedence, as Maven merges user over global settings.
    cmd = ["mvn", "-B", "-gs", str(SETTINGS), "-f", str(POM), f"-Djars.dir={jars_dir}", "package"]
    if not quiet:
        print(f"resolving Kafka and Flink connector jars with Maven into {jars_dir} ...", flush=True)
    tail: collections.deque[str] = collections.deque(maxlen=20)
    files = size = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            got = downloaded_bytes(line)
            if got is not None:
                files, size = files + 1, size + got
                if on_download is not None:
                    on_download(files, size)
    if proc.returncode != 0 or not _resolved(jars_dir):
        raise StackError(
            f"Maven could not resolve the stack's jars (exit {proc.returncode}):\n" + "\n".join(tail),
            hint="check network access to Maven Central, then run 'featurestream setup' again",
        )
    return True


def java_sources() -> Path:
    """featurestream's Maven module (``jobs/java``: pom.xml + src/), shipped in the package."""
    return Path(str(importlib.resources.files("featurestream.jobs").joinpath("java")))


def _sources_hash(src: Path) -> str:
    """A digest of the module's sources: a changed source means a new jar name, hence a rebuild."""
    h = hashlib.sha256()
    files = [src / "pom.xml", *sorted(p for p in (src / "src").rglob("*") if p.is_file())]
    for f in files:
        h.update(f.relative_to(src).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def format_jar(jars_dir: Path, src: Path | None = None) -> Path:
    """Where the jar built from the current sources lives (``featurestream-java/<hash>``)."""
    digest = _sources_hash(src or java_sources())
    return jars_dir / "featurestream-java" / f"featurestream-java-{digest}.jar"


def ensure_format_jar(jars_dir: Path, *, quiet: bool = False, src: Path | None = None) -> bool:
    """Build ``jobs/java`` with Maven into :func:`format_jar`; returns False when already built.

    The build runs in a scratch folder (the package may be read-only); the jar lands atomically and
    jars of older sources are removed."""
    src = src or java_sources()
    target = format_jar(jars_dir, src)
    if target.exists():
        return False
    _need_tools()
    target.parent.mkdir(parents=True, exist_ok=True)
    if not quiet:
        print(f"building featurestream's Java (format, online sink) with Maven into {target.parent} ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="featurestream-java-") as build:
        cmd = ["mvn", "-B", "-q", "-gs", str(SETTINGS), "-f", str(src / "pom.xml"), f"-Dbuild.dir={build}", "package"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        built = Path(build) / "featurestream-java.jar"
        if proc.returncode != 0 or not built.exists():
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise StackError(
                f"Maven could not build featurestream's Java format from {src} (exit {proc.returncode}):\n{tail}",
                hint="check network access to Maven Central, then run 'featurestream setup' again",
            )
        tmp = target.with_suffix(".jar.tmp")
        shutil.copyfile(built, tmp)
        os.replace(tmp, target)
    for old in target.parent.glob("featurestream-java-*.jar"):
        if old != target:
            old.unlink(missing_ok=True)
    return True


def kafka_classpath(jars_dir: Path) -> str:
    return str(jars_dir / "kafka" / "*")


def flink_jars(jars_dir: Path) -> list[Path]:
    """Extra jars for Flink's lib/: the Kafka SQL connector, the Parquet format (+ Hadoop) and
    featurestream's own jar, format and online sink (when built from the current sources)."""
    jars = sorted((jars_dir / "flink").glob("*.jar"))
    own = format_jar(jars_dir)
    return [*jars, own] if own.exists() else jars


def flink_plugins(jars_dir: Path) -> Path:
    """Flink's plugins folder (one sub-folder per plugin): the S3 filesystem (``s3://`` paths)."""
    return jars_dir / "flink-plugins"
