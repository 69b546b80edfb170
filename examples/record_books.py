"""Record order books to rotating files, then prove the files replay to the same books.

    python examples/record_books.py -o data/books --duration 60            # the simulator
    python examples/record_books.py -o data/books --bitget BTCUSDT ETHUSDT # Bitget (network)

Every frame received is kept with its receive time (``bitget_fast.record.Recorder``: a C
copy per frame, gzip in a writer thread, files rotated by size and age, never overwritten).
At the end the files are replayed through the same parser and books as live
(``Replayer``). The replayed books must equal the live ones at the moment recording
stopped: the same top 25 levels, checksum and ``seq``. The script prints what was written
and what the replay found, and exits 3 if they differ or a record was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
from typing import Any

from bitget_fast import MarketData
from bitget_fast.record import Recorder, Replayer


def _state(md: MarketData, symbols: list[str]) -> dict[str, Any]:
    out = {}
    for s in symbols:
        b = md.book(s)
        out[s] = (b.bids(25), b.asks(25), b.checksum(), b.seq)
    return out


async def record(args: argparse.Namespace) -> dict[str, Any]:
    """Record for ``args.duration`` seconds, replay, compare; the summary."""
    symbols = [s.upper() for s in args.symbols]
    pathlib.Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    sim = None
    url = None
    if not args.bitget:
        from bitget_fast.sim import Simulator

        sim = await Simulator(symbols, seed=1, flow_rate=args.flow_rate).start()
        url = sim.ws_public_url
    try:
        with Recorder(args.output, max_bytes=args.max_mb << 20, rotate_s=args.rotate_s) as rec:
            md = MarketData(symbols, url=url, recorder=rec, trades=True)
            async with md:
                await md.wait_ready(10)
                await asyncio.sleep(args.duration)
                if sim is not None:
                    sim.flow_rate = 0            # hold the market still while we look
                    await asyncio.sleep(0.2)
                live = _state(md, symbols)
                live_stats = md.stats()
        written = rec.stats()
    finally:
        if sim is not None:
            await sim.close()
    # replay what was written, through the live code path
    r = Replayer(*rec.files)
    rmd = r.market_data()
    st = await r.run(rmd)
    replayed = _state(rmd, symbols)
    await rmd.close()
    return {"files": [str(f) for f in rec.files], "records": written["records"],
            "dropped_records": written["dropped_records"] + written["dropped_chunks"],
            "bytes_written": written["bytes_written"],
            "live_book_messages": live_stats["book_messages"],
            "replayed_book_messages": st.book_messages,
            "checksums_verified": st.checksums_verified, "integrity_errors": st.integrity_errors,
            "replay_ok": st.ok, "books_equal": replayed == live}


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, record, report; the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("symbols", nargs="*", default=["BTCUSDT", "ETHUSDT"])
    p.add_argument("-o", "--output", default="recordings/books", help="path prefix of the files")
    p.add_argument("--bitget", action="store_true", help="Bitget's public stream (network)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds to record")
    p.add_argument("--max-mb", type=int, default=256, help="rotate after this many MB")
    p.add_argument("--rotate-s", type=float, default=3600.0, help="rotate after this many s")
    p.add_argument("--flow-rate", type=float, default=200.0, help="simulator events per s")
    args = p.parse_args(argv)
    result = asyncio.run(record(args))
    print(json.dumps(result, indent=2))
    good = result["books_equal"] and result["replay_ok"] and not result["dropped_records"]
    return 0 if good else 3


if __name__ == "__main__":
    sys.exit(main())
