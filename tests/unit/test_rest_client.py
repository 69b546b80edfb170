"""RestClient against a scripted HTTP peer on a real loopback socket: replies that cannot be
read leave an order-changing call's outcome unknown (never "refused"), and a read gets a
clear ProtocolError; a non-Bitget error status keeps its class."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgspec
import pytest

from bitget_fast import (
    Credentials,
    ExchangeError,
    OutcomeUnknownError,
    ProtocolError,
    RateLimitError,
    RestClient,
)

PLACE = "/api/v2/mix/order/place-order"
TIME_REPLY = (b'HTTP/1.1 200 OK\r\nContent-Length: 77\r\n\r\n'
              b'{"code":"00000","msg":"success","requestTime":1,"data":{"serverTime":"1000"}}')


class _Ack(msgspec.Struct):
    orderId: str | None = None


async def _scripted_peer(script: Any, close: bool = False
                         ) -> tuple[asyncio.AbstractServer, str, list[float]]:
    """Answers /public/time properly and the n-th other request after ``script(n)``'s
    (delay_s, reply), then closes the connection if ``close``; returns those requests'
    arrival times (loop clock) as well."""
    arrivals: list[float] = []
    loop = asyncio.get_running_loop()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"Content-Length: (\d+)", head)
                if m:
                    await reader.readexactly(int(m.group(1)))
                if b"/public/time" in head:
                    writer.write(TIME_REPLY)
                else:
                    arrivals.append(loop.time())
                    delay, reply = script(len(arrivals))
                    if delay:
                        await asyncio.sleep(delay)
                    writer.write(reply)
                await writer.drain()
                if close and b"/public/time" not in head:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", arrivals


async def _peer(reply: bytes, close: bool = False) -> tuple[asyncio.AbstractServer, str]:
    """Answers /public/time properly and every other request with ``reply`` (then closes
    the connection if ``close``)."""
    server, url, _ = await _scripted_peer(lambda n: (0.0, reply), close)
    return server, url


def _run(reply: bytes, method: str, path: str, close: bool = False, **kw: Any) -> BaseException | Any:
    async def main() -> Any:
        server, url = await _peer(reply, close)
        try:
            async with RestClient(url, Credentials("k" * 16, "s", "p"), timeout_s=2) as rc:
                try:
                    return await rc.submit(method, path, **kw)
                except Exception as exc:  # noqa: BLE001 - the test inspects it
                    return exc
        finally:
            server.close()
            await server.wait_closed()
    return asyncio.run(asyncio.wait_for(main(), 10))


GARBAGE = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",              # not an envelope
    b"NOT HTTP AT ALL\r\n\r\n",                                         # not HTTP
    b'HTTP/1.1 200 OK\r\nContent-Length: 27\r\n\r\n{"code":"00000","data":[1]}',  # wrong shape
]


@pytest.mark.parametrize("reply", GARBAGE, ids=["not_envelope", "not_http", "wrong_shape"])
def test_unreadable_reply_to_an_order_leaves_its_outcome_unknown(reply):
    exc = _run(reply, "POST", PLACE, body={"clientOid": "x1"}, decode=_Ack)
    assert isinstance(exc, OutcomeUnknownError), exc
    assert exc.code == "malformed" and exc.path == PLACE and "reconcile by clientOid" in str(exc)


@pytest.mark.parametrize("reply", GARBAGE, ids=["not_envelope", "not_http", "wrong_shape"])
def test_unreadable_reply_to_a_read_is_a_protocol_error(reply):
    exc = _run(reply, "GET", "/api/v2/mix/order/detail", params={"clientOid": "x1"}, decode=_Ack)
    assert isinstance(exc, ProtocolError), exc


def test_non_bitget_error_status_keeps_its_class():
    body = b"<html>forbidden</html>"
    reply = b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    exc = _run(reply, "POST", PLACE, body={"clientOid": "x1"}, decode=_Ack)
    assert type(exc) is ExchangeError and exc.http_status == 403 and "forbidden" in exc.msg


OK_ACK = b'{"code":"00000","msg":"success","requestTime":1,"data":{"orderId":"42"}}'


def _chunked(body: bytes, sizes: list[int]) -> bytes:
    out, i = [], 0
    for n in sizes:
        out.append(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]))
        i += n
    out.append(b"%x\r\n%s\r\n" % (len(body[i:]), body[i:]) if body[i:] else b"")
    return b"".join(out) + b"0\r\nX-Trailer: t\r\n\r\n"


def test_chunked_and_read_to_close_replies_are_decoded():
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               + _chunked(OK_ACK, [1, 7, 30]))
    ack = _run(chunked, "POST", PLACE, body={"clientOid": "x1"}, decode=_Ack)
    assert ack == _Ack("42")
    to_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + OK_ACK
    assert _run(to_close, "GET", "/api/v2/mix/order/detail", close=True,
                params={"a": "1"}) == {"orderId": "42"}


def test_request_bytes_are_valid_http_and_correctly_signed():
    httptools = pytest.importorskip("httptools")
    from bitget_fast import Signer
    from bitget_fast._http import Request
    from bitget_fast.signing import prehash

    creds = Credentials("k" * 16, "the-secret", "pass")
    for demo in (False, True):
        rc = RestClient("http://127.0.0.1:9", creds, demo=demo)
        req = Request("GET", "/api/v2/mix/order/detail", "symbol=BTCUSDT&clientOid=a%2Bb", b"",
                      True, False, None, None)
        raw = rc._builder.build(req, 1_700_000_000_123)
        seen: dict[str, Any] = {"headers": {}}

        class P:
            def on_url(self, url: bytes) -> None:
                seen["url"] = url

            def on_header(self, name: bytes, value: bytes) -> None:
                seen["headers"][name.decode().lower()] = value.decode()

            def on_message_complete(self) -> None:
                seen["done"] = True

        httptools.HttpRequestParser(P()).feed_data(raw)
        h = seen["headers"]
        assert seen.get("done") and seen["url"] == b"/api/v2/mix/order/detail?symbol=BTCUSDT&clientOid=a%2Bb"
        assert h["access-timestamp"] == "1700000000123" and h["access-key"] == "k" * 16
        assert h["content-length"] == "0" and h["host"] == "127.0.0.1:9"
        expect = Signer("the-secret").sign(prehash(1_700_000_000_123, "GET", req.path, req.query))
        assert h["access-sign"] == expect
        assert (h.get("paptrading") == "1") is demo
        assert "the-secret" not in raw.decode()
        post = Request("POST", PLACE, "", b'{"a":"1"}', True, True, None, None)
        raw = rc._builder.build(post, 5)
        assert raw.endswith(b'Content-Length: 9\r\n\r\n{"a":"1"}')
        assert Signer("the-secret").sign(prehash(5, "POST", PLACE, None, b'{"a":"1"}')).encode() in raw
        for bad in ("/a b", "/a\r\nX: y", "/é"):
            with pytest.raises(ValueError):
                rc._builder.build(Request("GET", bad, "", b"", True, False, None, None), 5)


def test_demo_uses_the_demo_hosts_and_header():
    from bitget_fast import BitgetPerpetual
    from bitget_fast.market import DEMO_PUBLIC_WS_URL
    from bitget_fast.private import DEMO_PRIVATE_WS_URL

    bp = BitgetPerpetual(Credentials("k" * 16, "s", "p"), demo=True)
    assert bp.ws_public_url == DEMO_PUBLIC_WS_URL and bp.ws_private_url == DEMO_PRIVATE_WS_URL
    assert "wspap" in DEMO_PUBLIC_WS_URL and "wspap" in DEMO_PRIVATE_WS_URL
    assert b"paptrading: 1\r\n" in bp.rest._signed_head
    public = RestClient("http://127.0.0.1:9", None, demo=True)
    assert b"paptrading: 1\r\n" in public._public_head


def test_client_side_limit_refuses_an_order_that_would_wait_too_long_and_delays_reads():
    """place-order is 10/s: the 11th within the second is refused before it is sent when
    the wait is over max_rate_wait_s; a read over its limit (20/s) waits for the window."""
    body = b'{"code":"00000","msg":"success","requestTime":1,"data":{"a":1}}'
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

    async def main() -> None:
        server, url = await _peer(ok)
        try:
            async with RestClient(url, Credentials("k" * 16, "s", "p"), timeout_s=2,
                                  max_rate_wait_s=0.05, connections=1) as rc:
                for _ in range(10):
                    assert await rc.submit("POST", PLACE, body={"n": 1}) == {"a": 1}
                sent = rc.stats()["requests"]
                with pytest.raises(RateLimitError, match="not sent: .* over its rate limit"):
                    await rc.submit("POST", PLACE, body={"n": 1})
                assert rc.stats()["requests"] == sent
                loop = asyncio.get_running_loop()
                t0 = loop.time()
                tickers = [rc.submit("GET", "/api/v2/mix/market/ticker", params={"symbol": "X"},
                                     signed=False) for _ in range(21)]
                assert await asyncio.gather(*tickers) == [{"a": 1}] * 21
                assert rc.stats()["rate_waits"] >= 1 and loop.time() - t0 > 0.5
        finally:
            await asyncio.sleep(0.05)   # the peer's handlers see the client's close
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def _reply(status: int, code: str) -> bytes:
    body = b'{"code":"%s","msg":"m","requestTime":1,"data":{"a":1}}' % code.encode()
    return b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body)


def _with_scripted_peer(script: Any, check: Any, **client_kw: Any) -> None:
    """Run ``await check(rc, arrivals)`` with a RestClient (``client_kw``) on a scripted peer."""
    async def main() -> None:
        server, url, arrivals = await _scripted_peer(script)
        try:
            async with RestClient(url, Credentials("k" * 16, "s", "p"), timeout_s=5,
                                  **client_kw) as rc:
                await check(rc, arrivals)
        finally:
            await asyncio.sleep(0.05)   # the peer's handlers see the client's close
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_the_limiter_counts_a_request_when_it_is_written_not_when_it_queued():
    """Ten orders queue behind one slow connection (written over ~1 s), five more wait for
    the window: no second of arrivals at the server ever holds more than ten of them (a window
    stamped at queueing time let the five through together, ~1 s after the first ten queued)."""
    ok = _reply(200, "00000")

    async def check(rc: RestClient, arrivals: list[float]) -> None:
        got = await asyncio.gather(*(rc.submit("POST", PLACE, body={"n": i}) for i in range(15)))
        assert got == [{"a": 1}] * 15 and len(arrivals) == 15
        gaps = [arrivals[i] - arrivals[i - 10] for i in range(10, 15)]
        # 1.05 s by the limiter; the peer stamps an arrival when its loop reads it, which a
        # slow build (ASan) delays by tens of ms (0.97 s seen). Stamped at queueing time, as
        # before the fix, the last gap would be ~1.05 - 0.4 = 0.65 s: 0.9 tells them apart.
        assert min(gaps) >= 0.9, gaps
        assert rc.stats()["rate_waits"] >= 5

    _with_scripted_peer(lambda n: (0.1 if n <= 10 else 0.0, ok), check,
                        max_rate_wait_s=5, connections=1, max_connections=1)


def test_a_burst_refused_together_pauses_once_and_consecutive_429s_double_the_pause():
    """Five orders in flight on five connections all get 429: one pause of 1 s, not 1+2+4+8+16;
    the next order, sent after the pause, gets 429 again: the pause doubles to 2 s."""
    r429 = _reply(429, "429")

    async def check(rc: RestClient, arrivals: list[float]) -> None:
        loop = asyncio.get_running_loop()
        res = await asyncio.gather(*(rc.submit("POST", PLACE, body={"n": i}) for i in range(5)),
                                   return_exceptions=True)
        assert all(isinstance(r, RateLimitError) for r in res), res
        assert rc.stats()["rate_limited"] == 5
        now = loop.time()
        assert rc.limiter.backoff[PLACE] == 1.0
        assert 0.8 < rc.limiter.blocked_until[PLACE] - now <= 1.0
        # the paused endpoint: the next order waits out the pause (max_rate_wait_s=1)
        with pytest.raises(RateLimitError):
            await rc.submit("POST", PLACE, body={"n": 5})
        assert loop.time() - now >= 0.8 and len(arrivals) == 6
        assert rc.limiter.backoff[PLACE] == 2.0
        assert 1.8 < rc.limiter.blocked_until[PLACE] - loop.time() <= 2.0

    _with_scripted_peer(lambda n: (0.05, r429), check, connections=5, max_connections=5)


def test_a_cancel_over_the_limit_waits_for_its_slot_however_long():
    """max_rate_wait_s refuses orders that add risk; a cancel over its limit is sent late."""
    cancel = "/api/v2/mix/order/cancel-order"
    ok = _reply(200, "00000")

    async def check(rc: RestClient, arrivals: list[float]) -> None:
        got = await asyncio.gather(*(rc.submit("POST", cancel, body={"n": i}) for i in range(12)))
        assert got == [{"a": 1}] * 12 and rc.stats()["rate_waits"] >= 2
        assert arrivals[10] - arrivals[0] >= 1.0
        with pytest.raises(RateLimitError, match="not sent"):
            await asyncio.gather(*(rc.submit("POST", PLACE, body={"n": i}) for i in range(11)))

    _with_scripted_peer(lambda n: (0.0, ok), check, max_rate_wait_s=0.05)
