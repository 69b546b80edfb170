"""``bitget-fast book``, ``record`` and ``replay``: market data from the command line."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, TextIO

from bitget_fast._term import Progress, Screen, si
from bitget_fast.book import OrderBook
from bitget_fast.errors import BitgetError, TransportError
from bitget_fast._urls import is_loopback
from bitget_fast.market import PUBLIC_WS_URL, MarketData, check_reachable
from bitget_fast.models import StreamEvent

# exit statuses (the cli module's docstring lists them)
OK, FAILED, UNHEALTHY, INTERRUPTED = 0, 1, 3, 130
SIM_FLOW_RATE = 50.0   # --sim: background events per second per symbol


def add_source_options(p: argparse.ArgumentParser) -> None:
    """--sim / --url / --channel, shared by ``book`` and ``record``."""
    p.add_argument("symbols", nargs="+", metavar="SYMBOL", help="USDT-M symbols, e.g. BTCUSDT")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--sim", action="store_true",
                     help="use the embedded simulator instead of Bitget (no network needed)")
    src.add_argument("--url", help=f"public WebSocket URL (default {PUBLIC_WS_URL})")
    p.add_argument("--allow-insecure", action="store_true",
                   help="accept a plain ws:// --url to a host that is not loopback")
    p.add_argument("--channel", default="books", choices=("books", "books1", "books5", "books15"),
                   help="book channel (default books: full depth, checksummed)")
    p.add_argument("--duration", type=float, default=None, metavar="S",
                   help="stop after S seconds (default: at Ctrl-C)")
    p.add_argument("--json", action="store_true", help="no live view; print the result as JSON")


def _symbols(args: argparse.Namespace) -> list[str]:
    return list(dict.fromkeys(s.strip().upper() for s in args.symbols if s.strip()))


@contextlib.asynccontextmanager
async def _source(args: argparse.Namespace, symbols: list[str]) -> AsyncIterator[str]:
    """The public WebSocket URL to use: the embedded simulator's, or Bitget's (checked first)."""
    if args.sim:
        from bitget_fast.sim import Simulator

        async with Simulator(symbols, seed=1, flow_rate=SIM_FLOW_RATE) as sim:
            yield sim.ws_public_url
        return
    url = args.url or PUBLIC_WS_URL
    if not is_loopback(url):
        try:
            await check_reachable(url)
        except TransportError as exc:
            raise TransportError(f"{exc} (--sim uses the embedded simulator, no network "
                                 "needed)") from None
    yield url


def _stop_event(duration: float | None) -> asyncio.Event:
    """Set at Ctrl-C / SIGTERM, or after ``duration`` seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # asyncio takes signal handlers on POSIX, in the main thread only; elsewhere Ctrl-C
    # raises KeyboardInterrupt, which run() turns into exit status 130.
    if sys.platform != "win32" and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    return stop


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _quiet_logs(verbose: bool) -> None:
    # The views and summaries count what the stream logs; its warnings would scroll them.
    if not verbose:
        logging.getLogger("bitget_fast").setLevel(logging.ERROR)


def _fail(cmd: str, exc: BaseException) -> int:
    print(f"bitget-fast {cmd}: {exc}", file=sys.stderr)
    return FAILED


# -- book ------------------------------------------------------------------------------


