"""Trading rules on random contracts: exact round trips, every off-grid value refused, rounding valid.

Contracts are random rows (pricePlace, priceEndStep, volumePlace, sizeMultiplier, minTradeNum,
maxOrderQty, maxMarketOrderQty, minTradeUSDT) parsed by ``Contract.from_row``. The oracles are
independent of ``rules.py``: integer arithmetic on mantissas, ``Decimal`` in a wide context, and
the simulator's own ``parse_units``/``fmt_units`` (what the simulated exchange accepts and how
it prints).
"""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from bitget_fast.errors import ValidationError
from bitget_fast.rules import Contract
from bitget_fast.sim.contracts import fmt_units, parse_units

LIMIT = 10 ** 18
WIDE = Context(prec=200)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def contracts(draw: Any) -> Contract:
    pp = draw(st.integers(0, 10))
    step = draw(st.one_of(st.sampled_from([1, 2, 5, 10, 25]), st.integers(1, 10 ** 6)))
    vp = draw(st.integers(0, 8))
    lot = draw(st.one_of(st.sampled_from([1, 5, 10, 100]), st.integers(1, 10 ** 4)))
    min_units = draw(st.integers(0, 20 * lot))
    max_units = draw(st.one_of(st.none(), st.integers(min_units, 10 ** 15)))
    max_mkt = draw(st.one_of(st.none(), st.integers(min_units, 10 ** 15)))
    min_usdt = draw(st.sampled_from(["0", "5", "0.1", "100", "1.2345"]))
    row = {
        "symbol": "TESTUSDT", "baseCoin": "TEST", "quoteCoin": "USDT", "symbolType": "perpetual",
        "symbolStatus": "normal", "pricePlace": str(pp), "priceEndStep": str(step),
        "volumePlace": str(vp), "sizeMultiplier": fmt_units(lot, vp),
        "minTradeNum": fmt_units(min_units, vp), "minTradeUSDT": min_usdt,
        "makerFeeRate": "0.0002", "takerFeeRate": "0.0006", "minLever": "1", "maxLever": "125",
        "maxOrderQty": "" if max_units is None else fmt_units(max_units, vp),
        "maxMarketOrderQty": "" if max_mkt is None else fmt_units(max_mkt, vp),
    }
    note(row)
    return Contract.from_row(row)


