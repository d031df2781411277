"""The one rule that reads the replies of a bulk load's ``SET key row NX PX ttl`` commands
(:func:`featurestream.online.store._absent_written`), on both of its inputs: parsed replies (Redis
Cluster) and raw one-line replies (standalone)."""

from __future__ import annotations

import pytest
import redis

from featurestream.online.errors import OnlineStoreError, OnlineStoreFull
from featurestream.online.resp import parse_reply
from featurestream.online.store import _absent_written, _absent_written_lines


def _lines(*lines: bytes) -> tuple[int, list[int]]:
    return _absent_written_lines(list(lines), parse_reply)


def test_written_and_held_positions() -> None:
    assert _absent_written([b"OK", None, b"OK", None]) == (2, [1, 3])
    assert _lines(b"+OK", b"$-1", b"+OK", b"_") == (2, [1, 3])
    assert _lines(b"+OK", b"+OK") == (2, [])
    assert _absent_written([]) == (0, [])


def test_out_of_memory_is_the_store_full_error() -> None:
    with pytest.raises(OnlineStoreFull):
        _absent_written([b"OK", redis.exceptions.OutOfMemoryError("OOM command not allowed")])
    with pytest.raises(OnlineStoreFull):
        _lines(b"+OK", b"-OOM command not allowed when used memory > 'maxmemory'.")


@pytest.mark.parametrize("reply", [1, b"QUEUED", [b"x"]])
def test_an_unexpected_reply_is_refused_on_both_paths(reply: object) -> None:
    with pytest.raises(OnlineStoreError, match="unexpected reply to SET NX"):
        _absent_written([b"OK", reply])


def test_an_unexpected_raw_line_is_refused() -> None:
    with pytest.raises(OnlineStoreError, match="unexpected reply to SET NX"):
        _lines(b"+OK", b":1")
    with pytest.raises(OnlineStoreError, match="unexpected reply to SET NX"):
        _lines(b"+QUEUED")
