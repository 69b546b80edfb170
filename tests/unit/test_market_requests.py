"""Subscribe requests are split at Bitget's 4096-byte limit, keeping every arg in order."""

from __future__ import annotations

import orjson

from bitget_fast.market import MAX_REQUEST_BYTES, MarketData


def test_requests_stay_under_4096_bytes_and_keep_every_arg():
    symbols = [f"S{i:03d}{'X' * (i % 30)}USDT" for i in range(300)]
    md = MarketData(symbols, trades=True, tickers=True, channels_per_connection=1000)
    conn = md._conns[0]
    assert len(conn.args) == 900
    for op in ("subscribe", "unsubscribe"):
        requests = conn._requests(op, conn.args)
        assert len(requests) > 1
        assert all(len(r) <= MAX_REQUEST_BYTES for r in requests)
        decoded = [orjson.loads(r) for r in requests]
        assert all(d["op"] == op for d in decoded)
        assert [a for d in decoded for a in d["args"]] == conn.args
        # greedy: each request but the last could not take the next arg
        for d, nxt in zip(decoded, decoded[1:]):
            fuller = orjson.dumps({"op": op, "args": d["args"] + nxt["args"][:1]})
            assert len(fuller) > MAX_REQUEST_BYTES
