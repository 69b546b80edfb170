"""The malformed-input table: one test per class of bad input, each sent by the simulator to
the running connector over loopback. Each must give a typed error or a counted drop, and the
connector must keep running with correct state: after the bad input the books resync to
equal the simulator's, and an order placed afterwards ends with orders, fills, positions and
balances equal to the engine's.

| class | how it arrives | what the connector must do |
|---|---|---|
| truncated JSON, wrong types, exponents / overflow / NaN / negative sizes, empty arrays, unknown action, unknown channel, missing fields, deep nesting, non-UTF-8, binary frame, 16 MB frame | public WebSocket push | count it (`rejected`, `rejected_book_messages` or `integrity_errors`), report an event, resync the books it may concern |
| extra (unknown) fields | public WebSocket push | accept it: Bitget adds fields |
| a push that cannot be read | private WebSocket | count it, reconnect, reconcile by REST |
| a body that is not JSON, an HTML error page, a wrong Content-Length, not HTTP | REST reply to an order (executed or not) | the outcome is unknown, never refused: resolved by clientOid |
| the same | REST reply to a read | retried; `ExchangeUnavailableError` / `ProtocolError` only if it persists |
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest

from bitget_fast import connector
from bitget_fast import (ExchangeError, ExchangeUnavailableError, OutcomeUnknownError,
                         ProtocolError)

from .conftest import run_async
from .test_trading import bid_ask, converged, eventually, scenario, take

SYM = "BTCUSDT"
ARG = b'{"instType":"USDT-FUTURES","channel":"books","instId":"BTCUSDT"}'


def _update(data: bytes, action: bytes = b"update", arg: bytes = ARG) -> bytes:
    return b'{"action":"%s","arg":%s,"data":%s,"ts":1700000000000}' % (action, arg, data)


def _level(price: bytes, size: bytes = b'"1"') -> bytes:
    return _update(b'[{"asks":[["%s",%s]],"bids":[],"checksum":1,"seq":999999999,"ts":"1"}]'
                   % (price, size))


PUBLIC: dict[str, tuple[bytes, bool]] = {
    # name: (frame, binary)
    "truncated_json": (_update(b'[{"asks":[["65000.5","1"]],"bids":[')[:-25], False),
    "wrong_types": (_update(b'[{"asks":"none","bids":{},"checksum":"x","seq":[1]}]'), False),
    "wrong_type_data": (_update(b'"levels"'), False),
    "exponent_price": (_level(b"6.5e4"), False),
    "overflow_price": (_level(b"9" * 40), False),
    "nan_price": (_level(b"NaN"), False),
    "nan_token": (_update(b'[{"asks":[[NaN,1]],"bids":[],"checksum":1,"seq":9}]'), False),
    "negative_size": (_level(b"65000.5", b'"-1"'), False),
    "infinite_size": (_level(b"65000.5", b'"Infinity"'), False),
    "empty_data": (_update(b"[]"), False),
    "empty_levels_bad_checksum": (_update(b'[{"asks":[],"bids":[],"checksum":12345,"seq":999999999}]'),
                                  False),
    "unknown_action": (_update(b'[{"asks":[],"bids":[]}]', action=b"patch"), False),
    "unknown_channel": (_update(b"[]", arg=b'{"instType":"USDT-FUTURES","channel":"books77",'
                                          b'"instId":"BTCUSDT"}'), False),
    "unsubscribed_channel": (_update(b'[{"x":1}]', arg=b'{"instType":"USDT-FUTURES",'
                                                        b'"channel":"candle1m","instId":"BTCUSDT"}'),
                             False),
    "unknown_symbol": (_update(b'[{"asks":[],"bids":[]}]', arg=b'{"instType":"USDT-FUTURES",'
                                                              b'"channel":"books","instId":"NOPEUSDT"}'),
                       False),
    "missing_arg": (b'{"action":"update","data":[{"asks":[],"bids":[]}]}', False),
    "missing_data": (b'{"action":"update","arg":%s}' % ARG, False),
    "missing_levels": (_update(b'[{"checksum":1,"seq":999999999}]'), False),
    "deep_nesting": (b"[" * 200_000 + b"]" * 200_000, False),
    "deep_nesting_in_data": (_update(b"[" * 5000 + b"]" * 5000), False),
    "non_utf8": (_update(b'[{"asks":[["65000.5","1"]],"bids":[],"x":"\xff\xfe\xc3\x28"}]'), False),
    "binary_frame": (_update(b'[{"asks":[],"bids":[]}]'), True),
    "not_json_at_all": (b"hello, this is not JSON", False),
    "event_without_code": (b'{"event":"error"}', False),
}


def _counted(stats: dict[str, int]) -> int:
    return sum(stats.get(k, 0) for k in ("rejected", "rejected_book_messages", "rejected_messages",
                                         "integrity_errors", "unexpected_pushes", "error_events",
                                         "unknown_events"))


def _book_equal(sim: Any, bp: Any) -> Any:
    book = bp._markets[SYM].book(SYM)
    f = sim.hub.feeds[SYM]
    b, a = f.top(len(f.bs) + len(f.as_))
    if not book.is_valid or book.seq != sim.engine.markets[SYM].seq:
        return f"not caught up: valid={book.is_valid} seq {book.seq} vs {sim.engine.markets[SYM].seq}"
    if (book.bids(), book.asks()) != ([tuple(x) for x in b], [tuple(x) for x in a]):
        return "levels differ"
    return True if book.checksum() == f.checksum() else "checksum differs"


def _take_through(sim: Any, taker: Any, price: Decimal) -> None:
    """Another trader buys every ask up to ``price`` (ours included)."""
    m = sim.engine.market(SYM)
    upto = [p for p in m.asks.prices if m.spec.price_dec(p) <= price]
    take(sim, taker, "buy", str(m.spec.size_dec(sum(m.asks.levels[p][0] for p in upto))))


async def _trade_and_converge(sim: Any, acc: Any, taker: Any, bp: Any) -> None:
    """Orders after the bad input: one resting that another trader fills, one taking; state
    equal to the engine's."""
    bid, ask = bid_ask(sim)
    o = await bp.place_order(SYM, "sell", "0.01", str(bid + bp.contract(SYM).tick))
    _take_through(sim, taker, o.price)
    await eventually(lambda: o.status == "filled" or o.status, 5, "the resting order fills")
    m = await bp.place_order(SYM, "buy", "0.02", order_type="market")
    await eventually(lambda: m.status == "filled" or m.status, 5, "the market order fills")
    await converged(bp, sim, acc, 10)


