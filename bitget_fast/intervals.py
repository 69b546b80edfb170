"""Bitget's candle intervals: which strings exist, where each candle starts, and the REST limits.

One table for the client's candle feed and the simulator (protocol reference sections 7.5 and
11.7). Bottom layer, like ``limits.py``: data and pure functions, no imports from the package
beyond ``errors``.

Alignment (UNCERTAIN in the protocol reference, chosen here once): intervals without the
``utc`` suffix count in UTC+8 (Bitget's home zone) and those with it in UTC. For 1m to 4H
the two agree (8 h is a multiple of each); 6H, 12H, 1D, 3D, 1W and 1M differ. Weeks start
on Monday 00:00; 3-day candles count from 1970-01-01 00:00 of their zone; months are
calendar months.
"""

from __future__ import annotations

import datetime as _dt
from typing import NamedTuple

from bitget_fast.errors import ConfigurationError

__all__ = ["Interval", "INTERVALS", "interval", "candle_start", "next_start", "ZONE_OFFSET_MS",
           "RECENT_LIMIT", "HISTORY_LIMIT", "MAX_SPAN_MS", "KINDS", "MINUTE_MS", "HOUR_MS",
           "DAY_MS"]

MINUTE_MS = 60_000
"""One minute in ms."""
HOUR_MS = 3_600_000
"""One hour in ms."""
DAY_MS = 86_400_000
"""One day in ms."""
ZONE_OFFSET_MS = 8 * HOUR_MS
"""UTC+8: the zone of the intervals without the ``utc`` suffix."""
RECENT_LIMIT = 1000
"""Most candles ``/api/v2/mix/market/candles`` returns per call."""
HISTORY_LIMIT = 200
"""Most candles ``/history-candles`` (and the mark and index variants) return per call."""
MAX_SPAN_MS = 90 * DAY_MS
"""Widest ``endTime - startTime`` one candles call accepts."""
KINDS = ("market", "mark", "index")
"""Candle kinds: trade prices, mark price, index price (``kLineType`` MARKET, MARK, INDEX)."""


class Interval(NamedTuple):
    """One candle interval: its name, fixed length (0 for months), zone and where it is served.

    ``ws_channel`` is the WebSocket channel pushing it (None: REST only); ``recent_days``
    how far back ``/candles`` serves it (None: as far as history goes); older candles come
    from ``/history-candles``.
    """

    name: str
    ms: int
    utc: bool
    ws_channel: str | None
    recent_days: int | None

    @property
    def zone_ms(self) -> int:
        """Offset of this interval's zone from UTC, ms."""
        return 0 if self.utc else ZONE_OFFSET_MS

    @property
    def monthly(self) -> bool:
        """True for calendar months (1M, 1Mutc)."""
        return self.ms == 0


def _iv(name: str, ms: int, ws: bool, recent: int | None) -> Interval:
    return Interval(name, ms, name.endswith("utc"), f"candle{name}" if ws else None, recent)


# Protocol reference 11.7 (REST granularities, plus 2H which Bitget's history-depth table and
# hummingbot use) and 7.5 (WebSocket channels: no 3m, no 2H). recent_days: Bitget's table for
# /candles (1m-5m one month, 15m 52 d, 30m 62 d, 1H 83 d, 2H 120 d, 4H 240 d, 6H 360 d); it
# names no bound for longer intervals (UNCERTAIN: taken as unbounded).
INTERVALS: dict[str, Interval] = {iv.name: iv for iv in (
    _iv("1m", MINUTE_MS, True, 30), _iv("3m", 3 * MINUTE_MS, False, 30),
    _iv("5m", 5 * MINUTE_MS, True, 30), _iv("15m", 15 * MINUTE_MS, True, 52),
    _iv("30m", 30 * MINUTE_MS, True, 62), _iv("1H", HOUR_MS, True, 83),
    _iv("2H", 2 * HOUR_MS, False, 120), _iv("4H", 4 * HOUR_MS, True, 240),
    _iv("6H", 6 * HOUR_MS, True, 360), _iv("12H", 12 * HOUR_MS, True, None),
    _iv("1D", DAY_MS, True, None), _iv("3D", 3 * DAY_MS, True, None),
    _iv("1W", 7 * DAY_MS, True, None), _iv("1M", 0, True, None),
    _iv("6Hutc", 6 * HOUR_MS, True, 360), _iv("12Hutc", 12 * HOUR_MS, True, None),
    _iv("1Dutc", DAY_MS, True, None), _iv("3Dutc", 3 * DAY_MS, True, None),
    _iv("1Wutc", 7 * DAY_MS, True, None), _iv("1Mutc", 0, True, None),
)}
"""Every interval Bitget's USDT-M candles accept, by name (case-sensitive, as Bitget spells them)."""

_MONDAY_SHIFT_MS = 3 * DAY_MS  # 1970-01-01 was a Thursday; 1970-01-05 a Monday


def interval(name: str) -> Interval:
    """The :class:`Interval` called ``name``; ConfigurationError naming the valid ones otherwise."""
    iv = INTERVALS.get(name) if isinstance(name, str) else None
    if iv is None:
        raise ConfigurationError(f"unknown candle interval {name!r}; Bitget's are "
                                 f"{' '.join(INTERVALS)}")
    return iv


def candle_start(ts_ms: int, iv: Interval) -> int:
    """Start (ms, UTC epoch) of the ``iv`` candle holding the instant ``ts_ms``."""
    z = iv.zone_ms
    if iv.ms == 0:
        d = _dt.datetime.fromtimestamp((ts_ms + z) // 1000, _dt.timezone.utc)
        first = _dt.datetime(d.year, d.month, 1, tzinfo=_dt.timezone.utc)
        return int(first.timestamp()) * 1000 - z
    if iv.ms == 7 * DAY_MS:
        t = ts_ms + z + _MONDAY_SHIFT_MS
        return t - t % iv.ms - z - _MONDAY_SHIFT_MS
    t = ts_ms + z
    return t - t % iv.ms - z


def next_start(start_ms: int, iv: Interval) -> int:
    """Start of the candle after the one starting at ``start_ms``."""
    if iv.ms:
        return start_ms + iv.ms
    z = iv.zone_ms
    d = _dt.datetime.fromtimestamp((start_ms + z) // 1000, _dt.timezone.utc)
    y, m = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(_dt.datetime(y, m, 1, tzinfo=_dt.timezone.utc).timestamp()) * 1000 - z
