"""Script calls framed in bulk and pipelined: the online writer's transport for many rows at once.

redis-py frames every argument of a command in Python (about a microsecond each); a bulk load
sends two arguments per row (its key and its blob), so framing alone would cost more than the
server's work. Here a whole column of arguments is framed by Arrow at once
(``$<len>\\r\\n<bytes>\\r\\n`` per element, :func:`frame`), a batch of commands leaves in one
``sendall`` (:class:`Connection`), and the writer sends the next batch before it reads the
previous batch's replies, so the client encodes while the server executes.

The replies are read by redis-py's own parser on a connection taken from the client's pool; an
error reply is returned as its exception (the connection stays in step), any other failure
disconnects the connection before it goes back to the pool.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis

__all__ = ["Connection", "Framed", "arg", "command", "command_head", "frame"]

_DOLLAR = pa.scalar(b"$", pa.binary())
_CRLF = pa.scalar(b"\r\n", pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())


def arg(value: bytes | str | int) -> bytes:
    """One argument framed as a RESP bulk string."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(raw), raw)


def command_head(nargs: int, *first: bytes) -> bytes:
    """The array header of a command of ``nargs`` arguments followed by its ``first`` framed ones."""
    return b"*%d\r\n" % nargs + b"".join(first)


def command(*args: bytes | str | int) -> bytes:
    """One whole command: its array header and every argument framed as a bulk string."""
    return command_head(len(args), *(arg(a) for a in args))


class Framed:
    """A column of arguments framed back to back in one buffer; :meth:`span` is rows ``[a, b)``."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, values: pa.Array) -> None:
        if values.null_count:
            raise ValueError("a Redis argument cannot be null")
        b = values.cast(pa.binary())
        lens = pc.cast(pc.binary_length(b), pa.string()).cast(pa.binary())
        framed = pc.binary_join_element_wise(_DOLLAR, lens, _CRLF, b, _CRLF, _EMPTY)
        _, offsets, data = framed.buffers()
        self._offsets = np.frombuffer(offsets, dtype=np.int32)[framed.offset : framed.offset + len(framed) + 1]
        self._data = memoryview(data) if data is not None else memoryview(b"")

    def span(self, a: int, b: int) -> memoryview:
        return self._data[self._offsets[a] : self._offsets[b]]

    def __len__(self) -> int:
        return len(self._offsets) - 1


def frame(values: pa.Array) -> Framed:
    """Every element of ``values`` (binary or string, no nulls) framed as a bulk string."""
    return Framed(values)


class Connection:
    """One connection of a standalone client, held for a whole write: send batches, read replies.

    ``send`` may be called again before ``read``: replies come back in send order. Use it as a
    context manager; leaving with an exception (or with replies unread) disconnects it first.
    """

    def __init__(self, client: redis.Redis) -> None:
        self._pool = client.connection_pool
        try:
            self._conn = self._pool.get_connection()
        except TypeError:  # redis-py before 5.3 wants a command name
            self._conn = self._pool.get_connection("EVAL")
        self._pending: deque[int] = deque()

    def send(self, payload: bytes | bytearray | Sequence[bytes | memoryview], ncommands: int) -> None:
        """Write ``ncommands`` framed commands (one buffer, or parts written in order)."""
        self._conn.send_packed_command(payload if isinstance(payload, list | tuple) else [payload])
        self._pending.append(ncommands)

    @property
    def pending(self) -> int:
        """How many sends have replies not read yet."""
        return len(self._pending)

    def read(self) -> list[Any]:
        """The replies of the oldest unread send; an error reply is its exception object."""
        out: list[Any] = []
        for _ in range(self._pending.popleft()):
            try:
                out.append(self._conn.read_response())
            except redis.ResponseError as exc:  # an error reply: the stream is still in step
                out.append(exc)
        return out

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None or self._pending:
            self._conn.disconnect()
        self._pool.release(self._conn)
