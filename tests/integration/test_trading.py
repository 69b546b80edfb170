"""The trading layer against the simulator over loopback: orders, fills, positions and
balances end equal to the exchange's, whatever the wire does.

Every scenario ends with :func:`converged`: our orders (status, filled size), fills (by
tradeId), positions (size, entry) and balance equal the simulator engine's own state,
read directly from the engine (not through any of our code paths).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from bitget_fast import (
    BitgetPerpetual,
    Credentials,
    ExchangeError,
    InsufficientFundsError,
    OrderNotFoundError,
    OutcomeUnknownError,
    ParameterError,
    PositionModeError,
    RateLimitError,
    TransportError,
    ValidationError,
)
from bitget_fast.sim import Simulator
from bitget_fast.sim.soak import account_differences, fill_differs

from .conftest import run_async

KEY, SECRET, PASS = "trade_key_1", "trade-secret-1", "TradePass1"
TAKER = ("taker_key_2", "taker-secret-2", "TakerPass2")


async def start(sim: Simulator, **kw: Any) -> BitgetPerpetual:
    bp = BitgetPerpetual(Credentials(KEY, SECRET, PASS), rest_url=sim.rest_url,
                         ws_public_url=sim.ws_public_url, ws_private_url=sim.ws_private_url,
                         symbols=kw.pop("symbols", ["BTCUSDT"]), **kw)
    await bp.start()
    return bp


def make_sim(**kw: Any) -> Simulator:
    sim = Simulator(flow_rate=0, **kw)
    return sim


def setup_accounts(sim: Simulator, *, hedge: bool = False, ws_trading: bool = False) -> Any:
    acc = sim.add_account(KEY, SECRET, PASS, ws_trading=ws_trading)
    if hedge:
        sim.engine.set_position_mode(acc, "hedge_mode")
    taker = sim.add_account(*TAKER, usdt=1_000_000)
    return acc, taker


@contextlib.asynccontextmanager
async def scenario(*, sim_kw: dict[str, Any] | None = None, hedge: bool = False,
                   ws_trading: bool = False, **bp_kw: Any
                   ) -> AsyncIterator[tuple[Simulator, Any, Any, BitgetPerpetual]]:
    """A simulator (``sim_kw``), our account (``hedge``, ``ws_trading``) and a taker's, and a
    started connector (``bp_kw``): ``(sim, acc, taker, bp)``; all closed at the end."""
    async with make_sim(**(sim_kw or {})) as sim:
        acc, taker = setup_accounts(sim, hedge=hedge, ws_trading=ws_trading)
        bp = await start(sim, **bp_kw)
        try:
            yield sim, acc, taker, bp
        finally:
            await bp.close()


def take(sim: Simulator, taker: Any, side: str, size: str, symbol: str = "BTCUSDT") -> None:
    """Another trader's market order (fills whatever rests, ours included)."""
    sim.engine.place_order(taker, {"symbol": symbol, "productType": "USDT-FUTURES",
                                   "marginMode": "crossed", "marginCoin": "USDT", "size": size,
                                   "side": side, "orderType": "market"})
    sim.engine.flush()   # deliver the pushes now, as the REST handler does


