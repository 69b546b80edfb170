"""Plain-Python reference implementations: the oracle for tests and the baseline for benchmarks.

Standard library (and orjson) only. The compiled core is checked against these,
and these are checked against Bitget's published vectors and real recordings.
The simulator computes the checksums it pushes with :func:`checksum`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import zlib
from bisect import bisect_left, insort
from collections.abc import Sequence
from decimal import Decimal

import orjson

from bitget_fast.errors import ChecksumMismatch, CrossedBook, ProtocolError, SequenceGap

__all__ = ["prehash", "sign", "sign_request", "checksum", "checksum_joined", "Book"]


def prehash(timestamp: int | str, method: str, path: str, query: str | None = None,
            body: bytes | str | None = None) -> str:
    """timestamp + METHOD + path + ('?' + query if query) + body, as Bitget signs it."""
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    text = f"{timestamp}{method.upper()}{path}"
    if query:
        text += "?" + query
    if body:
        text += body
    return text


def sign(secret: str | bytes, message: bytes) -> str:
    """base64(HMAC-SHA256(secret, message)) with the standard library."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode("ascii")


def sign_request(secret: str, timestamp: int | str, method: str, path: str,
                 query: str | None = None, body: bytes | str | None = None) -> str:
    """What a plain-Python client does per request: build the prehash str, encode, sign."""
    return sign(secret, prehash(timestamp, method, path, query, body).encode("utf-8"))


# --- Order book --------------------------------------------------------------------------

_BOOK_CHANNELS = frozenset(("books", "books1", "books5", "books15"))
_CHECKSUM_LEVELS = 25
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_EXCERPT_BYTES = 64
# A price or size on Bitget's WebSocket books: ASCII digits, optionally one '.' and digits.
# No sign, exponent, blanks or bare '.'; JSON numbers are refused (their exact text is lost).
_is_decimal = re.compile(r"[0-9]+(?:\.[0-9]+)?").fullmatch
_has_nonzero_digit = re.compile(r"[1-9]").search
_is_integer = re.compile(r"-?[0-9]+").fullmatch


