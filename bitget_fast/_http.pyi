"""Types of the REST client's compiled connections (private to bitget_fast.rest)."""

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from bitget_fast.errors import ProtocolError
from bitget_fast.signing import Signer

DEFAULT_MAX_BODY: int

class HttpConnection:
    """asyncio protocol framing HTTP/1.1 responses in C; subclasses handle each response."""

    transport: asyncio.Transport | None
    closed: bool
    max_body: int
    @property
    def buffered(self) -> int:
        """Bytes of an incomplete response held until the rest arrives."""
    def connection_made(self, transport: asyncio.BaseTransport) -> None: ...
    def data_received(self, data: bytes) -> None: ...
    def eof_received(self) -> bool: ...
    def connection_lost(self, exc: Exception | None) -> None: ...
    def pause_writing(self) -> None: ...
    def resume_writing(self) -> None: ...

class HttpFramer(HttpConnection):
    """The framer alone: ``feed`` bytes, read ``responses`` as (status, body, keep_alive)."""

    responses: list[tuple[int, bytes, bool]]
    error: ProtocolError | None
    def __init__(self, max_body: int = ...) -> None: ...
    def feed(self, data: bytes) -> None:
        """Feed received bytes."""
    def feed_eof(self) -> None:
        """The peer closed its side."""

class Request:
    """One REST request and the future its caller awaits."""

    method: str
    path: str
    query: str
    body: bytes
    signed: bool
    changes_orders: bool
    clock_retried: bool
    future: asyncio.Future[Any]
    decode: Any
    conn: RestConnection | None
    t_sent: float
    t_counted: float
    def __init__(self, method: str, path: str, query: str, body: bytes, signed: bool,
                 changes_orders: bool, future: asyncio.Future[Any], decode: Any) -> None: ...

class RequestBuilder:
    """Builds whole HTTP/1.1 requests: request line, header block, signature, body."""

    offset_ms: int
    def __init__(self, signer: Signer | None, signed_head: bytes, public_head: bytes) -> None: ...
    def build(self, req: Request, now_ms: int = 0) -> bytes:
        """The request's bytes, signed with ``now_ms`` (0: the local clock + offset_ms)."""

class RestConnection(HttpConnection):
    """One keep-alive connection of a RestClient, one request at a time."""

    client: Any
    req: Request | None
    last_used: float
    def __init__(self, client: RestBase, builder: RequestBuilder, idle: list[RestConnection],
                 queue: Any, limiter: Any,
                 decoders: dict[Any, Callable[[bytes], Any]], max_body: int = ...) -> None: ...
    def send(self, req: Request) -> None:
        """Build, sign and write ``req``."""
    def abort(self) -> None:
        """Close at once."""

class RestBase:
    """The compiled part of RestClient: ``submit``'s common path."""

    enforce_rate_limits: bool
    limiter: Any
    n_requests: int
    n_replies: int
    def submit(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
               body: Any = None, signed: bool = True, decode: Any = None,
               changes_orders: bool | None = None) -> asyncio.Future[Any]:
        """Send now (or when a connection and the endpoint's limit allow); a future of ``data``."""

def flat_json(d: dict[Any, Any]) -> bytes | None:
    """``orjson.dumps(d)`` for a dict of ASCII str keys and values; None for any other dict."""
