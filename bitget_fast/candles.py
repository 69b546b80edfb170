"""Candles: history over REST paged across any range, continued live over WebSocket, gapless.

:class:`CandleFeed` reads one symbol's candles of one interval and kind::

    async with RestClient() as rest:
        feed = CandleFeed(rest, "BTCUSDT", "1m")
        async for c in feed.stream(since="2026-11-01T00:00Z"):
            ...   # closed candles from since (history first, then live), then forever

* **History** (:meth:`CandleFeed.history`): windows of at most 1000 candles from
  ``/api/v2/mix/market/candles`` while they are within Bitget's depth for the interval, 200
  from ``/history-candles`` (``/history-mark-candles``, ``/history-index-candles``) before
  that; never more than 90 days per call; several pages in flight, each endpoint under the
  REST client's per-endpoint limiter.
* **Live** (:meth:`CandleFeed.stream`): the ``candle<interval>`` channel is subscribed before
  the backfill starts, so nothing falls between them. A candle closes when a later one
  arrives, or by the clock (``close_grace_s`` after its end, read over REST). After every
  (re)subscribe snapshot, and after any row was dropped, the next close is read over REST,
  so a reconnect never leaves a hole. Intervals with no channel (3m, 2H) and the mark and
  index kinds are continued by REST at each close.
* **No gap, no duplicate**: each start time is yielded once, in order. Where the exchange
  has no candle for an interval after the first candle, the feed yields a flat candle at the
  previous close with zero volumes (counted in ``stats["filled"]``), whether the hole was
  in the history or live: a series is the same however it was read.
* **Bad rows**: a REST page with a row that is not a candle (wrong arity, not a number,
  off the interval's grid, high below low, outside the requested window, two different rows
  for one start) raises :class:`CandleError` naming the row; the rows of a page out of
  order are sorted (counted). A bad WebSocket row is dropped (counted) and the candle it
  belonged to is read over REST when it closes.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import logging
import random
import ssl
from contextlib import aclosing
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal
from typing import Any

from bitget_fast.errors import (
    ConfigurationError,
    ExchangeUnavailableError,
    ProtocolError,
    RateLimitError,
    TransportError,
)
from bitget_fast.intervals import (
    DAY_MS,
    HISTORY_LIMIT,
    KINDS,
    MAX_SPAN_MS,
    RECENT_LIMIT,
    Interval,
    candle_start,
    interval,
    next_start,
)
from bitget_fast.limits import V2_MIX
from bitget_fast.models import Candle
from bitget_fast.orders import to_decimal

__all__ = ["CandleFeed", "CandleError", "parse_row", "parse_time", "candle_paths",
           "CLOSE_GRACE_S"]

log = logging.getLogger("bitget_fast.candles")

PRODUCT_TYPE = "USDT-FUTURES"
CLOSE_GRACE_S = 2.0
"""Seconds after a candle's end before the clock closes it (when no later candle came first)."""
_RECENT_MARGIN_DAYS = 1          # a window this close to the recent endpoint's depth goes to history
_RETRY_MAX_S = 30.0
_CLOCK_SLACK_MS = 5_000         # clock error tolerated before a live row "from the future" is dropped
_MAX_WAIT_S = 60.0               # the longest sleep: a clock step or a suspend is noticed this soon
D0 = Decimal(0)


class CandleError(ProtocolError):
    """A REST page of candles that cannot be used as it is: the row and the reason."""


def candle_paths(kind: str) -> tuple[str, str]:
    """(recent path, history path) of the candle ``kind`` (``market``, ``mark``, ``index``)."""
    if kind == "market":
        return V2_MIX + "market/candles", V2_MIX + "market/history-candles"
    if kind in ("mark", "index"):
        return V2_MIX + "market/candles", V2_MIX + f"market/history-{kind}-candles"
    raise ConfigurationError(f"kind must be one of {KINDS}, not {kind!r}")


