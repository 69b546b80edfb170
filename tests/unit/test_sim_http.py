"""The simulator's HTTP server over real loopback sockets, driven by raw asyncio streams."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess

import orjson
import pytest

from bitget_fast.sim.http import MAX_PIPELINE, Request, Response, start_http_server

TEST_TIMEOUT_S = 5.0


def run(coro):
    """Run one test coroutine on a fresh loop, failing instead of hanging."""
    return asyncio.run(asyncio.wait_for(coro, TEST_TIMEOUT_S))


class Recorder:
    """A synchronous handler that keeps every request and answers with a small JSON echo."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, req: Request) -> Response:
        self.requests.append(req)
        return Response.json(200, {"path": req.path, "body": req.body.decode()})


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Read one response; header names lower-cased; the body by its Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status, _ = lines[0].split(" ", 2)
    assert version == "HTTP/1.1"
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
    body = await reader.readexactly(int(headers["content-length"]))
    return int(status), headers, body


async def read_eof(reader: asyncio.StreamReader) -> bytes:
    """Whatever arrives until the server closes (a reset counts as closed)."""
    try:
        return await reader.read()
    except ConnectionResetError:
        return b""


async def connect(srv, **kwargs):
    return await asyncio.open_connection("127.0.0.1", srv.port, **kwargs)


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        pass


def test_get_with_query_and_repeated_headers():
    rec = Recorder()

    async def main():
        async with await start_http_server(rec) as srv:
            reader, writer = await connect(srv)
            writer.write(b"GET /api/v2/mix/market/ticker?symbol=BTCUSDT&x=%20a HTTP/1.1\r\n"
                         b"Host: localhost\r\nX-Test: a\r\nx-test: b\r\nACCESS-KEY: k\xe9\r\n\r\n")
            status, headers, body = await read_response(reader)
            await close_writer(writer)
        return status, headers, body

    status, headers, body = run(main())
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["server"] == "bitget-fast-sim"
    assert headers["connection"] == "keep-alive"
    assert orjson.loads(body) == {"path": "/api/v2/mix/market/ticker", "body": ""}
    (req,) = rec.requests
    assert req.method == "GET"
    assert req.path == "/api/v2/mix/market/ticker"
    assert req.query == "symbol=BTCUSDT&x=%20a"
    assert req.headers == {"host": "localhost", "x-test": "a, b", "access-key": "k\xe9"}
    assert req.body == b""
    assert req.peer[0] == "127.0.0.1" and req.peer[1] > 0
    assert req.secure is False


def test_post_content_length_body_and_extra_headers():
    rec = Recorder()

    def handler(req):
        rec(req)
        return Response(201, b"<ok/>", [("X-Extra", "1")], content_type="text/xml")

    async def main():
        async with await start_http_server(handler) as srv:
            reader, writer = await connect(srv)
            writer.write(b"POST /api/v2/mix/order/place-order HTTP/1.1\r\nHost: h\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n"
                         b'{"size":"1"}\n')
            got = await read_response(reader)
            await close_writer(writer)
        return got

    status, headers, body = run(main())
    assert (status, body) == (201, b"<ok/>")
    assert headers["x-extra"] == "1"
    assert headers["content-type"] == "text/xml"
    assert rec.requests[0].method == "POST"
    assert rec.requests[0].body == b'{"size":"1"}\n'
    assert rec.requests[0].query == ""


def test_chunked_post_body():
    rec = Recorder()

    async def main():
        async with await start_http_server(rec) as srv:
            reader, writer = await connect(srv)
            writer.write(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\nhello\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)  # the second chunk arrives in another read
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
            got = await read_response(reader)
            await close_writer(writer)
        return got

    status, _, body = run(main())
    assert status == 200
    assert orjson.loads(body)["body"] == "hello world"
    assert rec.requests[0].headers["transfer-encoding"] == "chunked"


