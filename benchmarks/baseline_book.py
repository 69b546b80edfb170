"""The plain-Python order book the issue names as the baseline: orjson + sortedcontainers
+ a Python CRC32 check.

What a competent user writes for Bitget's ``books`` channel, without trying to be clever:
``orjson.loads`` each message, keep each side in a ``SortedDict`` keyed by ``Decimal``
price (bids by the negated price, so both sides iterate best first) with the original
``(price, size)`` strings as values, delete a level when its size is numerically zero, and
after every message compare ``zlib.crc32`` of the ':'-joined, interleaved top 25 strings
(signed) with the message's ``checksum``. Stale ``seq`` is refused. No validation beyond
that: malformed messages surface as whatever Python raises.
"""

from __future__ import annotations

import zlib
from decimal import Decimal

import orjson
from sortedcontainers import SortedDict

__all__ = ["BaselineBook", "ChecksumError"]

DEPTH = 25


class ChecksumError(Exception):
    pass


class BaselineBook:
    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.seq = -1
        self._bids = SortedDict()   # -Decimal(price) -> (price_str, size_str)
        self._asks = SortedDict()   # Decimal(price) -> (price_str, size_str)

    def apply(self, raw: bytes) -> None:
        msg = orjson.loads(raw)
        if msg["arg"]["instId"] != self.symbol:
            raise ValueError(f"message for {msg['arg']['instId']}, not {self.symbol}")
        data = msg["data"][0]
        seq = data["seq"]
        if msg["action"] == "snapshot":
            self._bids = SortedDict({-Decimal(p): (p, s) for p, s in data["bids"] if float(s)})
            self._asks = SortedDict({Decimal(p): (p, s) for p, s in data["asks"] if float(s)})
        else:
            if seq <= self.seq:
                raise ValueError(f"stale seq {seq} after {self.seq}")
            bids = self._bids
            for p, s in data["bids"]:
                if float(s) == 0:
                    bids.pop(-Decimal(p), None)
                else:
                    bids[-Decimal(p)] = (p, s)
            asks = self._asks
            for p, s in data["asks"]:
                if float(s) == 0:
                    asks.pop(Decimal(p), None)
                else:
                    asks[Decimal(p)] = (p, s)
        self.seq = seq
        expected = data.get("checksum", 0)
        if expected:
            got = self.checksum()
            if got != expected:
                raise ChecksumError(f"seq {seq}: checksum {got} != {expected}")

    def bids(self, n: int = DEPTH) -> list[tuple[str, str]]:
        return self._bids.values()[:n]

    def asks(self, n: int = DEPTH) -> list[tuple[str, str]]:
        return self._asks.values()[:n]

    def checksum(self) -> int:
        bids = self._bids.values()[:DEPTH]
        asks = self._asks.values()[:DEPTH]
        parts: list[str] = []
        for bid, ask in zip(bids, asks):
            parts += bid
            parts += ask
        if len(bids) != len(asks):
            for level in (bids[len(asks):] if len(bids) > len(asks) else asks[len(bids):]):
                parts += level
        crc = zlib.crc32(":".join(parts).encode())
        return crc - (1 << 32) if crc >= (1 << 31) else crc
