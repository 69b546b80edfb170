"""An unmodified third-party client against the simulator: ccxt's async ``bitget`` (DECISIONS §8).

ccxt is configured only the way any user would point it at another host: every
``urls['api']`` entry goes to the simulator, ``fetchMarkets.types = ['swap']`` and
``has['fetchCurrencies'] = False`` (the simulator has no spot or currency endpoints).
Every other request is ccxt's own. The simulator's log of the paths it served checks that
ccxt never needed an endpoint the simulator lacks.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

pytest.importorskip("ccxt")

import ccxt.async_support as ccxt_async  # noqa: E402

from bitget_fast.sim import Simulator  # noqa: E402
from bitget_fast.sim.contracts import contract_for  # noqa: E402

KEY, SECRET, PASSPHRASE = "ccxt_key_1", "ccxt-secret-0123456789", "CcxtPass1"
BTC = "BTC/USDT:USDT"
V2 = "/api/v2/mix/"


def served_log(sim: Simulator) -> list[tuple[str, str, int]]:
    """Record (method, path, HTTP status) of every REST request the simulator answers."""
    log: list[tuple[str, str, int]] = []
    dispatch = sim.rest._dispatch

    def logged(req: Any) -> Any:
        res = dispatch(req)
        log.append((req.method, req.path, res.status))
        return res

    sim.rest._dispatch = logged  # type: ignore[method-assign]
    return log


def client(sim: Simulator) -> Any:
    ex = ccxt_async.bitget({
        "apiKey": KEY, "secret": SECRET, "password": PASSPHRASE,
        "options": {"fetchMarkets": {"types": ["swap"]}, "defaultType": "swap"},
    })
    ex.has["fetchCurrencies"] = False
    assert ex.urls["api"], "ccxt's bitget has per-section API hosts"
    for section in ex.urls["api"]:
        ex.urls["api"][section] = sim.rest_url
    return ex


def dec(x: Any) -> Decimal:
    return Decimal(str(x))


def test_ccxt_markets_and_market_data(h):
    @h.run_async(60)
    async def body():
        async with Simulator(symbols=["BTCUSDT", "ETHUSDT"], seed=1) as sim:
            sim.add_account(KEY, SECRET, PASSPHRASE, usdt=10_000)
            sim.advance(300)  # background trades for fetch_trades, whatever the timing
            log = served_log(sim)
            ex = client(sim)
            try:
                markets = await ex.load_markets()
                assert {s for s, m in markets.items() if m["active"]} == {BTC, "ETH/USDT:USDT"}
                for sym, mkt in markets.items():
                    spec = contract_for(mkt["id"])
                    assert mkt["swap"] and mkt["linear"] and mkt["settle"] == "USDT"
                    assert mkt["base"] == spec.base_coin and mkt["quote"] == "USDT"
                    assert mkt["contractSize"] == 1
                    tick = Decimal(spec.price_end_step).scaleb(-spec.price_place)
                    assert dec(mkt["precision"]["price"]) == tick, sym
                    assert dec(mkt["precision"]["amount"]) == Decimal(spec.size_multiplier), sym
                    assert dec(mkt["limits"]["amount"]["min"]) == Decimal(spec.min_trade_num)
                    assert dec(mkt["limits"]["cost"]["min"]) == Decimal(spec.min_trade_usdt)
                    assert mkt["limits"]["leverage"] == {"min": spec.min_lever,
                                                         "max": spec.max_lever}
                    assert dec(mkt["maker"]) == Decimal(spec.maker_fee_rate)
                    assert dec(mkt["taker"]) == Decimal(spec.taker_fee_rate)
                btc = markets[BTC]
                assert btc["id"] == "BTCUSDT"
                assert btc["precision"] == {"amount": 0.0001, "price": 0.1}

                book = await ex.fetch_order_book(BTC)
                assert book["symbol"] == BTC
                bids, asks = book["bids"], book["asks"]
                assert len(bids) >= 20 and len(asks) >= 20
                assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
                assert [p for p, _ in asks] == sorted(p for p, _ in asks)
                assert bids[0][0] < asks[0][0], "the book never crosses"
                assert all(s > 0 and dec(p) % Decimal("0.1") == 0 for p, s in bids + asks)
                assert abs(bids[0][0] - 60_000) < 600 and isinstance(book["timestamp"], int)

                ticker = await ex.fetch_ticker(BTC)
                assert ticker["symbol"] == BTC
                assert ticker["bid"] < ticker["ask"]
                assert abs(ticker["last"] - 60_000) < 600
                assert abs(ticker["markPrice"] - 60_000) < 600
                assert ticker["info"]["symbol"] == "BTCUSDT"

                trades = await ex.fetch_trades(BTC, limit=20)
                assert 0 < len(trades) <= 20
                assert all(t["symbol"] == BTC and t["side"] in ("buy", "sell") and t["amount"] > 0
                           for t in trades)
                assert [t["timestamp"] for t in trades] == sorted(t["timestamp"] for t in trades)
                spec = contract_for("BTCUSDT")
                known = {t: (p, z, side) for t, p, z, side, _ in sim.market("BTCUSDT").trades}
                for t in trades:
                    p, z, side = known[t["id"]]
                    assert (dec(t["price"]), dec(t["amount"]), t["side"]) \
                        == (spec.price_dec(p), spec.size_dec(z), side)

                candles = await ex.fetch_ohlcv(BTC, "1m", limit=5)
                assert len(candles) == 5
                assert all(lo <= min(o, c) <= max(o, c) <= hi for _, o, hi, lo, c, _ in candles)

                funding = await ex.fetch_funding_rate(BTC)
                assert funding["symbol"] == BTC and funding["fundingRate"] == 0.0001
            finally:
                await ex.close()
            # ccxt probes the UTA (v3) API once to learn the account is a classic one
            assert ("GET", "/api/v3/account/settings", 400) in log
            served = {(m, p) for m, p, _ in log}
            assert served == {
                ("GET", "/api/v3/account/settings"), ("GET", V2 + "market/contracts"),
                ("GET", V2 + "market/merge-depth"), ("GET", V2 + "market/ticker"),
                ("GET", V2 + "market/fills-history"), ("GET", V2 + "market/candles"),
                ("GET", V2 + "market/current-fund-rate"),
            }
            assert all(st == 200 for m, p, st in log if not p.startswith("/api/v3/")), log

    body()


def test_ccxt_trades_and_reads_positions(h):
    @h.run_async(90)
    async def body():
        async with Simulator(symbols=["BTCUSDT", "ETHUSDT"], seed=1) as sim:
            sim.add_account(KEY, SECRET, PASSPHRASE, usdt=10_000)
            log = served_log(sim)
            ex = client(sim)
            try:
                await ex.load_markets()

                bal = await ex.fetch_balance()
                assert bal["USDT"]["total"] == 10_000 and bal["USDT"]["free"] == 10_000
                assert bal["total"] == {"USDT": 10_000}

                await ex.set_leverage(10, BTC)
                lev = await ex.fetch_leverage(BTC)
                assert (lev["marginMode"], lev["longLeverage"], lev["shortLeverage"]) \
                    == ("cross", 10, 10)

                # a limit buy resting well below the book
                best_bid = (await ex.fetch_order_book(BTC, 5))["bids"][0][0]
                price = float(ex.price_to_precision(BTC, best_bid * 0.98))
                resting = await ex.create_order(BTC, "limit", "buy", 0.01, price,
                                                {"clientOrderId": "ccxt-rest-1"})
                assert resting["id"] and resting["clientOrderId"] == "ccxt-rest-1"
                open_orders = await ex.fetch_open_orders(BTC)
                assert [o["id"] for o in open_orders] == [resting["id"]]
                o = open_orders[0]
                assert (o["status"], o["type"], o["side"], o["price"], o["amount"], o["filled"],
                        o["remaining"], o["reduceOnly"]) \
                    == ("open", "limit", "buy", price, 0.01, 0, 0.01, False)
                assert o["info"]["leverage"] == "10"
                await ex.cancel_order(resting["id"], BTC)
                assert await ex.fetch_open_orders(BTC) == []
                canceled = await ex.fetch_order(resting["id"], BTC)
                assert (canceled["status"], canceled["filled"]) == ("canceled", 0)

                # a market buy large enough to take several ask levels
                size = 0.5
                buy = await ex.create_order(BTC, "market", "buy", size)
                filled = await ex.fetch_order(buy["id"], BTC)
                assert (filled["status"], filled["type"], filled["side"], filled["amount"],
                        filled["filled"], filled["remaining"]) \
                    == ("closed", "market", "buy", size, size, 0)
                buy_fills = [t for t in await ex.fetch_my_trades(BTC) if t["order"] == buy["id"]]
                assert buy_fills and all(t["side"] == "buy" and t["symbol"] == BTC
                                         and t["takerOrMaker"] == "taker" for t in buy_fills)
                assert sum(dec(t["amount"]) for t in buy_fills) == dec(size)
                cost = sum(dec(t["price"]) * dec(t["amount"]) for t in buy_fills)
                assert abs(dec(filled["cost"]) - cost) < Decimal("1e-6")
                assert abs(dec(filled["average"]) - cost / dec(size)) < Decimal("0.01")
                fees = sum(dec(t["fee"]["cost"]) for t in buy_fills)
                assert all(t["fee"]["currency"] == "USDT" for t in buy_fills)
                assert abs(fees - cost * Decimal("0.0006")) < Decimal("1e-6")
                assert abs(dec(filled["fee"]["cost"]) - fees) < Decimal("1e-6")
                closed = await ex.fetch_closed_orders(BTC)
                assert buy["id"] in [c["id"] for c in closed]
                assert resting["id"] not in [c["id"] for c in closed]

                positions = [p for p in await ex.fetch_positions() if p["contracts"]]
                assert len(positions) == 1
                pos = positions[0]
                assert (pos["symbol"], pos["side"], pos["contracts"], pos["hedged"],
                        pos["marginMode"], pos["leverage"]) \
                    == (BTC, "long", size, False, "cross", 10)
                assert abs(dec(pos["entryPrice"]) - cost / dec(size)) < Decimal("0.1")
                assert abs(pos["notional"] - size * pos["markPrice"]) < 1e-6

                # close with a reduce-only market sell
                sell = await ex.create_order(BTC, "market", "sell", size, None,
                                             {"reduceOnly": True})
                done = await ex.fetch_order(sell["id"], BTC)
                assert (done["status"], done["side"], done["filled"], done["reduceOnly"]) \
                    == ("closed", "sell", size, True)
                assert [p for p in await ex.fetch_positions([BTC]) if p["contracts"]] == []

                # the wallet is the deposit, less every fee, plus the realized PnL
                fills = await ex.fetch_my_trades(BTC)
                assert {t["order"] for t in fills} == {buy["id"], sell["id"]}
                all_fees = sum(dec(t["fee"]["cost"]) for t in fills)
                pnl = sum(dec(t["info"]["profit"]) for t in fills)
                bal = await ex.fetch_balance()
                assert abs(dec(bal["USDT"]["total"]) - (10_000 - all_fees + pnl)) < Decimal("1e-6")
                assert bal["USDT"]["used"] == 0
            finally:
                await ex.close()
            served = {(m, p) for m, p, _ in log}
            assert served == {
                ("GET", "/api/v3/account/settings"), ("GET", V2 + "market/contracts"),
                ("GET", V2 + "market/merge-depth"), ("GET", V2 + "account/accounts"),
                ("POST", V2 + "account/set-leverage"), ("GET", V2 + "account/account"),
                ("POST", V2 + "order/place-order"), ("GET", V2 + "order/orders-pending"),
                ("POST", V2 + "order/cancel-order"), ("GET", V2 + "order/detail"),
                ("GET", V2 + "order/fills"), ("GET", V2 + "order/orders-history"),
                ("GET", V2 + "position/all-position"),
            }
            assert all(st == 200 for m, p, st in log if not p.startswith("/api/v3/")), log

    body()
