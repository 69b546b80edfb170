"""Bitget order book: int64 levels with the exact strings, checksum and seq checks."""

from typing import Final

CHECKSUM_LEVELS: Final[int]
"""Levels per side the books checksum covers (25)."""

def crc32_backend() -> str:
    """Name of the CRC32 kernel in use: ``"pclmul"`` or ``"portable"``."""

class OrderBook:
    """Order book of one symbol fed with raw Bitget ``books``/``books1``/``books5``/``books15`` messages."""

    symbol: str
    """The instId whose messages this book applies."""
    strict_seq: bool
    """Whether every ``seq`` must follow the last by exactly 1 (else only going backwards is an error)."""
    is_valid: bool
    """False after an integrity failure or :meth:`invalidate`, until the next snapshot."""
    seq_jumps: int
    """Updates whose ``seq`` skipped ahead (counted; an error only with ``strict_seq``)."""
    checksums_verified: int
    """Messages whose checksum was checked and matched."""
    checksums_skipped: int
    """Messages without a checksum (``books1/5/15``, or 0) that were applied unchecked."""
    dropped_updates: int
    """Updates dropped because the book was invalid (awaiting a snapshot)."""
    updates_applied: int
    """Snapshots and updates applied."""

    def __init__(
        self,
        symbol: str,
        *,
        price_place: int | None = None,
        volume_place: int | None = None,
        strict_seq: bool = False,
    ) -> None: ...
    def apply(self, raw: bytes | bytearray | memoryview | str) -> bool:
        """Apply one raw ``books*`` message; False when dropped because the book is invalid."""
    def invalidate(self) -> None:
        """Mark the book untrusted; updates are dropped until the next snapshot."""
    def checksum(self) -> int:
        """Bitget's signed CRC32 of the current top 25 levels."""
    def checksum_text(self) -> str:
        """The text the checksum is computed over: ``bid0p:bid0s:ask0p:ask0s:...``."""
    def memory_bytes(self) -> int:
        """Bytes this book holds in C memory (levels and parse scratch)."""
    @property
    def seq(self) -> int | None:
        """``seq`` of the last snapshot or update that carried one."""
    @property
    def ts_ms(self) -> int | None:
        """``data[0].ts`` (ms) of the last applied message."""
    @property
    def price_scale(self) -> int:
        """Decimals of the price mantissas."""
    @property
    def size_scale(self) -> int:
        """Decimals of the size mantissas."""
    @property
    def depth(self) -> tuple[int, int]:
        """``(number of bid levels, number of ask levels)``."""
    @property
    def absent_deletes(self) -> int:
        """Deletes of levels that were not in the book (counted, not errors)."""
    @property
    def best_bid(self) -> tuple[str, str] | None:
        """``(price_str, size_str)`` of the best bid, or None."""
    @property
    def best_ask(self) -> tuple[str, str] | None:
        """``(price_str, size_str)`` of the best ask, or None."""
    def bids(self, n: int | None = None) -> list[tuple[str, str]]:
        """Up to ``n`` bids as strings, best first."""
    def asks(self, n: int | None = None) -> list[tuple[str, str]]:
        """Up to ``n`` asks as strings, best first."""
    def bids_raw(self, n: int | None = None) -> list[tuple[int, int]]:
        """Up to ``n`` bids as (price, size) mantissas at price_scale / size_scale."""
    def asks_raw(self, n: int | None = None) -> list[tuple[int, int]]:
        """Up to ``n`` asks as (price, size) mantissas at price_scale / size_scale."""
    def bids_float(self, n: int | None = None) -> list[tuple[float, float]]:
        """Up to ``n`` bids as (price, size) floats."""
    def asks_float(self, n: int | None = None) -> list[tuple[float, float]]:
        """Up to ``n`` asks as (price, size) floats."""
    def top_float(self) -> tuple[float, float, float, float]:
        """``(bid_price, bid_size, ask_price, ask_size)``; NaN for an empty side."""