async def eventually(pred: Any, timeout: float = 5.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while True:
        ok = pred()
        if ok is True or ok is None:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not converged within {timeout} s {what}: {ok}")
        await asyncio.sleep(0.02)


def differences(bp: BitgetPerpetual, sim: Simulator, acc: Any) -> list[str] | bool:
    """What differs between our state and the engine's (True when nothing)."""
    diffs: list[str] = []
    eng = sim.engine
    for o in acc.orders.values():
        spec = o.market.spec
        ours = bp.orders.get(o.client_oid)
        if ours is None:
            diffs.append(f"order {o.client_oid} unknown to us")
            continue
        if ours.status != o.status:
            diffs.append(f"order {o.client_oid}: status {ours.status} != {o.status}")
        if ours.filled_size != spec.size_dec(o.filled):
            diffs.append(f"order {o.client_oid}: filled {ours.filled_size} != {spec.size_dec(o.filled)}")
        if ours.order_id != o.order_id:
            diffs.append(f"order {o.client_oid}: id {ours.order_id} != {o.order_id}")
    for ours in bp.orders.values():
        if ours.client_oid not in acc.by_client_oid and ours.status != "rejected":
            diffs.append(f"order {ours.client_oid} ({ours.status}) not on the exchange")
    # a fill is (tradeId, orderId): both sides of a self-trade share the tradeId
    theirs_fills = {(f["tradeId"], f["orderId"]): f for f in acc.fills}
    ours_fills = {(tid, f.order_id): f for o in bp.orders.values() for tid, f in o.fills.items()}
    if set(theirs_fills) != set(ours_fills):
        diffs.append(f"fills differ: missing {sorted(set(theirs_fills) - set(ours_fills))}, "
                     f"extra {sorted(set(ours_fills) - set(theirs_fills))}")
    for key, f in ours_fills.items():
        t = theirs_fills.get(key)
        if t is not None and fill_differs(f, t):
            diffs.append(f"fill {key} differs: {f} vs {t}")
    diffs += account_differences(bp, eng, acc)
    return diffs or True


async def converged(bp: BitgetPerpetual, sim: Simulator, acc: Any, timeout: float = 5.0) -> None:
    await eventually(lambda: differences(bp, sim, acc), timeout, "with the exchange")


def bid_ask(sim: Simulator, symbol: str = "BTCUSDT") -> tuple[Decimal, Decimal]:
    m = sim.engine.market(symbol)
    return m.spec.price_dec(m.best_bid()), m.spec.price_dec(m.best_ask())


# ---------------------------------------------------------------------- order types
@pytest.mark.parametrize("hedge", [False, True], ids=["one_way", "hedge"])
@run_async(60)
async def test_every_order_type(hedge: bool) -> None:
    async with scenario(hedge=hedge) as (sim, acc, taker, bp):
        assert bp.pos_mode == ("hedge_mode" if hedge else "one_way_mode")
        bid, ask = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        # limit resting, then canceled
        o1 = await bp.place_order("BTCUSDT", "buy", "0.01", bid - 100 * tick)
        assert o1.status == "live" and o1.order_id
        await bp.cancel_order("BTCUSDT", o1.client_oid)
        await o1.wait_done(3)
        assert o1.status == "canceled"
        # post_only resting; post_only that would cross ends canceled (DECISIONS 5)
        o2 = await bp.place_order("BTCUSDT", "sell", "0.01", ask + 50 * tick, order_type="post_only")
        o3 = await bp.place_order("BTCUSDT", "buy", "0.01", ask, order_type="limit_maker")
        await o3.wait_done(3)
        assert o3.status == "canceled" and o3.cancel_reason
        assert o2.status == "live"
        # market buy opens a long
        o4 = await bp.place_order("BTCUSDT", "buy", "0.02", order_type="market")
        await o4.wait_done(3)
        assert o4.status == "filled" and o4.filled_size == Decimal("0.02") and o4.fills
        # ioc far away: canceled without a fill; fok too large: canceled
        o5 = await bp.place_order("BTCUSDT", "buy", "0.01", bid - 1000 * tick, order_type="ioc")
        o6 = await bp.place_order("BTCUSDT", "buy", "1", ask, order_type="fok")
        await o5.wait_done(3)
        await o6.wait_done(3)
        assert (o5.status, o6.status) == ("canceled", "canceled")
        assert o6.filled_size == 0
        # reduce-only sell closes part of the long
        o7 = await bp.place_order("BTCUSDT", "sell", "0.005", order_type="market", reduce_only=True)
        await o7.wait_done(3)
        assert o7.status == "filled"
        await converged(bp, sim, acc)
        assert bp.net_position("BTCUSDT") == Decimal("0.015")
        assert list(bp.positions) == [("BTCUSDT", "long")]
        if hedge:
            # hedge: a short beside the long; closing it sends tradeSide=close
            o8 = await bp.place_order("BTCUSDT", "sell", "0.01", order_type="market")
            await o8.wait_done(3)
            o9 = await bp.place_order("BTCUSDT", "buy", "0.004", order_type="market",
                                      reduce_only=True)
            await o9.wait_done(3)
            assert sim.engine.market("BTCUSDT") and acc.orders[o9.order_id].trade_side == "close"
            await converged(bp, sim, acc)
            assert bp.positions[("BTCUSDT", "short")].size == Decimal("0.006")
            assert bp.net_position("BTCUSDT") == Decimal("0.009")


@run_async(60)
async def test_partial_fills_fees_and_average_price() -> None:
    async with scenario() as (sim, acc, taker, bp):
        bid, ask = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        o = await bp.place_order("BTCUSDT", "buy", "0.05", bid + tick, order_type="post_only")
        take(sim, taker, "sell", "0.02")
        await eventually(lambda: o.status == "partially_filled" or o.status)
        assert o.status == "partially_filled" and o.filled_size == Decimal("0.02")
        take(sim, taker, "sell", "0.03")
        await o.wait_done(3)
        assert o.status == "filled" and o.avg_price == bid + tick
        assert o.fee > 0 and len(o.fills) == 2 and all(f.maker for f in o.fills.values())
        await converged(bp, sim, acc)


@pytest.mark.parametrize("hedge", [False, True], ids=["one_way", "hedge"])
@run_async(60)
async def test_self_trade_is_a_fill_of_each_order(hedge: bool) -> None:
    # our market buy takes our own resting sell: one match (one tradeId), two fills
    async with scenario(hedge=hedge) as (sim, acc, _, bp):
        bid, ask = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        sell = await bp.place_order("BTCUSDT", "sell", "0.01", ask - tick, order_type="post_only")
        buy = await bp.place_order("BTCUSDT", "buy", "0.01", order_type="market")
        await sell.wait_done(3)
        await buy.wait_done(3)
        assert sell.status == buy.status == "filled"
        assert set(sell.fills) == set(buy.fills) and len(sell.fills) == 1
        assert sell.fee < buy.fee    # maker and taker fee, each booked once
        await converged(bp, sim, acc)


@run_async(60)
async def test_amend_cancel_all_and_batch_with_failures() -> None:
    async with scenario(symbols=["BTCUSDT", "ETHUSDT"]) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        o = await bp.place_order("BTCUSDT", "buy", "0.01", bid - 10 * tick)
        new = await bp.amend_order("BTCUSDT", o.client_oid, new_price=bid - 20 * tick,
                                   new_size="0.02")
        await new.wait_status("live", timeout_s=3)
        await o.wait_done(3)
        assert o.status == "canceled" and o.replaced_by == new.client_oid
        assert new.replaces == o.client_oid and new.price == bid - 20 * tick
        assert new.size == Decimal("0.02")
        # below the minimum notional (minTradeUSDT 5): refused before anything is sent
        with pytest.raises(ValidationError, match="minTradeUSDT"):
            await bp.batch_place([{"symbol": "BTCUSDT", "side": "buy", "size": "0.0001",
                                   "price": "1000.0"}])
        eth_bid, _ = bid_ask(sim, "ETHUSDT")
        orders = await bp.batch_place([
            {"symbol": "BTCUSDT", "side": "buy", "size": "0.01", "price": bid - 30 * tick},
            {"symbol": "BTCUSDT", "side": "buy", "size": "0.01", "price": bid - 31 * tick,
             "order_type": "post_only"},
            # Bitget refuses a huge order in the batch (insufficient balance): partial failure
            {"symbol": "BTCUSDT", "side": "buy", "size": "500", "price": bid - 32 * tick},
            {"symbol": "ETHUSDT", "side": "buy", "size": "0.1", "price": eth_bid - Decimal("1")},
        ])
        assert [x.status for x in orders] == ["live", "live", "rejected", "live"]
        assert isinstance(orders[2].error, InsufficientFundsError)
        res = await bp.batch_cancel("BTCUSDT", [orders[0].client_oid, "nope-123"])
        assert res[orders[0].client_oid] is None
        assert isinstance(res["nope-123"], OrderNotFoundError)
        await orders[0].wait_done(3)
        n = await bp.cancel_all("BTCUSDT")
        assert n == 2   # the amended order and the post_only
        await new.wait_done(3)
        assert orders[3].status == "live"
        n = await bp.cancel_all()
        assert n == 1
        await orders[3].wait_done(3)
        assert not bp.open_orders()
        await converged(bp, sim, acc)


@run_async(60)
async def test_rejections_map_to_exceptions_and_are_never_sent_when_invalid() -> None:
    async with scenario() as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        before = bp.rest.stats()["requests"]
        for _ in range(2):   # refused every time: a refused price is never remembered
            with pytest.raises(ValidationError, match="tick"):
                bp.submit_order("BTCUSDT", "buy", "0.01", "60000.05")
        for bad in (Decimal("sNaN"), Decimal("NaN"), Decimal("Infinity")):
            with pytest.raises(ValidationError):   # not a hashing error from the caches
                bp.submit_order("BTCUSDT", "buy", bad, str(bid))
            with pytest.raises(ValidationError):
                bp.submit_order("BTCUSDT", "buy", "0.01", bad)
        for _ in range(2):   # refused every time: a refused size is never remembered
            with pytest.raises(ValidationError):
                bp.submit_order("BTCUSDT", "buy", "0.00001", str(bid))
        # a size checked (and remembered) for a limit order is checked again for market
        c = bp.rules["BTCUSDT"]
        big = str(int(c.max_market_order_qty) * 2)
        assert Decimal(big) <= c.max_order_qty
        bp._order_params("BTCUSDT", "buy", big, str(bid), "limit", False, None, None)
        with pytest.raises(ValidationError, match="maxMarketOrderQty"):
            bp.submit_order("BTCUSDT", "buy", big, order_type="market")
        with pytest.raises(ValidationError, match="float"):
            bp.submit_order("BTCUSDT", "buy", 0.01, str(bid))   # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="side"):
            bp.submit_order("BTCUSDT", "long", "0.01", str(bid))
        with pytest.raises(ValidationError, match="price"):
            bp.submit_order("BTCUSDT", "buy", "0.01")
        assert bp.rest.stats()["requests"] == before   # nothing was sent
        with pytest.raises(InsufficientFundsError) as ei:
            await bp.place_order("BTCUSDT", "buy", "100", str(bid))
        assert ei.value.code == "40762"
        rejected = [o for o in bp.orders.values() if o.status == "rejected"]
        assert len(rejected) == 1 and rejected[0].error is ei.value
        with pytest.raises(OrderNotFoundError):
            await bp.cancel_order("BTCUSDT", "never-placed-1")
        # the account switched to hedge mode behind our back: Bitget says 40774 and the
        # connector does not switch anything back
        sim.engine.set_position_mode(acc, "hedge_mode")
        with pytest.raises(PositionModeError):
            await bp.place_order("BTCUSDT", "buy", "0.01", "1000.0", reduce_only=True)
        assert acc.pos_mode == "hedge_mode" and bp.pos_mode == "one_way_mode"
        await converged(bp, sim, acc)


@run_async(60)
async def test_min_trade_usdt_applies_to_the_part_that_opens() -> None:
    """minTradeUSDT (5 USDT here) as Bitget applies it: reduce-only orders are exempt, a
    one-way order is valued beyond the opposite position it closes, a market order at our
    live book's best price; the simulator applies the same rule, so what we let through it
    accepts."""
    async with scenario(sim_kw={"symbols": ("BTCUSDT", "XRPUSDT")},
                        symbols=["BTCUSDT", "XRPUSDT"]) as (sim, acc, taker, bp):
        bid, ask = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        low = "40000.0"   # 0.0001 x 40000 = 4 USDT: below the minimum
        before = bp.rest.stats()["requests"]
        with pytest.raises(ValidationError, match="minTradeUSDT"):
            bp.submit_order("BTCUSDT", "buy", "0.0001", low)
        assert bp.rest.stats()["requests"] == before
        # a long of 0.0003: an order that only closes it is exempt, whatever its value
        o = await bp.place_order("BTCUSDT", "buy", "0.0003", order_type="market")
        await o.wait_done(3)
        await eventually(lambda: bp.net_position("BTCUSDT") == Decimal("0.0003") or
                         bp.net_position("BTCUSDT"))
        ro = await bp.place_order("BTCUSDT", "sell", "0.0001", low, reduce_only=True,
                                  order_type="ioc")
        await ro.wait_done(3)
        assert ro.status == "filled"      # sold at the bid, above our limit
        closing = await bp.place_order("BTCUSDT", "sell", "0.0001", str(ask + 100 * tick),
                                       order_type="post_only")
        assert closing.status == "live"   # 0.0001 x ask >= 5 anyway; rests
        await bp.cancel_order("BTCUSDT", closing.client_oid)
        # a one-way sell of the whole long, not reduce-only, at a low price: only closes
        low_sell = await bp.place_order("BTCUSDT", "sell", "0.0002", low, order_type="ioc")
        await low_sell.wait_done(3)
        assert low_sell.status == "filled"
        await eventually(lambda: not bp.positions or dict(bp.positions))
        # flat again; a long of 0.0001, then a sell of 0.0003 at 40000 opens 0.0002 short
        # worth 8 USDT (accepted) while one of 0.0002 opens 0.0001 worth 4 (refused)
        o = await bp.place_order("BTCUSDT", "buy", "0.0001", order_type="market")
        await o.wait_done(3)
        await eventually(lambda: bp.net_position("BTCUSDT") == Decimal("0.0001") or
                         bp.net_position("BTCUSDT"))
        with pytest.raises(ValidationError, match="beyond the BTCUSDT position"):
            bp.submit_order("BTCUSDT", "sell", "0.0002", low)
        ok = bp.submit_order("BTCUSDT", "sell", "0.0003", "1000000.0")
        await ok.wait_status("live", timeout_s=3)
        # a market order is valued at our book once we have one
        await bp.book("XRPUSDT")
        before = bp.rest.stats()["requests"]
        with pytest.raises(ValidationError, match="minTradeUSDT"):
            bp.submit_order("XRPUSDT", "buy", "1", order_type="market")
        assert bp.rest.stats()["requests"] == before
        await bp.cancel_order("BTCUSDT", ok.client_oid)
        await converged(bp, sim, acc)


@run_async(60)
async def test_symbol_status_is_checked_and_rules_reload_when_bitget_refuses() -> None:
    async with scenario() as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        price = str(bid - 100 * tick)
        o = await bp.place_order("BTCUSDT", "buy", "0.01", order_type="market")
        await o.wait_done(3)
        # maintenance begins; our rules are from before: Bitget refuses, we re-read them
        sim.set_symbol_status("BTCUSDT", "maintain")
        with pytest.raises(ExchangeError) as ei:
            await bp.place_order("BTCUSDT", "buy", "0.01", price)
        assert ei.value.code == "41114"
        await eventually(lambda: bp.contract("BTCUSDT").symbol_status == "maintain" or
                         bp.contract("BTCUSDT").symbol_status)
        before = bp.rest.stats()["requests"]
        with pytest.raises(ValidationError, match="'maintain'.*no order is accepted"):
            bp.submit_order("BTCUSDT", "buy", "0.01", price)
        assert bp.rest.stats()["requests"] == before
        # limit_open: closing only
        sim.set_symbol_status("BTCUSDT", "limit_open")
        await bp.reload_rules()
        with pytest.raises(ValidationError, match="only reduce-only"):
            bp.submit_order("BTCUSDT", "buy", "0.01", price)
        close = await bp.place_order("BTCUSDT", "sell", "0.004", order_type="market",
                                     reduce_only=True)
        await close.wait_done(3)
        assert close.status == "filled"
        sim.set_symbol_status("BTCUSDT", "normal")
        await bp.reload_rules()
        again = await bp.place_order("BTCUSDT", "buy", "0.01", price)
        assert again.status == "live"
        await bp.cancel_order("BTCUSDT", again.client_oid)
        # the tick grows to 0.5: a price checked (and remembered) before is checked again
        half = Decimal("0.5")
        odd = str((bid // half) * half - 10 * half - tick)   # on the 0.1 grid, off 0.5
        assert not Decimal(odd) % tick and Decimal(odd) % half
        bp._order_params("BTCUSDT", "buy", "0.01", odd, "limit", False, None, None)
        m = sim.engine.market("BTCUSDT")
        spec = m.spec
        m.spec = dataclasses.replace(spec, price_end_step=5)
        try:
            await bp.reload_rules()
            with pytest.raises(ValidationError, match="tick"):
                bp.submit_order("BTCUSDT", "buy", "0.01", odd)
        finally:
            m.spec = spec
        await converged(bp, sim, acc)


@pytest.mark.parametrize("hedge", [False, True], ids=["one_way", "hedge"])
@run_async(60)
async def test_close_positions(hedge: bool) -> None:
    async with scenario(hedge=hedge, symbols=["BTCUSDT", "ETHUSDT"]) as (sim, acc, _, bp):
        _, ask = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        for sym, side, size in (("BTCUSDT", "buy", "0.02"), ("ETHUSDT", "sell", "0.5")):
            o = await bp.place_order(sym, side, size, order_type="market")
            await o.wait_done(3)
        if hedge:
            o = await bp.place_order("BTCUSDT", "sell", "0.01", order_type="market")
            await o.wait_done(3)
        # a pending closing order of the BTC long: canceled so the whole long closes
        ro = await bp.place_order("BTCUSDT", "sell", "0.01", str(ask + 500 * tick),
                                  reduce_only=True)
        await converged(bp, sim, acc)
        if hedge:
            with pytest.raises(ValidationError, match="hold_side"):
                await bp.close_positions("BTCUSDT", hold_side="both")
            closing = await bp.close_positions("BTCUSDT", hold_side="long")
            assert [o.side for o in closing] == ["sell"] and closing[0].external
            await converged(bp, sim, acc)
            assert ("BTCUSDT", "long") not in bp.positions
            assert bp.positions[("BTCUSDT", "short")].size == Decimal("0.01")
        else:
            with pytest.raises(ValidationError, match="hedge mode only"):
                await bp.close_positions("BTCUSDT", hold_side="long")
            closing = await bp.close_positions("BTCUSDT")
            assert len(closing) == 1 and closing[0].filled_size == Decimal("0.02")
            await converged(bp, sim, acc)
            assert ("BTCUSDT", "long") not in bp.positions
            assert ("ETHUSDT", "short") in bp.positions
        await ro.wait_done(3)
        assert ro.status == "canceled"
        # everything; a symbol under maintenance cannot be closed: raised, the rest closed
        await asyncio.sleep(1.0)   # Bitget allows one flash close per second
        sim.set_symbol_status("ETHUSDT", "maintain")
        with pytest.raises(ExchangeError) as ei:
            await bp.close_positions()
        assert ei.value.code == "41114" and "1 positions not closed" in str(ei.value)
        sim.set_symbol_status("ETHUSDT", "normal")
        await converged(bp, sim, acc)
        assert list(bp.positions) == [("ETHUSDT", "short")]
        await asyncio.sleep(1.0)
        closing = await bp.close_positions()
        assert [(o.symbol, o.status) for o in closing] == [("ETHUSDT", "filled")]
        await converged(bp, sim, acc)
        assert not bp.positions


# ---------------------------------------------------------------------- faults
@pytest.mark.parametrize("executed", [True, False], ids=["executed", "not_executed"])
@run_async(60)
async def test_lost_place_reply_is_resolved_by_query(executed: bool) -> None:
    async with scenario(request_timeout_s=0.5) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        sim.never_answer(path="/api/v2/mix/order/place-order", execute=executed)
        if executed:
            o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 10))
            assert o.status == "live" and o.order_id
        else:
            with pytest.raises(OutcomeUnknownError):
                await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 10))
            o = next(iter(bp.orders.values()))
            assert o.status == "rejected"
        assert bp.rest.stats()["timeouts"] == 1
        # the connection with the lost reply was dropped; the next order works
        o2 = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 11))
        assert o2.status == "live"
        await converged(bp, sim, acc)


