"""Order tracker and account state on Bitget's published and real messages, and the state
machine's rules: evidence in any order, duplicates, stale pushes, revival, placeholders."""

from __future__ import annotations

import json
import pathlib
import re
from decimal import Decimal
from typing import Any

import pytest

from bitget_fast.account import AccountState, balance_from_row, position_from_row
from bitget_fast.errors import InsufficientFundsError, ProtocolError
from bitget_fast.orders import Order, OrderTracker, new_client_oid

FIX = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def published(name: str) -> dict[str, Any]:
    """The JSON document of a docs example: after the "= " line (WS) or the 3 header lines (REST)."""
    text = (FIX / "docs-examples" / name).read_text()
    m = re.search(r"^= *$", text, re.M)
    start = text.index("{", m.end() if m else 0)
    return json.JSONDecoder().raw_decode(text, start)[0]


def tracker() -> tuple[OrderTracker, list[tuple[str, str, str]], list[Any]]:
    updates: list[tuple[str, str, str]] = []
    fills: list[Any] = []
    t = OrderTracker(lambda o, src: updates.append((o.client_oid, o.status, src)), fills.append)
    return t, updates, fills


def mine(t: OrderTracker, oid: str = "c1", size: str = "0.01", side: str = "buy") -> Order:
    o = Order(oid, "BTCUSDT", side, "limit", Decimal(size), Decimal("27000.5"))
    t.add(o)
    return o


# ---------------------------------------------------------------------- published messages
def test_docs_orders_push_with_fill_fields():
    t, updates, fills = tracker()
    o = mine(t, "1")
    push = published("bitgetnet_futures_ws_orders.txt")
    for row in push["data"]:
        t.apply_row(row, "ws")
    assert o.order_id == "1" and o.status == "filled"
    assert o.filled_size == Decimal("0.01") and o.avg_price == Decimal("27000.5")
    assert len(fills) == 1 and fills[0].fee == Decimal("0.162003") and fills[0].fee_coin == "USDT"
    assert fills[0].price == Decimal("27000.5") and fills[0].side == "buy"
    assert o.fee == Decimal("0.162003")


def test_docs_fill_push_and_rest_fills_deduplicate_and_book_deducted_fees():
    t, _, fills = tracker()
    push = published("bitgetnet_futures_ws_fill.txt")
    for row in push["data"]:
        t.apply_fill(row, "ws")
        t.apply_fill(row, "reconcile")   # the same fill from REST after a reconnect
    assert len(fills) == 1 and t.counters["duplicate_fills"] == 1
    f = fills[0]
    assert (f.trade_id, f.order_id, f.symbol, f.side) == ("222", "111", "BTCUSDT", "buy")
    assert f.fee == Decimal("0.183717") and not f.maker
    rest = published("bitgetnet_futures_rest_fills.txt")["data"]["fillList"][0]
    f2 = t.apply_fill(rest, "reconcile")
    assert f2 is not None and f2.symbol == "ETHUSDT"          # docs send "ethusdt"
    assert f2.fee == Decimal("0.017118519726") and f2.fee_coin == "BGB"   # deduction: yes
    assert f2.realized_pnl == Decimal("102")


def test_both_sides_of_a_self_trade_are_fills_of_their_own_orders():
    # Our buy matched our own resting sell: one match, one tradeId, two fills (maker and
    # taker fee). Deduplicating by tradeId alone dropped the second side.
    t, _, fills = tracker()
    sell, buy = mine(t, "s1", side="sell"), mine(t, "b1")
    t.set_order_id(sell, "11")
    t.set_order_id(buy, "12")
    maker = {"tradeId": "t9", "orderId": "11", "clientOid": "s1", "price": "27000.5",
             "baseVolume": "0.01", "side": "sell", "tradeScope": "maker",
             "feeDetail": [{"feeCoin": "USDT", "totalFee": "-0.054"}]}
    taker = {**maker, "orderId": "12", "clientOid": "b1", "side": "buy", "tradeScope": "taker",
             "feeDetail": [{"feeCoin": "USDT", "totalFee": "-0.162"}]}
    for row in (maker, taker, maker, taker):    # each side from the stream, then from REST
        t.apply_fill(row, "ws")
    assert len(fills) == 2 and t.counters["duplicate_fills"] == 2
    assert sell.status == buy.status == "filled"
    assert (sell.fee, buy.fee) == (Decimal("0.054"), Decimal("0.162"))
    assert sell.fills["t9"].maker and not buy.fills["t9"].maker


