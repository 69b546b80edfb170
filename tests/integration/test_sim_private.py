"""Private WebSocket of the simulator: WS order entry, channel filters, limits, funding timer."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from bitget_fast.auth import Credentials
from bitget_fast.sim import Simulator
from bitget_fast.sim import ws as sim_ws

PLACE = "/api/v2/mix/order/place-order"


def trade_arg(req_id: str, channel: str, params: dict, symbol: str = "BTCUSDT") -> dict:
    return {"op": "trade", "args": [{"id": req_id, "instType": "USDT-FUTURES", "instId": symbol,
                                     "channel": channel, "params": params}]}


def is_orders_push(m: dict) -> bool:
    return isinstance(m.get("arg"), dict) and m["arg"].get("channel") == "orders"


LIMIT_BUY = {"orderType": "limit", "side": "buy", "size": "0.001", "price": "50000.0",
             "force": "gtc", "marginCoin": "USDT", "marginMode": "crossed", "clientOid": "ws-1"}


async def logged_in(h, sim, key=None):
    creds = Credentials(key or h.KEY, h.SECRET, h.PASSPHRASE)
    ws = await h.Ws.connect(sim.ws_private_url)
    assert (await ws.login(creds))["code"] == 0
    return ws


def test_ws_order_entry_place_and_cancel(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE, ws_trading=True)
            ws = await logged_in(h, sim)
            try:
                await ws.subscribe(h.priv_arg("orders"))
                assert (await ws.recv_json())["event"] == "subscribe"
                ws.send(trade_arg("req-1", "place-order", LIMIT_BUY))
                msgs = [await ws.recv_json(), await ws.recv_json()]
                ack = next(m for m in msgs if m.get("event") == "trade")
                push = next(m for m in msgs if is_orders_push(m))
                assert ack["code"] == 0 and ack["arg"][0]["id"] == "req-1"
                oid = ack["arg"][0]["params"]["orderId"]
                assert ack["arg"][0]["params"]["clientOid"] == "ws-1"
                assert push["data"][0]["orderId"] == oid and push["data"][0]["status"] == "live"
                ws.send(trade_arg("req-2", "cancel-order", {"orderId": oid}))
                msgs = [await ws.recv_json(), await ws.recv_json()]
                ack = next(m for m in msgs if m.get("event") == "trade")
                assert ack["arg"][0]["id"] == "req-2" and ack["code"] == 0
                push = next(m for m in msgs if is_orders_push(m))
                assert push["data"][0]["status"] == "canceled"
                # errors echo the request and carry Bitget's business code (a number here)
                ws.send(trade_arg("req-3", "cancel-order", {"orderId": oid}))
                err = await ws.recv_json()
                assert err["event"] == "error" and err["code"] == 40768
                assert err["arg"][0]["id"] == "req-3"
                ws.send(trade_arg("req-4", "place-order", {**LIMIT_BUY, "price": "50000.05",
                                                           "clientOid": "ws-2"}))
                err = await ws.recv_json()
                assert err["code"] == 45115 and err["arg"][0]["params"]["clientOid"] == "ws-2"
                # batch over WS is not supported on V2
                two = trade_arg("req-5", "place-order", LIMIT_BUY)
                two["args"] *= 2
                ws.send(two)
                assert (await ws.recv_json())["code"] == 30016
            finally:
                await ws.close()
    body()


def test_ws_order_entry_needs_access(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE)            # no ws_trading
            ws = await h.Ws.connect(sim.ws_private_url)
            ws.send(trade_arg("r0", "place-order", LIMIT_BUY))
            assert (await ws.recv_json())["code"] == 30004            # not logged in
            assert (await ws.login(Credentials(h.KEY, h.SECRET, h.PASSPHRASE)))["code"] == 0
            ws.send(trade_arg("r1", "place-order", LIMIT_BUY))
            err = await ws.recv_json()
            assert err["event"] == "error" and err["code"] == 40014
            assert not sim.engine.accounts[h.KEY].orders
            await ws.close()
    body()


def test_private_channel_filters_and_snapshots(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT", "ETHUSDT"], seed=1, flow_rate=0,
                             enforce_rate_limits=False) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE)
            sim.add_account("other-key", h.SECRET, h.PASSPHRASE)
            rest = h.Rest(sim, Credentials(h.KEY, h.SECRET, h.PASSPHRASE))
            ws = await logged_in(h, sim)
            other = await logged_in(h, sim, "other-key")
            try:
                await ws.subscribe(h.priv_arg("orders", "ETHUSDT"), h.priv_arg("account"))
                first = [await ws.recv_json() for _ in range(3)]
                acct = next(m for m in first if m.get("action") == "snapshot")
                assert acct["arg"] == h.priv_arg("account")
                assert acct["data"][0]["available"] == "10000.00000000"
                await other.subscribe(h.priv_arg("orders"))
                assert (await other.recv_json())["event"] == "subscribe"
                base = {"productType": "USDT-FUTURES", "marginMode": "crossed", "marginCoin": "USDT",
                        "side": "buy", "orderType": "limit"}
                await rest.post(PLACE, {**base, "symbol": "BTCUSDT", "size": "0.001", "price": "50000.0"})
                await rest.post(PLACE, {**base, "symbol": "ETHUSDT", "size": "0.10", "price": "2500.00"})
                got = []
                while len([m for m in got if m["arg"]["channel"] == "orders"]) < 1:
                    got.append(await ws.recv_json())
                orders = [m for m in got if m["arg"]["channel"] == "orders"]
                assert orders[0]["arg"] == h.priv_arg("orders", "ETHUSDT")
                assert orders[0]["data"][0]["instId"] == "ETHUSDT"
                await asyncio.sleep(0.1)
                rest_of = [orjson.loads(ws.queue.get_nowait()) for _ in range(ws.queue.qsize())]
                assert all(m["arg"]["channel"] == "account" for m in rest_of)   # no BTCUSDT order
                assert other.queue.empty()          # another account sees nothing of this one
                bad = {"instType": "USDT-FUTURES", "channel": "orders", "instId": "NOPEUSDT"}
                ws.send({"op": "subscribe", "args": [bad]})
                err = await ws.wait_for(lambda m: m.get("event") == "error")
                assert err["code"] == 30001 and err["arg"] == bad
            finally:
                await ws.close()
                await other.close()
                await rest.close()
    body()


def test_subscription_and_connection_limits(h, monkeypatch):
    monkeypatch.setattr(sim_ws, "MAX_SUBSCRIBES_PER_H", 3)
    monkeypatch.setattr(sim_ws, "MAX_CHANNELS", 2)
    monkeypatch.setattr(sim_ws, "MAX_CONNS_PER_IP", 2)

    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT", "ETHUSDT"], seed=1, flow_rate=0) as sim:
            ws = await h.Ws.connect(sim.ws_public_url)
            await ws.subscribe(h.book_arg("ticker"), h.book_arg("trade"), h.book_arg("books1"))
            kinds = []
            for _ in range(5):
                m = await ws.recv_json()
                kinds.append(m.get("event") or m["arg"]["channel"])
            assert kinds.count("subscribe") == 2 and "error" in kinds       # channel cap
            await ws.subscribe(h.book_arg("ticker"))                          # 2nd request
            await ws.subscribe(h.book_arg("ticker"))                          # 3rd
            await ws.subscribe(h.book_arg("ticker"))                          # 4th: over the ration
            err = await ws.wait_for(lambda m: m.get("event") == "error" and m["code"] == 30007)
            assert "240" in err["msg"] or "per hour" in err["msg"]
            await asyncio.wait_for(ws.closed.wait(), 2)
            a = await h.Ws.connect(sim.ws_public_url)
            b = await h.Ws.connect(sim.ws_public_url)
            c = await h.Ws.connect(sim.ws_public_url)                        # third from one IP
            assert (await c.recv_json())["code"] == 30007
            await asyncio.wait_for(c.closed.wait(), 2)
            await a.close()
            await b.close()
    body()


def test_funding_is_settled_on_its_timer(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0, book_depth=5,
                             funding_interval_s=0.3) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE)
            sim.set_funding_rate("BTCUSDT", "0.001")
            rest = h.Rest(sim, Credentials(h.KEY, h.SECRET, h.PASSPHRASE))
            try:
                r = await rest.post(PLACE, {"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                            "marginMode": "crossed", "marginCoin": "USDT",
                                            "size": "0.0100", "side": "buy", "orderType": "market"})
                assert r.status == 200
                await asyncio.sleep(0.75)
                bills = (await rest.get("/api/v2/mix/account/bill",
                                        {"productType": "USDT-FUTURES",
                                         "businessType": "contract_settle_fee"})).data["bills"]
                assert len(bills) >= 2
                for b in bills:
                    # long pays size x mark x rate = 0.01 x 60000.0 x 0.001 (the mark did not move)
                    assert b["amount"] == "-0.6"
                fr = (await rest.get("/api/v2/mix/market/current-fund-rate",
                                     {"productType": "USDT-FUTURES"}, signed=False)).data[0]
                assert fr["fundingRate"] == "0.001"
            finally:
                await rest.close()
    body()