@run_async(60)
async def test_lost_reply_while_the_stream_is_down_keeps_the_fills_on_our_order() -> None:
    # The reply of a market order is lost (it executed) while the private stream is down:
    # reconnecting reads its fills from REST (no clientOid there) before the lookup tells
    # us its orderId. They must end on our order, not on a placeholder beside it.
    async with scenario(request_timeout_s=1.0) as (sim, acc, _, bp):
        sim.never_answer(path="/api/v2/mix/order/place-order", execute=True)
        sim.drop_connections("private")
        o = await bp.place_order("BTCUSDT", "buy", "0.01", order_type="market")
        assert bp.stats()["orders"]["adopted"] >= 1   # the placeholder was made
        await converged(bp, sim, acc)
        assert o.status == "filled" and o.fills and o.fee > 0
        assert list(bp.orders) == [o.client_oid]


@run_async(60)
async def test_cancelled_place_order_waiter_still_ends_in_the_exchange_state() -> None:
    # The caller's task is cancelled while the place request is in flight: the request
    # was sent, so the order must be found by query (not left pending, not lost).
    async with scenario() as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        task = asyncio.ensure_future(bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 10),
                                                    client_oid="cancelledwaiter1"))
        await asyncio.sleep(0)          # submitted and written, reply not yet read
        assert bp.orders["cancelledwaiter1"].status == "pending_new"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        o = bp.orders["cancelledwaiter1"]
        await eventually(lambda: o.status == "live" or o.status, 5.0, "order resolved")
        assert o.order_id
        await converged(bp, sim, acc)


