"""RestClient against a scripted HTTP peer on a real loopback socket: replies that cannot be
read leave an order-changing call's outcome unknown (never "refused"), and a read gets a
clear ProtocolError; a non-Bitget error status keeps its class."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import msgspec
import pytest

from bitget_fast import Credentials, ExchangeError, OutcomeUnknownError, ProtocolError, RestClient

PLACE = "/api/v2/mix/order/place-order"
TIME_REPLY = (b'HTTP/1.1 200 OK\r\nContent-Length: 77\r\n\r\n'
              b'{"code":"00000","msg":"success","requestTime":1,"data":{"serverTime":"1000"}}')


class _Ack(msgspec.Struct):
    orderId: str | None = None


async def _peer(reply: bytes) -> tuple[asyncio.AbstractServer, str]:
    """Answers /public/time properly and every other request with ``reply``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"Content-Length: (\d+)", head)
                if m:
                    await reader.readexactly(int(m.group(1)))
                writer.write(TIME_REPLY if b"/public/time" in head else reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


def _run(reply: bytes, method: str, path: str, **kw: Any) -> BaseException | Any:
    async def main() -> Any:
        server, url = await _peer(reply)
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