@pytest.mark.parametrize("name", list(PUBLIC))
@run_async(60)
async def test_public_push(name: str) -> None:
    frame, binary = PUBLIC[name]
    async with scenario() as (sim, acc, taker, bp):
        await bp.book(SYM)
        md = bp._markets[SYM]
        sim.advance(20)
        await eventually(lambda: _book_equal(sim, bp), 5, "before")
        before = _counted(md.stats())
        n_events = len(md.events)
        assert sim.send_malformed("public", frame, binary=binary) == 1
        await eventually(lambda: _counted(md.stats()) > before or "not counted", 5, name)
        new = list(md.events)[n_events:]
        assert any(e.kind in ("rejected", "integrity", "error") for e in new), new
        # the books it may concern are resynced, and equal the simulator's again
        for _ in range(10):
            sim.advance(5)
            await asyncio.sleep(0.01)
        await eventually(lambda: _book_equal(sim, bp), 10, "after")
        await _trade_and_converge(sim, acc, taker, bp)


@run_async(60)
async def test_public_push_16_mb_frame_is_refused_and_counted() -> None:
    async with scenario() as (sim, acc, taker, bp):
        await bp.book(SYM)
        md = bp._markets[SYM]
        await eventually(lambda: _book_equal(sim, bp), 5, "before")
        before = _counted(md.stats())
        # exactly max_frame_bytes (16 MiB): read, then rejected as a push of the wrong shape
        sim.send_oversized("public", 16 << 20)
        await eventually(lambda: _counted(md.stats()) > before or "not counted", 15, "16 MiB")
        assert md.stats()["connects"] == 1
        sim.advance(10)
        await eventually(lambda: _book_equal(sim, bp), 15, "after 16 MiB")
        # one byte more: the connection is closed (1009, message too big), then resumed
        sim.send_oversized("public", (16 << 20) + 1)
        await eventually(lambda: md.stats()["connects"] > 1 or "no reconnect", 15, "16 MiB + 1")
        sim.advance(10)
        await eventually(lambda: _book_equal(sim, bp), 15, "after 16 MiB + 1")
        await _trade_and_converge(sim, acc, taker, bp)