def test_real_one_way_orders_push():
    t, _, _ = tracker()
    raw = (FIX / "real" / "ccxt_issue25524_ws_usdt_futures_orders_oneway_live.json").read_text()
    push = json.loads(raw)
    o = t.apply_row(push["data"][0], "ws")
    assert o is not None and o.status == "live" and o.symbol == "LTCUSDT"
    assert o.side == "sell" and o.external and o.filled_size == 0


def test_docs_order_detail_state_key():
    t, _, _ = tracker()
    row = published("bitgetnet_futures_rest_order_detail.txt")["data"]
    o = mine(t, row["clientOid"], size=row["size"])
    t.apply_row(row, "reconcile")
    assert o.status == row["state"] and o.filled_size == Decimal(row["baseVolume"])


def test_docs_positions_and_balances():
    acc = AccountState()
    push = published("bitgetnet_futures_ws_positions.txt")
    acc.apply_positions(push["data"], "ws")
    assert acc.positions, push
    (sym, side), p = next(iter(acc.positions.items()))
    row = push["data"][0]
    assert p.size == Decimal(row["total"]) and p.leverage == Decimal(str(row["leverage"]))
    assert p.avg_entry_price == Decimal(row["openPriceAvg"])
    rest = published("bitgetnet_futures_rest_all_position.txt")["data"]
    q = position_from_row(rest[0])
    assert q.hold_side in ("long", "short") and q.size == Decimal(rest[0]["total"])
    acc.apply_balances(published("bitgetnet_futures_ws_account.txt")["data"], "ws")
    b = acc.balances["USDT"]
    row = published("bitgetnet_futures_ws_account.txt")["data"][0]
    assert b.equity == Decimal(row["equity"]) and b.available == Decimal(row["available"])
    rrow = published("bitgetnet_futures_rest_accounts.txt")["data"][0]
    rb = balance_from_row(rrow)
    assert rb.equity == Decimal(rrow["accountEquity"]) and rb.locked == Decimal(rrow["locked"])


def test_positions_snapshot_closes_absent_and_counts_rest_drift():
    seen: list[Any] = []
    acc = AccountState(seen.append)
    row = {"instId": "BTCUSDT", "holdSide": "long", "total": "0.1", "openPriceAvg": "100",
           "leverage": "20", "marginMode": "crossed", "posMode": "one_way_mode"}
    acc.apply_positions([row], "reconcile")
    assert acc.counters["drift_corrections"] == 0        # the first REST snapshot seeds
    acc.apply_positions([row], "ws")
    assert len(seen) == 1                                 # no change, no update
    acc.apply_positions([], "ws")                         # closed
    assert not acc.positions and seen[-1].position is None
    acc.apply_positions([row], "reconcile")               # REST shows what the stream missed
    assert acc.counters["drift_corrections"] == 1 and acc.net_position("BTCUSDT") == Decimal("0.1")


def test_a_rest_snapshot_asked_for_before_the_latest_push_is_not_applied():
    # The reply to a reconciliation was computed before a fill whose pushes arrived first:
    # applying it would undo the fill (and no later push would redo it).
    import time

    acc = AccountState()
    long = {"instId": "BTCUSDT", "holdSide": "long", "total": "0.1", "openPriceAvg": "100",
            "leverage": "20", "marginMode": "crossed"}
    asked = time.monotonic()
    acc.apply_positions([long], "ws")                              # the fill's push
    acc.apply_balances([{"marginCoin": "USDT", "available": "90", "accountEquity": "100"}], "ws")
    acc.apply_positions([], "reconcile", asked_at=asked)           # flat: from before the fill
    acc.apply_balances([{"marginCoin": "USDT", "available": "100", "accountEquity": "100"},
                        {"marginCoin": "USDC", "available": "5", "accountEquity": "5"}],
                       "reconcile", asked_at=asked)
    assert acc.net_position("BTCUSDT") == Decimal("0.1")
    assert acc.balances["USDT"].available == 90 and acc.balances["USDC"].available == 5
    assert acc.counters["stale_snapshots"] == 2
    later = time.monotonic()                                       # asked after the pushes
    acc.apply_positions([], "reconcile", asked_at=later)
    acc.apply_balances([{"marginCoin": "USDT", "available": "100", "accountEquity": "100"}],
                       "reconcile", asked_at=later)
    assert not acc.positions and acc.balances["USDT"].available == 100