def spellings(m: int, places: int) -> list[Any]:
    """Ways a user may write the value m * 10**-places (all exact)."""
    s = fmt_units(m, places)
    d = Decimal(m).scaleb(-places)
    out: list[Any] = [s, d, s + ("" if places else ".") + "000", "00" + s, f"{m}e-{places}",
                      format(d, "f"), format(d.normalize(WIDE), "f"), str(d.normalize(WIDE))]
    if m % 10 ** places == 0:
        out += [m // 10 ** places, str(m // 10 ** places)]
    return out


def price_grid_top(c: Contract) -> int:
    return (LIMIT - 1) // c.price_end_step


# ----------------------------------------------------------------------------- prices


@SETTINGS
@given(contracts(), st.data())
def test_every_multiple_of_the_tick_round_trips_exactly(c: Contract, data: Any) -> None:
    k = data.draw(st.one_of(st.integers(1, 1000), st.integers(1, price_grid_top(c))))
    m = k * c.price_end_step
    canonical = fmt_units(m, c.price_place)            # the simulator's formatter
    assert c.price_str(canonical) is canonical
    for given_ in spellings(m, c.price_place):
        wire = c.price_str(given_)
        assert wire == canonical, given_
        assert Decimal(wire) == Decimal(m).scaleb(-c.price_place) == Decimal(k) * c.tick
        assert parse_units(wire, c.price_place) == m      # the simulator reads what we meant


@SETTINGS
@given(contracts(), st.data())
def test_every_value_off_the_tick_raises(c: Contract, data: Any) -> None:
    extra = data.draw(st.integers(0, 6))               # digits beyond pricePlace
    unit = c.price_end_step * 10 ** extra              # the tick at pricePlace + extra
    top = (LIMIT - 1) * 10 ** extra
    n = data.draw(st.integers(1, top))
    assume(n % unit)
    text = fmt_units(n, c.price_place + extra)
    for given_ in (text, Decimal(text)):
        with pytest.raises(ValidationError) as e:
            c.price_str(given_)
        msg = str(e.value)
        assert msg.startswith(f"TESTUSDT: price {Decimal(text) if given_ is not text else text} ")
        assert f"the tick {format(c.tick, 'f')} (pricePlace {c.price_place}, priceEndStep " \
               f"{c.price_end_step})" in msg


@SETTINGS
@given(contracts(), st.integers(1, 10 ** 30), st.integers(0, 30),
       st.sampled_from(["down", "up", "nearest"]))
def test_round_price_results_always_pass_price_str(c: Contract, n: int, scale: int,
                                                   mode: str) -> None:
    value = Decimal(n).scaleb(-scale)
    # the oracle: k ticks, from exact fractions
    q = WIDE.divide(value, c.tick)
    k = {"down": int(q.to_integral_value(rounding="ROUND_FLOOR", context=WIDE)),
         "up": int(q.to_integral_value(rounding="ROUND_CEILING", context=WIDE)),
         "nearest": int(q.to_integral_value(rounding="ROUND_HALF_UP", context=WIDE))}[mode]
    m = k * c.price_end_step
    if k == 0 or m >= LIMIT:
        with pytest.raises(ValidationError):
            c.round_price(value, mode)
        return
    got = c.round_price(value, mode)
    assert got == Decimal(k) * c.tick
    assert c.price_str(got) == fmt_units(m, c.price_place)
    assert c.round_price(str(value), mode) == got
    if mode == "down":
        assert got <= value < got + c.tick
    elif mode == "up":
        assert got - c.tick < value <= got
    else:
        assert abs(got - value) <= c.tick / 2


@SETTINGS
@given(contracts(), st.from_regex(r"[0-9]{1,22}(\.[0-9]{1,16})?", fullmatch=True))
def test_plain_strings_agree_with_the_simulator(c: Contract, text: str) -> None:
    """A plain decimal string is accepted exactly when the simulated exchange accepts it."""
    m = parse_units(text, c.price_place)
    exchange_ok = m is not None and 0 < m < LIMIT and m % c.price_end_step == 0
    try:
        wire = c.price_str(text)
    except ValidationError:
        assert not exchange_ok
    else:
        assert exchange_ok and wire == fmt_units(m, c.price_place)       # type: ignore[arg-type]


# ----------------------------------------------------------------------------- sizes


def size_bounds(c: Contract, market: bool) -> tuple[int, int, int]:
    """(lot, smallest valid mantissa, largest valid mantissa) from the row's Decimals."""
    vp = c.volume_place
    lot = int(c.size_multiplier.scaleb(vp))
    min_units = max(1, int(c.min_trade_num.scaleb(vp)))
    lo = -(-min_units // lot) * lot
    mx = c.max_market_order_qty if market else c.max_order_qty
    top = LIMIT - 1 if mx is None else int(mx.scaleb(vp))
    return lot, lo, top // lot * lot


@SETTINGS
@given(contracts(), st.booleans(), st.data())
def test_every_valid_size_round_trips_and_the_rest_raise(c: Contract, market: bool,
                                                         data: Any) -> None:
    lot, lo, hi = size_bounds(c, market)
    assume(lo <= hi)
    m = data.draw(st.integers(lo // lot, hi // lot)) * lot
    canonical = fmt_units(m, c.volume_place)
    assert c.size_str(canonical, market=market) is canonical
    for given_ in spellings(m, c.volume_place):
        assert c.size_str(given_, market=market) == canonical
    # any other mantissa at volumePlace (or beyond it) is refused
    extra = data.draw(st.integers(0, 3))
    n = data.draw(st.integers(1, (LIMIT - 1) * 10 ** extra))
    unit = 10 ** extra
    valid = n % (lot * unit) == 0 and lo * unit <= n <= hi * unit
    text = fmt_units(n, c.volume_place + extra)
    if valid:
        assert c.size_str(text, market=market) == fmt_units(n // unit, c.volume_place)
    else:
        with pytest.raises(ValidationError) as e:
            c.size_str(text, market=market)
        assert str(e.value).startswith("TESTUSDT: ")


@SETTINGS
@given(contracts(), st.integers(1, 10 ** 24), st.integers(0, 20),
       st.sampled_from(["down", "up", "nearest"]), st.booleans())
def test_round_size_results_always_pass_size_str(c: Contract, n: int, scale: int, mode: str,
                                                 market: bool) -> None:
    lot, lo, hi = size_bounds(c, market)
    value = Decimal(n).scaleb(-scale)
    step = c.size_multiplier
    q = WIDE.divide(value, step)
    k = {"down": int(q.to_integral_value(rounding="ROUND_FLOOR", context=WIDE)),
         "up": int(q.to_integral_value(rounding="ROUND_CEILING", context=WIDE)),
         "nearest": int(q.to_integral_value(rounding="ROUND_HALF_UP", context=WIDE))}[mode]
    m = k * lot
    if not lo <= m <= hi:
        with pytest.raises(ValidationError):
            c.round_size(value, mode, market=market)
        return
    got = c.round_size(value, mode, market=market)
    assert got == Decimal(k) * step
    assert c.size_str(got, market=market) == fmt_units(m, c.volume_place)


# ----------------------------------------------------------------------------- order value


@SETTINGS
@given(contracts(), st.data())
def test_check_notional_is_the_exact_product(c: Contract, data: Any) -> None:
    size_m = data.draw(st.integers(1, 10 ** 12))
    price_m = data.draw(st.integers(1, 10 ** 12))
    size = fmt_units(size_m, c.volume_place)
    price = fmt_units(price_m, c.price_place)
    value = WIDE.multiply(Decimal(size), Decimal(price))
    longer = size + ("0" if "." in size else ".0")     # the same value, one decimal too many
    for s, p in ((size, price), (Decimal(size), Decimal(price)), (longer, price)):
        if value >= c.min_trade_usdt:
            c.check_notional(s, p)
        else:
            with pytest.raises(ValidationError) as e:
                c.check_notional(s, p)
            assert f"is below minTradeUSDT {format(c.min_trade_usdt, 'f')}" in str(e.value)


# ----------------------------------------------------------------------------- anything at all

ANYTHING = st.one_of(
    st.text(max_size=30), st.from_regex(r"[ +\-]?[0-9]{0,25}\.?[0-9]{0,25}([eE][+\-]?[0-9]{1,4})?"),
    st.decimals(), st.integers(-10 ** 30, 10 ** 30), st.floats(), st.booleans(), st.none(),
    st.binary(max_size=10))


@settings(SETTINGS, max_examples=500)
@given(contracts(), ANYTHING, st.booleans())
def test_anything_gives_a_wire_string_or_a_validation_error(c: Contract, value: Any,
                                                            market: bool) -> None:
    for call in (c.price_str, lambda v: c.size_str(v, market=market),
                 lambda v: c.check_notional(v, v), c.round_price,
                 lambda v: c.round_size(v, market=market)):
        try:
            out = call(value)
        except ValidationError as e:
            assert str(e)
        else:
            if isinstance(out, str):
                assert out.isascii() and "e" not in out.lower() and not out.startswith(("+", "-"))
                assert Decimal(out) > 0
