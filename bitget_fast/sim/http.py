"""The simulator's HTTP/1.1 server: asyncio transports and httptools' request parser.

Why httptools (DECISIONS.md §10) rather than an HTTP framework: this server is small and we
control all of it, so exchange faults are easy to script: "never answer" is an awaitable that
never completes, and every status code and byte of a reply is exactly what the handler asked
for. httptools wraps llhttp, the same C parser that uvloop-based servers and aiohttp use, so
requests are parsed the way real servers parse them, and parsing plus replying to a keep-alive
GET costs a few microseconds of Python on top of the event loop and the kernel.

The handler gets a :class:`Request` and returns a :class:`Response`, or an awaitable of one for
a delayed reply. Requests pipelined on one connection are answered strictly in order.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from ssl import SSLContext

import orjson
from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

__all__ = ["Request", "Response", "Handler", "HttpServer", "start_http_server",
           "MAX_PIPELINE"]

_log = logging.getLogger("bitget_fast.sim.http")

MAX_PIPELINE = 128
"""Requests a connection may queue behind an unfinished reply; one more gets 503 and a close."""

# After an error reply the server stops sending but keeps reading (and discarding) this long,
# so a client still sending a rejected body reads the reply instead of a TCP reset.
_LINGER_S = 0.5

_CONN_KEEP = b"Connection: keep-alive\r\n"
_CONN_CLOSE = b"Connection: close\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

# Header name as sent -> lower-cased str: a dict hit is cheaper than decode + lower, and the
# same few names come with every request. Bounded, so odd names cannot grow it forever.
_HEADER_KEYS: dict[bytes, str] = {}
_HEADER_KEYS_MAX = 512


@dataclass(slots=True)
class Request:
    """One parsed request; ``path`` and ``query`` are exactly as sent (no percent-decoding)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    peer: tuple[str, int]
    secure: bool


@dataclass(slots=True)
class Response:
    """A reply; ``headers`` are extra (name, value) pairs, whose values must hold no CR or LF."""

    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    #: sent verbatim instead (status line, headers and body as given), then the connection
    #: closes: a fault's broken reply
    raw: bytes | None = None

    @classmethod
    def json(cls, status: int, obj: object) -> Response:
        """A JSON reply: ``obj`` serialized with orjson."""
        return cls(status, orjson.dumps(obj))


Handler = Callable[[Request], "Response | Awaitable[Response]"]
"""Called once per request; returns a Response, or an awaitable of one for a delayed reply."""


def _error_response(status: int, code: str, msg: str) -> Response:
    return Response.json(status, {"code": code, "msg": msg,
                                  "requestTime": int(time.time() * 1000), "data": None})


def _internal_error() -> Response:
    return _error_response(500, "40015", "internal error")