# ---------------------------------------------------------------------- state machine
def test_stream_before_rest_reply_never_goes_back():
    t, updates, _ = tracker()
    o = mine(t)
    t.apply_row({"clientOid": "c1", "orderId": "9", "status": "filled", "accBaseVolume": "0.01"}, "ws")
    assert o.status == "filled"
    assert not t.set_status(o, "live", "rest")            # the REST ack arrives late
    t.apply_row({"clientOid": "c1", "orderId": "9", "status": "live", "accBaseVolume": "0"}, "ws")
    assert o.status == "filled" and o.filled_size == Decimal("0.01")
    assert t.counters["stale_updates"] == 2


def test_reordered_partial_fills():
    t, _, _ = tracker()
    o = mine(t, size="0.03")
    t.apply_row({"clientOid": "c1", "orderId": "9", "status": "partially_filled",
                 "accBaseVolume": "0.02"}, "ws")
    t.apply_row({"clientOid": "c1", "orderId": "9", "status": "partially_filled",
                 "accBaseVolume": "0.01"}, "ws")          # older, late
    assert o.filled_size == Decimal("0.02") and o.status == "partially_filled"


def test_fills_before_the_order_push_and_unknown_orders_become_placeholders():
    t, _, fills = tracker()
    o = mine(t, size="0.02")
    t.set_order_id(o, "9")
    t.apply_fill({"tradeId": "t1", "orderId": "9", "price": "10", "baseVolume": "0.02",
                  "side": "buy", "feeDetail": [{"feeCoin": "USDT", "totalFee": "-0.01"}]}, "ws")
    assert o.status == "filled" and o.avg_price == Decimal("10") and o.fee == Decimal("0.01")
    # a fill of an order we never saw, from REST (no clientOid): a placeholder...
    t.apply_fill({"tradeId": "t2", "orderId": "77", "symbol": "ethusdt", "price": "5",
                  "baseVolume": "1", "side": "sell"}, "reconcile")
    (ph,) = t.placeholders()
    assert ph.client_oid == "ext-77" and ph.symbol == "ETHUSDT" and ph.filled_size == 1
    # ...until a push or query names it
    t.apply_row({"orderId": "77", "clientOid": "other-session-1", "status": "filled",
                 "accBaseVolume": "1", "size": "1", "instId": "ETHUSDT"}, "reconcile")
    assert not t.placeholders() and t["other-session-1"] is ph
    assert ph.fills["t2"].client_oid == "other-session-1"


def test_a_placeholder_made_from_a_partial_fill_is_not_filled():
    # An order of another session first seen through a fill: its size is not the fill's.
    # Taking it so made the first partial fill "filled" (final): the order push saying
    # partially_filled, 0.01 of 0.05, could no longer correct it.
    t, _, _ = tracker()
    t.apply_fill({"tradeId": "t1", "orderId": "77", "symbol": "BTCUSDT", "price": "10",
                  "baseVolume": "0.01", "side": "buy"}, "reconcile")
    ph = t.by_order_id("77")
    assert ph is not None and ph.status == "partially_filled" and ph.size == 0
    t.apply_row({"orderId": "77", "clientOid": "web-1", "status": "partially_filled",
                 "accBaseVolume": "0.01", "size": "0.05", "price": "9.5", "instId": "BTCUSDT",
                 "side": "buy"}, "ws")
    assert ph.client_oid == "web-1" and ph.size == Decimal("0.05") and ph.price == Decimal("9.5")
    assert ph.status == "partially_filled" and ph.remaining_size == Decimal("0.04")
    t.apply_fill({"tradeId": "t2", "orderId": "77", "clientOid": "web-1", "price": "9.5",
                  "baseVolume": "0.04", "side": "buy"}, "ws")
    assert ph.status == "filled" and ph.filled_size == Decimal("0.05")


