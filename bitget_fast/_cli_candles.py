"""``bitget-fast candles``: a symbol's candles over any range as CSV or JSON lines."""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import sys
from decimal import Decimal
from typing import Any, TextIO

from bitget_fast._term import Progress
from bitget_fast.candles import CandleFeed, parse_time
from bitget_fast.errors import BitgetError
from bitget_fast.intervals import INTERVALS, KINDS, MINUTE_MS
from bitget_fast.market import PUBLIC_WS_URL
from bitget_fast.models import Candle
from bitget_fast.rest import REST_URL, RestClient

OK, FAILED, INTERRUPTED = 0, 1, 130
CSV_HEADER = "start,start_ms,open,high,low,close,base_volume,quote_volume\n"
SIM_MAX_HISTORY_DAYS = 200   # --sim: the simulator seeds at most this much history
SIM_FLOW_RATE = 20.0


def add_options(p: argparse.ArgumentParser) -> None:
    """The arguments of ``bitget-fast candles``."""
    p.add_argument("symbol", metavar="SYMBOL", help="USDT-M symbol, e.g. BTCUSDT")
    p.add_argument("--interval", default="1m", choices=list(INTERVALS), metavar="INTERVAL",
                   help=f"candle interval, as Bitget spells it (default 1m): {' '.join(INTERVALS)}")
    p.add_argument("--since", required=True, metavar="TIME",
                   help="first candle start, ISO-8601 (2026-01-01T00:00Z; no zone = UTC) or ms")
    p.add_argument("--until", metavar="TIME",
                   help="stop before the candle starting here (default: the last closed one)")
    p.add_argument("--follow", action="store_true",
                   help="after the history, keep writing candles as they close (Ctrl-C ends)")
    p.add_argument("--kind", default="market", choices=KINDS,
                   help="trade (market), mark or index price candles (default market)")
    p.add_argument("--json", action="store_true", help="JSON lines instead of CSV")
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sim", action="store_true",
                     help="read from the embedded simulator (no network; seeded history)")
    src.add_argument("--rest-url", metavar="URL", help=f"REST API (default {REST_URL})")
    p.add_argument("--ws-url", metavar="URL",
                   help=f"--follow: public WebSocket (default {PUBLIC_WS_URL})")
    p.add_argument("--allow-insecure", action="store_true",
                   help="accept plain http:// or ws:// URLs to a host that is not loopback")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress line on stderr (it is shown only on a terminal anyway)")


def _iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(d: Decimal) -> str:
    return format(d, "f")   # the digits Bitget sent, never an exponent ("1.234E-7")


def format_csv(c: Candle) -> str:
    """One CSV line of ``c`` (the columns of ``CSV_HEADER``)."""
    return (f"{_iso(c.start_ms)},{c.start_ms},{_num(c.open)},{_num(c.high)},{_num(c.low)},"
            f"{_num(c.close)},{_num(c.base_volume)},{_num(c.quote_volume)}\n")


def format_json(c: Candle) -> str:
    """One JSON line of ``c``: numbers as exact strings, the start as ms and ISO-8601."""
    return json.dumps({"start": _iso(c.start_ms), "start_ms": c.start_ms,
                       "open": _num(c.open), "high": _num(c.high), "low": _num(c.low),
                       "close": _num(c.close), "base_volume": _num(c.base_volume),
                       "quote_volume": _num(c.quote_volume)}, separators=(",", ":")) + "\n"


async def _write(args: argparse.Namespace, rest: Any, ws_url: str | None, out: TextIO,
                 since: int, until: int | None) -> int:
    progress = Progress(sys.stderr, enabled=False if args.no_progress else None)
    written = 0
    last_ms = since

    def on_progress(covered: int, hi: int) -> None:
        span = max(hi - since, 1)
        progress.update(f"candles {args.symbol} {args.interval}: {written:,} written, through "
                        f"{_iso(covered)} ({min(100.0, 100.0 * (covered - since) / span):.0f}%)")

    feed = CandleFeed(rest, args.symbol, args.interval, kind=args.kind, ws_url=ws_url,
                      allow_insecure=args.allow_insecure, on_progress=on_progress)
    fmt = format_json if args.json else format_csv
    if not args.json:
        out.write(CSV_HEADER)
    source = feed.stream(since, until) if args.follow else feed.history(since, until)
    try:
        async for c in source:
            out.write(fmt(c))
            written += 1
            last_ms = c.start_ms
            if args.follow:
                out.flush()
                progress.update(f"candles {args.symbol} {args.interval}: {written:,} written, "
                                f"last {_iso(last_ms)} (live)")
    finally:
        progress.done()
        out.flush()
        s = feed.stats
        print(f"bitget-fast candles: {written:,} {args.interval} candles of {args.symbol}"
              f"{'' if args.kind == 'market' else ' (' + args.kind + ')'}"
              f"{', through ' + _iso(last_ms) if written else ''}; {s['pages']} pages, "
              f"{s['filled']} flat (no trades), {s['rest_retries']} retries", file=sys.stderr)
    return OK


async def run_candles(args: argparse.Namespace, out: TextIO) -> int:
    """Fetch (and with --follow, stream) the candles the arguments ask for into ``out``."""
    since = parse_time(_time_arg(args.since))
    until = parse_time(_time_arg(args.until)) if args.until is not None else None
    if until is not None and until <= since:
        raise ValueError("--until must be after --since")
    symbol = args.symbol.strip().upper()
    args.symbol = symbol
    if args.sim:
        from bitget_fast.sim import Simulator

        now = _dt.datetime.now(_dt.timezone.utc).timestamp() * 1000
        minutes = int(min(max(now - since, 0) / MINUTE_MS + 2, SIM_MAX_HISTORY_DAYS * 1440))
        async with Simulator([symbol], seed=1, flow_rate=SIM_FLOW_RATE,
                             candle_history_minutes=minutes) as sim:
            async with RestClient(sim.rest_url) as rest:
                return await _write(args, rest, sim.ws_public_url, out, since, until)
    async with RestClient(args.rest_url or REST_URL, allow_insecure=args.allow_insecure) as rest:
        return await _write(args, rest, args.ws_url or PUBLIC_WS_URL, out, since, until)


def _time_arg(v: str) -> Any:
    return int(v) if v.isdigit() else v


def main(args: argparse.Namespace) -> int:
    """Run ``bitget-fast candles`` with the CLI's error handling; the exit status."""
    try:
        if args.output:
            with open(args.output, "w", encoding="ascii", newline="") as f:
                return asyncio.run(run_candles(args, f))
        return asyncio.run(run_candles(args, sys.stdout))
    except KeyboardInterrupt:
        print("bitget-fast candles: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (BitgetError, TimeoutError, OSError, ValueError) as exc:
        print(f"bitget-fast candles: {type(exc).__name__}: {exc}", file=sys.stderr)
        return FAILED
