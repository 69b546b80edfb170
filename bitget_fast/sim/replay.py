"""`ReplayServer`: a recording served as Bitget's public WebSocket, to any client.

    async with ReplayServer("rec/*.bfrec.gz", speed=1.0) as rs:
        ...  # point a client (bitget_fast, ccxt, your own) at rs.url

A recording (``bitget_fast.record``) holds every public push a client received. The server
lays every ``action`` push (``snapshot``/``update``) on one timeline, in recording order, and
plays it once on a server-wide clock that starts at the first subscription:

* ``speed=1.0`` plays at the recorded pace (``2.0`` twice as fast); ``speed=None`` as fast as
  the slowest subscriber reads; ``speed=0`` only when :meth:`ReplayServer.advance` says so
  (step a strategy through a recording, or make a test deterministic).
* A push goes to every connection subscribed to its ``channel`` and ``instId`` (the
  ``instType`` is not compared: recordings of Bitget's V1 stream say ``mc``). Pushes are
  sent byte for byte as recorded, so checksums and ``seq`` verify as they did live.
* Subscribing (or resubscribing, after a client's resync) catches up as Bitget does: the
  latest snapshot of that channel at or before the clock, then every update after it up to
  the clock. A channel whose first snapshot is still ahead gets it when the clock reaches it.
* ``ping`` is answered ``pong``; an ``instId`` the recording does not hold is refused with
  Bitget's 30001 error; anything else that is not a subscribe/unsubscribe gets 30003.

When the timeline is played out the connections stay open (pings answered) and
:meth:`ReplayServer.wait_finished` returns.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from typing import Any, NamedTuple

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from bitget_fast.record import REC_TEXT, RecordingError, Replayer

from .ws import answer_control

__all__ = ["ReplayServer", "ServedFrame"]

_log = logging.getLogger("bitget_fast.sim.replay")

_WRITE_HIGH = 1 << 20          # speed=None: wait while a subscriber has this much unread
_BATCH = 256                   # speed=None: frames released between two loop iterations


class ServedFrame(NamedTuple):
    """One push of the timeline: receive time (ns), channel, instId, action, payload."""

    recv_ns: int
    channel: str
    inst_id: str
    action: str
    payload: bytes


class _Conn(WSListener):  # type: ignore[misc]
    def __init__(self, server: ReplayServer) -> None:
        super().__init__()
        self.server = server
        self.transport: WSTransport | None = None
        self.keys: set[tuple[str, str]] = set()

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.server.conns.add(self)
        self.server.counters["connections"] += 1

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.server.conns.discard(self)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if answer_control(transport, frame):
            return
        data = frame.get_payload_as_bytes()
        if data == b"ping":
            transport.send(WSMsgType.TEXT, b"pong")
            return
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.error(30002, "Illegal request: not JSON")
            return
        op = msg.get("op") if isinstance(msg, dict) else None
        args = msg.get("args") if isinstance(msg, dict) else None
        if op not in ("subscribe", "unsubscribe") or not isinstance(args, list):
            self.error(30003, f"Invalid op: {op!r}")
            return
        for arg in args:
            self.server._subscribe(self, op, arg)

    def send(self, payload: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_disconnected:
            t.send(WSMsgType.TEXT, payload)

    def error(self, code: int, msg: str, arg: Any = None) -> None:
        obj: dict[str, Any] = {"event": "error", "code": code, "msg": msg}
        if arg is not None:
            obj["arg"] = arg
        self.send(orjson.dumps(obj))

    def backlog(self) -> int:
        t = self.transport
        if t is None or t.is_disconnected:
            return 0
        return int(t.underlying_transport.get_write_buffer_size())


class ReplayServer:
    """A recording played back as Bitget's public WebSocket (``/v2/ws/public``) on loopback."""

    def __init__(self, *sources: Any, speed: float | None = 1.0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        if speed is not None and (not isinstance(speed, (int, float)) or speed < 0
                                  or speed != speed or speed == float("inf")):
            raise ValueError(f"speed must be None, 0 (manual) or a positive factor, not {speed!r}")
        self.speed = speed
        self.host = host
        self._port = port
        self.frames: list[ServedFrame] = []
        #: why the recording's end could not be read (served up to there), or ""
        self.truncated = ""
        self.counters = {"connections": 0, "subscribes": 0, "refused": 0, "frames_sent": 0,
                         "frames_released": 0, "records_skipped": 0}
        self._load(Replayer(*sources))
        # (channel, instId) -> timeline indices of its frames, and of its snapshots
        self._index: dict[tuple[str, str], list[int]] = {}
        self._snaps: dict[tuple[str, str], list[int]] = {}
        for i, f in enumerate(self.frames):
            self._index.setdefault((f.channel, f.inst_id), []).append(i)
            if f.action == "snapshot":
                self._snaps.setdefault((f.channel, f.inst_id), []).append(i)
        self.inst_ids = frozenset(f.inst_id for f in self.frames)
        self.conns: set[_Conn] = set()
        self._subs: dict[tuple[str, str], set[_Conn]] = {}
        self.position = 0            # the next frame of the timeline to release
        self._server: asyncio.Server | None = None
        self._clock: asyncio.Task[None] | None = None
        self._finished = asyncio.Event()

    def _load(self, replayer: Replayer) -> None:
        try:
            for rec in replayer.records():
                if rec.kind != REC_TEXT:
                    continue
                try:
                    msg = orjson.loads(rec.payload)
                except orjson.JSONDecodeError:
                    self.counters["records_skipped"] += 1
                    continue
                arg = msg.get("arg") if isinstance(msg, dict) else None
                action = msg.get("action") if isinstance(msg, dict) else None
                if (not isinstance(arg, dict) or action not in ("snapshot", "update")
                        or not isinstance(arg.get("channel"), str)
                        or not isinstance(arg.get("instId"), str)):
                    # acks, pongs, errors, and anything not a push: the server makes its own
                    self.counters["records_skipped"] += 1
                    continue
                self.frames.append(ServedFrame(rec.recv_ns, arg["channel"], arg["instId"],
                                               action, rec.payload))
        except RecordingError as e:
            if not self.frames:
                raise
            self.truncated = str(e)
        if not self.frames:
            raise RecordingError(f"{', '.join(map(str, replayer.files))}: no snapshot or "
                                 "update pushes to serve")

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> ReplayServer:
        """Listen (the clock starts at the first subscription)."""
        if self._server is None:
            self._server = await ws_create_server(self._factory, self.host, self._port,
                                                  websocket_handshake_timeout=5)
            self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop the clock, close every connection and the listener."""
        if self._clock is not None:
            self._clock.cancel()
            try:
                await self._clock
            except asyncio.CancelledError:
                pass
            self._clock = None
        for c in list(self.conns):
            if c.transport is not None:
                c.transport.underlying_transport.abort()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ReplayServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """The public WebSocket URL to give a client (``ws://127.0.0.1:<port>/v2/ws/public``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self._port}/v2/ws/public"

    @property
    def finished(self) -> bool:
        """Whether the whole timeline has been released."""
        return self.position >= len(self.frames)

    async def wait_finished(self, timeout_s: float | None = None) -> None:
        """Wait until the whole timeline has been released (TimeoutError after ``timeout_s``)."""
        await asyncio.wait_for(self._finished.wait(), timeout_s)

    def _factory(self, request: WSUpgradeRequest) -> _Conn:
        return _Conn(self)

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, conn: _Conn, op: str, arg: Any) -> None:
        if not isinstance(arg, dict) or not isinstance(arg.get("channel"), str) \
                or not isinstance(arg.get("instId"), str):
            self.counters["refused"] += 1
            conn.error(30002, "Illegal request: each arg needs channel and instId", arg)
            return
        key = (arg["channel"], arg["instId"])
        if key[1] not in self.inst_ids:
            self.counters["refused"] += 1
            conn.error(30001, f"instType:{arg.get('instType')},channel:{key[0]},"
                       f"instId:{key[1]} doesn't exist", arg)
            return
        if op == "unsubscribe":
            conn.keys.discard(key)
            self._subs.get(key, set()).discard(conn)
            conn.send(orjson.dumps({"event": "unsubscribe", "arg": arg}))
            return
        self.counters["subscribes"] += 1
        conn.keys.add(key)
        self._subs.setdefault(key, set()).add(conn)
        conn.send(orjson.dumps({"event": "subscribe", "arg": arg}))
        # catch up: the latest snapshot before the clock, then its updates up to the clock
        snaps = self._snaps.get(key, [])
        i = bisect.bisect_left(snaps, self.position) - 1
        if i >= 0:
            idx = self._index[key]
            lo = bisect.bisect_left(idx, snaps[i])
            hi = bisect.bisect_left(idx, self.position)
            for j in idx[lo:hi]:
                conn.send(self.frames[j].payload)
                self.counters["frames_sent"] += 1
        if self._clock is None and self.speed != 0 and not self.finished:
            self._clock = asyncio.get_running_loop().create_task(
                self._run_clock(), name="bitget-fast-replay-clock")

    # ------------------------------------------------------------------ the clock
    def _release(self) -> int:
        """Send the frame at the clock to its subscribers; returns how many got it."""
        f = self.frames[self.position]
        self.position += 1
        self.counters["frames_released"] += 1
        subs = self._subs.get((f.channel, f.inst_id))
        n = 0
        if subs:
            for c in subs:
                c.send(f.payload)
                n += 1
            self.counters["frames_sent"] += n
        if self.finished:
            self._finished.set()
        return n

    def advance(self, n: int = 1) -> int:
        """Release the next ``n`` frames of the timeline now (the clock of ``speed=0``);
        returns how many were released (fewer at the end)."""
        if type(n) is not int or n < 0:
            raise ValueError(f"n must be a non-negative integer, not {n!r}")
        done = 0
        while done < n and not self.finished:
            self._release()
            done += 1
        return done

    def advance_to(self, channel: str, inst_id: str, action: str = "snapshot") -> int:
        """Release frames up to and including the next ``action`` push of ``channel``/``inst_id``;
        returns how many were released (ValueError when there is none ahead)."""
        for i in self._index.get((channel, inst_id), []):
            if i >= self.position and self.frames[i].action == action:
                return self.advance(i + 1 - self.position)
        raise ValueError(f"no {action} of {channel}/{inst_id} ahead of frame {self.position}")

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        frames = self.frames
        if self.speed is None:
            while not self.finished:
                for _ in range(_BATCH):
                    if self.finished:
                        break
                    self._release()
                await asyncio.sleep(0)
                while any(c.backlog() > _WRITE_HIGH for c in self.conns):
                    await asyncio.sleep(0.001)
            return
        start = loop.time()
        t0 = frames[self.position].recv_ns
        while not self.finished:
            due = start + (frames[self.position].recv_ns - t0) / 1e9 / self.speed
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._release()
