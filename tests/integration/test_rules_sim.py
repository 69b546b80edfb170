"""The trading rules against the simulated exchange: what they pass it accepts, what they refuse it refuses.

The rules are loaded from the simulator's ``/api/v2/mix/market/contracts`` over a loopback
socket. Each case is one user order with a single fault (or none). When ``bitget_fast.rules``
accepts it, the wire strings it returns are placed and must be accepted; when it refuses it,
the user's raw strings are placed and the simulator must refuse them with the Bitget code of
the same rule (protocol reference section 3.2): off the tick 45115, off the size step or too
many decimals 40808, below minTradeNum 45111, above the maximum 45112, below minTradeUSDT 45110.
"""

from __future__ import annotations

from typing import Any

import pytest

from bitget_fast.auth import Credentials
from bitget_fast.errors import ValidationError
from bitget_fast.rules import Contract, TradingRules
from bitget_fast.sim import Simulator
from bitget_fast.sim.contracts import DEFAULT_CONTRACTS, ContractSpec

ACCOUNT = ("rules_key_01", "rules-secret-0123456789", "RulesPass1")
PLACE = "/api/v2/mix/order/place-order"
# pricePlace 2 + priceEndStep 5 (tick 0.05); lot 0.01 but minTradeNum 0.05; max 100 / 10
ODD = ContractSpec("ODDUSDT", "ODD", 2, 5, 2, "0.01", "0.05", "100.00", min_trade_usdt="5",
                   max_order_qty="100", max_market_order_qty="10")

# (symbol, price or None for a market order, size, the code of the rule broken or None)
CASES = [
    ("BTCUSDT", "60000.1", "0.001", None),
    ("BTCUSDT", "60000", "0.0010", None),              # formatted to "60000.0" / "0.0010"
    ("BTCUSDT", "6.00001e4", "1e-3", None),            # exponent forms: formatted
    ("BTCUSDT", "60000.05", "0.001", "45115"),
    ("BTCUSDT", "60000.1", "0.00015", "40808"),
    ("BTCUSDT", "60000.1", "1000000.0001", "45112"),
    ("BTCUSDT", "60000.1", "0.0001", None),            # 6.00001 USDT is fine ...
    ("BTCUSDT", "40000.0", "0.0001", "45110"),         # ... 4 USDT is not
    ("BTCUSDT", None, "100000.0001", "45112"),
    ("SOLUSDT", "150.005", "0.1", None),               # priceEndStep 5: multiples of 0.005
    ("SOLUSDT", "150.001", "0.1", "45115"),
    ("SOLUSDT", "150.0050", "0.10", None),
    ("XRPUSDT", "0.5000", "10", None),                 # volumePlace 0
    ("XRPUSDT", "0.5000", "10.5", "40808"),
    ("XRPUSDT", "0.5000", "9", "45110"),               # 4.5 USDT
    ("ODDUSDT", "100.05", "0.05", None),
    ("ODDUSDT", "100.03", "1", "45115"),
    ("ODDUSDT", "100.05", "0.04", "45111"),
    ("ODDUSDT", "100.05", "0.055", "40808"),
    ("ODDUSDT", "100.05", "0.07", None),
    ("ODDUSDT", "100.05", "100.01", "45112"),
    ("ODDUSDT", "100", "100", None),
    ("ODDUSDT", "10.00", "0.10", "45110"),
    ("ODDUSDT", None, "1", None),
    ("ODDUSDT", None, "10.01", "45112"),
]


def verdict(c: Contract, price: str | None, size: str,
            mark: str) -> tuple[str | None, str, ValidationError | None]:
    """(price wire, size wire, None) or (None, "", the ValidationError) from the rules."""
    try:
        p = c.price_str(price) if price is not None else None
        s = c.size_str(size, market=price is None)
        c.check_notional(s, p if p is not None else mark)
    except ValidationError as e:
        return None, "", e
    return p, s, None


def code_of(e: ValidationError) -> str:
    """The Bitget code of the rule a ValidationError names."""
    text = str(e)
    for words, code in (("the tick", "45115"), ("sizeMultiplier", "40808"),
                        ("below minTradeNum", "45111"), ("above max", "45112"),
                        ("minTradeUSDT", "45110")):
        if words in text:
            return code
    raise AssertionError(f"no Bitget code for {text!r}")


def body(symbol: str, price: str | None, size: str, n: int) -> dict[str, Any]:
    b = {"symbol": symbol, "productType": "USDT-FUTURES", "marginMode": "crossed",
         "marginCoin": "USDT", "size": size, "side": "buy", "clientOid": f"rules-{n}",
         "orderType": "market" if price is None else "limit"}
    if price is not None:
        b["price"] = price
        b["force"] = "post_only"                        # the books are empty: it rests
    return b


def test_rules_and_the_simulator_agree_on_every_case(h):
    @h.run_async(30)
    async def run():
        specs = [*DEFAULT_CONTRACTS.values(), ODD]
        sim = Simulator(contracts=specs, flow_rate=0, book_depth=0, enforce_rate_limits=False)
        await sim.start()
        sim.add_account(*ACCOUNT, usdt=10 ** 9)
        public, rest = h.Rest(sim), h.Rest(sim, Credentials(*ACCOUNT))
        try:
            reply = await public.get("/api/v2/mix/market/contracts",
                                     {"productType": "USDT-FUTURES"}, signed=False)
            assert reply.code == "00000"
            rules = TradingRules.from_response(reply.data)
            assert sorted(rules) == sorted(s.symbol for s in specs)
            seen = set()
            for n, (symbol, price, size, want) in enumerate(CASES):
                spec = next(s for s in specs if s.symbol == symbol)
                p, s, err = verdict(rules[symbol], price, size, spec.start_price)
                if err is None:
                    assert want is None, (symbol, price, size)
                    reply = await rest.post(PLACE, body(symbol, p, s, n))
                    assert (reply.status, reply.code) == (200, "00000"), (symbol, p, s, reply)
                else:
                    assert code_of(err) == want, (symbol, price, size, err)
                    reply = await rest.post(PLACE, body(symbol, price, size, n))
                    assert (reply.status, reply.code) == (400, want), (symbol, price, size, reply)
                    seen.add(want)
            assert seen == {"45115", "40808", "45111", "45112", "45110"}
            # why formatting matters: the raw exponent form is refused, our wire form is not
            reply = await rest.post(PLACE, body("BTCUSDT", "6.00001e4", "0.001", 900))
            assert reply.code == "45115", reply
        finally:
            await public.close()
            await rest.close()
            await sim.close()

    run()


@pytest.mark.parametrize("symbol", list(DEFAULT_CONTRACTS))
def test_every_default_contract_round_trips(symbol):
    spec = DEFAULT_CONTRACTS[symbol]
    c = TradingRules.from_response([spec.as_rest()])[symbol]
    assert c.price_str(spec.start_price) == spec.start_price
    assert c.size_str(spec.min_trade_num) == spec.size_str(spec.lot)
    assert c.tick == spec.price_dec(spec.tick)
