"""Trading rules on the order path: checking and formatting a price and a size before sending.

Groups (each: bitget_fast vs a plain Decimal baseline, same inputs, same run):
  rules: price_str, str price (tick 0.1)
      bitget_fast   ``Contract.price_str(s)`` for canonical prices such as "60000.1"
      Decimal       ``Decimal(s) / tick``, integral test, ``quantize``, ``str`` (what a hand-written
                    connector does; it checks less: no float/bool/space/size-of-number rules)
  rules: price_str, str price (priceEndStep 5, tick 0.005)
      the same on a contract whose tick is not a power of ten (SOLUSDT-like)
  rules: size_str, str size (limit)
      ``Contract.size_str(s)`` vs Decimal: step test, min and max comparisons, quantize, str
  rules: price_str, Decimal price
      the same as the first group with Decimal inputs
  rules: order check (price_str + size_str + check_notional)
      what the trading layer runs once per order, vs the Decimal version of the same three

Each timed call makes 10 direct calls over 10 different inputs (as bench_signing.py does), so
pytest-benchmark's own call overhead is spread over 10 items; the figure is per call. Before
timing, both implementations must give the same strings for every input and must refuse an
off-tick value. Target (the rules issue): <= ~1.5 us per price_str call on a typical str price.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bitget_fast.rules import Contract

BATCH = 10

ROW = {
    "symbol": "BTCUSDT", "baseCoin": "BTC", "quoteCoin": "USDT", "symbolType": "perpetual",
    "symbolStatus": "normal", "pricePlace": "1", "priceEndStep": "1", "volumePlace": "2",
    "sizeMultiplier": "0.01", "minTradeNum": "0.01", "minTradeUSDT": "5", "makerFeeRate": "0.0004",
    "takerFeeRate": "0.0006", "minLever": "1", "maxLever": "125", "maxOrderQty": "1200",
    "maxMarketOrderQty": "220",
}
BTC = Contract.from_row(ROW)
SOL = Contract.from_row({**ROW, "symbol": "SOLUSDT", "pricePlace": "3", "priceEndStep": "5",
                         "volumePlace": "1", "sizeMultiplier": "0.1", "minTradeNum": "0.1"})

BTC_PRICES = [f"{60000 + i * 0.7:.1f}" for i in range(BATCH)]       # "60000.0", "60000.7", ...
SOL_PRICES = [f"{150 + i * 0.035:.3f}" for i in range(BATCH)]       # multiples of 0.005
SIZES = ["0.01", "0.25", "1.00", "3.14", "12.50", "0.07", "99.99", "250.00", "0.10", "1199.99"]
DEC_PRICES = [Decimal(p) for p in BTC_PRICES]


class DecimalRules:
    """The plain-Decimal baseline: the same rules written the obvious way."""

    def __init__(self, c: Contract) -> None:
        self.tick = c.tick
        self.price_exp = Decimal(1).scaleb(-c.price_place)
        self.lot = c.size_multiplier
        self.size_exp = Decimal(1).scaleb(-c.volume_place)
        self.min = c.min_trade_num
        self.max = c.max_order_qty
        self.min_usdt = c.min_trade_usdt

    def price_str(self, price: str | Decimal) -> str:
        d = Decimal(price)
        q = d / self.tick
        if d <= 0 or q != q.to_integral_value():
            raise ValueError(f"price {price} is not a multiple of {self.tick}")
        return str(d.quantize(self.price_exp))

    def size_str(self, size: str | Decimal) -> str:
        d = Decimal(size)
        q = d / self.lot
        if q != q.to_integral_value() or d < self.min or d > self.max:
            raise ValueError(f"size {size} is not valid")
        return str(d.quantize(self.size_exp))

    def check_notional(self, size: str, price: str) -> None:
        if Decimal(size) * Decimal(price) < self.min_usdt:
            raise ValueError("below the minimum order value")


BTC_DEC = DecimalRules(BTC)
SOL_DEC = DecimalRules(SOL)


def _batch(fn, items):
    """10 direct calls fn(items[0]) ... fn(items[9]); returns the last result."""
    a, b, c, d, e, f, g, h, i, j = items

    def run(fn=fn):
        fn(a)
        fn(b)
        fn(c)
        fn(d)
        fn(e)
        fn(f)
        fn(g)
        fn(h)
        fn(i)
        return fn(j)

    return run


def _order_check(rules):
    """The per-order sequence: price_str, size_str, check_notional on the wire strings."""
    price_str, size_str, check = rules.price_str, rules.size_str, rules.check_notional
    pairs = list(zip(BTC_PRICES, SIZES))

    def one(pair):
        p = price_str(pair[0])
        s = size_str(pair[1])
        check(s, p)
        return p, s

    return _batch(one, pairs)


# group -> (ours, baseline, inputs, a value both must refuse)
CASES = {
    "rules: price_str, str price (tick 0.1)": (
        BTC.price_str, BTC_DEC.price_str, BTC_PRICES, "60000.05"),
    "rules: price_str, str price (priceEndStep 5, tick 0.005)": (
        SOL.price_str, SOL_DEC.price_str, SOL_PRICES, "150.001"),
    "rules: size_str, str size (limit)": (BTC.size_str, BTC_DEC.size_str, SIZES, "0.015"),
    "rules: price_str, Decimal price": (
        BTC.price_str, BTC_DEC.price_str, DEC_PRICES, Decimal("60000.05")),
}


def _check_same(ours, base, items):
    for x in items:
        assert ours(x) == base(x), x
        assert ours(x) == str(x)                       # every input here is already canonical


@pytest.mark.parametrize("group", list(CASES))
def test_rules_bitget_fast(bench, group):
    ours, base, items, bad = CASES[group]
    _check_same(ours, base, items)
    with pytest.raises(ValueError):                    # ValidationError is a ValueError
        ours(bad)
    bench(_batch(ours, items), group=group, impl="bitget_fast", items=BATCH)


@pytest.mark.parametrize("group", list(CASES))
def test_rules_decimal_baseline(bench, group):
    ours, base, items, bad = CASES[group]
    _check_same(ours, base, items)
    with pytest.raises(ValueError):
        base(bad)
    bench(_batch(base, items), group=group, impl="Decimal", items=BATCH)


ORDER_GROUP = "rules: order check (price_str + size_str + check_notional)"


def test_order_check_bitget_fast(bench):
    run = _order_check(BTC)
    assert run() == _order_check(BTC_DEC)() == ("60006.3", "1199.99")
    bench(run, group=ORDER_GROUP, impl="bitget_fast", items=BATCH)


def test_order_check_decimal_baseline(bench):
    run = _order_check(BTC_DEC)
    assert run() == ("60006.3", "1199.99")
    bench(run, group=ORDER_GROUP, impl="Decimal", items=BATCH)
