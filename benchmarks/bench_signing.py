"""Signing hot path: Signer vs the standard library in the same run.

Groups:
  sign GET        prehash of a GET with a query (88 bytes)
  sign POST       prehash of a place-order POST with a 203-byte JSON body (267 bytes)
  sign mix        GET and POST alternating: the realistic mix
  request signer  from the parts (timestamp, method, path, query, body) to the
                  signature: Signer.sign_request vs building the prehash str in Python

Targets (DECISIONS.md section 1): Signer.sign <= 250 ns per call on the mix and
>= 5.5x the hmac + base64 baseline; the request signer >= 10x the plain-Python one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import partial

import pytest

from bitget_fast import Signer, prehash, sha256_backend
from bitget_fast.sim import reference

SECRET = "mysecret-0123456789abcdef"
KEY = SECRET.encode()
TS = 1700000000456
GET_PATH = "/api/v2/mix/order/orders-pending"
GET_QUERY = "productType=USDT-FUTURES&symbol=BTCUSDT"
POST_PATH = "/api/v2/mix/order/place-order"
POST_BODY = (b'{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed",'
             b'"marginCoin":"USDT","size":"0.001","price":"60000.5","side":"buy",'
             b'"tradeSide":"open","orderType":"limit","force":"post_only","clientOid":"mm-000001"}')
GET_PRE = prehash(TS, "GET", GET_PATH, GET_QUERY)
POST_PRE = prehash(TS, "POST", POST_PATH, None, POST_BODY)

SIGNER = Signer(SECRET)


def _hmac_b64(msg: bytes, _new=hmac.new, _sha=hashlib.sha256, _b64=base64.b64encode,
              _key=KEY) -> bytes:
    # The baseline as a hand-rolled client writes it: prehash bytes already encoded.
    return _b64(_new(_key, msg, _sha).digest())


# Each timed call makes BATCH signatures with plain direct calls, so the harness's
# own per-call overhead (pytest-benchmark calls fn(*args, **kwargs)) is spread
# over BATCH items and the figure is what a caller's code pays per signature.
BATCH = 10


def _batch(fn, a, b):
    """A function making 10 direct calls fn(a), fn(b), fn(a), ...; returns the last result."""

    def run(fn=fn, a=a, b=b):
        fn(a)
        fn(b)
        fn(a)
        fn(b)
        fn(a)
        fn(b)
        fn(a)
        fn(b)
        fn(a)
        return fn(b)

    return run


def _batch_parts(fn, a, b):
    """10 direct calls fn(*a), fn(*b), ... for the request signers; returns the last result."""

    def run(fn=fn, a=a, b=b):
        fn(*a)
        fn(*b)
        fn(*a)
        fn(*b)
        fn(*a)
        fn(*b)
        fn(*a)
        fn(*b)
        fn(*a)
        return fn(*b)

    return run


CASES = {"GET": (GET_PRE, GET_PRE), "POST": (POST_PRE, POST_PRE), "mix": (GET_PRE, POST_PRE)}
GROUPS = {"GET": f"sign GET ({len(GET_PRE)} B)", "POST": f"sign POST ({len(POST_PRE)} B)",
          "mix": "sign mix (GET + POST)"}


@pytest.mark.parametrize("kind", list(CASES))
def test_sign_bitget_fast(bench, kind):
    a, b = CASES[kind]
    run = _batch(SIGNER.sign, a, b)
    assert run() == reference.sign(SECRET, b)
    bench(run, group=GROUPS[kind], impl="bitget_fast", items=BATCH, backend=sha256_backend())


@pytest.mark.parametrize("kind", list(CASES))
def test_sign_hmac_baseline(bench, kind):
    a, b = CASES[kind]
    run = _batch(_hmac_b64, a, b)
    assert run().decode() == reference.sign(SECRET, b)
    bench(run, group=GROUPS[kind], impl="hmac+base64", items=BATCH)


GET_PARTS = (TS, "GET", GET_PATH, GET_QUERY, None)
POST_PARTS = (TS, "POST", POST_PATH, None, POST_BODY)


def test_request_signer_bitget_fast(bench):
    run = _batch_parts(SIGNER.sign_request, GET_PARTS, POST_PARTS)
    assert run() == reference.sign(SECRET, POST_PRE)
    bench(run, group="request signer from parts (GET + POST)", impl="bitget_fast", items=BATCH,
          backend=sha256_backend())


def test_request_signer_python_baseline(bench):
    run = _batch_parts(partial(reference.sign_request, SECRET), GET_PARTS, POST_PARTS)
    assert run() == reference.sign(SECRET, POST_PRE)
    bench(run, group="request signer from parts (GET + POST)", impl="plain Python", items=BATCH)