def checksum(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """Bitget's book checksum: signed CRC32 of ``bid0p:bid0s:ask0p:ask0s:bid1p:...``.

    ``bids`` and ``asks`` hold ``(price_str, size_str)`` pairs, best first. Only the top 25
    of each side count; when one side is shorter, its missing entries are skipped and the
    other side continues. The strings are used exactly as given ("6.40" is not "6.4").
    """
    b = bids[:_CHECKSUM_LEVELS]
    a = asks[:_CHECKSUM_LEVELS]
    parts: list[str] = []
    extend = parts.extend  # one extend per level: faster here than chain or a comprehension
    for bid, ask in zip(b, a):
        extend(bid)
        extend(ask)
    nb, na = len(b), len(a)
    if nb != na:
        for level in (b[na:] if nb > na else a[nb:]):
            extend(level)
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 0x100000000 if crc & 0x80000000 else crc


def checksum_joined(bids: Sequence[str], asks: Sequence[str]) -> int:
    """:func:`checksum` of levels already joined as ``"price:size"`` strings, best first.

    The same algorithm in a form the simulator can feed from a cache of level strings:
    the interleaving is two slice assignments instead of a loop.
    """
    b = bids if len(bids) <= _CHECKSUM_LEVELS else bids[:_CHECKSUM_LEVELS]
    a = asks if len(asks) <= _CHECKSUM_LEVELS else asks[:_CHECKSUM_LEVELS]
    nb, na = len(b), len(a)
    n = nb if nb < na else na
    parts: list[str] = [""] * (2 * n)
    parts[0::2] = b[:n]
    parts[1::2] = a[:n]
    if nb != na:
        parts += b[n:] if nb > na else a[n:]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - 0x100000000 if crc & 0x80000000 else crc


class Book:
    """The reference order book of one symbol, fed with Bitget ``books*`` WebSocket messages.

    Semantics (DECISIONS.md sections 2 and 3):

    * ``books`` ``action: snapshot`` and every ``books1/5/15`` message (whatever its
      ``action``) replace the book; ``seq`` becomes the message's ``seq`` (``None`` without).
      A level with a zero size in a snapshot is ignored.
    * ``books`` ``action: update``: a size that is numerically zero (``"0"``, ``"0.000"``)
      deletes the level (deleting an absent level is counted in ``absent_deletes``); any other
      size inserts or replaces it, keeping the message's strings. Sequence rules: with ``pseq``,
      ``pseq != seq`` of the book is a gap; with ``seq`` only, ``seq <= book.seq`` is a gap and a
      jump above ``book.seq + 1`` is counted in ``seq_jumps`` (a gap if ``strict_seq``); without
      ``seq`` nothing is checked. ``seq``/``pseq`` may be JSON numbers or strings (int64);
      ``pseq`` without ``seq`` is a :class:`ProtocolError`.
    * ``checksum``: 0 on a snapshot (any books1/5/15 message included) or a missing field
      means "not sent" and is counted in ``checksums_skipped``; every other value is compared
      with the CRC32 of the local top 25 levels and counted in ``checksums_verified``.
    * :meth:`apply` validates the whole message before touching the book: on
      :class:`ProtocolError` nothing changed. On :class:`SequenceGap` or
      :class:`ChecksumMismatch` (or :class:`CrossedBook`: best bid >= best ask after a
      message whose checksum held) the message stays applied, ``is_valid`` turns False and later
      updates are dropped (counted in ``dropped_updates``) until the next snapshot. A new book
      is invalid until its first snapshot.
    * Prices and sizes must be JSON strings of non-negative decimals (``"113.40"``; no sign,
      exponent or blanks; prices above zero): Bitget sends strings on WebSocket books, and a
      JSON number cannot give back the exact text the checksum needs, so numbers are a
      :class:`ProtocolError`. Prices are ordered numerically (``Decimal``); the strings are kept.
    * ``arg.instId`` must be this book's symbol; ``instType`` and the top-level ``ts`` are
      ignored; any JSON whitespace and key order is accepted. ``data`` holds exactly one
      object; a missing ``bids`` or ``asks`` is an empty side.
    """

    __slots__ = ("symbol", "strict_seq", "seq", "is_valid", "seq_jumps", "checksums_verified",
                 "checksums_skipped", "dropped_updates", "absent_deletes",
                 "_bid_keys", "_bid_levels", "_ask_keys", "_ask_levels")

    def __init__(self, symbol: str, *, strict_seq: bool = False) -> None:
        if not isinstance(symbol, str) or not symbol:
            raise TypeError(f"symbol must be a non-empty str, not {symbol!r}")
        self.symbol = symbol
        self.strict_seq = bool(strict_seq)
        self.seq: int | None = None
        self.is_valid = False
        self.seq_jumps = 0
        self.checksums_verified = 0
        self.checksums_skipped = 0
        self.dropped_updates = 0
        self.absent_deletes = 0
        # Sorted keys, best first (bids keyed by -price), and key -> (price_str, size_str).
        self._bid_keys: list[Decimal] = []
        self._bid_levels: dict[Decimal, tuple[str, str]] = {}
        self._ask_keys: list[Decimal] = []
        self._ask_levels: dict[Decimal, tuple[str, str]] = {}

    # -- reading ------------------------------------------------------------------------

    @property
    def bids(self) -> list[tuple[str, str]]:
        """All bid levels as ``(price_str, size_str)``, best (highest) first."""
        levels = self._bid_levels
        return [levels[k] for k in self._bid_keys]

    @property
    def asks(self) -> list[tuple[str, str]]:
        """All ask levels as ``(price_str, size_str)``, best (lowest) first."""
        levels = self._ask_levels
        return [levels[k] for k in self._ask_keys]

    @property
    def best_bid(self) -> tuple[str, str] | None:
        """``(price_str, size_str)`` of the best bid, or None."""
        return self._bid_levels[self._bid_keys[0]] if self._bid_keys else None

    @property
    def best_ask(self) -> tuple[str, str] | None:
        """``(price_str, size_str)`` of the best ask, or None."""
        return self._ask_levels[self._ask_keys[0]] if self._ask_keys else None

    @property
    def depth(self) -> tuple[int, int]:
        """``(number of bid levels, number of ask levels)``."""
        return len(self._bid_keys), len(self._ask_keys)

    def checksum(self) -> int:
        """Bitget's signed CRC32 of the current top 25 levels (see :func:`checksum`)."""
        bl, al = self._bid_levels, self._ask_levels
        return checksum([bl[k] for k in self._bid_keys[:_CHECKSUM_LEVELS]],
                        [al[k] for k in self._ask_keys[:_CHECKSUM_LEVELS]])

    def __repr__(self) -> str:
        return (f"<Book {self.symbol} seq={self.seq} valid={self.is_valid} "
                f"depth={self.depth} bid={self.best_bid} ask={self.best_ask}>")

    # -- applying -----------------------------------------------------------------------

    def apply(self, raw: bytes | bytearray | memoryview | str | dict) -> None:
        """Apply one ``books*`` message: JSON text (bytes or str) or an already-parsed dict.

        Raises :class:`ProtocolError` (book unchanged), :class:`SequenceGap` or
        :class:`ChecksumMismatch` (message applied, book invalid until the next snapshot).
        """
        channel, snapshot, bids, asks, expected, seq, pseq = self._parse(raw)
        if snapshot:
            self._bid_keys, self._bid_levels = _side_from_snapshot(bids)
            self._ask_keys, self._ask_levels = _side_from_snapshot(asks)
            self.seq = seq
            self.is_valid = True
            self._verify(channel, expected, snapshot=True)
            self._check_crossed(channel)
            return
        if not self.is_valid:
            self.dropped_updates += 1
            return
        gap = self._sequence_problem(seq, pseq)
        self._update_side(bids, self._bid_keys, self._bid_levels)
        self._update_side(asks, self._ask_keys, self._ask_levels)
        if seq is not None:
            self.seq = seq
        if gap is not None:
            self.is_valid = False
            raise SequenceGap(f"{self._where(channel, seq)}: {gap}; the update is applied and "
                              "the book is invalid until the next snapshot (resubscribe)",
                              channel=channel)
        self._verify(channel, expected, snapshot=False)
        self._check_crossed(channel)

    def _check_crossed(self, channel: str) -> None:
        if self._bid_keys and self._ask_keys and -self._bid_keys[0] >= self._ask_keys[0]:
            self.is_valid = False
            raise CrossedBook(f"{self._where(channel, self.seq)}: crossed book: best bid "
                              f"{self.best_bid[0]} >= best ask {self.best_ask[0]}; the message "
                              "is applied and the book is invalid until the next snapshot "
                              "(resubscribe)", channel=channel)

    def _sequence_problem(self, seq: int | None, pseq: int | None) -> str | None:
        """What is wrong with an update's seq/pseq against the book's, or None (counts jumps)."""
        last = self.seq
        if pseq is not None:
            if pseq != last:
                return f"pseq {pseq} does not match the book's seq {last}"
            return None
        if seq is None or last is None:
            return None
        if seq <= last:
            return f"seq {seq} is not after the book's seq {last} (stale or replayed)"
        if seq != last + 1:
            if self.strict_seq:
                return f"seq jumped from {last} to {seq} (strict_seq)"
            self.seq_jumps += 1
        return None

    def _update_side(self, levels: list[tuple[Decimal, str, str, bool]], keys: list[Decimal],
                     book: dict[Decimal, tuple[str, str]]) -> None:
        for key, price, size, zero in levels:
            if zero:
                if book.pop(key, None) is None:
                    self.absent_deletes += 1
                else:
                    del keys[bisect_left(keys, key)]
            else:
                if key not in book:
                    insort(keys, key)
                book[key] = (price, size)

    def _verify(self, channel: str, expected: int | None, *, snapshot: bool) -> None:
        if expected is None or (snapshot and expected == 0):
            self.checksums_skipped += 1
            return
        got = self.checksum()
        if got != expected:
            self.is_valid = False
            raise ChecksumMismatch(
                f"{self._where(channel, self.seq)}: checksum mismatch: the message says "
                f"{expected}, the local top {_CHECKSUM_LEVELS} levels give {got}; the "
                f"{'snapshot' if snapshot else 'update'} is applied and the book is invalid "
                "until the next snapshot (resubscribe)", channel=channel)
        self.checksums_verified += 1

    def _where(self, channel: str | None, seq: int | None) -> str:
        where = f"{channel or 'book'} {self.symbol}"
        return where if seq is None else f"{where} seq {seq}"

    # -- parsing (never touches the book) -------------------------------------------------

    def _parse(self, raw):
        """Validate a message fully; return (channel, snapshot, bids, asks, checksum, seq, pseq).

        Levels come back as ``(sort key, price_str, size_str, size_is_zero)``.
        """
        if isinstance(raw, dict):
            msg = raw
        elif isinstance(raw, (bytes, bytearray, memoryview, str)):
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                offset, excerpt = _json_error_position(raw, exc.pos)
                raise ProtocolError(f"book {self.symbol}: not JSON at byte {offset} "
                                    f"({exc.msg}); message rejected, book unchanged",
                                    offset=offset, excerpt=excerpt) from None
        else:
            raise TypeError(f"Book.apply takes bytes, str or dict, not {type(raw).__name__}")

        def fail(what: str, channel: str | None = None, value: object = msg,
                 seq: int | None = None) -> ProtocolError:
            return ProtocolError(f"{self._where(channel, seq)}: {what}; message rejected, "
                                 "book unchanged", channel=channel, excerpt=_excerpt(value))

        if not isinstance(msg, dict):
            raise fail(f"expected a JSON object, got {type(msg).__name__}")
        arg = msg.get("arg")
        if not isinstance(arg, dict):
            raise fail("no 'arg' object (not a channel push)")
        channel = arg.get("channel")
        if not isinstance(channel, str) or channel not in _BOOK_CHANNELS:
            raise fail(f"arg.channel {channel!r} is not a book channel "
                       f"({', '.join(sorted(_BOOK_CHANNELS))})",
                       channel if isinstance(channel, str) else None, arg)
        inst_id = arg.get("instId")
        if inst_id != self.symbol:
            raise fail(f"arg.instId {inst_id!r} is not this book's symbol", channel, arg)
        if channel == "books":
            action = msg.get("action")
            if action not in ("snapshot", "update"):
                raise fail(f"action {action!r} is neither 'snapshot' nor 'update'", channel)
            snapshot = action == "snapshot"
        else:
            snapshot = True  # books1/5/15: every push is the full top N
        data = msg.get("data")
        if not isinstance(data, list) or len(data) != 1 or not isinstance(data[0], dict):
            raise fail("'data' must be a list holding exactly one object", channel,
                       data if "data" in msg else msg)
        entry = data[0]
        seq = _int64_field(entry, "seq", fail, channel)
        pseq = _int64_field(entry, "pseq", fail, channel, seq)
        if pseq is not None and seq is None:
            raise fail("'pseq' without 'seq'", channel, entry)
        expected = _int64_field(entry, "checksum", fail, channel, seq)
        if expected is not None:
            if not -0x80000000 <= expected <= 0xFFFFFFFF:
                raise fail(f"checksum {expected} is not a 32-bit value", channel,
                           entry["checksum"], seq)
            if expected > 0x7FFFFFFF:  # sent unsigned: compare as signed
                expected -= 0x100000000
        bids = _parse_side(entry, "bids", True, fail, channel, seq)
        asks = _parse_side(entry, "asks", False, fail, channel, seq)
        return channel, snapshot, bids, asks, expected, seq, pseq


def _side_from_snapshot(levels):
    book = {key: (price, size) for key, price, size, zero in levels if not zero}
    return sorted(book), book


def _parse_side(entry, side, is_bid, fail, channel, seq):
    raw_levels = entry.get(side, [])
    if not isinstance(raw_levels, list):
        raise fail(f"'{side}' must be a list of [price, size] pairs", channel, raw_levels, seq)
    out = []
    append = out.append
    for i, level in enumerate(raw_levels):
        if not isinstance(level, list) or len(level) != 2:
            raise fail(f"{side}[{i}] is not a [price, size] pair", channel, level, seq)
        price, size = level
        for name, text in (("price", price), ("size", size)):
            if not isinstance(text, str):
                raise fail(f"{side}[{i}] {name} {text!r} is not a JSON string (book levels "
                           "are decimal strings)", channel, level, seq)
            if not _is_decimal(text):
                raise fail(f"{side}[{i}] {name} {text!r} is not a non-negative decimal",
                           channel, level, seq)
        if not _has_nonzero_digit(price):
            raise fail(f"{side}[{i}] price {price!r} is zero", channel, level, seq)
        key = Decimal(price)
        append((key.copy_negate() if is_bid else key, price, size, not _has_nonzero_digit(size)))
    return out


def _int64_field(entry, name, fail, channel, seq=None):
    """``entry[name]`` as an int64 (JSON integer or decimal-integer string), None when absent."""
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, str) and _is_integer(value):
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        raise fail(f"'{name}' {value!r} is not an integer", channel, value, seq)
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise fail(f"'{name}' {number} does not fit in int64", channel, value, seq)
    return number


def _excerpt(value: object) -> bytes:
    """The offending JSON value, re-serialized and cut to a short excerpt."""
    try:
        text = orjson.dumps(value, default=repr)
    except TypeError:
        text = repr(value).encode("utf-8", "backslashreplace")
    return text[:_EXCERPT_BYTES]


def _json_error_position(raw, pos: int) -> tuple[int, bytes]:
    """orjson counts characters: turn its position into a byte offset and an excerpt around it."""
    if isinstance(raw, str):
        offset = len(raw[:pos].encode("utf-8", "surrogatepass"))
        data = raw.encode("utf-8", "surrogatepass")
    else:
        data = bytes(raw)
        offset = len(data.decode("utf-8", "replace")[:pos].encode("utf-8"))
        offset = min(offset, len(data))
    half = _EXCERPT_BYTES // 2
    return offset, data[max(0, offset - half):offset + half]
