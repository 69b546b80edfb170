"""Order round trip over loopback: the client's CPU per REST request, one order in flight.

Group:
  order: round trip over loopback (client CPU per request)
      pre-built floor  every request built and signed before the window (complete HTTP/1.1
                       bytes, headers from ``Credentials.rest_headers``), one
                       ``transport.write`` each on a raw ``asyncio.Protocol`` keep-alive
                       connection, the reply parsed by ``httptools.HttpResponseParser`` (body
                       kept, no JSON); status 200, ``"code":"00000"`` and the clientOid of
                       every reply checked after the window
      aiohttp          a competent aiohttp client: one ``ClientSession`` (keep-alive), the
                       params dict serialized with ``orjson.dumps`` and signed per request,
                       ``await resp.read()`` + ``orjson.loads``, ``code == "00000"`` checked
      ccxt             ``ccxt.async_support.bitget`` pointed at the simulator as
                       tests/integration/test_sim_ccxt.py does, its rate limiter off:
                       ``create_order(..., {"postOnly": True, "clientOrderId": ...})`` and
                       ``cancel_order(None, symbol, {"clientOrderId": ...})``
      bitget_fast RestClient
                       the order path alone: ``RestClient.submit`` of the params dict
                       (JSON body, request line, headers and signature written into
                       one buffer in C;
                       reply framed in C and decoded in one msgspec pass into the ack
                       Struct, as the connector does, into the future)
      bitget_fast      the whole connector as a user holds it: ``await bp.place_order``
                       / ``await bp.cancel_order`` with rules checked and the order
                       tracked, AND the private stream's pushes (Bitget sends ~4 per
                       order: orders live, account, orders canceled, account) read and
                       applied in the same thread -- work the floor and the other
                       clients never do, so its ratio to the floor is not the target's

The exchange is the simulator, ``python -m bitget_fast sim --port 0 --flow-rate 0
--no-rate-limits`` with a fixed demo key, in its own process (its cwd outside the checkout),
started once per session and killed at the end; only the client runs in this process
(DECISIONS.md section 1). Flow rate 0 keeps the book still. Each order is a post-only limit
buy of 0.001 BTCUSDT at half the best bid (valid tick, size and notional for the
simulator's contract; it rests and never fills), followed by its cancel, by clientOid (so
the floor can build the cancel in advance). After every round the simulator is asked
(signed GETs, outside the window) that nothing is left open and the last order ended
canceled; each client raises, or the floor fails at ``close``, on any reply that is not a
success for that order.

What is measured: the CPU time of the thread running the event loop (``time.thread_time``:
user + system, the send/recv syscalls included) over the window in which ``n`` orders are
placed and canceled one after the other, each request written, its reply received and
parsed before the next. The headline figure -- what pytest-benchmark's median divided by
``items_per_call`` (= 2n requests) shows, and what ``report.py`` prints -- is client CPU per
REQUEST round trip, i.e. (place + cancel CPU) / 2. ``extra_info`` also has CPU per place
round trip (every 16th place timed alone, the ~0.6 us cost of a ``thread_time`` read
subtracted), per cancel and per place+cancel pair, wall time per request (which is mostly
the simulator's Python), the whole process's CPU (not the headline: uvloop's io_uring
SQPOLL kernel thread lingers ~14 ms after a loop is closed and lands in the next round's
process total; see bench_wire.py), the user/system split, and ``x_floor`` (this client's
CPU / the floor's, when the floor ran earlier in the session). The benchmarks' timer is
exactly the window (:func:`order_clients.client_cpu_clock`); connecting, ``WARMUP_ORDERS``
untimed orders, building the floor's requests and the checks are outside it. The
clientOids are the user's input: made before the window for every row.

One CPU: the simulator (every thread) and the client's loop thread run on the same CPU, the
last one this process may use (``BENCH_ORDER_CPU=N`` picks another, ``off`` lets the
scheduler place them). With one request in flight they strictly alternate; left to the
scheduler, a round lands at ~28 or ~50 us per request depending on whether the two share
a CPU (a cross-CPU wake-up on this VM costs 20+ us), which swamps a 1.2x comparison. The
pinned figures reproduce DECISIONS.md's ~29 us floor.

The floor: the least a Python asyncio client can spend per request on this loop -- the
request already bytes, one write, the reply framed by httptools and nothing decoded. The
floor's requests carry timestamps, and the simulator refuses any older than 30 s, so they
are built in chunks of ``CHUNK_ORDERS`` orders between window segments (every client's
window is segmented the same way). The target (DECISIONS.md section 1, the trading issue)
is bitget_fast's CPU per request <= 1.2x the floor of the same run, read on the
``bitget_fast RestClient`` row (the same work as the floor: one request, one reply); the
ratio against aiohttp is recorded, not a target.

Adding a client (the ``bitget_fast`` case): write a class built as ``cls(sim, orders)``
(``sim``: :class:`order_clients.SimProcess` with ``rest_url``, ``host``, ``port``,
``credentials``; ``orders``: :class:`order_clients.Orders` with ``symbol``, ``price``,
``size``, ``client_oid(i)``, ``place_params(i)``, ``cancel_params(i)``) and::

    async def connect(self) -> None         # outside the window
    async def place(self, i: int) -> None   # place order i; return when its reply is parsed
    async def cancel(self, i: int) -> None  # cancel order i by clientOid; same
    async def close(self) -> None           # outside the window
    def prepare(self, start, stop) -> None  # optional, outside the window, before orders
                                            # [start, stop) are timed

then add it to ``CLIENTS`` and ``ROUNDS`` below (the marked place). ``order_clients.measure
(cls, sim, n)`` runs one round of any such client on its own and returns its figures.

Event loop: uvloop when installed (DECISIONS.md section 10), else asyncio;
``BENCH_ORDER_LOOP=uvloop|asyncio`` forces one. Orders per round: ``BENCH_ORDER_N``
(2000). With benchmarks disabled (CI's ``--benchmark-disable``) every case runs one round of
20 orders, untimed, and still checks every reply.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

import order_clients  # beside this file: benchmarks/conftest.py puts it on sys.path
from benchutil import benchmarks_disabled, conftest_results
from order_clients import client_cpu_clock

GROUP = "order: round trip over loopback (client CPU per request)"
FLOOR = "pre-built floor"

N_ORDERS = int(os.environ.get("BENCH_ORDER_N", "2000"))
N_ORDERS_DISABLED = 20


def _floor() -> type:
    pytest.importorskip("httptools")
    return order_clients.FloorClient


def _aiohttp() -> type:
    pytest.importorskip("aiohttp")
    return order_clients.AiohttpClient


def _ccxt() -> type:
    pytest.importorskip("ccxt")
    return order_clients.CcxtClient


# impl -> a function returning the client class (skipping when its library is missing).
# >>> The bitget_fast case goes here: "bitget_fast": lambda: BitgetFastClient, with a class
# >>> as described in the module docstring, and its entry in ROUNDS. The floor stays first:
# >>> the others' x_floor is taken from it.
CLIENTS: dict[str, Callable[[], type]] = {
    FLOOR: _floor, "bitget_fast": lambda: order_clients.BitgetFastClient,
    "bitget_fast RestClient": lambda: order_clients.BitgetFastRestClient,
    "aiohttp": _aiohttp, "ccxt": _ccxt}
ROUNDS = {FLOOR: (5, 1), "bitget_fast": (5, 1), "bitget_fast RestClient": (5, 1),
          "aiohttp": (5, 1), "ccxt": (3, 1)}   # (rounds, warmup) when timed

# Rows whose every round is preceded by a floor round (untimed for pytest-benchmark):
# ``x_floor_paired`` is the median of those neighbours' ratios, which decides the target
# (report.py), the ratio of the medians shown beside it -- on a shared VM single rounds
# swing 35-70 us and two separate series' medians drift apart.
PAIRED = ("bitget_fast RestClient", "bitget_fast")

_FLOOR_US: list[float] = []     # the floor's CPU per request, once it has run this session


@pytest.fixture(scope="session")
def sim():
    pytest.importorskip("httptools")    # the simulator's HTTP server
    proc = order_clients.SimProcess()
    yield proc
    proc.stop()


@pytest.mark.benchmark(timer=client_cpu_clock)
@pytest.mark.parametrize("impl", list(CLIENTS))
def test_order_round_trip(request, benchmark, sim, impl):
    cls = CLIENTS[impl]()
    disabled = benchmarks_disabled(request.config)
    n = N_ORDERS_DISABLED if disabled else N_ORDERS
    n_rounds, warmup = (1, 0) if disabled else ROUNDS[impl]
    rounds: list[dict[str, Any]] = []

    paired: list[float] = []
    pair = impl in PAIRED and not disabled

    def one_round() -> None:
        if pair:   # a floor round just before: the ratio of neighbours, not of drifting medians
            floor = order_clients.measure(order_clients.FloorClient, sim, n, count=False)
        rounds.append(order_clients.measure(cls, sim, n))
        if pair:
            paired.append(rounds[-1]["cpu_s"] / floor["cpu_s"])

    benchmark.group = GROUP
    loop_name = order_clients.loop_factory()[0]
    benchmark.extra_info.update({
        "implementation": impl, "items_per_call": 2 * n, "correct": True, "loop": loop_name,
        "timer": "client event-loop thread CPU over n place+cancel pairs",
        "per_item": "one request round trip: (place + cancel) / 2",
        "order": f"post_only limit buy {order_clients.ORDER_SIZE} {order_clients.SYMBOL} "
                 f"at {sim.price}, canceled by clientOid",
        "warmup_orders_per_round": order_clients.WARMUP_ORDERS,
        "chunk_orders": order_clients.CHUNK_ORDERS,
        "pinned_cpu": sim.cpu,   # the client's loop thread and the simulator share it
    })
    benchmark.pedantic(one_round, rounds=n_rounds, warmup_rounds=warmup, iterations=1)
    timed = rounds[warmup:] if len(rounds) > warmup else rounds
    summary = order_clients.summarize(timed)
    if paired:
        ratios = sorted(paired[warmup:] if len(paired) > warmup else paired)
        summary["x_floor_paired_rounds"] = [round(x, 3) for x in ratios]
        summary["x_floor_paired"] = round(ratios[len(ratios) // 2] if len(ratios) % 2 else
                                          (ratios[len(ratios) // 2 - 1] + ratios[len(ratios) // 2]) / 2, 3)
    if impl == FLOOR:
        _FLOOR_US[:] = [summary["cpu_us_per_request"]]
    elif _FLOOR_US:
        summary["floor_cpu_us_per_request"] = _FLOOR_US[0]
        summary["x_floor"] = round(summary["cpu_us_per_request"] / _FLOOR_US[0], 3)
    benchmark.extra_info.update(summary)
    stats = getattr(benchmark, "stats", None)
    results = conftest_results(request.config)
    if stats is not None and results is not None:
        s = stats.stats
        results.append({"group": GROUP, "impl": impl, "items": 2 * n,
                        "median_ns": s.median * 1e9 / (2 * n), "min_ns": s.min * 1e9 / (2 * n),
                        "test": request.node.name})
