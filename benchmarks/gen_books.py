"""A deterministic, seeded Bitget V2 ``books`` stream for one symbol (benchmark input).

    python benchmarks/gen_books.py -n 100000 --seed 1 -o books.jsonl   # one frame per line

:func:`generate` returns the raw frames, snapshot first, each byte for byte what Bitget
pushes on the USDT-M ``books`` channel (protocol notes §7.1)::

    {"action":"update","arg":{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"},
     "data":[{"asks":[["27000.5","0"],...],"bids":[...],"checksum":-1014705269,
              "seq":124,"ts":"1695716059666"}],"ts":1695716059670}

(on one line, no blanks). The stream:

* one snapshot of 400 levels per side, then ``n_updates`` updates of 1-20 levels each
  (mean ~6), asks ascending and bids descending, each price at most once per message;
* tick 0.1, prices always with one decimal ("27000.0"), sizes with three ("0.400");
* which levels change: the distance (in ticks) from the top of the book is geometric, so
  most changes are within a few ticks of the best price; ~15% of the changed levels are
  deletions (size "0", only of levels that exist), the rest replace a size or add a level;
* the mid price is a random walk: when it moves, the levels it crosses are deleted in the
  same message (the top changes, the book is never crossed); each side's depth stays near
  400 (hard bounds 320-480, ~370-430 in practice) by adding or removing levels at the far end;
* ``checksum`` is :func:`bitget_fast.sim.reference.checksum` of the top 25 after applying the
  message (signed int32), ``seq`` goes up by one per message, ``ts`` in milliseconds.

The generator keeps its own book incrementally (dicts + sorted lists of integer tick
prices), so 100,000 updates take a few seconds.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import time
from bisect import bisect_left, insort
from math import ceil, log

import orjson

from bitget_fast.sim.reference import checksum

__all__ = ["generate", "message_stats", "main"]

SNAPSHOT_LEVELS = 400
MIN_DEPTH, TARGET_DEPTH, MAX_DEPTH = 300, 400, 500
MAX_LEVELS = 20            # levels per update message: 1..20
MEAN_LEVELS = 6.0          # ... geometric with this mean (before the cap at 20)
DELETE_P = 0.13            # chance that a near-top change of an existing level deletes it
TOP_DISTANCE_P = 0.22      # geometric parameter of a change's distance (ticks) from the top
MID_SIGMA = 0.5            # random-walk step of the mid price per message, in ticks
START_PRICE = 270_000      # 27000.0 in ticks of 0.1
START_SEQ = 12_845_993_001
START_TS = 1_695_716_059_516


def _price(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}"


def _size_pool(rng: random.Random, n: int = 8192) -> list[str]:
    """Sizes to draw from: thousandths, log-normal around 0.5 (0.001 .. tens), three decimals."""
    out = []
    for _ in range(n):
        t = max(1, int(rng.lognormvariate(6.2, 1.3)))
        out.append(f"{t // 1000}.{t % 1000:03d}")
    return out


class _Side:
    """One side of the generator's book: tick price -> (price str, size str), sorted ticks."""

    __slots__ = ("bid", "levels", "keys", "pstr")

    def __init__(self, bid: bool, pstr) -> None:
        self.bid = bid
        self.levels: dict[int, tuple[str, str]] = {}
        self.keys: list[int] = []          # ascending ticks (best bid is last, best ask first)
        self.pstr = pstr

    def set(self, p: int, size: str) -> tuple[str, str]:
        if p not in self.levels:
            insort(self.keys, p)
        level = self.levels[p] = (self.pstr(p), size)
        return level

    def delete(self, p: int) -> None:
        del self.levels[p]
        del self.keys[bisect_left(self.keys, p)]

    def top(self, n: int) -> list[tuple[str, str]]:
        keys = self.keys[:-n - 1:-1] if self.bid else self.keys[:n]
        lv = self.levels
        return [lv[p] for p in keys]


