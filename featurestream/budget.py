"""Time budgets for user functions: a call still running past its budget is interrupted, on any thread.

The rule: :func:`run_with_budget` returns ``(value, PRESENT)``, ``(None, ERROR)`` (the function
raised) or ``(None, TIMEOUT)`` (it ran past ``budget_ms``), and never raises. The interruption
works on every thread -- the server runs on-demand functions in a worker thread, off its event loop:

* on the main thread a real-time interval timer (``SIGALRM``) raises inside the function;
* on any other thread a watchdog timer raises inside that thread
  (``PyThreadState_SetAsyncExc``), armed only while the function runs.

Both interrupt between Python bytecodes: a function blocked inside one C call (a long sleep, one big
numpy operation) is interrupted when that call returns; a result that arrives late is discarded.
"""

from __future__ import annotations

import ctypes
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from featurestream.semantics import Status

__all__ = ["run_with_budget"]


class _BudgetExceeded(BaseException):
    """Raised inside a running function when its budget is spent (BaseException: user code rarely catches it)."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _BudgetExceeded


def _on_main_thread(func: Callable[..., Any], args: Sequence[Any], budget_ms: float) -> Any:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, budget_ms / 1000.0)
    try:
        return func(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _on_worker_thread(func: Callable[..., Any], args: Sequence[Any], budget_ms: float) -> Any:
    target = threading.get_ident()
    lock = threading.Lock()
    running = True

    def interrupt() -> None:
        with lock:  # never after the function returned: ``running`` is cleared under the same lock
            if running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(target), ctypes.py_object(_BudgetExceeded))

    watchdog = threading.Timer(budget_ms / 1000.0, interrupt)
    watchdog.daemon = True
    watchdog.start()
    try:
        return func(*args)
    finally:
        with lock:
            running = False
        watchdog.cancel()


def run_with_budget(func: Callable[..., Any], args: Sequence[Any], budget_ms: float) -> tuple[Any, Status]:
    """Call ``func(*args)`` within ``budget_ms`` (see the module docstring); never raises."""
    if budget_ms <= 0:
        return None, Status.TIMEOUT
    t0 = time.perf_counter()
    run = _on_main_thread if threading.current_thread() is threading.main_thread() else _on_worker_thread
    try:
        try:
            value = run(func, args, budget_ms)
        except _BudgetExceeded:
            return None, Status.TIMEOUT
        except Exception:
            return None, Status.ERROR
        if (time.perf_counter() - t0) * 1000.0 > budget_ms:
            return None, Status.TIMEOUT
        return value, Status.PRESENT
    except _BudgetExceeded:  # an interruption delivered just after the function returned
        return None, Status.TIMEOUT
