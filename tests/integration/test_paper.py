"""Paper trading end to end: ``BitgetPerpetual(paper=True)`` and ``bitget-fast demo --paper``,
with recorded real Bitget data standing in for the live feed.

The stand-in for Bitget is two loopback servers: a :class:`ReplayServer` playing the real
futures recording (tests/fixtures/real, DASHUSDT's books) as the public WebSocket, and a
simulator whose contracts endpoint serves DASHUSDT's row as Bitget's REST API would. The
connector under test reads both exactly as it reads Bitget, starts its own paper exchange
and trades on it through the same REST and private-stream code as live.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import sys
import time
from decimal import Decimal

import pytest

from bitget_fast import BitgetPerpetual
from bitget_fast.errors import ConfigurationError, TransportError, ValidationError
from bitget_fast.sim import ReplayServer, Simulator
from bitget_fast.sim.contracts import ContractSpec

from .conftest import cryptofeed_recording, run_async

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
DASH = ContractSpec("DASHUSDT", "DASH", 2, 1, 2, "0.01", "0.01", "113.40",
                    maker_fee_rate="0.0002", taker_fee_rate="0.0006")
SYM = "DASHUSDT"


def _recording(tmp_path: pathlib.Path) -> pathlib.Path:
    return cryptofeed_recording(FIXTURES / "real" / "cryptofeed_BITGET.ws.2.0.txt",
                                tmp_path / "real.bfrec.gz", ["DASHUSDT", "UNIUSDT"])[0]


async def _until(cond, timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.005)


def _engine_top(market, is_bid: bool, n: int) -> list[tuple[str, str]]:
    side = market.side(is_bid)
    prices = side.prices[::-1] if is_bid else side.prices
    spec = market.spec
    return [(spec.price_str(p), spec.size_str(side.levels[p][0])) for p in prices[:n]]


@run_async(90)
async def test_a_strategy_trades_on_paper_against_the_replayed_live_book(tmp_path, monkeypatch):
    for name in ("BITGET_API_KEY", "BITGET_SECRET_KEY", "BITGET_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)          # paper trading needs no keys
    seen = {"n": 0, "checked": 0, "asks_min": None, "bids_max": None, "armed": False}
    fills = []
    bp: BitgetPerpetual

    def on_book(book):
        # the strategy's callback runs after the mirror: the engine holds the live levels
        seen["n"] += 1
        bids, asks = book.bids(50), book.asks(50)
        if not seen["armed"]:
            m = bp.paper_exchange.sim.market(SYM)
            assert _engine_top(m, True, 50) == bids and _engine_top(m, False, 50) == asks
            seen["checked"] += 1
        else:
            seen["asks_min"] = min(seen["asks_min"], Decimal(asks[0][0]))
            seen["bids_max"] = max(seen["bids_max"], Decimal(bids[0][0]))

    async with Simulator(contracts=[DASH], flow_rate=0) as bitget_rest, \
            ReplayServer(_recording(tmp_path), speed=0) as feed:
        total = sum(1 for f in feed.frames if (f.channel, f.inst_id) == ("books", SYM))
        feed.advance_to("books", SYM)               # "now" is just after the first snapshot
        bp = BitgetPerpetual(paper=True, symbols=[SYM], rest_url=bitget_rest.rest_url,
                             ws_public_url=feed.url, on_book=on_book, on_fill=fills.append,
                             paper_usdt=100_000)
        async with bp:
            assert "paper=True" in repr(bp) and bp.ready
            # the contract is Bitget's row, through ContractSpec.from_rest and back
            c = bp.contract(SYM)
            assert (c.tick, c.min_trade_num, c.size_multiplier) == \
                (Decimal("0.01"), Decimal("0.01"), Decimal("0.01"))
            assert bp.balances["USDT"].equity == Decimal(100_000)
            # public market reads (candles) go to Bitget's REST, not to the local exchange
            assert bp.public_rest is not bp.rest
            assert bp.public_rest.base_url == bitget_rest.rest_url
            now = bp.public_rest.now_ms()
            got = [c async for c in bp.candles(SYM, "1H", now - 6 * 3_600_000, now - 3_600_000)]
            want = bitget_rest.candles(SYM, "1H", got[0].start_ms, got[-1].start_ms)
            assert [(c.start_ms, str(c.close)) for c in got] == [(int(r[0]), r[4]) for r in want]
            with pytest.raises(ConfigurationError, match="not one of the symbols"):
                await bp.book("UNIUSDT")
            book = await bp.book(SYM)
            for k in range(1, 11):        # one live message at a time, as the market goes
                feed.advance_to("books", SYM, "update")
                await _until(lambda: seen["n"] == k, what=f"book message {k}")
            bids, asks = book.bids(2), book.asks(2)
            best_bid, best_ask = Decimal(bids[0][0]), Decimal(asks[0][0])
            # resting orders 3 ticks away on each side, then a market buy through the best ask
            rest_bid = await bp.place_order(SYM, "buy", "0.50", best_bid - Decimal("0.03"))
            rest_ask = await bp.place_order(SYM, "sell", "0.50", best_ask + Decimal("0.03"))
            taker_size = Decimal(asks[0][1]) + Decimal("0.01")
            seen.update(armed=True, asks_min=best_ask, bids_max=best_bid)
            taker = await bp.place_order(SYM, "buy", taker_size, order_type="market")
            await taker.wait_done(5)
            assert rest_bid.status == rest_ask.status == "live"

            # the rest of the recording
            feed.advance(len(feed.frames))
            # (the first one, mirrored when the paper exchange opened, came before start returned)
            await _until(lambda: seen["n"] == total - 1, what="every book message")
            await rest_bid.wait_done(5)

            # the taker filled level by level at the live prices
            assert taker.status == "filled"
            got: dict[Decimal, Decimal] = {}
            for f in fills:
                if f.order_id == taker.order_id:
                    assert not f.maker
                    got[f.price] = got.get(f.price, Decimal(0)) + f.size
            assert got == {best_ask: Decimal(asks[0][1]), Decimal(asks[1][0]): Decimal("0.01")}
            # a resting order fills exactly when the live book reached it: here the market
            # came down through the bid and never up to the ask
            assert seen["asks_min"] <= rest_bid.price and rest_bid.status == "filled"
            maker = [f for f in fills if f.order_id == rest_bid.order_id]
            assert maker and all(f.maker and f.price == rest_bid.price for f in maker)
            assert seen["bids_max"] < rest_ask.price and rest_ask.status == "live"
            await _until(lambda: bp.net_position(SYM) == taker_size + Decimal("0.50"),
                         what="the position push")

            # ours equals the paper engine's
            paper = bp.paper_exchange
            acc = paper.account
            assert {f.trade_id for f in fills} == {f["tradeId"] for f in acc.fills}
            theirs = paper.sim.engine.positions_payload(acc)
            assert [(p["holdSide"], Decimal(p["total"])) for p in theirs] == \
                [("long", bp.net_position(SYM))]

            # flat at the end, as a strategy would leave it
            assert await bp.cancel_all(SYM) == 1
            for o in await bp.close_positions(SYM):
                await o.wait_done(5)
            await _until(lambda: bp.net_position(SYM) == 0, what="flat")
            # flat, the equity is the realised PnL less fees: no mark price in it to move
            await _until(lambda: bp.balances["USDT"].equity == paper.equity(), what="equity")
            assert {f.trade_id for f in fills} == {f["tradeId"] for f in acc.fills}
            assert not bp.open_orders(SYM) and rest_ask.status == "canceled"
            st = bp.stats()
            assert st["paper"] == {SYM: {"mirrored": total, "unparseable_levels": 0}}
            assert st["market"][SYM]["integrity_errors"] == 0
            assert st["market"][SYM]["book_messages"] == total
        assert seen["checked"] == 10 and paper.sim._started is False   # closed with bp
    assert not fills[0].client_oid.startswith("bg_paper")


@run_async(30)
async def test_paper_mode_offline_fails_at_once_with_the_reason():
    async with Simulator(contracts=[DASH], flow_rate=0) as bitget_rest:
        for rest, ws, host in [("https://api.bitget.invalid", None, "api.bitget.invalid"),
                               (bitget_rest.rest_url, "wss://ws.bitget.invalid/v2/ws/public",
                                "ws.bitget.invalid")]:
            kw = {"ws_public_url": ws} if ws else {}
            bp = BitgetPerpetual(paper=True, symbols=[SYM], rest_url=rest, **kw)
            t0 = time.monotonic()
            with pytest.raises(TransportError, match=f"cannot resolve {host}.*needs no network"):
                await bp.start()
            assert time.monotonic() - t0 < 10
            assert bp.paper_exchange is None


def test_paper_mode_refuses_what_cannot_work():
    with pytest.raises(ConfigurationError, match="choose one"):
        BitgetPerpetual(paper=True, demo=True, symbols=["BTCUSDT"])
    with pytest.raises(ConfigurationError, match="needs symbols"):
        BitgetPerpetual(paper=True)
    # symbols may be any iterable, a generator included (read once)
    assert BitgetPerpetual(paper=True, symbols=(s for s in ["ethusdt"]))._symbols == ["ETHUSDT"]
    bp = BitgetPerpetual(paper=True, symbols=["btcusdt"])
    # a paper key of its own, never the user's (and never shown)
    assert bp.credentials.api_key.startswith("bg_paper_")
    assert bp._paper_keys[1] not in repr(bp) and bp._paper_keys[1] not in repr(bp.credentials)


@run_async(30)
async def test_paper_mode_refuses_a_symbol_bitget_does_not_list(tmp_path):
    async with Simulator(contracts=[DASH], flow_rate=0) as bitget_rest, \
            ReplayServer(_recording(tmp_path), speed=0) as feed:
        bp = BitgetPerpetual(paper=True, symbols=["FOOUSDT"], rest_url=bitget_rest.rest_url,
                             ws_public_url=feed.url)
        with pytest.raises(ValidationError, match="FOOUSDT"):
            await bp.start()
        assert bp.paper_exchange is None and feed.counters["subscribes"] == 0


# -- bitget-fast demo --paper, through the real entry point --------------------------------


def _cli(*args: str) -> list[str]:
    # run with cwd="/": the installed package, not a source checkout
    return [sys.executable, "-m", "bitget_fast", *args]


@run_async(120)
async def test_cli_demo_paper_quotes_against_the_replayed_book(tmp_path):
    async with Simulator(contracts=[DASH], flow_rate=0) as bitget_rest, \
            ReplayServer(_recording(tmp_path), speed=10) as feed:
        proc = await asyncio.create_subprocess_exec(
            *_cli("demo", "--paper", "--symbol", SYM, "--size", "0.10", "--max-position", "0.5",
                  "--duration", "3", "--json", "--ws-url", feed.url,
                  "--rest-url", bitget_rest.rest_url),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd="/",
            env={**os.environ, "PYTHONWARNINGS": "error"})
        out, err = await asyncio.wait_for(proc.communicate(), 100)
    assert proc.returncode == 0, err.decode()
    s = json.loads(out)
    assert s["mode"] == "paper" and s["symbol"] == SYM
    assert s["orders_placed"] >= 2 and s["orders_rejected"] == 0
    assert s["book_messages"] > 20 and s["book_integrity_errors"] == 0
    assert s["state_equals_exchange"] is True


def test_cli_demo_paper_offline_exits_1_with_the_reason():
    import subprocess

    r = subprocess.run(_cli("demo", "--paper", "--duration", "1", "--rest-url",
                            "https://api.bitget.invalid"),
                       capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 1, r.stderr
    assert "cannot resolve api.bitget.invalid" in r.stderr and "Traceback" not in r.stderr


def test_cli_demo_url_options_need_paper():
    import subprocess

    r = subprocess.run(_cli("demo", "--ws-url", "ws://127.0.0.1:1/v2/ws/public"),
                       capture_output=True, text=True, timeout=60, cwd="/")
    assert r.returncode == 2 and "go with --paper" in r.stderr
