"""The CLI's one progress line for long work (materialize, backfill): done/total, percent, rate, ETA.

On a terminal the line is redrawn in place (at most every ``redraw_s``); in a log (not a TTY) a
new line is written every ``log_every_s`` seconds instead, so an hour-long run is never silent. The
line goes to stderr: stdout stays the command's result (``--json``). With ``enabled=False`` (``--json``
or a quiet caller) nothing is printed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class Progress:
    """A progress line: ``label  done/total unit (pct%)  rate unit/s  ETA 1m05s  elapsed 12s  detail``.

    ``update(done, total, detail)``: ``total`` None (unknown) drops the percent and the ETA; the
    rate is over the whole run so far. ``close()`` prints the final state and ends the line.
    """

    def __init__(
        self,
        label: str,
        *,
        unit: str = "rows",
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        redraw_s: float = 0.2,
        log_every_s: float = 10.0,
    ) -> None:
        self.label = label
        self.unit = unit
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.started = clock()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = redraw_s if self.tty else log_every_s
        self._last_shown: float | None = None
        self._line = ""
        self._printed = ""
        self._width = 0

    def line(self, done: int, total: int | None, detail: str = "", *, elapsed: float | None = None) -> str:
        """The text of the progress line for ``done`` of ``total`` after ``elapsed`` seconds (default:
        since this progress started; a caller timing the work itself, like a Flink job, passes its own)."""
        elapsed = self.clock() - self.started if elapsed is None else elapsed
        rate = done / elapsed if elapsed > 0 else 0.0
        parts = [self.label]
        if total:
            parts.append(f"{done:,}/{total:,} {self.unit} ({min(100.0, 100.0 * done / total):.0f}%)")
        else:
            parts.append(f"{done:,} {self.unit}")
        parts.append(f"{rate:,.0f} {self.unit}/s")
        if total and rate > 0 and done < total:
            parts.append(f"ETA {format_seconds((total - done) / rate)}")
        parts.append(f"elapsed {format_seconds(elapsed)}")
        if detail:
            parts.append(detail)
        return "  ".join(parts)

    def update(
        self,
        done: int,
        total: int | None = None,
        detail: str = "",
        *,
        elapsed: float | None = None,
        force: bool = False,
    ) -> None:
        if not self.enabled:
            return
        self._line = self.line(done, total, detail, elapsed=elapsed)
        now = self.clock()
        if not force and self._last_shown is not None and now - self._last_shown < self.every:
            return
        self._last_shown = now
        self._show()

    def _show(self) -> None:
        if self.tty:
            pad = " " * max(0, self._width - len(self._line))
            self.stream.write(f"\r{self._line}{pad}")
            self._width = len(self._line)
            self._printed = self._line
        else:
            self.stream.write(self._line + "\n")
        self._printed = self._line
        self.stream.flush()

    def close(self) -> None:
        """Show the last state (if it was not shown yet) and end the line."""
        if not self.enabled or not self._line:
            return
        if self.tty:
            self._show()
            self.stream.write("\n")
            self.stream.flush()
        elif self._line != self._printed:
            self._show()
