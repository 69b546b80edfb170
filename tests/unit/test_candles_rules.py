"""Candle intervals, alignment, row parsing and page planning: the rules, without a network."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitget_fast import CandleError, CandleFeed, ConfigurationError, ProtocolError, RestClient
from bitget_fast.candles import candle_paths, parse_row, parse_time
from bitget_fast.intervals import (
    DAY_MS,
    HISTORY_LIMIT,
    INTERVALS,
    MAX_SPAN_MS,
    RECENT_LIMIT,
    candle_start,
    interval,
    next_start,
)

# The protocol reference, section 11.7 (REST) and 7.5 (WebSocket channels), written out here
# on purpose rather than read from the table under test.
REST_NAMES = ("1m 3m 5m 15m 30m 1H 2H 4H 6H 12H 1D 3D 1W 1M "
              "6Hutc 12Hutc 1Dutc 3Dutc 1Wutc 1Mutc").split()
WS_NAMES = ("1m 5m 15m 30m 1H 4H 6H 12H 1D 3D 1W 1M 6Hutc 12Hutc 1Dutc 3Dutc 1Wutc "
            "1Mutc").split()
BAD_NAMES = ["1min", "1h", "1d", "1w", "7m", "", " 1m", "1m ", "1mutc", "1MUTC", "1Hutc",
             "candle1m", "60", "1s", "2D", None, 1, b"1m"]


def utc(*a: int) -> int:
    return int(dt.datetime(*a, tzinfo=dt.timezone.utc).timestamp() * 1000)


def test_every_reference_interval_and_only_those():
    assert sorted(INTERVALS) == sorted(REST_NAMES)
    for name in REST_NAMES:
        assert interval(name).name == name
    assert sorted(n for n, iv in INTERVALS.items() if iv.ws_channel) == sorted(WS_NAMES)
    assert all(iv.ws_channel == f"candle{n}" for n, iv in INTERVALS.items() if iv.ws_channel)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_other_interval_strings_refused(name):
    with pytest.raises(ConfigurationError, match="unknown candle interval"):
        interval(name)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=utc(2015, 1, 1), max_value=utc(2040, 1, 1)),
       st.sampled_from(REST_NAMES))
def test_alignment_brackets_every_instant(t, name):
    iv = INTERVALS[name]
    s = candle_start(t, iv)
    e = next_start(s, iv)
    assert s <= t < e
    assert candle_start(s, iv) == s and candle_start(e - 1, iv) == s and candle_start(e, iv) == e
    if iv.ms:
        assert e - s == iv.ms


@pytest.mark.parametrize("name, t, start", [
    ("1m", utc(2026, 11, 25, 3, 7, 31), utc(2026, 11, 25, 3, 7)),
    ("4H", utc(2026, 11, 25, 3, 7), utc(2026, 11, 25, 0)),          # UTC+8 and UTC agree
    ("6H", utc(2026, 11, 25, 3, 7), utc(2026, 11, 24, 22)),         # 06:00 UTC+8
    ("6Hutc", utc(2026, 11, 25, 3, 7), utc(2026, 11, 25, 0)),
    ("12H", utc(2026, 11, 25, 3, 7), utc(2026, 11, 24, 16)),        # 00:00 UTC+8
    ("1D", utc(2026, 11, 25, 3, 7), utc(2026, 11, 24, 16)),
    ("1D", utc(2026, 11, 25, 17, 0), utc(2026, 11, 25, 16)),
    ("1Dutc", utc(2026, 11, 25, 3, 7), utc(2026, 11, 25)),
    ("1W", utc(2026, 11, 25, 3, 7), utc(2026, 11, 22, 16)),         # Monday 23rd, UTC+8
    ("1Wutc", utc(2026, 11, 25, 3, 7), utc(2026, 11, 23)),          # Monday 23rd
    ("1Wutc", utc(2026, 11, 29, 23, 59), utc(2026, 11, 23)),        # Sunday
    ("1M", utc(2026, 11, 25), utc(2026, 10, 31, 16)),               # 1 Nov UTC+8
    ("1M", utc(2026, 10, 31, 17), utc(2026, 10, 31, 16)),
    ("1Mutc", utc(2024, 2, 29, 12), utc(2024, 2, 1)),
])
def test_alignment_examples(name, t, start):
    assert candle_start(t, INTERVALS[name]) == start


def test_months_have_their_lengths():
    iv = INTERVALS["1Mutc"]
    assert next_start(utc(2024, 2, 1), iv) == utc(2024, 3, 1)       # leap February
    assert next_start(utc(2026, 12, 1), iv) == utc(2027, 1, 1)
    assert next_start(utc(2026, 12, 31, 16), INTERVALS["1M"]) == utc(2027, 1, 31, 16)


ROW = ["1695835800000", "26210.5", "26210.5", "26194.5", "26194.5", "26.26", "687897.63"]


def test_parse_row_rest_and_ws_shapes():
    iv = INTERVALS["1m"]
    c = parse_row(ROW, iv)
    assert (c.start_ms, c.open, c.high, c.low, c.close) == (
        1695835800000, Decimal("26210.5"), Decimal("26210.5"), Decimal("26194.5"),
        Decimal("26194.5"))
    assert (c.base_volume, c.quote_volume, c.closed) == (Decimal("26.26"), Decimal("687897.63"),
                                                         False)
    assert parse_row(ROW + ["687897.63"], iv) == c        # the WebSocket's 8th field
    assert parse_row(ROW + ["x", "y"], iv) == c           # fields added later are ignored


@pytest.mark.parametrize("row, why", [
    (ROW[:6], "7 or 8 fields"),
    ([], "7 or 8 fields"),
    ("1695835800000,1,1,1,1,1,1", "7 or 8 fields"),
    ({"ts": 1}, "7 or 8 fields"),
    (["abc"] + ROW[1:], "not milliseconds"),
    (["-60000"] + ROW[1:], "not milliseconds"),
    (["1695835800000.0"] + ROW[1:], "not milliseconds"),
    (["99999999999999999"] + ROW[1:], "not milliseconds"),
    ([1695835800000.0] + ROW[1:], "not milliseconds"),
    (["1695835800000\u00b2"] + ROW[1:], "not milliseconds"),       # str.isdigit() says yes
    (["\uff11\uff16\uff19\uff15\uff18\uff13\uff15\uff18\uff10\uff10\uff10\uff10\uff10"] + ROW[1:],
     "not milliseconds"),                                               # full-width digits
    (["1695835800001"] + ROW[1:], "off the 1m grid"),
    (ROW[:1] + ["x"] + ROW[2:], "not a number"),
    (ROW[:2] + ["NaN"] + ROW[3:], "not a usable number"),
    (ROW[:2] + ["Infinity"] + ROW[3:], "not a usable number"),
    (ROW[:2] + ["1E400000"] + ROW[3:], "not a usable number"),
    (ROW[:2] + [None] + ROW[3:], "empty candle field"),
    (ROW[:2] + [""] + ROW[3:], "empty candle field"),
    (ROW[:2] + [["1"]] + ROW[3:], "not a number"),
    (ROW[:2] + ["26000"] + ROW[3:], "not one"),                  # high below open
    (ROW[:3] + ["26300"] + ROW[4:], "not one"),                  # low above close
    (ROW[:3] + ["0"] + ROW[4:], "not one"),                      # a price of zero
    (ROW[:5] + ["-1"] + ROW[6:], "not one"),                     # negative volume
])
def test_parse_row_refuses_what_is_not_a_candle(row, why):
    with pytest.raises(ProtocolError, match=why):
        parse_row(row, INTERVALS["1m"])


@pytest.mark.parametrize("text, ms", [
    ("2026-01-01", utc(2026, 1, 1)),
    ("2026-01-01T00:00Z", utc(2026, 1, 1)),
    ("2026-01-01T00:00:00z", utc(2026, 1, 1)),
    ("2026-01-01T08:00+08:00", utc(2026, 1, 1)),
    ("2026-01-01T00:00", utc(2026, 1, 1)),
    (utc(2026, 1, 1), utc(2026, 1, 1)),
    (dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), utc(2026, 1, 1)),
])
def test_parse_time(text, ms):
    assert parse_time(text) == ms


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "", -1, 1 << 60, True, 1.5,
                                 dt.datetime(2026, 1, 1), "1969-12-31T23:59Z",
                                 dt.datetime(1960, 1, 1, tzinfo=dt.timezone.utc)])
def test_parse_time_refuses(bad):
    with pytest.raises(ConfigurationError):
        parse_time(bad)


def test_kinds_and_paths():
    assert candle_paths("market") == ("/api/v2/mix/market/candles",
                                      "/api/v2/mix/market/history-candles")
    assert candle_paths("mark")[1] == "/api/v2/mix/market/history-mark-candles"
    assert candle_paths("index")[1] == "/api/v2/mix/market/history-index-candles"
    with pytest.raises(ConfigurationError):
        candle_paths("MARK")


def feed(name: str, kind: str = "market") -> CandleFeed:
    # an unstarted client: only its clock (local time + offset) is read
    return CandleFeed(RestClient("http://127.0.0.1:9"), "BTCUSDT", name, kind=kind)


@pytest.mark.parametrize("name", REST_NAMES)
@pytest.mark.parametrize("days", [1, 45, 400])
def test_windows_cover_the_range_within_bitget_limits(name, days):
    f = feed(name)
    now = f.rest.now_ms()
    iv = f.iv
    lo = f.first_start(now - days * DAY_MS)
    hi = next_start(candle_start(now, iv), iv)
    windows = list(f._windows(lo, hi))
    if lo >= hi:            # the first candle after `since` has not started yet
        assert windows == []
        return
    assert windows[0][0] == lo and windows[-1][1] == hi
    for (a, b, path, n), nxt in zip(windows, windows[1:] + [None]):
        assert a < b and (nxt is None or nxt[0] == b)          # contiguous, no overlap
        assert b - 1 - a <= MAX_SPAN_MS                         # 90 days per call
        count, s = 0, a
        while s < b:
            count, s = count + 1, next_start(s, iv)
        assert count == n                                       # exactly the candles asked for
        recent = path.endswith("/market/candles")
        assert n <= (RECENT_LIMIT if recent else HISTORY_LIMIT)
        if not recent:                                          # older than /candles serves
            assert iv.recent_days is not None and a < now - (iv.recent_days - 1) * DAY_MS


def test_page_checks():
    f = feed("1m")
    w = utc(2026, 11, 25, 3)
    rows = [[str(w + i * 60_000), "10", "11", "9", "10", "1", "10"] for i in range(5)]
    assert [c.start_ms for c in f._check_page(rows[::-1], w, w + 300_000, "p")] == \
        [w + i * 60_000 for i in range(5)]
    assert f.stats["reordered_pages"] == 1                      # sorted, and counted
    assert f._check_page(rows + rows[:1], w, w + 300_000, "p")[0].start_ms == w  # same row twice
    assert f._check_page("", w, w + 300_000, "p") == []         # Bitget's "" for no candles
    changed = [rows[0][0], "10", "12", "9", "10", "1", "10"]
    with pytest.raises(CandleError, match="two different candles"):
        f._check_page(rows + [changed], w, w + 300_000, "p")
    with pytest.raises(CandleError, match="outside the window"):
        f._check_page(rows, w, w + 240_000, "p")
    with pytest.raises(CandleError, match="not a list"):
        f._check_page({"rows": rows}, w, w + 300_000, "p")
    with pytest.raises(CandleError, match="7 or 8 fields"):
        f._check_page(rows + [rows[0][:5]], w, w + 300_000, "p")


def test_feed_arguments():
    with pytest.raises(ConfigurationError, match="unknown candle interval"):
        feed("1h")
    with pytest.raises(ConfigurationError, match="kind"):
        feed("1m", kind="last")
    assert feed("1m", kind="mark").live_channel is None         # mark/index: REST only
    assert feed("3m").live_channel is None                      # no WebSocket channel
