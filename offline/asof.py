"""The as-of match at the heart of the point-in-time join, on integer arrays (numpy).

Rows and probes carry a dense integer key code (the entity key tuple, encoded once per join) and a
time in epoch µs. For each probe ``(code, t)`` the match is the row with the same code and the
greatest ``(time, *ties)`` such that ``time <= t`` (the ties are further int64 order columns, e.g.
``created_at``); rows that are equal in all of them are resolved to the later input row.

How, without sorting on the key and time columns again per probe set: the rows are put in time
order once (a stable sort, so rows read from files already in time order cost a linear pass),
their positions in that order are packed with their code into one int64 (code high, position low)
and sorted; a probe becomes ``code << 32 | (number of rows with time <= t)`` and one
``searchsorted`` finds the last row of its code before that position. Rows of equal time are put
in tie-column order inside the time order (only where a time repeats), so of the rows equal in code
and time the last is the greatest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from featurestream.offline.errors import OfflineError

__all__ = ["AsOf", "ProbeTimes", "Probes", "visible_rows"]

_POS_BITS = 32
_POS_MASK = (1 << _POS_BITS) - 1


class ProbeTimes:
    """Probe times (epoch µs) in time order, shared by every probe set over the same times."""

    def __init__(self, time: np.ndarray) -> None:
        if len(time) >= _POS_MASK:
            raise OfflineError(
                f"as-of match: expected at most {_POS_MASK - 1} label rows, found {len(time)}",
                hint="build the training set in parts of fewer label rows",
            )
        self.by_time = np.argsort(time, kind="stable")
        self.sorted = time[self.by_time].astype(np.int64, copy=False)


class Probes:
    """Probes ``(code, time)`` in the two orders a match walks: by time, and by (code, time)."""

    def __init__(self, code: np.ndarray, times: ProbeTimes) -> None:
        """``code``: per probe, ``-1`` for one that matches nothing, else ``>= 0``."""
        n = len(code)
        self.n = n
        self.times = times
        # index arrays stay intp: numpy gathers by an int32 index several times slower (a cast per element)
        by_time = times.by_time
        packed = code[by_time].astype(np.int64, copy=False)
        packed += 1
        packed <<= _POS_BITS
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        self.time_pos = packed & _POS_MASK  # per (code, time) position: the time position
        self.order = by_time[self.time_pos]  # per (code, time) position: the input index
        packed >>= _POS_BITS
        packed -= 1
        self.code_sorted = packed  # per (code, time) position: the code


class AsOf:
    """Rows sorted for as-of probes; :meth:`match` answers a batch of probes."""

    def __init__(self, code: np.ndarray, time: np.ndarray, ties: Sequence[np.ndarray] = ()) -> None:
        n = len(code)
        if n >= _POS_MASK:
            raise OfflineError(
                f"as-of match: expected at most {_POS_MASK - 1} feature rows of one view, found {n}",
                hint="narrow the labels' time range so fewer of the view's rows are read",
            )
        time = time.astype(np.int64, copy=False)
        by_time = np.argsort(time, kind="stable")  # timsort: linear on time-ordered input
        time_sorted = time[by_time]
        if ties and n > 1:
            _order_ties(by_time, time_sorted, ties)
        self._time_sorted = time_sorted
        self._by_time = by_time  # input row at each time position
        packed = code[by_time].astype(np.int64, copy=False)
        packed <<= _POS_BITS
        packed |= np.arange(n, dtype=np.int64)
        packed.sort()
        self._packed = packed

    def match(self, probes: Probes) -> np.ndarray:
        """Per probe (in the probes' input order), the input row matched; ``-1``: none."""
        out = np.full(probes.n, -1, dtype=np.int64)
        if len(self._packed) == 0 or probes.n == 0:
            return out
        # rows with time <= t, per probe: the probes in time order walk the rows in order
        before = np.searchsorted(self._time_sorted, probes.times.sorted, side="right")
        code = probes.code_sorted  # probes in (code, time) order: the queries come out sorted
        query = np.maximum(code, 0)
        query <<= _POS_BITS
        query |= before[probes.time_pos]
        del before
        at = np.searchsorted(self._packed, query, side="left")
        at -= 1
        del query
        hit = self._packed[np.maximum(at, 0)]
        found = at >= 0
        found &= code >= 0
        found &= (hit >> _POS_BITS) == code
        del at
        hit = hit[found]
        hit &= _POS_MASK
        out[probes.order[found]] = self._by_time[hit]
        return out

    def sorted_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """(code, input row) in (code, time, *ties) order."""
        return self._packed >> _POS_BITS, self._by_time[self._packed & _POS_MASK]


def _order_ties(by_time: np.ndarray, time_sorted: np.ndarray, ties: Sequence[np.ndarray]) -> None:
    """Within each run of equal time, order ``by_time`` by the tie columns (stably), in place.

    Only rows in such runs are gathered and sorted: none when times are distinct."""
    same = time_sorted[1:] == time_sorted[:-1]  # position i + 1 has the time of position i
    if not same.any():
        return
    tied = np.flatnonzero(same)
    at = np.union1d(tied, tied + 1)  # every position in a run of equal times, ascending
    before = np.maximum(at - 1, 0)
    starts = (at == 0) | (time_sorted[at] != time_sorted[before])
    run = np.maximum.accumulate(np.where(starts, at, 0))  # the run's first position, per member
    rows = by_time[at]
    order = np.lexsort((*(c[rows] for c in reversed(ties)), run))
    by_time[at] = rows[order]


def visible_rows(code: np.ndarray, avail: np.ndarray, ft: np.ndarray, created: np.ndarray) -> np.ndarray:
    """Rows that ever became visible online: in (code, avail, ft, created) order, a row whose
    ``(ft, created)`` is below the greatest ``(ft, created)`` of an earlier row of its code was
    never served (online writes are monotonic). Returns the kept input rows, ascending."""
    n = len(code)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    codes, rows = AsOf(code, avail, (ft, created)).sorted_rows()
    by_value = np.argsort(ft, kind="stable")  # (ft, created) order, for a dense rank
    _order_ties(by_value, ft[by_value], (created,))
    f, c = ft[by_value], created[by_value]
    step = np.concatenate(([0], ((f[1:] != f[:-1]) | (c[1:] != c[:-1])).astype(np.int64)))
    rank = np.empty(n, dtype=np.int64)
    rank[by_value] = np.cumsum(step)
    key = codes * (n + 1) + rank[rows]  # code dominates: a running max never crosses codes
    best_before = np.empty(n, dtype=np.int64)
    best_before[0] = -1
    np.maximum.accumulate(key[:-1], out=best_before[1:])
    return np.sort(rows[key >= best_before])