class _Stop(Exception):
    """Raised from a parser callback to stop parsing: the connection is being closed."""


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, runs the handler, writes replies in order."""

    __slots__ = (
        "_srv", "_handler", "_max_header", "_max_body", "_heads", "_ctypes",
        "_transport", "_parser", "_peer", "_secure", "_linger",
        "_url", "_headers", "_body", "_body_len", "_head_bytes", "_head_span", "_in_head",
        "_begun", "_stopped", "_waiting", "_waiting_req", "_waiting_keep", "_owned",
        "_queue",
    )

    def __init__(self, srv: HttpServer) -> None:
        self._srv = srv
        self._handler = srv._handler
        self._max_header = srv._max_header_bytes
        self._max_body = srv._max_body_bytes
        self._heads = srv._heads
        self._ctypes = srv._ctypes
        self._transport: asyncio.Transport | None = None
        self._parser = HttpRequestParser(self)
        self._peer: tuple[str, int] = ("", 0)
        self._secure = srv._secure
        self._linger: asyncio.TimerHandle | None = None
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: bytes | list[bytes] | None = None
        self._body_len = 0
        self._head_bytes = 0   # request target plus header names and values, from callbacks
        self._head_span = 0    # whole reads that fell inside one unfinished head
        self._in_head = False
        self._begun = False
        self._stopped = False  # no more input is parsed: the connection is ending
        self._waiting: asyncio.Future | None = None   # the reply being awaited, if any
        self._waiting_req: Request | None = None
        self._waiting_keep = True
        self._owned = False    # whether we created the awaited task (and so may cancel it)
        self._queue: deque = deque()   # (Request | bytes, keep_alive) behind the awaited reply

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        if peer:
            self._peer = (peer[0], peer[1])
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the peer may already be gone
                pass
        self._srv._conns.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._stopped = True
        self._srv._conns.discard(self)
        self._queue.clear()
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        fut = self._waiting
        if fut is not None:
            self._waiting = self._waiting_req = None
            fut.remove_done_callback(self._on_done)
            if self._owned:
                fut.cancel()

    def data_received(self, data: bytes) -> None:
        if self._stopped:
            return  # lingering after an error reply, or closing: discard
        open_before = self._in_head
        self._begun = False
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._end_after_pending()  # no protocol switch here: answer, then close
            return
        except HttpParserError as exc:
            ctx = exc.__context__
            if ctx is not None and not isinstance(ctx, Exception):
                raise ctx  # KeyboardInterrupt or SystemExit from a handler
            if not self._stopped:
                self._fail(400, "40017", "malformed HTTP request")
            return
        # A read that starts and ends inside the same unfinished head counts whole: this bounds
        # what the parser buffers for a head that never ends, without ever overcounting.
        if open_before and self._in_head and not self._begun:
            self._head_span += len(data)
            if self._head_span > self._max_header:
                self._fail(431, "40017", "request headers too large")

    def eof_received(self) -> bool | None:
        if self._waiting is None or self._secure:
            return None  # the transport closes itself
        self._end_after_pending()
        return True

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = None
        self._body_len = 0
        self._head_bytes = 0
        self._head_span = 0
        self._in_head = True
        self._begun = True

    def on_url(self, url: bytes) -> None:
        self._url = self._url + url if self._url else url
        self._head_bytes += len(url)
        if self._head_bytes > self._max_header:
            self._fail(431, "40017", "request headers too large")
            raise _Stop

    def on_header(self, name: bytes, value: bytes) -> None:
        size = self._head_bytes + len(name) + len(value) + 4
        self._head_bytes = size
        if size > self._max_header:
            self._fail(431, "40017", "request headers too large")
            raise _Stop
        key = _HEADER_KEYS.get(name)
        if key is None:
            key = name.decode("latin-1").lower()
            if len(_HEADER_KEYS) < _HEADER_KEYS_MAX:
                _HEADER_KEYS[name] = key
        text = value.decode("latin-1")
        headers = self._headers
        if key in headers:
            text = headers[key] + ", " + text
        headers[key] = text

    def on_headers_complete(self) -> None:
        self._in_head = False
        headers = self._headers
        length = headers.get("content-length")
        if length is not None:
            try:
                too_large = int(length) > self._max_body
            except ValueError:
                too_large = False  # llhttp rejects a bad length itself
            if too_large:
                self._fail(413, "40017", "request body too large")
                raise _Stop
        if "expect" in headers and self._waiting is None \
                and headers["expect"].lower() == "100-continue":
            self._transport.write(_CONTINUE)  # type: ignore[union-attr]

    def on_body(self, chunk: bytes) -> None:
        self._body_len += len(chunk)
        if self._body_len > self._max_body:
            self._fail(413, "40017", "request body too large")
            raise _Stop
        body = self._body
        if body is None:
            self._body = chunk
        elif type(body) is list:
            body.append(chunk)
        else:
            self._body = [body, chunk]  # type: ignore[list-item]

    def on_message_complete(self) -> None:
        parser = self._parser
        url = self._url
        i = url.find(b"?")
        if i < 0:
            path = url.decode("latin-1")
            query = ""
        else:
            path = url[:i].decode("latin-1")
            query = url[i + 1:].decode("latin-1")
        body = self._body
        if body is None:
            body = b""
        elif type(body) is list:
            body = b"".join(body)
        req = Request(parser.get_method().decode("latin-1"), path, query, self._headers,
                      body, self._peer, self._secure)  # type: ignore[arg-type]
        keep = parser.should_keep_alive()
        if not keep:
            self._stopped = True
        if self._waiting is None:
            self._run(req, keep)
        elif len(self._queue) < MAX_PIPELINE:
            self._queue.append((req, keep))
        else:
            self._fail(503, "40015", "too many pipelined requests")
        if self._stopped:
            raise _Stop  # whatever follows on this connection is never answered

    # replies

    def _run(self, req: Request, keep: bool) -> None:
        """Call the handler; write its reply now, or start awaiting it."""
        try:
            res = self._handler(req)
        except Exception:
            _log.exception("handler failed on %s %s", req.method, req.path)
            res = _internal_error()
        if type(res) is not Response and inspect.isawaitable(res):
            self._owned = not asyncio.isfuture(res)
            fut = asyncio.ensure_future(res)
            self._waiting = fut
            self._waiting_req = req
            self._waiting_keep = keep
            fut.add_done_callback(self._on_done)
            return
        self._write(req, res, keep)

    def _on_done(self, fut: asyncio.Future) -> None:
        if fut is not self._waiting:
            return
        req: Request = self._waiting_req  # type: ignore[assignment]
        keep = self._waiting_keep
        self._waiting = self._waiting_req = None
        try:
            res = fut.result()
        except (Exception, asyncio.CancelledError):
            _log.exception("handler failed on %s %s", req.method, req.path)
            res = _internal_error()
        self._write(req, res, keep)
        queue = self._queue
        while queue and self._waiting is None and self._transport is not None:
            item, keep = queue.popleft()
            if type(item) is bytes:
                self._transport.write(item)
                self._close_after_error()
            else:
                self._run(item, keep)

    def _encode(self, res: Response, keep: bool, head_only: bool) -> bytes:
        body = res.body
        head = self._heads.get(res.status) or self._srv._status_line(res.status)
        ctype = self._ctypes.get(res.content_type) or self._srv._ctype_line(res.content_type)
        extra = b"".join([f"{k}: {v}\r\n".encode("latin-1") for k, v in res.headers]) \
            if res.headers else b""
        return b"".join((head, ctype, b"Content-Length: %d\r\n" % len(body),
                         _CONN_KEEP if keep else _CONN_CLOSE, extra, b"\r\n",
                         b"" if head_only else body))

    def _write(self, req: Request, res: Response, keep: bool) -> None:
        transport = self._transport
        if transport is None:
            return
        if type(res) is Response and res.raw is not None:
            transport.write(res.raw)
            self._stopped = True
            self._close_after_error()
            return
        try:
            data = self._encode(res, keep, req.method == "HEAD")
        except Exception:  # not a Response, or one that cannot be sent
            _log.exception("handler gave no valid Response on %s %s", req.method, req.path)
            data = self._encode(_internal_error(), keep, False)
        transport.write(data)
        if not keep:
            self._stopped = True
            transport.close()

    def _fail(self, status: int, code: str, msg: str) -> None:
        """Reply with an error envelope after any earlier replies, then close."""
        self._stopped = True
        data = self._encode(_error_response(status, code, msg), False, False)
        if self._waiting is None:
            self._transport.write(data)  # type: ignore[union-attr]
            self._close_after_error()
        else:
            self._queue.append((data, False))

    def _close_after_error(self) -> None:
        transport = self._transport
        if transport is None:
            return
        if transport.can_write_eof():
            transport.write_eof()
            self._linger = asyncio.get_running_loop().call_later(_LINGER_S, transport.close)
        else:
            transport.close()

    def _end_after_pending(self) -> None:
        """Stop reading; close once the replies already owed are written."""
        self._stopped = True
        if self._waiting is None:
            if self._transport is not None:
                self._transport.close()
            return
        queue = self._queue
        if queue:
            item, keep = queue[-1]
            queue[-1] = (item, False)
        else:
            self._waiting_keep = False

    def _abort(self) -> None:
        self._stopped = True
        if self._transport is not None:
            self._transport.abort()


class HttpServer:
    """A listening HTTP server; make one with :func:`start_http_server`."""

    __slots__ = ("_server", "_port", "_handler", "_max_header_bytes", "_max_body_bytes",
                 "_secure", "_server_header", "_heads", "_ctypes", "_conns")

    def __init__(self, handler: Handler, *, secure: bool, max_header_bytes: int,
                 max_body_bytes: int, server_header: str) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._port = 0
        self._handler = handler
        self._max_header_bytes = max_header_bytes
        self._max_body_bytes = max_body_bytes
        self._secure = secure
        self._server_header = server_header
        self._heads: dict[int, bytes] = {}    # status -> status line + Server header
        self._ctypes: dict[str, bytes] = {}   # content type -> Content-Type header line
        self._conns: set[_Connection] = set()

    def _status_line(self, status: int) -> bytes:
        if type(status) is not int or not 100 <= status <= 999:
            raise ValueError(f"bad HTTP status {status!r}")
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        line = f"HTTP/1.1 {status} {phrase}\r\nServer: {self._server_header}\r\n".encode("latin-1")
        self._heads[status] = line
        return line

    def _ctype_line(self, content_type: str) -> bytes:
        line = f"Content-Type: {content_type}\r\n".encode("latin-1")
        self._ctypes[content_type] = line
        return line

    @property
    def port(self) -> int:
        """The TCP port bound at start (still known after close, to restart on it)."""
        return self._port

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        """The listening sockets (empty once closed)."""
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def connection_count(self) -> int:
        """How many client connections are open."""
        return len(self._conns)

    def abort_connections(self) -> None:
        """Drop every open connection at once (no reply, no FIN); keep listening."""
        for conn in list(self._conns):
            conn._abort()

    async def close(self) -> None:
        """Stop listening and drop every open connection."""
        server = self._server
        if server is not None:
            server.close()
        self.abort_connections()
        if server is not None:
            await server.wait_closed()
        # Let the aborted transports run connection_lost (and so release their sockets);
        # bounded, in case a transport never reports back.
        for _ in range(100):
            await asyncio.sleep(0)
            if not self._conns:
                break

    async def __aenter__(self) -> HttpServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def start_http_server(handler: Handler, host: str = "127.0.0.1", port: int = 0, *,
                            ssl: SSLContext | None = None, max_header_bytes: int = 16384,
                            max_body_bytes: int = 1 << 20,
                            server_header: str = "bitget-fast-sim") -> HttpServer:
    """Listen on ``host:port`` (0: any free port) and serve ``handler``; TLS when ``ssl`` is given.

    ``max_header_bytes`` bounds the request target plus header names and values (431 beyond
    it), ``max_body_bytes`` the body (413); both replies close the connection.
    """
    srv = HttpServer(handler, secure=ssl is not None, max_header_bytes=max_header_bytes,
                     max_body_bytes=max_body_bytes, server_header=server_header)
    loop = asyncio.get_running_loop()
    srv._server = await loop.create_server(lambda: _Connection(srv), host, port, ssl=ssl,
                                           backlog=1024)
    srv._port = srv._server.sockets[0].getsockname()[1]
    return srv
