"""Every scripted fault of the simulator does what it says, over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
import pytest

from bitget_fast.auth import Credentials
from bitget_fast.errors import BitgetError, ChecksumMismatch, ProtocolError, SequenceGap
from bitget_fast.sim import Simulator
from bitget_fast.sim.reference import Book

PLACE = "/api/v2/mix/order/place-order"
DETAIL = "/api/v2/mix/order/detail"
Q = {"productType": "USDT-FUTURES", "symbol": "BTCUSDT"}


def order(cid: str, price: str = "50000.0") -> dict[str, str]:
    return {"symbol": "BTCUSDT", "productType": "USDT-FUTURES", "marginMode": "crossed",
            "marginCoin": "USDT", "size": "0.001", "price": price, "side": "buy",
            "orderType": "limit", "clientOid": cid}


class Tracked:
    """A reference book that records the first integrity error instead of raising."""

    def __init__(self, strict: bool) -> None:
        self.book = Book("BTCUSDT", strict_seq=strict)
        self.error: BitgetError | None = None

    def apply(self, msg: dict) -> None:
        if self.error is None:
            try:
                self.book.apply(msg)
            except BitgetError as e:
                self.error = e


async def books_client(h, sim):
    ws = await h.Ws.connect(sim.ws_public_url)
    await ws.subscribe(h.book_arg("books"))
    assert (await ws.recv_json())["event"] == "subscribe"
    return ws


async def pump(ws, books, n):
    for _ in range(n):
        msg = await ws.recv_json()
        for b in books:
            b.apply(msg)


def test_corrupt_checksum_then_resync(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=2, flow_rate=500) as sim:
            ws = await books_client(h, sim)
            t = Tracked(strict=True)
            await pump(ws, [t], 20)
            assert t.error is None
            sim.corrupt_checksum("BTCUSDT")
            await pump(ws, [t], 20)
            assert isinstance(t.error, ChecksumMismatch)
            assert not t.book.is_valid
            # resync = unsubscribe + subscribe: a fresh snapshot makes the book valid again
            ws.send({"op": "unsubscribe", "args": [h.book_arg("books")]})
            ws.send({"op": "subscribe", "args": [h.book_arg("books")]})
            snap = await ws.wait_for(lambda m: m.get("action") == "snapshot")
            t.book.apply(snap)
            assert t.book.is_valid
            for _ in range(50):
                t.book.apply(await ws.recv_json())
            assert t.book.is_valid
            await ws.close()
    body()


def test_skip_seq_top_caught_by_checksum_and_strict_seq(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=3, flow_rate=500) as sim:
            ws = await books_client(h, sim)
            strict, loose = Tracked(strict=True), Tracked(strict=False)
            await pump(ws, [strict, loose], 10)
            sim.skip_seq("BTCUSDT")
            await pump(ws, [strict, loose], 30)
            assert isinstance(strict.error, SequenceGap)
            # a loose book accepts the jump (counted) and the checksum catches the loss
            assert isinstance(loose.error, ChecksumMismatch)
            assert loose.book.seq_jumps == 1
            await ws.close()
    body()


def test_skip_seq_deep_caught_by_strict_seq_only(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=4, flow_rate=2000, book_depth=60) as sim:
            ws = await books_client(h, sim)
            strict, loose = Tracked(strict=True), Tracked(strict=False)
            await pump(ws, [strict, loose], 5)
            sim.skip_seq("BTCUSDT", deep=True)
            for _ in range(3000):
                msg = await ws.recv_json()
                strict.apply(msg)
                loose.apply(msg)
                if strict.error is not None:
                    break
            assert isinstance(strict.error, SequenceGap)
            assert loose.book.seq_jumps == 1
            assert loose.error is None          # the top 25 never saw the dropped change
            await ws.close()
    body()


def test_stall_holds_then_delivers_in_order(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=300) as sim:
            ws = await books_client(h, sim)
            t = Tracked(strict=True)
            await pump(ws, [t], 5)
            await asyncio.sleep(0.05)
            while not ws.queue.empty():
                t.apply(orjson.loads(ws.queue.get_nowait()))
            assert sim.stall("public", 0.5) == 1
            await asyncio.sleep(0.05)
            while not ws.queue.empty():             # frames already in flight
                t.apply(orjson.loads(ws.queue.get_nowait()))
            t0 = time.monotonic()
            first = await ws.recv_json(timeout=2)
            assert time.monotonic() - t0 > 0.3
            t.apply(first)
            await pump(ws, [t], 100)
            assert t.error is None and t.book.is_valid   # nothing lost, nothing reordered
            await ws.close()
    body()


def test_drop_connections(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=100) as sim:
            sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE)
            pub = await books_client(h, sim)
            priv = await h.Ws.connect(sim.ws_private_url)
            rest = h.Rest(sim, Credentials(h.KEY, h.SECRET, h.PASSPHRASE))
            assert (await rest.get("/api/v2/public/time", signed=False)).status == 200
            assert sim.drop_connections("public") == 1
            await asyncio.wait_for(pub.closed.wait(), 2)
            assert not priv.closed.is_set()
            assert sim.drop_connections("rest") == 1
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
                await rest.get("/api/v2/public/time", signed=False)
            await rest.close()
            assert (await rest.get("/api/v2/public/time", signed=False)).status == 200
            sim.drop_connections("all")
            await asyncio.wait_for(priv.closed.wait(), 2)
            await rest.close()
    body()


def test_malformed_and_oversized_frames(h):
    @h.run_async()
    async def body():
        async with Simulator(["BTCUSDT"], seed=1, flow_rate=0) as sim:
            ws = await books_client(h, sim)
            book = Book("BTCUSDT")
            book.apply(await ws.recv_json())
            assert sim.send_malformed("public") == 1
            raw = await ws.recv()
            with pytest.raises(ProtocolError):
                book.apply(raw)
            assert book.is_valid                      # malformed input changed nothing
            sim.send_malformed("public", b'{"action":"update","arg":{"instType":"USDT-FUTURES",'
                               b'"channel":"books","instId":"BTCUSDT"},"data":[{"asks":[["1","x"]]}]}')
            with pytest.raises(ProtocolError):
                book.apply(await ws.recv())
            # a client with a 1 MiB frame limit is disconnected by a 16 MiB frame
            assert sim.send_oversized("public") == 1
            await asyncio.wait_for(ws.closed.wait(), 5)
            big = await h.Ws.connect(sim.ws_public_url, max_frame_size=32 << 20)
            sim.send_oversized("public", size=2 << 20)
            assert len(await big.recv()) == 2 << 20
            await big.close()
    body()


@pytest.fixture
def trading(h):
    """``async with trading(**sim_kw) as (sim, rest, other)``: two REST clients of one account."""

    @contextlib.asynccontextmanager
    async def make(**kw):
        kw.setdefault("flow_rate", 0)
        sim = await Simulator(["BTCUSDT"], seed=1, **kw).start()
        sim.add_account(h.KEY, h.SECRET, h.PASSPHRASE, usdt=10_000)
        creds = Credentials(h.KEY, h.SECRET, h.PASSPHRASE)
        rest, other = h.Rest(sim, creds), h.Rest(sim, creds)
        try:
            yield sim, rest, other
        finally:
            await rest.close()
            await other.close()
            await sim.close()

    return make


def test_rest_error_statuses_with_and_without_execution(h, trading):
    @h.run_async()
    async def body():
        async with trading() as (sim, rest, other):
            for status in (429, 500, 502, 503):
                sim.fail_rest(status, path=PLACE)
                r = await rest.post(PLACE, order(f"f{status}"))
                assert r.status == status and r.data is None
                assert r.code == str(status)
                d = await rest.get(DETAIL, {**Q, "clientOid": f"f{status}"})
                assert (d.status, d.code) == (400, "40768")    # never executed
            # a 500 after the order was accepted: the outcome is unknown to the client
            sim.fail_rest(500, path=PLACE, execute=True)
            r = await rest.post(PLACE, order("exec500"))
            assert r.status == 500
            d = await rest.get(DETAIL, {**Q, "clientOid": "exec500"})
            assert d.status == 200 and d.data["state"] == "live"
            # faults are consumed: the next request is normal
            assert (await rest.post(PLACE, order("normal"))).status == 200
            # a fault on every path, twice
            sim.fail_rest(503, count=2)
            assert (await rest.get("/api/v2/public/time", signed=False)).status == 503
            assert (await rest.get(DETAIL, {**Q, "clientOid": "normal"})).status == 503
            assert (await rest.get(DETAIL, {**Q, "clientOid": "normal"})).status == 200
    body()


def test_never_answer_and_lost_reply(h, trading):
    @h.run_async()
    async def body():
        async with trading() as (sim, rest, other):
            sim.never_answer(path=PLACE)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(rest.post(PLACE, order("lost1")), 0.3)
            await rest.close()
            d = await other.get(DETAIL, {**Q, "clientOid": "lost1"})
            assert d.code == "40768"                   # dropped before the engine saw it
            sim.never_answer(path=PLACE, execute=True)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(rest.post(PLACE, order("lost2")), 0.3)
            await rest.close()
            d = await other.get(DETAIL, {**Q, "clientOid": "lost2"})
            assert d.status == 200 and d.data["state"] == "live"   # placed, reply lost
    body()


def test_delayed_acks(h, trading):
    @h.run_async()
    async def body():
        async with trading() as (sim, rest, other):
            sim.delay_acks(0.3, path=PLACE)
            t0 = time.monotonic()
            r = await rest.post(PLACE, order("slow"))
            assert r.status == 200 and time.monotonic() - t0 >= 0.29
            t0 = time.monotonic()
            assert (await rest.post(PLACE, order("fast"))).status == 200
            assert time.monotonic() - t0 < 0.2
    body()


def test_ws_order_event_before_rest_reply(h, trading):
    @h.run_async()
    async def body():
        async with trading() as (sim, rest, other):
            ws = await h.Ws.connect(sim.ws_private_url)
            try:
                await ws.login(Credentials(h.KEY, h.SECRET, h.PASSPHRASE))
                await ws.subscribe(h.priv_arg("orders"))
                assert (await ws.recv_json())["event"] == "subscribe"
                sim.ws_events_before_rest(True)
                r = await rest.post(PLACE, order("early"))
                assert r.status == 200
                # the push was already delivered when the reply was read
                assert not ws.queue.empty()
                push = orjson.loads(ws.queue.get_nowait())
                assert push["data"][0]["clientOid"] == "early"
                assert push["data"][0]["status"] == "live"
            finally:
                await ws.close()
    body()


def test_restart_keeps_state_and_drops_connections(h, trading):
    @h.run_async()
    async def body():
        async with trading(flow_rate=50) as (sim, rest, other):
            ws = await books_client(h, sim)
            try:
                assert (await rest.post(PLACE, order("survivor"))).status == 200
                port = sim.rest_port
                restart = asyncio.create_task(sim.restart(downtime_s=0.3))
                await asyncio.wait_for(ws.closed.wait(), 2)
                await asyncio.sleep(0.1)
                with pytest.raises(OSError):
                    await asyncio.open_connection("127.0.0.1", port)   # refused while down
                await restart
                await rest.close()
                d = await rest.get(DETAIL, {**Q, "clientOid": "survivor"})
                assert d.status == 200 and d.data["state"] == "live"
                ws2 = await books_client(h, sim)
                book = Book("BTCUSDT", strict_seq=True)
                for _ in range(20):
                    book.apply(await ws2.recv_json())
                assert book.is_valid
                await ws2.close()
            finally:
                await ws.close()
    body()
