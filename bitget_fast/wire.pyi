"""Bitget WebSocket frames -> order books, events and pushes, on picows."""

from typing import Any, Callable

from picows import WSFrame, WSListener, WSTransport

from bitget_fast.book import OrderBook

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

    def __init__(self, session: Any, router: BookRouter,
                 on_book: BookHandler | Callable[[OrderBook], Any] | None = None) -> None: ...
    def on_ws_connected(self, transport: WSTransport) -> None: ...
    def on_ws_disconnected(self, transport: WSTransport) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def send_user_specific_ping(self, transport: WSTransport) -> None: ...
    def is_user_specific_pong(self, frame: WSFrame) -> bool: ...
