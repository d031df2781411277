"""A class-data-sharing archive (AppCDS) of the planner JVM's classes: a faster planner start.

The apply-time planner JVM loads ~12,000 classes (Flink's table planner, Calcite, janino, Scala),
most of them through Flink's planner loader from a jar it unpacks anew on every start; parsing and
verifying them is a large part of the JVM's start and of the first views' planning. Java 17 can
keep the parsed classes in a dynamic archive (``-XX:ArchiveClassesAtExit``) and map it into the
next JVM (``-XX:SharedArchiveFile``); classes of the planner's own class loader are matched by
their bytes, so the unpacked jar's new path each start does not matter.

Where it lives: ``<stack.jars_dir>/planner-cds/planner-<key>.jsa`` (by default
``~/.cache/featurestream/jars/planner-cds/``), next to the jars it was built from. The key hashes
what the JVM checks before using an archive: the ``java`` that PyFlink starts (its ``libjvm.so``
and base archive), PyFlink's classpath and our connector jars (each path, size and mtime). A
changed JVM or jar gives a new key, so the old archive is simply not used (and ``setup`` removes
it when it builds the new one).

Built by ``featurestream setup`` (:func:`ensure_archive`): a child process starts the planner
with ``-XX:ArchiveClassesAtExit``, plans the scaffold's views (``featurestream init``), stops the
JVM and waits for its dump; a second child starts a JVM on the archive with ``-Xshare:on`` (fatal
if the archive cannot be used); only then is the file renamed into place. A partial archive must
never be installed: Java 17 crashes (SIGBUS) on a truncated one instead of ignoring it.

Used by the planner when present (:func:`jvm_args`), with the JVM's own CDS messages off (they
would land on the user's terminal: the planner JVM shares our stdout). If a JVM started on the
archive dies before answering, the planner moves the archive aside and starts once more without
it (``jobs/planner.py``). Off with ``planner_cds: false`` in ``stack`` (``FEATURESTREAM__STACK__PLANNER_CDS=false``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from featurestream.config import Config

__all__ = ["archive_file", "discard", "ensure_archive", "jvm_args"]

# bump when what the archive holds (the training views, the flags it is dumped with) changes
_FORMAT = "1"
_DIR = "planner-cds"
# the JVM's CDS messages (a stale or refused archive, classes it skipped while dumping) go nowhere
_QUIET = "-Xlog:cds*=off"
# archives of other keys (other checkouts' venvs sharing the per-user jar cache) kept when one is built
KEEP_OTHERS = 2


def archive_file(config: Config) -> Path:
    """Where the archive for the current JVM and classpath is (whether built or not)."""
    return config.jars_path / _DIR / f"planner-{_key(config)}.jsa"


def jvm_args(config: Config) -> list[str]:
    """The planner JVM's flags to map the archive, or none when it is off or not built."""
    if not config.stack.planner_cds:
        return []
    path = archive_file(config)
    if not _complete(path):
        return []
    if any(c.isspace() for c in str(path)):  # PyFlink splits JVM_ARGS on white space
        return []
    # a JVM that dies on the archive leaves its crash report beside it, not in the user's folder
    return [f"-XX:SharedArchiveFile={path}", "-Xshare:auto", _QUIET, f"-XX:ErrorFile={path.parent}/hs_err_pid%p.log"]


def _complete(path: Path) -> bool:
    """The archive is there with the size it was built with. Java 17 does not refuse a truncated
    archive, it crashes on it (SIGBUS, with a banner on our stdout): a copy cut short must not be used."""
    try:
        return path.stat().st_size == int(_size_file(path).read_text())
    except (OSError, ValueError):
        return False


def _size_file(path: Path) -> Path:
    return path.with_name(path.name + ".size")


def discard(path: Path) -> None:
    """Move an archive a JVM could not start on out of the way (kept as ``.bad`` for a look)."""
    with contextlib.suppress(OSError):
        path.replace(path.with_suffix(".bad"))


