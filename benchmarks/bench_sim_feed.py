"""Simulator live feed: books messages per second pushed to one client over loopback.

The simulator must never be the bottleneck of the client benchmarks (issue 3: >= 100k
msgs/s). It runs as ``bitget-fast sim --flow-rate inf`` in its own process (the product's
own command; the flow then runs as fast as the client reads); the client here is a bare
picows listener that only counts frames, so the sender is what is measured.

Groups:
  sim books feed   the live feed (matching engine + seeded flow + checksum of the top 25
                   + JSON + frame) vs the replay floor: a minimal picows server sending
                   pre-serialized frames of the same stream, one ``send()`` per message.
Before timing, 2,000 messages of each stream are applied to the reference book in strict
mode: every checksum and seq must verify.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time

import orjson
import pytest
from picows import WSListener, WSMsgType, ws_connect

from bitget_fast.sim.reference import Book

N = 20_000
SUB = orjson.dumps({"op": "subscribe", "args": [
    {"instType": "USDT-FUTURES", "channel": "books", "instId": "BTCUSDT"}]})

# A plain picows server replaying frames of the seeded stream, one send() per message.
_REPLAY = textwrap.dedent("""
    import asyncio, sys
    from picows import WSListener, WSMsgType, ws_create_server
    from bitget_fast.sim.server import Simulator

    class Sink:
        def __init__(self): self.frames = []
        def send_raw(self, data): self.frames.append(data)

    sim = Simulator(["BTCUSDT"], seed=1, flow_rate=0)
    flow = sim.flows["BTCUSDT"]
    flow.seed_book(); sim.hub.rebuild()
    sink = Sink(); feed = sim.hub.feeds["BTCUSDT"]
    snapshot = sim.hub.books_snapshot(feed)
    feed.subs["books"].add(sink)
    while len(sink.frames) < 50_000:
        flow.step()
    frames = sink.frames

    class Replay(WSListener):
        def on_ws_frame(self, t, frame):
            if frame.msg_type == WSMsgType.TEXT and b"subscribe" in frame.get_payload_as_bytes():
                t.send(WSMsgType.TEXT, snapshot)
                asyncio.get_running_loop().create_task(self.run(t))
        async def run(self, t):
            ut = t.underlying_transport
            i = 0
            while not t.is_disconnected:
                for data in frames[i:i + 64]:
                    t.send(WSMsgType.TEXT, data)
                i += 64
                if i >= len(frames):
                    i = 0           # loop (only the first pass is checked; the rest is load)
                await asyncio.sleep(0)
                while ut.get_write_buffer_size() > 1 << 20:
                    await asyncio.sleep(0.0005)

    async def main():
        server = await ws_create_server(lambda r: Replay(), "127.0.0.1", 0)
        print(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v2/ws/public", flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main())
""")


class Counter(WSListener):
    def __init__(self) -> None:
        self.n = 0
        self.target = 0
        self.done: asyncio.Future[None] | None = None
        self.keep: list[bytes] = []

    def on_ws_frame(self, transport, frame) -> None:
        if self.keep is not None and len(self.keep) < 2_001:
            self.keep.append(frame.get_payload_as_bytes())
        self.n += 1
        if self.n >= self.target and self.done is not None and not self.done.done():
            self.done.set_result(None)


def _start(cmd: list[str]) -> tuple[subprocess.Popen[str], str]:
    # cwd outside the checkout, so the child imports the installed package
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=tempfile.gettempdir(),
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"(ws://\S+/v2/ws/public)", line)
        if m:
            return proc, m.group(1)
    proc.kill()
    proc.communicate()
    raise RuntimeError(f"feed process did not start: {cmd}")


def _sim_cmd() -> list[str]:
    return [sys.executable, "-m", "bitget_fast", "sim", "--port", "0", "--symbols", "BTCUSDT",
            "--flow-rate", "inf", "--seed", "1"]


@pytest.fixture(params=["bitget_fast", "replay floor"])
def feed(request):
    impl = request.param
    cmd = _sim_cmd() if impl == "bitget_fast" else [sys.executable, "-c", _REPLAY]
    proc, url = _start(cmd)
    loop = asyncio.new_event_loop()
    try:
        transport, counter = loop.run_until_complete(ws_connect(Counter, url))
        transport.send(WSMsgType.TEXT, SUB)

        def receive(n: int) -> int:
            counter.target = counter.n + n
            counter.done = loop.create_future()
            loop.run_until_complete(asyncio.wait_for(counter.done, 60))
            return n

        receive(2_000)
        book = Book("BTCUSDT", strict_seq=True)
        frames = [f for f in counter.keep if b'"action"' in f]
        for f in frames:
            book.apply(f)
        assert book.is_valid and book.checksums_verified >= len(frames) - 1 > 1000
        counter.keep = None  # type: ignore[assignment]
        yield impl, receive
        transport.disconnect()
        loop.run_until_complete(transport.wait_disconnected())
    finally:
        loop.close()
        proc.kill()
        proc.communicate()


def test_sim_books_feed(bench, feed):
    impl, receive = feed
    bench(receive, N, group="sim books feed (msgs to one client)", impl=impl, items=N)
