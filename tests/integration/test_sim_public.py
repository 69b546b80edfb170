"""Public side of the simulator over loopback: books checksums, channels, limits, determinism."""

from __future__ import annotations

import asyncio
import zlib
from decimal import Decimal

import orjson
import pytest

from bitget_fast.book import OrderBook
from bitget_fast.sim import Simulator
from bitget_fast.sim.reference import Book


def independent_checksum(bids: dict[str, str], asks: dict[str, str]) -> int:
    """Written here on purpose, not imported: Bitget's CRC32 from the protocol text alone."""
    b = sorted(bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:25]
    a = sorted(asks.items(), key=lambda kv: Decimal(kv[0]))[:25]
    parts = []
    for i in range(25):
        if i < len(b):
            parts += b[i]
        if i < len(a):
            parts += a[i]
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc >= (1 << 31) else crc


def apply_levels(side: dict[str, str], levels: list[list[str]]) -> None:
    for price, size in levels:
        if Decimal(size) == 0:
            side.pop(price, None)
        else:
            side[price] = size


def test_books_every_checksum_and_seq(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT", "SOLUSDT"], seed=3, flow_rate=2000) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                await ws.subscribe(h.book_arg("books", "BTCUSDT"), h.book_arg("books", "SOLUSDT"))
                books = {s: ({}, {}) for s in ("BTCUSDT", "SOLUSDT")}
                oracle = {s: Book(s, strict_seq=True) for s in books}
                # DECISIONS section 4: each pushed checksum is confirmed by the compiled book too
                compiled = {s: OrderBook(s, strict_seq=True) for s in books}
                last_seq: dict[str, int] = {}
                counts = {"snapshot": 0, "update": 0}
                acks = 0
                while counts["update"] < 1500:
                    raw = await ws.recv()
                    msg = orjson.loads(raw)
                    if "event" in msg:
                        assert msg["event"] == "subscribe"
                        acks += 1
                        continue
                    sym = msg["arg"]["instId"]
                    d = msg["data"][0]
                    bids, asks = books[sym]
                    if msg["action"] == "snapshot":
                        bids.clear()
                        asks.clear()
                    else:
                        assert d["seq"] == last_seq[sym] + 1, "seq must be contiguous"
                    last_seq[sym] = d["seq"]
                    counts[msg["action"]] += 1
                    apply_levels(bids, d["bids"])
                    apply_levels(asks, d["asks"])
                    assert d["checksum"] == independent_checksum(bids, asks)
                    assert isinstance(msg["ts"], int) and d["ts"] == str(msg["ts"])
                    oracle[sym].apply(msg)
                    compiled[sym].apply(raw)
                    # the book never crosses
                    if bids and asks:
                        assert max(map(Decimal, bids)) < min(map(Decimal, asks))
                assert counts["snapshot"] == 2 and acks == 2
                for s, book in oracle.items():
                    assert book.is_valid and book.checksums_verified > 100
                    assert book.seq_jumps == 0
                    twin = compiled[s]
                    assert twin.checksums_verified == book.checksums_verified
                    assert (twin.bids(), twin.asks()) == (book.bids, book.asks)
            finally:
                await ws.close()
    body()


@pytest.mark.parametrize("channel,depth", [("books1", 1), ("books5", 5), ("books15", 15)])
def test_fixed_depth_channels(h, channel, depth):
    @h.run_async()
    async def body():
        async with Simulator(["ETHUSDT"], seed=5, flow_rate=1000) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                await ws.subscribe(h.book_arg(channel, "ETHUSDT"))
                assert (await ws.recv_json())["event"] == "subscribe"
                previous = None
                for _ in range(100):
                    msg = await ws.recv_json()
                    assert msg["action"] == "snapshot" and msg["arg"]["channel"] == channel
                    d = msg["data"][0]
                    assert len(d["bids"]) == depth and len(d["asks"]) == depth
                    assert d["checksum"] == independent_checksum(dict(d["bids"]), dict(d["asks"]))
                    key = orjson.dumps([d["bids"], d["asks"]])
                    assert key != previous, "pushed only when the top levels change"
                    previous = key
                    assert [Decimal(p) for p, _ in d["bids"]] == sorted(
                        (Decimal(p) for p, _ in d["bids"]), reverse=True)
                    Book("ETHUSDT").apply(msg)
            finally:
                await ws.close()
    body()


def test_trade_and_ticker_channels(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=2, flow_rate=500) as sim:
            await asyncio.sleep(0.3)          # let some trades happen
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                await ws.subscribe(h.book_arg("trade"), h.book_arg("ticker"))
                got = {"trade": [], "ticker": []}
                while len(got["trade"]) < 5 or len(got["ticker"]) < 2:
                    msg = await ws.recv_json()
                    if "event" in msg:
                        assert msg["event"] == "subscribe"
                        continue
                    got[msg["arg"]["channel"]].append(msg)
                first = got["trade"][0]
                assert first["action"] == "snapshot" and len(first["data"]) > 1
                ids = [int(t["tradeId"]) for m in got["trade"] for t in m["data"]]
                for m in got["trade"]:
                    for t in m["data"]:
                        assert set(t) == {"ts", "price", "size", "side", "tradeId"}
                        assert t["side"] in ("buy", "sell") and Decimal(t["size"]) > 0
                    # newest first inside one push
                    tids = [int(t["tradeId"]) for t in m["data"]]
                    assert tids == sorted(tids, reverse=True)
                assert len(set(ids)) == len(ids)
                t = got["ticker"][-1]["data"][0]
                for k in ("lastPr", "bidPr", "askPr", "markPrice", "indexPrice", "fundingRate",
                          "nextFundingTime", "holdingAmount", "baseVolume", "quoteVolume"):
                    assert isinstance(t[k], str) and t[k] != "", k
                assert t["symbolType"] == 1 and t["instId"] == "BTCUSDT"
                assert Decimal(t["bidPr"]) < Decimal(t["askPr"])
            finally:
                await ws.close()
    body()


def test_subscribe_errors_unsubscribe_and_ping(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=200) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                bad = [{"instType": "USDT-FUTURES", "channel": "nope", "instId": "BTCUSDT"},
                       {"instType": "SPOT", "channel": "books", "instId": "BTCUSDT"},
                       {"instType": "USDT-FUTURES", "channel": "books", "instId": "DOGEUSDT"}]
                ws.send({"op": "subscribe", "args": bad})
                for arg in bad:
                    err = await ws.recv_json()
                    assert err["event"] == "error" and err["code"] == 30001 and err["arg"] == arg
                ws.send(b"ping")
                assert await ws.recv() == b"pong"
                ws.send({"op": "dance", "args": []})
                assert (await ws.recv_json())["code"] == 30003
                ws.send(b"{not json")
                assert (await ws.recv_json())["code"] == 30002
                ws.send(b'{"op":"subscribe","args":[' + b" " * 4100 + b"]}")
                assert (await ws.recv_json())["code"] == 30002
                await ws.subscribe(h.book_arg("books1"))
                assert (await ws.recv_json())["event"] == "subscribe"
                assert (await ws.recv_json())["arg"]["channel"] == "books1"
                ws.send({"op": "unsubscribe", "args": [h.book_arg("books1")]})
                msg = await ws.wait_for(lambda m: m.get("event") == "unsubscribe")
                assert msg["arg"] == h.book_arg("books1")
                await asyncio.sleep(0.05)
                while not ws.queue.empty():       # pushes already in flight
                    ws.queue.get_nowait()
                await asyncio.sleep(0.2)
                assert ws.queue.empty(), "no pushes after unsubscribe"
            finally:
                await ws.close()
    body()


def test_inbound_rate_limit_closes_connection(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            for _ in range(11):
                ws.send(b"ping")
            msgs = []
            while True:
                raw = await ws.recv()
                msgs.append(raw)
                if raw != b"pong":
                    break
            assert msgs.count(b"pong") == 10
            assert orjson.loads(msgs[-1])["code"] == 30006
            await asyncio.wait_for(ws.closed.wait(), 2)
    body()


def test_idle_connection_is_closed_without_ping(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0, ws_idle_timeout_s=0.4) as sim:
            quiet = await h.Ws.connect(sim.ws_public_url)
            alive = await h.Ws.connect(sim.ws_public_url)
            for _ in range(8):
                alive.send(b"ping")
                await asyncio.sleep(0.1)
            await asyncio.wait_for(quiet.closed.wait(), 2)
            assert (await quiet.recv_json())["code"] == 30008
            assert not alive.closed.is_set()
            await alive.close()
    body()


def _strip_ts(raw: bytes) -> object:
    msg = orjson.loads(raw)
    msg.pop("ts", None)
    for d in msg.get("data", []):
        if isinstance(d, dict):
            d.pop("ts", None)
    return msg


async def _stream(h, seed: int, steps: int) -> list[object]:
    async with Simulator(["BTCUSDT", "ETHUSDT"], seed=seed, flow_rate=0) as sim:
        ws = await h.Ws.connect(sim.ws_public_url)
        try:
            await ws.subscribe(h.book_arg("books"), h.book_arg("trade"),
                               h.book_arg("books", "ETHUSDT"))
            out = []
            for _ in range(3):
                out.append(_strip_ts(await ws.recv()))
            sim.advance(steps)
            await asyncio.sleep(0.2)
            while not ws.queue.empty():
                out.append(_strip_ts(ws.queue.get_nowait()))
            return out
        finally:
            await ws.close()


def test_same_seed_same_stream(h):
    @h.run_async()
    async def body():
        a = await _stream(h, 7, 400)
        b = await _stream(h, 7, 400)
        c = await _stream(h, 8, 400)
        assert len(a) > 700
        assert a == b
        assert a != c
    body()


def test_rest_public_endpoints(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT", "SOLUSDT"], seed=4, flow_rate=0) as sim:
            sim.advance(200)
            rest = h.Rest(sim)
            ws = await h.Ws.connect(sim.ws_public_url)
            try:
                r = await rest.get("/api/v2/public/time", signed=False)
                assert r.status == 200 and r.code == "00000" and r.json["msg"] == "success"
                assert abs(int(r.data["serverTime"]) - r.json["requestTime"]) < 1000
                r = await rest.get("/api/v2/mix/market/contracts", {"productType": "USDT-FUTURES"},
                                   signed=False)
                sol = {c["symbol"]: c for c in r.data}["SOLUSDT"]
                assert (sol["pricePlace"], sol["priceEndStep"], sol["volumePlace"]) == ("3", "5", "1")
                assert sol["symbolStatus"] == "normal" and sol["makerFeeRate"] == "0.0002"
                r = await rest.get("/api/v2/mix/market/contracts", {"productType": "COIN-FUTURES"},
                                   signed=False)
                assert r.data == []
                # merge-depth equals the WebSocket snapshot (the book is still)
                await ws.subscribe(h.book_arg("books"))
                await ws.recv_json()
                snap = (await ws.recv_json())["data"][0]
                r = await rest.get("/api/v2/mix/market/merge-depth",
                                   {"productType": "USDT-FUTURES", "symbol": "BTCUSDT", "limit": "15"},
                                   signed=False)
                raw = r.body
                assert b'"asks":[[' in raw and b'"bids":[[' in raw   # numbers, as documented
                assert len(r.data["asks"]) == 15
                text = raw.decode()
                for p, s in snap["asks"][:15]:
                    assert f"[{p},{s}]" in text          # exact decimal text, no float noise
                r = await rest.get("/api/v2/mix/market/merge-depth",
                                   {"productType": "USDT-FUTURES", "symbol": "BTCUSDT",
                                    "precision": "scale1", "limit": "5"}, signed=False)
                assert r.data["scale"] == "1.0" and len(r.data["bids"]) == 5
                r = await rest.get("/api/v2/mix/market/ticker",
                                   {"productType": "USDT-FUTURES", "symbol": "BTCUSDT"}, signed=False)
                t = r.data[0]
                assert t["bidPr"] == snap["bids"][0][0] and t["askPr"] == snap["asks"][0][0]
                r = await rest.get("/api/v2/mix/market/tickers", {"productType": "USDT-FUTURES"},
                                   signed=False)
                assert {x["symbol"] for x in r.data} == {"BTCUSDT", "SOLUSDT"}
                r = await rest.get("/api/v2/mix/market/current-fund-rate",
                                   {"productType": "USDT-FUTURES"}, signed=False)
                assert {x["symbol"] for x in r.data} == {"BTCUSDT", "SOLUSDT"}
                assert r.data[0]["fundingRateInterval"] == "8"
                r = await rest.get("/api/v2/mix/market/open-interest",
                                   {"productType": "USDT-FUTURES", "symbol": "BTCUSDT"}, signed=False)
                assert r.data["openInterestList"][0]["symbol"] == "BTCUSDT"
                r = await rest.get("/api/v2/mix/market/fills",
                                   {"productType": "USDT-FUTURES", "symbol": "BTCUSDT", "limit": "10"},
                                   signed=False)
                assert 0 < len(r.data) <= 10
                q = {"productType": "USDT-FUTURES", "symbol": "BTCUSDT"}
                one = (await rest.get("/api/v2/mix/market/candles",
                                      {**q, "granularity": "1m", "limit": "1000"}, signed=False)).data
                five = (await rest.get("/api/v2/mix/market/candles",
                                       {**q, "granularity": "5m", "limit": "1000"}, signed=False)).data
                assert len(one) == 1000 and all(len(row) == 7 for row in one)
                assert [int(r[0]) for r in one] == sorted(int(r[0]) for r in one)
                # a full 5m candle aggregates its five 1m candles exactly
                by_min = {int(r[0]): r for r in one}
                full = [c for c in five if all(int(c[0]) + i * 60_000 in by_min for i in range(5))]
                c = full[len(full) // 2]
                mins = [by_min[int(c[0]) + i * 60_000] for i in range(5)]
                assert c[1] == mins[0][1] and c[4] == mins[-1][4]
                assert Decimal(c[2]) == max(Decimal(m[2]) for m in mins)
                assert Decimal(c[3]) == min(Decimal(m[3]) for m in mins)
                assert Decimal(c[5]) == sum(Decimal(m[5]) for m in mins)
                r = await rest.get("/api/v2/mix/market/candles", {**q, "granularity": "7m"},
                                   signed=False)
                assert r.status == 400 and r.code == "40017" and r.data is None
                r = await rest.get("/api/v2/mix/market/nothing-here", signed=False)
                assert r.status == 404 and r.data is None
                r = await rest.post("/api/v2/public/time", {}, signed=False)
                assert r.status == 404
                r = await rest.get("/api/v2/mix/market/ticker",
                                   {"productType": "USDT-FUTURES", "symbol": "NOPEUSDT"}, signed=False)
                assert r.status == 400 and r.code == "40034"
            finally:
                await ws.close()
                await rest.close()
    body()