def generate(n_updates: int = 100_000, seed: int = 1, symbol: str = "BTCUSDT") -> list[bytes]:
    """The raw frames of one ``books`` subscription: the snapshot, then ``n_updates`` updates."""
    rng = random.Random(seed)
    random_ = rng.random
    price_cache: dict[int, str] = {}

    def pstr(p: int) -> str:
        s = price_cache.get(p)
        if s is None:
            s = price_cache[p] = _price(p)
        return s

    bids, asks = _Side(True, pstr), _Side(False, pstr)
    pool = _size_pool(rng)
    pool_n = len(pool)

    def size() -> str:
        return pool[int(random_() * pool_n)]

    # Snapshot: 400 levels per side, dense near the top (90% of ticks hold a level).
    mid = START_PRICE + 0.5                 # between best bid 27000.0 and best ask 27000.1
    for side, start, step in ((bids, START_PRICE, -1), (asks, START_PRICE + 1, 1)):
        p = start
        while len(side.levels) < SNAPSHOT_LEVELS:
            if random_() < 0.9 or not side.levels:
                side.set(p, size())
            p += step

    head = (b'{"action":"%s","arg":{"instType":"USDT-FUTURES","channel":"books","instId":"'
            + symbol.encode() + b'"},"data":[{"asks":[')

    def frame(action: bytes, ask_lv, bid_lv, seq: int, ts: int) -> bytes:
        cs = checksum(bids.top(25), asks.top(25))
        a = ",".join([f'["{p}","{s}"]' for p, s in ask_lv])
        b = ",".join([f'["{p}","{s}"]' for p, s in bid_lv])
        tail = b'],"checksum":%d,"seq":%d,"ts":"%d"}],"ts":%d}' % (cs, seq, ts, ts + 1 + seq % 7)
        return head % action + a.encode() + b'],"bids":[' + b.encode() + tail

    seq, ts = START_SEQ, START_TS
    frames = [frame(b"snapshot", asks.top(SNAPSHOT_LEVELS), bids.top(SNAPSHOT_LEVELS),
                    seq, ts)]

    log_q = log(1.0 - TOP_DISTANCE_P)
    log_k = log(1.0 - 1.0 / MEAN_LEVELS)
    gauss = rng.gauss
    randint = rng.randint
    lo, hi = MIN_DEPTH + 20, MAX_DEPTH - 20

    for _ in range(n_updates):
        seq += 1
        ts += randint(20, 180)
        # levels changed by this message: 1..20, geometric (mean ~6)
        k = min(MAX_LEVELS, 1 + int(log(1.0 - random_()) / log_k))
        # per side: tick -> new size ("0": delete)
        changed: dict[bool, dict[int, str]] = {True: {}, False: {}}
        # Mid walks; the levels it crosses are taken out (as a trade sweeping the top would).
        mid += gauss(0.0, MID_SIGMA)
        bid_ref = ceil(mid) - 1           # highest allowed bid; lowest allowed ask is bid_ref+1
        while asks.keys[0] <= bid_ref:
            changed[False][asks.keys[0]] = "0"
            asks.delete(asks.keys[0])
        while bids.keys[-1] > bid_ref:
            changed[True][bids.keys[-1]] = "0"
            bids.delete(bids.keys[-1])
        # Far end: a slow pull of each side's depth toward 400, hard bounds 320..480.
        for side in (bids, asks):
            depth = len(side.keys)
            if depth < lo or (depth < TARGET_DEPTH and random_() < 0.02):
                p = side.keys[0] - 1 - int(random_() * 3) if side.bid else \
                    side.keys[-1] + 1 + int(random_() * 3)
                changed[side.bid][p] = side.set(p, size())[1]
            elif depth > hi or (depth > TARGET_DEPTH and random_() < 0.02):
                p = side.keys[0] if side.bid else side.keys[-1]
                side.delete(p)
                changed[side.bid][p] = "0"
        # Near-top changes: the distance (ticks) from the top allowed price is geometric.
        n = len(changed[True]) + len(changed[False])
        tries = 0
        while n < k and tries < 100:
            tries += 1
            is_bid = random_() < 0.5
            d = int(log(1.0 - random_()) / log_q)
            p = bid_ref - d if is_bid else bid_ref + 1 + d
            ch = changed[is_bid]
            if p in ch:
                continue
            side = bids if is_bid else asks
            old = side.levels.get(p)
            if old is None:
                if random_() < 0.6:        # empty tick: add a level (or look elsewhere)
                    ch[p] = side.set(p, size())[1]
                    n += 1
            elif random_() < DELETE_P and len(side.keys) > MIN_DEPTH:
                side.delete(p)
                ch[p] = "0"
                n += 1
            else:
                new = size()
                while new == old[1]:
                    new = size()
                ch[p] = side.set(p, new)[1]
                n += 1
        frames.append(frame(b"update",
                            [(pstr(p), s) for p, s in sorted(changed[False].items())],
                            [(pstr(p), s) for p, s in sorted(changed[True].items(), reverse=True)],
                            seq, ts))
    return frames


def message_stats(frames: list[bytes]) -> dict[str, float | int]:
    """Sizes of a stream's update messages, for a benchmark's ``extra_info``."""
    updates = frames[1:] if frames and b'"action":"snapshot"' in frames[0][:40] else frames
    levels = deletions = 0
    for raw in updates:
        d = orjson.loads(raw)["data"][0]
        for side in (d["asks"], d["bids"]):
            levels += len(side)
            deletions += sum(1 for _, s in side if s == "0")
    n = max(1, len(updates))
    out: dict[str, float | int] = {
        "messages": len(frames),
        "updates": len(updates),
        "snapshot_bytes": len(frames[0]) if len(updates) < len(frames) else 0,
        "mean_update_bytes": round(sum(map(len, updates)) / n, 1),
        "levels_per_update": round(levels / n, 2),
        "deletion_share": round(deletions / max(1, levels), 4),
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--updates", type=int, default=100_000, help="update messages")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--symbol", default="BTCUSDT")
    ap.add_argument("-o", "--output", default="-", help="file to write ('-': stdout)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    frames = generate(args.updates, args.seed, args.symbol)
    took = time.perf_counter() - t0
    data = b"\n".join(frames) + b"\n"
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        pathlib.Path(args.output).write_bytes(data)
    print(f"{len(frames)} frames in {took:.2f} s; {message_stats(frames)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
