"""Authentication and rate limits of the simulator, each answered with Bitget's code."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from bitget_fast.auth import Credentials
from bitget_fast.errors import (AuthenticationError, ClockSkewError, DuplicateClientOidError,
                                InsufficientFundsError, NoPositionError, OrderNotFoundError,
                                ParameterError, PositionModeError, RateLimitError,
                                error_class_for)
from bitget_fast.sim import Simulator
from bitget_fast.sim.engine import SIM_CODES

ACCOUNTS = "/api/v2/mix/account/accounts"
PLACE = "/api/v2/mix/order/place-order"
Q = {"productType": "USDT-FUTURES"}


def test_every_simulator_code_maps_to_the_promised_client_class():
    expect = {
        "unknown_key": AuthenticationError, "bad_sign": AuthenticationError,
        "bad_passphrase": AuthenticationError, "no_key": AuthenticationError,
        "no_sign": AuthenticationError, "no_timestamp": AuthenticationError,
        "no_passphrase": AuthenticationError, "stale_timestamp": ClockSkewError,
        "bad_timestamp": ClockSkewError, "rate_limit": RateLimitError,
        "bad_param": ParameterError, "off_tick": ParameterError,
        "below_min_usdt": ParameterError, "insufficient": InsufficientFundsError,
        "no_order": OrderNotFoundError, "pos_mode": PositionModeError,
        "mode_locked": PositionModeError, "no_position": NoPositionError,
        "dup_client_oid": DuplicateClientOidError,
    }
    for kind, cls in expect.items():
        got = error_class_for(SIM_CODES[kind], 400)
        assert issubclass(got, cls), (kind, SIM_CODES[kind], got)


@pytest.fixture
def sim_rest(h):
    """(simulator, rest client) factory run inside one event loop."""

    async def make(**kw):
        sim = await Simulator(["BTCUSDT"], seed=1, flow_rate=0, **kw).start()
        sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE, usdt=1000)
        return sim, h.Rest(sim, Credentials(h.KEY, h.SECRET, h.PASSPHRASE))

    return make


def test_signed_request_checks(h, sim_rest):
    @h.run_async()
    async def body():
        sim, rest = await sim_rest()
        try:
            ok = await rest.get(ACCOUNTS, Q)
            assert ok.status == 200 and ok.data[0]["available"] == "1000.00000000"
            good = rest.creds.rest_headers("GET", ACCOUNTS, "productType=USDT-FUTURES")
            for missing, code in [("ACCESS-KEY", "40001"), ("ACCESS-SIGN", "40002"),
                                  ("ACCESS-TIMESTAMP", "40003"), ("ACCESS-PASSPHRASE", "40011")]:
                hdrs = {k: v for k, v in good.items() if k != missing}
                r = await rest.get(ACCOUNTS, Q, signed=False, headers=hdrs)
                assert (r.status, r.code, r.data) == (401, code, None), missing
            cases = []
            wrong_key = Credentials("bg_unknown", h.SECRET, h.PASSPHRASE)
            cases.append(("unknown key", wrong_key.rest_headers(
                "GET", ACCOUNTS, "productType=USDT-FUTURES"), "40006"))
            wrong_pass = Credentials(h.KEY, h.SECRET, "NotThePass")
            cases.append(("passphrase", wrong_pass.rest_headers(
                "GET", ACCOUNTS, "productType=USDT-FUTURES"), "40012"))
            wrong_secret = Credentials(h.KEY, "another-secret", h.PASSPHRASE)
            cases.append(("signature", wrong_secret.rest_headers(
                "GET", ACCOUNTS, "productType=USDT-FUTURES"), "40009"))
            # signed over a different query than the one sent
            cases.append(("query", rest.creds.rest_headers(
                "GET", ACCOUNTS, "productType=COIN-FUTURES"), "40009"))
            stale = rest.creds.rest_headers("GET", ACCOUNTS, "productType=USDT-FUTURES",
                                            timestamp_ms=int(time.time() * 1000) - 31_000)
            cases.append(("stale", stale, "40008"))
            future = rest.creds.rest_headers("GET", ACCOUNTS, "productType=USDT-FUTURES",
                                             timestamp_ms=int(time.time() * 1000) + 31_000)
            cases.append(("future", future, "40008"))
            cases.append(("not a number", {**good, "ACCESS-TIMESTAMP": "12a"}, "40005"))
            for name, hdrs, code in cases:
                r = await rest.get(ACCOUNTS, Q, signed=False, headers=hdrs)
                assert (r.status, r.code, r.data) == (401, code, None), name
                assert "secret" not in r.body.decode().lower()
            # a body changed after signing
            body = orjson.dumps({"symbol": "BTCUSDT", "productType": "USDT-FUTURES",
                                 "marginMode": "crossed", "marginCoin": "USDT", "size": "0.001",
                                 "price": "50000.0", "side": "buy", "orderType": "limit"})
            hdrs = rest.creds.rest_headers("POST", PLACE, None, body)
            raw = rest.build("POST", PLACE, None, body.replace(b"50000.0", b"50001.0"),
                             signed=False, headers=hdrs)
            r = await rest.send_raw(raw)
            assert (r.status, r.code) == (401, "40009")
            assert not sim.engine.accounts[h.KEY].orders
            # Bitget's demo-trading header is accepted
            r = await rest.get(ACCOUNTS, Q, signed=False,
                               headers=rest.creds.rest_headers("GET", ACCOUNTS,
                                                               "productType=USDT-FUTURES", demo=True))
            assert r.status == 200
        finally:
            await rest.close()
            await sim.close()
    body()


def test_ws_login_checks(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE)
            creds = Credentials(h.KEY, h.SECRET, h.PASSPHRASE)
            now = int(time.time())
            ws = await h.Ws.connect(sim.ws_private_url)
            ws.send({"op": "subscribe", "args": [h.priv_arg("orders")]})
            err = await ws.recv_json()
            assert err["event"] == "error" and err["code"] == 30004
            assert (await ws.login(creds)) == {"event": "login", "code": 0, "msg": ""}
            await ws.close()
            # milliseconds are accepted too (the doc's prose says ms, its examples seconds)
            ws = await h.Ws.connect(sim.ws_private_url)
            ws.send(creds.ws_login_message(now * 1000))
            assert (await ws.recv_json())["code"] == 0
            await ws.close()
            bad = [(Credentials("bg_nobody", h.SECRET, h.PASSPHRASE), now, 30011),
                   (Credentials(h.KEY, h.SECRET, "wrong"), now, 30012),
                   (Credentials(h.KEY, "wrong-secret", h.PASSPHRASE), now, 30015),
                   (creds, now - 60, 30014)]
            for c, ts, code in bad:
                ws = await h.Ws.connect(sim.ws_private_url)
                ws.send(c.ws_login_message(ts))
                err = await ws.recv_json()
                assert err["event"] == "error" and err["code"] == code
                await asyncio.wait_for(ws.closed.wait(), 2)    # the server closes after a failed login
    body()


def test_rest_rate_limits(h, sim_rest):
    @h.run_async()
    async def body():
        sim, rest = await sim_rest()
        try:
            public = h.Rest(sim)
            codes = [(await public.get("/api/v2/public/time", signed=False)).status for _ in range(25)]
            assert codes[:20] == [200] * 20 and set(codes[20:]) == {429}
            r = await public.get("/api/v2/public/time", signed=False)
            assert r.json["code"] == "429" and r.data is None
            # private limits are per UID and per endpoint: 5/s on all-position
            codes = [(await rest.get("/api/v2/mix/position/all-position", Q)).status
                     for _ in range(7)]
            assert codes == [200] * 5 + [429] * 2
            assert (await rest.get(ACCOUNTS, Q)).status == 200      # another bucket
            await asyncio.sleep(1.05)
            assert (await public.get("/api/v2/public/time", signed=False)).status == 200
            assert (await rest.get("/api/v2/mix/position/all-position", Q)).status == 200
            await public.close()
        finally:
            await rest.close()
            await sim.close()
    body()


def test_rate_limits_can_be_switched_off(h, sim_rest):
    @h.run_async()
    async def body():
        sim, rest = await sim_rest(enforce_rate_limits=False)
        try:
            codes = {(await rest.get("/api/v2/public/time", signed=False)).status for _ in range(40)}
            assert codes == {200}
        finally:
            await rest.close()
            await sim.close()
    body()
