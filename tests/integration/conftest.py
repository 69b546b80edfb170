"""Loopback clients for the simulator tests: raw HTTP/1.1 over asyncio streams, picows WebSocket.

They are deliberately thin (no retry, no reconnect) so a test sees exactly what the
simulator sent. Signing goes through the package's real ``Credentials``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
from typing import Any, Awaitable, Callable

import orjson
import pytest
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from bitget_fast.auth import Credentials, encode_query
from bitget_fast.sim import Simulator

KEY, SECRET, PASSPHRASE = "bg_test_key_1", "test-secret-0123456789", "TestPass1"


def run_async(timeout: float = 30.0) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Any]]:
    """Run an async test function in a fresh event loop with a hard timeout."""

    def deco(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            async def main() -> Any:
                return await asyncio.wait_for(fn(*args, **kwargs), timeout)
            return asyncio.run(main())
        return wrapper

    return deco


class Reply:
    """One HTTP reply: status, headers (lower-case) and the parsed JSON envelope."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.json: Any = orjson.loads(body) if body else None

    @property
    def code(self) -> str:
        return self.json["code"]

    @property
    def data(self) -> Any:
        return self.json["data"]

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:300]!r})"


class Rest:
    """A keep-alive HTTP/1.1 client on one connection, signing with ``Credentials``."""

    def __init__(self, sim: Simulator, creds: Credentials | None = None) -> None:
        self.sim = sim
        self.creds = creds
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _conn(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.writer is None or self.writer.is_closing():
            ctx = Simulator.client_ssl_context() if self.sim.tls else None
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.sim.rest_port, ssl=ctx,
                server_hostname="localhost" if ctx else None)
        assert self.reader is not None
        return self.reader, self.writer

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
            self.writer = None

    def build(self, method: str, path: str, params: dict[str, Any] | None = None,
              body: Any = None, *, signed: bool = True, headers: dict[str, str] | None = None,
              timestamp_ms: int | None = None) -> bytes:
        query = encode_query(params) if params else ""
        raw = b""
        if body is not None:
            raw = body if isinstance(body, bytes) else orjson.dumps(body)
        hdrs: dict[str, str] = {}
        if signed and self.creds is not None:
            hdrs.update(self.creds.rest_headers(method, path, query or None, raw or None,
                                                timestamp_ms=timestamp_ms))
        if headers:
            hdrs.update(headers)
        target = path + ("?" + query if query else "")
        lines = [f"{method} {target} HTTP/1.1", "Host: localhost"]
        lines += [f"{k}: {v}" for k, v in hdrs.items()]
        lines.append(f"Content-Length: {len(raw)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + raw

    async def send_raw(self, data: bytes) -> Reply:
        reader, writer = await self._conn()
        writer.write(data)
        return await self.read_reply()

    async def read_reply(self) -> Reply:
        assert self.reader is not None
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return Reply(status, headers, body)

    async def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Reply:
        return await self.send_raw(self.build("GET", path, params, **kw))

    async def post(self, path: str, body: Any, **kw: Any) -> Reply:
        return await self.send_raw(self.build("POST", path, None, body, **kw))


class Ws(WSListener):
    """A picows client that queues every text frame it receives."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: WSTransport | None = None
        self.closed = asyncio.Event()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY):
            self.queue.put_nowait(frame.get_payload_as_bytes())

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.closed.set()

    @classmethod
    async def connect(cls, url: str, *, tls: bool = False, max_frame_size: int = 1 << 20) -> "Ws":
        ctx = Simulator.client_ssl_context() if tls else None
        _, listener = await ws_connect(cls, url, ssl_context=ctx, max_frame_size=max_frame_size)
        return listener  # type: ignore[return-value]

    def send(self, obj: Any) -> None:
        assert self.transport is not None
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.transport.send(WSMsgType.TEXT, data)

    async def recv(self, timeout: float = 5.0) -> bytes:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def recv_json(self, timeout: float = 5.0) -> Any:
        while True:
            raw = await self.recv(timeout)
            if raw != b"pong":
                return orjson.loads(raw)

    async def wait_for(self, pred: Callable[[Any], bool], timeout: float = 5.0) -> Any:
        """The first JSON message matching ``pred`` (others are dropped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = await self.recv_json(max(0.01, deadline - loop.time()))
            if pred(msg):
                return msg

    async def close(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.disconnect()
            await self.transport.wait_disconnected()

    async def login(self, creds: Credentials) -> Any:
        self.send(creds.ws_login_message())
        return await self.recv_json()

    async def subscribe(self, *args: dict[str, str]) -> None:
        self.send({"op": "subscribe", "args": list(args)})


@pytest.fixture
def creds() -> Credentials:
    return Credentials(KEY, SECRET, PASSPHRASE)


def book_arg(channel: str = "books", symbol: str = "BTCUSDT") -> dict[str, str]:
    return {"instType": "USDT-FUTURES", "channel": channel, "instId": symbol}


def priv_arg(channel: str, inst: str = "default") -> dict[str, str]:
    key = "coin" if channel == "account" else "instId"
    return {"instType": "USDT-FUTURES", "channel": channel, key: inst}


@pytest.fixture
def h() -> Any:
    """The helpers as one namespace (tests are loaded with importlib, not as a package)."""

    class H:
        run_async = staticmethod(run_async)
        Rest = Rest
        Ws = Ws
        Reply = Reply
        book_arg = staticmethod(book_arg)
        priv_arg = staticmethod(priv_arg)
        KEY, SECRET, PASSPHRASE = KEY, SECRET, PASSPHRASE

    return H


def cryptofeed_recording(src: Any, dest: Any, symbols: list[str]) -> Any:
    """Convert cryptofeed's raw capture (``url <-> ts`` connects, ``url <- ts: msg`` sent,
    ``ts: msg`` received) into a bitget_fast recording at ``dest``; returns its records too."""
    import re

    from bitget_fast.record import REC_CONNECTED, REC_SENT, REC_TEXT, Record, write_recording

    recs = []
    for line in src.read_text(encoding="utf-8").splitlines():
        m = re.match(r"(?:(\S+) (<->|<-) )?([0-9.]+)(?:: (.*))?$", line)
        assert m, line[:80]
        _, direction, ts, payload = m.groups()
        kind = {"<->": REC_CONNECTED, "<-": REC_SENT, None: REC_TEXT}[direction]
        recs.append(Record(kind, 0, int(float(ts) * 1e9), (payload or "").encode()))
    return write_recording(dest, recs, {"symbols": symbols, "book_channel": "books"}), recs
