"""Coverage-guided fuzzing of bitget_fast's byte readers with atheris (libFuzzer for Python).

    pip install atheris
    python -P tests/fuzz/atheris_fuzz.py TARGET [libFuzzer flags] [CORPUS_DIR ...]
    e.g. python -P tests/fuzz/atheris_fuzz.py book -runs=2000000 /tmp/corpus-book

TARGET is one of:

* ``book``: one message into a fresh OrderBook after a real snapshot (src/bf_book.c through
  book.pyx); the compiled book and sim.reference.Book must agree on the outcome class, as in
  test_book_fuzz.py (the documented differences are skipped, not failed);
* ``public``, ``private``, ``rest``: the targets of test_dispatch_fuzz.py (the WebSocket
  dispatch and books of MarketData, private pushes into the order and account state, REST
  replies through the client's envelope decoding into their consumers);
* ``http``: bytes split in two pieces through the REST client's HTTP framer (src/bf_http.c);
  its invariants only (the differential check against httptools is test_http_fuzz.py's).

The Python layer is instrumented (atheris.instrument_imports); the compiled modules are
not, so guidance there comes from the Python code around them. Seeds: the fixtures, written
into the first corpus directory when it is empty. A failure is a crash file and a traceback;
turn it into a regression test. The runs and counts of record are in docs/reliability.md.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import atheris

HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


with atheris.instrument_imports(include=["bitget_fast"]):
    import bitget_fast.account  # noqa: F401
    import bitget_fast.market  # noqa: F401
    import bitget_fast.orders  # noqa: F401
    import bitget_fast.rest  # noqa: F401
    import bitget_fast.sim.reference  # noqa: F401  (the book target's oracle)
    from bitget_fast._http import HttpFramer
    from bitget_fast.book import OrderBook
    from bitget_fast.errors import ProtocolError

dispatch = _load("_bitget_fast_dispatch_fuzz", HERE / "test_dispatch_fuzz.py")
bookfuzz = dispatch.bookfuzz
_SNAP = bookfuzz.real_streams()[0][2][0]
_PUBLIC = dispatch.Public()


def book_target(data: bytes) -> None:
    compiled = OrderBook("DASHUSDT")
    ref = bookfuzz.Book("DASHUSDT")
    compiled.apply(_SNAP)
    ref.apply(_SNAP)
    got, _ = bookfuzz.apply_any(compiled, data)
    want, _ = bookfuzz.apply_any(ref, data)
    if got is not want and bookfuzz.explain(data, compiled, ref, got, want) is None:
        raise AssertionError(f"compiled {got} != reference {want} on {data[:300]!r}")


def public_target(data: bytes) -> None:
    _PUBLIC.run([f for f in data.split(b"\n\x00\n") if f][:64])


def private_target(data: bytes) -> None:
    dispatch.run_private(data)


_REST_PATHS = ("/api/v2/mix/market/contracts", "/api/v2/mix/order/detail",
               "/api/v2/mix/order/fills", "/api/v2/mix/position/all-position",
               "/api/v2/mix/account/accounts")


def rest_target(data: bytes) -> None:
    # byte 0: the endpoint, byte 1: the status, byte 2: order-changing; then the body (read
    # by hand: FuzzedDataProvider takes integers from the end, which would cut the body)
    if len(data) < 3:
        return
    path = _REST_PATHS[data[0] % len(_REST_PATHS)]
    status = (200, 200, 400, 429, 500)[data[1] % 5]
    dispatch.run_rest(path, data[3:], status, bool(data[2] & 1))


def http_target(data: bytes) -> None:
    cut = data[0] if data else 0
    f = HttpFramer(max_body=1 << 16)
    f.feed(data[1:1 + cut])
    if f.error is None:
        f.feed(data[1 + cut:])
    if f.error is None:
        f.feed_eof()
    for status, body, _ in f.responses:
        if not 100 <= status <= 999 or len(body) > 1 << 16:
            raise AssertionError(f"framed a bad response: {status} {len(body)}")
    if f.error is not None and not isinstance(f.error, ProtocolError):
        raise AssertionError(repr(f.error))


TARGETS = {"book": book_target, "public": public_target, "private": private_target,
           "rest": rest_target, "http": http_target}


def _seeds(target: str) -> list[bytes]:
    if target == "book":
        return [f for _, _, frames in bookfuzz.real_streams() for f in frames[1:20]]
    if target == "public":
        return [b"\n\x00\n".join(s) for s in dispatch.public_seeds()]
    if target == "private":
        return dispatch.private_seeds()
    if target == "rest":
        return [bytes((_REST_PATHS.index(path) if path in _REST_PATHS else 0, 0, 0)) + body
                for path, body in dispatch.rest_seeds()]
    return [b"\x10HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"]


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer flags] [CORPUS_DIR ...]")
    target = sys.argv.pop(1)
    corpora = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpora:
        first = Path(corpora[0])
        first.mkdir(parents=True, exist_ok=True)
        if not any(first.iterdir()):
            for i, seed in enumerate(_seeds(target)):
                (first / f"seed-{i:03d}").write_bytes(seed)
    atheris.Setup(sys.argv, TARGETS[target])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
