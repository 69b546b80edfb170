"""Trading rules: the contracts response parsed, prices and sizes checked and formatted.

Sources of rows: the Bitget docs example as published in Bitget.Net's tests
(tests/fixtures/docs-examples/bitgetnet_futures_rest_contracts.txt, SOURCES.md section C), the
protocol reference's section 11.2 example (it has maxOrderQty/maxMarketOrderQty, added by
Bitget in 2025-06, which the older docs example lacks), the simulator's contracts endpoint over
a loopback socket, and hand-made rows for the priceEndStep 5 cases of section 10.2.
"""

from __future__ import annotations

import asyncio
import copy
import pickle
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from bitget_fast.errors import ConfigurationError, ProtocolError, ValidationError
from bitget_fast.rules import MAX_DIGITS, SYMBOL_STATUSES, Contract, TradingRules, UnknownSymbolError
from bitget_fast.sim.contracts import DEFAULT_CONTRACTS, fmt_units, parse_units

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DOCS = FIXTURES / "docs-examples"

# Protocol reference section 11.2, the example row as printed there.
REFERENCE_11_2 = b"""{"code":"00000","msg":"success","requestTime":1695793701269,"data":[{
 "symbol":"BTCUSDT","baseCoin":"BTC","quoteCoin":"USDT","buyLimitPriceRatio":"0.9","sellLimitPriceRatio":"0.9",
 "feeRateUpRatio":"0.1","makerFeeRate":"0.0004","takerFeeRate":"0.0006","openCostUpRatio":"0.1",
 "supportMarginCoins":["USDT"],"minTradeNum":"0.01","priceEndStep":"1","volumePlace":"2","pricePlace":"1",
 "sizeMultiplier":"0.01","symbolType":"perpetual","minTradeUSDT":"5","maxSymbolOrderNum":"999999",
 "maxProductOrderNum":"999999","maxPositionNum":"150","symbolStatus":"normal","offTime":"-1","limitOpenTime":"-1",
 "deliveryTime":"","deliveryStartTime":"","launchTime":"","fundInterval":"8","minLever":"1","maxLever":"125",
 "posLimit":"0.05","maintainTime":"1680165535278","maxMarketOrderQty":"220","maxOrderQty":"1200","isRwa":"NO"}]}"""


def docs_rows() -> list[dict[str, Any]]:
    """The docs example: three header lines (method, path, auth flag), then the JSON body."""
    text = (DOCS / "bitgetnet_futures_rest_contracts.txt").read_bytes()
    method, path, auth, body = text.split(b"\n", 3)
    assert (method, path, auth) == (b"GET", b"/api/v2/mix/market/contracts", b"false")
    envelope = orjson.loads(body)
    assert envelope["code"] == "00000"
    return envelope["data"]


def row(**over: Any) -> dict[str, Any]:
    """The section 11.2 row with some fields replaced (None removes a field)."""
    r = dict(orjson.loads(REFERENCE_11_2)["data"][0])
    for k, v in over.items():
        if v is None:
            r.pop(k, None)
        else:
            r[k] = v
    return r


def contract(**over: Any) -> Contract:
    return Contract.from_row(row(**over))


def message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


BTC = contract()                                         # tick 0.1, lot 0.01, min 0.01, max 1200/220
# Section 10.2: pricePlace 2 + priceEndStep 5 -> multiples of 0.05; pricePlace 1 + 5 -> 0.5.
STEP5_P2 = contract(symbol="FIVEUSDT", pricePlace="2", priceEndStep="5")
STEP5_P1 = contract(symbol="HALFUSDT", pricePlace="1", priceEndStep="5")


# ----------------------------------------------------------------------------- parsing rows


def test_docs_example_parses():
    rules = TradingRules.from_response(docs_rows())
    assert list(rules) == ["BTCUSDT"] and len(rules) == 1 and "BTCUSDT" in rules
    c = rules["BTCUSDT"]
    assert (c.symbol, c.base_coin, c.quote_coin) == ("BTCUSDT", "BTC", "USDT")
    assert (c.price_place, c.price_end_step, c.volume_place) == (1, 1, 2)
    assert c.tick == Decimal("0.1") and str(c.tick) == "0.1"
    assert c.size_multiplier == Decimal("0.01") and c.min_trade_num == Decimal("0.01")
    assert c.min_trade_usdt == Decimal("5")
    assert (c.maker_fee_rate, c.taker_fee_rate) == (Decimal("0.0004"), Decimal("0.0006"))
    assert (c.buy_limit_price_ratio, c.sell_limit_price_ratio) == (Decimal("0.9"), Decimal("0.9"))
    assert (c.min_lever, c.max_lever) == (1, 125)
    assert (c.symbol_status, c.symbol_type, c.delivery_period) == ("normal", "perpetual", "")
    assert c.tradeable and c.usdt_perpetual
    # the docs example predates maxOrderQty / maxMarketOrderQty: unknown, so no maximum
    assert c.max_order_qty is None and c.max_market_order_qty is None
    assert c.size_str("100000") == "100000.00"
    assert c.size_str("100000", market=True) == "100000.00"
    assert rules.others == {} and rules.rejected == {}
    assert repr(rules) == "TradingRules(1 USDT-M perpetuals, 0 other, 0 rejected)"


def test_reference_11_2_example_parses_with_max_quantities():
    rules = TradingRules.from_response(orjson.loads(REFERENCE_11_2)["data"])
    c = rules["BTCUSDT"]
    assert c == BTC
    assert (c.max_order_qty, c.max_market_order_qty) == (Decimal("1200"), Decimal("220"))
    assert c.size_str("1200") == "1200.00"
    assert c.size_str("220", market=True) == "220.00"
    with pytest.raises(ValidationError) as e:
        c.size_str("1200.01")
    assert message(e) == ("BTCUSDT: size 1200.01 is above maxOrderQty 1200 for limit orders; "
                          "the largest valid size is 1200.00")
    with pytest.raises(ValidationError) as e:
        c.size_str("221", market=True)
    assert message(e) == ("BTCUSDT: size 221 is above maxMarketOrderQty 220 for market orders; "
                          "the largest valid size is 220.00")