@run_async(60)
async def test_a_cancel_that_overtakes_its_place_does_not_reject_the_order() -> None:
    # The place waits in our limiter while its cancel goes out and finds nothing (40768).
    # "Not found" then says nothing about an order whose place is unanswered: it must not
    # be marked rejected, and when the place's reply is lost place_order must find it.
    async with scenario(max_rate_wait_s=2.0) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        first = [bp.submit_order("BTCUSDT", "buy", "0.01", str(bid - 10 - i)) for i in range(10)]
        await asyncio.gather(*(o.wait_status("live", timeout_s=3) for o in first))
        sim.fail_rest(503, path="/api/v2/mix/order/place-order", execute=True)
        placing = asyncio.ensure_future(
            bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 50), client_oid="overtaken1"))
        await asyncio.sleep(0.01)
        o = bp.orders["overtaken1"]
        assert o.status == "pending_new"        # waiting for a slot in the window
        with pytest.raises(OrderNotFoundError):
            await bp.cancel_order("BTCUSDT", "overtaken1")
        assert o.status == "pending_new"
        sim.stall("private", 3.0)   # only the lookup can tell what became of it
        assert await placing is o and o.status == "live"
        await converged(bp, sim, acc)


@run_async(60)
async def test_5xx_after_executing_is_resolved_and_reads_are_retried() -> None:
    ups: list[Any] = []
    async with scenario(on_order=ups.append) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        sim.fail_rest(503, path="/api/v2/mix/order/place-order", execute=True)
        o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 10))
        # unknown after the 503, then live (from the stream or the query, whichever first)
        assert [u.status for u in ups] == ["unknown", "live"] and o.status == "live"
        # with the stream stalled, only the query can resolve it
        sim.stall("private", 2.0)
        sim.fail_rest(502, path="/api/v2/mix/order/place-order", execute=True)
        o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 11))
        assert o.status == "live" and bp.stats()["connector"]["resolved_unknown"] == 1
        sim.fail_rest(500, path="/api/v2/mix/account/accounts", count=2)
        data = await bp.rest.request("GET", "/api/v2/mix/account/accounts",
                                     params={"productType": "USDT-FUTURES"})
        assert data[0]["marginCoin"] == "USDT"
        assert bp.rest.stats()["retries"] >= 2
        await converged(bp, sim, acc)