@pytest.mark.parametrize("named_by", ["query", "ack"])
def test_a_placeholder_of_our_own_order_is_absorbed_when_its_order_id_is_known(named_by):
    # Our order's reply was lost and the stream was down: reconciliation read its fills
    # from REST (rows without clientOid) before we knew its orderId. The placeholder made
    # for them stayed beside our order for good, holding the fills and the fee.
    t, updates, fills = tracker()
    o = mine(t, "c1", size="0.02")
    for tid in ("t1", "t2"):
        t.apply_fill({"tradeId": tid, "orderId": "9", "symbol": "BTCUSDT", "price": "10",
                      "baseVolume": "0.01", "side": "buy",
                      "feeDetail": [{"feeCoin": "USDT", "totalFee": "-0.01"}]}, "reconcile")
    assert [p.client_oid for p in t.placeholders()] == ["ext-9"]
    if named_by == "query":   # the lookup by clientOid (or a push) names the orderId
        t.apply_row({"clientOid": "c1", "orderId": "9", "state": "filled", "baseVolume": "0.02",
                     "size": "0.02", "symbol": "BTCUSDT"}, "reconcile")
    else:                     # a late REST ack
        t.set_order_id(o, "9")
    assert not t.placeholders() and list(t) == ["c1"] and t.by_order_id("9") is o
    assert o.status == "filled" and o.filled_size == Decimal("0.02")
    assert set(o.fills) == {"t1", "t2"} and o.fee == Decimal("0.02")
    assert all(f.client_oid == "c1" for f in o.fills.values())
    assert len(fills) == 2     # delivered once, when they arrived
    t.apply_fill({"tradeId": "t1", "orderId": "9", "clientOid": "c1", "price": "10",
                  "baseVolume": "0.01"}, "ws")
    assert t.counters["duplicate_fills"] == 1 and o.fee == Decimal("0.02")


def test_rejected_is_revived_by_the_exchange_and_unknown_resolves():
    t, updates, _ = tracker()
    o = mine(t)
    t.set_status(o, "rejected", "rest", error=InsufficientFundsError("43012", "no"))
    t.apply_row({"clientOid": "c1", "orderId": "9", "status": "live"}, "ws")
    assert o.status == "live" and o.error is None and t.counters["revived"] == 1
    o2 = mine(t, "c2")
    t.set_status(o2, "unknown", "rest")
    assert not t.set_status(o2, "pending_new", "rest")
    t.apply_row({"clientOid": "c2", "orderId": "10", "status": "canceled",
                 "cancelReason": "post_only_cancel"}, "reconcile")
    assert o2.status == "canceled" and o2.cancel_reason == "post_only_cancel"
    assert not t.set_status(o2, "unknown", "rest")
    assert [u[1] for u in updates] == ["rejected", "live", "unknown", "canceled"]


def test_malformed_numbers_raise_protocol_error():
    t, _, _ = tracker()
    mine(t)
    with pytest.raises(ProtocolError):
        t.apply_row({"clientOid": "c1", "status": "live", "accBaseVolume": "1e"}, "ws")


def test_client_oids_unique_short_and_plain():
    ids = {new_client_oid() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) <= 32 and re.fullmatch(r"[a-z0-9]+", i) for i in ids)


def test_done_orders_are_forgotten_beyond_the_cap():
    t = OrderTracker(max_done=10)
    for i in range(30):
        o = mine(t, f"c{i}")
        t.set_status(o, "canceled", "ws")
    assert len(t) <= 20
    live = mine(t, "keep")
    t.set_status(live, "live", "ws")
    for i in range(30, 60):
        t.set_status(mine(t, f"c{i}"), "canceled", "ws")
    assert "keep" in t
