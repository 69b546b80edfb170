"""ContractSpec.from_rest: Bitget's contracts rows become the paper exchange's contracts.

Paper trading opens one simulator market per symbol from the row Bitget serves; the
simulator then serves that row back to the connector. Bitget's published example rows
(tests/fixtures/docs-examples) and the simulator's own rows must survive the round trip
unchanged, and a row that does not fit must be refused naming the field."""

from __future__ import annotations

import pathlib

import orjson
import pytest

from bitget_fast.sim.contracts import DEFAULT_CONTRACTS, ContractSpec
from bitget_fast.sim.engine import Engine

DOCS = pathlib.Path(__file__).resolve().parents[1] / "fixtures" / "docs-examples"


def docs_rows() -> list[dict]:
    _, _, _, body = (DOCS / "bitgetnet_futures_rest_contracts.txt").read_bytes().split(b"\n", 3)
    return orjson.loads(body)["data"]


@pytest.mark.parametrize("row", docs_rows(), ids=lambda r: r["symbol"])
def test_bitgets_published_rows_round_trip_through_the_simulator(row):
    tick = int(row["priceEndStep"])
    start = format(tick * 1000 / 10 ** int(row["pricePlace"]), f".{row['pricePlace']}f")
    spec = ContractSpec.from_rest(row, start)
    served = spec.as_rest()
    # every field Bitget sent is served back as sent (this older example lacks a few the
    # simulator adds with its defaults: maxOrderQty, maxMarketOrderQty, isRwa...)
    assert {k: served[k] for k in row} == row
    m = Engine([spec]).market(row["symbol"])
    assert m.status == row["symbolStatus"] and m.mark == tick * 1000


@pytest.mark.parametrize("symbol", sorted(DEFAULT_CONTRACTS))
def test_the_simulators_rows_round_trip(symbol):
    spec = DEFAULT_CONTRACTS[symbol]
    again = ContractSpec.from_rest(spec.as_rest(), spec.start_price)
    assert again.as_rest() == spec.as_rest()
    assert (again.tick, again.lot, again.min_trade_num, again.max_lever) == \
        (spec.tick, spec.lot, spec.min_trade_num, spec.max_lever)


def _row(**over):
    r = dict(DEFAULT_CONTRACTS["SOLUSDT"].as_rest())
    for k, v in over.items():
        if v is None:
            r.pop(k)
        else:
            r[k] = v
    return r


@pytest.mark.parametrize("over, start, field", [
    ({"pricePlace": None}, "150.000", "pricePlace is missing"),
    ({"pricePlace": "x"}, "150.000", "pricePlace must be an integer"),
    ({"pricePlace": "-1"}, "150.000", "pricePlace must be an integer"),
    ({"volumePlace": "99"}, "150.000", "volumePlace must be an integer"),
    ({"priceEndStep": "0"}, "150.000", "priceEndStep must be an integer"),
    ({"sizeMultiplier": "0"}, "150.000", "sizeMultiplier must be > 0"),
    ({"sizeMultiplier": "0.01"}, "150.000", "sizeMultiplier must be a plain decimal"),
    ({"minTradeNum": "1e-3"}, "150.000", "minTradeNum must be a plain decimal"),
    ({"minTradeNum": 0.1}, "150.000", "minTradeNum must be a string"),
    ({"makerFeeRate": "-0.0002"}, "150.000", "makerFeeRate must be a plain decimal"),
    ({"maxLever": "0"}, "150.000", "maxLever must be an integer"),
    ({"symbol": "BTC-USDT"}, "150.000", "bad symbol"),
    ({}, "150.001", "not a positive multiple of the tick"),
    ({}, "0", "not a positive multiple of the tick"),
    ({}, "abc", "not a positive multiple of the tick"),
])
def test_a_row_that_does_not_fit_is_refused_naming_the_field(over, start, field):
    with pytest.raises(ValueError, match=field):
        ContractSpec.from_rest(_row(**over), start)


def test_a_row_that_is_not_an_object_is_refused():
    with pytest.raises(ValueError, match="must be an object"):
        ContractSpec.from_rest(["SOLUSDT"], "150.000")