@run_async(60)
async def test_429_backs_off() -> None:
    # max_rate_wait_s 2.0 (well above the 1.05 s window): the burst's orders past the tenth
    # wait for their slot. With the default 1.0 they may be refused instead, which is what
    # docs/trading.md says; under a slow build (ASan) a request sent late moves its slot
    # later (the limiter re-stamps it), and even 1.1 s was once too short.
    async with scenario(max_rate_wait_s=2.0) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        sim.fail_rest(429, path="/api/v2/mix/order/place-order")
        with pytest.raises(RateLimitError):
            await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 10))
        # the endpoint is paused: the next order waits out the back-off, then goes
        t0 = time.monotonic()
        o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 11))
        assert o.status == "live" and time.monotonic() - t0 >= 0.5
        # a read hit by 429 is retried after the pause
        sim.fail_rest(429, path="/api/v2/mix/order/orders-pending")
        await bp.reconcile()
        assert bp.rest.stats()["rate_limited"] == 2
        # our own limiter keeps a burst under Bitget's 10/s: no 429 from the exchange
        orders = [bp.submit_order("BTCUSDT", "buy", "0.01", str(bid - 20 - i)) for i in range(15)]
        await asyncio.gather(*(x.wait_status("live", timeout_s=5) for x in orders))
        assert [x.status for x in orders] == ["live"] * 15   # none refused for waiting
        assert bp.rest.stats()["rate_limited"] == 2 and bp.rest.stats()["rate_waits"] >= 5
        await converged(bp, sim, acc)


