"""Paper trading's matching (sim.paper.BookMirror) driven by replayed real Bitget data.

The real futures recording (tests/fixtures/real, cryptofeed's capture of Bitget's DASHUSDT
and UNIUSDT books) replays through the live path into checked books; after every applied
message the mirror makes the simulator's engine hold the same top levels, and paper orders
are matched there: takers at the live prices, resting orders when the live book reaches
them, never against liquidity the live book does not show."""

from __future__ import annotations

import pathlib
from decimal import Decimal

from bitget_fast.record import Replayer
from bitget_fast.sim.contracts import ContractSpec
from bitget_fast.sim.engine import Engine
from bitget_fast.sim.paper import BookMirror

from .conftest import cryptofeed_recording, run_async

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"
DASH = ContractSpec("DASHUSDT", "DASH", 2, 1, 2, "0.01", "0.01", "113.40")
DEPTH = 50


def _recording(tmp_path: pathlib.Path) -> pathlib.Path:
    return cryptofeed_recording(FIXTURES / "real" / "cryptofeed_BITGET.ws.2.0.txt",
                                tmp_path / "real.bfrec.gz", ["DASHUSDT"])[0]


def _params(side: str, kind: str, size: str, price: str | None = None, force: str = "gtc",
            oid: str = "") -> dict:
    p = {"symbol": "DASHUSDT", "productType": "USDT-FUTURES", "marginCoin": "USDT",
         "marginMode": "crossed", "side": side, "orderType": kind, "size": size,
         "force": force, "clientOid": oid}
    if price is not None:
        p["price"] = price
    return p


def _engine_levels(m, is_bid: bool, n: int) -> list[tuple[int, int]]:
    side = m.side(is_bid)
    prices = side.prices[::-1] if is_bid else side.prices
    return [(p, side.levels[p][0]) for p in prices[:n]]


@run_async(60)
async def test_the_engine_follows_the_live_book_and_matches_paper_orders(tmp_path):
    engine = Engine([DASH])
    acc = engine.add_account("paper", "s", "p", usdt=100_000)
    m = engine.market("DASHUSDT")
    mirror = BookMirror(engine, m, depth=DEPTH)
    seen = {"n": 0, "asks_min_after": None, "bids_max_after": None}
    placed: dict[str, object] = {}

    def on_book(book):
        mirror.update_from(book)
        seen["n"] += 1
        n = seen["n"]
        bids, asks = book.bids(DEPTH), book.asks(DEPTH)
        units = lambda lv: [(int(Decimal(p) * 100), int(Decimal(s) * 100)) for p, s in lv]
        if "rest_bid" not in placed:
            # no paper order yet: the engine holds exactly the live top levels
            assert _engine_levels(m, True, DEPTH) == units(bids)
            assert _engine_levels(m, False, DEPTH) == units(asks)
        if n == 10:
            best_bid = Decimal(bids[0][0])
            # a resting bid 3 ticks under the best bid, and a resting ask 3 ticks over the ask
            placed["rest_bid"] = engine.place_order(acc, _params(
                "buy", "limit", "0.50", str(best_bid - Decimal("0.03")), oid="rb"))
            placed["rest_ask"] = engine.place_order(acc, _params(
                "sell", "limit", "0.50", str(Decimal(asks[0][0]) + Decimal("0.03")), oid="ra"))
            seen["asks_min_after"] = Decimal(asks[0][0])
            seen["bids_max_after"] = Decimal(bids[0][0])
            # a market buy bigger than the best ask: fills level by level at live prices
            size = Decimal(asks[0][1]) + Decimal("0.01")
            placed["taker"] = engine.place_order(acc, _params("buy", "market", str(size),
                                                              oid="tk"))
            placed["taker_expect"] = (Decimal(asks[0][0]), Decimal(asks[0][1]),
                                      Decimal(asks[1][0]))
            engine.flush()
        elif n > 10:
            seen["asks_min_after"] = min(seen["asks_min_after"], Decimal(asks[0][0]))
            seen["bids_max_after"] = max(seen["bids_max_after"], Decimal(bids[0][0]))

    r = Replayer(_recording(tmp_path))
    md = r.market_data(on_book=on_book, trades=False, tickers=False)
    st = await r.run(md)
    await md.close()
    assert st.integrity_errors == 0 and st.book_messages == seen["n"] > 50
    assert mirror.unparseable == 0 and mirror.updates == seen["n"]

    taker = placed["taker"]
    p1, s1, p2 = placed["taker_expect"]
    assert taker.status == "filled"
    # level by level at the live prices: the whole best ask, then 0.01 at the next
    want = (p1 * s1 + p2 * Decimal("0.01")).quantize(Decimal("0.0001"))
    assert taker.quote_filled.quantize(Decimal("0.0001")) == want
    by_price: dict[Decimal, Decimal] = {}
    for f in acc.fills:
        if f["orderId"] == taker.order_id:
            assert f["tradeScope"] == "taker"
            by_price[Decimal(f["price"])] = by_price.get(Decimal(f["price"]), 0) + \
                Decimal(f["baseVolume"])
    assert by_price == {p1: s1, p2: Decimal("0.01")}

    bid, ask = placed["rest_bid"], placed["rest_ask"]
    bid_price = DASH.price_dec(bid.price)
    ask_price = DASH.price_dec(ask.price)
    # a resting order fills exactly when the live book's other side reached its price
    assert (bid.filled > 0) == (seen["asks_min_after"] <= bid_price), (
        bid.filled, seen["asks_min_after"], bid_price)
    assert (ask.filled > 0) == (seen["bids_max_after"] >= ask_price), (
        ask.filled, seen["bids_max_after"], ask_price)
    # in this recording the market came down through the bid and never up to the ask
    assert bid.status == "filled" and ask.filled == 0 and ask.status in ("new", "live")
    maker = [f for f in acc.fills if f["orderId"] == bid.order_id]
    assert maker and all(f["tradeScope"] == "maker" and Decimal(f["price"]) == bid_price
                         for f in maker)
