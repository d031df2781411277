"""Local processes the stack starts: pid files, logs, health waits, and stopping by pid.

Each service's state is a JSON pid file ``<state>/pids/<name>.json`` recording the pid, the
port and the command line. A process is only ever signalled when its live command line still
matches the recorded one, so a reused pid is never killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from featurestream.errors import StackError

__all__ = ["ManagedProcess", "port_open", "wait_until"]


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    log: Path | None = None,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Poll ``check`` until it is true; returns the seconds waited. Raises StackError on timeout."""
    start = time.monotonic()
    delay = 0.05
    last_error = ""
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception as exc:
            last_error = f" (last probe error: {type(exc).__name__}: {exc})"
        if alive is not None and not alive():
            raise StackError(f"{what} exited during start-up", hint=_tail_hint(log))
        if time.monotonic() - start > timeout:
            raise StackError(f"{what} did not become healthy within {timeout:.0f}s{last_error}", hint=_tail_hint(log))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def _tail_hint(log: Path | None) -> str | None:
    if log is None or not log.exists():
        return None
    lines = log.read_text(errors="replace").splitlines()[-15:]
    return f"see {log}; its last lines:\n    " + "\n    ".join(lines)


@dataclass
class _PidRecord:
    pid: int
    port: int
    cmd: list[str]
    started_at: float
    log: str
    marker: str


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if not raw:
        return None
    return [p.decode(errors="replace") for p in raw.rstrip(b"\0").split(b"\0")]


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return True


class ManagedProcess:
    """One service process of the local stack, identified by its name under ``state/pids``."""

    def __init__(self, name: str, state: Path) -> None:
        self.name = name
        self.state = state
        self.pidfile = state / "pids" / f"{name}.json"
        self.logfile = state / "logs" / f"{name}.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def record(self) -> _PidRecord | None:
        try:
            return _PidRecord(**json.loads(self.pidfile.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def pid(self) -> int | None:
        """The pid when our process is alive (and really ours), else None."""
        rec = self.record()
        if rec is None:
            return None
        live = _cmdline(rec.pid)
        if live is None or _is_zombie(rec.pid):
            return None
        # The exec'd java of a wrapper script differs from the wrapper's argv, and redis rewrites
        # its title; match on a distinctive marker (the service's own config path or port).
        if live != rec.cmd and not any(rec.marker in part for part in live):
            return None
        return rec.pid

    def running(self) -> bool:
        """Alive and ours. For a process this object just started, asks the child directly
        (between fork and exec its command line is still ours)."""
        if self._popen is not None:
            return self._popen.poll() is None
        return self.pid() is not None

    def start(
        self, cmd: list[str], port: int, marker: str, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> int:
        """Start ``cmd`` in its own session with output to the log file; returns its pid."""
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as log:
            log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=cwd,
                    start_new_session=True,
                )
            except FileNotFoundError as exc:
                raise StackError(
                    f"cannot start {self.name}: {exc}", hint="check that the program is installed"
                ) from exc
        self._popen = proc
        rec = _PidRecord(proc.pid, port, cmd, time.time(), str(self.logfile), marker)
        self.pidfile.write_text(json.dumps(asdict(rec)))
        return proc.pid

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM our process group, then SIGKILL after ``timeout``. Returns True if it was running."""
        pid = self.pid()
        if pid is None and self._popen is not None and self._popen.poll() is None:
            pid = self._popen.pid
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            except PermissionError:
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if _cmdline(pid) is None or _is_zombie(pid):
                    break
                time.sleep(0.1)
            else:
                continue
            break
        if self._popen is not None:
            self._popen.poll()
            self._popen = None
        else:
            self._reap(pid)
        self.pidfile.unlink(missing_ok=True)
        return True

    @staticmethod
    def _reap(pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