@run_async(60)
async def test_order_refused_by_our_limiter_raises() -> None:
    # The limiter refuses an order at once (its future has failed before place_order
    # waits on it): place_order must raise, not return the order as if it had been sent.
    async with scenario(max_rate_wait_s=0.5) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        sent = [bp.submit_order("BTCUSDT", "buy", "0.01", str(bid - 20 - i)) for i in range(10)]
        with pytest.raises(RateLimitError, match="not sent"):
            await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 40), client_oid="refused1")
        assert bp.orders["refused1"].status == "rejected"
        await asyncio.gather(*(o.wait_status("live", timeout_s=5) for o in sent))
        assert "refused1" not in acc.by_client_oid
        await converged(bp, sim, acc)


@run_async(60)
async def test_fills_while_the_private_stream_is_down_are_recovered() -> None:
    fills: list[Any] = []
    async with scenario(on_fill=fills.append) as (sim, acc, taker, bp):
        bid, _ = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        orders = [await bp.place_order("BTCUSDT", "buy", "0.01", bid + tick,
                                       order_type="post_only") for i in range(3)]
        # cut the private stream, then the market trades through our orders
        assert sim.drop_connections("private") == 1
        take(sim, taker, "sell", "0.025")
        await eventually(lambda: bp.stats()["private"]["ready"] >= 2 or "not reconnected")
        await converged(bp, sim, acc)
        assert [o.status for o in orders] == ["filled", "filled", "partially_filled"]
        assert len(fills) == len(acc.fills) == 3   # each fill delivered exactly once
        assert bp.positions[("BTCUSDT", "long")].size == Decimal("0.025")


