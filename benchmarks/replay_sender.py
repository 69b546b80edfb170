"""Replay pre-serialized Bitget frames to WebSocket clients, as fast as they read them.

    python benchmarks/replay_sender.py FRAMES_FILE [--host 127.0.0.1] [--port 0]

``FRAMES_FILE`` holds one frame per line (``gen_books.py -o``). The script prints the
port it listens on (one line, the number alone) and serves until killed. It is the sender
of the client benchmarks (``bench_wire.py``, DECISIONS.md section 1): it runs in its own
process and does no work per message while sending, so the client is what is measured.

Per connection:

* ``{"op":"subscribe","args":[...]}`` is answered with one
  ``{"event":"subscribe","arg":{...}}`` per arg (what ``MarketData`` waits for);
  ``unsubscribe`` likewise; the text ``ping`` with ``pong``; a CLOSE with a CLOSE.
* Sending starts once the clients have subscribed to every symbol in the file: the
  union of the ``instId`` s subscribed on the connections that have not started yet must
  cover the file's symbols (``MarketData`` spreads its symbols over several connections);
  then each of those connections gets the frames of the symbols *it* subscribed, in file
  order. When the file has one symbol, a connection starts after its first subscribe
  request, whatever it named. A connection sends the replay once, then stays open.
* The frames are encoded once (unmasked server frames, FIN + TEXT) and written in chunks
  of whole frames (~256 KB) straight to the socket transport, so sending costs a few
  memcpys per chunk; writing pauses while the transport is above its high-water mark
  (``pause_writing`` / ``resume_writing``), so a slow client sees backpressure, not an
  unbounded buffer. Acks and pongs go through picows between chunks, never inside one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import re
import sys

from picows import WSListener, WSMsgType, WSTransport, ws_create_server

CHUNK_BYTES = 256 * 1024
HIGH_WATER = 4 << 20         # pause above this much unsent data in the transport
LOW_WATER = 1 << 20
_INST = re.compile(rb'"instId":"([^"]+)"')


def encode_frame(payload: bytes) -> bytes:
    """A server-to-client WebSocket frame: FIN + TEXT, no mask."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return bytes((0x81, 126)) + n.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + n.to_bytes(8, "big") + payload


class Replay:
    """The file's frames, encoded, and the chunks each set of symbols gets."""

    def __init__(self, path: pathlib.Path) -> None:
        payloads = [line for line in path.read_bytes().split(b"\n") if line.strip()]
        if not payloads:
            raise SystemExit(f"{path}: no frames")
        self.frames = [encode_frame(p) for p in payloads]
        self.symbols_of = []
        for p in payloads:
            m = _INST.search(p)
            self.symbols_of.append(m.group(1).decode() if m else "")
        self.symbols = frozenset(s for s in self.symbols_of if s)
        self.single = len(self.symbols) <= 1
        self.pending: list[Conn] = []
        self._chunks: dict[frozenset[str] | None, list[bytes]] = {}

    def chunks(self, subs: frozenset[str] | None) -> list[bytes]:
        """Whole frames of the symbols in ``subs`` (None: every frame), ~CHUNK_BYTES each."""
        out = self._chunks.get(subs)
        if out is None:
            out, part, size = [], [], 0
            for frame, sym in zip(self.frames, self.symbols_of):
                if subs is not None and sym not in subs:
                    continue
                part.append(frame)
                size += len(frame)
                if size >= CHUNK_BYTES:
                    out.append(b"".join(part))
                    part, size = [], 0
            if part:
                out.append(b"".join(part))
            self._chunks[subs] = out
        return out

    def subscribed(self, conn: Conn) -> None:
        if conn.started:
            return
        if self.single:
            conn.start(self.chunks(None))
            return
        if conn not in self.pending:
            self.pending.append(conn)
        covered: set[str] = set()
        for c in self.pending:
            covered |= c.subs
        if covered >= self.symbols:
            ready, self.pending = self.pending, []
            for c in ready:
                c.start(self.chunks(frozenset(c.subs & self.symbols)))

    def gone(self, conn: Conn) -> None:
        if conn in self.pending:
            self.pending.remove(conn)


class Conn(WSListener):
    def __init__(self, replay: Replay) -> None:
        super().__init__()
        self.replay = replay
        self.transport: WSTransport | None = None
        self.subs: set[str] = set()
        self.started = False
        self.task: asyncio.Task[None] | None = None
        self.can_write = asyncio.Event()
        self.can_write.set()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        transport.underlying_transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.replay.gone(self)
        self.can_write.set()
        if self.task is not None:
            self.task.cancel()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def on_ws_frame(self, transport: WSTransport, frame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type != WSMsgType.TEXT:
            return
        data = frame.get_payload_as_bytes()
        if data == b"ping":
            transport.send(WSMsgType.TEXT, b"pong")
            return
        try:
            msg = json.loads(data)
            op, args = msg["op"], msg["args"]
        except (ValueError, KeyError, TypeError):
            transport.send(WSMsgType.TEXT, json.dumps(
                {"event": "error", "code": 30001, "msg": "not a request"}).encode())
            return
        if op not in ("subscribe", "unsubscribe"):
            return
        for arg in args:
            transport.send(WSMsgType.TEXT, json.dumps(
                {"event": op, "arg": arg}, separators=(",", ":")).encode())
        if op == "subscribe":
            self.subs.update(str(a.get("instId", "")) for a in args)
            self.replay.subscribed(self)

    def start(self, chunks: list[bytes]) -> None:
        self.started = True
        self.task = asyncio.get_running_loop().create_task(self.pump(chunks))

    async def pump(self, chunks: list[bytes]) -> None:
        t = self.transport
        assert t is not None
        write = t.underlying_transport.write
        for chunk in chunks:
            if t.is_disconnected:
                return
            if not self.can_write.is_set():
                await self.can_write.wait()
                if t.is_disconnected:
                    return
            write(chunk)
            await asyncio.sleep(0)   # let acks, pongs and other connections in


async def serve(path: pathlib.Path, host: str, port: int) -> None:
    replay = Replay(path)
    server = await ws_create_server(lambda request: Conn(replay), host, port,
                                    websocket_handshake_timeout=30)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("frames", type=pathlib.Path, help="file with one frame per line")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        import uvloop  # noqa: PLC0415 - optional: the sender is never what is measured
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    try:
        runner(serve(args.frames, args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