def test_numbers_may_be_json_numbers_and_unknown_fields_are_ignored():
    c = contract(pricePlace=1, priceEndStep=1, volumePlace=2, sizeMultiplier=0.01,
                 minTradeNum=0.01, minTradeUSDT=5, makerFeeRate=0.0004, takerFeeRate=0.0006,
                 maxOrderQty=1200, maxMarketOrderQty=220.0, minLever=1.0, maxLever=125,
                 buyLimitPriceRatio=0.9, someFieldBitgetAddsLater={"x": [1, 2]}, isRwa="YES")
    assert c == BTC


def test_optional_fields_may_be_empty_or_absent():
    c = contract(maxOrderQty="", maxMarketOrderQty=None, buyLimitPriceRatio=None,
                 sellLimitPriceRatio="", deliveryPeriod="")
    assert (c.max_order_qty, c.max_market_order_qty) == (None, None)
    assert (c.buy_limit_price_ratio, c.sell_limit_price_ratio) == (None, None)
    assert c.usdt_perpetual


@pytest.mark.parametrize("field", [
    "baseCoin", "quoteCoin", "pricePlace", "priceEndStep", "volumePlace", "sizeMultiplier",
    "minTradeNum", "minTradeUSDT", "makerFeeRate", "takerFeeRate", "symbolStatus",
    "symbolType", "minLever", "maxLever"])
@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_required_field_is_named(field, value):
    r = row()
    if value is None:
        del r[field]
    else:
        r[field] = value
    with pytest.raises(ProtocolError) as e:
        Contract.from_row(r)
    assert message(e) == f"contracts row BTCUSDT: required field '{field}' is missing or empty"


@pytest.mark.parametrize("field, value, why", [
    ("pricePlace", "1.5", "is not a non-negative integer"),
    ("pricePlace", "-1", "is not a non-negative integer"),
    ("pricePlace", " 1", "is not a non-negative integer"),
    ("pricePlace", "19", "is outside 0..18"),
    ("pricePlace", 1.5, "is not an integer"),
    ("pricePlace", True, "is not an integer"),
    ("volumePlace", [2], "is not an integer"),
    ("priceEndStep", "0", "is outside 1..999999999999999999"),
    ("minLever", "one", "is not a non-negative integer"),
    ("sizeMultiplier", "0", "must be positive"),
    ("sizeMultiplier", "abc", "is not a decimal number"),
    ("sizeMultiplier", "0.01 ", "is not a decimal number"),
    ("minTradeNum", "-0.01", "must not be negative"),
    ("minTradeUSDT", "NaN", "is not a decimal number"),
    ("minTradeUSDT", float("inf"), "is not finite"),
    ("maxOrderQty", "1e99999999999999999999", "is out of range"),
    ("makerFeeRate", False, "is not a number"),
    ("takerFeeRate", {"v": 1}, "is not a number"),
    ("baseCoin", 5, "is not a string"),
    ("symbolStatus", ["normal"], "is not a string"),
])
def test_a_malformed_field_is_named(field, value, why):
    with pytest.raises(ProtocolError) as e:
        contract(**{field: value})
    assert message(e) == f"contracts row BTCUSDT: field '{field}' {why}: {value!r:.80}"


def test_negative_fee_rates_are_accepted():
    # a maker rebate is a negative rate; rates are not checked beyond being numbers
    assert contract(makerFeeRate="-0.0001").maker_fee_rate == Decimal("-0.0001")


def test_fields_inconsistent_together_are_a_protocol_error():
    with pytest.raises(ProtocolError) as e:
        contract(sizeMultiplier="0.001", volumePlace="2")
    assert message(e) == ("contracts row BTCUSDT: sizeMultiplier 0.001 is not a whole number of "
                          "units at volumePlace 2, so no size could be both")
    with pytest.raises(ProtocolError) as e:
        contract(minTradeUSDT="1e50")
    assert message(e) == "contracts row BTCUSDT: min_trade_usdt (minTradeUSDT) 1E+50 is out of range"


@pytest.mark.parametrize("bad, text", [
    ("BTCUSDT", "contracts: a row must be a JSON object, not str: 'BTCUSDT'"),
    ({"symbol": ""}, "contracts row: field 'symbol' is missing or not a non-empty string: "
                     "{'symbol': ''}"),
    ({"pricePlace": "1"}, "contracts row: field 'symbol' is missing or not a non-empty string: "
                          "{'pricePlace': '1'}"),
])
def test_from_row_without_an_object_or_symbol(bad, text):
    with pytest.raises(ProtocolError) as e:
        Contract.from_row(bad)
    assert message(e) == text


# ----------------------------------------------------------------------------- the whole response


