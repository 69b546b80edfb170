"""The order path's own work per request, without the socket: what bench_order.py's round trip
costs in this process's code, apart from the kernel, the event loop's wait and the caches.

Group:
  order: client work per request, no socket (userland)
      pre-built floor  bench_order.py's floor: a future, one ``transport.write`` of pre-built
                       bytes, the reply fed to ``httptools`` through the same
                       ``_FloorProtocol`` (Python ``data_received`` and callbacks), the future
                       resolved, the awaiting coroutine resumed
      bitget_fast RestClient
                       ``await RestClient.submit("POST", place-order, body=params,
                       decode=Ack)`` on one connection: the params dict built
                       (``Orders.place_params``), serialized, signed into one buffer, written;
                       the reply framed in C, decoded into the ack Struct, the future resolved

The transport is a stand-in whose ``write`` schedules the canned reply (a real reply of the
simulator's shape, 258 bytes with its head) to be fed to the protocol on the next loop
iteration: no syscall, no epoll wait. Each timed call runs ``N`` requests on a uvloop loop
(asyncio's when uvloop is missing) and is measured with ``time.thread_time``, like
bench_order.py. The difference between the two rows is the code bitget_fast adds per request;
the round trip's difference beyond it comes from the wait (the watchdog's timer makes every
epoll wait a timed one) and from a larger working set after each sleep (see NOTES.md).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest

import order_clients  # beside this file (benchmarks/conftest.py puts it on sys.path)
from benchutil import benchmarks_disabled, conftest_results

GROUP = "order: client work per request, no socket (userland)"
N = 20_000
N_DISABLED = 50
PLACE_PATH = "/api/v2/mix/order/place-order"
BODY = (b'{"code":"00000","msg":"success","requestTime":1764000000000,"data":'
        b'{"clientOid":"bo12345r00001n0000001","orderId":"1234567890123456789"}}')
REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
         % len(BODY)) + BODY


class Ack(msgspec.Struct):
    orderId: str | None = None
    clientOid: str | None = None


class _LoopbackStandIn:
    """A transport whose ``write`` answers with ``REPLY`` on the next loop iteration."""

    def __init__(self, protocol: Any, loop: asyncio.AbstractEventLoop) -> None:
        self.protocol, self.loop = protocol, loop

    def write(self, data: bytes) -> None:
        self.loop.call_soon(self.protocol.data_received, REPLY)

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


async def _floor(n: int) -> float:
    pytest.importorskip("httptools")
    loop = asyncio.get_running_loop()
    proto = order_clients._FloorProtocol()
    t = _LoopbackStandIn(proto, loop)
    proto.connection_made(t)  # type: ignore[arg-type]
    request = b"POST / HTTP/1.1\r\n\r\n"
    t0 = time.thread_time()
    for _ in range(n):
        fut = proto.waiter = loop.create_future()
        t.write(request)
        await fut
    cpu = time.thread_time() - t0
    assert len(proto.replies) == n and proto.replies[-1] == (200, BODY)
    return cpu


async def _rest_client(n: int) -> float:
    from bitget_fast import Credentials, RestClient
    loop = asyncio.get_running_loop()
    rc = RestClient("http://127.0.0.1:9", Credentials("bg_" + "a" * 29, "b" * 64, "pass"),
                    connections=1, enforce_rate_limits=False)
    rc._loop = loop                      # start() would connect; the stand-in replaces that
    conn = rc._new_conn()
    conn.connection_made(_LoopbackStandIn(conn, loop))
    rc._conns.add(conn)
    rc._idle.append(conn)
    orders = order_clients.Orders(n, "30000.0")
    t0 = time.thread_time()
    for i in range(n):
        ack = await rc.submit("POST", PLACE_PATH, body=orders.place_params(i), decode=Ack)
    cpu = time.thread_time() - t0
    assert ack.orderId == "1234567890123456789" and rc.stats()["replies"] == n
    return cpu


CASES = {"pre-built floor": _floor, "bitget_fast RestClient": _rest_client}
_CLOCK = [0.0]


def work_cpu_clock() -> float:
    """pytest-benchmark timer: thread CPU inside the request loops so far (setup excluded)."""
    return _CLOCK[0]


@pytest.mark.benchmark(timer=work_cpu_clock)
@pytest.mark.parametrize("impl", list(CASES))
def test_order_work(request, benchmark, impl):
    n = N_DISABLED if benchmarks_disabled(request.config) else N
    loop_name, factory = order_clients.loop_factory()

    def one() -> None:
        with asyncio.Runner(loop_factory=factory) as runner:
            _CLOCK[0] += runner.run(CASES[impl](n))

    benchmark.group = GROUP
    benchmark.extra_info.update({"implementation": impl, "items_per_call": n, "correct": True,
                                 "loop": loop_name, "timer": "thread CPU over n requests"})
    benchmark.pedantic(one, rounds=7, warmup_rounds=1, iterations=1)
    stats = getattr(benchmark, "stats", None)
    results = conftest_results(request.config)
    if stats is not None and results is not None:
        st = stats.stats
        results.append({"group": GROUP, "impl": impl, "items": n,
                        "median_ns": st.median * 1e9 / n, "min_ns": st.min * 1e9 / n,
                        "test": request.node.name})
