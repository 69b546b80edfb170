"""The simulator's matching engine and account arithmetic, over real loopback sockets.

Every test starts its own ``Simulator`` with empty books and no background flow, trades
between a maker account and a taker account over signed REST, and reads the results back
over REST and the private WebSocket. Every expected number is worked out by hand below
(in comments and Decimal literals) from the contract's published fee rates
(BTCUSDT/ETHUSDT/SOLUSDT: maker 0.0002, taker 0.0006; checked against
``/api/v2/mix/market/contracts`` in ``test_contracts_publish_the_rates_these_tests_use``)
and the account model of ``bitget_fast/sim/engine.py``:

* fee = fill notional x rate, charged to the wallet at the fill;
* realized PnL = (exit - entry) x size (long) / (entry - exit) x size (short);
* position margin = size x entry / leverage; ``locked`` = open size x limit price / leverage
  of resting opening orders;
* available = wallet + crossed uPnL - position margins - locked; equity = wallet + uPnL;
* an opening order needs notional / leverage + notional x 0.0006 <= available (else 40762).
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from bitget_fast.auth import Credentials
from bitget_fast.sim import Simulator
from bitget_fast.sim.contracts import ContractSpec

PT = "USDT-FUTURES"
V2 = "/api/v2/mix/"
PLACE = V2 + "order/place-order"
CANCEL = V2 + "order/cancel-order"
ACCOUNTS = V2 + "account/accounts"
POSITIONS = V2 + "position/all-position"
DETAIL = V2 + "order/detail"
PENDING = V2 + "order/orders-pending"
HISTORY = V2 + "order/orders-history"
FILLS = V2 + "order/fills"
BILL = V2 + "account/bill"
SET_POS_MODE = V2 + "account/set-position-mode"
SET_MARGIN_MODE = V2 + "account/set-margin-mode"
SET_LEVERAGE = V2 + "account/set-leverage"

# The published rates of every default contract (asserted against the contracts endpoint).
MAKER_FEE = Decimal("0.0002")
TAKER_FEE = Decimal("0.0006")

MAKER = ("mk_key_0001", "maker-secret-0123456789", "MakerPass1")
TAKER = ("tk_key_0002", "taker-secret-9876543210", "TakerPass2")
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
MODES = ["one_way_mode", "hedge_mode"]
TIMEOUT = 10.0


def D(v: Any) -> Decimal:
    return Decimal(str(v))


def ok(r: Any) -> Any:
    """The data of a successful reply."""
    assert r.status == 200 and r.json["code"] == "00000", r
    return r.data


def err(r: Any, code: str, status: int = 400) -> None:
    """An error reply: HTTP status, Bitget code, and data null (DECISIONS §5)."""
    assert r.status == status, r
    assert r.json["code"] == code, r
    assert r.json["data"] is None, r
    assert r.json["msg"], r


def money(row: dict[str, Any], **want: Any) -> None:
    """Compare money fields numerically (REST shows 8 decimals, pushes shortest form)."""
    got = {k: D(row[k]) for k in want}
    assert got == {k: D(v) for k, v in want.items()}, row


class Env:
    """One simulator with a maker and a taker account, their REST clients and WS clients."""

    def __init__(self, h: Any, *, mode: str = "one_way_mode", taker_usdt: Any = 10_000,
                 maker_usdt: Any = 1_000_000, contracts: list[ContractSpec] | None = None) -> None:
        self.h = h
        self.mode = mode
        self.hedge = mode == "hedge_mode"
        self.taker_usdt = taker_usdt
        self.maker_usdt = maker_usdt
        self.contracts = contracts
        self.wss: list[Any] = []
        self.rests: list[Any] = []

    async def __aenter__(self) -> "Env":
        kw: dict[str, Any] = {"contracts": self.contracts} if self.contracts else {}
        self.sim = Simulator(symbols=SYMBOLS, seed=1, flow_rate=0, book_depth=0,
                             enforce_rate_limits=False, **kw)
        await self.sim.start()
        try:
            self.sim.add_account(*MAKER, usdt=self.maker_usdt)
            self.sim.add_account(*TAKER, usdt=self.taker_usdt)
            self.mk = self.rest(Credentials(*MAKER))
            self.tk = self.rest(Credentials(*TAKER))
            if self.hedge:
                for r in (self.mk, self.tk):
                    assert ok(await self.set_mode(r, "hedge_mode")) == {"posMode": "hedge_mode"}
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for ws in self.wss:
            await ws.close()
        for r in self.rests:
            await r.close()
        await self.sim.close()

    def rest(self, creds: Credentials) -> Any:
        r = self.h.Rest(self.sim, creds)
        self.rests.append(r)
        return r

    # ------------------------------------------------------------------ orders
    def order(self, side: str, size: str, price: str | None = None, *, symbol: str = "BTCUSDT",
              force: str | None = None, close: bool = False, oid: str | None = None,
              margin: str = "crossed", **extra: Any) -> dict[str, Any]:
        """A place-order body; ``side`` is the execution direction in both modes.

        ``close=True``: one-way sends reduceOnly=YES; hedge sends tradeSide=close with
        Bitget's side rule (close long executes a sell but is sent as side=buy).
        """
        body: dict[str, Any] = {"symbol": symbol, "productType": PT, "marginMode": margin,
                                "marginCoin": "USDT", "size": size, "side": side,
                                "orderType": "limit" if price is not None else "market"}
        if price is not None:
            body["price"] = price
        if force:
            body["force"] = force
        if oid:
            body["clientOid"] = oid
        if self.hedge:
            body["tradeSide"] = "close" if close else "open"
            if close:
                body["side"] = "buy" if side == "sell" else "sell"
        elif close:
            body["reduceOnly"] = "YES"
        body.update(extra)
        return body

    async def place(self, rest: Any, *a: Any, **kw: Any) -> Any:
        return await rest.post(PLACE, self.order(*a, **kw))

    async def placed(self, rest: Any, *a: Any, **kw: Any) -> str:
        """Place and return the orderId (the request must succeed)."""
        data = ok(await self.place(rest, *a, **kw))
        assert data["orderId"]
        return data["orderId"]

    async def cancel(self, rest: Any, symbol: str = "BTCUSDT", **ids: str) -> Any:
        return await rest.post(CANCEL, {"symbol": symbol, "productType": PT, **ids})

    async def set_mode(self, rest: Any, mode: str) -> Any:
        return await rest.post(SET_POS_MODE, {"productType": PT, "posMode": mode})

    # ------------------------------------------------------------------ reads
    async def account(self, rest: Any) -> dict[str, Any]:
        rows = ok(await rest.get(ACCOUNTS, {"productType": PT}))
        assert len(rows) == 1 and rows[0]["marginCoin"] == "USDT"
        return rows[0]

    async def positions(self, rest: Any) -> dict[tuple[str, str], dict[str, Any]]:
        rows = ok(await rest.get(POSITIONS, {"productType": PT, "marginCoin": "USDT"}))
        out = {(r["symbol"], r["holdSide"]): r for r in rows}
        assert len(out) == len(rows)
        return out

    async def detail(self, rest: Any, order_id: str | None = None, symbol: str = "BTCUSDT",
                     client_oid: str | None = None) -> dict[str, Any]:
        q = {"symbol": symbol, "productType": PT}
        if order_id:
            q["orderId"] = order_id
        if client_oid:
            q["clientOid"] = client_oid
        return ok(await rest.get(DETAIL, q))

    async def _list(self, rest: Any, path: str, key: str,
                    q: dict[str, Any]) -> tuple[list[Any], Any]:
        data = ok(await rest.get(path, {"productType": PT, **q}))
        return data[key] or [], data["endId"]

    async def pending(self, rest: Any, **q: Any) -> list[dict[str, Any]]:
        return (await self._list(rest, PENDING, "entrustedList", q))[0]

    async def history(self, rest: Any, **q: Any) -> list[dict[str, Any]]:
        return (await self._list(rest, HISTORY, "entrustedList", q))[0]

    async def fills(self, rest: Any, **q: Any) -> list[dict[str, Any]]:
        return (await self._list(rest, FILLS, "fillList", q))[0]

    async def bills(self, rest: Any, **q: Any) -> list[dict[str, Any]]:
        return (await self._list(rest, BILL, "bills", q))[0]

    async def book(self, symbol: str = "BTCUSDT") -> tuple[list[tuple[Decimal, Decimal]], ...]:
        r = await self.tk.get(V2 + "market/merge-depth", {"symbol": symbol, "productType": PT})
        ok(r)
        data = json.loads(r.body, parse_float=Decimal)["data"]
        return ([(D(p), D(s)) for p, s in data["bids"]], [(D(p), D(s)) for p, s in data["asks"]])

    # ------------------------------------------------------------------ private WebSocket
    async def private_ws(self, who: tuple[str, str, str] = TAKER) -> Any:
        """Logged in, subscribed to orders/fill/positions/account, initial snapshots read."""
        ws = await self.h.Ws.connect(self.sim.ws_private_url)
        self.wss.append(ws)
        login = await ws.login(Credentials(*who))
        assert login == {"event": "login", "code": 0, "msg": ""}, login
        pa = self.h.priv_arg
        await ws.subscribe(pa("orders"), pa("fill"), pa("positions"), pa("account"))
        first = [await ws.recv_json() for _ in range(6)]
        assert sorted(m.get("event", m.get("action")) for m in first) == \
            ["snapshot", "snapshot", "subscribe", "subscribe", "subscribe", "subscribe"], first
        ws.snapshots = {m["arg"]["channel"]: m["data"] for m in first if "action" in m}
        return ws


async def take(ws: Any, n: int) -> list[dict[str, Any]]:
    """Exactly ``n`` pushes, then nothing more for a moment."""
    msgs = [await ws.recv_json(2.0) for _ in range(n)]
    assert await drain(ws) == [], msgs
    return msgs


async def drain(ws: Any, quiet: float = 0.1) -> list[dict[str, Any]]:
    """Every push that arrives until ``quiet`` seconds pass without one."""
    out = []
    while True:
        try:
            out.append(await ws.recv_json(quiet))
        except asyncio.TimeoutError:
            return out


def channels(msgs: list[dict[str, Any]]) -> list[str]:
    return [m["arg"]["channel"] for m in msgs]


# ====================================================================== order types


@pytest.mark.parametrize("mode", MODES)
def test_limit_gtc_rests_then_fills_maker_and_taker_fees(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            ask = await e.placed(e.mk, "sell", "0.1", "60000", oid="mk-1")
            rows = await e.pending(e.mk)
            assert [r["orderId"] for r in rows] == [ask]
            r = rows[0]
            assert (r["status"], r["clientOid"], r["side"], r["force"], r["orderType"]) == \
                ("live", "mk-1", "sell", "gtc", "limit")
            assert (r["posSide"], r["tradeSide"]) == (
                ("short", "open") if e.hedge else ("net", "sell_single"))
            assert (D(r["price"]), D(r["size"]), D(r["baseVolume"]), r["priceAvg"]) == \
                (60000, D("0.1"), 0, "")
            d = await e.detail(e.mk, ask)
            assert d["state"] == "live" and d["posMode"] == mode
            # locked = 0.1 x 60000 / 20 = 300; available = 1_000_000 - 300
            money(await e.account(e.mk), locked=300, available=999_700, accountEquity=1_000_000,
                  crossedMargin=0)
            assert await e.book() == ([], [(60000, D("0.1"))])

            bid = await e.placed(e.tk, "buy", "0.1", "60000", oid="tk-1")
            # notional 0.1 x 60000 = 6000: maker fee 6000 x 0.0002 = 1.2, taker 6000 x 0.0006 = 3.6
            assert 6000 * MAKER_FEE == D("1.2") and 6000 * TAKER_FEE == D("3.6")
            dm = await e.detail(e.mk, ask)
            assert dm["state"] == "filled"
            assert (D(dm["baseVolume"]), D(dm["priceAvg"]), D(dm["quoteVolume"]), D(dm["fee"])) == \
                (D("0.1"), 60000, 6000, D("-1.2"))
            dt = await e.detail(e.tk, bid)
            assert dt["state"] == "filled" and D(dt["fee"]) == D("-3.6")
            assert D(dt["priceAvg"]) == 60000 and dt["clientOid"] == "tk-1"
            assert await e.pending(e.mk) == [] and await e.pending(e.tk) == []
            assert [o["orderId"] for o in await e.history(e.mk)] == [ask]
            assert await e.book() == ([], [])

            # taker: wallet 10000 - 3.6 = 9996.4; margin 300; mark 60000 -> uPnL 0
            money(await e.account(e.tk), accountEquity="9996.4", available="9696.4", locked=0,
                  crossedMargin=300, unrealizedPL=0)
            # maker: wallet 1_000_000 - 1.2; margin 300
            money(await e.account(e.mk), accountEquity="999998.8", available="999698.8",
                  locked=0, crossedMargin=300)
            pt = await e.positions(e.tk)
            assert list(pt) == [("BTCUSDT", "long")]
            p = pt["BTCUSDT", "long"]
            assert (D(p["total"]), D(p["available"]), D(p["openPriceAvg"]), p["leverage"],
                    p["marginMode"], p["posMode"]) == \
                (D("0.1"), D("0.1"), 60000, "20", "crossed", mode)
            money(p, marginSize=300, unrealizedPL=0, achievedProfits=0, deductedFee="3.6")
            assert list(await e.positions(e.mk)) == [("BTCUSDT", "short")]

            [ft] = await e.fills(e.tk)
            [fm] = await e.fills(e.mk)
            assert ft["tradeId"] == fm["tradeId"]
            assert (ft["side"], ft["tradeScope"], D(ft["price"]), D(ft["baseVolume"]),
                    D(ft["quoteVolume"]), D(ft["feeDetail"][0]["totalFee"])) == \
                ("buy", "taker", 60000, D("0.1"), 6000, D("-3.6"))
            assert (fm["side"], fm["tradeScope"], D(fm["feeDetail"][0]["totalFee"])) == \
                ("sell", "maker", D("-1.2"))
    body()


@pytest.mark.parametrize("mode", MODES)
def test_market_order_sweeps_levels_at_the_size_weighted_average(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            a1 = await e.placed(e.mk, "sell", "0.1", "60000")
            a2 = await e.placed(e.mk, "sell", "0.2", "60010")
            a3 = await e.placed(e.mk, "sell", "0.3", "60020")
            mo = await e.placed(e.tk, "buy", "0.5")
            fills = await e.fills(e.tk, orderId=mo)
            # newest first: 0.2 @ 60020 (partial of the 0.3 ask), 0.2 @ 60010, 0.1 @ 60000
            assert [(D(f["price"]), D(f["baseVolume"])) for f in fills] == \
                [(60020, D("0.2")), (60010, D("0.2")), (60000, D("0.1"))]
            assert all(f["tradeScope"] == "taker" and f["side"] == "buy" for f in fills)
            d = await e.detail(e.tk, mo)
            # quote = 6000 + 12002 + 12004 = 30006; avg = 30006 / 0.5 = 60012
            # fee = 30006 x 0.0006 = 18.0036
            assert 30006 * TAKER_FEE == D("18.0036")
            assert (d["state"], d["orderType"], D(d["price"]), D(d["baseVolume"]),
                    D(d["priceAvg"]), D(d["quoteVolume"]), D(d["fee"])) == \
                ("filled", "market", 0, D("0.5"), 60012, 30006, D("-18.0036"))
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            # margin 30006 / 20 = 1500.3; uPnL at mark 60000: (60000 - 60012) x 0.5 = -6
            assert (D(p["total"]), D(p["openPriceAvg"])) == (D("0.5"), 60012)
            money(p, marginSize="1500.3", unrealizedPL=-6)
            # wallet 10000 - 18.0036 = 9981.9964; equity 9975.9964; available - 6 - 1500.3
            money(await e.account(e.tk), accountEquity="9975.9964", available="8475.6964",
                  crossedMargin="1500.3", unrealizedPL=-6)
            assert await e.book() == ([], [(60020, D("0.1"))])
            assert (await e.detail(e.mk, a1))["state"] == "filled"
            assert (await e.detail(e.mk, a2))["state"] == "filled"
            d3 = await e.detail(e.mk, a3)
            assert (d3["state"], D(d3["baseVolume"])) == ("partially_filled", D("0.2"))
            [pend] = await e.pending(e.mk, status="partially_filled")
            assert pend["orderId"] == a3 and pend["status"] == "partially_filled"
            # maker: 3 fills at maker rate: 30006 x 0.0002 = 6.0012; locked 0.1 x 60020 / 20 = 300.1
            money(await e.account(e.mk), locked="300.1", crossedMargin="1500.3",
                  accountEquity=D(1_000_000) - D("6.0012") + 6)
            pub = ok(await e.tk.get(V2 + "market/fills", {"symbol": "BTCUSDT", "productType": PT}))
            assert [(D(t["price"]), D(t["size"]), t["side"]) for t in pub] == \
                [(60020, D("0.2"), "buy"), (60010, D("0.2"), "buy"), (60000, D("0.1"), "buy")]
    body()


@pytest.mark.parametrize("mode", MODES)
def test_post_only_that_would_cross_is_accepted_then_canceled(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            ask = await e.placed(e.mk, "sell", "0.1", "60000")
            ws = await e.private_ws()
            r = await e.place(e.tk, "buy", "0.1", "60000", force="post_only", oid="po-1")
            assert r.status == 200 and r.code == "00000"
            oid = r.data["orderId"]
            assert oid and r.data["clientOid"] == "po-1"
            msgs = await take(ws, 3)
            assert channels(msgs) == ["orders", "orders", "account"]
            live, canceled = msgs[0]["data"][0], msgs[1]["data"][0]
            assert (live["orderId"], live["status"], live["force"]) == (oid, "live", "post_only")
            assert (canceled["orderId"], canceled["status"], D(canceled["accBaseVolume"])) == \
                (oid, "canceled", 0)
            assert canceled["cancelReason"] not in ("", None)
            assert "tradeId" not in canceled
            money(msgs[2]["data"][0], available=10_000, frozen=0, equity=10_000)
            d = await e.detail(e.tk, oid)
            assert (d["state"], D(d["baseVolume"]), D(d["fee"])) == ("canceled", 0, 0)
            assert await e.fills(e.tk) == [] and await e.positions(e.tk) == {}
            money(await e.account(e.tk), available=10_000, locked=0, accountEquity=10_000)
            # the maker's ask was not touched
            assert (await e.detail(e.mk, ask))["state"] == "live"
            assert await e.book() == ([], [(60000, D("0.1"))])
            # the bid side is empty, so a post_only sell at the ask price rests behind it
            joined = await e.placed(e.mk, "sell", "0.1", "60000", force="post_only")
            assert (await e.detail(e.mk, joined))["state"] == "live"
            assert await e.book() == ([], [(60000, D("0.2"))])
    body()


@pytest.mark.parametrize("mode", MODES)
def test_post_only_that_does_not_cross_rests_and_fills_as_maker(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            po = await e.placed(e.tk, "buy", "0.1", "59990", force="post_only")
            [row] = await e.pending(e.tk)
            assert (row["orderId"], row["status"], row["force"]) == (po, "live", "post_only")
            # locked 0.1 x 59990 / 20 = 299.95
            money(await e.account(e.tk), locked="299.95", available="9700.05")
            assert await e.book() == ([(59990, D("0.1"))], [(60000, D("0.1"))])
            await e.placed(e.mk, "sell", "0.1")        # market sell hits the post-only bid
            d = await e.detail(e.tk, po)
            assert (d["state"], D(d["priceAvg"])) == ("filled", 59990)
            # maker fee 5999 x 0.0002 = 1.1998
            assert D(d["fee"]) == -5999 * MAKER_FEE == D("-1.1998")
            [f] = await e.fills(e.tk)
            assert f["tradeScope"] == "maker"
            # wallet 10000 - 1.1998 = 9998.8002; margin 299.95; uPnL (60000 - 59990) x 0.1 = 1
            money(await e.account(e.tk), locked=0, crossedMargin="299.95", unrealizedPL=1,
                  accountEquity="9999.8002", available="9699.8502")
    body()


@pytest.mark.parametrize("mode", MODES)
def test_ioc_fills_what_it_can_and_cancels_the_rest(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.mk, "sell", "0.1", "60050")
            ioc = await e.placed(e.tk, "buy", "0.3", "60000", force="ioc")
            d = await e.detail(e.tk, ioc)
            assert (d["state"], d["force"], D(d["size"]), D(d["baseVolume"]), D(d["priceAvg"]),
                    D(d["fee"])) == ("canceled", "ioc", D("0.3"), D("0.1"), 60000, D("-3.6"))
            assert await e.pending(e.tk) == []
            assert [o["orderId"] for o in await e.history(e.tk)] == [ioc]
            assert await e.book() == ([], [(60050, D("0.1"))])
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            assert D(p["total"]) == D("0.1")
            # nothing rests: locked 0; wallet 10000 - 3.6; margin 300
            money(await e.account(e.tk), locked=0, crossedMargin=300, available="9696.4")
    body()


@pytest.mark.parametrize("mode", MODES)
def test_fok_all_or_nothing(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.mk, "sell", "0.1", "60010")
            # 0.3 wanted, 0.2 available up to 60010; 0.2 wanted but only 0.1 up to 60000
            for size, price in (("0.3", "60010"), ("0.2", "60000")):
                fok = await e.placed(e.tk, "buy", size, price, force="fok")
                d = await e.detail(e.tk, fok)
                assert (d["state"], D(d["baseVolume"]), D(d["fee"])) == ("canceled", 0, 0)
            assert await e.fills(e.tk) == [] and await e.positions(e.tk) == {}
            assert await e.book() == ([], [(60000, D("0.1")), (60010, D("0.1"))])
            money(await e.account(e.tk), available=10_000, accountEquity=10_000, locked=0)

            fok = await e.placed(e.tk, "buy", "0.2", "60010", force="fok")
            d = await e.detail(e.tk, fok)
            # avg (6000 + 6001) / 0.2 = 60005; fee 12001 x 0.0006 = 7.2006
            assert (d["state"], D(d["baseVolume"]), D(d["priceAvg"]), D(d["fee"])) == \
                ("filled", D("0.2"), 60005, -12001 * TAKER_FEE)
            assert await e.book() == ([], [])
    body()


@pytest.mark.parametrize("mode", MODES)
def test_partial_fill_rests_then_completes_with_exact_average(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.mk, "sell", "0.1", "60010")
            ws = await e.private_ws()
            oid = await e.placed(e.tk, "buy", "0.5", "60010", oid="part-1")
            msgs = await take(ws, 7)
            assert channels(msgs) == ["orders", "orders", "fill", "orders", "fill", "positions",
                                      "account"]
            o1, o2, o3 = (msgs[i]["data"][0] for i in (0, 1, 3))
            assert (o1["status"], D(o1["accBaseVolume"])) == ("live", 0)
            assert (o2["status"], D(o2["accBaseVolume"]), D(o2["fillPrice"]), D(o2["baseVolume"])) \
                == ("partially_filled", D("0.1"), 60000, D("0.1"))
            assert (o3["status"], D(o3["accBaseVolume"]), D(o3["fillPrice"]), D(o3["priceAvg"])) \
                == ("partially_filled", D("0.2"), 60010, 60005)
            assert o2["tradeId"] != o3["tradeId"]
            # per-fill fees: 6000 x 0.0006 = 3.6 and 6001 x 0.0006 = 3.6006
            assert (D(o2["fillFee"]), D(o3["fillFee"])) == (D("-3.6"), D("-3.6006"))

            d = await e.detail(e.tk, oid)
            assert (d["state"], D(d["baseVolume"]), D(d["priceAvg"]), D(d["fee"])) == \
                ("partially_filled", D("0.2"), 60005, D("-7.2006"))
            assert [r["orderId"] for r in await e.pending(e.tk, status="partially_filled")] == [oid]
            assert await e.pending(e.tk, status="live") == []
            # locked: 0.3 x 60010 / 20 = 900.15; margin 12001 / 20 = 600.05
            # wallet 10000 - 7.2006 = 9992.7994; uPnL (60000 - 60005) x 0.2 = -1
            # available 9992.7994 - 1 - 600.05 - 900.15 = 8491.5994
            money(await e.account(e.tk), locked="900.15", crossedMargin="600.05",
                  unrealizedPL=-1, accountEquity="9991.7994", available="8491.5994")
            assert await e.book() == ([(60010, D("0.3"))], [])

            await e.placed(e.mk, "sell", "0.3")          # the rest fills as maker at 60010
            d = await e.detail(e.tk, oid)
            # avg (6000 + 6001 + 18003) / 0.5 = 60008; fee 7.2006 + 18003 x 0.0002 (3.6006)
            assert (d["state"], D(d["baseVolume"]), D(d["priceAvg"]), D(d["fee"])) == \
                ("filled", D("0.5"), 60008, D("-10.8012"))
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            assert (D(p["total"]), D(p["openPriceAvg"])) == (D("0.5"), 60008)
            msgs = await take(ws, 4)
            assert channels(msgs) == ["orders", "fill", "positions", "account"]
            last = msgs[0]["data"][0]
            assert (last["status"], last["tradeScope"], D(last["fillFee"]),
                    D(last["priceAvg"])) == ("filled", "M", D("-3.6006"), 60008)
    body()


# ====================================================================== reduce-only, closes, modes


def test_one_way_reduce_only_cannot_open_and_caps_at_the_position(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            err(await e.place(e.tk, "sell", "0.1", close=True), "45006")
            err(await e.place(e.tk, "buy", "0.1", "59000", close=True), "45006")
            await e.placed(e.mk, "sell", "0.2", "60000")
            await e.placed(e.tk, "buy", "0.2")     # long 0.2 @ 60000, fee 12000 x 0.0006 = 7.2
            # a reduce-only buy would add to the long: there is no short to reduce
            err(await e.place(e.tk, "buy", "0.1", "59000", close=True), "45006")
            assert await e.pending(e.tk) == []

            await e.placed(e.mk, "buy", "0.5", "61000")
            ro = await e.placed(e.tk, "sell", "0.5", close=True)
            d = await e.detail(e.tk, ro)
            # only the position's 0.2 fills: pnl (61000 - 60000) x 0.2 = 200;
            # fee 12200 x 0.0006 = 7.32
            assert (d["state"], d["reduceOnly"], D(d["baseVolume"]), D(d["totalProfits"]),
                    D(d["fee"])) == ("canceled", "YES", D("0.2"), 200, D("-7.32"))
            [f] = await e.fills(e.tk, orderId=ro)
            assert (D(f["baseVolume"]), D(f["profit"]), f["side"]) == (D("0.2"), 200, "sell")
            assert await e.positions(e.tk) == {}
            # wallet 10000 - 7.2 - 7.32 + 200 = 10185.48, nothing held
            money(await e.account(e.tk), accountEquity="10185.48", available="10185.48",
                  crossedMargin=0, locked=0)
            assert await e.book() == ([(61000, D("0.3"))], [])
            err(await e.place(e.tk, "sell", "0.1", close=True), "45006")
    body()


def test_hedge_close_long_and_close_short_execute_the_opposite_side(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode="hedge_mode") as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")             # open long 0.1 @ 60000, fee 3.6
            await e.placed(e.mk, "buy", "0.2", "59900")
            await e.placed(e.tk, "sell", "0.2")    # short 0.2 @ 59900, fee 11980 x 0.0006
            pos = await e.positions(e.tk)
            assert sorted(pos) == [("BTCUSDT", "long"), ("BTCUSDT", "short")]
            assert (D(pos["BTCUSDT", "long"]["openPriceAvg"]),
                    D(pos["BTCUSDT", "short"]["openPriceAvg"])) == (60000, 59900)
            # margins 6000 / 20 + 11980 / 20 = 300 + 599
            money(await e.account(e.tk), crossedMargin=899)

            await e.placed(e.mk, "buy", "0.1", "61000")
            body_ = e.order("sell", "0.1", close=True)
            assert (body_["side"], body_["tradeSide"]) == ("buy", "close")   # Bitget's rule
            cl = ok(await e.tk.post(PLACE, body_))["orderId"]
            d = await e.detail(e.tk, cl)
            assert (d["state"], d["side"], d["tradeSide"], d["posSide"]) == \
                ("filled", "buy", "close", "long")
            # pnl (61000 - 60000) x 0.1 = 100; fee 6100 x 0.0006 = 3.66
            assert (D(d["priceAvg"]), D(d["totalProfits"]), D(d["fee"])) == (61000, 100, D("-3.66"))
            [f] = await e.fills(e.tk, orderId=cl)
            assert (f["side"], f["tradeSide"], D(f["profit"])) == ("sell", "close", 100)
            assert list(await e.positions(e.tk)) == [("BTCUSDT", "short")]

            await e.placed(e.mk, "sell", "0.2", "59000")
            cs = ok(await e.tk.post(PLACE, e.order("buy", "0.2", close=True)))["orderId"]
            d = await e.detail(e.tk, cs)
            assert (d["side"], d["tradeSide"], d["posSide"]) == ("sell", "close", "short")
            # pnl (59900 - 59000) x 0.2 = 180; fee 11800 x 0.0006 = 7.08
            assert (D(d["totalProfits"]), D(d["fee"])) == (180, D("-7.08"))
            [f] = await e.fills(e.tk, orderId=cs)
            assert (f["side"], D(f["profit"])) == ("buy", 180)
            assert await e.positions(e.tk) == {}
            # 10000 - 3.6 - 7.188 - 3.66 - 7.08 + 100 + 180 = 10258.472
            money(await e.account(e.tk), accountEquity="10258.472", available="10258.472")
            bills = await e.bills(e.tk)
            assert [b["businessType"] for b in bills] == \
                ["close_short", "close_long", "open_short", "open_long"]
            assert [(D(b["amount"]), D(b["fee"])) for b in bills] == \
                [(180, D("-7.08")), (100, D("-3.66")), (0, D("-7.188")), (0, D("-3.6"))]
            assert D(bills[0]["balance"]) == D("10258.472")
    body()


def test_hedge_closing_more_than_the_position_is_45006(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode="hedge_mode") as e:
            err(await e.place(e.tk, "sell", "0.1", close=True), "45006")
            err(await e.place(e.tk, "sell", "0.1", "65000", close=True), "45006")
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")
            err(await e.place(e.tk, "sell", "0.2", close=True), "45006")
            err(await e.place(e.tk, "buy", "0.1", close=True), "45006")      # no short to close
            tp = await e.placed(e.tk, "sell", "0.1", "65000", close=True)    # rests, freezes 0.1
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            assert (D(p["total"]), D(p["available"]), D(p["locked"])) == (D("0.1"), 0, D("0.1"))
            money(await e.account(e.tk), locked=0)       # a close order locks no margin
            err(await e.place(e.tk, "sell", "0.1", close=True), "45006")
            ok(await e.cancel(e.tk, orderId=tp))
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            assert (D(p["available"]), D(p["locked"])) == (D("0.1"), 0)
            assert len(await e.history(e.tk)) == 2        # the open and the canceled close only
    body()


def test_trade_side_must_match_the_position_mode_40774(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            for ts in ("open", "close"):
                err(await e.tk.post(PLACE, e.order("buy", "0.1", "59000", tradeSide=ts)), "40774")
            ok(await e.set_mode(e.tk, "hedge_mode"))
            e.hedge = True
            no_ts = e.order("buy", "0.1", "59000")
            del no_ts["tradeSide"]
            err(await e.tk.post(PLACE, no_ts), "40774")
            assert await e.pending(e.tk) == [] and await e.history(e.tk) == []
            money(await e.account(e.tk), locked=0, available=10_000)
    body()


def test_position_mode_cannot_switch_with_an_order_or_a_position_40920(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            acct_q = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}
            oid = await e.placed(e.tk, "buy", "0.1", "59000")
            err(await e.set_mode(e.tk, "hedge_mode"), "40920")
            assert ok(await e.tk.get(V2 + "account/account", acct_q))["posMode"] == "one_way_mode"
            ok(await e.cancel(e.tk, orderId=oid))
            assert ok(await e.set_mode(e.tk, "hedge_mode")) == {"posMode": "hedge_mode"}
            assert ok(await e.tk.get(V2 + "account/account", acct_q))["posMode"] == "hedge_mode"
            e.hedge = True
            ok(await e.mk.post(SET_POS_MODE, {"productType": PT, "posMode": "hedge_mode"}))
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")
            err(await e.set_mode(e.tk, "one_way_mode"), "40920")
            # each order keeps the mode it was placed in
            modes = {r["orderId"]: r["posMode"] for r in await e.history(e.tk)}
            assert modes[oid] == "one_way_mode"
            assert sorted(modes.values()) == ["hedge_mode", "one_way_mode"]
    body()


# ====================================================================== fees, PnL, margin


@pytest.mark.parametrize("hold", ["long", "short"])
@pytest.mark.parametrize("mode", MODES)
def test_realized_pnl_on_partial_and_full_close(h, mode, hold):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            opn, shut = ("buy", "sell") if hold == "long" else ("sell", "buy")
            sign = 1 if hold == "long" else -1          # exit 61000 above entry 60000
            await e.placed(e.mk, shut, "0.1", "60000")
            await e.placed(e.tk, opn, "0.1")            # entry 60000, fee 3.6
            await e.placed(e.mk, opn, "0.1", "61000")
            c1 = await e.placed(e.tk, shut, "0.04", close=True)
            # pnl (61000 - 60000) x 0.04 = 40 (long) / -40 (short); fee 2440 x 0.0006 = 1.464
            [f] = await e.fills(e.tk, orderId=c1)
            assert (D(f["profit"]), D(f["feeDetail"][0]["totalFee"])) == (40 * sign, D("-1.464"))
            p = (await e.positions(e.tk))["BTCUSDT", hold]
            # entry unchanged; margin 0.06 x 60000 / 20 = 180
            assert (D(p["total"]), D(p["openPriceAvg"])) == (D("0.06"), 60000)
            money(p, achievedProfits=40 * sign, marginSize=180)
            c2 = await e.placed(e.tk, shut, "0.06", close=True)
            d = await e.detail(e.tk, c2)
            # pnl 60 x sign; fee 3660 x 0.0006 = 2.196
            assert (D(d["totalProfits"]), D(d["fee"])) == (60 * sign, D("-2.196"))
            assert await e.positions(e.tk) == {}
            # 10000 - 3.6 - 1.464 - 2.196 + 100 x sign
            wallet = D(10_000) - D("7.26") + 100 * sign
            money(await e.account(e.tk), accountEquity=wallet, available=wallet, crossedMargin=0)
            bills = await e.bills(e.tk)
            assert [(D(b["amount"]), D(b["fee"])) for b in bills] == \
                [(60 * sign, D("-2.196")), (40 * sign, D("-1.464")), (0, D("-3.6"))]
            assert D(bills[0]["balance"]) == wallet
            if e.hedge:
                assert [b["businessType"] for b in bills] == \
                    [f"close_{hold}"] * 2 + [f"open_{hold}"]
            else:
                assert [b["businessType"] for b in bills] == [shut, shut, opn]
    body()


@pytest.mark.parametrize("mode", MODES)
def test_average_entry_over_two_opening_fills_and_unrealized_pnl(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")
            await e.placed(e.mk, "sell", "0.3", "60100")
            await e.placed(e.tk, "buy", "0.3")
            pos = await e.positions(e.tk)
            assert list(pos) == [("BTCUSDT", "long")]
            p = pos["BTCUSDT", "long"]
            # entry (6000 + 18030) / 0.4 = 60075; margin 24030 / 20 = 1201.5
            # fees 3.6 + 18030 x 0.0006 (10.818) = 14.418
            assert (D(p["total"]), D(p["openPriceAvg"])) == (D("0.4"), 60075)
            money(p, marginSize="1201.5", deductedFee="14.418", achievedProfits=0)
            e.sim.set_mark_price("BTCUSDT", "60200")
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            # uPnL (60200 - 60075) x 0.4 = 50
            assert D(p["markPrice"]) == 60200
            money(p, unrealizedPL=50)
            # wallet 10000 - 14.418 = 9985.582; equity + 50; available 9985.582 + 50 - 1201.5
            money(await e.account(e.tk), accountEquity="10035.582", available="8834.082",
                  crossedMargin="1201.5", unrealizedPL=50, crossedUnrealizedPL=50)
            e.sim.set_mark_price("BTCUSDT", "59900")
            # uPnL (59900 - 60075) x 0.4 = -70
            money(await e.account(e.tk), accountEquity="9915.582", available="8714.082",
                  unrealizedPL=-70)
    body()


def test_one_way_flip_from_long_to_short_in_one_order(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")             # long 0.1 @ 60000, fee 3.6
            await e.placed(e.mk, "buy", "0.3", "61000")
            flip = await e.placed(e.tk, "sell", "0.3")
            # closes 0.1: pnl (61000 - 60000) x 0.1 = 100; opens short 0.2 @ 61000
            # fee 0.3 x 61000 x 0.0006 = 10.98, of which 2/3 (7.32) belongs to the new short
            d = await e.detail(e.tk, flip)
            assert (d["state"], D(d["totalProfits"]), D(d["fee"])) == ("filled", 100, D("-10.98"))
            [f] = await e.fills(e.tk, orderId=flip)
            assert (D(f["baseVolume"]), D(f["profit"]), f["tradeSide"]) == \
                (D("0.3"), 100, "sell_single")
            pos = await e.positions(e.tk)
            assert list(pos) == [("BTCUSDT", "short")]
            p = pos["BTCUSDT", "short"]
            # margin 12200 / 20 = 610; uPnL at mark 60000: (61000 - 60000) x 0.2 = 200
            assert (D(p["total"]), D(p["openPriceAvg"]), p["posMode"]) == \
                (D("0.2"), 61000, "one_way_mode")
            money(p, marginSize=610, unrealizedPL=200, deductedFee="7.32", achievedProfits=0)
            # wallet 10000 - 3.6 - 10.98 + 100 = 10085.42
            money(await e.account(e.tk), accountEquity="10285.42", available="9675.42",
                  crossedMargin=610, locked=0)
            [b, _] = await e.bills(e.tk)
            assert (b["businessType"], D(b["amount"]), D(b["fee"])) == ("sell", 100, D("-10.98"))
    body()


def test_account_numbers_with_a_position_resting_orders_and_mark_moves(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")              # long 0.1 @ 60000, fee 3.6
            await e.placed(e.tk, "buy", "0.2", "58000")     # locks 0.2 x 58000 / 20 = 580
            # a one-way sell of 0.3 first closes the 0.1 long: only 0.2 opens,
            # locking 0.2 x 62000 / 20 = 620
            await e.placed(e.tk, "sell", "0.3", "62000")
            e.sim.set_mark_price("BTCUSDT", "59000")        # uPnL (59000 - 60000) x 0.1 = -100
            # wallet 9996.4; available 9996.4 - 100 - 300 - 580 - 620 = 8396.4
            row = await e.account(e.tk)
            money(row, locked=1200, crossedMargin=300, unrealizedPL=-100,
                  accountEquity="9896.4", available="8396.4", maxTransferOut="8396.4")
            ws = await e.private_ws()
            money(ws.snapshots["account"][0], frozen=1200, available="8396.4", equity="9896.4",
                  unrealizedPL=-100)
            [p] = ws.snapshots["positions"]
            assert (p["instId"], p["holdSide"], D(p["total"])) == ("BTCUSDT", "long", D("0.1"))
            money(p, unrealizedPL=-100, marginSize=300)
            e.sim.set_mark_price("BTCUSDT", "61500")        # uPnL +150
            money(await e.account(e.tk), accountEquity="10146.4", available="8646.4",
                  unrealizedPL=150)
    body()


@pytest.mark.parametrize("mode", MODES)
def test_insufficient_balance_40762_changes_nothing(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        # an opening order needs notional / 20 + notional x 0.0006 = notional x 0.0506
        # 0.1 @ 60000: 6000 x 0.0506 = 303.6 exactly the balance; 0.1001: 6006 x 0.0506 = 303.9036
        async with Env(h, mode=mode, taker_usdt="303.6") as e:
            await e.placed(e.mk, "sell", "0.2", "61000")
            err(await e.place(e.tk, "buy", "0.1001", "60000", oid="ins-1"), "40762")
            err(await e.place(e.tk, "buy", "0.1"), "40762")      # market at 61000: 308.66
            assert await e.pending(e.tk) == [] and await e.history(e.tk) == []
            money(await e.account(e.tk), available="303.6", locked=0, accountEquity="303.6")
            assert await e.book() == ([], [(61000, D("0.2"))])
            oid = await e.placed(e.tk, "buy", "0.1", "60000", oid="ins-1")   # the id is free
            money(await e.account(e.tk), available="3.6", locked=300)
            # 0.0012 @ 60000: 72 x 0.0506 = 3.6432 > 3.6; 0.0011: 66 x 0.0506 = 3.3396 fits
            err(await e.place(e.tk, "buy", "0.0012", "60000"), "40762")
            assert len(await e.pending(e.tk)) == 1
            await e.placed(e.tk, "buy", "0.0011", "60000")
            money(await e.account(e.tk), available="0.3", locked="303.3")    # 66 / 20 = 3.3
            assert oid in [o["orderId"] for o in await e.pending(e.tk)]
    body()


def test_set_leverage_changes_position_and_order_margin(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            lev_q = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")             # margin 6000 / 20 = 300
            money(await e.account(e.tk), crossedMargin=300, available="9696.4")
            data = ok(await e.tk.post(SET_LEVERAGE, {**lev_q, "leverage": "10"}))
            assert (data["crossMarginLeverage"], data["marginMode"]) == ("10", "crossed")
            p = (await e.positions(e.tk))["BTCUSDT", "long"]
            assert p["leverage"] == "10"
            money(p, marginSize=600)                       # 6000 / 10
            money(await e.account(e.tk), crossedMargin=600, available="9396.4")
            oid = await e.placed(e.tk, "buy", "0.1", "59000")
            assert (await e.detail(e.tk, oid))["leverage"] == "10"
            money(await e.account(e.tk), locked=590, available="8806.4")   # 5900 / 10
            assert ok(await e.tk.get(V2 + "account/account", lev_q))["crossedMarginLeverage"] == 10
            for bad in ("200", "0", "abc"):
                err(await e.tk.post(SET_LEVERAGE, {**lev_q, "leverage": bad}), "40017")
            assert (await e.positions(e.tk))["BTCUSDT", "long"]["leverage"] == "10"
    body()


def test_isolated_margin_mode(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            mm = {"symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT"}
            data = ok(await e.tk.post(SET_MARGIN_MODE, {**mm, "marginMode": "isolated"}))
            assert data["marginMode"] == "isolated"
            ok(await e.tk.post(SET_LEVERAGE, {**mm, "leverage": "5"}))
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.mk, "sell", "1", "3000", symbol="ETHUSDT")
            err(await e.place(e.tk, "buy", "0.1"), "40017")          # marginMode crossed
            await e.placed(e.tk, "buy", "0.1", margin="isolated")     # BTC, 5x: margin 1200
            await e.placed(e.tk, "buy", "1", symbol="ETHUSDT")        # ETH crossed 20x: margin 150
            pos = await e.positions(e.tk)
            b, eth = pos["BTCUSDT", "long"], pos["ETHUSDT", "long"]
            assert (b["marginMode"], b["leverage"], eth["marginMode"]) == \
                ("isolated", "5", "crossed")
            money(b, marginSize=1200)
            money(eth, marginSize=150)
            # fees 3.6 + 3000 x 0.0006 (1.8): wallet 9994.6
            e.sim.set_mark_price("BTCUSDT", "61000")                # isolated uPnL +100
            e.sim.set_mark_price("ETHUSDT", "2990")                 # crossed uPnL -10
            # equity 9994.6 + 100 - 10 = 10084.6; available counts only the crossed uPnL:
            # 9994.6 - 10 - 1200 - 150 = 8634.6
            money(await e.account(e.tk), isolatedMargin=1200, crossedMargin=150,
                  isolatedUnrealizedPL=100, crossedUnrealizedPL=-10, unrealizedPL=90,
                  accountEquity="10084.6", available="8634.6")
            err(await e.tk.post(SET_MARGIN_MODE, {**mm, "marginMode": "crossed"}), "45117")
            await e.placed(e.mk, "buy", "0.1", "61000")
            await e.placed(e.tk, "sell", "0.1", close=True, margin="isolated")  # +100 realized
            assert list(await e.positions(e.tk)) == [("ETHUSDT", "long")]
            oid = await e.placed(e.tk, "buy", "0.1", "59000", margin="isolated")
            err(await e.tk.post(SET_MARGIN_MODE, {**mm, "marginMode": "crossed"}), "45117")
            ok(await e.cancel(e.tk, orderId=oid))
            assert ok(await e.tk.post(SET_MARGIN_MODE, {**mm, "marginMode": "crossed"}))[
                "marginMode"] == "crossed"
            # wallet 9994.6 - 6100 x 0.0006 (3.66) + 100 = 10090.94; ETH uPnL -10
            money(await e.account(e.tk), isolatedMargin=0, accountEquity="10080.94")
    body()


def test_funding_long_pays_short_receives(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")    # taker long, maker short 0.1 @ 60000
            e.sim.set_mark_price("BTCUSDT", "61000")
            e.sim.set_funding_rate("BTCUSDT", "0.0001")
            rate = ok(await e.tk.get(V2 + "market/current-fund-rate",
                                     {"symbol": "BTCUSDT", "productType": PT}))
            assert D(rate[0]["fundingRate"]) == D("0.0001")
            ws = await e.private_ws()
            e.sim.settle_funding()
            # 0.1 x 61000 x 0.0001 = 0.61: taker pays, maker receives
            msgs = await take(ws, 2)
            assert channels(msgs) == ["positions", "account"]
            money(msgs[0]["data"][0], totalFee="-0.61")
            [b] = await e.bills(e.tk, businessType="contract_settle_fee")
            assert (b["symbol"], D(b["amount"]), D(b["fee"])) == ("BTCUSDT", D("-0.61"), 0)
            # taker wallet 10000 - 3.6 - 0.61 = 9995.79; maker 1_000_000 - 1.2 + 0.61
            assert D(b["balance"]) == D("9995.79")
            [bm] = await e.bills(e.mk, onlyFunding="yes")
            assert D(bm["amount"]) == D("0.61")
            money((await e.positions(e.tk))["BTCUSDT", "long"], totalFee="-0.61")
            money((await e.positions(e.mk))["BTCUSDT", "short"], totalFee="0.61")
            # uPnL taker +100, maker -100
            money(await e.account(e.tk), accountEquity="10095.79")
            money(await e.account(e.mk), accountEquity="999899.41")

            e.sim.set_funding_rate("BTCUSDT", "-0.0002")    # negative: long receives 1.22
            e.sim.settle_funding("BTCUSDT")
            await take(ws, 2)
            bills = await e.bills(e.tk, onlyFunding="yes")
            assert [D(b["amount"]) for b in bills] == [D("1.22"), D("-0.61")]
            assert len(await e.bills(e.tk)) == 3                 # + the opening fill
            money((await e.positions(e.tk))["BTCUSDT", "long"], totalFee="0.61")
            money((await e.positions(e.mk))["BTCUSDT", "short"], totalFee="-0.61")
            money(await e.account(e.tk), accountEquity="10097.01")      # 10095.79 + 1.22
            money(await e.account(e.mk), accountEquity="999898.19")     # 999899.41 - 1.22
    body()


# ====================================================================== order lifecycle


def test_cancel_by_order_id_and_client_oid_then_40768(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            a = await e.placed(e.tk, "buy", "0.1", "59000", oid="c-1")
            money(await e.account(e.tk), locked=295)           # 5900 / 20
            assert ok(await e.cancel(e.tk, orderId=a)) == {"orderId": a, "clientOid": "c-1"}
            d = await e.detail(e.tk, a)
            assert d["state"] == "canceled" and d["cancelReason"]
            money(await e.account(e.tk), locked=0, available=10_000)
            err(await e.cancel(e.tk, orderId=a), "40768")
            err(await e.cancel(e.tk, orderId="1234567"), "40768")
            err(await e.cancel(e.tk, clientOid="nope"), "40768")
            b = await e.placed(e.tk, "buy", "0.1", "59000", oid="c-2")
            assert ok(await e.cancel(e.tk, clientOid="c-2"))["orderId"] == b
            assert (await e.detail(e.tk, client_oid="c-2"))["state"] == "canceled"
            err(await e.cancel(e.tk, clientOid="c-2"), "40768")
            # another account cannot cancel it either
            c = await e.placed(e.tk, "buy", "0.1", "59000")
            err(await e.cancel(e.mk, orderId=c), "40768")
            err(await e.cancel(e.tk, "ETHUSDT", orderId=c), "40768")    # wrong symbol
            # a filled order cannot be canceled
            await e.placed(e.mk, "sell", "0.1", "60000")
            f = await e.placed(e.tk, "buy", "0.1", "60000")
            err(await e.cancel(e.tk, orderId=f), "40768")
            assert [o["orderId"] for o in await e.pending(e.tk)] == [c]
    body()


def test_batch_place_reports_one_failure_in_failure_list(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            def item(size, price, oid):
                return {"size": size, "price": price, "side": "buy", "orderType": "limit",
                        "force": "gtc", "clientOid": oid}
            data = ok(await e.tk.post(V2 + "order/batch-place-order", {
                "symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT",
                "marginMode": "crossed", "orderList": [
                    item("0.1", "59000", "b-1"),
                    item("0.0001", "40000", "b-2"),      # 4 USDT < 5 USDT minimum
                    item("0.2", "58000", "b-3")]}))
            assert [s["clientOid"] for s in data["successList"]] == ["b-1", "b-3"]
            assert all(s["orderId"] for s in data["successList"])
            [bad] = data["failureList"]
            assert (bad["clientOid"], bad["errorCode"], bad["orderId"]) == ("b-2", "45110", "")
            assert bad["errorMsg"]
            rows = await e.pending(e.tk)
            assert sorted(r["clientOid"] for r in rows) == ["b-1", "b-3"]
            # locked 5900 / 20 + 11600 / 20 = 295 + 580
            money(await e.account(e.tk), locked=875)
            err(await e.tk.get(DETAIL, {"symbol": "BTCUSDT", "productType": PT,
                                        "clientOid": "b-2"}), "40768")
    body()


def test_batch_cancel_by_list_and_by_symbol(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            o1 = await e.placed(e.tk, "buy", "0.1", "59000")
            o2 = await e.placed(e.tk, "buy", "0.1", "59001", oid="bc-2")
            o3 = await e.placed(e.tk, "buy", "0.1", "59002")
            eth = await e.placed(e.tk, "buy", "1", "2900", symbol="ETHUSDT")
            data = ok(await e.tk.post(V2 + "order/batch-cancel-orders", {
                "symbol": "BTCUSDT", "productType": PT, "marginCoin": "USDT",
                "orderIdList": [{"orderId": o1}, {"clientOid": "bc-2"}, {"orderId": "999"}]}))
            assert [s["orderId"] for s in data["successList"]] == [o1, o2]
            [bad] = data["failureList"]
            assert (bad["orderId"], bad["errorCode"]) == ("999", "40768")
            assert sorted(r["orderId"] for r in await e.pending(e.tk)) == sorted([o3, eth])
            data = ok(await e.tk.post(V2 + "order/batch-cancel-orders",
                                      {"symbol": "BTCUSDT", "productType": PT}))
            assert [s["orderId"] for s in data["successList"]] == [o3]
            assert [r["orderId"] for r in await e.pending(e.tk)] == [eth]
            # ETH 1 x 2900 / 20 = 145 still locked
            money(await e.account(e.tk), locked=145)
    body()


def test_cancel_all_orders(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            await e.placed(e.mk, "sell", "0.1", "60000")
            filled = await e.placed(e.tk, "buy", "0.1", "60000")
            ids = [await e.placed(e.tk, "buy", "0.1", "59000"),
                   await e.placed(e.tk, "sell", "0.2", "61000"),
                   await e.placed(e.tk, "buy", "1", "2900", symbol="ETHUSDT")]
            mk_order = await e.placed(e.mk, "sell", "0.1", "62000")
            data = ok(await e.tk.post(V2 + "order/cancel-all-orders",
                                      {"productType": PT, "marginCoin": "USDT"}))
            assert sorted(s["orderId"] for s in data["successList"]) == sorted(ids)
            assert data["failureList"] == []
            assert await e.pending(e.tk) == []
            hist = {r["orderId"]: r["status"] for r in await e.history(e.tk)}
            assert hist == {filled: "filled", **{i: "canceled" for i in ids}}
            money(await e.account(e.tk), locked=0)
            assert [r["orderId"] for r in await e.pending(e.mk)] == [mk_order]   # other account
    body()


def test_modify_order_replaces_it_under_the_new_client_oid(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            mod = V2 + "order/modify-order"
            base = {"symbol": "BTCUSDT", "productType": PT}
            old = await e.placed(e.tk, "buy", "0.1", "59000", oid="m-old")
            ws = await e.private_ws()
            err(await e.tk.post(mod, {**base, "orderId": old, "newPrice": "59500",
                                      "newSize": "0.2"}), "22003")
            err(await e.tk.post(mod, {**base, "orderId": old, "newClientOid": "m-new",
                                      "newPrice": "59500"}), "40925")
            err(await e.tk.post(mod, {**base, "orderId": old, "newClientOid": "m-new",
                                      "newSize": "0.2"}), "40925")
            assert await drain(ws, 0.05) == []
            assert (await e.detail(e.tk, old))["state"] == "live"
            r = ok(await e.tk.post(mod, {**base, "orderId": old, "newClientOid": "m-new",
                                         "newPrice": "59500", "newSize": "0.2"}))
            assert r["orderId"] == old
            msgs = await take(ws, 3)
            assert channels(msgs) == ["orders", "orders", "account"]
            gone = msgs[0]["data"][0]
            assert (gone["orderId"], gone["status"]) == (old, "canceled")
            new = msgs[1]["data"][0]
            assert (new["clientOid"], new["status"], D(new["price"]), D(new["size"])) == \
                ("m-new", "live", 59500, D("0.2"))
            assert new["orderId"] != old
            assert (await e.detail(e.tk, old))["state"] == "canceled"
            dn = await e.detail(e.tk, client_oid="m-new")
            assert (dn["orderId"], dn["state"], D(dn["price"]), D(dn["size"])) == \
                (new["orderId"], "live", 59500, D("0.2"))
            assert [row["clientOid"] for row in await e.pending(e.tk)] == ["m-new"]
            money(await e.account(e.tk), locked=595, available=9405)     # 11900 / 20
            err(await e.tk.post(mod, {**base, "orderId": old, "newClientOid": "m-3",
                                      "newPrice": "59600", "newSize": "0.2"}), "40768")
            err(await e.tk.post(mod, {**base, "clientOid": "m-new", "newClientOid": "m-old",
                                      "newPrice": "59600", "newSize": "0.2"}), "45034")
            assert [row["clientOid"] for row in await e.pending(e.tk)] == ["m-new"]
    body()


def test_duplicate_client_oid_45034(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            a = await e.placed(e.tk, "buy", "0.1", "59000", oid="dup-1")
            err(await e.place(e.tk, "buy", "0.1", "58000", oid="dup-1"), "45034")
            ok(await e.cancel(e.tk, orderId=a))
            # still a duplicate once the first order is final
            err(await e.place(e.tk, "buy", "0.1", "58000", oid="dup-1"), "45034")
            assert [r["orderId"] for r in await e.history(e.tk)] == [a]
            await e.placed(e.mk, "sell", "0.1", "61000", oid="dup-1")   # ids are per account
    body()


def test_price_off_tick_45115(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            [sol] = ok(await e.tk.get(V2 + "market/contracts", {"productType": PT,
                                                                 "symbol": "SOLUSDT"}))
            assert (sol["priceEndStep"], sol["pricePlace"]) == ("5", "3")    # 0.005 steps
            for price in ("150.002", "150.001", "150.004", "150.0005"):
                err(await e.place(e.tk, "buy", "1", price, symbol="SOLUSDT"), "45115")
            for price in ("150.005", "150.010", "150"):
                oid = await e.placed(e.tk, "buy", "1", price, symbol="SOLUSDT")
                assert D((await e.detail(e.tk, oid, "SOLUSDT"))["price"]) == D(price)
            err(await e.place(e.tk, "buy", "0.1", "60000.05"), "45115")     # BTC: 0.1 steps
            assert len(await e.pending(e.tk)) == 3
    body()


def test_size_checks_40808_45111_45110(h):
    @h.run_async(TIMEOUT)
    async def body():
        big_min = ContractSpec("BTCUSDT", "BTC", 1, 1, 4, "0.0001", "0.001", "60000.0")
        eth = ContractSpec("ETHUSDT", "ETH", 2, 1, 2, "0.01", "0.01", "3000.00")
        async with Env(h, contracts=[big_min, eth]) as e:
            err(await e.place(e.tk, "buy", "0.00005", "60000"), "40808")    # off the size step
            err(await e.place(e.tk, "buy", "0", "60000"), "40808")
            err(await e.place(e.tk, "buy", "0.0005", "60000"), "45111")     # below minTradeNum
            await e.placed(e.tk, "buy", "0.001", "60000")
            # ETH 0.01 x 400 = 4 USDT < 5; 0.01 x 500 = 5 USDT is the minimum itself
            err(await e.place(e.tk, "sell", "0.01", "400", symbol="ETHUSDT"), "45110")
            await e.placed(e.tk, "sell", "0.01", "500", symbol="ETHUSDT")
            # a market order is valued at the best opposite price: 0.01 x 450 = 4.5 USDT
            await e.placed(e.mk, "sell", "1", "450", symbol="ETHUSDT")
            err(await e.place(e.tk, "buy", "0.01", symbol="ETHUSDT"), "45110")
            assert len(await e.pending(e.tk)) == 2 and await e.positions(e.tk) == {}
    body()


def test_orders_pending_history_and_fills_pagination(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            ids = [await e.placed(e.tk, "buy", "0.1", str(59000 + i)) for i in range(5)]
            newest = ids[::-1]

            async def walk(path: str, key: str, idkey: str, **q: Any) -> list[list[str]]:
                pages, below = [], None
                while True:
                    params = {"limit": "2", **q}
                    if below:
                        params["idLessThan"] = below
                    rows, end = await e._list(e.tk, path, key, params)
                    if not rows:
                        assert end is None
                        return pages
                    assert end == rows[-1][idkey]
                    pages.append([r[idkey] for r in rows])
                    assert len(pages) <= 5, pages      # the cursor must move
                    below = end

            assert await walk(PENDING, "entrustedList", "orderId") == \
                [newest[0:2], newest[2:4], newest[4:5]]
            ok(await e.tk.post(V2 + "order/cancel-all-orders", {"productType": PT}))
            assert await walk(HISTORY, "entrustedList", "orderId") == \
                [newest[0:2], newest[2:4], newest[4:5]]
            assert await walk(PENDING, "entrustedList", "orderId") == []
            for i in range(3):
                await e.placed(e.mk, "sell", "0.1", str(60000 + i))
            await e.placed(e.tk, "buy", "0.3")
            tids = [f["tradeId"] for f in await e.fills(e.tk)]
            assert len(tids) == 3 and tids == sorted(tids, reverse=True)
            assert await walk(FILLS, "fillList", "tradeId") == [tids[0:2], tids[2:3]]
            assert await walk(HISTORY, "entrustedList", "orderId", symbol="ETHUSDT") == []
    body()


# ====================================================================== private WebSocket


@pytest.mark.parametrize("mode", MODES)
def test_ws_stream_of_one_close_long_fill(h, mode):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h, mode=mode) as e:
            # the taker holds long 0.1 BTC @ 60000 and long 1 ETH @ 3000
            await e.placed(e.mk, "sell", "0.1", "60000")
            await e.placed(e.tk, "buy", "0.1")
            await e.placed(e.mk, "sell", "1", "3000", symbol="ETHUSDT")
            await e.placed(e.tk, "buy", "1", symbol="ETHUSDT")
            await e.placed(e.mk, "buy", "0.1", "61000")
            ws = await e.private_ws()
            mws = await e.private_ws(MAKER)
            assert sorted(p["instId"] for p in ws.snapshots["positions"]) == ["BTCUSDT", "ETHUSDT"]

            r = await e.place(e.tk, "sell", "0.1", close=True, oid="close-1")
            # the REST reply is handed over before any WS event of the order arrives
            assert ws.queue.empty()
            oid = ok(r)["orderId"]
            msgs = await take(ws, 5)
            assert channels(msgs) == ["orders", "orders", "fill", "positions", "account"]
            assert all(m["action"] == "snapshot" and m["arg"]["instType"] == PT for m in msgs)
            live, done = msgs[0]["data"][0], msgs[1]["data"][0]
            want_side, want_ts, want_pos = (("buy", "close", "long") if e.hedge else
                                            ("sell", "sell_single", "net"))
            for o in (live, done):
                assert (o["orderId"], o["clientOid"], o["instId"], o["side"], o["tradeSide"],
                        o["posSide"], o["posMode"]) == \
                    (oid, "close-1", "BTCUSDT", want_side, want_ts, want_pos, mode)
            assert (live["status"], D(live["accBaseVolume"]), live["orderType"]) == \
                ("live", 0, "market")
            assert "tradeId" not in live
            # pnl (61000 - 60000) x 0.1 = 100; fee 6100 x 0.0006 = 3.66
            assert (done["status"], D(done["accBaseVolume"]), D(done["fillPrice"]),
                    D(done["baseVolume"]), D(done["fillFee"]), done["fillFeeCoin"],
                    done["tradeScope"], D(done["pnl"]), D(done["priceAvg"])) == \
                ("filled", D("0.1"), 61000, D("0.1"), D("-3.66"), "USDT", "T", 100, 61000)
            assert D(done["feeDetail"][0]["fee"]) == D("-3.66")
            [fill] = msgs[2]["data"]
            assert (fill["orderId"], fill["tradeId"], fill["side"], fill["tradeScope"],
                    D(fill["price"]), D(fill["baseVolume"]), D(fill["profit"]),
                    D(fill["feeDetail"][0]["totalFee"])) == \
                (oid, done["tradeId"], "sell", "taker", 61000, D("0.1"), 100, D("-3.66"))
            # a full snapshot: the closed BTC position is gone, ETH stays
            [p] = msgs[3]["data"]
            assert (p["instId"], p["holdSide"], D(p["total"])) == ("ETHUSDT", "long", 1)
            # wallet 10000 - 3.6 - 1.8 - 3.66 + 100 = 10090.94; ETH margin 3000 / 20 = 150
            money(msgs[4]["data"][0], equity="10090.94", available="9940.94", frozen=0)
            assert [f["tradeId"] for f in await e.fills(e.tk, orderId=oid)] == [done["tradeId"]]

            mm = await take(mws, 4)
            assert channels(mm) == ["orders", "fill", "positions", "account"]
            mo = mm[0]["data"][0]
            assert (mo["status"], mo["tradeScope"], mo["tradeId"], D(mo["fillFee"])) == \
                ("filled", "M", done["tradeId"], -6100 * MAKER_FEE)
            assert (mm[1]["data"][0]["side"], mm[1]["data"][0]["tradeScope"]) == ("buy", "maker")
    body()


def test_ws_events_can_be_scripted_to_arrive_before_the_rest_reply(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            ws = await e.private_ws()
            e.sim.ws_events_before_rest(True)
            oid = await e.placed(e.tk, "buy", "0.1", "59000")
            assert not ws.queue.empty()
            msgs = await take(ws, 2)
            assert channels(msgs) == ["orders", "account"]
            assert msgs[0]["data"][0]["orderId"] == oid
            e.sim.ws_events_before_rest(False)
            r = await e.cancel(e.tk, orderId=oid)
            assert ws.queue.empty()
            ok(r)
            msgs = await take(ws, 2)
            assert msgs[0]["data"][0]["status"] == "canceled"
    body()


def test_contracts_publish_the_rates_these_tests_use(h):
    @h.run_async(TIMEOUT)
    async def body():
        async with Env(h) as e:
            rows = ok(await e.tk.get(V2 + "market/contracts", {"productType": PT}))
            got = {r["symbol"]: (D(r["makerFeeRate"]), D(r["takerFeeRate"]), r["minTradeUSDT"])
                   for r in rows}
            assert got == {s: (MAKER_FEE, TAKER_FEE, "5") for s in SYMBOLS}
    body()