def test_delivery_and_non_usdt_rows_are_kept_apart():
    data = [row(),
            row(symbol="BTCUSDT0328", symbolType="delivery", deliveryPeriod="this_quarter"),
            row(symbol="ETHUSDT", deliveryPeriod="next_quarter"),
            row(symbol="BTCPERP", quoteCoin="USDC")]
    rules = TradingRules.from_response(data)
    assert list(rules) == ["BTCUSDT"]
    assert list(rules.others) == ["BTCUSDT0328", "ETHUSDT", "BTCPERP"]
    assert not any(c.usdt_perpetual for c in rules.others.values())
    assert rules.others["BTCUSDT0328"].delivery_period == "this_quarter"
    with pytest.raises(UnknownSymbolError) as e:
        rules["BTCUSDT0328"]
    assert message(e) == ("BTCUSDT0328: not a USDT-M perpetual (symbolType delivery, "
                          "deliveryPeriod this_quarter); bitget_fast trades USDT-M perpetuals only")
    with pytest.raises(UnknownSymbolError) as e:
        rules["ETHUSDT"]
    assert message(e) == ("ETHUSDT: not a USDT-M perpetual (symbolType perpetual, deliveryPeriod "
                          "next_quarter); bitget_fast trades USDT-M perpetuals only")
    with pytest.raises(UnknownSymbolError) as e:
        rules["BTCPERP"]
    assert message(e) == ("BTCPERP: not a USDT-M perpetual (symbolType perpetual, quoteCoin "
                          "USDC); bitget_fast trades USDT-M perpetuals only")
    assert "BTCUSDT0328" not in rules and rules.get("BTCUSDT0328") is None
    assert repr(rules) == "TradingRules(1 USDT-M perpetuals, 3 other, 0 rejected)"


def test_unknown_symbol_is_a_validation_error_and_a_key_error():
    rules = TradingRules.from_response([row(), row(symbol="ETHUSDT")])
    with pytest.raises(UnknownSymbolError) as e:
        rules["DOGEUSDT"]
    assert isinstance(e.value, ValidationError) and isinstance(e.value, KeyError)
    assert message(e) == "DOGEUSDT: not a known USDT-M perpetual (the contracts response lists 2)"
    with pytest.raises(KeyError):
        rules["btcusdt"]
    with pytest.raises(ValidationError) as e:
        rules["btcusdt"]
    assert message(e) == ("btcusdt: not a known USDT-M perpetual (the contracts response lists 2)"
                          "; did you mean BTCUSDT?")
    with pytest.raises(ValidationError) as e:
        rules["BTCUSDT_UMCBL"]
    assert message(e).endswith("; did you mean BTCUSDT?")
    with pytest.raises(ValidationError) as e:
        rules["ETHUSDTT"]
    assert message(e).endswith("; did you mean ETHUSDT?")
    with pytest.raises(ValidationError) as e:
        rules[None]                                        # type: ignore[index]
    assert message(e) == "None: not a known USDT-M perpetual (the contracts response lists 2)"
    with pytest.raises(ValidationError):
        rules[["BTCUSDT"]]                                 # type: ignore[index]
    assert rules.get("DOGEUSDT") is None and "DOGEUSDT" not in rules
    assert rules.get("ETHUSDT") is rules["ETHUSDT"]
    assert dict(rules) == {"BTCUSDT": rules["BTCUSDT"], "ETHUSDT": rules["ETHUSDT"]}


def test_a_malformed_row_costs_only_its_symbol():
    rules = TradingRules.from_response([row(), row(symbol="ETHUSDT", pricePlace="x")])
    assert list(rules) == ["BTCUSDT"]
    assert rules.rejected == {"ETHUSDT": "contracts row ETHUSDT: field 'pricePlace' is not a "
                                         "non-negative integer: 'x'"}
    with pytest.raises(UnknownSymbolError) as e:
        rules["ETHUSDT"]
    assert message(e) == ("ETHUSDT: its trading rules are unknown because its contracts row "
                          "could not be used: contracts row ETHUSDT: field 'pricePlace' is not a "
                          "non-negative integer: 'x'")


def test_a_symbol_listed_twice_is_rejected():
    rules = TradingRules.from_response([row(), row(pricePlace="2"), row(symbol="ETHUSDT"),
                                        row(symbol="BTCUSDT")])
    assert list(rules) == ["ETHUSDT"]
    assert rules.rejected == {"BTCUSDT": "the contracts response lists it more than once"}


@pytest.mark.parametrize("data, text", [
    ({"code": "00000", "data": []}, "contracts: 'data' must be a list of rows, not dict (pass "
                                    "the envelope's 'data', not the whole envelope)"),
    (None, "contracts: 'data' must be a list of rows, not NoneType"),
    ([row(), "x"], "contracts: row 1 is not a JSON object but str: 'x'"),
    ([row(), {"symbol": 5}], "contracts: row 1 has no symbol (field 'symbol' is missing or not a "
                             "non-empty string): {'symbol': 5}"),
    ([row(pricePlace="x")], "contracts: no row could be read; the first problem: contracts row "
                            "BTCUSDT: field 'pricePlace' is not a non-negative integer: 'x'"),
])
def test_a_response_that_is_not_bitgets_format(data, text):
    with pytest.raises(ProtocolError) as e:
        TradingRules.from_response(data)
    assert message(e) == text


def test_an_empty_response_is_empty_rules():
    rules = TradingRules.from_response([])
    assert len(rules) == 0 and list(rules) == []


def test_trading_rules_from_contracts():
    eth = contract(symbol="ETHUSDT")
    rules = TradingRules([BTC, eth])
    assert rules["ETHUSDT"] is eth
    with pytest.raises(TypeError):
        TradingRules([row()])                              # type: ignore[list-item]


@pytest.mark.parametrize("status", sorted(SYMBOL_STATUSES))
def test_only_normal_is_tradeable(status):
    c = contract(symbolStatus=status)
    assert c.tradeable is (status == "normal")
    assert c.usdt_perpetual          # status does not move a row out of the rules
    # rules do not refuse to format for a halted symbol: the trading layer checks tradeable
    assert c.price_str("60000.1") == "60000.1"


# ----------------------------------------------------------------------------- the simulator


