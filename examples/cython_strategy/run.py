"""Run the Cython signal on live books: the embedded simulator by default, or ``--bitget``.

    cd examples/cython_strategy && python setup.py build_ext --inplace && python run.py

The ``ImbalanceSignal`` goes to ``MarketData(on_book=...)`` as it is: the listener sees a
``BookHandler`` and calls its C ``on_book`` directly after every applied message.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from bitget_fast import MarketData

from imbalance import ImbalanceSignal


async def main(args: argparse.Namespace) -> dict:
    """Stream the books for ``args.duration`` seconds through the signal; its figures."""
    signal = ImbalanceSignal(args.threshold)
    if args.bitget:
        md = MarketData([args.symbol], on_book=signal)
        sim = None
    else:
        from bitget_fast.sim import Simulator

        sim = await Simulator([args.symbol], seed=args.seed, flow_rate=args.flow_rate).start()
        md = MarketData([args.symbol], url=sim.ws_public_url, on_book=signal)
    try:
        async with md:
            await md.wait_ready(10)
            await asyncio.sleep(args.duration)
            stats = md.stats()
            book = md.book(args.symbol)
            return {"symbol": args.symbol, "updates": signal.updates, "signals": signal.signals,
                    "imbalance_bps": signal.imbalance_bps,
                    "microprice": signal.microprice / 10 ** signal.price_scale,
                    "best_bid": book.best_bid, "best_ask": book.best_ask,
                    "book_messages": stats["book_messages"],
                    "integrity_errors": stats["integrity_errors"]}
    finally:
        if sim is not None:
            await sim.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description="The Cython imbalance signal on live books.")
    p.add_argument("--bitget", action="store_true", help="Bitget's public stream (network)")
    p.add_argument("--symbol", default="BTCUSDT")
    p.add_argument("--threshold", type=int, default=3000, help="imbalance, in bps, that signals")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--flow-rate", type=float, default=200.0)
    print(json.dumps(asyncio.run(main(p.parse_args()))))