@run_async(60)
async def test_a_snapshot_older_than_the_stream_does_not_undo_a_fill() -> None:
    # A reconciliation's positions and accounts replies are slow; a fill happens while
    # they are on the way and its pushes arrive first. The snapshots, computed before the
    # fill, must not take us back to flat (no later push would have corrected it).
    async with scenario() as (sim, acc, taker, bp):
        bid, _ = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        o = await bp.place_order("BTCUSDT", "buy", "0.01", bid + tick, order_type="post_only")
        sim.delay_acks(0.4, path="/api/v2/mix/position/all-position")
        sim.delay_acks(0.4, path="/api/v2/mix/account/accounts")
        reconciling = asyncio.ensure_future(bp.reconcile())
        # the positions reply is computed (now) and on its way
        await eventually(lambda: sim.rest.ack_delays[0].count == 0 or "positions not asked yet")
        take(sim, taker, "sell", "0.01")
        await o.wait_done(3)
        assert bp.net_position("BTCUSDT") == Decimal("0.01")
        await reconciling
        assert bp.net_position("BTCUSDT") == Decimal("0.01")
        assert bp.stats()["account"]["stale_snapshots"] >= 1
        await converged(bp, sim, acc, timeout=1.0)


@run_async(60)
async def test_exchange_restart_reconverges() -> None:
    async with scenario() as (sim, acc, taker, bp):
        bid, _ = bid_ask(sim)
        tick = bp.contract("BTCUSDT").tick
        resting = await bp.place_order("BTCUSDT", "buy", "0.02", bid + tick, order_type="post_only")
        await sim.restart(0.3)
        # while we reconnect: our order fills and another is canceled on the exchange side
        take(sim, taker, "sell", "0.02")
        await eventually(lambda: bp.stats()["private"]["ready"] >= 2 or "not reconnected", 10)
        await converged(bp, sim, acc)
        assert resting.status == "filled"
        o = await bp.place_order("BTCUSDT", "sell", "0.02", order_type="market", reduce_only=True)
        await o.wait_done(3)
        await converged(bp, sim, acc)
        assert not bp.positions


@run_async(60)
async def test_events_before_rest_reply_and_ws_order_entry() -> None:
    async with make_sim() as sim:
        acc, _ = setup_accounts(sim, ws_trading=True)
        sim.ws_events_before_rest(True)
        updates: list[Any] = []
        bp = await start(sim, on_order=updates.append)
        try:
            o = await bp.place_order("BTCUSDT", "buy", "0.01", order_type="market")
            await o.wait_done(3)
            assert o.status == "filled"
            # the stream said filled before the REST reply said "accepted": never went back
            statuses = [u.status for u in updates if u.client_oid == o.client_oid]
            assert statuses[-1] == "filled" and "live" not in statuses[statuses.index("filled"):]
            await converged(bp, sim, acc)
        finally:
            await bp.close()
        sim.ws_events_before_rest(False)
        bp = await start(sim, order_transport="ws")
        try:
            bid, _ = bid_ask(sim)
            o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 5))
            assert o.status == "live" and bp.stats()["private"]["trade_requests"] == 1
            await bp.cancel_order("BTCUSDT", o.client_oid)
            await o.wait_done(3)
            assert o.status == "canceled"
            with pytest.raises(ParameterError):
                await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 5),
                                     extra={"stpMode": "bogus"})
            await converged(bp, sim, acc)
        finally:
            await bp.close()


