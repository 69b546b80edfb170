"""Bitget WebSocket frames -> order books, events and pushes, on picows."""

from typing import Any, Callable, Final

from picows import WSFrame, WSListener, WSTransport

from bitget_fast.book import OrderBook

RECORD_HEADER_SIZE: Final[int]
"""Bytes of a record's header in a recording (size, kind, conn, receive ns)."""
REC_HEADER: Final[int]
"""Record kind: the recording's JSON header (what was recorded, from where)."""
REC_TEXT: Final[int]
"""Record kind: a text frame received."""
REC_BINARY: Final[int]
"""Record kind: a binary frame received."""
REC_CONNECTED: Final[int]
"""Record kind: a connection opened (payload: the URL)."""
REC_DISCONNECTED: Final[int]
"""Record kind: a connection lost or closed (payload: why)."""
REC_SENT: Final[int]
"""Record kind: a message we sent (subscribe, ping...)."""

class FrameLog:
    """Append-only record buffer; whole records go to ``sink`` in chunks."""

    records: int
    """Records appended so far."""
    payload_bytes: int
    """Payload bytes appended so far (headers not counted)."""
    dropped: int
    """Records not kept because the sink raised (each is counted, never silent)."""

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
    """The owner told about every event and push (a MarketData connection)."""
    router: BookRouter
    """instId -> OrderBook for the books messages of this connection."""
    transport: WSTransport | None
    """The picows transport while connected, else None."""
    frames: int
    """Frames received."""
    book_messages: int
    """Book messages applied."""
    dropped_book_messages: int
    """Book updates dropped while their book awaited a snapshot."""
    pongs: int
    """``pong`` replies received."""
    rejected: int
    """Messages rejected as malformed or of an unknown shape (each also reported)."""
    recorder: FrameLog | None
    """Where every received frame is copied for a recording, or None."""
    conn_id: int
    """This connection's number in recordings."""

    def __init__(self, session: Any, router: BookRouter,
                 on_book: BookHandler | Callable[[OrderBook], Any] | None = None,
                 recorder: FrameLog | None = None, conn_id: int = 0) -> None: ...
    def on_ws_connected(self, transport: WSTransport) -> None: ...
    def on_ws_disconnected(self, transport: WSTransport) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def send_user_specific_ping(self, transport: WSTransport) -> None: ...
    def is_user_specific_pong(self, frame: WSFrame) -> bool: ...
