"""Script calls framed in bulk and pipelined: the online writer's transport for many rows at once.

redis-py frames every argument of a command in Python (about a microsecond each); a bulk load
sends two arguments per row (its key and its blob), so framing alone would cost more than the
server's work. Here a whole column of arguments is framed by Arrow at once
(``$<len>\\r\\n<bytes>\\r\\n`` per element, :func:`frame`), a batch of commands leaves in one
``sendall`` (:class:`Connection`), and the writer sends the next batch before it reads the
previous batch's replies, so the client encodes while the server executes.

Every command sent here answers a one-line reply (an integer, ``+OK``, a nil, an error): the script
calls answer how many rows they applied, a plain ``SET ... NX`` answers ``+OK`` or nil. So replies
are read as lines straight from the socket of a connection taken from the client's pool, a whole
batch split at once (redis-py's parser costs a few microseconds per reply, more than the server's
work for one ``SET``); an error reply is returned as the exception redis-py's parser would raise
for it (the connection stays in step), any other failure disconnects the connection before it
goes back to the pool. A reply of more than one line is refused as a protocol error.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import redis

__all__ = ["Connection", "Framed", "arg", "args", "command", "command_head", "commands", "frame", "parse_reply"]

_DOLLAR = pa.scalar(b"$", pa.binary())
_CRLF = pa.scalar(b"\r\n", pa.binary())
_EMPTY = pa.scalar(b"", pa.binary())


def arg(value: bytes | str | int) -> bytes:
    """One argument framed as a RESP bulk string."""
    raw = value if isinstance(value, bytes) else str(value).encode()
    return b"$%d\r\n%b\r\n" % (len(raw), raw)


_LENGTHS = [b"$%d" % n for n in range(1024)]  # bulk-string headers of short arguments, made once


def args(values: Sequence[str]) -> bytes:
    """Many string arguments framed back to back (:func:`arg` of each, UTF-8): the keys of a lookup.
    Iterated in C: the headers of arguments shorter than 1 KiB are looked up, not formatted."""
    raw = list(map(str.encode, values))
    if not raw:
        return b""
    lengths = list(map(len, raw))
    if max(lengths) >= len(_LENGTHS):
        return b"".join([arg(r) for r in raw])
    return b"\r\n".join(chain.from_iterable(zip(map(_LENGTHS.__getitem__, lengths), raw, strict=True))) + b"\r\n"


def command_head(nargs: int, *first: bytes) -> bytes:
    """The array header of a command of ``nargs`` arguments followed by its ``first`` framed ones."""
    return b"*%d\r\n" % nargs + b"".join(first)


def command(*args: bytes | str | int) -> bytes:
    """One whole command: its array header and every argument framed as a bulk string."""
    return command_head(len(args), *(arg(a) for a in args))


class Framed:
    """A column of arguments framed back to back in one buffer; :meth:`span` is rows ``[a, b)``."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, framed: pa.Array) -> None:
        """``framed``: a binary array whose elements are already framed (:func:`frame`, :func:`commands`)."""
        _, offsets, data = framed.buffers()
        self._offsets = np.frombuffer(offsets, dtype=np.int32)[framed.offset : framed.offset + len(framed) + 1]
        self._data = memoryview(data) if data is not None else memoryview(b"")

    def span(self, a: int, b: int) -> memoryview:
        return self._data[self._offsets[a] : self._offsets[b]]

    def __len__(self) -> int:
        return len(self._offsets) - 1


def _bulk(values: pa.Array) -> list[pa.Array | pa.Scalar]:
    """The parts of ``values`` (binary or string, no nulls) framed as bulk strings, for a join."""
    if values.null_count:
        raise ValueError("a Redis argument cannot be null")
    b = values.cast(pa.binary())
    lens = pc.cast(pc.binary_length(b), pa.string()).cast(pa.binary())
    return [_DOLLAR, lens, _CRLF, b, _CRLF]