def ensure_archive(config: Config, *, timeout_s: float = 300.0) -> Path | None:
    """Build the archive for the current JVM and classpath unless it exists; returns the path when
    it built one, None when it was there or is off. Raises RuntimeError when the build failed."""
    if not config.stack.planner_cds:
        return None
    path = archive_file(config)
    if _complete(path):
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    for part in path.parent.glob("planner-*.part"):  # left by a build killed mid-way (not one running now)
        with contextlib.suppress(OSError):
            if time.time() - part.stat().st_mtime > 2 * timeout_s:
                part.unlink()
    fd, tmp_name = tempfile.mkstemp(prefix=path.stem + ".", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the JVM writes it
    env = dict(os.environ)
    env.pop("JVM_ARGS", None)  # the user's flags for their planner are not the archive's
    try:
        for step in ("dump", "check"):
            try:
                done = subprocess.run(
                    [sys.executable, "-m", "featurestream.jobs.planner_cds", step, str(tmp), str(config.jars_path)],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"the planner's class archive took over {timeout_s:.0f} s at {step}") from exc
            if done.returncode != 0 or not tmp.is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
                raise RuntimeError(f"the planner's class archive failed at {step}: " + " | ".join(tail))
        size = tmp.stat().st_size
        tmp.replace(path)
        _size_file(tmp).write_text(str(size))
        _size_file(tmp).replace(_size_file(path))  # last: the archive counts as built from here on
    finally:
        tmp.unlink(missing_ok=True)
        _size_file(tmp).unlink(missing_ok=True)
    # Archives of other JVMs or jar sets: several checkouts (each its own venv, so its own PyFlink
    # classpath) share one per-user jar cache, so another key may still be in use: the newest
    # KEEP_OTHERS of them stay, older ones go (75 MB each).
    others = sorted(
        (a for a in path.parent.glob("planner-*.jsa") if a != path),
        key=lambda a: a.stat().st_mtime,
        reverse=True,
    )
    for stale in others[KEEP_OTHERS:]:
        for part in (stale, _size_file(stale), stale.with_suffix(".bad")):
            part.unlink(missing_ok=True)
    for bad in path.parent.glob("planner-*.bad"):  # damaged archives of other keys (this key's stays for a look)
        if bad != path.with_suffix(".bad"):
            bad.unlink(missing_ok=True)
    return path


def _key(config: Config) -> str:
    """A hash of what the JVM checks before it maps an archive: the JVM and the classpath."""
    from pyflink.pyflink_gateway_server import (
        construct_flink_classpath,
        find_java_executable,
        prepare_environment_variables,
    )

    from featurestream.stack.jars import flink_jars

    env = dict(os.environ)
    prepare_environment_variables(env)
    java = shutil.which(find_java_executable()) or find_java_executable()
    home = Path(os.path.realpath(java)).parent.parent
    parts = [_FORMAT, str(home)]
    files = [home / "lib" / "server" / "libjvm.so", home / "lib" / "server" / "classes.jsa"]
    files += [Path(p) for p in construct_flink_classpath(env).split(os.pathsep) if p]
    files += flink_jars(config.jars_path)
    for name in ("HADOOP_CLASSPATH", "HADOOP_CONF_DIR", "YARN_CONF_DIR", "HBASE_CONF_DIR"):
        parts.append(f"{name}={env.get(name, '')}")
    for f in files:
        try:
            st = f.stat()
            parts.append(f"{f}\0{st.st_size}\0{st.st_mtime_ns}")
        except OSError:
            parts.append(f"{f}\0missing")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _dump(out: Path, jars: Path) -> None:
    """Child process: plan the scaffold's views on a JVM that archives its classes at exit."""
    from featurestream.config import load_config
    from featurestream.definitions import parse_feature_view, parse_source
    from featurestream.jobs.planner import FlinkPlanner, start_gateway, stop_gateway
    from featurestream.scaffold import SCAFFOLD

    with tempfile.TemporaryDirectory() as tmp:
        # only the jars from the caller's configuration: nothing else of it matters to planning
        config = load_config(Path(tmp), env={"FEATURESTREAM__STACK__JARS_DIR": str(jars)})
        texts = {rel: text for rel, text in SCAFFOLD.items() if rel.endswith(".sql")}
        sources = {s.name: s for s in (parse_source(t, rel) for rel, t in texts.items() if "/sources/" in rel)}
        views = [parse_feature_view(t, rel) for rel, t in texts.items() if "/features/" in rel]
        start_gateway([f"-XX:ArchiveClassesAtExit={out}", _QUIET])
        # each view four times: a batch large enough for the worker session to start and plan too
        results = FlinkPlanner(config, workers=2).plan_views(views * 4, sources)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise RuntimeError(f"the scaffold's views did not plan: {errors[0]}")
        stop_gateway()  # returns once the JVM has exited, i.e. written the archive


def _check(archive: Path) -> None:
    """Child process: a planner JVM on the archive, where a refused archive is fatal."""
    from featurestream.jobs.planner import start_gateway

    start_gateway([f"-XX:SharedArchiveFile={archive}", "-Xshare:on", _QUIET])


if __name__ == "__main__":
    step, target, jars_dir = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    _dump(target, jars_dir) if step == "dump" else _check(target)