def _book_view(md: MarketData, depth: int, elapsed: float, last_event: StreamEvent | None,
               rates: dict[str, float]) -> list[str]:
    st = md.stats()
    lines = [f"{md.url}  {md.book_channel}  {elapsed:5.1f} s  frames {st['frames']:,}  "
             f"integrity errors {st['integrity_errors']}  resyncs {st['resyncs']}  "
             f"reconnects {st['reconnects']}  rejected {st['rejected_messages']}"]
    now_ms = time.time() * 1000
    for sym, b in md.books.items():
        age = f"{now_ms - b.ts_ms:,.0f} ms" if b.ts_ms else "-"
        lines.append("")
        lines.append(f"{sym}  {'valid' if b.is_valid else 'NOT VALID'}  seq {b.seq}  "
                     f"updates {b.updates_applied:,} ({rates.get(sym, 0.0):,.0f}/s)  "
                     f"checksums ok {b.checksums_verified:,}  exchange ts age {age}")
        bids, asks = b.bids(depth), b.asks(depth)
        lines.append(f"  {'bid size':>14} {'bid':>14} | {'ask':<14} {'ask size':<14}")
        for i in range(depth):
            bp, bs = bids[i] if i < len(bids) else ("", "")
            ap, as_ = asks[i] if i < len(asks) else ("", "")
            lines.append(f"  {bs:>14} {bp:>14} | {ap:<14} {as_:<14}")
        if bids and asks:
            bid, ask = float(bids[0][0]), float(asks[0][0])
            mid = (bid + ask) / 2
            lines.append(f"  spread {asks[0][0]} - {bids[0][0]} = {ask - bid:.10g} "
                         f"({(ask - bid) / mid * 1e4:.2f} bp)   mid {mid:.10g}")
    if last_event is not None:
        lines.append("")
        lines.append(f"last event: {last_event.kind} {last_event.symbol} {last_event.detail}"[:160])
    return lines


def _book_json(md: MarketData, depth: int, elapsed: float) -> dict[str, Any]:
    return {"url": md.url, "channel": md.book_channel, "elapsed_s": round(elapsed, 3),
            "stats": md.stats(),
            "books": {s: {"valid": b.is_valid, "seq": b.seq, "ts_ms": b.ts_ms,
                          "updates_applied": b.updates_applied,
                          "checksums_verified": b.checksums_verified,
                          "bids": b.bids(depth), "asks": b.asks(depth)}
                      for s, b in md.books.items()}}


async def run_book(args: argparse.Namespace, out: TextIO) -> int:
    """``bitget-fast book``: live top of book and stream stats."""
    symbols = _symbols(args)
    _quiet_logs(args.verbose)
    last: deque[StreamEvent] = deque(maxlen=1)
    screen = Screen(out, out.isatty() and not args.json, every_s=5.0)
    async with _source(args, symbols) as url:
        md = MarketData(symbols, url=url, book_channel=args.channel,
                        on_event=last.append, allow_insecure=args.allow_insecure)
        stop = _stop_event(args.duration)
        t0 = time.monotonic()
        async with md:
            prev = {s: (t0, b.updates_applied) for s, b in md.books.items()}
            rates: dict[str, float] = {}
            while not stop.is_set():
                await _wait(stop, 0.2)
                now = time.monotonic()
                for s, b in md.books.items():
                    t, n = prev[s]
                    if now - t >= 1.0:
                        rates[s] = (b.updates_applied - n) / (now - t)
                        prev[s] = (now, b.updates_applied)
                if not args.json:
                    lines = _book_view(md, args.depth, now - t0, last[0] if last else None, rates)
                    screen.draw(lines, " | ".join(
                        f"{s} {b.best_bid[0] if b.best_bid else '-'} / "
                        f"{b.best_ask[0] if b.best_ask else '-'}" for s, b in md.books.items()))
            result = _book_json(md, args.depth, time.monotonic() - t0)
    if args.json:
        print(json.dumps(result), file=out)
    else:
        st = result["stats"]
        print(f"\n{len(symbols)} books, {st['book_messages']:,} messages applied, "
              f"{sum(b['checksums_verified'] for b in result['books'].values()):,} checksums "
              f"verified, {st['integrity_errors']} integrity errors, {st['resyncs']} resyncs, "
              f"{st['reconnects']} reconnects", file=out)
    return OK


# -- record ----------------------------------------------------------------------------


