"""Request bodies: the REST client writes the JSON of a flat dict of ASCII strings (every
Bitget order's parameters) itself, byte for byte what orjson writes; any other body goes
through orjson. What reaches the socket is what was signed."""

from __future__ import annotations

import asyncio
import random
import re

import orjson
import pytest

from bitget_fast import Credentials, RestClient, Signer, prehash
from bitget_fast._http import flat_json

PLACE = "/api/v2/mix/order/place-order"
# every ASCII byte, control bytes, quote and backslash weighted up: they are the escapes
ALPHABET = [chr(c) for c in range(128)] + ['"', "\\", "\n", "\x00", "\x1f", "/"] * 8


def test_flat_json_equals_orjson_on_random_ascii_dicts():
    rnd = random.Random(20261124)
    for _ in range(5000):
        d = {"".join(rnd.choices(ALPHABET, k=rnd.randrange(0, 12))):
             "".join(rnd.choices(ALPHABET, k=rnd.randrange(0, 24)))
             for _ in range(rnd.randrange(0, 12))}
        assert flat_json(d) == orjson.dumps(d), d


def test_flat_json_of_an_order_and_of_nothing():
    order = {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed",
             "marginCoin": "USDT", "size": "0.001", "price": "30000.1", "side": "buy",
             "orderType": "limit", "force": "post_only", "clientOid": "bf-1a2b3c_4d"}
    assert flat_json(order) == orjson.dumps(order)
    assert flat_json({}) == b"{}"


class _S(str):
    pass


@pytest.mark.parametrize("d", [
    {"size": 1}, {"price": None}, {"a": 1.5}, {"orderList": [{"a": "b"}]}, {"a": {"b": "c"}},
    {1: "a"}, {"a": "caf\u00e9"}, {"caf\u00e9": "a"}, {"a": "\U0001f600"}, {"a": "\ud800"},
    {_S("a"): "b"}, {"a": _S("b")}, {"a": "b", "c": True},
], ids=repr)
def test_flat_json_declines_anything_else(d):
    # None: the client falls back to orjson (and its errors, e.g. for a lone surrogate)
    assert flat_json(d) is None


def test_flat_json_needs_a_dict():
    with pytest.raises(TypeError):
        flat_json(None)      # type: ignore[arg-type]
    with pytest.raises(TypeError):
        flat_json([("a", "b")])  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [
    {"symbol": "BTCUSDT", "clientOid": 'q"uo\\te\n'},          # written by flat_json
    {"symbol": "BTCUSDT", "note": "caf\u00e9", "size": 1},      # falls back to orjson
    {"orderList": [{"size": "1"}, {"size": "2"}], "symbol": "BTCUSDT"},
])
def test_the_body_on_the_wire_is_the_json_that_was_signed(body):
    seen: list[tuple[bytes, bytes]] = []
    ok = b'{"code":"00000","msg":"success","data":null}'
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ok), ok)
    time_reply = (b'HTTP/1.1 200 OK\r\nContent-Length: 77\r\n\r\n'
                  b'{"code":"00000","msg":"success","requestTime":1,"data":{"serverTime":"1000"}}')

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"Content-Length: (\d+)", head)
                raw = await reader.readexactly(int(m.group(1))) if m else b""
                if b"/public/time" in head:
                    writer.write(time_reply)
                else:
                    seen.append((head, raw))
                    writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        try:
            async with RestClient(url, Credentials("k" * 16, "s3cret", "p"), timeout_s=2) as rc:
                assert await rc.submit("POST", PLACE, body=body) is None
            await asyncio.sleep(0.05)
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(asyncio.wait_for(main(), 10))
    [(head, raw)] = seen
    assert raw == orjson.dumps(body)
    ts = int(re.search(rb"ACCESS-TIMESTAMP: (\d+)\r\n", head).group(1))
    sign = re.search(rb"ACCESS-SIGN: (\S+)\r\n", head).group(1).decode()
    assert sign == Signer("s3cret").sign(prehash(ts, "POST", PLACE, None, raw))
