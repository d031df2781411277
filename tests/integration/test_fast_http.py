"""The HTTP fast path (api.server.FastLookupProtocol) on a real uvicorn server, over raw sockets.

Every request is sent to two servers on the same repo and Redis: one running the fast path, one
running uvicorn's plain ASGI cycle (``serving.http_fast_path: false``, the behaviour before it). Their
answers must be byte for byte the same (the ``date`` header aside): keep-alive, pipelined requests in
one packet (lookups and other routes mixed), a request arriving in pieces, a slow client, bad JSON,
a refused API key, an oversized or chunked body, ``Expect: 100-continue``, HTTP/1.0 and
``Connection: close``. No timing is asserted.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import uvicorn

from featurestream.api.main import create_app
from featurestream.api.server import ArrivalStampingProtocol, FastLookupProtocol
from featurestream.config import ApiKey, Config, ServingConfig
from featurestream.online.store import RedisOnlineStore
from featurestream.registry import Registry
from tests.support.registry import demo_views

pytestmark = pytest.mark.integration

KEY = "fast-path-test-key"


class _Counting(FastLookupProtocol):
    """The fast path, counting the answers it wrote itself (the rest went through uvicorn's ASGI cycle)."""

    answered = 0

    def _respond(self, *args: Any) -> None:
        type(self).answered += 1
        super()._respond(*args)


class _Server:
    """A uvicorn server on a free loopback port, in a thread of this process."""

    def __init__(self, config: Config, protocol: type) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        cfg = uvicorn.Config(
            create_app(config), host="127.0.0.1", port=self.port, http=protocol, loop="uvloop", log_level="warning"
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < end, "uvicorn did not start"
            time.sleep(0.02)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class _Reader:
    """HTTP/1.1 responses off one socket: ``(status line, headers without date, body)``."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buf = sock, b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        self.buf += chunk
        return bool(chunk)

    def response(self) -> tuple[bytes, list[bytes], bytes]:
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), f"connection closed mid-response: {self.buf!r}"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status, *lines = head.split(b"\r\n")
        headers = [h for h in lines if not h.lower().startswith(b"date:")]
        length = next((int(h.split(b":", 1)[1]) for h in lines if h.lower().startswith(b"content-length:")), 0)
        while len(self.buf) < length:
            assert self._fill(), "connection closed mid-body"
        body, self.buf = self.buf[:length], self.buf[length:]
        return status, headers, body

    def closed(self) -> bool:
        """True when the server closed the connection (nothing more to read)."""
        return not self.buf and not self._fill()


def _post(path: str, body: bytes, *extra: str, version: str = "1.1") -> bytes:
    lines = [f"POST {path} HTTP/{version}", "Host: t", "Content-Type: application/json", *extra]
    if not any(e.lower().startswith("transfer-encoding") for e in extra):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _feast_body(*cards: str) -> bytes:
    return orjson.dumps(
        {"features": ["card_spend_1h@1:spend_1h", "card_spend_1h@1:txn_count_1h"], "entities": {"card_id": list(cards)}}
    )


@pytest.fixture(scope="module")
def servers(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, _Server]]:
    """``fast`` / ``asgi`` (auth off) and ``fast_auth`` / ``asgi_auth`` (one API key) on one repo."""
    tmp = tmp_path_factory.mktemp("fast_http")
    ns = "t" + uuid.uuid4().hex[:10]
    views = demo_views(ns)
    Registry(tmp / "state" / "registry.json").save(views=views)
    store = RedisOnlineStore.from_url(redis_url, ns)
    view = next(v for v in views if v.ref == "card_spend_1h@1")
    now = int(time.time() * 1000)
    store.write_rows(
        view,
        [
            {"card_id": c, "feature_time": now - 60_000, "spend_1h": 10.0 * i, "txn_count_1h": i, "max_amount_1h": 1.0}
            for i, c in enumerate(["c1", "c2", "c3"], start=1)
        ],
    )
    store.close()

    def config(**serving: Any) -> Config:
        # far from the read deadline: these tests are about HTTP, not a loaded machine's Redis latency
        return Config(
            root=tmp,
            state_dir=str(tmp / "state"),
            namespace=ns,
            redis={"url": redis_url},
            serving=ServingConfig(deadline_ms=10_000, max_body_bytes=4096, **serving),
        )

    keys = (ApiKey(name="t", namespace=ns, key=KEY),)
    out = {
        "fast": _Server(config(), _Counting),
        "asgi": _Server(config(), ArrivalStampingProtocol),
        "fast_auth": _Server(config(api_keys=keys), _Counting),
        "asgi_auth": _Server(config(api_keys=keys), ArrivalStampingProtocol),
    }
    try:
        yield out
    finally:
        for s in out.values():
            s.close()


def _exchange(server: _Server, packets: list[bytes], answers: int, pause_s: float = 0.0) -> list[Any]:
    """Send ``packets`` on one connection (``pause_s`` apart), read ``answers`` responses, and whether
    the server then closed the connection (when a ``connection: close`` was answered)."""
    with server.connect() as sock:
        for p in packets:
            sock.sendall(p)
            if pause_s:
                time.sleep(pause_s)
        reader = _Reader(sock)
        got: list[Any] = [reader.response() for _ in range(answers)]
        if any(b"connection: close" in h for _, hs, _ in got for h in hs):
            got.append(("closed", reader.closed()))
        return got


def _same(servers: dict[str, _Server], packets: list[bytes], answers: int, auth: bool = False, **kw: Any) -> list[Any]:
    fast = _exchange(servers["fast_auth" if auth else "fast"], packets, answers, **kw)
    asgi = _exchange(servers["asgi_auth" if auth else "asgi"], packets, answers, **kw)
    assert [_timeless(r) for r in fast] == [_timeless(r) for r in asgi]
    return fast


def _timeless(response: Any) -> Any:
    """A response without what depends on the moment it was answered: the native answer's ``age_ms``
    (and so its content-length)."""
    if len(response) != 3:  # ("closed", bool)
        return response
    status, headers, body = response
    if isinstance(body, bytes) and b'"age_ms":' in body:
        body = re.sub(rb'"age_ms":\d+', b'"age_ms":0', body)
        headers = [h for h in headers if not h.startswith(b"content-length:")]
    return status, headers, body


def test_keep_alive_answers_every_request_on_one_connection(servers: dict[str, _Server]) -> None:
    before = _Counting.answered
    got = _same(
        servers,
        [_post("/get-online-features", _feast_body("c1")), _post("/get-online-features", _feast_body("c2", "nope"))],
        2,
    )
    assert _Counting.answered - before == 2  # both by the fast path
    first, second = (orjson.loads(b) for _, _, b in got)
    assert [s for s, _, _ in got] == [b"HTTP/1.1 200 OK"] * 2
    assert first["results"][1]["values"] == [10.0] and first["results"][1]["statuses"] == ["PRESENT"]
    assert second["results"][1]["values"] == [20.0, None]
    assert second["results"][1]["statuses"] == ["PRESENT", "NOT_FOUND"]


def test_pipelined_requests_in_one_packet_are_answered_in_order(servers: dict[str, _Server]) -> None:
    packet = b"".join(
        [
            _post("/get-online-features", _feast_body("c1")),
            b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",  # another route, between two lookups
            _post(
                "/v1/features",
                orjson.dumps({"features": ["card_spend_1h@1:spend_1h"], "entities": {"card_id": ["c3"]}}),
            ),
            _post("/get-online-features", b"{not json"),  # the route's answer, in its place
            _post("/get-online-features", _feast_body("c2")),
        ]
    )
    before = _Counting.answered
    got = _same(servers, [packet], 5)
    assert _Counting.answered - before == 3  # the three well-formed lookups; uvicorn's cycle the other two
    assert [s for s, _, _ in got][:3] == [b"HTTP/1.1 200 OK"] * 3
    assert orjson.loads(got[0][2])["results"][1]["values"] == [10.0]
    assert orjson.loads(got[2][2])["results"][0]["features"]["card_spend_1h@1:spend_1h"]["value"] == 30.0
    assert got[3][0].startswith(b"HTTP/1.1 4")
    assert orjson.loads(got[4][2])["results"][1]["values"] == [20.0]


def test_a_request_in_pieces_and_a_slow_client(servers: dict[str, _Server]) -> None:
    raw = _post("/get-online-features", _feast_body("c1"))
    pieces = [raw[:5], raw[5:40], raw[40:-7], raw[-7:]]  # split in the request line, headers and body
    got = _same(servers, pieces, 1, pause_s=0.05)
    assert orjson.loads(got[0][2])["results"][1]["values"] == [10.0]
    # a lookup queued behind another route's request, its body still on its way when its turn comes
    get = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
    got = _same(servers, [get + raw[:-9], raw[-9:]], 2, pause_s=0.1)
    assert got[0][0] == got[1][0] == b"HTTP/1.1 200 OK"
    assert orjson.loads(got[1][2])["results"][1]["values"] == [10.0]
    # a client that sent half a request holds its connection only: others are answered meanwhile
    with servers["fast"].connect() as slow:
        slow.sendall(raw[:-3])
        other = _exchange(servers["fast"], [raw], 1)
        assert other[0][0] == b"HTTP/1.1 200 OK"
        slow.sendall(raw[-3:])
        assert _Reader(slow).response()[2] == other[0][2]


def test_bad_requests_get_the_same_answer_as_before(servers: dict[str, _Server]) -> None:
    cases = [
        b"{not json",
        b'{"features": "card_spend_1h@1:spend_1h", "entities": {"card_id": ["c1"]}}',  # pydantic's 422
        b'{"features": ["no_such_view:x"], "entities": {"card_id": ["c1"]}}',  # the answer's own 4xx
        b'{"features": ["card_spend_1h@1:spend_1h"], "entities": {"user_id": ["c1"]}}',
        b"[" * 3000 + b"]" * 3000,  # too many JSON containers: 413
    ]
    before = _Counting.answered
    for body in cases:
        (status, _, _), *_ = _same(servers, [_post("/get-online-features", body)], 1)
        assert status.startswith(b"HTTP/1.1 4"), (body[:40], status)
    # a malformed deadline header and a too-large content-length
    got = _same(servers, [_post("/get-online-features", _feast_body("c1"), "x-deadline-ms: soon")], 1)
    assert got[0][0].startswith(b"HTTP/1.1 4")
    big = _post("/get-online-features", b"x" * 10, "Content-Length: 999999")
    assert _same(servers, [big.replace(b"Content-Length: 10\r\n", b"")], 1)[0][0].startswith(b"HTTP/1.1 413")
    assert _Counting.answered - before == 2  # the answers' own 4xx (unknown view, wrong entity key)


def test_auth_failures_and_success(servers: dict[str, _Server]) -> None:
    body = _feast_body("c1")
    before = _Counting.answered
    missing = _same(servers, [_post("/get-online-features", body)], 1, auth=True)
    wrong = _same(servers, [_post("/get-online-features", body, "x-api-key: nope")], 1, auth=True)
    assert missing[0][0] == wrong[0][0] == b"HTTP/1.1 401 Unauthorized"
    other_ns = _same(
        servers,
        [_post("/get-online-features", body, f"x-api-key: {KEY}", "x-featurestream-namespace: other")],
        1,
        auth=True,
    )
    assert other_ns[0][0] == b"HTTP/1.1 403 Forbidden"
    ok = _same(servers, [_post("/get-online-features", body, f"Authorization: Bearer {KEY}")], 1, auth=True)
    assert orjson.loads(ok[0][2])["results"][1]["values"] == [10.0]
    assert _Counting.answered - before == 2  # a refused key goes to the ASGI app before its body is parsed


def test_connection_close_http10_chunked_and_expect(servers: dict[str, _Server]) -> None:
    body = _feast_body("c1")
    closing = _same(servers, [_post("/get-online-features", body, "Connection: close")], 1)
    assert b"connection: close" in closing[0][1] and closing[1] == ("closed", True)
    old = _same(servers, [_post("/get-online-features", body, version="1.0")], 1)
    assert old[0][0] == b"HTTP/1.1 200 OK" and old[1] == ("closed", True)
    chunked = _post("/get-online-features", b"", "Transfer-Encoding: chunked")
    chunked += b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    assert orjson.loads(_same(servers, [chunked], 1)[0][2])["results"][1]["values"] == [10.0]
    with servers["fast"].connect() as sock:  # the client waits for 100 Continue before its body
        sock.sendall(
            _post("/get-online-features", b"", "Expect: 100-continue", f"Content-Length: {len(body)}").replace(
                b"Content-Length: 0\r\n", b""
            )
        )
        reader = _Reader(sock)
        while b"\r\n\r\n" not in reader.buf:
            assert reader._fill()
        assert reader.buf.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        reader.buf = reader.buf[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        sock.sendall(body)
        status, _, answer = reader.response()
        assert status == b"HTTP/1.1 200 OK" and orjson.loads(answer)["results"][1]["values"] == [10.0]