async def run_record(args: argparse.Namespace, out: TextIO) -> int:
    """``bitget-fast record``: raw frames with receive times into rotating files."""
    from bitget_fast.record import Recorder, RecordingError

    symbols = _symbols(args)
    _quiet_logs(args.verbose)
    progress = Progress(sys.stderr, None if not args.json else False)
    rec = Recorder(args.output, max_bytes=int(args.max_mb * 1_000_000), rotate_s=args.rotate_s,
                   compress=not args.no_compress)
    failed: BaseException | None = None
    t0 = time.monotonic()
    try:
        async with _source(args, symbols) as url:
            md = MarketData(symbols, url=url, book_channel=args.channel, trades=args.trades,
                            tickers=args.tickers, recorder=rec,
                            allow_insecure=args.allow_insecure)
            stop = _stop_event(args.duration)
            host = urllib.parse.urlsplit(url).netloc
            async with md:
                while not stop.is_set() and rec.error is None:
                    await _wait(stop, 0.2)
                    st, rs = md.stats(), rec.stats()
                    el = time.monotonic() - t0
                    progress.update(
                        f"recording {len(symbols)} symbols from {host}: {rs['records']:,} "
                        f"records ({rs['records'] / el:,.0f}/s), {si(rs['payload_bytes'], 'B')} "
                        f"received, {si(rs['bytes_written'], 'B')} on disk in {rs['files']} "
                        f"files, integrity errors {st['integrity_errors']}, reconnects "
                        f"{st['reconnects']}  (Ctrl-C stops)")
                stream = md.stats()
    except BitgetError as exc:
        failed = exc
    finally:
        progress.done()
        try:
            rec.close()
        except RecordingError as exc:
            failed = failed or exc
    if failed is not None:
        return _fail("record", failed)
    rs = rec.stats()
    elapsed = time.monotonic() - t0
    summary = {"files": [str(p) for p in rec.files], "records": rs["records"],
               "payload_bytes": rs["payload_bytes"], "bytes_written": rs["bytes_written"],
               "dropped_records": rs["dropped_records"], "elapsed_s": round(elapsed, 3),
               "stream": stream}
    if args.json:
        print(json.dumps(summary), file=out)
    else:
        ratio = rs["payload_bytes"] / rs["bytes_written"] if rs["bytes_written"] else 0.0
        print(f"recorded {rs['records']:,} records ({si(rs['payload_bytes'], 'B')}) in "
              f"{elapsed:.1f} s into {len(rec.files)} file(s), {si(rs['bytes_written'], 'B')} "
              f"on disk ({ratio:.1f}x smaller):", file=out)
        for p in rec.files:
            print(f"  {p}", file=out)
        print(f"replay: bitget-fast replay {rec.files[0].parent / (rec.prefix.name + '-*')}"
              if rec.files else "nothing was received", file=out)
    return OK if rs["dropped_records"] == 0 else UNHEALTHY


# -- replay ----------------------------------------------------------------------------