def test_keep_alive_sequential_requests():
    rec = Recorder()

    async def main():
        async with await start_http_server(rec) as srv:
            reader, writer = await connect(srv)
            replies = []
            for i in range(3):
                writer.write(b"GET /r%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
                replies.append(await read_response(reader))
                assert srv.connection_count == 1
            await close_writer(writer)
        return replies

    replies = run(main())
    assert [orjson.loads(b)["path"] for _, _, b in replies] == ["/r0", "/r1", "/r2"]
    assert len({r.peer for r in rec.requests}) == 1


def slow_then_echo(delay_s: float):
    """A handler echoing the path; ``/slow`` answers after ``delay_s`` (an awaitable reply)."""

    def handler(req):
        if req.path == "/slow":
            async def later():
                await asyncio.sleep(delay_s)
                return Response.json(200, {"path": req.path})
            return later()
        return Response.json(200, {"path": req.path})

    return handler


def test_pipelined_requests_answered_in_order_behind_a_delayed_reply():
    handler = slow_then_echo(0.05)

    async def main():
        async with await start_http_server(handler) as srv:
            reader, writer = await connect(srv)
            writer.write(b"GET /slow HTTP/1.1\r\n\r\nGET /fast1 HTTP/1.1\r\n\r\n"
                         b"GET /fast2 HTTP/1.1\r\n\r\n")
            replies = [await read_response(reader) for _ in range(3)]
            await close_writer(writer)
        return replies

    replies = run(main())
    assert [orjson.loads(b)["path"] for _, _, b in replies] == ["/slow", "/fast1", "/fast2"]


@pytest.mark.parametrize("request_bytes", [
    b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
    b"GET /x HTTP/1.0\r\n\r\n",
])
def test_connection_close(request_bytes):
    async def main():
        async with await start_http_server(Recorder()) as srv:
            reader, writer = await connect(srv)
            # The request after the closing one is never answered.
            writer.write(request_bytes + b"GET /y HTTP/1.1\r\n\r\n")
            status, headers, _ = await read_response(reader)
            rest = await read_eof(reader)
            await close_writer(writer)
        return status, headers, rest

    status, headers, rest = run(main())
    assert status == 200
    assert headers["connection"] == "close"
    assert rest == b""


def test_http10_keep_alive_stays_open():
    async def main():
        async with await start_http_server(Recorder()) as srv:
            reader, writer = await connect(srv)
            got = []
            for _ in range(2):
                writer.write(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
                got.append(await read_response(reader))
            await close_writer(writer)
        return got

    got = run(main())
    assert [(s, h["connection"]) for s, h, _ in got] == [(200, "keep-alive")] * 2


def test_malformed_request_gets_400_and_close():
    async def main():
        async with await start_http_server(Recorder()) as srv:
            reader, writer = await connect(srv)
            writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            got = await read_response(reader)
            rest = await read_eof(reader)
            await close_writer(writer)
        return got, rest

    (status, headers, body), rest = run(main())
    assert status == 400
    assert headers["connection"] == "close"
    env = orjson.loads(body)
    assert (env["code"], env["msg"], env["data"]) == ("40017", "malformed HTTP request", None)
    assert isinstance(env["requestTime"], int)
    assert rest == b""


@pytest.mark.parametrize("split", [False, True])
def test_oversized_header_gets_431(split):
    async def main():
        async with await start_http_server(Recorder(), max_header_bytes=1024) as srv:
            reader, writer = await connect(srv)
            if split:
                # A header that never ends, in reads that each fit the limit.
                writer.write(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 600)
                for _ in range(3):
                    await writer.drain()
                    await asyncio.sleep(0.01)
                    writer.write(b"a" * 600)
            else:
                writer.write(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 2000 + b"\r\n\r\n")
            got = await read_response(reader)
            rest = await read_eof(reader)
            await close_writer(writer)
        return got, rest

    (status, headers, body), rest = run(main())
    assert status == 431
    assert headers["connection"] == "close"
    assert orjson.loads(body)["code"] == "40017"
    assert rest == b""


def test_header_just_under_the_limit_is_accepted():
    async def main():
        async with await start_http_server(Recorder(), max_header_bytes=1024) as srv:
            reader, writer = await connect(srv)
            writer.write(b"GET /x HTTP/1.1\r\nX-Big: " + b"a" * 900 + b"\r\n\r\n")
            got = await read_response(reader)
            await close_writer(writer)
        return got

    assert run(main())[0] == 200


@pytest.mark.parametrize("request_bytes", [
    b"POST /x HTTP/1.1\r\nContent-Length: 5000\r\n\r\n" + b"a" * 100,
    b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"400\r\n" + b"a" * 1024 + b"\r\n",
])
def test_oversized_body_gets_413(request_bytes):
    rec = Recorder()

    async def main():
        async with await start_http_server(rec, max_body_bytes=1000) as srv:
            reader, writer = await connect(srv)
            writer.write(request_bytes)
            got = await read_response(reader)
            rest = await read_eof(reader)
            await close_writer(writer)
        return got, rest

    (status, headers, _), rest = run(main())
    assert status == 413
    assert headers["connection"] == "close"
    assert rest == b""
    assert rec.requests == []


def test_handler_exception_gets_500_logged_without_headers(caplog):
    def handler(req):
        if req.path == "/boom":
            raise RuntimeError("kaboom")
        return Response.json(200, {"ok": True})

    async def main():
        async with await start_http_server(handler) as srv:
            reader, writer = await connect(srv)
            writer.write(b"POST /boom HTTP/1.1\r\nACCESS-KEY: secret-key\r\n"
                         b"ACCESS-SIGN: secret-sign\r\nContent-Length: 0\r\n\r\n")
            first = await read_response(reader)
            writer.write(b"GET /next HTTP/1.1\r\n\r\n")
            second = await read_response(reader)
            await close_writer(writer)
        return first, second

    with caplog.at_level(logging.ERROR, logger="bitget_fast.sim.http"):
        (s1, h1, b1), (s2, _, b2) = run(main())
    assert s1 == 500 and h1["connection"] == "keep-alive"
    env = orjson.loads(b1)
    assert (env["code"], env["msg"], env["data"]) == ("40015", "internal error", None)
    assert (s2, orjson.loads(b2)) == (200, {"ok": True})
    (record,) = [r for r in caplog.records if r.name == "bitget_fast.sim.http"]
    assert "POST /boom" in record.getMessage()
    assert "secret" not in caplog.text


async def _raise_later():
    await asyncio.sleep(0)
    raise ValueError("late failure")


async def _return_later(value):
    await asyncio.sleep(0)
    return value


@pytest.mark.parametrize("bad", [
    pytest.param(lambda: {"not": "a response"}, id="dict"),
    pytest.param(lambda: Response(200, "a str body"), id="str-body"),
    pytest.param(lambda: Response(42, b""), id="bad-status"),
    pytest.param(lambda: _raise_later(), id="async-raises"),
    pytest.param(lambda: _return_later(None), id="async-returns-none"),
])
def test_bad_handler_results_get_500_and_the_connection_serves_on(bad, caplog):
    def handler(req):
        return bad() if req.path == "/bad" else Response.json(200, {"ok": True})

    async def main():
        async with await start_http_server(handler) as srv:
            reader, writer = await connect(srv)
            writer.write(b"GET /bad HTTP/1.1\r\n\r\nGET /good HTTP/1.1\r\n\r\n")
            got = [await read_response(reader) for _ in range(2)]
            await close_writer(writer)
        return got

    with caplog.at_level(logging.ERROR, logger="bitget_fast.sim.http"):
        (s1, _, b1), (s2, _, _) = run(main())
    assert (s1, orjson.loads(b1)["code"], s2) == (500, "40015", 200)
    assert "GET /bad" in caplog.text


@pytest.mark.parametrize("kind", ["future", "coroutine"])
def test_never_answering_handler_keeps_the_connection_open_until_close(kind):
    state = {}

    def handler(req):
        if kind == "future":
            state["fut"] = asyncio.get_running_loop().create_future()
            return state["fut"]
        ev = asyncio.Event()

        async def never():
            try:
                await ev.wait()
            except asyncio.CancelledError:
                state["cancelled"] = True
                raise
        return never()

    async def main():
        srv = await start_http_server(handler)
        try:
            reader, writer = await connect(srv)
            writer.write(b"GET /hang HTTP/1.1\r\n\r\nGET /queued HTTP/1.1\r\n\r\n")
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.read(1), 0.1)
            assert srv.connection_count == 1
        finally:
            await srv.close()
        rest = await read_eof(reader)
        count = srv.connection_count
        await close_writer(writer)
        return rest, count

    rest, count = run(main())
    assert (rest, count) == (b"", 0)
    if kind == "future":
        assert not state["fut"].cancelled()  # not ours to cancel: a handler may share it
    else:
        assert state["cancelled"]


def test_close_stops_listening():
    async def main():
        srv = await start_http_server(Recorder())
        port = srv.port
        await srv.close()
        assert srv.sockets == ()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    run(main())


def test_restart_on_the_same_port():
    async def main():
        srv = await start_http_server(Recorder())
        port = srv.port
        reader, writer = await connect(srv)
        writer.write(b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n")  # leaves a TIME_WAIT
        await read_response(reader)
        await close_writer(writer)
        await srv.close()
        async with await start_http_server(Recorder(), port=port) as again:
            reader, writer = await connect(again)
            writer.write(b"GET /x HTTP/1.1\r\n\r\n")
            got = await read_response(reader)
            await close_writer(writer)
        return again.port == port, got[0]

    assert run(main()) == (True, 200)


def test_abort_connections_keeps_listening():
    async def main():
        async with await start_http_server(Recorder()) as srv:
            conns = [await connect(srv) for _ in range(2)]
            for reader, writer in conns:
                writer.write(b"GET /x HTTP/1.1\r\n\r\n")
                assert (await read_response(reader))[0] == 200
            assert srv.connection_count == 2
            srv.abort_connections()
            rests = [await read_eof(reader) for reader, _ in conns]
            for _, writer in conns:
                await close_writer(writer)
            reader, writer = await connect(srv)
            writer.write(b"GET /again HTTP/1.1\r\n\r\n")
            again = await read_response(reader)
            count = srv.connection_count
            await close_writer(writer)
        return rests, again, count

    rests, again, count = run(main())
    assert rests == [b"", b""]
    assert again[0] == 200
    assert count == 1


def test_pipeline_beyond_the_cap_gets_503_after_the_queued_replies():
    handler = slow_then_echo(0.02)

    async def main():
        async with await start_http_server(handler) as srv:
            reader, writer = await connect(srv)
            n = MAX_PIPELINE + 5
            writer.write(b"GET /slow HTTP/1.1\r\n\r\n" + b"GET /q HTTP/1.1\r\n\r\n" * n)
            replies = [await read_response(reader) for _ in range(MAX_PIPELINE + 2)]
            rest = await read_eof(reader)
            await close_writer(writer)
        return replies, rest

    replies, rest = run(main())
    assert [s for s, _, _ in replies] == [200] * (MAX_PIPELINE + 1) + [503]
    assert replies[-1][1]["connection"] == "close"
    assert orjson.loads(replies[-1][2])["code"] == "40015"
    assert rest == b""


def test_half_close_still_gets_the_pending_replies():
    def handler(req):
        async def later():
            await asyncio.sleep(0.02)
            return Response.json(200, {"path": req.path})
        return later()

    async def main():
        async with await start_http_server(handler) as srv:
            reader, writer = await connect(srv)
            writer.write(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n")
            writer.write_eof()
            replies = [await read_response(reader) for _ in range(2)]
            rest = await read_eof(reader)
            await close_writer(writer)
        return replies, rest

    replies, rest = run(main())
    assert [orjson.loads(b)["path"] for _, _, b in replies] == ["/a", "/b"]
    assert replies[-1][1]["connection"] == "close"
    assert rest == b""


def test_head_has_length_but_no_body_and_expect_continue_is_answered():
    async def main():
        async with await start_http_server(Recorder()) as srv:
            reader, writer = await connect(srv)
            writer.write(b"HEAD /x HTTP/1.1\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(b"POST /p HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
            cont = await reader.readuntil(b"\r\n\r\n")
            writer.write(b"hi")
            post = await read_response(reader)
            await close_writer(writer)
        return head, cont, post

    head, cont, post = run(main())
    body_len = len(orjson.dumps({"path": "/x", "body": ""}))  # what a GET would carry
    assert b"Content-Length: %d\r\n" % body_len in head
    assert cont == b"HTTP/1.1 100 Continue\r\n\r\n"  # so no HEAD body came before it
    assert orjson.loads(post[2])["body"] == "hi"


def test_upgrade_request_is_answered_then_closed():
    async def main():
        async with await start_http_server(Recorder()) as srv:
            reader, writer = await connect(srv)
            writer.write(b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
                         b"\x81\x00")
            got = await read_response(reader)
            rest = await read_eof(reader)
            await close_writer(writer)
        return got, rest

    (status, _, _), rest = run(main())
    assert (status, rest) == (200, b"")


def _self_signed(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=10)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
def test_tls_get(tmp_path):
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    rec = Recorder()

    async def main():
        async with await start_http_server(rec, ssl=server_ctx) as srv:
            reader, writer = await connect(srv, ssl=client_ctx, server_hostname="localhost")
            writer.write(b"GET /secure?a=1 HTTP/1.1\r\nHost: localhost\r\n\r\n")
            got = await read_response(reader)
            await close_writer(writer)
        return got

    assert run(main())[0] == 200
    (req,) = rec.requests
    assert (req.path, req.query, req.secure) == ("/secure", "a=1", True)
