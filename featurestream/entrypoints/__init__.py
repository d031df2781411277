"""The entrypoint scripts of featurestream's processes, shipped with the package.

``flink.sh`` starts a Flink JobManager or TaskManager (the runtime image, the operator's pods and
the local stack run it); ``api.sh`` starts the API (the serving image runs it). The Dockerfiles
copy these very files, so what CI runs locally is what the images run.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["SCRIPTS", "script"]

SCRIPTS = ("flink", "api")


def script(name: str) -> Path:
    """The path of the entrypoint script ``name`` (``flink`` or ``api``)."""
    if name not in SCRIPTS:
        raise ValueError(f"unknown entrypoint {name!r}, expected one of {', '.join(SCRIPTS)}")
    return Path(__file__).resolve().parent / f"{name}.sh"