async def run_replay(args: argparse.Namespace, out: TextIO) -> int:
    """``bitget-fast replay``: a recording through the parser and the books; integrity and speed."""
    from bitget_fast.record import Replayer

    _quiet_logs(args.verbose)
    r = Replayer(*args.files)
    progress = Progress(sys.stderr, None if not args.json else False)
    t0 = time.perf_counter()

    def show(files_done: int, frames: int) -> None:
        el = time.perf_counter() - t0
        progress.update(f"replaying: file {min(files_done + 1, len(r.files))}/{len(r.files)}, "
                        f"{frames:,} frames ({frames / el if el else 0:,.0f}/s)", force=True)

    md = r.market_data()
    try:
        st = await r.run(md, speed=args.speed or None, progress=show)
    finally:
        progress.done()
        await md.close()
    result = st._asdict()
    result.update(frames_per_s=round(st.frames_per_s), ok=st.ok, symbols=md.symbols,
                  source=r.meta.get("url"), truncated=list(st.truncated),
                  mb_per_s=round(st.payload_bytes / st.elapsed_s / 1e6, 1) if st.elapsed_s else 0)
    if args.json:
        print(json.dumps(result), file=out)
    else:
        print(f"replayed {st.files} file(s) of {', '.join(md.symbols)} from "
              f"{r.meta.get('url', '?')}: {st.records:,} records, {st.frames:,} frames, "
              f"{st.recorded_span_s:,.1f} s of recorded time", file=out)
        print(f"  integrity  {st.book_messages:,} book messages applied, "
              f"{st.checksums_verified:,} checksums verified, {st.integrity_errors} integrity "
              f"errors, {st.rejected_messages} messages rejected, {st.dropped_book_messages} "
              f"updates dropped awaiting a snapshot; books valid at the end "
              f"{st.books_valid}/{st.books}; {st.connects} connects, {st.disconnects} "
              "disconnects", file=out)
        print(f"  speed      {st.elapsed_s:.3f} s: {st.frames_per_s:,.0f} frames/s, "
              f"{result['mb_per_s']} MB/s of payload (decompress + parse + book + checks)",
              file=out)
        if st.truncated:
            print(f"  cut short  {', '.join(st.truncated)} (the recorder did not close them; "
                  "everything before the cut was replayed)", file=out)
        print("  result     " + ("ok" if st.ok else "PROBLEMS (see above; --verbose shows each)"),
              file=out)
    return OK if st.ok else UNHEALTHY


async def run_serve(args: argparse.Namespace, out: TextIO) -> int:
    """``bitget-fast replay --serve``: the recording as a public WebSocket, until Ctrl-C."""
    from bitget_fast.sim.replay import ReplayServer

    rs = ReplayServer(*args.files, speed=args.speed or None, host=args.host, port=args.port)
    stop = _stop_event(None)
    async with rs:
        keys = sorted({(f.channel, f.inst_id) for f in rs.frames})
        span = (rs.frames[-1].recv_ns - rs.frames[0].recv_ns) / 1e9
        if args.json:
            print(json.dumps({"url": rs.url, "frames": len(rs.frames), "span_s": round(span, 3),
                              "channels": [f"{c}:{i}" for c, i in keys]}), file=out, flush=True)
        else:
            print(f"serving {len(rs.frames):,} pushes ({span:,.1f} s recorded) of "
                  f"{', '.join(f'{c}:{i}' for c, i in keys)}", file=out)
            print(f"  url   {rs.url}", file=out)
            print("  pace  " + (f"{args.speed:g}x the recorded pace" if args.speed else
                                "as fast as the slowest subscriber reads") +
                  ", from the first subscription; Ctrl-C stops", file=out, flush=True)
        finished = asyncio.ensure_future(rs.wait_finished())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait([finished, stopped], return_when=asyncio.FIRST_COMPLETED)
        if finished.done() and not args.json:
            print(f"played out: {rs.counters['frames_sent']:,} frames sent to "
                  f"{rs.counters['connections']} connection(s); still serving (pings, "
                  "subscribes) until Ctrl-C", file=out, flush=True)
        await stop.wait()
        finished.cancel()
        stopped.cancel()
    if args.json:
        print(json.dumps(dict(rs.counters, finished=rs.finished)), file=out)
    else:
        print(f"stopped: {rs.counters['frames_sent']:,} frames sent, "
              f"{rs.counters['subscribes']} subscribes, {rs.counters['refused']} refused", file=out)
    return OK


def run(coro_fn: Any, args: argparse.Namespace, cmd: str) -> int:
    """Run one of these commands with the CLI's error handling."""
    from bitget_fast.record import RecordingError

    try:
        return asyncio.run(coro_fn(args, sys.stdout))
    except KeyboardInterrupt:
        print(f"bitget-fast {cmd}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except (BitgetError, RecordingError, TimeoutError, OSError, ValueError) as exc:
        return _fail(cmd, exc)