def parse_time(v: Any) -> int:
    """Milliseconds since the epoch from an int (ms), an aware datetime or an ISO-8601 string
    (``2026-01-01``, ``2026-01-01T00:00Z``, ``2026-01-01T08:00+08:00``; no zone means UTC)."""
    if isinstance(v, bool):
        raise ConfigurationError(f"not a time: {v!r}")
    if isinstance(v, int):
        if not 0 <= v < 1 << 53:
            raise ConfigurationError(f"a time in ms must be in [0, 2**53), not {v}")
        return v
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            raise ConfigurationError(f"a datetime needs a time zone: {v!r}")
        return parse_time(int(v.timestamp() * 1000))   # the same range as ms
    if isinstance(v, str):
        text = v.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            d = _dt.datetime.fromisoformat(text)
        except ValueError:
            raise ConfigurationError(f"not an ISO-8601 time: {v!r} (e.g. 2026-01-01T00:00Z)") \
                from None
        if d.tzinfo is None:
            d = d.replace(tzinfo=_dt.timezone.utc)
        return parse_time(d)
    raise ConfigurationError(f"a time must be ms, a datetime or an ISO-8601 string, not {v!r}")


def parse_row(row: Any, iv: Interval) -> Candle:
    """One Bitget candle row ``[start, open, high, low, close, baseVolume, quoteVolume, ...]``
    as a :class:`Candle` (``closed=False``); ProtocolError saying what is wrong with it."""
    if not isinstance(row, (list, tuple)) or len(row) < 7:
        raise ProtocolError(f"a candle row has 7 or 8 fields, not {_excerpt(row)}")
    t = row[0]
    if type(t) is str and t.isascii() and t.isdigit() and 0 < len(t) <= 16:
        start = int(t)
    elif type(t) is int and 0 <= t < 1 << 53:
        start = t
    else:
        raise ProtocolError(f"a candle start time that is not milliseconds: {_excerpt(row)}")
    if candle_start(start, iv) != start:
        raise ProtocolError(f"a candle start {start} off the {iv.name} grid: {_excerpt(row)}")
    try:
        o, h, lo, c, bv, qv = (to_decimal(x, None) for x in row[1:7])
    except ProtocolError as exc:
        raise ProtocolError(f"a candle field {exc}: {_excerpt(row)}") from None
    if o is None or h is None or lo is None or c is None or bv is None or qv is None:
        raise ProtocolError(f"an empty candle field: {_excerpt(row)}")
    if not (D0 < lo <= min(o, c) and max(o, c) <= h) or bv < 0 or qv < 0:
        raise ProtocolError(f"a candle that is not one (low <= open, close <= high, volumes "
                            f">= 0): {_excerpt(row)}")
    return Candle(start, o, h, lo, c, bv, qv, False)


def _excerpt(row: Any) -> str:
    text = repr(row)
    return text if len(text) <= 160 else text[:157] + "..."


def _flat(start: int, close: Decimal) -> Candle:
    return Candle(start, close, close, close, close, D0, D0, True)


def _closed(c: Candle) -> Candle:
    return c if c.closed else Candle(c.start_ms, c.open, c.high, c.low, c.close,
                                     c.base_volume, c.quote_volume, True)