async def _get_contracts() -> tuple[int, Any]:
    from bitget_fast.sim import Simulator
    symbols = [*DEFAULT_CONTRACTS, "DOGEUSDT"]
    async with Simulator(symbols, flow_rate=0, book_depth=0) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.rest_port)
        try:
            writer.write(b"GET /api/v2/mix/market/contracts?productType=USDT-FUTURES HTTP/1.1\r\n"
                         b"Host: localhost\r\nContent-Length: 0\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            body = await reader.readexactly(length)
        finally:
            writer.close()
        return int(head.split()[1]), orjson.loads(body)


def test_the_simulators_contracts():
    status, envelope = asyncio.run(asyncio.wait_for(_get_contracts(), 20))
    assert status == 200 and envelope["code"] == "00000"
    rules = TradingRules.from_response(envelope["data"])
    assert sorted(rules) == sorted([*DEFAULT_CONTRACTS, "DOGEUSDT"])
    assert rules.others == {} and rules.rejected == {}
    for spec in DEFAULT_CONTRACTS.values():
        c = rules[spec.symbol]
        assert (c.price_place, c.price_end_step, c.volume_place) == (
            spec.price_place, spec.price_end_step, spec.volume_place)
        assert c.tick == spec.price_dec(spec.tick)
        assert c.size_multiplier == Decimal(spec.size_multiplier)
        assert c.max_order_qty == Decimal(spec.max_order_qty)
        assert c.max_market_order_qty == Decimal(spec.max_market_order_qty)
        # the simulator's own formatting of its start price is canonical here too
        start = parse_units(spec.start_price, spec.price_place)
        assert c.price_str(spec.start_price) is spec.start_price
        assert c.price_str(fmt_units(start + spec.tick, spec.price_place)) == \
            spec.price_str(start + spec.tick)
        assert c.size_str(spec.min_trade_num) == spec.size_str(spec.lot)
    sol = rules["SOLUSDT"]                 # pricePlace 3, priceEndStep 5: multiples of 0.005
    assert sol.tick == Decimal("0.005")
    assert sol.price_str("150.005") == "150.005"
    with pytest.raises(ValidationError) as e:
        sol.price_str("150.001")
    assert message(e) == ("SOLUSDT: price 150.001 is not a multiple of the tick 0.005 "
                          "(pricePlace 3, priceEndStep 5); nearest valid prices 150.000 and 150.005")


# ----------------------------------------------------------------------------- prices


def test_price_end_step_5_examples_of_section_10_2():
    assert STEP5_P2.tick == Decimal("0.05")
    assert STEP5_P2.price_str("9000.15") == "9000.15"
    with pytest.raises(ValidationError) as e:
        STEP5_P2.price_str("8999.13")
    assert message(e) == ("FIVEUSDT: price 8999.13 is not a multiple of the tick 0.05 "
                          "(pricePlace 2, priceEndStep 5); nearest valid prices 8999.10 and 8999.15")
    assert STEP5_P1.tick == Decimal("0.5")
    assert [STEP5_P1.price_str(p) for p in ("100.5", "101", "101.0", "0.5")] == \
        ["100.5", "101.0", "101.0", "0.5"]
    for p in ("100.3", "100.1", "0.1"):
        with pytest.raises(ValidationError):
            STEP5_P1.price_str(p)
    assert STEP5_P1.round_price("100.3") == Decimal("100.5")
    assert STEP5_P1.round_price("100.2") == Decimal("100.0")
    assert STEP5_P1.round_price("100.25") == Decimal("100.5")        # a tie goes up
    assert STEP5_P1.round_price("100.3", "down") == Decimal("100.0")
    assert STEP5_P1.round_price("100.01", "up") == Decimal("100.5")


@pytest.mark.parametrize("given, wire", [
    ("60000.1", "60000.1"),
    ("60000", "60000.0"),
    ("60000.", "60000.0"),
    ("60000.10", "60000.1"),            # a zero beyond pricePlace: the value is exact
    ("60000.1000000000000000000000000000000000", "60000.1"),
    ("060000.1", "60000.1"),
    ("0000000000000000000000000060000.1", "60000.1"),
    ("0.1", "0.1"),
    (".5", "0.5"),
    ("+60000.1", "60000.1"),
    ("1e3", "1000.0"),
    ("1E+3", "1000.0"),
    ("6.00001e4", "60000.1"),
    ("600001e-1", "60000.1"),
    (Decimal("60000.1"), "60000.1"),
    (Decimal("6.00001E+4"), "60000.1"),
    (Decimal("60000.100"), "60000.1"),
    (Decimal("1E+3"), "1000.0"),
    (60000, "60000.0"),
    (1, "1.0"),
    ("99999999999999999.9", "99999999999999999.9"),                # the largest: 18 digits
    (99999999999999999, "99999999999999999.0"),
])
def test_price_str_accepts_exact_values_and_writes_canonical_strings(given, wire):
    assert BTC.price_str(given) == wire


def test_a_canonical_price_string_is_returned_as_it_is():
    s = "".join(["60000", ".1"])
    assert BTC.price_str(s) is s
    s = "".join(["0", ".5"])
    assert STEP5_P1.price_str(s) is s
    zero_places = contract(pricePlace="0")
    s = "".join(["600", "01"])
    assert zero_places.price_str(s) is s
    assert zero_places.price_str("60001.") == "60001"
    assert zero_places.price_str("60001.000") == "60001"


@pytest.mark.parametrize("given, text", [
    ("60000.05", "BTCUSDT: price 60000.05 is not a multiple of the tick 0.1 (pricePlace 1, "
                 "priceEndStep 1); nearest valid prices 60000.0 and 60000.1"),
    ("60000.0500000000000000000000000000000001",
     "BTCUSDT: price 60000.0500000000000000000000000000000001 is not a multiple of the tick 0.1 "
     "(pricePlace 1, priceEndStep 1); nearest valid prices 60000.0 and 60000.1"),
    (Decimal("60000.05"), "BTCUSDT: price 60000.05 is not a multiple of the tick 0.1 "
                          "(pricePlace 1, priceEndStep 1); nearest valid prices 60000.0 and 60000.1"),
    ("0.01", "BTCUSDT: price 0.01 is not a multiple of the tick 0.1 (pricePlace 1, "
             "priceEndStep 1); the smallest valid price is 0.1"),
    ("1e-999999", "BTCUSDT: price 1e-999999 is not a multiple of the tick 0.1 (pricePlace 1, "
                  "priceEndStep 1); the smallest valid price is 0.1"),
    ("99999999999999999.95", "BTCUSDT: price 99999999999999999.95 is not a multiple of the tick "
                             "0.1 (pricePlace 1, priceEndStep 1); the largest valid price is "
                             "99999999999999999.9"),
    ("100000000000000000", "BTCUSDT: price 100000000000000000 is too large: at most 18 digits at "
                           "pricePlace 1 (below 100000000000000000.0)"),
    ("1e30", "BTCUSDT: price 1e30 is too large: at most 18 digits at pricePlace 1 "
             "(below 100000000000000000.0)"),
    ("1e999999999", "BTCUSDT: price 1e999999999 is too large: at most 18 digits at pricePlace 1 "
                    "(below 100000000000000000.0)"),
    (10 ** 17, "BTCUSDT: price 100000000000000000 is too large: at most 18 digits at "
               "pricePlace 1 (below 100000000000000000.0)"),
    pytest.param(10 ** 5000, "BTCUSDT: price <an int of 5001 digits> is too large: at most 18 "
                             "digits at pricePlace 1 (below 100000000000000000.0)", id="int5001"),
    pytest.param("1" * 5000, "BTCUSDT: price 111111111111111111111111111111111111111111111111111"
                             "111111111...11111111111111111111 (5000 characters) is too large: at "
                             "most 18 digits at pricePlace 1 (below 100000000000000000.0)",
                 id="str5000"),
    ("1e99999999999999999999", "BTCUSDT: price '1e99999999999999999999' is out of Decimal's range"),
    ("0", "BTCUSDT: price 0 is zero; it must be positive"),
    ("0.0", "BTCUSDT: price 0.0 is zero; it must be positive"),
    ("-0", "BTCUSDT: price -0 is zero; it must be positive"),
    (Decimal("-0"), "BTCUSDT: price -0 is zero; it must be positive"),
    (0, "BTCUSDT: price 0 is zero; it must be positive"),
    ("-60000.1", "BTCUSDT: price -60000.1 is negative; it must be positive"),
    (-1, "BTCUSDT: price -1 is negative; it must be positive"),
    (Decimal("-5"), "BTCUSDT: price -5 is negative; it must be positive"),
    (" 1", "BTCUSDT: price ' 1' is not a decimal number: write ASCII digits with an optional '.' "
           "and no spaces or underscores, e.g. '60000.1'"),
    ("1 ", None), ("1\n", None), ("\t1", None), ("1_000", None), ("", None), (".", None),
    ("1.2.3", None), ("1,5", None), ("e3", None), ("1e", None), ("0x10", None), ("--1", None),
    ("١٢٣", None), ("1²", None), ("６００００", None), ("nan", None), ("Infinity", None),
    ("sNaN", None),
    (Decimal("NaN"), "BTCUSDT: price NaN is not a finite number"),
    (Decimal("Infinity"), "BTCUSDT: price Infinity is not a finite number"),
    (Decimal("-Infinity"), "BTCUSDT: price -Infinity is not a finite number"),
    (Decimal("sNaN"), "BTCUSDT: price sNaN is not a finite number"),
    (60000.1, "BTCUSDT: price 60000.1 is a float; pass a str or Decimal instead (floats are "
              "inexact: 0.1 is stored as 0.1000000000000000055511151231257827021181583404541015625)"),
    (float("nan"), None), (float("inf"), None), (1.0, None),
    (True, "BTCUSDT: price True is a bool, not a number; pass a str or Decimal"),
    (False, "BTCUSDT: price False is a bool, not a number; pass a str or Decimal"),
    (None, "BTCUSDT: price must be a str, Decimal or int, not NoneType"),
    (b"60000.1", "BTCUSDT: price must be a str, Decimal or int, not bytes"),
    ([60000], "BTCUSDT: price must be a str, Decimal or int, not list"),
])
def test_price_str_errors(given, text):
    with pytest.raises(ValidationError) as e:
        BTC.price_str(given)
    if text is None:
        text = message(e)
        assert text.startswith("BTCUSDT: price "), text
        if isinstance(given, str):
            assert repr(given) in text
    else:
        assert message(e) == text


def test_price_str_is_independent_of_the_decimal_context():
    with localcontext() as ctx:
        ctx.prec = 3
        assert BTC.price_str("60000.1") == "60000.1"
        assert BTC.price_str(Decimal("60000.100")) == "60000.1"
        assert BTC.price_str("6.00001e4") == "60000.1"
        assert BTC.round_price("60000.15") == Decimal("60000.2")
        with pytest.raises(ValidationError):
            BTC.price_str("60000.0500000000000000000000000000001")
        BTC.check_notional("0.01", "500.0")
        with pytest.raises(ValidationError):
            BTC.check_notional("0.01", "499.9")


@pytest.mark.parametrize("price, mode, want", [
    ("60000.04", "nearest", "60000.0"), ("60000.05", "nearest", "60000.1"),
    ("60000.06", "nearest", "60000.1"), ("60000.09", "down", "60000.0"),
    ("60000.01", "up", "60000.1"), ("60000.1", "up", "60000.1"), ("60000.1", "down", "60000.1"),
    ("60000.100000000000000000000000000000001", "down", "60000.1"),
    ("60000.100000000000000000000000000000001", "up", "60000.2"),
    ("0.05", "nearest", "0.1"), ("0.0000001", "up", "0.1"), ("1e-999999", "up", "0.1"),
    (Decimal("60000.123"), "nearest", "60000.1"), (60000, "down", "60000.0"),
    ("99999999999999999.94", "nearest", "99999999999999999.9"),
])
def test_round_price(price, mode, want):
    got = BTC.round_price(price, mode)
    assert isinstance(got, Decimal) and str(got) == want
    assert BTC.price_str(got) == want


@pytest.mark.parametrize("price, mode, text", [
    ("0.04", "nearest", "BTCUSDT: price 0.04 rounded nearest to the tick 0.1 is 0, which is not a "
                        "valid price; the smallest valid price is 0.1"),
    ("0.09", "down", "BTCUSDT: price 0.09 rounded down to the tick 0.1 is 0, which is not a valid "
                     "price; the smallest valid price is 0.1"),
    ("1e-999999", "nearest", None),
    ("99999999999999999.95", "nearest", "BTCUSDT: price 99999999999999999.95 is too large: "
                                        "rounded nearest to the tick it is not below "
                                        "100000000000000000.0 (18 digits at pricePlace 1)"),
    ("1e40", "down", None),
    ("60000", "Down", "mode must be 'down', 'up' or 'nearest', not 'Down'"),
    ("60000", "half_even", "mode must be 'down', 'up' or 'nearest', not 'half_even'"),
    (60000.0, "nearest", None), ("-1", "up", None), ("0", "up", None),
])
def test_round_price_errors(price, mode, text):
    with pytest.raises(ValidationError) as e:
        BTC.round_price(price, mode)
    if text is not None:
        assert message(e) == text


# ----------------------------------------------------------------------------- sizes


# lot 0.01, minTradeNum 0.015 (not on the lot grid: the smallest valid size is 0.02),
# maxOrderQty 10.005 (largest valid 10.00), maxMarketOrderQty 5
ODD = contract(symbol="ODDUSDT", minTradeNum="0.015", maxOrderQty="10.005",
               maxMarketOrderQty="5")


@pytest.mark.parametrize("c, given, wire", [
    (BTC, "0.01", "0.01"), (BTC, "1", "1.00"), (BTC, "1.000", "1.00"), (BTC, ".5", "0.50"),
    (BTC, "1e2", "100.00"), (BTC, Decimal("0.10"), "0.10"), (BTC, 7, "7.00"),
    (BTC, "1200", "1200.00"), (ODD, "0.02", "0.02"), (ODD, "10", "10.00"),
])
def test_size_str_accepts(c, given, wire):
    assert c.size_str(given) == wire


def test_a_canonical_size_string_is_returned_as_it_is():
    s = "".join(["0", ".25"])
    assert BTC.size_str(s) is s
    assert BTC.size_str(s, market=True) is s


@pytest.mark.parametrize("c, given, market, text", [
    (BTC, "0.001", False, "BTCUSDT: size 0.001 is below minTradeNum 0.01; the smallest valid "
                          "size is 0.01"),
    (BTC, "0.015", False, "BTCUSDT: size 0.015 is not a multiple of sizeMultiplier 0.01 "
                          "(volumePlace 2); nearest valid sizes 0.01 and 0.02"),
    (BTC, "1199.999", False, "BTCUSDT: size 1199.999 is not a multiple of sizeMultiplier 0.01 "
                             "(volumePlace 2); nearest valid sizes 1199.99 and 1200.00"),
    (BTC, "1200.001", False, "BTCUSDT: size 1200.001 is above maxOrderQty 1200 for limit orders; "
                             "the largest valid size is 1200.00"),
    (BTC, "1200.01", True, "BTCUSDT: size 1200.01 is above maxMarketOrderQty 220 for market "
                           "orders; the largest valid size is 220.00"),
    (ODD, "0.015", False, "ODDUSDT: size 0.015 is not a multiple of sizeMultiplier 0.01 "
                          "(volumePlace 2); the smallest valid size is 0.02"),
    (ODD, "0.01", False, "ODDUSDT: size 0.01 is below minTradeNum 0.015; the smallest valid size "
                         "is 0.02"),
    (ODD, "10.005", False, "ODDUSDT: size 10.005 is not a multiple of sizeMultiplier 0.01 "
                           "(volumePlace 2); the largest valid size is 10.00"),
    (ODD, "10.01", False, "ODDUSDT: size 10.01 is above maxOrderQty 10.005 for limit orders; "
                          "the largest valid size is 10.00"),
    (ODD, "6", True, "ODDUSDT: size 6 is above maxMarketOrderQty 5 for market orders; the "
                     "largest valid size is 5.00"),
    (BTC, "0", False, "BTCUSDT: size 0 is zero; it must be positive"),
    (BTC, "-1", False, "BTCUSDT: size -1 is negative; it must be positive"),
    (BTC, 0.01, False, "BTCUSDT: size 0.01 is a float; pass a str or Decimal instead (floats are "
                       "inexact: 0.1 is stored as 0.1000000000000000055511151231257827021181583404541015625)"),
    (BTC, True, False, "BTCUSDT: size True is a bool, not a number; pass a str or Decimal"),
    (BTC, " 1", False, "BTCUSDT: size ' 1' is not a decimal number: write ASCII digits with an "
                       "optional '.' and no spaces or underscores, e.g. '60000.1'"),
    (BTC, "1e16", False, "BTCUSDT: size 1e16 is too large: at most 18 digits at volumePlace 2 "
                         "(below 10000000000000000.00)"),
])
def test_size_str_errors(c, given, market, text):
    with pytest.raises(ValidationError) as e:
        c.size_str(given, market=market)
    assert message(e) == text


def test_size_without_a_known_maximum():
    c = contract(maxOrderQty=None, maxMarketOrderQty=None)
    assert c.size_str("9999999999999999.99") == "9999999999999999.99"
    with pytest.raises(ValidationError) as e:
        c.size_str("9999999999999999.995")
    assert message(e) == ("BTCUSDT: size 9999999999999999.995 is not a multiple of "
                          "sizeMultiplier 0.01 (volumePlace 2); the largest valid size is "
                          "9999999999999999.99")


def test_no_valid_size_at_all():
    c = contract(minTradeNum="5", maxMarketOrderQty="1")
    assert c.size_str("5") == "5.00"
    with pytest.raises(ValidationError) as e:
        c.size_str("5", market=True)
    assert message(e) == ("BTCUSDT: no size is valid for market orders: maxMarketOrderQty 1 is "
                          "below the smallest size on the step 0.01 and at least minTradeNum 5, "
                          "5.00")


def test_a_maximum_of_zero_is_taken_literally():
    c = contract(maxMarketOrderQty="0")
    with pytest.raises(ValidationError) as e:
        c.size_str("1", market=True)
    assert message(e) == ("BTCUSDT: no size is valid for market orders: maxMarketOrderQty 0 is "
                          "below the smallest size on the step 0.01 and at least minTradeNum "
                          "0.01, 0.01")


@pytest.mark.parametrize("c, size, mode, market, want", [
    (BTC, "0.019", "down", False, "0.01"), (BTC, "0.011", "up", False, "0.02"),
    (BTC, "0.015", "nearest", False, "0.02"), (BTC, "0.0149", "nearest", False, "0.01"),
    (BTC, "1200.009", "down", False, "1200.00"), (BTC, Decimal("3.14159"), "down", False, "3.14"),
    (BTC, 3, "down", False, "3.00"), (ODD, "0.019", "up", False, "0.02"),
    (ODD, "5.009", "down", True, "5.00"),
])
def test_round_size(c, size, mode, market, want):
    got = c.round_size(size, mode, market=market)
    assert isinstance(got, Decimal) and str(got) == want
    assert c.size_str(got, market=market) == want


@pytest.mark.parametrize("c, size, mode, market, text", [
    (BTC, "0.009", "down", False, "BTCUSDT: size 0.009 rounded down to the step 0.01 is 0.00, "
                                  "below minTradeNum 0.01; the smallest valid size is 0.01"),
    (ODD, "0.019", "down", False, "ODDUSDT: size 0.019 rounded down to the step 0.01 is 0.01, "
                                  "below minTradeNum 0.015; the smallest valid size is 0.02"),
    (BTC, "1200.005", "up", False, "BTCUSDT: size 1200.005 rounded up to the step 0.01 is above "
                                   "maxOrderQty 1200 for limit orders; the largest valid size is "
                                   "1200.00"),
    (BTC, "221", "down", True, "BTCUSDT: size 221 rounded down to the step 0.01 is above "
                               "maxMarketOrderQty 220 for market orders; the largest valid size "
                               "is 220.00"),
    (BTC, "1e40", "down", False, "BTCUSDT: size 1e40 is too large: rounded down to the step 0.01 "
                                 "it is not below 10000000000000000.00 (18 digits at volumePlace 2)"),
    (contract(minTradeNum="0"), "0.009", "down", False,
     "BTCUSDT: size 0.009 rounded down to the step 0.01 is 0.00, which is not a valid size; the "
     "smallest valid size is 0.01"),
    (BTC, "1", "floor", False, "mode must be 'down', 'up' or 'nearest', not 'floor'"),
    (BTC, 1.5, "down", False, None),
])
def test_round_size_errors(c, size, mode, market, text):
    with pytest.raises(ValidationError) as e:
        c.round_size(size, mode, market=market)
    if text is not None:
        assert message(e) == text


# ----------------------------------------------------------------------------- order value


@pytest.mark.parametrize("size, price", [
    ("0.01", "500.0"), ("0.01", "500"), (Decimal("0.01"), Decimal("500")), ("1", "5"),
    ("0.0100", "500.00"), ("1e-2", "5e2"), (1, 5), ("1200", "99999999999999999.9"),
])
def test_check_notional_passes_at_and_above_the_minimum(size, price):
    assert BTC.check_notional(size, price) is None


@pytest.mark.parametrize("size, price, text", [
    ("0.01", "499.9", "BTCUSDT: order value 0.01 x 499.9 = 4.999 USDT is below minTradeUSDT 5; "
                      "at price 499.9 the smallest valid size that meets it is 0.02"),
    ("0.01", "60", "BTCUSDT: order value 0.01 x 60 = 0.60 USDT is below minTradeUSDT 5; at price "
                   "60 the smallest valid size that meets it is 0.09"),
    (Decimal("0.001"), "0.1", "BTCUSDT: order value 0.001 x 0.1 = 0.0001 USDT is below "
                              "minTradeUSDT 5; at price 0.1 the smallest valid size that meets "
                              "it is 50.00"),
    ("0.01", "0.1", "BTCUSDT: order value 0.01 x 0.1 = 0.001 USDT is below minTradeUSDT 5; at "
                    "price 0.1 the smallest valid size that meets it is 50.00"),
    # a price off its tick gets no hint (price_str would refuse it anyway)
    ("1", "0.001", "BTCUSDT: order value 1 x 0.001 = 0.001 USDT is below minTradeUSDT 5"),
    ("0.01", 499.9, "BTCUSDT: price 499.9 is a float; pass a str or Decimal instead (floats are "
                    "inexact: 0.1 is stored as 0.1000000000000000055511151231257827021181583404541015625)"),
    ("0", "500", "BTCUSDT: size 0 is zero; it must be positive"),
    ("1e16", "500", "BTCUSDT: size 1e16 is too large: at most 18 digits at volumePlace 2 "
                    "(below 10000000000000000.00)"),
])
def test_check_notional_errors(size, price, text):
    with pytest.raises(ValidationError) as e:
        BTC.check_notional(size, price)
    if text is not None:
        assert message(e) == text


def test_check_notional_when_no_size_can_meet_it():
    c = contract(minTradeUSDT="5", maxOrderQty="10")
    with pytest.raises(ValidationError) as e:
        c.check_notional("10", "0.4")
    assert message(e) == ("BTCUSDT: order value 10 x 0.4 = 4.0 USDT is below minTradeUSDT 5; "
                          "no valid size meets it at price 0.4")


def test_check_notional_is_exact_beyond_28_digits():
    # 0.01 x 499.99999999999999999999999999999999 is just below 5: a 28-digit context rounds to 5
    with pytest.raises(ValidationError):
        BTC.check_notional("0.01", "499.99999999999999999999999999999999")
    c = contract(minTradeUSDT="0")
    c.check_notional("0.01", "0.1")


# ----------------------------------------------------------------------------- the Contract object


def test_contract_is_an_immutable_hashable_struct():
    assert isinstance(BTC, msgspec.Struct)
    with pytest.raises(AttributeError):
        BTC.price_place = 2                                # type: ignore[misc]
    assert hash(BTC) == hash(contract()) and BTC == contract()
    assert BTC != STEP5_P2
    assert "price_place=1" in repr(BTC) and "_lot" not in repr(BTC)
    assert b"_lot" not in msgspec.json.encode(BTC)


@pytest.mark.parametrize("clone", [
    copy.copy, copy.deepcopy, lambda c: pickle.loads(pickle.dumps(c)),
    lambda c: msgspec.structs.replace(c),
    lambda c: msgspec.json.decode(msgspec.json.encode(c), type=Contract),
])
def test_copies_keep_working(clone):
    c = clone(STEP5_P2)
    assert c == STEP5_P2
    assert c.tick == Decimal("0.05")
    assert c.price_str("9000.15") == "9000.15"
    assert c.size_str("0.01") == "0.01"
    c.check_notional("0.01", "9000.15")


def test_replace_recomputes_the_rules():
    c = msgspec.structs.replace(BTC, price_place=2, price_end_step=5)
    assert c.tick == Decimal("0.05") and c.price_str("9000.15") == "9000.15"


def test_a_hand_built_contract_is_checked():
    fields = {f.name: getattr(BTC, f.name) for f in msgspec.structs.fields(Contract)}
    assert Contract(**fields) == BTC
    for name, value, text in [
        ("price_place", -1, "price_place must be an int from 0 to 18, not -1"),
        ("volume_place", "2", "volume_place must be an int from 0 to 18, not '2'"),
        ("price_end_step", 0, "price_end_step (priceEndStep) must be a positive int, not 0"),
        ("size_multiplier", 0.01, "size_multiplier must be a finite Decimal, not 0.01"),
        ("size_multiplier", Decimal("0"), "size_multiplier (sizeMultiplier) must be positive, not 0"),
        ("min_trade_usdt", Decimal("NaN"), "min_trade_usdt must be a finite Decimal, not Decimal('NaN')"),
        ("min_trade_num", Decimal("-1"), "min_trade_num must not be negative, not -1"),
        ("max_order_qty", Decimal("-1"), "a maximum order quantity must not be negative, not -1"),
        ("symbol", "", "symbol must not be empty"),
        ("symbol_type", None, "symbol_type must be a str, not None"),
        ("min_lever", "1", "min_lever must be an int, not '1'"),
    ]:
        with pytest.raises(ConfigurationError) as e:
            Contract(**{**fields, name: value})
        assert message(e) == text


def test_max_digits_is_the_int64_bound_of_the_book():
    assert MAX_DIGITS == 18 and 10 ** MAX_DIGITS - 1 < 2 ** 63 - 1


def test_a_size_at_the_digit_limit_rounds_down_onto_the_grid_below_it():
    """Found by hypothesis in CI (test_round_size_results_always_pass_size_str): 1e11 at
    volumePlace 7 is 10**18 units, one past the largest mantissa; rounded down to a step of 3
    units it is 10**18 - 1, a valid size. round_size refused it as 'too large: rounded down
    ... it is not below 100000000000.0000000', which was false."""
    from decimal import Decimal

    from bitget_fast.rules import Contract

    row = {"symbol": "TESTUSDT", "baseCoin": "TEST", "quoteCoin": "USDT", "symbolType": "perpetual",
           "symbolStatus": "normal", "pricePlace": "0", "priceEndStep": "1", "volumePlace": "7",
           "sizeMultiplier": "0.0000003", "minTradeNum": "0.0000000", "minTradeUSDT": "0",
           "makerFeeRate": "0.0002", "takerFeeRate": "0.0006", "minLever": "1", "maxLever": "125",
           "maxOrderQty": "", "maxMarketOrderQty": ""}
    c = Contract.from_row(row)
    for mode in ("down", "nearest"):   # 10**18 = 3 * 333333333333333333 + 1
        assert c.round_size(Decimal("100000000000.0000000000000"), mode) == \
            Decimal("99999999999.9999999")
    with pytest.raises(ValidationError, match="too large"):
        c.round_size(Decimal("100000000000"), "up")
    with pytest.raises(ValidationError, match="too large"):
        c.round_size(Decimal("1000000000000"), "down")     # two digits over: still refused
