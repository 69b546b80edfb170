"""Bitget WebSocket frames -> order books, events and pushes, on picows."""

from typing import Any, Callable, Final

from picows import WSFrame, WSListener, WSTransport

from bitget_fast.book import OrderBook

RECORD_HEADER_SIZE: Final[int]
REC_HEADER: Final[int]
REC_TEXT: Final[int]
REC_BINARY: Final[int]
REC_CONNECTED: Final[int]
REC_DISCONNECTED: Final[int]
REC_SENT: Final[int]

class FrameLog:
    """Append-only record buffer; whole records go to ``sink`` in chunks."""

    records: int
    payload_bytes: int
    dropped: int

    def __init__(self, sink: Callable[[bytes], Any], chunk_bytes: int = ...) -> None: ...
    @property
    def buffered_bytes(self) -> int:
        """Bytes of whole records not yet handed to the sink."""
    def append(self, kind: int, conn: int, payload: bytes | bytearray | memoryview = ...) -> None:
        """Append a record of ``payload`` stamped now."""
    def flush(self) -> None:
        """Hand the buffered whole records to the sink now (one ``bytes``)."""

def count_records(chunk: bytes) -> int:
    """Whole records at the start of ``chunk``."""

def replay_records(buf: bytes, pos: int, listeners: list[BitgetListener | None],
                   until_ns: int = ..., max_frames: int = ...) -> tuple[int, int, int]:
    """Feed the frame records of ``buf[pos:]`` to their listeners; ``(pos, fed, last recv ns)``."""

class BookHandler:
    """Receives every applied book message; override ``on_book``."""

    def on_book(self, book: OrderBook) -> None:
        """Called after each applied ``books*`` message; ``book`` is valid during the call."""

class BookRouter:
    """Maps ``instId`` to its :class:`OrderBook`."""

    def __len__(self) -> int: ...
    def add(self, book: OrderBook) -> None:
        """Route ``book.symbol`` to ``book``."""
    def get(self, symbol: str) -> OrderBook | None:
        """The book routed for ``symbol``, or None."""

class BitgetListener(WSListener):
    """One Bitget public WebSocket connection's frame handler."""

    session: Any
    router: BookRouter
    transport: WSTransport | None
    frames: int
    book_messages: int
    dropped_book_messages: int
    pongs: int
    rejected: int
    recorder: FrameLog | None
    conn_id: int

    def __init__(self, session: Any, router: BookRouter,
                 on_book: BookHandler | Callable[[OrderBook], Any] | None = None,
                 recorder: FrameLog | None = None, conn_id: int = 0) -> None: ...
    def on_ws_connected(self, transport: WSTransport) -> None: ...
    def on_ws_disconnected(self, transport: WSTransport) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def send_user_specific_ping(self, transport: WSTransport) -> None: ...
    def is_user_specific_pong(self, frame: WSFrame) -> bool: ...