class CandleFeed:
    """Candles of one ``symbol``, ``interval`` and ``kind`` over ``rest`` (a started
    :class:`~bitget_fast.rest.RestClient`) and, live, the public WebSocket at ``ws_url``.

    ``kind``: ``"market"`` (trades), ``"mark"`` or ``"index"`` (REST only: live by REST at each
    close). ``stats`` counts pages, rows, filled and dropped candles, and REST catch-ups.
    ``on_progress(covered_ms, until_ms)`` is called after each history page.
    """

    def __init__(self, rest: Any, symbol: str, interval_name: str, *, kind: str = "market",
                 ws_url: str | None = None, ssl_context: ssl.SSLContext | None = None,
                 allow_insecure: bool = False, close_grace_s: float = CLOSE_GRACE_S,
                 confirm_closes: bool = False, concurrency: int = 4,
                 on_progress: Callable[[int, int], Any] | None = None,
                 on_event: Callable[[Any], Any] | None = None) -> None:
        if not isinstance(symbol, str) or not symbol:
            raise ConfigurationError(f"symbol must be a non-empty str, not {symbol!r}")
        self.iv = interval(interval_name)
        self.recent_path, self.history_path = candle_paths(kind)
        if not 1 <= concurrency <= 16:
            raise ConfigurationError("concurrency must be 1 to 16 pages in flight")
        if not 0 <= close_grace_s <= 60:
            raise ConfigurationError("close_grace_s must be 0 to 60 s")
        self.rest = rest
        self.symbol = symbol
        self.kind = kind
        self.ws_url = ws_url
        self.ssl_context = ssl_context
        self.allow_insecure = allow_insecure
        self.close_grace_s = close_grace_s
        self.confirm_closes = confirm_closes
        self.concurrency = concurrency
        self._closed = False
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None
        self.on_progress = on_progress
        self.on_event = on_event
        #: the live stream's MarketData while :meth:`stream` runs (None otherwise)
        self.market: Any = None
        self.stats: dict[str, int] = dict.fromkeys(
            ("pages", "history_pages", "rows", "filled", "reordered_pages", "history_fallbacks",
             "empty_spans", "ws_rows", "ws_dropped", "ws_stale", "rest_closes", "ws_closes",
             "snapshots", "rest_retries"), 0)

    @property
    def live_channel(self) -> str | None:
        """The WebSocket channel continuing this feed, or None (continued over REST)."""
        return self.iv.ws_channel if self.kind == "market" and self.ws_url else None

    def __repr__(self) -> str:
        return f"<CandleFeed {self.symbol} {self.iv.name} {self.kind}>"

    # ------------------------------------------------------------------ history
    def first_start(self, since_ms: int) -> int:
        """Start of the first candle starting at or after ``since_ms``."""
        s = candle_start(since_ms, self.iv)
        return s if s == since_ms else next_start(s, self.iv)

    async def history(self, since: Any, until: Any = None, *,
                      include_open: bool = False) -> AsyncIterator[Candle]:
        """Closed candles starting in [``since``, ``until``) (``until`` None: now), oldest
        first, gapless after the first; the one in progress last, if ``include_open``."""
        lo = self.first_start(parse_time(since))
        now = self.rest.now_ms()
        hi = parse_time(until) if until is not None else now
        prev: Candle | None = None
        grace_ms = int(self.close_grace_s * 1000)
        async with aclosing(self._pages(lo, min(hi, next_start(candle_start(now, self.iv),
                                                               self.iv)))) as pages:
            async for asked, page in pages:
                for c in page:
                    if c.start_ms >= hi:
                        return
                    # final only if it had ended (by a grace) when the page was asked for
                    if next_start(c.start_ms, self.iv) + grace_ms > asked:   # in progress
                        if include_open:
                            if prev is not None:
                                for f in self._fill(prev, c.start_ms):
                                    yield f
                            yield c
                        return
                    if prev is not None:
                        for f in self._fill(prev, c.start_ms):
                            yield f
                    prev = _closed(c)
                    yield prev

    def _fill(self, prev: Candle, upto: int) -> list[Candle]:
        """Flat candles at ``prev``'s close for every start after it and before ``upto``."""
        out = [_flat(s, prev.close) for s in self._starts(next_start(prev.start_ms, self.iv), upto)]
        self.stats["filled"] += len(out)
        return out

    def _window(self, w: int, hi: int, recent: bool | None) -> tuple[int, int]:
        """(end, count) of one call from ``w``: at most the endpoint's limit (None: no limit),
        90 days, ``hi``."""
        iv = self.iv
        if recent is None:
            limit = 1 << 62
        else:
            limit = RECENT_LIMIT if recent else HISTORY_LIMIT
        if iv.ms:
            n = min(limit, (MAX_SPAN_MS + 1) // iv.ms, -(-(hi - w) // iv.ms))
            return w + n * iv.ms, n
        end, n = w, 0
        while n < limit and end < hi:
            nxt = next_start(end, iv)
            if nxt - 1 - w > MAX_SPAN_MS:
                break
            end, n = nxt, n + 1
        return end, n

    def _windows(self, lo: int, hi: int) -> Iterator[tuple[int, int, str, int]]:
        """(start, end, path, count) of the calls covering candles starting in [lo, hi), made
        as they are needed (a range of years costs nothing up front)."""
        now = self.rest.now_ms()
        iv = self.iv
        w = lo
        while w < hi:
            recent = iv.recent_days is None or \
                w >= now - (iv.recent_days - _RECENT_MARGIN_DAYS) * DAY_MS
            end, n = self._window(w, hi, recent)
            yield w, end, self.recent_path if recent else self.history_path, n
            w = end

    async def _page(self, w: int, end: int, path: str, n: int) -> tuple[int, list[Candle]]:
        """(when it was asked, Bitget's ms; the candles of [w, end)) from one call."""
        params = {"symbol": self.symbol, "productType": PRODUCT_TYPE,
                  "granularity": self.iv.name, "startTime": str(w), "endTime": str(end - 1),
                  "limit": str(n)}
        if path == self.recent_path and self.kind != "market":
            params["kLineType"] = self.kind.upper()
        asked = self.rest.now_ms()
        data = await self._get(path, params)
        page = self._check_page(data, w, end, path)
        first = page[0].start_ms if page else end
        if path == self.recent_path and first > w and await self._has_any(w, first):
            # the recent endpoint's depth ends inside this window (or before it): the
            # history endpoint has what it does not
            self.stats["history_fallbacks"] += 1
            older: list[Candle] = []
            x = w
            while x < first:
                e, k = self._window(x, first, False)
                older.extend((await self._page(x, e, self.history_path, k))[1])
                x = e
            page = older + page
        return asked, page

    async def _get(self, path: str, params: dict[str, str]) -> Any:
        return await self.rest.request("GET", path, params=params, signed=False)

    def _check_page(self, data: Any, w: int, end: int, path: str, *,
                    count: bool = True) -> list[Candle]:
        where = f"{path} {self.symbol} {self.iv.name} [{w}, {end})"
        if data is None or data == "":
            data = []   # Bitget answers "" for a symbol with no candles yet
        if not isinstance(data, list):
            raise CandleError(f"{where}: data is not a list of rows: {_excerpt(data)}",
                              channel=path)
        rows: dict[int, Candle] = {}
        last = -1
        reordered = False
        for row in data:
            try:
                c = parse_row(row, self.iv)
            except ProtocolError as exc:
                raise CandleError(f"{where}: {exc}", channel=path) from None
            if not w <= c.start_ms < end:
                raise CandleError(f"{where}: a candle outside the window asked for: "
                                  f"{_excerpt(row)}", channel=path)
            if c.start_ms <= last:
                reordered = True
            last = max(last, c.start_ms)
            seen = rows.get(c.start_ms)
            if seen is not None and seen != c:
                raise CandleError(f"{where}: two different candles start at {c.start_ms}: "
                                  f"{_excerpt(row)}", channel=path)
            rows[c.start_ms] = c
        if count:
            self.stats["pages"] += 1
            self.stats["history_pages"] += path == self.history_path
            self.stats["rows"] += len(rows)
        if reordered:
            self.stats["reordered_pages"] += 1
            log.warning("%s: rows out of order; sorted", where)
        return [rows[s] for s in sorted(rows)]

    async def _has_any(self, lo: int, hi: int) -> bool:
        """Whether the history endpoint holds a candle starting in [lo, hi) (``hi - lo`` at
        most 90 days): one call of one row (Bitget answers the newest)."""
        params = {"symbol": self.symbol, "productType": PRODUCT_TYPE,
                  "granularity": self.iv.name, "startTime": str(lo), "endTime": str(hi - 1),
                  "limit": "1"}
        return bool(self._check_page(await self._get(self.history_path, params), lo, hi,
                                     self.history_path, count=False))

    async def _skip_empty(self, lo: int, hi: int) -> int:
        """Where paging from ``lo`` should start: 90-day spans of the history endpoint that
        hold no candle at all (before a symbol was listed) are skipped one call each, instead
        of being paged 200 candles at a time."""
        iv = self.iv
        if iv.recent_days is None:
            return lo
        depth = self.rest.now_ms() - (iv.recent_days - _RECENT_MARGIN_DAYS) * DAY_MS
        while lo < min(hi, depth):
            end, _ = self._window(lo, min(hi, depth), False)
            if self._window(end, min(hi, depth), False)[1] == 0:
                return lo          # one page would cover what is left: no gain in probing
            span, _ = self._window(lo, min(hi, depth), None)     # 90 days
            if await self._has_any(lo, span):
                return lo          # candles here: page it properly from its start
            self.stats["empty_spans"] += 1
            lo = span
        return lo

    async def _pages(self, lo: int, hi: int) -> AsyncIterator[tuple[int, list[Candle]]]:
        """Pages covering [lo, hi) as ``(asked_ms, candles)``, in order, up to
        ``concurrency`` requests in flight."""
        lo = await self._skip_empty(lo, hi)
        windows = self._windows(lo, hi)
        pending: list[tuple[int, asyncio.Task[tuple[int, list[Candle]]]]] = []
        more = True
        try:
            while more or pending:
                while more and len(pending) < self.concurrency:
                    win = next(windows, None)
                    if win is None:
                        more = False
                        break
                    pending.append((win[1], asyncio.ensure_future(self._page(*win))))
                if not pending:
                    break
                done, task = pending.pop(0)
                yield await task
                if self.on_progress is not None:
                    self.on_progress(min(done, hi), hi)
        finally:
            for _, t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*(t for _, t in pending), return_exceptions=True)

    async def _range(self, lo: int, hi: int) -> dict[int, Candle]:
        """The exchange's candles starting in [lo, hi), by start; transient failures retried
        until they pass (a stream must not end because Bitget was briefly unavailable)."""
        delay = 0.5
        while True:
            try:
                out: dict[int, Candle] = {}
                async with aclosing(self._pages(lo, hi)) as pages:
                    async for _asked, page in pages:
                        for c in page:
                            out[c.start_ms] = c
                return out
            except (ExchangeUnavailableError, TransportError, RateLimitError) as exc:
                if self._closed or getattr(self.rest, "closed", False):
                    raise
                self.stats["rest_retries"] += 1
                log.warning("%r: reading candles [%d, %d) failed (%s); retrying in %.1f s",
                            self, lo, hi, exc, delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, _RETRY_MAX_S)

    # ------------------------------------------------------------------ live
    async def stream(self, since: Any, until: Any = None, *,
                     include_open: bool = False) -> AsyncIterator[Candle]:
        """Closed candles from ``since`` (history, then live) until ``until`` (None: for ever),
        each start time once and in order; with ``include_open``, also the candle in progress
        (``closed=False``) each time a push changes it (WebSocket-fed feeds only)."""
        lo = self.first_start(parse_time(since))
        hi = parse_time(until) if until is not None else None
        iv = self.iv
        grace_ms = int(self.close_grace_s * 1000)
        if hi is not None and next_start(candle_start(hi - 1, iv), iv) + grace_ms <= \
                self.rest.now_ms():
            # every candle before ``until`` is final already: history alone
            async with aclosing(self.history(lo, hi)) as hist:
                async for c in hist:
                    yield c
            return
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._queue = queue
        md = None
        if self.live_channel is not None:
            from bitget_fast.market import MarketData

            md = MarketData([self.symbol], book_channel=None, candles=[self.live_channel],
                            on_candles=lambda _s, _ch, action, data: queue.put_nowait(
                                (action, data)),
                            on_event=self.on_event, url=self.ws_url,
                            ssl_context=self.ssl_context, allow_insecure=self.allow_insecure)
            await md.start()   # subscribed before the backfill: nothing falls between
            self.market = md
        try:
            last: Candle | None = None     # the last candle yielded (closed)
            h_now = self.rest.now_ms()
            async with aclosing(self.history(lo, hi)) as hist:
                async for c in hist:
                    yield c
                    last = c
            # the next start to yield: after the history's last candle, which the live part
            # reads again over REST if the history stopped short; with no candle at all, the
            # history covered every start that had ended (by the grace) when it began
            cursor = next_start(last.start_ms, iv) if last is not None else \
                max(lo, candle_start(h_now - grace_ms, iv))
            pending: dict[int, Candle] = {}
            suspect = True                 # the next close is read over REST
            shown: Candle | None = None    # the in-progress candle last yielded
            opened: Candle | None = None   # an in-progress candle to yield after the closes
            while (hi is None or cursor < hi) and not self._closed:
                if md is not None:
                    md._raise_failure()
                now = self.rest.now_ms()
                stop = candle_start(now - grace_ms, iv)   # every candle before it has ended
                if hi is not None:
                    stop = min(stop, hi)
                verify = True                              # by the clock: read over REST
                if stop <= cursor:
                    wait = (next_start(cursor, iv) + grace_ms - now) / 1000
                    try:
                        action, data = await asyncio.wait_for(
                            queue.get(), min(max(wait, 0.001), _MAX_WAIT_S))
                    except asyncio.TimeoutError:
                        continue
                    if action == "close":
                        break
                    if action == "snapshot":
                        self.stats["snapshots"] += 1
                        suspect = True   # after a (re)subscribe: what came between is unknown
                    # a start after the candle our clock is in (by the slack) is not a real one
                    rows, dropped = self._live_rows(data, candle_start(
                        self.rest.now_ms() + _CLOCK_SLACK_MS, iv))
                    if dropped:
                        suspect = True
                    for c in rows:
                        if c.start_ms >= cursor:
                            pending[c.start_ms] = c
                        elif action != "snapshot":   # a snapshot's history is expected
                            self.stats["ws_stale"] += 1
                    if not pending:
                        continue
                    top = max(pending)
                    stop = top if hi is None else min(top, hi)
                    # the exchange moved on: everything before ``top`` has ended. Closed from
                    # the pushes when they are trusted and complete; otherwise by the clock,
                    # over REST, once the grace has passed.
                    verify = False
                    if suspect or self.confirm_closes or \
                            any(s not in pending for s in self._starts(cursor, stop)):
                        stop = cursor
                    if include_open and (hi is None or top < hi) and pending[top] != shown:
                        shown = opened = pending[top]
                if stop > cursor:
                    async with aclosing(self._close_through(stop, cursor, last, pending,
                                                            verify)) as closing:
                        async for c in closing:
                            yield c
                            last = c
                    cursor = stop
                    if verify:
                        suspect = False
                if opened is not None:    # after the closes it follows
                    if opened.start_ms >= cursor:
                        yield opened
                    opened = None
        finally:
            self.market = None
            self._queue = None
            if md is not None:
                await md.close()

    def _starts(self, lo: int, hi: int) -> list[int]:
        out = []
        s = lo
        while s < hi:
            out.append(s)
            s = next_start(s, self.iv)
        return out

    async def close(self) -> None:
        """End a running :meth:`stream` (its iterator finishes) and close its connection."""
        self._closed = True
        if self._queue is not None:
            self._queue.put_nowait(("close", None))
        if self.market is not None:
            await self.market.close()

    def _live_rows(self, data: Any, latest: int) -> tuple[list[Candle], int]:
        if not isinstance(data, list):
            self.stats["ws_dropped"] += 1
            log.warning("%r: a candle push whose data is not a list: %s", self, _excerpt(data))
            return [], 1
        out, dropped = [], 0
        for row in data:
            try:
                c = parse_row(row, self.iv)
            except ProtocolError as exc:
                dropped += 1
                log.warning("%r: candle row dropped: %s", self, exc)
                continue
            if c.start_ms > latest:
                dropped += 1
                log.warning("%r: candle row dropped: it starts in the future: %s", self,
                            _excerpt(row))
                continue
            out.append(c)
        self.stats["ws_rows"] += len(out)
        self.stats["ws_dropped"] += dropped
        out.sort(key=lambda c: c.start_ms)
        return out, dropped

    async def _close_through(self, upto: int, cursor: int, last: Candle | None,
                             pending: dict[int, Candle], verify: bool) -> AsyncIterator[Candle]:
        """Yield the candles starting in [cursor, upto), closed: from the live rows, or over
        REST when ``verify`` or a start has no live row; flat where the exchange has none."""
        starts = self._starts(cursor, upto)
        if not starts:
            return
        if verify or any(s not in pending for s in starts):
            rest = await self._range(cursor, upto)
            self.stats["rest_closes"] += 1
            for k, c in rest.items():
                pending[k] = c
        else:
            self.stats["ws_closes"] += 1
        prev = last
        for s in starts:
            c = pending.pop(s, None)
            if c is None:
                if prev is None:
                    continue      # before the first candle the exchange has: nothing to fill
                self.stats["filled"] += 1
                c = _flat(s, prev.close)
            else:
                c = _closed(c)
            prev = c
            yield c
        for k in [k for k in pending if k < upto]:
            del pending[k]