@run_async(60)
async def test_ws_orders_share_the_rest_windows_and_wait_for_their_slot() -> None:
    """Ten REST orders fill place-order's second; three WS orders right after wait for slots
    in that shared window (they were written at once and refused by Bitget's 429 before).
    A WS order still waiting when the stream drops fails as never sent."""
    async with scenario(ws_trading=True, order_transport="ws",
                        max_rate_wait_s=3) as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        bp.order_transport = "rest"
        by_rest = [bp.submit_order("BTCUSDT", "buy", "0.01", str(bid - 10 - i)) for i in range(10)]
        bp.order_transport = "ws"
        t0 = time.monotonic()
        by_ws = await asyncio.gather(*(bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 30 - i))
                                       for i in range(3)))
        assert time.monotonic() - t0 > 0.5
        assert [o.status for o in by_ws] == ["live"] * 3
        await asyncio.gather(*(o.wait_status("live", timeout_s=5) for o in by_rest))
        assert bp.stats()["private"]["trade_requests"] == 3
        assert bp.rest.stats()["rate_limited"] == 0
        await converged(bp, sim, acc)
        # the window is full again; the stream drops while the next WS order waits
        await asyncio.sleep(1.1)
        bp.order_transport = "rest"
        for i in range(10):
            bp.submit_order("BTCUSDT", "buy", "0.01", str(bid - 40 - i))
        bp.order_transport = "ws"
        waiting = bp.submit_order("BTCUSDT", "buy", "0.01", str(bid - 60))
        await asyncio.sleep(0.1)
        bp._private.reconnect_min_s = bp._private.reconnect_max_s = 2.0
        sim.drop_connections("private")
        with pytest.raises(TransportError, match="not sent: .*waited for its rate-limit slot"):
            await bp._outcome(waiting)
        assert waiting.status == "rejected"
        await asyncio.sleep(1.2)
        assert waiting.client_oid not in acc.by_client_oid   # it never reached the exchange


@run_async(60)
async def test_ws_order_entry_falls_back_to_rest_while_the_stream_is_down() -> None:
    async with scenario(ws_trading=True, order_transport="ws") as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        bp._private.reconnect_min_s = bp._private.reconnect_max_s = 3.0
        sim.drop_connections("private")
        await eventually(lambda: not bp._private.ready or "still ready")
        o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 5))
        assert o.status == "live" and o.order_id
        await bp.cancel_order("BTCUSDT", o.client_oid)
        await o.wait_done(5)   # the stream is back by then, or the cancel check queries it
        assert o.status == "canceled"
        assert bp.stats()["connector"]["ws_order_fallbacks"] == 2
        assert bp.stats()["private"]["trade_requests"] == 0
        await bp._private.wait_ready(10)
        o2 = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 6))
        assert o2.status == "live" and bp.stats()["private"]["trade_requests"] == 1
        await converged(bp, sim, acc)


# ---------------------------------------------------------------------- TLS and the clock
@run_async(60)
async def test_trading_over_tls() -> None:
    # the whole order path over https/wss with a verified certificate: the compiled
    # HTTP framing reads what the TLS transport hands it, in whatever pieces
    async with scenario(sim_kw={"tls": True},
                        ssl_context=Simulator.client_ssl_context()) as (sim, acc, taker, bp):
        assert sim.rest_url.startswith("https://")
        bid, ask = bid_ask(sim)
        rest_ = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 5))
        taker_fill = await bp.place_order("BTCUSDT", "buy", "0.002", order_type="market")
        assert rest_.status == "live" and taker_fill.order_id
        await eventually(lambda: taker_fill.status == "filled" or taker_fill.status)
        await bp.cancel_order("BTCUSDT", rest_.client_oid)
        await eventually(lambda: rest_.status == "canceled" or rest_.status)
        await converged(bp, sim, acc)


@run_async(60)
async def test_clock_skew_is_resynced_and_the_order_sent_once() -> None:
    # our clock estimate goes 60 s wrong: Bitget (the simulator) refuses the timestamp
    # with 40008 before executing; the client resyncs, re-signs and sends once more
    async with scenario() as (sim, acc, _, bp):
        bid, _ = bid_ask(sim)
        resyncs = bp.rest.stats()["clock_resyncs"]
        bp.rest.offset_ms -= 60_000
        o = await bp.place_order("BTCUSDT", "buy", "0.01", str(bid - 10))
        assert o.status == "live"
        assert bp.rest.stats()["clock_resyncs"] == resyncs + 1
        assert abs(bp.rest.offset_ms) < 5_000
        await converged(bp, sim, acc)