def frame(values: pa.Array) -> Framed:
    """Every element of ``values`` (binary or string, no nulls) framed as a bulk string."""
    return Framed(pc.binary_join_element_wise(*_bulk(values), _EMPTY))


def commands(head: bytes, args: Sequence[pa.Array], tail: bytes) -> Framed:
    """One whole command per row: ``head`` (the array header and the first framed arguments, as
    :func:`command_head` makes it), the row's element of each of ``args`` framed, then ``tail`` (the
    last framed arguments, the same for every row)."""
    parts = [pa.scalar(head, pa.binary())]
    for a in args:
        parts += _bulk(a)
    return Framed(pc.binary_join_element_wise(*parts, pa.scalar(tail, pa.binary()), _EMPTY))


def parse_reply(line: bytes, errors: Callable[[str], Exception] = redis.ResponseError) -> Any:
    """One one-line reply (without its CRLF): an int, ``b"OK"`` (any simple string), ``None`` (nil),
    or an error reply as the exception ``errors`` makes of its text (a redis-py parser's
    ``parse_error`` gives its classes: ``OutOfMemoryError``, ``MovedError``...). As in redis-py, an
    error reply that means the connection is unusable (``ConnectionError``: too many clients) is raised."""
    kind, rest = line[:1], line[1:]
    if kind == b":":
        return int(rest)
    if kind == b"+":
        return bytes(rest)
    if kind == b"-":
        err = errors(rest.decode(errors="replace"))
        if isinstance(err, redis.ConnectionError):
            raise err
        return err
    if line in (b"$-1", b"*-1", b"_"):
        return None
    raise redis.exceptions.InvalidResponse(f"expected a one-line reply, found {bytes(line[:40])!r}")


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
        self._conn.connect()  # no-op when connected; the pool hands out connections with nothing unread
        self._errors: Callable[[str], Exception] = self._conn._parser.parse_error
        self._pending: deque[int] = deque()
        self._buf = bytearray()  # bytes received past the replies read so far

    def send(self, payload: bytes | bytearray | memoryview | Sequence[bytes | memoryview], ncommands: int) -> None:
        """Write ``ncommands`` framed commands (one buffer, or parts written in order)."""
        self._conn.send_packed_command(payload if isinstance(payload, list | tuple) else [payload])
        self._pending.append(ncommands)

    @property
    def pending(self) -> int:
        """How many sends have replies not read yet."""
        return len(self._pending)

    def read_lines(self) -> list[bytes]:
        """The raw one-line replies of the oldest unread send (without their CRLF), in order."""
        n = self._pending.popleft()
        buf = self._buf
        seen = buf.count(b"\r\n")
        sock = self._conn._sock
        try:
            while seen < n:
                if sock is None:
                    raise redis.ConnectionError("the connection was closed")
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise redis.ConnectionError("Redis closed the connection")
                start = max(len(buf) - 1, 0)  # a CRLF may straddle the two reads
                buf += chunk
                seen += buf.count(b"\r\n", start)
        except TimeoutError as exc:  # socket.timeout
            raise redis.TimeoutError(f"Redis did not answer in time: {exc}") from exc
        except OSError as exc:
            raise redis.ConnectionError(f"reading from Redis: {exc}") from exc
        lines = bytes(buf).split(b"\r\n", n)
        self._buf = bytearray(lines.pop()) if len(lines) > n else bytearray()
        return lines

    def read(self) -> list[Any]:
        """The replies of the oldest unread send (:func:`parse_reply`); an error reply is its exception."""
        errors = self._errors
        return [parse_reply(line, errors) for line in self.read_lines()]

    def reply(self, line: bytes) -> Any:
        """One line of :meth:`read_lines` as :meth:`read` answers it."""
        return parse_reply(line, self._errors)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None or self._pending or self._buf:
            self._conn.disconnect()
        self._pool.release(self._conn)
