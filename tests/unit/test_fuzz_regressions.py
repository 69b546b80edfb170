"""Regression tests for the bugs the dispatch fuzzer (tests/fuzz/test_dispatch_fuzz.py) found.

1. A fill row whose ``feeDetail`` held something other than objects raised AttributeError
   out of the tracker (the connector catches only BitgetError there, so the push was treated
   as a callback failure): now a ProtocolError naming the field.
2. msgspec raises UnicodeDecodeError, not DecodeError, for invalid UTF-8 inside a str field:
   a trade push or a REST reply with such a byte escaped the decoders' error handling (a
   trade push stopped the user's stream as if their callback had failed): now a counted
   rejection / a typed error.
3. A success envelope whose ``data`` was not valid JSON raised TypeError while building the
   ProtocolError (``msgspec.Raw`` is not sliceable): now the ProtocolError itself.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import pytest

from bitget_fast import ProtocolError, RestClient
from bitget_fast._http import Request
from bitget_fast.market import MarketData
from bitget_fast.orders import OrderTracker
from bitget_fast.wire import REC_TEXT, replay_records



def _fill(fee_detail: Any) -> dict[str, Any]:
    return {"orderId": "111", "tradeId": "222", "symbol": "BTCUSDT", "side": "buy",
            "orderType": "limit", "price": "50000", "baseVolume": "0.01", "clientOid": "c1",
            "feeDetail": fee_detail, "cTime": "1700000000000", "tradeScope": "taker"}


@pytest.mark.parametrize("fee_detail", ["0.1", ["x"], [1], {"totalFee": "1"}, [None]])
def test_fill_with_malformed_fee_detail_is_a_protocol_error(fee_detail):
    tracker = OrderTracker()
    with pytest.raises(ProtocolError, match="feeDetail must be a list of objects"):
        tracker.apply_fill(_fill(fee_detail), "ws")
    assert not tracker._trade_ids and len(tracker) == 0   # nothing half-applied
    ok = tracker.apply_fill(_fill([{"feeCoin": "USDT", "totalFee": "-0.1", "deduction": "no"}]), "ws")
    assert ok is not None and str(ok.fee) == "0.1"


TRADE = (b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"trade","instId":'
         b'"BTCUSDT"},"data":[{"ts":"1700000000000","price":"50000","size":"0.1","side":"b\xffy",'
         b'"tradeId":"1"}],"ts":1700000000000}')


def test_trade_push_with_invalid_utf8_is_rejected_not_a_callback_failure():
    async def main() -> None:
        md = MarketData(["BTCUSDT"], trades=True)
        md._closed = asyncio.Event()
        conn = md._conns[0]
        listener = conn._make_listener()
        listener.on_ws_connected(None)
        buf = struct.pack("<IBBHq", len(TRADE), REC_TEXT, 0, 0, 1) + TRADE
        replay_records(buf, 0, [listener])
        assert md._failure is None, md._failure
        assert md.stats()["rejected_messages"] == 1
        assert md.events[-1].kind == "rejected" and "trade push" in md.events[-1].detail
        conn._ws_disconnected()
        await md.close()
    asyncio.run(main())


def _reply(body: bytes, changes_orders: bool = False) -> BaseException | Any:
    async def main() -> Any:
        client = RestClient("http://127.0.0.1:9", None)
        fut = asyncio.get_running_loop().create_future()
        req = Request("GET", "/api/v2/mix/account/accounts", "", b"", True, changes_orders, fut, None)
        client._reply(req, 200, body)
        assert fut.done()
        return fut.exception() or fut.result()
    return asyncio.run(main())


def test_rest_envelope_with_invalid_utf8_is_a_typed_error():
    exc = _reply(b'{"code":"00\xf4\x90\x80\x80000","msg":"success","data":[]}')
    assert isinstance(exc, ProtocolError) and "not a Bitget envelope" in str(exc)
    exc = _reply(b'{"code":"00\xf4\x90\x80\x80000","msg":"success","data":[]}', changes_orders=True)
    assert type(exc).__name__ == "OutcomeUnknownError"


def test_rest_data_that_is_not_json_is_a_protocol_error_with_its_excerpt():
    exc = _reply(b'{"code":"00000","msg":"success","data":"\xed\xa0\x80"}')
    assert isinstance(exc, ProtocolError) and "expected shape" in str(exc)
    assert exc.excerpt and exc.excerpt.startswith(b'"')


@pytest.mark.parametrize("field", ["orderId", "clientOid", "tradeId"])
@pytest.mark.parametrize("value", [["121211212122"], {"id": 1}, 1.5])
def test_ids_that_are_not_strings_are_protocol_errors(field, value):
    """4. An order or fill row whose orderId/clientOid/tradeId was a list raised TypeError
    (unhashable) from the tracker; now a ProtocolError naming the field."""
    tracker = OrderTracker()
    row = {"orderId": "1", "clientOid": "c1", "symbol": "BTCUSDT", "side": "buy", "size": "1",
           "status": "live", "accBaseVolume": "0", "tradeId": "7", "price": "1", "baseVolume": "1",
           "feeDetail": []}
    row[field] = value
    with pytest.raises(ProtocolError, match=f"{field} must be a string"):
        tracker.apply_row(row, "ws")
    with pytest.raises(ProtocolError, match=f"{field} must be a string"):
        tracker.apply_fill(row, "ws")
    assert len(tracker) == 0
    row[field] = 42   # a number is taken as its digits
    assert tracker.apply_row(row, "ws") is not None


@pytest.mark.parametrize("value", ["1E400000000", "-1e-999999", "NaN", "Infinity", "sNaN", "1" * 65,
                                   1.5, ["1"], True])
def test_numbers_that_are_not_usable_are_protocol_errors(value):
    """5. A fee of "1E400000000" was accepted by to_decimal and overflowed (decimal.Overflow)
    when the tracker added it up; absurd exponents, non-finite values, over-long strings and
    non-string types are now ProtocolErrors."""
    from bitget_fast.orders import to_decimal

    with pytest.raises(ProtocolError):
        to_decimal(value)
    tracker = OrderTracker()
    with pytest.raises(ProtocolError):
        tracker.apply_fill(_fill([{"feeCoin": "USDT", "totalFee": value, "deduction": "no"}]), "ws")
    assert not tracker._trade_ids and len(tracker) == 0
    assert str(to_decimal("1E40")) == "1E+40" and to_decimal(7) == 7 and to_decimal("") == 0


def test_a_route_error_excerpt_stays_inside_the_frame():
    """6. Found by the sanitizer run of the dispatch fuzz: when the C router refused a frame
    near its end, the excerpt was data[offset - 32:offset + 32] on the payload pointer, which
    read up to 32 bytes past the frame (a heap-buffer-overflow under ASan; in production,
    whatever followed in the receive buffer). It is clamped to the payload now."""
    frame = b'{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"boo'
    after = b"BYTES-OF-THE-NEXT-RECORD-NOT-OF-THIS-FRAME"
    seen: list[ProtocolError] = []

    async def main() -> None:
        md = MarketData(["BTCUSDT"])
        md._closed = asyncio.Event()
        conn = md._conns[0]
        listener = conn._make_listener()
        listener.on_ws_connected(None)
        conn._ws_rejected = lambda raw, exc, maybe_book=False: seen.append(exc)
        buf = b"".join(struct.pack("<IBBHq", len(p), REC_TEXT, 0, 0, 1) + p for p in (frame, after))
        replay_records(buf, 0, [listener], max_frames=1)
        await md.close()
    asyncio.run(main())
    assert len(seen) == 1 and seen[0].excerpt, seen
    assert frame.endswith(seen[0].excerpt), seen[0].excerpt


@pytest.mark.parametrize("data,key", [([1], "fillList"), ({"fillList": 7}, "fillList"),
                                      ({"fillList": ["x"]}, "fillList"), ("text", None),
                                      ([{"a": 1}, 2], None), ({"entrustedList": {}}, "entrustedList")])
def test_rest_rows_that_are_not_lists_of_objects_are_protocol_errors(data, key):
    """7. Found by atheris on the REST target: the reconciliation iterated fills, open orders,
    positions and accounts as they came, so a fillList that was a number raised TypeError
    half-way through a reconcile. connector.rows_of checks them first."""
    from bitget_fast.connector import rows_of

    with pytest.raises(ProtocolError, match="/api/v2/mix/order/fills: "):
        rows_of(data, key, "/api/v2/mix/order/fills")
    assert rows_of(None, key, "x") == [] and rows_of({key: None} if key else None, key, "x") == []
    assert rows_of({"fillList": [{"a": 1}]}, "fillList", "x") == [{"a": 1}]