@run_async(60)
async def test_public_push_with_extra_fields_is_accepted() -> None:
    async with scenario() as (sim, acc, taker, bp):
        await bp.book(SYM)
        md = bp._markets[SYM]
        sim.advance(20)
        await eventually(lambda: _book_equal(sim, bp), 5, "before")
        f = sim.hub.feeds[SYM]
        b, a = f.top(len(f.bs) + len(f.as_))
        seq = sim.engine.markets[SYM].seq
        # the exchange's own book again, as a snapshot with fields nobody documented yet
        frame = orjson.dumps({"action": "snapshot", "newTopField": {"x": [1, 2]},
                              "arg": {"instType": "USDT-FUTURES", "channel": "books",
                                      "instId": SYM, "newArgField": "v"},
                              "data": [{"asks": a, "bids": b, "checksum": f.checksum(), "seq": seq,
                                        "ts": "1700000000000", "newDataField": 7,
                                        "moreLevels": [["1", "2"]]}],
                              "ts": 1700000000000})
        applied = md.stats()["book_messages"]
        counted = _counted(md.stats())
        sim.send_malformed("public", frame)
        await eventually(lambda: md.stats()["book_messages"] > applied or "not applied", 5)
        assert _counted(md.stats()) == counted
        assert _book_equal(sim, bp) is True
        await _trade_and_converge(sim, acc, taker, bp)


PRIVATE = {
    "truncated_json": (b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"orders"', False),
    "wrong_types": (b'{"action":"snapshot","arg":{"instType":"USDT-FUTURES","channel":"orders",'
                    b'"instId":"default"},"data":"oops"}', False),
    "non_utf8": (b'{"action":"snapshot","arg":{"channel":"orders\xff"},"data":[]}', False),
    "binary_frame": (b'{"action":"snapshot","arg":{"channel":"orders"},"data":[]}', True),
    "deep_nesting": (b"[" * 100_000, False),
}


@pytest.mark.parametrize("name", list(PRIVATE))
@run_async(60)
async def test_private_push_that_cannot_be_read_leads_to_reconnect_and_reconcile(name: str) -> None:
    frame, binary = PRIVATE[name]
    async with scenario() as (sim, acc, taker, bp):
        bid, ask = bid_ask(sim)
        o = await bp.place_order(SYM, "sell", "0.01", str(bid + bp.contract(SYM).tick))
        reconciles = bp.stats()["connector"]["reconciles"]
        rejected = bp.stats()["private"]["rejected"]
        assert sim.send_malformed("private", frame, binary=binary) == 1
        # a fill while the stream is being re-established must still arrive
        _take_through(sim, taker, o.price)
        await eventually(lambda: bp.stats()["private"]["rejected"] > rejected or "not counted", 5)
        await eventually(lambda: bp.stats()["connector"]["reconciles"] > reconciles or
                         "no reconcile", 15)
        await eventually(lambda: o.status == "filled" or o.status, 10)
        await converged(bp, sim, acc, 15)


def _http(status: bytes, body: bytes, *, ctype: bytes = b"application/json",
          length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return (b"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: keep-alive"
            b"\r\n\r\n%s" % (status, ctype, n, body))


_HTML = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 "
         b"Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")
_ACK = b'{"code":"00000","msg":"success","requestTime":1,"data":{"orderId":"1","clientOid":"x"}}'
REST = {
    "not_json_200": _http(b"200 OK", b"hello"),
    "html_502": _http(b"502 Bad Gateway", _HTML, ctype=b"text/html"),
    "html_200": _http(b"200 OK", _HTML, ctype=b"text/html"),
    "json_not_an_envelope": _http(b"200 OK", b'[1,2,3]'),
    "content_length_too_long": _http(b"200 OK", _ACK, length=len(_ACK) + 100),
    "content_length_too_short": _http(b"200 OK", _ACK, length=10),
    "content_length_not_a_number": _http(b"200 OK", _ACK).replace(
        b"Content-Length: %d" % len(_ACK), b"Content-Length: 12abc"),
    "not_http": b"SSH-2.0-OpenSSH_9.6\r\n",
    "truncated_head": b"HTTP/1.1 200 OK\r\nContent-Le",
}
PLACE = "/api/v2/mix/order/place-order"


@pytest.fixture
def quick_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup of an unknown outcome starts at 20 ms instead of 200 (5 tries, doubling):
    an order the exchange never took is known in ~0.6 s instead of ~6 s."""
    monkeypatch.setattr(connector, "RESOLVE_FIRST_S", 0.02)


@pytest.mark.parametrize("executed", [False, True], ids=["not_executed", "executed"])
@pytest.mark.parametrize("name", list(REST))
@pytest.mark.usefixtures("quick_lookup")
@run_async(60)
async def test_rest_reply_to_an_order(name: str, executed: bool) -> None:
    async with scenario(request_timeout_s=1.0) as (sim, acc, taker, bp):
        bid, _ = bid_ask(sim)
        sim.reply_raw(REST[name], path=PLACE, execute=executed)
        try:
            o = await bp.place_order(SYM, "buy", "0.01", str(bid - 10))
        except OutcomeUnknownError:
            assert not executed, "the exchange has the order: place_order must return it"
            o = next(iter(bp.orders.values()))
            assert o.status == "rejected"
        else:
            assert executed, f"returned an order the exchange never took: {o}"
            assert o.status == "live" and o.order_id == acc.by_client_oid[o.client_oid].order_id
        await converged(bp, sim, acc, 10)
        o2 = await bp.place_order(SYM, "buy", "0.01", str(bid - 11))
        assert o2.status == "live"
        await converged(bp, sim, acc, 10)


@pytest.mark.parametrize("name", ["html_502", "not_json_200", "content_length_too_short",
                                  "not_http"])
@run_async(60)
async def test_rest_reply_to_a_read_is_retried(name: str) -> None:
    async with scenario() as (sim, acc, taker, bp):
        path = "/api/v2/mix/account/accounts"
        sim.reply_raw(REST[name], path=path)
        rows = await bp.rest.request("GET", path, params={"productType": "USDT-FUTURES"})
        assert rows and rows[0]["marginCoin"] == "USDT"
        # persistent: a typed error, never garbage
        sim.reply_raw(REST[name], path=path, count=10)
        with pytest.raises((ExchangeUnavailableError, ProtocolError, ExchangeError)) as e:
            await bp.rest.request("GET", path, params={"productType": "USDT-FUTURES"})
        assert type(e.value) in (ExchangeUnavailableError, ProtocolError, ExchangeError), e.value
        sim.clear_faults()
        await bp.reconcile()
        await converged(bp, sim, acc, 10)
        assert bp.balances["USDT"].equity == Decimal(sim.engine.accounts_row(acc)["accountEquity"])


@run_async(60)
async def test_private_push_over_the_frame_limit_leads_to_reconnect_and_reconcile() -> None:
    async with scenario() as (sim, acc, taker, bp):
        bid, _ = bid_ask(sim)
        o = await bp.place_order(SYM, "sell", "0.01", str(bid + bp.contract(SYM).tick))
        connects = bp.stats()["private"]["connects"]
        reconciles = bp.stats()["connector"]["reconciles"]
        sim.send_oversized("private", 11 << 20)   # picows' default limit is 10 MiB
        _take_through(sim, taker, o.price)
        await eventually(lambda: bp.stats()["private"]["connects"] > connects or "no reconnect", 15)
        await eventually(lambda: bp.stats()["connector"]["reconciles"] > reconciles or
                         "no reconcile", 15)
        await eventually(lambda: o.status == "filled" or o.status, 10)
        await converged(bp, sim, acc, 15)
